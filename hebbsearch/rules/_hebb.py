"""Plain Hebbian learning with per-unit weight normalisation (Hebb 1949)."""

from __future__ import annotations

from torch import Tensor

from hebbsearch.rules._base import Rule, as_currents, batch_mean, normalise_rows_
from hebbsearch.rules._registry import register_rule


@register_rule
class Hebb(Rule):
    """Plain Hebbian rule, weights kept at unit L2 norm.

    Hebb, D. O. (1949), *The Organization of Behavior*. For a batch of M rows x and currents
    y = x Wᵀ (M, K)::

        dW = (1/M) yᵀ x

    Without a constraint the weights grow without bound, so :meth:`project` rescales every row of W to
    unit L2 norm after each step (the normalised Hebbian rule, whose fixed points are the leading
    eigenvector of E[x xᵀ] for every unit). The rule has no hyperparameters.
    """

    name = "hebb"
    hyperparameters = ()

    def update(self, weight, x, *, currents=None, state=None):
        y = as_currents(self, weight, x, currents)
        return (y.T @ x).mul_(batch_mean(x))

    def project(self, weight: Tensor) -> None:
        normalise_rows_(weight)
