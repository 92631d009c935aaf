"""Krotov & Hopfield (2019), "Unsupervised learning by competing hidden units", PNAS 116(16).

The "fast implementation" of their reference code, per batch of M rows x:

    I  = x · (sign(W)|W|^(p−1))ᵀ                           currents, (M, K)
    g  = +1 for each row's top-ranked unit, −Δ for its k-th ranked unit, 0 elsewhere
    dW = gᵀx − (Σ_rows g⊙I) ⊙ W
    dW ← dW / max|dW|                                      (whole matrix, or per unit)

g has two non-zero entries per row, so gᵀx is a scatter-add of input rows and only the units that
won or came k-th change: :meth:`Krotov.sparse_update` returns just those rows.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from hebbsearch.rules._base import HyperParameter, Rule, as_currents
from hebbsearch.rules._registry import register_rule

# Krotov's reference code guards the normalisation with prec = 1e-30.
_PREC = 1e-30


@register_rule
class Krotov(Rule):
    """Competing hidden units with anti-Hebbian push on the k-th ranked unit.

    Args:
        p: Lebesgue exponent of the synaptic metric; larger p gives sparser weights. Rows of W
            converge to unit p-norm.
        k: rank of the unit pushed away from each input (anti-Hebbian), 2 <= k < units.
        delta: strength Δ of that push, >= 0.
        norm_scope: ``"matrix"`` divides dW by its largest entry (Krotov's code, biopytorch's BioLinear);
            ``"unit"`` divides each row by its own largest entry (biopytorch's BioConv2d).
    """

    name = "krotov"
    hyperparameters = (
        HyperParameter("p", int, 3, low=2, high=8, valid_low=1, help="Lebesgue exponent"),
        HyperParameter("k", int, 7, low=2, high=10, valid_low=2, help="rank of the anti-Hebbian unit"),
        HyperParameter("delta", float, 0.4, low=0.0, high=0.4, valid_low=0.0, help="anti-Hebbian strength"),
    )

    def __init__(self, *, norm_scope: str = "matrix", **params: Any) -> None:
        super().__init__(**params)
        if norm_scope not in ("matrix", "unit"):
            raise ValueError(f"rule 'krotov': norm_scope must be 'matrix' or 'unit', got {norm_scope!r}")
        self.norm_scope = norm_scope

    def check_units(self, units: int) -> None:
        if self.k >= units:
            raise ValueError(f"rule 'krotov': k must be < the number of units ({units}), got {self.k}")

    def transform(self, weight: Tensor) -> Tensor:
        if self.p == 2:
            return weight
        if self.p == 3:
            return weight * weight.abs()
        return weight.sign() * weight.abs().pow(self.p - 1)

    def convergence(self, weight: Tensor) -> float:
        """max_k |Σ_i |W_ki|^p − 1|: rows converge to unit p-norm."""
        return float((weight.abs().pow(self.p).sum(dim=1) - 1).abs().max())

    def update(self, weight, x, *, currents=None, state=None):
        rows, d_rows = self.sparse_update(weight, x, currents=currents, state=state)
        if rows is None:
            return d_rows
        dw = torch.zeros_like(weight)
        dw[rows] = d_rows
        return dw

    def sparse_update(self, weight, x, *, currents=None, state=None):
        self.check_units(weight.shape[0])
        currents = as_currents(self, weight, x, currents)
        m, units = currents.shape
        ranked_values, ranked = currents.topk(self.k, dim=1)
        winner, kth = ranked[:, 0], ranked[:, -1]
        if units <= 2 * m:  # most units change anyway: dense rows are cheaper than unique()
            rows, win_slot, kth_slot, n_rows = None, winner, kth, units
        else:
            rows, slots = torch.unique(torch.cat([winner, kth]), return_inverse=True)
            win_slot, kth_slot, n_rows = slots[:m], slots[m:], rows.numel()
        dw = x.new_zeros(n_rows, x.shape[1])
        dw.index_add_(0, win_slot, x)
        dw.index_add_(0, kth_slot, x, alpha=-self.delta)
        # Σ_rows g⊙I: +I of each row's winner, −Δ·I of its k-th unit.
        overlap = x.new_zeros(n_rows)
        overlap.index_add_(0, win_slot, ranked_values[:, 0].to(x.dtype))
        overlap.index_add_(0, kth_slot, ranked_values[:, -1].to(x.dtype), alpha=-self.delta)
        w_rows = weight if rows is None else weight[rows]
        dw.sub_(overlap.unsqueeze(1) * w_rows)
        if self.norm_scope == "matrix":
            dw.div_(dw.abs().amax().clamp_min(_PREC))
        else:
            dw.div_(dw.abs().amax(dim=1, keepdim=True).clamp_min(_PREC))
        return rows, dw
