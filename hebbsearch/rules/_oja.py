"""Oja's rule and its subspace generalisation (Oja 1982; Oja 1989)."""

from __future__ import annotations

from hebbsearch.rules._base import Rule, as_currents, batch_mean, currents_gram
from hebbsearch.rules._registry import register_rule


@register_rule
class Oja(Rule):
    """Oja's subspace rule: Hebbian growth with a decay that keeps the weights at unit norm.

    Oja, E. (1982), "Simplified neuron model as a principal component analyzer", J. Math. Biol. 15;
    Oja, E. (1989), "Neural networks, principal components, and subspaces", Int. J. Neural Syst. 1.
    For a batch of M rows x and currents y = x Wᵀ (M, K)::

        dW = (1/M) (yᵀ x − (yᵀ y) W)

    With one unit this is Oja's rule Δw = y (x − y w): w converges to the unit-norm first principal
    component of E[x xᵀ]. With K units the rows span the top-K principal subspace (in no particular
    order or basis; see ``sanger`` for the ordered components). No hyperparameters.
    """

    name = "oja"
    hyperparameters = ()

    def update(self, weight, x, *, currents=None, state=None):
        y = as_currents(self, weight, x, currents)
        hebb = y.T @ x
        dw = hebb - currents_gram(hebb, y, weight) @ weight
        return dw.mul_(batch_mean(x))
