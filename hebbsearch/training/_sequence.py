"""Training on sequences: layer-wise Hebbian learning of a :class:`~hebbsearch.models.RecurrentStack`,
the probe's features (every step's hidden state, or the last one), the GRU head of ``hebbian_gru``, and
the two baselines a report shows beside the Hebbian result: the same stack trained end to end with
backpropagation through time, and (text) always predicting the most frequent character.

Targets: text has one per time step (``y`` ``(N, T)``: the next character), sequential images one per
sequence (``y`` ``(N,)``), read from the final step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hebbsearch.layers import HebbianLateral, HebbianLinear, HebbianRNN, MemoriaLayer
from hebbsearch.models import BasicHebbianGRUModel, RecurrentStack
from hebbsearch.training._features import _check_batch_size
from hebbsearch.training._hebbian import CACHE_BYTES, check_training_args, layer_steps, scheduled_lr
from hebbsearch.training._probe import ProbeResult, _lr_factor, _optimizer, check_fit_args


def _batches(n: int, batch_size: int) -> range:
    return range(0, n, _check_batch_size(batch_size))


@torch.no_grad()
def block_outputs(stack: RecurrentStack, x: Tensor, *, depth: int, batch_size: int = 1000) -> Tensor:
    """Output ``(N, T, F)`` of block ``depth`` for all of ``x``, in one tensor on ``x.device``."""
    parts = [stack(x[s:s + batch_size], depth).contiguous() for s in _batches(x.shape[0], batch_size)]
    return torch.cat(parts) if parts else x.new_empty((0, *x.shape[1:2], stack.feature_dim(depth)))


def train_sequence_hebbian(
    stack: RecurrentStack,
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
    """Train blocks 1..``depth`` of ``stack`` one after the other on sequences ``x``.

    As :func:`~hebbsearch.training.train_hebbian` does for images: block i learns for ``epochs[i-1]``
    epochs on the outputs of the frozen blocks before it; each epoch visits the sequences in a seeded
    random order, ``batch_size`` sequences per step (each step hands the rule all B·T (pre, post) pairs,
    see :class:`~hebbsearch.layers.HebbianRNN`); the rate follows ``lr_schedule`` over the block's steps.
    Lateral layers learn at their own ``eta`` times the schedule's factor; Memoria layers do not learn.

    Args:
        x: all training sequences, ``(N, T, F)`` floats or ``(N, T)`` character ids.

    Returns:
        The convergence figure of each block 1..depth after its training.
    """
    depth, epochs_per_layer, lrs = check_training_args(stack, x, depth, epochs, lr, lr_schedule, batch_size,
                                                       "train_sequence_hebbian")
    convergence = []
    with torch.no_grad():
        for i in range(1, depth + 1):
            n_epochs = epochs_per_layer[i - 1]
            if n_epochs and stack.learns(i):
                inputs = None
                size = x.shape[0] * x.shape[1] * stack.feature_dim(i - 1) * 4
                if i > 1 and n_epochs > 1 and size <= CACHE_BYTES:
                    inputs = block_outputs(stack, x, depth=i - 1)
                for idx, step, total in layer_steps(x.shape[0], batch_size, n_epochs, i, seed, x.device,
                                                    progress):
                    batch = inputs[idx] if inputs is not None else stack(x[idx], i - 1)
                    factor = scheduled_lr(lr_schedule, 1.0, step, total)
                    stack.hebbian_step(i, batch, lrs[i - 1] * factor, factor)
            convergence.append(stack.convergence(i))
    return convergence


def probe_row_mask(n_rows: int, max_rows: int | None, seed: int = 0, device: torch.device | None = None
                   ) -> Tensor | None:
    """A bool mask keeping ``max_rows`` of ``n_rows`` rows at random (seeded); None when all fit."""
    if max_rows is None or n_rows <= max_rows:
        return None
    keep = torch.randperm(n_rows, generator=torch.Generator().manual_seed(int(seed)))[:max_rows]
    mask = torch.zeros(n_rows, dtype=torch.bool)
    mask[keep] = True
    return mask.to(device)


@torch.no_grad()
def sequence_features(stack: RecurrentStack, x: Tensor, *, depth: int, per_step: bool,
                      batch_size: int = 1000, keep: Tensor | None = None) -> Tensor:
    """The probe's features from block ``depth``: ``per_step`` → every step's output as rows
    ``(N·T, F)`` in (sequence, step) order (only the rows ``keep`` marks, if given); else the final
    step's ``(N, F)``. Computed in batches of ``batch_size`` sequences, without autograd."""
    parts = []
    steps = x.shape[1]
    for start in _batches(x.shape[0], batch_size):
        out = stack(x[start:start + batch_size], depth)
        if per_step:
            rows = out.reshape(-1, out.shape[-1])
            if keep is not None:
                rows = rows[keep[start * steps:(start + out.shape[0]) * steps]]
            parts.append(rows.contiguous())
        else:
            parts.append(out[:, -1].contiguous())
    if not parts:
        return x.new_empty((0, stack.feature_dim(depth)), dtype=torch.float32)
    return torch.cat(parts)


def sequence_targets(y: Tensor, per_step: bool, keep: Tensor | None = None) -> Tensor:
    """Targets matching :func:`sequence_features`' rows."""
    if not per_step:
        return y
    rows = y.reshape(-1)
    return rows[keep] if keep is not None else rows


def unigram_accuracy(train_y: Tensor, eval_y: Tensor) -> float:
    """Accuracy of always predicting the most frequent target of ``train_y`` on ``eval_y`` (NaN if empty)."""
    if eval_y.numel() == 0:
        return math.nan
    most = int(torch.bincount(train_y.reshape(-1)).argmax())
    return float((eval_y == most).float().mean())


# -- supervised heads and the backprop baseline ------------------------------------------------------


def _loss_and_hits(logits: Tensor, y: Tensor, per_step: bool) -> tuple[Tensor, Tensor]:
    if not per_step:
        logits = logits[:, -1]
    flat, target = logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
    return F.cross_entropy(flat, target), (flat.argmax(dim=1) == target)


@torch.no_grad()
def sequence_accuracy(model: nn.Module, x: Tensor, y: Tensor, *, per_step: bool, batch_size: int = 500,
                      encode: Callable[[Tensor], Tensor] | None = None) -> float:
    """Accuracy of ``model`` (sequences → logits ``(B, T, C)``) on ``x``: every step, or the last one."""
    if x.shape[0] == 0:
        return math.nan
    was_training = model.training
    model.eval()
    try:
        correct = total = 0
        for start in _batches(x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            _, hits = _loss_and_hits(model(encode(xb) if encode else xb), y[start:start + batch_size],
                                     per_step)
            correct += int(hits.sum())
            total += hits.numel()
    finally:
        model.train(was_training)
    return correct / total


def train_sequence_model(
    model: nn.Module,
    train: tuple[Tensor, Tensor],
    val: tuple[Tensor, Tensor],
    *,
    per_step: bool,
    epochs: int,
    lr: float,
    optimizer: str = "adam",
    lr_schedule: str = "cosine",
    batch_size: int = 64,
    weight_decay: float = 0.0,
    clip: float | None = 1.0,
    seed: int = 0,
    encode: Callable[[Tensor], Tensor] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> ProbeResult:
    """Train ``model`` (sequences → logits ``(B, T, C)``) with cross-entropy and backpropagation through
    time: on every step's target (``per_step``) or the last step's label.

    ``batch_size`` counts sequences; ``encode`` turns a batch of ``x`` into the model's input (e.g. ids
    to one-hot); gradients are clipped to norm ``clip``. ``on_epoch(epoch, val_accuracy)`` is called after
    every epoch (the place for ``trial.report``; exceptions propagate). Only parameters with
    ``requires_grad`` learn. The global RNG state is restored.

    Returns:
        :class:`~hebbsearch.training.ProbeResult` with ``probe`` = ``model`` in eval mode.
    """
    train_x, train_y = train
    val_x, val_y = val
    check_fit_args(optimizer=optimizer, lr_schedule=lr_schedule, epochs=epochs, batch_size=batch_size, lr=lr)
    n = train_x.shape[0]
    starts = list(_batches(n, batch_size))
    if not starts:
        raise ValueError("train_sequence_model needs at least one training sequence")
    params = [p for p in model.parameters() if p.requires_grad]
    device = train_x.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(int(seed))
        opt = _optimizer(optimizer, params, float(lr), float(weight_decay))
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(lr_schedule, epochs * len(starts)))
        generator = torch.Generator().manual_seed(int(seed))
        history: list[float] = []
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(n, generator=generator).to(device)
            for start in starts:
                idx = order[start:start + batch_size]
                xb = train_x[idx]
                loss, _ = _loss_and_hits(model(encode(xb) if encode else xb), train_y[idx], per_step)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip is not None:
                    nn.utils.clip_grad_norm_(params, clip)
                opt.step()
                scheduler.step()
            model.eval()
            acc = sequence_accuracy(model, val_x, val_y, per_step=per_step, encode=encode)
            history.append(acc)
            if on_epoch is not None:
                on_epoch(epoch, acc)
    return ProbeResult(probe=model, val_accuracy=history[-1], history=history)


class GRUHead(nn.Module):
    """The supervised head of :class:`~hebbsearch.models.BasicHebbianGRUModel` on its projected
    features: ``fc(relu(gru(features)))``, sharing the model's ``gru`` and ``fc``."""

    def __init__(self, model: BasicHebbianGRUModel) -> None:
        super().__init__()
        self.gru, self.fc = model.gru, model.fc

    def forward(self, features: Tensor) -> Tensor:
        out, _ = self.gru(features)
        return self.fc(torch.relu(out))


class _Chunked(nn.Module):
    """A Memoria layer read in chunks with an empty memory per batch (as in :class:`RecurrentStack`)."""

    def __init__(self, layer: MemoriaLayer, chunk: int | None) -> None:
        super().__init__()
        self.layer, self.chunk = layer, chunk

    def forward(self, x: Tensor) -> Tensor:
        self.layer.reset()
        chunk = self.chunk or x.shape[1]
        out = torch.cat([self.layer(x[:, s:s + chunk]) for s in range(0, x.shape[1], chunk)], dim=1)
        self.layer.reset()
        return out


class _Recurrent(nn.Module):
    """``nn.RNN``/``nn.GRU`` returning only the outputs, optionally followed by an activation."""

    def __init__(self, rnn: nn.Module, post: nn.Module | None = None) -> None:
        super().__init__()
        self.rnn, self.post = rnn, post or nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.post(self.rnn(x)[0])


def backprop_twin(stack: RecurrentStack, depth: int, num_classes: int, *, gru_head: bool = False,
                  seed: int = 0) -> nn.Sequential:
    """The same architecture as blocks 1..depth of ``stack``, every weight trainable by backprop, plus a
    linear head to ``num_classes`` (sequences ``(B, T, F)`` → logits ``(B, T, C)``).

    A Hebbian RNN becomes ``nn.RNN`` of the same sizes (ReLU when the Hebbian one uses ReLU, else tanh);
    a lateral layer its kernel (``nn.Linear``) and activation; a Hebbian projection ``nn.Linear`` without
    bias; a Memoria layer stays as it is (a memory, not weights). With ``gru_head`` (the ``hebbian_gru``
    preset) the head is ``GRU → ReLU → Linear`` of the projection's size, as the Hebbian model's.
    """
    layers: list[nn.Module] = []
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        for i, block in enumerate(stack.blocks[:depth]):
            post = stack.posts[i]
            if isinstance(block, HebbianRNN):
                relu = isinstance(block.activation, nn.ReLU)
                layers.append(_Recurrent(nn.RNN(block.input_size, block.hidden_size, batch_first=True,
                                                nonlinearity="relu" if relu else "tanh")))
            elif isinstance(block, HebbianLinear):
                layers.append(nn.Linear(block.in_features, block.out_features, bias=False))
            elif isinstance(block, HebbianLateral):
                layers += [nn.Linear(block.in_features, block.out_features), post]
            elif isinstance(block, MemoriaLayer):
                memoria = block.memoria
                layers.append(_Chunked(MemoriaLayer(
                    block.hidden_size, num_reminded_stm=memoria.num_reminded_stm,
                    stm_capacity=memoria.stm_capacity, ltm_search_depth=memoria.ltm_search_depth,
                    initial_lifespan=memoria.initial_lifespan, num_final_ltms=memoria.num_final_ltms,
                    lifespan_extend_scale=block.lifespan_extend_scale), stack.chunks[i]))
        features = stack.feature_dim(depth)
        if gru_head:
            layers += [_Recurrent(nn.GRU(features, features, batch_first=True), nn.ReLU()),
                       nn.Linear(features, num_classes)]
        else:
            layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


@dataclass
class BaselineResult:
    """Accuracies of a baseline on the validation and test splits, and what it trained with."""

    val_accuracy: float
    test_accuracy: float
    settings: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0


__all__ = ["BaselineResult", "GRUHead", "backprop_twin", "block_outputs", "probe_row_mask",
           "sequence_accuracy", "sequence_features", "sequence_targets", "train_sequence_hebbian",
           "train_sequence_model", "unigram_accuracy"]
