"""Greedy layer-wise Hebbian training: layer i learns on the frozen outputs of layers < i."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from hebbsearch.models import HebbianStack
from hebbsearch.training._features import _check_batch_size, block_outputs

LR_SCHEDULES = ("constant", "linear", "cosine")

# Inputs of layer i (outputs of block i-1) are computed once per layer and kept when they take at most
# this many bytes; larger ones are recomputed batch by batch every epoch.
CACHE_BYTES = 1 << 30


def scheduled_lr(schedule: str, lr: float, step: int, total_steps: int) -> float:
    """Learning rate of step ``step`` (0-based) out of ``total_steps`` of one layer.

    ``"constant"``: ``lr``; ``"linear"``: ``lr · (1 − step/total)`` decaying to 0 (Krotov & Hopfield's
    ``eps0 · (1 − epoch/Nep)``, per step); ``"cosine"``: ``lr · (1 + cos(π · step/total)) / 2``.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
    if schedule == "constant":
        return lr
    frac = min(max(step / max(total_steps, 1), 0.0), 1.0)
    if schedule == "linear":
        return lr * (1.0 - frac)
    return lr * 0.5 * (1.0 + math.cos(math.pi * frac))


def _per_layer(value: object, depth: int, name: str, check: Callable[[object], bool], what: str) -> list:
    values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value] * depth
    if len(values) != depth:
        raise ValueError(f"{name} must be one value or one per layer ({depth}), got {len(values)}")
    for v in values:
        if not check(v):
            raise ValueError(f"{name} must be {what}, got {v!r}")
    return values


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_rate(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def check_training_args(stack: Any, x: Tensor, depth: object, epochs: object, lr: object, lr_schedule: str,
                        batch_size: object, caller: str) -> tuple[int, list[int], list[float]]:
    """The arguments that layer-wise Hebbian training takes, checked (a ValueError names the bad one):
    ``(depth, epochs per layer, lr per layer)``."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an int in 1..{stack.depth}, got {depth!r}")
    depth = stack._check_depth(depth)
    epochs_per_layer = _per_layer(epochs, depth, "epochs", _is_count, "an int >= 0")
    lrs = _per_layer(lr, depth, "lr", _is_rate, "a finite number >= 0")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
    _check_batch_size(batch_size)
    if x.shape[0] == 0:
        raise ValueError(f"{caller} needs at least one training sample")
    return depth, epochs_per_layer, lrs


def layer_steps(n: int, batch_size: int, n_epochs: int, layer: int, seed: int, device: torch.device,
                progress: Callable[[str, int, int], None] | None) -> Iterator[tuple[Tensor, int, int]]:
    """``(indices, step, total)`` of each Hebbian step of ``layer`` (counted from 1): every epoch visits
    the n samples in a seeded random order, ``batch_size`` per step (the last incomplete batch is dropped
    unless it is the only one); ``progress("layer i", epochs done, n_epochs)`` after each epoch."""
    steps_per_epoch = max(1, n // batch_size)
    generator = torch.Generator().manual_seed((int(seed) * 1_000_003 + layer) % 2**63)
    total, step = n_epochs * steps_per_epoch, 0
    for epoch in range(n_epochs):
        order = torch.randperm(n, generator=generator).to(device)
        for b in range(steps_per_epoch):
            yield order[b * batch_size:(b + 1) * batch_size], step, total
            step += 1
        if progress is not None:
            progress(f"layer {layer}", epoch + 1, n_epochs)


def train_hebbian(
    stack: HebbianStack,
    x: Tensor,
    *,
    depth: int,
    epochs: int | Sequence[int],
    lr: float | Sequence[float],
    lr_schedule: str = "linear",
    batch_size: int = 100,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[float]:
    """Train the Hebbian layers 1..``depth`` of ``stack``, one after the other, on images ``x``.

    Layer i learns for ``epochs[i-1]`` epochs on the outputs of the (already trained, frozen) blocks
    before it, computed without autograd; later layers are untouched. Each epoch visits ``x`` in a
    seeded random order in batches of ``batch_size`` (the last incomplete batch is dropped unless it is
    the only one). The learning rate follows ``lr_schedule`` over the layer's steps (see
    :func:`scheduled_lr`).

    Args:
        stack: the stack to train in place.
        x: all training images ``(N, C, H, W)`` on the stack's device.
        depth: train blocks 1..depth.
        epochs: epochs for every layer, or one count per layer (0 leaves a layer at its initial weights).
        lr: initial learning rate, or one per layer.
        lr_schedule: ``"constant"``, ``"linear"`` (decays to 0) or ``"cosine"``.
        batch_size: samples per Hebbian step.
        seed: seeds the shuffling.
        progress: called as ``progress("layer i", epochs_done, epochs_of_layer)`` after every epoch.

    Returns:
        ``layer.convergence()`` of each layer 1..depth after its training.

    Raises:
        DivergenceError: a step produced non-finite weights (propagated from the layer).
        ValueError: invalid arguments.
    """
    depth, epochs_per_layer, lrs = check_training_args(stack, x, depth, epochs, lr, lr_schedule, batch_size,
                                                       "train_hebbian")
    convergence = []
    with torch.no_grad():
        for i in range(1, depth + 1):
            layer, n_epochs = stack.blocks[i - 1].layer, epochs_per_layer[i - 1]
            if n_epochs:
                inputs = _layer_inputs(stack, x, i, n_epochs)
                for idx, step, total in layer_steps(x.shape[0], batch_size, n_epochs, i, seed, x.device,
                                                    progress):
                    batch = inputs[idx] if inputs is not None else stack(x[idx], i - 1)
                    layer.hebbian_step(batch, scheduled_lr(lr_schedule, lrs[i - 1], step, total))
            convergence.append(layer.convergence())
    return convergence


def _layer_inputs(stack: HebbianStack, x: Tensor, i: int, n_epochs: int) -> Tensor | None:
    """Inputs of layer i for all of x when worth caching (several epochs, small enough), else None."""
    if i == 1:
        return x
    size = x.shape[0] * stack.feature_dim(i - 1) * x.element_size()
    if n_epochs > 1 and size <= CACHE_BYTES:
        return block_outputs(stack, x, depth=i - 1)
    return None
