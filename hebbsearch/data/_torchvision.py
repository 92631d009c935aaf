"""torchvision image-classification datasets as whole arrays (``dataset.data`` / ``.targets`` directly,
no per-item PIL transforms). torchvision is imported only when one is actually loaded."""

from __future__ import annotations

import inspect
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np

from hebbsearch.data._arrays import IDX_FILES, Arrays, to_nchw
from hebbsearch.errors import DataError

# canonical name -> torchvision class name, for the datasets we know load fast and fit in memory.
KNOWN = {
    "mnist": "MNIST",
    "fashionmnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "qmnist": "QMNIST",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
    "svhn": "SVHN",
    "stl10": "STL10",
    "usps": "USPS",
}
IDX_DATASETS = ("mnist", "fashionmnist", "kmnist")

_HINTS = {
    "cifar10": "cifar-10-python.tar.gz (or the extracted cifar-10-batches-py/), or cifar10_train.npz + "
               "cifar10_test.npz",
    "cifar100": "cifar-100-python.tar.gz (or the extracted cifar-100-python/), or cifar100_train.npz + "
                "cifar100_test.npz",
}

# Offline switch: never try to download (tests and air-gapped machines).
OFFLINE_ENV = "HEBBSEARCH_OFFLINE"


def canonical(name: str) -> str:
    """``"CIFAR-10"``, ``"cifar_10"``, ``"Cifar10"`` → ``"cifar10"``."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def torchvision_class_name(canon: str) -> str | None:
    """The torchvision.datasets class for a canonical name, or None (imports torchvision if not KNOWN)."""
    if canon in KNOWN:
        return KNOWN[canon]
    import torchvision.datasets as tvd

    for cls_name in tvd.__all__:
        if canonical(cls_name) == canon and isinstance(getattr(tvd, cls_name, None), type):
            return cls_name
    return None


def hint(canon: str, cls_name: str) -> str:
    """What a user must put under root for this dataset."""
    if canon in IDX_DATASETS:
        return "the four files " + ", ".join(f"{stem}.gz" for stem in IDX_FILES.values())
    return _HINTS.get(canon, f"the files torchvision.datasets.{cls_name} expects")


def _split_kwargs(cls: type, train: bool) -> dict[str, Any]:
    params = inspect.signature(cls.__init__).parameters
    if "train" in params:
        return {"train": train}
    if "split" in params:
        return {"split": "train" if train else "test"}
    raise DataError(f"torchvision.datasets.{cls.__name__} has no train/test split (no 'train' or 'split')")


def _as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "numpy"):
        return value.numpy()
    return np.asarray(value)


def _dataset_arrays(ds: Any, cls_name: str) -> tuple[np.ndarray, np.ndarray]:
    data = getattr(ds, "data", None)
    targets = getattr(ds, "targets", None)
    if targets is None:
        targets = getattr(ds, "labels", None)
    if data is not None and targets is not None and not isinstance(data, list | dict):
        x = _as_numpy(data)
        y = _as_numpy(targets)
    else:  # generic fallback: per item (slow, once)
        images, labels = [], []
        for image, label in ds:
            images.append(np.asarray(image))
            labels.append(int(label))
        if not images or len({im.shape for im in images}) != 1:
            raise DataError(f"torchvision.datasets.{cls_name}: images are not all the same size")
        x, y = np.stack(images), np.asarray(labels)
    if x.dtype != np.uint8:
        raise DataError(f"torchvision.datasets.{cls_name}: expected uint8 images, got {x.dtype}")
    return to_nchw(x, f"torchvision.datasets.{cls_name}"), y.astype(np.int64).reshape(-1)


def _construct(cls: type, root: Path, download: bool) -> tuple[Any, Any]:
    return (cls(str(root), download=download, **_split_kwargs(cls, True)),
            cls(str(root), download=download, **_split_kwargs(cls, False)))


def load_torchvision(canon: str, cls_name: str, root: Path, looked: list[Path]) -> Arrays:
    """Load through torchvision: the files under ``root`` first; download only when they are missing.

    Raises:
        DataError: one line naming where we looked and what to put there when the files are missing
            and cannot be downloaded.
    """
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        train, test = _construct(cls, root, download=False)
    except (RuntimeError, FileNotFoundError, OSError) as first:
        reason = f"{type(first).__name__}: {first}".splitlines()[0]
        if os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0"):
            reason = f"{OFFLINE_ENV} is set, not downloading"
            train = None
        else:
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(20)
            try:
                train, test = _construct(cls, root, download=True)
            except Exception as exc:  # noqa: BLE001 - any download failure means "files missing"
                reason = f"download failed: {type(exc).__name__}: {exc}".splitlines()[0]
                train = None
            finally:
                socket.setdefaulttimeout(previous)
        if train is None:
            where = ", ".join(str(p) for p in dict.fromkeys([*looked, root]))
            raise DataError(
                f"dataset {cls_name!r} not found (looked in {where}; {reason}): "
                f"put {hint(canon, cls_name)} in {root}"
            ) from None
    train_x, train_y = _dataset_arrays(train, cls_name)
    test_x, test_y = _dataset_arrays(test, cls_name)
    return train_x, train_y, test_x, test_y
