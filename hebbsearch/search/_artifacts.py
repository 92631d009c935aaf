"""Pictures of trials stored as Optuna artifacts: the first Hebbian layer's learned filters.

Each unit's weights are drawn as an image of the input (as in Krotov & Hopfield 2019, Fig. 2): a
convolution kernel ``(C, kh, kw)`` or a linear unit's ``C·H·W`` weights reshaped to the input image.
Each tile is scaled by its own largest ``|w|``: three channels are shown as RGB around mid-grey
(``0.5 + w / (2 max|w|)``), one channel with the blue-white-red map (blue < 0 < red). Up to
``max_units`` tiles are laid out in a near-square grid with a one-pixel white border.

The PNG is uploaded with :func:`optuna.artifacts.upload_artifact` to a
:class:`~optuna.artifacts.FileSystemArtifactStore` on a directory all workers share; optuna-dashboard
shows it on the trial's page (``hebbsearch dashboard`` opens the same directory).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact
from PIL import Image
from torch import Tensor

ARTIFACTS_ENV = "HEBBSEARCH_ARTIFACTS"
DEFAULT_ARTIFACTS = "hebbsearch-artifacts"
FILTERS_FILE = "filters.png"
MAX_UNITS = 100


def resolve_artifact_dir(path: str | None = None) -> str | None:
    """``path``, else ``$HEBBSEARCH_ARTIFACTS``, else :data:`DEFAULT_ARTIFACTS`; ``"none"`` turns
    artifacts off (None)."""
    value = path if path is not None else os.environ.get(ARTIFACTS_ENV) or DEFAULT_ARTIFACTS
    return None if value.strip().lower() in ("", "none") else value


def artifact_store(directory: str) -> FileSystemArtifactStore:
    Path(directory).mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(directory)


def _tiles(weight: Tensor, in_shape: tuple[int, ...], max_units: int) -> np.ndarray:
    """``(n, h, w, C)`` float tiles in [-1, 1], each scaled by its own largest ``|w|``."""
    w = weight.detach().float().cpu()[:max_units]
    if w.dim() == 4:                                   # conv (K, C, kh, kw)
        tiles = w
    elif w.dim() == 2 and len(in_shape) == 3 and w.shape[1] == math.prod(in_shape):
        tiles = w.reshape(w.shape[0], *in_shape)       # linear on images (K, C·H·W)
    else:                                              # anything else: a near-square grey image per unit
        flat = w.reshape(w.shape[0], -1)
        side = math.ceil(math.sqrt(flat.shape[1]))
        padded = flat.new_zeros(flat.shape[0], side * side)
        padded[:, :flat.shape[1]] = flat
        tiles = padded.reshape(-1, 1, side, side)
    arr = tiles.numpy().transpose(0, 2, 3, 1)          # (n, h, w, C)
    if arr.shape[-1] not in (1, 3):
        arr = arr.mean(axis=-1, keepdims=True)
    peak = np.abs(arr).reshape(arr.shape[0], -1).max(axis=1)
    return arr / np.where(peak > 0, peak, 1.0)[:, None, None, None]


def grid_size(n_units: int, tile: tuple[int, int], max_units: int = MAX_UNITS) -> tuple[int, int]:
    """``(width, height)`` in pixels of the filter picture of ``n_units`` tiles of ``tile = (h, w)``."""
    n = min(n_units, max_units)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    scale = _scale(tile)
    h, w = tile[0] * scale, tile[1] * scale
    return cols * (w + 1) + 1, rows * (h + 1) + 1


def _scale(tile: tuple[int, int]) -> int:
    return max(1, 32 // max(tile))


def filters_image(weight: Tensor, in_shape: tuple[int, ...], max_units: int = MAX_UNITS) -> Image.Image:
    """The picture of a layer's filters (see the module docstring)."""
    tiles = _tiles(weight, in_shape, max_units)
    n, h, w, c = tiles.shape
    if c == 3:
        rgb = 0.5 + 0.5 * tiles
    else:
        v = tiles[..., 0]
        rgb = np.stack([np.minimum(1, 1 + v), 1 - np.abs(v), np.minimum(1, 1 - v)], axis=-1)
    scale = _scale((h, w))
    rgb = rgb.repeat(scale, axis=1).repeat(scale, axis=2)
    width, height = grid_size(n, (h, w), max_units)
    canvas = np.ones((height, width, 3))
    cols = math.ceil(math.sqrt(n))
    th, tw = h * scale, w * scale
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = 1 + r * (th + 1), 1 + col * (tw + 1)
        canvas[y:y + th, x:x + tw] = rgb[i]
    return Image.fromarray((np.clip(canvas, 0, 1) * 255).round().astype(np.uint8), "RGB")


def upload_filters(trial: optuna.Trial, weight: Tensor, in_shape: tuple[int, ...], directory: str) -> str:
    """Store the picture of ``weight`` as an artifact of ``trial``; returns the artifact id."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / FILTERS_FILE
        filters_image(weight, in_shape).save(path)
        return upload_artifact(artifact_store=artifact_store(directory), file_path=str(path),
                               study_or_trial=trial, mimetype="image/png")


def download_filters(trial: Any, storage: Any, directory: str, path: str | Path) -> bool:
    """Write the filter picture of the finished ``trial`` to ``path``, replacing a file there.

    Args:
        trial: a finished trial (``FrozenTrial``) of a study in ``storage``.
        storage: the study's storage (a plain or Optuna's cached storage).
        directory: the artifact store the trial uploaded to (read only; never created).
        path: the PNG file to write.

    Returns:
        False when the trial has no filter picture, True once ``path`` is written.

    Raises:
        optuna.artifacts.exceptions.ArtifactNotFound: the trial has a picture but ``directory`` does not
            hold its file (another artifact store).
        OSError: ``path`` cannot be written.
    """
    metas = [m for m in get_all_artifact_meta(trial, storage=storage) if m.filename == FILTERS_FILE]
    if not metas:
        return False
    # not download_artifact: it refuses to replace a file (a second `report --plots` into one directory)
    with FileSystemArtifactStore(directory).open_reader(metas[-1].artifact_id) as reader, \
            open(path, "wb") as writer:
        shutil.copyfileobj(reader, writer)
    return True


__all__ = ["ARTIFACTS_ENV", "download_filters", "filters_image", "grid_size", "resolve_artifact_dir",
           "upload_filters"]
