"""load_dataset: find a dataset by name under a root directory and return it as DataSplits."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from hebbsearch.data._arrays import Arrays, find_idx_files, find_npz_pair, load_idx, load_npz_pair
from hebbsearch.data._sequential import is_sequence_dataset, load_sequences
from hebbsearch.data._splits import DataSplits, make_splits
from hebbsearch.data._synthetic import SYNTHETIC_SHAPES, make_synthetic
from hebbsearch.data._torchvision import (
    IDX_DATASETS,
    KNOWN,
    canonical,
    load_torchvision,
    torchvision_class_name,
    variant,
)
from hebbsearch.errors import DataError

DATA_DIR_ENV = "HEBBSEARCH_DATA_DIR"
CACHE_ENV = "HEBBSEARCH_CACHE"


def list_datasets() -> list[str]:
    """Names :func:`load_dataset` knows (any other torchvision.datasets class name is tried as well)."""
    return sorted([*KNOWN, "arrays", *SYNTHETIC_SHAPES])


def is_known_dataset(name: str) -> bool:
    """Whether :func:`load_dataset` knows ``name`` (without looking for its files)."""
    canon = canonical(name)
    return (name.strip().lower().replace("-", "_") in SYNTHETIC_SHAPES or canon in ("arrays", "npz")
            or is_sequence_dataset(name) or torchvision_class_name(canon) is not None)


def default_root() -> Path:
    """``$HEBBSEARCH_DATA_DIR``, else ``$HEBBSEARCH_CACHE/data``, else ``~/.cache/hebbsearch/data``."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    cache = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hebbsearch"
    return Path(cache).expanduser() / "data"


def _load_arrays_source(root: Path) -> tuple[str, Arrays]:
    if root.is_file() and root.name.endswith("_train.npz"):
        test = root.with_name(root.name[: -len("_train.npz")] + "_test.npz")
        if not test.is_file():
            raise DataError(f"{root}: no matching test file {test.name} next to it")
        return root.name[: -len("_train.npz")], load_npz_pair(root, test)
    pair = find_npz_pair(root)
    if pair is None:
        raise DataError(
            f"dataset 'arrays': no <name>_train.npz/<name>_test.npz or train.npz/test.npz in {root}: "
            "put the arrays (x: uint8 NHWC/NCHW images, y: int labels) there"
        )
    train, _ = pair
    stem = train.name[: -len("_train.npz")] if train.name != "train.npz" else root.name
    return stem or "arrays", load_npz_pair(*pair)


def _load_named(canon: str, cls_name: str, root: Path) -> Arrays:
    looked: list[Path] = []
    candidates = [root, root / canon, root / cls_name]
    for directory in dict.fromkeys(candidates[:2]):
        looked.append(directory)
        pair = find_npz_pair(directory, canon)
        plain = (directory / "train.npz", directory / "test.npz")
        if pair is None and directory != root and plain[0].is_file() and plain[1].is_file():
            pair = plain
        if pair is not None:
            return load_npz_pair(*pair)
    if canon in IDX_DATASETS:
        for directory in dict.fromkeys([*candidates, root / cls_name / "raw", root / canon / "raw"]):
            looked.append(directory)
            paths = find_idx_files(directory)
            if paths is not None:
                return load_idx(paths)
    return load_torchvision(canon, cls_name, root, list(dict.fromkeys(looked)))


def load_dataset(
    name: str,
    root: str | Path | None,
    *,
    val_split: int | float = 0.1,
    subset: int | None = None,
    normalize: str = "standard",
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> DataSplits:
    """Load a whole image-classification dataset into tensors on ``device``.

    Args:
        name: a torchvision dataset (``"MNIST"``, ``"FashionMNIST"``, ``"CIFAR-10"``...; case and
            dashes do not matter; ``"EMNIST"`` is its balanced split, ``"EMNIST-digits"`` etc. the
            others), ``"arrays"`` (``root`` holds ``<name>_train.npz``/``<name>_test.npz``
            or ``train.npz``/``test.npz`` with ``x`` uint8 NHWC/NCHW/(N,H,W) images and ``y`` labels),
            or ``"synthetic"`` / ``"synthetic_rgb"`` (1×8×8 / 3×8×8 Gaussian clusters made from ``seed``).
        root: where the files are. A torchvision dataset is also found as ``<name>_train.npz`` pairs in
            ``root`` or ``root/<name>``, and MNIST-style datasets as the four IDX ``.gz`` files directly in
            ``root`` or ``root/<name>`` (read directly; nothing is written). Only when nothing is found is
            a torchvision download into ``root`` attempted (never when ``$HEBBSEARCH_OFFLINE`` is set).
            ``None``: :func:`default_root`.
        val_split: validation samples taken from the training set: an int count or a fraction in [0, 1).
        subset: keep at most this many training samples (after the validation split), for quick studies.
        normalize: ``"standard"`` (per-channel mean/std of the training split) or ``"none"`` ([0, 1]).
        seed: seeds the validation permutation (and the synthetic data).
        device: where all tensors live.

    Raises:
        DataError: unknown dataset (the message lists known names), files missing (names where it looked
            and what to put there) or malformed (names the file and the field).
        ValueError: invalid ``val_split``, ``subset`` or ``normalize``.
    """
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"dataset name must be a non-empty string, got {name!r}")
    canon = canonical(name)
    key = name.strip().lower().replace("-", "_")
    if is_sequence_dataset(name):  # text and images as sequences: hebbsearch.data._sequential
        return load_sequences(name, root, val_split=val_split, subset=subset, normalize=normalize, seed=seed,
                              device=device)
    splits = {"val_split": val_split, "subset": subset, "normalize": normalize, "seed": seed,
              "device": device}
    if key in SYNTHETIC_SHAPES:
        arrays = make_synthetic(shape=SYNTHETIC_SHAPES[key], seed=seed)
        return make_splits(key, *arrays, **splits)
    root_path = Path(root).expanduser() if root is not None else default_root()
    if canon in ("arrays", "npz"):
        if root is None:
            raise DataError("dataset 'arrays' needs root: a directory holding "
                            "<name>_train.npz/<name>_test.npz")
        stem, arrays = _load_arrays_source(root_path)
        return make_splits(stem, *arrays, **splits)
    cls_name = torchvision_class_name(canon)
    if cls_name is None:
        raise DataError(
            f"unknown dataset {name!r}; known: {', '.join(list_datasets())} "
            "(or any torchvision.datasets class with a train/test split)"
        )
    label = "-".join([cls_name, *variant(canon)[1].values()])  # "EMNIST-digits"
    return make_splits(label, *_load_named(canon, cls_name, root_path), **splits)
