"""Sequence datasets: :class:`SequenceSplits` (a :class:`DataSplits` whose samples are sequences) from
character-level text or from images read row by row or pixel by pixel.

==============  ==========================================================================================
``kind``        samples, targets
==============  ==========================================================================================
``"text"``      int64 character ids ``(N, T)``; targets: the next character at every step ``(N, T)``
``"sequence"``  float32 ``(N, T, F)`` image rows (``layout = "rows"``: T = H steps of W·C values, each
                pixel's channels together) or pixels (``"pixels"``: T = H·W steps of C); one label ``(N,)``
==============  ==========================================================================================

The images go through the image path unchanged (:func:`~hebbsearch.data.load_dataset`: the same split,
subset and normalisation), and are then only reshaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from hebbsearch.data._splits import DataSplits
from hebbsearch.data._synthetic import SYNTHETIC_SHAPES
from hebbsearch.data._text import DEFAULT_SEQ_LEN, find_text_file, load_text
from hebbsearch.data._torchvision import KNOWN, canonical, torchvision_class_name
from hebbsearch.errors import DataError

#: how images become sequences
LAYOUTS = ("rows", "pixels")
TEXT = "text"
SEQ_PREFIX = "seq"


@dataclass(repr=False)
class SequenceSplits(DataSplits):
    """A whole sequence dataset as tensors on one device (see the module table for the two kinds).

    Attributes (besides :class:`DataSplits`'):
        layout: ``"text"``, ``"rows"`` or ``"pixels"``.
        num_features: F, the features of one time step (text: the vocabulary size; inputs are one-hot).
        vocab: text only, the characters in id order.
        source: the text file, or the image dataset's name.
        corpus: text only, every character id of the file, int64 ``(L,)`` on the device.
    """

    layout: str = "rows"
    num_features: int = 0
    vocab: str | None = None
    source: str | None = None
    corpus: Tensor | None = None

    @property
    def kind(self) -> str:
        """``"text"`` (targets per time step) or ``"sequence"`` (one label per sequence)."""
        return "text" if self.layout == TEXT else "sequence"

    @property
    def per_step(self) -> bool:
        """True when every time step has a target (text), False when the final state is classified."""
        return self.layout == TEXT

    @property
    def seq_len(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def input_shape(self) -> tuple[int, int]:  # type: ignore[override]
        """``(T, F)``: steps per sequence and features per step."""
        return (self.seq_len, int(self.num_features))

    def encode(self, x: Tensor) -> Tensor:
        """A batch as the float ``(B, T, F)`` a first layer reads: text ids one-hot, sequences as they are."""
        if self.per_step:
            return torch.nn.functional.one_hot(x, self.num_features).float()
        return x


def _image_name(name: str) -> str | None:
    """The image dataset a ``seq<name>`` dataset reads (``"seqmnist"`` → ``"mnist"``), or None."""
    key = name.strip()
    if not key.lower().startswith(SEQ_PREFIX):
        return None
    rest = key[len(SEQ_PREFIX):].lstrip("-_")
    if not rest:
        return None
    canon = canonical(rest)
    if canon in KNOWN or canon in ("arrays", "npz") or rest.lower().replace("-", "_") in SYNTHETIC_SHAPES:
        return rest
    return rest if torchvision_class_name(canon) is not None else None


def is_sequence_dataset(name: str) -> bool:
    """True for ``"text"`` and for ``seq<image dataset>`` names (``"seqmnist"``, ``"seq-cifar10"``...)."""
    return isinstance(name, str) and (canonical(name) == TEXT or _image_name(name) is not None)


def image_sequences(images: DataSplits, layout: str = "rows", name: str | None = None) -> SequenceSplits:
    """Images ``(N, C, H, W)`` as sequences: ``"rows"`` → ``(N, H, W·C)``, ``"pixels"`` → ``(N, H·W, C)``.

    The values are those of ``images`` (already normalised); each pixel's channels stay together.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if images.train_x.dim() != 4:
        raise DataError(f"dataset {images.name!r}: data.sequential needs images (N, C, H, W), got samples "
                        f"of shape {tuple(images.train_x.shape[1:])}")
    c, h, w = images.input_shape

    def convert(x: Tensor) -> Tensor:
        steps, features = (h, w * c) if layout == "rows" else (h * w, c)
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], steps, features)

    return SequenceSplits(
        name=name or f"{images.name} ({layout})",
        train_x=convert(images.train_x), train_y=images.train_y,
        val_x=convert(images.val_x), val_y=images.val_y,
        test_x=convert(images.test_x), test_y=images.test_y,
        num_classes=images.num_classes, mean=images.mean, std=images.std,
        layout=layout, num_features=(w * c if layout == "rows" else c), source=images.name,
    )


def load_sequences(
    name: str,
    root: str | Path | None,
    *,
    seq_len: int | None = None,
    sequential: str | None = None,
    file: str | None = None,
    val_split: int | float = 0.1,
    subset: int | None = None,
    normalize: str = "standard",
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> SequenceSplits:
    """Load a sequence dataset into tensors on ``device``.

    Args:
        name: ``"text"`` (a text file, see :func:`~hebbsearch.data._text.load_text`), ``seq<images>``
            (``"seqmnist"``, ``"seqcifar10"``: images row by row, or pixel by pixel with
            ``sequential="pixels"``), or any image dataset with ``sequential`` set.
        root: text: the text file, or a directory holding it (``file`` names it, else the only ``.txt``
            file in ``root`` or ``root/text``); images: as :func:`~hebbsearch.data.load_dataset`.
        seq_len: text: characters per sequence (default 64).
        sequential: images: ``"rows"`` (default for ``seq<images>``) or ``"pixels"``.
        file: text: the file, relative to ``root``.
        val_split, subset, seed, device: as :func:`~hebbsearch.data.load_dataset` (text: in windows;
            ``normalize`` applies to images only).

    Raises:
        DataError: the file is missing, empty, binary or too short for ``seq_len`` (names the file and the
            field), or the dataset is not one of these.
        ValueError: invalid ``val_split``, ``subset``, ``seq_len`` or ``sequential``.
    """
    from hebbsearch.data._load import default_root, load_dataset  # deferred: _load imports this module

    root_path = Path(root).expanduser() if root is not None else default_root()
    if canonical(name) == TEXT:
        if sequential is not None:
            raise DataError("data.sequential: dataset 'text' is already a sequence of characters; remove "
                            "data.sequential")
        fields = load_text(find_text_file(root_path, file), seq_len=seq_len or DEFAULT_SEQ_LEN,
                           val_split=val_split, subset=subset, seed=seed, device=device)
        return SequenceSplits(**fields)  # type: ignore[arg-type]
    if seq_len is not None or file is not None:
        key = "data.seq_len" if seq_len is not None else "data.file"
        raise DataError(f"{key}: only for dataset 'text' (image sequences have one step per row or pixel)")
    base = _image_name(name)
    if base is None:
        if sequential is None:
            raise DataError(f"dataset {name!r} is not a sequence dataset: use 'text', 'seq<images>' "
                            f"(e.g. 'seqmnist') or set data.sequential = 'rows' or 'pixels'")
        base = name
    layout = sequential or "rows"
    if layout not in LAYOUTS:
        raise ValueError(f"sequential must be one of {LAYOUTS}, got {layout!r}")
    images = load_dataset(base, root, val_split=val_split, subset=subset, normalize=normalize, seed=seed,
                          device=device)
    return image_sequences(images, layout)


__all__ = ["LAYOUTS", "SequenceSplits", "image_sequences", "is_sequence_dataset", "load_sequences"]
