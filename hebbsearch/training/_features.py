"""Block outputs for a whole tensor, computed once in batches (the probe never re-reads images)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hebbsearch.models import HebbianStack


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return batch_size


#: on the CPU, images are pushed through the blocks in chunks whose largest intermediate tensor is about
#: this size, so that it stays in cache between the convolution, the pooling and the activation
#: (benchmarks/bench_extract.py: SoftHebb's layer 1 is about 2x faster in chunks of 42 images than of 1000)
CPU_CHUNK_BYTES = 16 << 20


def chunk_rows(stack: HebbianStack, x: Tensor, depth: int, batch_size: int) -> int:
    """Rows per forward call: ``batch_size``, or fewer on the CPU (see :data:`CPU_CHUNK_BYTES`)."""
    if x.device.type != "cpu":
        return batch_size
    largest = max(math.prod(shape) for shape in stack.layer_shapes[:stack._check_depth(depth)])
    return max(1, min(batch_size, CPU_CHUNK_BYTES // max(1, largest * x.element_size())))


@torch.no_grad()
def block_outputs(stack: HebbianStack, x: Tensor, *, depth: int, batch_size: int = 1000,
                  flatten: bool = False, mirrored: bool = False) -> Tensor:
    """Output of block ``depth`` for every row of ``x``, in one preallocated tensor on ``x.device``.

    At most ``batch_size`` rows go through the stack at once (fewer on the CPU: :func:`chunk_rows`).
    ``mirrored``: 2N rows, the outputs for ``x`` then for ``x`` mirrored left-right (last dim flipped).
    """
    _check_batch_size(batch_size)
    n = x.shape[0]
    out: Tensor | None = None
    batch_size = chunk_rows(stack, x, depth, batch_size)
    starts = [(start, False) for start in range(0, n, batch_size)]
    if mirrored:
        starts += [(start, True) for start in range(0, n, batch_size)]
    for start, flip in starts:
        chunk = x[start:start + batch_size]
        y = stack(chunk.flip(-1) if flip else chunk, depth)
        if out is None:
            shape = (math.prod(y.shape[1:]),) if flatten else y.shape[1:]
            out = y.new_empty((2 * n if mirrored else n, *shape))
        at = start + n if flip else start
        # one copy from whatever layout y has (channels-last on the CPU) into the rows, in (C, H, W) order
        out[at:at + y.shape[0]].view(y.shape).copy_(y)
    if out is None:  # empty input: shape from the stack
        shape = stack.out_shapes[stack._check_depth(depth) - 1]
        out = x.new_empty((0, stack.feature_dim(depth)) if flatten else (0, *shape))
    return out


def extract_features(stack: HebbianStack, x: Tensor, *, depth: int, batch_size: int = 1000,
                     mirrored: bool = False) -> Tensor:
    """Flattened output ``(N, F)`` of block ``depth`` for all of ``x``, computed without autograd.

    Call it once per split (train, val, test) after :func:`~hebbsearch.training.train_hebbian`;
    :func:`~hebbsearch.training.train_probe` then trains on these tensors directly. ``mirrored``: ``(2N,
    F)``, the rows for ``x`` then those for ``x`` mirrored left-right (a probe's flip augmentation).
    """
    return block_outputs(stack, x, depth=depth, batch_size=batch_size, flatten=True, mirrored=mirrored)
