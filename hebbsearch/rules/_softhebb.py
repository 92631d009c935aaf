"""SoftHebb: soft winner-take-all Hebbian plasticity (Moraitis et al. 2022; Journé et al. 2023)."""

from __future__ import annotations

from typing import Any

import torch

from hebbsearch.rules._base import HyperParameter, Rule, as_currents, batch_mean
from hebbsearch.rules._registry import register_rule

# Journé et al.'s code guards the max-normalisation with 1e-30, as Krotov's does.
_PREC = 1e-30


@register_rule
class SoftHebb(Rule):
    """Soft winner-take-all: every unit learns in proportion to its softmax response.

    Moraitis, T., Toichkin, D., Journé, A., Chua, Y., Guo, Q. (2022), "SoftHebb: Bayesian inference in
    unsupervised Hebbian soft winner-take-all networks", Neuromorph. Comput. Eng. 2; Journé, A.,
    Rodriguez, H. G., Guo, Q., Moraitis, T. (2023), "Hebbian deep learning without feedback", ICLR.
    For a batch of M rows x, u = x Wᵀ (M, K) and y = softmax(u / τ) over the units::

        Δw_k = (1/M) Σ_m y_mk (x_m − u_mk w_k)

    i.e. dW = (1/M)(yᵀx − (Σ_m y⊙u)ᵀ ⊙ W). The decay term makes the rows converge to unit L2 norm
    (Oja-like), and the softmax competition makes different units specialise on different inputs.

    The defaults are that formula. Journé et al.'s CIFAR-10 code (71 % after one layer) differs in three
    ways, each an option (``anti_hebbian=True, scale="max", norm_lr_power=0.5`` reproduces it):

    Args:
        tau: softmax temperature τ > 0 (their ``1 / t_invert``); small τ approaches hard winner-take-all.
            Their CIFAR-10 network softens the competition with depth: t_invert 1, 0.65, 0.25, i.e.
            τ = 1, 1.54, 4 in layers 1–3; the default search range (0.05–4) holds all three.
        anti_hebbian: every unit but each row's winner gets −y_mk instead of y_mk ("soft anti-Hebbian"):
            losers move away from inputs they nearly won.
        scale: ``"mean"`` divides dW by M (the formula); ``"max"`` divides it by max|dW| over the whole
            matrix, so the learning rate is the largest step any weight takes.
        norm_lr_power: multiplies unit k's update by |‖w_k‖₂ − 1|^power, their weight-norm dependent
            learning rate: units far from the unit sphere learn fast, converged ones settle (0: off).
    """

    name = "softhebb"
    hyperparameters = (
        HyperParameter("tau", float, 1.0, low=0.05, high=4.0, log=True, valid_low=0.0,
                       low_exclusive=True, help="softmax temperature"),
    )
    options = ("anti_hebbian", "scale", "norm_lr_power")

    def __init__(self, *, anti_hebbian: bool = False, scale: str = "mean", norm_lr_power: float = 0.0,
                 **params: Any) -> None:
        super().__init__(**params)
        if not isinstance(anti_hebbian, bool):
            raise ValueError(f"rule 'softhebb': anti_hebbian must be true or false, got {anti_hebbian!r}")
        if scale not in ("mean", "max"):
            raise ValueError(f"rule 'softhebb': scale must be 'mean' or 'max', got {scale!r}")
        if isinstance(norm_lr_power, bool) or not isinstance(norm_lr_power, int | float) or norm_lr_power < 0:
            raise ValueError(f"rule 'softhebb': norm_lr_power must be a number >= 0, got {norm_lr_power!r}")
        self.anti_hebbian, self.scale, self.norm_lr_power = anti_hebbian, scale, float(norm_lr_power)

    def update(self, weight, x, *, currents=None, state=None):
        u = as_currents(self, weight, x, currents)
        y = torch.softmax(u / self.tau, dim=1)
        if self.anti_hebbian:
            winner = u.argmax(dim=1, keepdim=True)
            y = y.neg_().scatter_(1, winner, y.gather(1, winner).neg())
        dw = y.T @ x - (y * u).sum(dim=0).unsqueeze(1) * weight
        if self.scale == "mean":
            dw.mul_(batch_mean(x))
        else:
            dw.div_(dw.abs().amax().clamp_min(_PREC))
        if self.norm_lr_power:
            dw.mul_((weight.norm(dim=1, keepdim=True) - 1).abs().add_(1e-10).pow_(self.norm_lr_power))
        return dw
