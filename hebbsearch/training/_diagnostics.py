"""Collapse diagnostics of trained Hebbian layers: dead units and near-duplicate units.

Competitive rules (Krotov, WTA, SoftHebb) fail in two typical ways: a few units win every input and the
rest never learn (*dead* units), or many units converge to the same weight vector (*duplicates*). Both
leave the probe few distinct features. For each layer, on the outputs of a sample of inputs:

* ``dead``: fraction of units that never win, i.e. are never the largest output over units at any
  sample and position (for a conv layer, over the channels at each pixel);
* ``inactive``: fraction of units whose output is never > 0;
* ``duplicates``: fraction of units whose weight vector has cosine similarity above
  :data:`DUPLICATE_COSINE` with another unit's.

A layer is *collapsed* when at most one unit in ``COLLAPSE_LIVE`` is alive (``dead`` ≥ 1 − 1/COLLAPSE_LIVE)
or when all but a handful of units are duplicates: the trial then fails fast with that reason instead
of training a probe on constant features.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from hebbsearch.models import HebbianStack, RecurrentStack

DUPLICATE_COSINE = 0.99
#: a layer with fewer than 1 unit in this many alive (winning) or distinct counts as collapsed
COLLAPSE_LIVE = 20


@dataclass(frozen=True)
class LayerDiagnostics:
    """Collapse figures of one layer (fractions of its units)."""

    units: int
    dead: float
    inactive: float
    duplicates: float

    @property
    def collapsed(self) -> str | None:
        """Why the layer collapsed, or None."""
        limit = 1 - 1 / COLLAPSE_LIVE
        if self.units >= COLLAPSE_LIVE and self.dead >= limit:
            return f"{self.dead:.0%} of its {self.units} units never win"
        if self.units >= COLLAPSE_LIVE and self.duplicates >= limit:
            return f"{self.duplicates:.0%} of its {self.units} units are near-duplicates"
        return None

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _units_last(y: Tensor) -> Tensor:
    """Outputs as ``(samples·positions, units)``."""
    if y.dim() == 4:  # (B, C, H, W)
        return y.permute(0, 2, 3, 1).reshape(-1, y.shape[1])
    return y.reshape(y.shape[0], -1) if y.dim() != 2 else y


def duplicate_fraction(weight: Tensor, cosine: float = DUPLICATE_COSINE) -> float:
    """Fraction of rows of ``weight`` (units, flattened) with a near-identical other row."""
    w = weight.detach().reshape(weight.shape[0], -1).double()
    if w.shape[0] < 2:
        return 0.0
    w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-30)
    gram = w @ w.T
    gram.fill_diagonal_(-2.0)
    return float((gram.max(dim=1).values > cosine).double().mean())


@torch.no_grad()
def layer_diagnostics(stack: HebbianStack | RecurrentStack, x: Tensor, *, depth: int,
                      batch_size: int = 500) -> list[LayerDiagnostics]:
    """:class:`LayerDiagnostics` of layers 1..``depth`` on the inputs ``x`` (a sample of the data).

    For a :class:`~hebbsearch.models.RecurrentStack` ``x`` holds sequences and every step is a sample:
    a unit wins when its hidden state is the largest at some step of some sequence. A block without
    weights of its own (a Memoria layer) has no duplicates.
    """
    recurrent = isinstance(stack, RecurrentStack)
    out = []
    h = stack.encode(x) if recurrent else x
    for i in range(depth):
        block = stack.blocks[i]
        won: Tensor | None = None
        active: Tensor | None = None
        outputs = []
        for start in range(0, h.shape[0], batch_size):
            chunk = h[start:start + batch_size]
            y = stack.block(i + 1, chunk) if recurrent else block(chunk)
            outputs.append(y)
            u = y.reshape(-1, y.shape[-1]) if recurrent else _units_last(y)
            w = torch.zeros(u.shape[1], dtype=torch.bool, device=u.device)
            w[u.argmax(dim=1)] = True
            a = (u > 0).any(dim=0)
            won = w if won is None else won | w
            active = a if active is None else active | a
        h = torch.cat(outputs)
        assert won is not None and active is not None
        units = int(won.numel())
        weight = getattr(getattr(block, "layer", block), "weight", None)
        out.append(LayerDiagnostics(
            units=units,
            dead=1 - float(won.double().mean()),
            inactive=1 - float(active.double().mean()),
            duplicates=duplicate_fraction(weight) if isinstance(weight, Tensor) else 0.0,
        ))
    return out


__all__ = ["COLLAPSE_LIVE", "DUPLICATE_COSINE", "LayerDiagnostics", "duplicate_fraction", "layer_diagnostics"]
