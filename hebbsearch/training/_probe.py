"""The linear probe: BatchNorm1d(affine=False) → Dropout → Linear, trained with cross-entropy on features
that are already tensors on the device; batches are index slices."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hebbsearch.training._features import _check_batch_size

OPTIMIZERS = ("adam", "sgd", "adamw")
PROBE_SCHEDULES = ("constant", "cosine", "step")


@dataclass
class ProbeResult:
    """A trained probe, its validation accuracy after the last epoch, and the accuracy after every epoch.

    Accuracies are fractions in [0, 1] (NaN when the validation set is empty).
    """

    probe: nn.Module
    val_accuracy: float
    history: list[float] = field(default_factory=list)


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU masks come from numpy's PCG64 generator.

    torch's CPU ``bernoulli_`` draws one Mersenne-Twister number per element (~12 ns): on a probe over
    wide features (SoftHebb's 24 576) it took 80 % of each training step. Here every raw 64-bit PCG64
    output gives four 16-bit draws (read as int16, uniform on [−2¹⁵, 2¹⁵)), ~4x fewer generator calls than
    drawing 16-bit integers one by one. An element is kept when its draw is ≥ round(p·2¹⁶) − 2¹⁵, i.e.
    with probability 1 − p to within 2⁻¹⁶, and scaled by 1 / (1 − p) as usual. The generator is seeded
    from torch's global one when the module is made, so a seeded run repeats. CUDA tensors and eval mode
    behave exactly as ``nn.Dropout``.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)
        self._rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        self._threshold = np.int16(min(round(p * 65536), 65535) - 32768)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return super().forward(x)
        n = x.numel()
        draws = self._rng.bit_generator.random_raw(-(-n // 4)).view(np.int16)[:n].reshape(x.shape)
        # the scaled mask (0 or 1 / (1 − p)) made by numpy in one pass: one torch multiply is left
        mask = np.empty(x.shape, dtype=np.float64 if x.dtype == torch.float64 else np.float32)
        np.multiply(draws >= self._threshold, 1.0 / (1.0 - self.p), out=mask)
        return x * torch.from_numpy(mask).to(x.dtype)


def make_probe(num_features: int, num_classes: int, dropout: float = 0.0) -> nn.Sequential:
    """BatchNorm1d(num_features, affine=False) → Dropout(dropout) → Linear(num_features, num_classes).

    Its parameter count is ``num_features · num_classes + num_classes`` (the norm has none).
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    return nn.Sequential(
        nn.BatchNorm1d(num_features, affine=False),
        Dropout(dropout),
        nn.Linear(num_features, num_classes),
    )


@torch.no_grad()
def accuracy(probe: nn.Module, x: Tensor, y: Tensor, batch_size: int = 4096) -> float:
    """Fraction of rows of ``x`` whose arg-max prediction equals ``y``, in eval mode (mode restored)."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]} labels")
    if x.shape[0] == 0:
        return math.nan
    was_training = probe.training
    probe.eval()
    try:
        correct = 0
        for start in range(0, x.shape[0], batch_size):
            logits = probe(x[start:start + batch_size])
            correct += int((logits.argmax(dim=1) == y[start:start + batch_size]).sum())
    finally:
        probe.train(was_training)
    return correct / x.shape[0]


def _lr_factor(schedule: str, total_steps: int) -> Callable[[int], float]:
    if schedule == "constant":
        return lambda step: 1.0
    if schedule == "cosine":
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
    # "step": ×0.1 after half of the steps, ×0.01 after three quarters
    return lambda step: 0.1 ** ((step >= total_steps // 2) + (step >= (3 * total_steps) // 4))


def _optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)


def _check_xy(pair: tuple[Tensor, Tensor], name: str) -> tuple[Tensor, Tensor]:
    x, y = pair
    if x.dim() != 2 or y.dim() != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{name} must be (features (N, F), labels (N,)), got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    return x, y


def check_fit_args(*, optimizer: str, lr_schedule: str, epochs: object, batch_size: object, lr: object) -> None:
    """The optimisation settings of a supervised fit (:func:`train_probe`, the sequence heads), checked: a
    ValueError names the bad one."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if lr_schedule not in PROBE_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {PROBE_SCHEDULES}, got {lr_schedule!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    _check_batch_size(batch_size)
    if isinstance(lr, bool) or not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")


def train_probe(
    train: tuple[Tensor, Tensor],
    val: tuple[Tensor, Tensor],
    *,
    num_classes: int,
    epochs: int,
    lr: float,
    optimizer: str = "adam",
    lr_schedule: str = "cosine",
    batch_size: int = 256,
    dropout: float = 0.0,
    weight_decay: float = 0.0,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
) -> ProbeResult:
    """Train a linear probe (:func:`make_probe`) on fixed features with cross-entropy.

    Args:
        train: ``(features (N, F), labels (N,))`` on the device.
        val: validation features and labels (may be empty: accuracies are then NaN).
        num_classes: number of classes.
        epochs: passes over ``train``.
        lr: initial learning rate.
        optimizer: ``"adam"``, ``"sgd"`` (momentum 0.9, Nesterov) or ``"adamw"``.
        lr_schedule: per step, ``"constant"``, ``"cosine"`` (to 0) or ``"step"`` (×0.1 at 50 % and
            75 % of the steps).
        batch_size, dropout, weight_decay: as usual.
        seed: seeds the initialisation, the shuffling and dropout (the global RNG state is restored).
        on_epoch: called as ``on_epoch(epoch, val_accuracy)`` after every epoch, ``epoch`` counting from
            0 — the place for ``trial.report``/``should_prune``; exceptions it raises (``optuna.TrialPruned``)
            propagate.

    Returns:
        :class:`ProbeResult` with the probe (in eval mode), the last validation accuracy and the history.
    """
    train_x, train_y = _check_xy(train, "train")
    val_x, val_y = _check_xy(val, "val")
    check_fit_args(optimizer=optimizer, lr_schedule=lr_schedule, epochs=epochs, batch_size=batch_size, lr=lr)
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes!r}")
    n = train_x.shape[0]
    if n < 2:
        raise ValueError("train_probe needs at least 2 training samples")
    device = train_x.device
    # batch starts; a last batch of one sample is dropped (BatchNorm cannot train on it)
    starts = [s for s in range(0, n, batch_size) if min(batch_size, n - s) > 1]
    total_steps = epochs * len(starts)

    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(int(seed))
        probe = make_probe(train_x.shape[1], num_classes, dropout).to(device)
        opt = _optimizer(optimizer, probe.parameters(), float(lr), float(weight_decay))
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(lr_schedule, total_steps))
        generator = torch.Generator().manual_seed(int(seed))
        history: list[float] = []
        for epoch in range(epochs):
            probe.train()
            order = torch.randperm(n, generator=generator).to(device)
            for start in starts:
                idx = order[start:start + batch_size]
                loss = F.cross_entropy(probe(train_x[idx]), train_y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                scheduler.step()
            probe.eval()
            acc = accuracy(probe, val_x, val_y)
            history.append(acc)
            if on_epoch is not None:
                on_epoch(epoch, acc)
    return ProbeResult(probe=probe, val_accuracy=history[-1], history=history)
