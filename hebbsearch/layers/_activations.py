"""Output activations of Hebbian layers, by name or as modules.

``relu_power`` is Krotov & Hopfield's classifier nonlinearity ReLU(u)^n; ``triangle`` is SoftHebb's
(Journé et al. 2023): ReLU(u − mean_c u)^power, the mean taken over units (channels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


class ReLUPower(nn.Module):
    """ReLU(u) ** power (Krotov & Hopfield 2019 use power n in 1..5)."""

    def __init__(self, power: float = 1.0) -> None:
        super().__init__()
        if power <= 0:
            raise ValueError(f"activation 'relu_power': power must be > 0, got {power}")
        self.power = float(power)

    def forward(self, x: Tensor) -> Tensor:
        return _relu_pow(x, self.power)

    def extra_repr(self) -> str:
        return f"power={self.power}"


class Triangle(nn.Module):
    """SoftHebb's triangle activation: ReLU(u − mean over units)^power (units = dim 1)."""

    def __init__(self, power: float = 1.0) -> None:
        super().__init__()
        if power <= 0:
            raise ValueError(f"activation 'triangle': power must be > 0, got {power}")
        self.power = float(power)

    def forward(self, x: Tensor) -> Tensor:
        return _relu_pow(self.center(x), self.power)

    def _tail(self, x: Tensor) -> Tensor:
        return _relu_pow(x, self.power)

    @staticmethod
    def center(x: Tensor) -> Tensor:
        """u − mean over units: the part of the triangle that is not elementwise."""
        return x - x.mean(dim=1, keepdim=True)

    def extra_repr(self) -> str:
        return f"power={self.power}"


def _relu_pow(x: Tensor, power: float) -> Tensor:
    y = torch.relu(x)
    if power == 1.0:
        return y
    # y is a new tensor: raise it in place unless autograd needs it for the backward of pow
    return y.pow(power) if y.requires_grad else y.pow_(power)


_Fn = Callable[[Tensor], Tensor]


def monotone_split(activation: nn.Module) -> tuple[_Fn, _Fn] | None:
    """``(pre, tail)`` with ``activation(u) == tail(pre(u))`` and ``tail`` elementwise non-decreasing, or
    None when unknown.

    A max-pool commutes with a non-decreasing elementwise function (it picks the same element either
    way), so ``maxpool(activation(u)) == tail(maxpool(pre(u)))``: the costly tail (ReLU, a fractional
    power) then runs on the pooled, several times smaller tensor.
    """
    if isinstance(activation, Triangle):
        return activation.center, activation._tail
    if isinstance(activation, ReLUPower | nn.ReLU | nn.Tanh):
        return _identity, activation
    return None


def _identity(x: Tensor) -> Tensor:
    return x


_ACTIVATIONS = {
    "identity": lambda: nn.Identity(),
    "relu": lambda: nn.ReLU(),
    "relu_power": ReLUPower,
    "triangle": Triangle,
    "tanh": lambda: nn.Tanh(),
}


def list_activations() -> list[str]:
    return sorted(_ACTIVATIONS)


def get_activation(activation: str | nn.Module | None, **params: Any) -> nn.Module:
    """Build an activation from a name (``"relu_power"``, ``power=3``), a module, or None (identity)."""
    if activation is None:
        return nn.Identity()
    if isinstance(activation, nn.Module):
        return activation
    try:
        factory = _ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {activation!r}; known: {', '.join(list_activations())}"
        ) from None
    return factory(**params)
