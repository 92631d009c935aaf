"""SoftHebb: soft winner-take-all Hebbian plasticity (Moraitis et al. 2022; Journé et al. 2023)."""

from __future__ import annotations

import torch

from hebbsearch.rules._base import HyperParameter, Rule, as_currents, batch_mean
from hebbsearch.rules._registry import register_rule


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

    Args:
        tau: softmax temperature τ > 0; small τ approaches hard winner-take-all.
    """

    name = "softhebb"
    hyperparameters = (
        HyperParameter("tau", float, 1.0, low=0.05, high=2.0, log=True, valid_low=0.0,
                       low_exclusive=True, help="softmax temperature"),
    )

    def update(self, weight, x, *, currents=None, state=None):
        u = as_currents(self, weight, x, currents)
        y = torch.softmax(u / self.tau, dim=1)
        dw = y.T @ x - (y * u).sum(dim=0).unsqueeze(1) * weight
        return dw.mul_(batch_mean(x))
