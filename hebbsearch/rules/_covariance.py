"""The covariance rule (Sejnowski 1977), with per-unit weight normalisation."""

from __future__ import annotations

from torch import Tensor

from hebbsearch.rules._base import Rule, as_currents, batch_mean, normalise_rows_
from hebbsearch.rules._registry import register_rule


@register_rule
class Covariance(Rule):
    """Covariance rule: Hebbian learning on deviations from the batch means.

    Sejnowski, T. J. (1977), "Storing covariance with nonlinearly interacting neurons", J. Math. Biol.
    4; Dayan & Abbott (2001), *Theoretical Neuroscience*, eq. 8.9. For a batch of M rows x and
    currents y = x Wᵀ (M, K), with ȳ and x̄ the means over the batch::

        dW = (1/M) (y − ȳ)ᵀ (x − x̄)

    i.e. dW = C W for the batch covariance C of x: unlike plain Hebb the mean input is ignored and the
    weights align with the direction of largest variance. :meth:`project` rescales every row to unit
    L2 norm after each step. A batch of one row gives dW = 0. No hyperparameters.
    """

    name = "covariance"
    hyperparameters = ()

    def update(self, weight, x, *, currents=None, state=None):
        y = as_currents(self, weight, x, currents)
        dy = y - y.mean(dim=0, keepdim=True)
        dx = x - x.mean(dim=0, keepdim=True)
        return (dy.T @ dx).mul_(batch_mean(x))

    def project(self, weight: Tensor) -> None:
        normalise_rows_(weight)
