"""DataSplits and the one path every source goes through: seeded validation split, subset, scaling and
per-channel normalisation, all done once on the device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

NORMALIZATIONS = ("standard", "none")


@dataclass
class DataSplits:
    """A whole dataset as tensors on one device: batches are index slices, never disk reads.

    Images are float32 ``(N, C, H, W)``: scaled to [0, 1], then (``normalize="standard"``) shifted and
    scaled per channel by the mean and std of ``train_x``. Labels are int64 ``(N,)``.

    Attributes:
        name: display name of the dataset (``"MNIST"``, ``"CIFAR10"``, ``"synthetic"``...).
        train_x, train_y: the training split (after removing the validation split and applying ``subset``).
        val_x, val_y: the validation split, drawn from the original training set (may be empty).
        test_x, test_y: the official test split.
        num_classes: number of classes (labels are ``0 .. num_classes - 1``).
        mean, std: per-channel statistics used to normalise (``None`` for ``normalize="none"``).
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one image, ``(C, H, W)``."""
        c, h, w = self.train_x.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    @property
    def kind(self) -> str:
        """What one sample is: ``"image"`` here; sequence datasets (:class:`SequenceSplits`) say
        ``"text"`` or ``"sequence"``."""
        return "image"

    def __repr__(self) -> str:
        return (f"DataSplits(name={self.name!r}, input_shape={self.input_shape}, "
                f"train={len(self.train_y)}, val={len(self.val_y)}, test={len(self.test_y)}, "
                f"num_classes={self.num_classes}, device={str(self.device)!r})")


def validation_count(val_split: int | float, n: int) -> int:
    """Number of validation samples: an int count, or a fraction in [0, 1) of the ``n`` training samples."""
    if isinstance(val_split, bool) or not isinstance(val_split, int | float):
        raise ValueError(f"val_split must be an int count or a fraction in [0, 1), got {val_split!r}")
    if isinstance(val_split, float):
        if not 0.0 <= val_split < 1.0:
            raise ValueError(f"val_split as a fraction must be in [0, 1), got {val_split!r}")
        return int(round(val_split * n))
    count = int(val_split)
    if not 0 <= count < n:
        raise ValueError(f"val_split must be a count in [0, {n}) for {n} training samples, got {val_split!r}")
    return count


def _to_float(x: np.ndarray, device: torch.device) -> Tensor:
    """uint8 images → float32 in [0, 1] on ``device`` (moved as uint8: 4× less to copy); floats as is."""
    x = np.ascontiguousarray(x)
    t = torch.from_numpy(x if x.flags.writeable else x.copy())
    if t.dtype == torch.uint8:
        return t.to(device).float().div_(255.0)
    return t.to(device=device, dtype=torch.float32)


def make_splits(
    name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    num_classes: int | None = None,
    val_split: int | float = 0.1,
    subset: int | None = None,
    normalize: str = "standard",
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> DataSplits:
    """Build :class:`DataSplits` from NCHW arrays (uint8 in 0..255, or floats already in [0, 1])."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1):
        raise ValueError(f"subset must be None or an int >= 1, got {subset!r}")
    device = torch.device(device)
    n = len(train_x)
    n_val = validation_count(val_split, n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).numpy()
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    if subset is not None:
        train_idx = train_idx[:subset]
    if len(train_idx) == 0:
        raise ValueError(f"no training samples left after val_split={val_split!r} of {n}")
    if num_classes is None:
        num_classes = int(max(train_y.max(initial=-1), test_y.max(initial=-1))) + 1

    def labels(y: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)).to(device)

    tx, vx, sx = (_to_float(a, device) for a in (train_x[train_idx], train_x[val_idx], test_x))
    mean = std = None
    if normalize == "standard":
        std_t, mean_t = torch.std_mean(tx, dim=(0, 2, 3))
        std_t = torch.where(std_t > 1e-8, std_t, torch.ones_like(std_t))
        for t in (tx, vx, sx):
            t.sub_(mean_t.view(1, -1, 1, 1)).div_(std_t.view(1, -1, 1, 1))
        mean, std = tuple(mean_t.tolist()), tuple(std_t.tolist())
    return DataSplits(
        name=name,
        train_x=tx, train_y=labels(train_y[train_idx]),
        val_x=vx, val_y=labels(train_y[val_idx]),
        test_x=sx, test_y=labels(test_y),
        num_classes=int(num_classes), mean=mean, std=std,
    )
