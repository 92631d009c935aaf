"""HebbianLateral: a dense layer with Hebbian lateral connections between its units."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CONNECTIVITIES = ("all", "random", "zero")


class HebbianLateral(nn.Module):
    """A fully connected layer whose units also excite each other through Hebbian lateral weights.

    A port of Dan Saunders' Keras ``Hebbian`` layer (github.com/djsaunde/rinns_python,
    ``hebbian/hebbian.py``), after Hebb (1949): units that are active together strengthen their
    lateral connection. For a batch of rows x (B, in_features), the feed-forward drive and the output are::

        a   = x Wᵀ                                W (out, in): an ordinary trainable kernel
        out = a + λ · a Lᵀ                        (out_b = a_b + λ L a_b)

    and on every call in training mode, after the output is computed, the lateral weights L
    (out, out) learn by the outer-product rule, averaged over the batch and masked::

        L ← L + η · (mean_b a_b a_bᵀ) ⊙ M         M: the connectivity mask, zero on the diagonal

    L is a buffer updated without autograd (the drive is detached and L is replaced, not modified
    in place, so a backward pass through an earlier output still sees the L it used); W learns
    only by backpropagation. L starts at zero, so the lateral term is what Hebbian learning built;
    in eval mode ``forward`` is pure.

    Differences from the Keras original, which had no feed-forward kernel (its drive was the input
    itself), sized the lateral matrix by the input and so failed when ``in_features != out_features``,
    drew its "random" mask as one value per unit, and started L from random values: here the drive
    is ``x Wᵀ``, L is (out, out), the random mask is drawn per connection, and L starts at zero.

    Args:
        in_features: size of each input row (inputs may have any leading dimensions).
        out_features: number of units.
        lmbda: λ, the strength of the lateral term.
        eta: η ≥ 0, the Hebbian learning rate of L (0: L never changes).
        connectivity: ``"all"`` (every ordered pair of distinct units), ``"random"`` (each ordered pair
            connected with probability ``connectivity_prob``, drawn once, buffer ``mask``) or
            ``"zero"`` (no lateral connections: the layer is a plain linear map). No unit connects
            to itself.
        connectivity_prob: probability of a connection for ``"random"``, in [0, 1].
        seed: seed of the kernel initialisation and of the random mask (None: torch's global generator).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        lmbda: float = 1.0,
        eta: float = 0.0005,
        connectivity: str = "random",
        connectivity_prob: float = 0.25,
        seed: int | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"in_features and out_features must be >= 1, got {in_features} and {out_features}"
            )
        if connectivity not in CONNECTIVITIES:
            raise ValueError(f"connectivity must be one of {CONNECTIVITIES}, got {connectivity!r}")
        if not 0.0 <= connectivity_prob <= 1.0:
            raise ValueError(f"connectivity_prob must be in [0, 1], got {connectivity_prob!r}")
        if not math.isfinite(eta) or eta < 0:
            raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
        if not math.isfinite(lmbda):
            raise ValueError(f"lmbda must be finite, got {lmbda!r}")
        self.in_features, self.out_features = in_features, out_features
        self.lmbda, self.eta = float(lmbda), float(eta)
        self.connectivity, self.connectivity_prob = connectivity, float(connectivity_prob)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **factory))
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self.register_buffer("lateral", torch.zeros(out_features, out_features, **factory))
        self.register_buffer("mask", self._draw_mask(generator).to(device))
        self.reset_parameters(generator)

    def _draw_mask(self, generator: torch.Generator | None) -> Tensor:
        n = self.out_features
        if self.connectivity == "zero":
            return torch.zeros(n, n, dtype=torch.bool)
        if self.connectivity == "all":
            mask = torch.ones(n, n, dtype=torch.bool)
        else:
            mask = torch.rand(n, n, generator=generator, dtype=torch.float64) < self.connectivity_prob
        return mask.fill_diagonal_(False)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Kernel as ``nn.Linear`` draws it (U(−1/√in, 1/√in)); lateral weights back to zero."""
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            values = torch.rand(self.weight.shape, generator=generator, dtype=torch.float64)
            self.weight.copy_(values.mul_(2 * bound).sub_(bound).to(self.weight.dtype))
            self.lateral.zero_()

    def drive(self, x: Tensor) -> Tensor:
        """The feed-forward drive ``x Wᵀ``, shape (..., out_features)."""
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"{type(self).__name__} expects input of shape (..., {self.in_features}), "
                             f"got {tuple(x.shape)}")
        return F.linear(x, self.weight)

    def forward(self, x: Tensor) -> Tensor:
        a = self.drive(x)
        if self.connectivity == "zero":
            return a
        out = a + self.lmbda * F.linear(a, self.lateral)
        if self.training and self.eta:
            self._hebbian_update(a.detach())
        return out

    @torch.no_grad()
    def _hebbian_update(self, a: Tensor) -> None:
        rows = a.reshape(-1, self.out_features)
        correlation = (rows.T @ rows).div_(max(1, rows.shape[0]))
        # a new tensor, not an in-place add: autograd saved the old L for the backward of `out`
        mask = self.mask.to(correlation.dtype)
        self.lateral = torch.addcmul(self.lateral, correlation, mask, value=self.eta)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, lmbda={self.lmbda}, "
                f"eta={self.eta}, connectivity={self.connectivity!r}, "
                f"connectivity_prob={self.connectivity_prob}")
