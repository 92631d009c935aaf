"""HebbianStack: Hebbian blocks in sequence; a linear probe reads the output of block ``depth``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hebbsearch.layers import HebbianConv2d, HebbianLayer, Triangle
from hebbsearch.layers._activations import monotone_split


def check_depth(depth: int | None, blocks: int, *, lowest: int) -> int:
    """``depth`` as a block count in ``lowest..blocks`` (None: all blocks); ValueError otherwise."""
    if depth is None:
        return blocks
    if isinstance(depth, bool) or not isinstance(depth, int) or not lowest <= depth <= blocks:
        raise ValueError(f"depth must be an int in {lowest}..{blocks}, got {depth!r}")
    return depth


class HebbianBlock(nn.Module):
    """One Hebbian layer (input norm, weights, activation) followed by a fixed ``post`` module (pooling).

    Only ``layer`` learns, through ``layer.hebbian_step``; ``forward`` is pure inference.
    """

    def __init__(self, layer: HebbianLayer, post: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(layer, HebbianLayer):
            raise TypeError(f"layer must be a HebbianLayer, got {type(layer).__name__}")
        self.layer = layer
        self.post = post if post is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        split = monotone_split(self.layer.activation) if isinstance(self.post, nn.MaxPool2d) else None
        if split is None:
            return self.post(self.layer(x))
        # the same values, faster: max-pool before the elementwise part of the activation (see
        # monotone_split), on channels-last tensors, where CPU conv and pooling vectorise over channels
        if x.device.type == "cpu" and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        pre, tail = split
        layer = self.layer
        if isinstance(layer.activation, Triangle) and isinstance(layer, HebbianConv2d) and layer.groups == 1:
            # the triangle's channel mean folded into the kernels: one pass over the output less
            return tail(self.post(layer.currents(x, centered=True)))
        return tail(self.post(pre(layer.currents(x))))


class HebbianStack(nn.Module):
    """Hebbian blocks applied in order to images of shape ``in_shape``.

    A stack built with ``depth=n`` holds only the first n blocks of its preset: the probe sits after
    block n. ``depth`` arguments count blocks from 1; ``None`` means all blocks.

    Attributes:
        blocks: the :class:`HebbianBlock` modules.
        in_shape: ``(C, H, W)`` of one input image.
        out_shapes: the output shape of each block for one image (``(C, H, W)`` or ``(F,)``).
        layer_shapes: the shape of each block's layer output for one image, before its ``post`` module
            (the largest tensor a block makes).
        preset: the preset name, when built by :func:`~hebbsearch.models.build_stack`.
    """

    def __init__(self, blocks: Sequence[HebbianBlock], in_shape: Sequence[int], *,
                 preset: str | None = None) -> None:
        super().__init__()
        if not blocks:
            raise ValueError("a HebbianStack needs at least one block")
        self.blocks = nn.ModuleList(blocks)
        self.in_shape = tuple(int(d) for d in in_shape)
        self.preset = preset
        self.out_shapes = self._infer_shapes()

    @torch.no_grad()
    def _infer_shapes(self) -> list[tuple[int, ...]]:
        device = self.blocks[0].layer.weight.device
        x = torch.zeros(1, *self.in_shape, device=device)
        shapes = []
        self.layer_shapes: list[tuple[int, ...]] = []
        for block in self.blocks:
            inner = block.layer(x)
            self.layer_shapes.append(tuple(inner.shape[1:]))
            x = block.post(inner)
            shapes.append(tuple(x.shape[1:]))
        return shapes

    @property
    def depth(self) -> int:
        """Number of blocks (the probe sits after the last one)."""
        return len(self.blocks)


    def _check_depth(self, depth: int | None) -> int:
        return check_depth(depth, self.depth, lowest=1)

    def forward(self, x: Tensor, depth: int | None = None) -> Tensor:
        """Output of block ``depth`` (not flattened)."""
        for block in self.blocks[: self._check_depth(depth)]:
            x = block(x)
        return x

    def features(self, x: Tensor, depth: int | None = None) -> Tensor:
        """Output of block ``depth``, flattened to ``(N, F)``."""
        return self.forward(x, depth).flatten(1)

    def feature_dim(self, depth: int | None = None) -> int:
        """F, the number of features :meth:`features` returns per image."""
        return math.prod(self.out_shapes[self._check_depth(depth) - 1])

    def hebbian_layers(self) -> list[HebbianLayer]:
        """The Hebbian layer of every block, in order."""
        return [block.layer for block in self.blocks]

    def num_hebbian_params(self, depth: int | None = None) -> int:
        """Number of learned Hebbian weights in blocks 1..depth (norm statistics are not parameters)."""
        return sum(layer.weight.numel() for layer in self.hebbian_layers()[: self._check_depth(depth)])

    def extra_repr(self) -> str:
        return f"preset={self.preset!r}, in_shape={self.in_shape}, out_shapes={self.out_shapes}"
