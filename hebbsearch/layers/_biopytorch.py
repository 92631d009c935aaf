"""Drop-in replacements for biopytorch's BioLinear and BioConv2d: their signatures and maths, our speed.

Swap ``from biopytorch import BioConv2d, BioLinear`` for ``from hebbsearch.layers import BioConv2d,
BioLinear`` and a script runs unchanged: same constructor arguments, batch-normalised inputs,
``forward`` = the currents, ``training_step(x, learning_rate)`` returning the p-norm convergence
figure. Only ``bias=True`` is refused: a bias is not part of Krotov & Hopfield's rule.
"""

from __future__ import annotations

import torch

from hebbsearch.layers._conv import HebbianConv2d
from hebbsearch.layers._linear import HebbianLinear
from hebbsearch.rules import get_rule


def _no_bias(layer: str, bias: bool) -> None:
    if bias:
        raise ValueError(f"{layer}: bias=True is not supported (Krotov's rule learns no bias); "
                         f"use bias=False")


class BioLinear(HebbianLinear):
    """biopytorch's ``BioLinear``: Krotov's rule, dW normalised over the whole matrix."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False, delta: float = 0.05,
                 ranking_param: int = 2, lebesgue_p: int = 3, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        _no_bias("BioLinear", bias)
        rule = get_rule("krotov", p=lebesgue_p, k=ranking_param, delta=delta, norm_scope="matrix")
        super().__init__(in_features, out_features, rule, input_norm="batch", device=device, dtype=dtype)


class BioConv2d(HebbianConv2d):
    """biopytorch's ``BioConv2d``: Krotov's rule on every patch, dW normalised per unit."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 lebesgue_p: int = 3, ranking_param: int = 2, delta: float = 0.05,
                 stride: int | tuple[int, int] = 1, padding: str | int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = False,
                 padding_mode: str = "zeros", device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        _no_bias("BioConv2d", bias)
        rule = get_rule("krotov", p=lebesgue_p, k=ranking_param, delta=delta, norm_scope="unit")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         padding_mode, rule, input_norm="batch", device=device, dtype=dtype)
