"""Writers of small dataset files (npz, IDX) for the data tests."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

IDX_NAMES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def images(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def labels(n: int, classes: int = 10) -> np.ndarray:
    return (np.arange(n) % classes).astype(np.int64)


def write_npz_pair(directory: Path, stem: str | None, train_x, train_y, test_x, test_y) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    names = (f"{stem}_train.npz", f"{stem}_test.npz") if stem else ("train.npz", "test.npz")
    paths = (directory / names[0], directory / names[1])
    np.savez(paths[0], x=train_x, y=train_y)
    np.savez(paths[1], x=test_x, y=test_y)
    return paths


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def write_mnist_like(directory: Path, n_train: int = 120, n_test: int = 30, compress: bool = True) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_x": images(n_train, (28, 28), seed=1), "train_y": labels(n_train).astype(np.uint8),
        "test_x": images(n_test, (28, 28), seed=2), "test_y": labels(n_test).astype(np.uint8),
    }
    for key, stem in IDX_NAMES.items():
        write_idx(directory / stem, arrays[key], compress=compress)
    return arrays
