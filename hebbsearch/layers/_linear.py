"""HebbianLinear: nn.Linear's signature, weights learned by a local rule."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hebbsearch.layers._base import HebbianLayer
from hebbsearch.rules import Rule


class HebbianLinear(HebbianLayer):
    """A fully connected layer trained by a local learning rule.

    Inputs of any shape ``(batch, ...)`` are flattened to ``(batch, in_features)``, as biopytorch's
    BioLinear does. ``forward`` computes ``activation(norm(x) @ rule.transform(W).T)``; it never learns.

    Args:
        in_features: size of each (flattened) input sample.
        out_features: number of units K.
        rule: a rule object, a rule class or a registered name (``"krotov"``).
        rule_params: hyperparameters when ``rule`` is a name or class.
        input_norm: ``None``; ``"batch"`` batch-norm without affine parameters (biopytorch); ``"unit"``
            per-sample unit L2 norm (Krotov & Hopfield).
        activation: ``None`` (identity), a name (``"relu"``, ``"relu_power"``, ``"triangle"``) or a module.
        activation_params: e.g. ``{"power": 4.5}`` for ``"relu_power"``.
        init: ``"normal"`` (N(0, 1)) or ``"unit"`` (rows of unit L2 norm).
        seed: seed of the weight initialisation.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rule: str | Rule | type[Rule] = "krotov",
        *,
        rule_params: dict[str, Any] | None = None,
        input_norm: str | None = None,
        activation: str | nn.Module | None = None,
        activation_params: dict[str, Any] | None = None,
        init: str = "normal",
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"in_features and out_features must be >= 1, got {in_features} and {out_features}"
            )
        self.in_features = in_features
        self.out_features = out_features
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **factory), requires_grad=False)
        self._setup(
            rule, rule_params, out_features, input_norm,
            nn.BatchNorm1d(in_features, affine=False, **factory),
            activation, activation_params, init, seed,
        )

    def _flatten(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x[0].numel() != self.in_features:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (batch, {self.in_features}) "
                f"(or (batch, ...) with {self.in_features} values per sample), got {tuple(x.shape)}"
            )
        return x.reshape(x.shape[0], self.in_features)

    def currents(self, x: Tensor) -> Tensor:
        """Input currents before the activation, shape (batch, out_features)."""
        x = self._normalise(self._flatten(x), learning=False)
        return _linear(x, self.transformed_weight())

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.currents(x))

    @torch.no_grad()
    def hebbian_step(self, x: Tensor, lr: float) -> None:
        """One local update on the batch ``x``: ``weight += lr * rule.update(weight, x)``."""
        x = self._normalise(self._flatten(x), learning=True)
        transformed = self.transformed_weight()
        currents = _linear(x, transformed)
        self._learn(self.weight, transformed, x, currents, lr, slice(None))
        self._mark_transform_fresh()

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, rule={self.rule!r}, "
                f"input_norm={self.input_norm!r}")


# On CPU, oneDNN's fp32 GEMM (what torch.compile's CPU backend calls for linear layers) is 15-25 %
# faster than F.linear's MKL sgemm for the currents shapes measured (batch 64-500, 784-3072 inputs,
# 500-2000 units; see benchmarks/). It is a private torch op, so it is looked up once and any failure
# falls back to F.linear for good.
USE_ONEDNN = True
_ONEDNN_MIN_MACS = 1 << 20  # below this, the op's fixed cost outweighs the gain


def _onednn_op():
    try:
        if torch.backends.mkldnn.is_available():
            return torch.ops.mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):
        pass
    return None


_ONEDNN_LINEAR = _onednn_op()


def _linear(x: Tensor, weight: Tensor) -> Tensor:
    """``F.linear(x, weight)`` (no bias), through oneDNN where that is faster and applies."""
    global _ONEDNN_LINEAR
    if (USE_ONEDNN and _ONEDNN_LINEAR is not None and torch.backends.mkldnn.enabled
            and x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32
            and x.dim() == 2 and x.shape[0] * weight.shape[0] * weight.shape[1] >= _ONEDNN_MIN_MACS
            and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))):
        try:
            return _ONEDNN_LINEAR(x, weight, None, "none", [], "")
        except RuntimeError:
            _ONEDNN_LINEAR = None
    return F.linear(x, weight)
