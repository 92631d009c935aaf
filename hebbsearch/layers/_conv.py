"""HebbianConv2d: nn.Conv2d's signature, kernels learned by a local rule on input patches."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from hebbsearch.layers._base import HebbianLayer
from hebbsearch.rules import Rule

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _resolve_padding(padding: str | int | tuple[int, int], kernel: tuple[int, int],
                     dilation: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int, int, int]:
    """Padding as (left, right, top, bottom), accepting nn.Conv2d's ints, pairs, 'valid' and 'same'."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError("padding='same' needs stride 1, as in nn.Conv2d")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return (total[1] // 2, total[1] - total[1] // 2, total[0] // 2, total[0] - total[0] // 2)
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    ph, pw = _pair(padding)
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return (pw, pw, ph, ph)


class HebbianConv2d(HebbianLayer):
    """A 2-D convolution whose kernels are learned by a local rule.

    The update equals the rule applied to every input patch (all unfolded patches of the batch as rows
    of x), separately for each group. ``forward`` computes ``activation(conv2d(norm(x), transform(W)))``.

    Args (as nn.Conv2d): in_channels, out_channels, kernel_size, stride, padding (int, pair, 'valid',
        'same'), dilation, groups, padding_mode.
    Args (Hebbian): rule, rule_params, input_norm (``None``, ``"batch"``, ``"unit"``), activation,
        activation_params, init, seed — see :class:`~hebbsearch.layers.HebbianLinear`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        padding_mode: str = "zeros",
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
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by "
                f"groups ({groups})"
            )
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size)
        self.stride, self.dilation = _pair(stride), _pair(dilation)
        if min(self.kernel_size + self.stride + self.dilation) < 1:
            raise ValueError("kernel_size, stride and dilation must be >= 1")
        self.padding, self.padding_mode = padding, padding_mode
        pads = _resolve_padding(padding, self.kernel_size, self.dilation, self.stride)
        symmetric = pads[0] == pads[1] and pads[2] == pads[3]
        if padding_mode == "zeros" and symmetric:
            self._explicit_pad, self._conv_pad = None, (pads[2], pads[0])
        else:
            self._explicit_pad, self._conv_pad = pads, (0, 0)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, *self.kernel_size, **factory),
            requires_grad=False,
        )
        self._setup(
            rule, rule_params, out_channels // groups, input_norm,
            nn.BatchNorm2d(in_channels, affine=False, **factory),
            activation, activation_params, init, seed,
        )

    def _prepare(self, x: Tensor, learning: bool) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (batch, {self.in_channels}, height, width), "
                f"got {tuple(x.shape)}"
            )
        x = self._normalise(x, learning)
        if self._explicit_pad is not None:
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            x = F.pad(x, self._explicit_pad, mode=mode)
        return x

    def _conv(self, x: Tensor, weight: Tensor, groups: int) -> Tensor:
        return F.conv2d(x, weight, None, self.stride, self._conv_pad, self.dilation, groups)

    def currents(self, x: Tensor, *, centered: bool = False) -> Tensor:
        """Input currents before the activation, shape (batch, out_channels, H', W').

        ``centered``: the currents minus their mean over the channels (the non-elementwise part of
        SoftHebb's triangle activation), computed as one convolution with the kernels' mean subtracted
        from every kernel, which is the same thing since the convolution is linear in its weights
        (``groups = 1`` only; with groups the mean over all channels mixes the groups' weights).
        """
        weight = self.transformed_weight()
        if centered:
            if self.groups != 1:
                raise ValueError(f"centered currents need groups = 1, got {self.groups}")
            weight = weight - weight.mean(dim=0, keepdim=True)
        return self._conv(self._prepare(x, learning=False), weight, self.groups)

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.currents(x))

    def patches(self, x: Tensor) -> Tensor:
        """Every input patch of a prepared (normalised, padded) input as rows: (B·H'·W', C/groups·kh·kw)
        per group, stacked on dim 0 → (groups, B·H'·W', C/groups·kh·kw). Columns are ordered as
        ``weight.view(out_channels, -1)`` (channel, kernel row, kernel column), as F.unfold's."""
        return self._patches(self._pad_for_conv(x), channels_last=False)

    def _pad_for_conv(self, x: Tensor) -> Tensor:
        """The zero padding F.conv2d would add, made explicit (so patches can be strided views)."""
        ph, pw = self._conv_pad
        return F.pad(x, (pw, pw, ph, ph)) if ph or pw else x

    def _patches(self, x: Tensor, channels_last: bool) -> Tensor:
        """Patches of a padded input as rows per group: a strided view of the windows, then one copy.

        ``channels_last=True`` orders the columns (kernel row, kernel column, channel): from a
        channels-last input each kernel row is then one contiguous run of kw·C values, which makes the
        copy ~2.7x faster than in F.unfold's (channel, kernel row, kernel column) order.
        """
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        win = x.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)[..., ::dh, ::dw]
        b, c, ho, wo = win.shape[:4]
        g = self.groups
        win = win.reshape(b, g, c // g, ho, wo, kh, kw)  # → (g, B, H', W', columns...)
        win = win.permute(1, 0, 3, 4, 5, 6, 2) if channels_last else win.permute(1, 0, 3, 4, 2, 5, 6)
        return win.reshape(g, b * ho * wo, (c // g) * kh * kw)

    @torch.no_grad()
    def hebbian_step(self, x: Tensor, lr: float) -> None:
        """One local update: the rule applied to all patches of ``x`` (per group), scaled by ``lr``."""
        x = self._pad_for_conv(self._prepare(x, learning=True))
        # Channels-last input: mkldnn's conv is several times faster on it, its (B, K, H', W') output
        # is then stored as (B, H', W', K), i.e. already the (patches, units) matrix of currents, and
        # the patches are quicker to gather (see _patches).
        x = x.contiguous(memory_format=torch.channels_last)
        transformed = self.transformed_weight()
        currents = F.conv2d(x, transformed, None, self.stride, 0, self.dilation, self.groups)
        units = currents.shape[1]
        per_group = units // self.groups
        currents = currents.permute(0, 2, 3, 1).reshape(-1, self.groups, per_group)  # a view
        patches = self._patches(x, channels_last=True)
        # The patch columns are in (kernel row, kernel column, channel) order, so the rule learns on
        # copies of the weights with their columns in that order, written back below. Rules combine
        # whole input rows and weight rows, never single columns, so this permutes dW's columns and
        # nothing else (the layer contract test checks every registered rule).
        weight_cols = _columns_last(self.weight)
        shared = transformed.data_ptr() == self.weight.data_ptr()  # identity transform (e.g. p = 2)
        transformed_cols = weight_cols if shared else _columns_last(transformed)
        for g in range(self.groups):
            units_g = slice(g * per_group, (g + 1) * per_group)
            self._learn(weight_cols[units_g], transformed_cols[units_g], patches[g], currents[:, g],
                        lr, units_g)
        self.weight.copy_(_columns_first(weight_cols, self.weight.shape))
        if not shared:
            transformed.copy_(_columns_first(transformed_cols, transformed.shape))
        self._mark_transform_fresh()

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}, dilation={self.dilation}, "
                f"groups={self.groups}, rule={self.rule!r}, input_norm={self.input_norm!r}")


def _columns_last(weight: Tensor) -> Tensor:
    """(K, C, kh, kw) → a (K, kh·kw·C) copy: columns in (kernel row, kernel column, channel) order."""
    return weight.permute(0, 2, 3, 1).clone(memory_format=torch.contiguous_format).view(weight.shape[0], -1)


def _columns_first(cols: Tensor, shape: torch.Size) -> Tensor:
    """Inverse of :func:`_columns_last`: a (K, C, kh, kw) view of the (K, kh·kw·C) rows."""
    k, c, kh, kw = shape
    return cols.view(k, kh, kw, c).permute(0, 3, 1, 2)
