"""Sanger's Generalized Hebbian Algorithm (Sanger 1989), a.k.a. Hebbian PCA."""

from __future__ import annotations

import torch

from hebbsearch.rules._base import Rule, as_currents, batch_mean, currents_gram
from hebbsearch.rules._registry import register_rule


@register_rule
class Sanger(Rule):
    """Generalized Hebbian Algorithm (GHA, "Hebbian PCA"): units learn the ordered principal components.

    Sanger, T. D. (1989), "Optimal unsupervised learning in a single-layer linear feedforward neural
    network", Neural Networks 2(6). For a batch of M rows x and currents y = x Wᵀ (M, K)::

        dW = (1/M) (yᵀ x − LT(yᵀ y) W)

    LT keeps the lower triangle including the diagonal, so unit k is decorrelated only from units
    1..k−1 (Oja's rule applied to the input deflated by the earlier units). Row k converges to the k-th
    principal component of E[x xᵀ] with unit norm. No hyperparameters.
    """

    name = "sanger"
    hyperparameters = ()

    def update(self, weight, x, *, currents=None, state=None):
        y = as_currents(self, weight, x, currents)
        hebb = y.T @ x
        dw = hebb - torch.tril(currents_gram(hebb, y, weight)) @ weight
        return dw.mul_(batch_mean(x))
