"""Competitive hard winner-take-all learning (Amato et al. 2019)."""

from __future__ import annotations

import torch
from torch import Tensor

from hebbsearch.rules._base import Rule, batch_mean, check_update_shapes
from hebbsearch.rules._registry import register_rule


@register_rule
class WTA(Rule):
    """Hard winner-take-all: the unit most similar to each input moves towards it.

    Amato, G., Carrara, F., Falchi, F., Gennaro, C., Lagani, G. (2019), "Hebbian learning meets deep
    convolutional neural networks", ICIAP 2019 (competitive learning after Rumelhart & Zipser 1985).
    For a batch of M rows x, r_mk = 1 if unit k has the largest cosine similarity
    x_m · w_k / (‖x_m‖ ‖w_k‖) among all units (ties: lowest index), else 0, and::

        Δw_k = (1/M) Σ_m r_mk (x_m − w_k)

    Each unit converges to the mean (centroid) of the inputs it wins: online k-means with the cosine
    metric. The winner is computed from the L2-normalised rows of W, so ``currents`` (x Wᵀ) are not
    used. Only winning units change: :meth:`sparse_update` returns just their rows. No hyperparameters.
    """

    name = "wta"
    hyperparameters = ()

    def winners(self, weight: Tensor, x: Tensor) -> Tensor:
        """Index of the winning unit for every row of x, shape (M,)."""
        unit = weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return (x @ unit.T).argmax(dim=1)

    def update(self, weight, x, *, currents=None, state=None):
        check_update_shapes(weight, x)
        r = torch.nn.functional.one_hot(self.winners(weight, x), weight.shape[0]).to(x.dtype)  # (M, K)
        dw = r.T @ x - r.sum(dim=0).unsqueeze(1) * weight
        return dw.mul_(batch_mean(x))

    def sparse_update(self, weight, x, *, currents=None, state=None):
        check_update_shapes(weight, x)
        rows, slots = torch.unique(self.winners(weight, x), return_inverse=True)
        dw = x.new_zeros(rows.numel(), x.shape[1]).index_add_(0, slots, x)
        counts = torch.bincount(slots, minlength=rows.numel()).to(x.dtype)
        dw.sub_(counts.unsqueeze(1) * weight[rows])
        return rows, dw.mul_(batch_mean(x))
