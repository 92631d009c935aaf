"""Block outputs for a whole tensor, computed once in batches (the probe never re-reads images)."""

from __future__ import annotations

import torch
from torch import Tensor

from hebbsearch.models import HebbianStack


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return batch_size


@torch.no_grad()
def block_outputs(stack: HebbianStack, x: Tensor, *, depth: int, batch_size: int = 1000,
                  flatten: bool = False) -> Tensor:
    """Output of block ``depth`` for every row of ``x``, in one preallocated tensor on ``x.device``."""
    _check_batch_size(batch_size)
    n = x.shape[0]
    out: Tensor | None = None
    for start in range(0, n, batch_size):
        y = stack(x[start:start + batch_size], depth)
        if flatten:
            y = y.flatten(1)
        if out is None:
            out = y.new_empty((n, *y.shape[1:]))
        out[start:start + y.shape[0]] = y
    if out is None:  # empty input: shape from the stack
        shape = stack.out_shapes[stack._check_depth(depth) - 1]
        out = x.new_empty((0, stack.feature_dim(depth)) if flatten else (0, *shape))
    return out


def extract_features(stack: HebbianStack, x: Tensor, *, depth: int, batch_size: int = 1000) -> Tensor:
    """Flattened output ``(N, F)`` of block ``depth`` for all of ``x``, computed without autograd.

    Call it once per split (train, val, test) after :func:`~hebbsearch.training.train_hebbian`;
    :func:`~hebbsearch.training.train_probe` then trains on these tensors directly.
    """
    return block_outputs(stack, x, depth=depth, batch_size=batch_size, flatten=True)
