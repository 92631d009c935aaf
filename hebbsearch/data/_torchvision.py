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
    "emnist": "EMNIST",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
    "svhn": "SVHN",
    "stl10": "STL10",
    "usps": "USPS",
}
IDX_DATASETS = ("mnist", "fashionmnist", "kmnist")

# torchvision classes that take one more choice than train/test: canonical name -> (argument, choices,
# default). "EMNIST" is EMNIST's balanced split (47 classes, as Cohen et al. 2017 recommend for
# benchmarks); "EMNIST-digits", "EMNIST-letters", ... name the others.
VARIANTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "emnist": ("split", ("byclass", "bymerge", "balanced", "letters", "digits", "mnist"), "balanced"),
}

_HINTS = {
    "cifar10": "cifar-10-python.tar.gz (or the extracted cifar-10-batches-py/), or cifar10_train.npz + "
               "cifar10_test.npz",
    "cifar100": "cifar-100-python.tar.gz (or the extracted cifar-100-python/), or cifar100_train.npz + "
                "cifar100_test.npz",
    "emnist": "EMNIST/raw/emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte (EMNIST's gzip.zip, "
              "gunzipped)",
}

# Offline switch: never try to download (tests and air-gapped machines).
OFFLINE_ENV = "HEBBSEARCH_OFFLINE"


def canonical(name: str) -> str:
    """``"CIFAR-10"``, ``"cifar_10"``, ``"Cifar10"`` → ``"cifar10"``."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def variant(canon: str) -> tuple[str, dict[str, str]]:
    """A canonical name without its variant, and the variant as constructor arguments: ``"emnistdigits"``
    → ``("emnist", {"split": "digits"})``, ``"emnist"`` → its default; any other name → ``(canon, {})``."""
    for base, (argument, choices, default) in VARIANTS.items():
        if canon == base:
            return base, {argument: default}
        if canon.startswith(base) and canon[len(base):] in choices:
            return base, {argument: canon[len(base):]}
    return canon, {}


def torchvision_class_name(canon: str) -> str | None:
    """The torchvision.datasets class for a canonical name (a variant suffix such as EMNIST's split
    allowed), or None (imports torchvision if not KNOWN)."""
    canon = variant(canon)[0]
    if canon in KNOWN:
        return KNOWN[canon]
    # deferred: importing torchvision.datasets takes seconds, and only names outside KNOWN need it here
    import torchvision.datasets as tvd

    for cls_name in tvd.__all__:
        if canonical(cls_name) == canon and isinstance(getattr(tvd, cls_name, None), type):
            return cls_name
    return None


def hint(canon: str, cls_name: str) -> str:
    """What a user must put under root for this dataset."""
    canon = variant(canon)[0]
    if canon in IDX_DATASETS:
        return "the four files " + ", ".join(f"{stem}.gz" for stem in IDX_FILES.values())
    return _HINTS.get(canon, f"the files torchvision.datasets.{cls_name} expects")


def _split_kwargs(cls: type, train: bool, chosen: dict[str, str]) -> dict[str, Any]:
    if chosen:  # EMNIST(root, split=..., train=...): its 'split' is the variant
        return {**chosen, "train": train}
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


def _construct(cls: type, root: Path, download: bool, chosen: dict[str, str]) -> tuple[Any, Any]:
    return (cls(str(root), download=download, **_split_kwargs(cls, True, chosen)),
            cls(str(root), download=download, **_split_kwargs(cls, False, chosen)))


def _verified_archive_root(cls: type, roots: list[Path]) -> Path | None:
    """The first of ``roots`` holding the dataset's own archive with its published checksum (CIFAR-10/100,
    STL-10: ``cls.filename`` and ``cls.tgz_md5``), which torchvision unpacks without downloading."""
    from torchvision.datasets.utils import check_integrity

    name, md5 = getattr(cls, "filename", None), getattr(cls, "tgz_md5", None)
    if not (isinstance(name, str) and isinstance(md5, str)):
        return None
    return next((r for r in roots if check_integrity(str(r / name), md5)), None)


def load_torchvision(canon: str, cls_name: str, root: Path, looked: list[Path]) -> Arrays:
    """Load through torchvision: its files under ``root``, else under ``root/<name>`` (the shared data
    directory's layout, e.g. ``root/svhn/train_32x32.mat``); download into ``root`` only when both miss.

    Raises:
        DataError: one line naming where we looked and what to put there when the files are missing
            and cannot be downloaded, or naming the Python package torchvision needs to read them.
    """
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    base, chosen = variant(canon)
    roots = [r for r in dict.fromkeys([root, root / base, root / cls_name]) if r == root or r.is_dir()]
    found, reason = None, ""
    for candidate in roots:
        try:
            found = _construct(cls, candidate, download=False, chosen=chosen)
            break
        except ModuleNotFoundError as exc:  # SVHN reads .mat files with scipy.io
            package = (exc.name or "?").split(".")[0]
            raise DataError(f"torchvision.datasets.{cls_name} needs the Python package {package!r}: "
                            f"pip install {package}") from None
        except (RuntimeError, FileNotFoundError, OSError) as exc:
            reason = reason or f"{type(exc).__name__}: {exc}".splitlines()[0]
    if found is None:
        archive_root = _verified_archive_root(cls, roots)
        if archive_root is not None:  # torchvision unpacks a verified archive without the network
            found = _construct(cls, archive_root, download=True, chosen=chosen)
        elif os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0"):
            reason = f"{OFFLINE_ENV} is set, not downloading"
        else:
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(20)
            try:
                found = _construct(cls, root, download=True, chosen=chosen)
            except Exception as exc:  # noqa: BLE001 - any download failure means "files missing"
                reason = f"download failed: {type(exc).__name__}: {exc}".splitlines()[0]
            finally:
                socket.setdefaulttimeout(previous)
        if found is None:
            where = ", ".join(str(p) for p in dict.fromkeys([*looked, *roots]))
            raise DataError(
                f"dataset {cls_name!r} not found (looked in {where}; {reason}): "
                f"put {hint(canon, cls_name)} in {root} or {root / base}"
            ) from None
    train, test = found
    train_x, train_y = _dataset_arrays(train, cls_name)
    test_x, test_y = _dataset_arrays(test, cls_name)
    return train_x, train_y, test_x, test_y
