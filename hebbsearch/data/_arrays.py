"""Datasets stored as arrays: ``.npz`` pairs (``x`` images, ``y`` labels) and MNIST-style IDX files.

Images may be NHWC, NCHW or (N, H, W) grayscale; they are returned as NCHW. Every malformed file is a
:class:`~hebbsearch.errors.DataError` naming the file and the field.
"""

from __future__ import annotations

import gzip
import struct
import zipfile
from pathlib import Path

import numpy as np

from hebbsearch.errors import DataError

# MNIST, Fashion-MNIST and KMNIST ship the same four IDX files.
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def to_nchw(x: np.ndarray, source: str) -> np.ndarray:
    """Return images as (N, C, H, W): accepts (N, H, W), NHWC and NCHW with at most 4 channels.

    When both dim 1 and dim 3 could be channels (tiny images), the layout whose spatial dims are square
    wins, NCHW otherwise.
    """
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise DataError(f"{source}: field 'x' must have 3 (N,H,W) or 4 (NHWC/NCHW) dims, got shape {x.shape}")
    first, last = x.shape[1] <= 4, x.shape[3] <= 4
    if first and last:
        last = x.shape[1] == x.shape[2] and x.shape[2] != x.shape[3]
        first = not last
    if first:
        return x
    if last:
        return x.transpose(0, 3, 1, 2)
    raise DataError(
        f"{source}: field 'x' has shape {x.shape}; expected NHWC or NCHW images with 1 to 4 channels"
    )


def _check_labels(y: np.ndarray, n: int, source: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{source}: field 'y' must be 1-D labels, got shape {y.shape}")
    if len(y) != n:
        raise DataError(f"{source}: field 'y' has {len(y)} labels for {n} images in field 'x'")
    if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating)
                                                   and np.all(np.mod(y, 1) == 0))):
        raise DataError(f"{source}: field 'y' must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise DataError(f"{source}: field 'y' holds negative labels (min {y.min()})")
    return y


def _check_images(x: np.ndarray, source: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    raise DataError(f"{source}: field 'x' must be uint8 (0..255) or float (0..1), got dtype {x.dtype}")


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``x`` (NCHW after conversion) and ``y`` (int64) from one ``.npz`` file."""
    source = str(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in ("x", "y") if key not in data.files]
            if missing:
                raise DataError(f"{source}: field {missing[0]!r} is missing (keys: {', '.join(data.files)})")
            x, y = data["x"], data["y"]
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{source}: not a readable .npz file ({exc})") from None
    x = to_nchw(_check_images(x, source), source)
    return x, _check_labels(y, len(x), source)


def find_npz_pair(directory: Path, stem: str | None = None) -> tuple[Path, Path] | None:
    """Find ``<stem>_train.npz``/``<stem>_test.npz`` (any stem when None) or ``train.npz``/``test.npz``."""
    if not directory.is_dir():
        return None
    if stem is not None:
        pairs = [(directory / f"{stem}_train.npz", directory / f"{stem}_test.npz")]
    else:
        pairs = [(p, p.with_name(p.name[: -len("_train.npz")] + "_test.npz"))
                 for p in sorted(directory.glob("*_train.npz"))]
        pairs.append((directory / "train.npz", directory / "test.npz"))
    found = [pair for pair in pairs if pair[0].is_file() and pair[1].is_file()]
    if stem is None and len(found) > 1:
        names = ", ".join(p.name for p, _ in found)
        raise DataError(f"{directory}: several train/test .npz pairs ({names}); point root at one of them")
    return found[0] if found else None


def load_npz_pair(train: Path, test: Path) -> Arrays:
    """Read a train/test ``.npz`` pair; both must hold images of the same shape."""
    train_x, train_y = read_npz(train)
    test_x, test_y = read_npz(test)
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(
            f"{test}: field 'x' holds images of shape {test_x.shape[1:]}, "
            f"but {train} holds {train_x.shape[1:]}"
        )
    return train_x, train_y, test_x, test_y


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (MNIST format, optionally gzipped) of unsigned bytes."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: holds {data.size} values, header says {dims}")
    return data.reshape(dims)


def _idx_path(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    return None


def find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four MNIST-style IDX files in ``directory`` (gzipped or not), or None if any is missing."""
    if not directory.is_dir():
        return None
    paths = {key: _idx_path(directory, stem) for key, stem in IDX_FILES.items()}
    if any(p is None for p in paths.values()):
        return None
    return paths  # type: ignore[return-value]


def load_idx(paths: dict[str, Path]) -> Arrays:
    """Read the four IDX files into (train_x NCHW, train_y, test_x NCHW, test_y)."""
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3:
            raise DataError(f"{paths[f'{split}_x']}: expected (N, H, W) images, got shape {x.shape}")
        _check_labels(y, len(x), str(paths[f"{split}_y"]))
    return (arrays["train_x"][:, None], arrays["train_y"].astype(np.int64),
            arrays["test_x"][:, None], arrays["test_y"].astype(np.int64))
