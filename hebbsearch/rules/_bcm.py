"""The BCM rule with a sliding modification threshold (Bienenstock, Cooper & Munro 1982)."""

from __future__ import annotations

import torch
from torch import Tensor

from hebbsearch.rules._base import HyperParameter, Rule, as_currents, batch_mean
from hebbsearch.rules._registry import register_rule


@register_rule
class BCM(Rule):
    """Bienenstock–Cooper–Munro rule: potentiation above a sliding threshold, depression below it.

    Bienenstock, E. L., Cooper, L. N., Munro, P. W. (1982), "Theory for the development of neuron
    selectivity", J. Neurosci. 2(1); in the form of Intrator & Cooper (1992) with θ = E[y²]. For a
    batch of M rows x and currents y = x Wᵀ (M, K)::

        dW = (1/M) (y ⊙ (y − θ))ᵀ x               θ (K,): one threshold per unit

    The threshold is the rule's state (:meth:`init_state`, kept by the layer as buffer ``rule_theta``)
    and slides towards the mean squared response after every step::

        θ ← (1 − α) θ + α · mean_m(y²)            α = theta_decay

    With ``state=None`` θ is the batch estimate mean_m(y²). θ starts at 1 (a unit target response).
    Boundedness: because θ grows quadratically with y, a response above θ is pulled back, and for a
    linear unit the stable fixed points are selective (E[y²] = θ = y on the preferred input, y = 0 on
    the others); no extra normalisation is needed when α is not too small relative to the learning
    rate. ``weight_decay`` λ ≥ 0 optionally adds −λW to dW (default 0) as a further safeguard.
    Weights do not converge to unit norm, so :meth:`convergence` (max |‖w‖ − 1|) is only a size figure.

    Args:
        theta_decay: α in (0, 1], how fast θ tracks the mean squared response (1: last batch only).
        weight_decay: λ ≥ 0, optional decay of the weights.
    """

    name = "bcm"
    hyperparameters = (
        HyperParameter("theta_decay", float, 0.1, low=0.01, high=1.0, log=True, valid_low=0.0,
                       valid_high=1.0, low_exclusive=True, help="threshold update rate α"),
        HyperParameter("weight_decay", float, 0.0, low=0.0, high=0.01, valid_low=0.0,
                       help="weight decay λ"),
    )

    def init_state(self, weight: Tensor) -> dict[str, Tensor]:
        return {"theta": torch.ones(weight.shape[0], dtype=weight.dtype, device=weight.device)}

    def update(self, weight, x, *, currents=None, state=None):
        y = as_currents(self, weight, x, currents)
        if state is None:
            theta = y.square().mean(dim=0)
        else:
            theta = state["theta"]
            if theta.shape != (weight.shape[0],):
                raise ValueError(
                    f"rule 'bcm': state['theta'] must have shape ({weight.shape[0]},), "
                    f"got {tuple(theta.shape)}"
                )
        dw = (y * (y - theta.to(y.dtype))).T @ x
        dw.mul_(batch_mean(x))
        if self.weight_decay:
            dw.sub_(weight, alpha=self.weight_decay)
        return dw

    def next_state(self, state, weight, x, currents):
        theta = state["theta"]
        return {"theta": torch.lerp(theta, currents.square().mean(dim=0).to(theta.dtype), self.theta_decay)}
