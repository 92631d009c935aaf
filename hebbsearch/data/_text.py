"""Character-level text as sequences: any UTF-8 text file → windows of ``seq_len`` character ids whose
targets are the next characters; the last 10 % of the text is the test split.

Every bad file is a :class:`~hebbsearch.errors.DataError` naming the file and, where one is at fault,
the study-file field (``data.seq_len``, ``data.file``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hebbsearch.data._splits import validation_count
from hebbsearch.errors import DataError

#: fraction of the text, at its end, held out as the test split
TEST_FRACTION = 0.1
DEFAULT_SEQ_LEN = 64


def find_text_file(root: Path, file: str | None = None) -> Path:
    """The text file of ``dataset = "text"``: ``root`` itself when it is a file, else ``root/file``, else
    the only ``.txt`` file in ``root`` or ``root/text``."""
    if root.is_file():
        return root
    if file is not None:
        path = Path(file).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DataError(f"{path}: data.file: no such text file (relative to the data root {root})")
        return path
    if not root.is_dir():
        raise DataError(f"{root}: no such file or directory: dataset 'text' reads the text file that "
                        f"data.root (or --data-dir) points at")
    found = sorted(root.glob("*.txt")) + sorted((root / "text").glob("*.txt"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(f"{root}: dataset 'text': no .txt file here or in {root / 'text'}; point data.root "
                        f"(or --data-dir) at a text file, or name it with data.file")
    names = ", ".join(str(p.relative_to(root)) for p in found[:5])
    raise DataError(f"{root}: dataset 'text': several .txt files ({names}); choose one with data.file")


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path`` (a leading BOM dropped); empty, binary or non-UTF-8 files are errors."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read text file ({e.strerror or e})") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw:
        raise DataError(f"{path}: empty text file; dataset 'text' needs characters to model")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise DataError(f"{path}: not a text file (a NUL byte at offset {nul}: binary data); "
                        f"dataset 'text' reads UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file (byte 0x{raw[e.start]:02x} at offset {e.start} is not "
                        f"UTF-8); dataset 'text' reads UTF-8 text") from None


def encode(text: str) -> tuple[str, np.ndarray]:
    """``(vocabulary, ids)``: the sorted distinct characters, and each character's index in them (int64)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    alphabet = np.unique(codes)
    ids = np.searchsorted(alphabet, codes).astype(np.int64)
    return "".join(map(chr, alphabet.tolist())), ids


def windows(corpus: Tensor, start: int, count: int, seq_len: int) -> tuple[Tensor, Tensor]:
    """``count`` consecutive windows from ``corpus[start:]``: inputs ``(count, seq_len)`` and their
    next-character targets, both int64 on the corpus' device."""
    offsets = torch.arange(seq_len, device=corpus.device)
    starts = start + torch.arange(count, device=corpus.device) * seq_len
    index = starts[:, None] + offsets
    return corpus[index], corpus[index + 1]


def text_layout(length: int, seq_len: int, val_split: int | float, source: str) -> tuple[int, int, int, int]:
    """``(test_start, n_train, n_val, n_test)`` in windows of ``seq_len``: the test windows cover the last
    :data:`TEST_FRACTION` of the characters, validation the windows just before them.

    Raises:
        DataError: the text is too short for ``seq_len`` (names the file and ``data.seq_len``).
        ValueError: invalid ``val_split``.
    """
    n_test_chars = max(1, round(TEST_FRACTION * length))
    test_start = length - n_test_chars
    n_test = (n_test_chars - 1) // seq_len
    n_all = (test_start - 1) // seq_len
    if n_test < 1 or n_all < 2:
        raise DataError(
            f"{source}: data.seq_len: {seq_len} is longer than the text allows ({length} characters: "
            f"the test split, the last 10 % ({n_test_chars} characters), and the training text each need "
            f"at least seq_len + 1 characters); use a smaller seq_len or a longer text")
    n_val = validation_count(val_split, n_all)
    return test_start, n_all - n_val, n_val, n_test


def load_text(
    path: Path,
    *,
    seq_len: int = DEFAULT_SEQ_LEN,
    val_split: int | float = 0.1,
    subset: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[str, object]:
    """Read a text file and cut it into windows; returns the fields of a text
    :class:`~hebbsearch.data.SequenceSplits`.

    The characters become ids into the sorted vocabulary; the whole corpus is one int64 tensor on
    ``device``. The text is cut into consecutive, non-overlapping windows of ``seq_len`` characters whose
    targets are the next characters (each window reads ``seq_len + 1`` characters). The last
    :data:`TEST_FRACTION` of the text gives the test windows; the validation windows (``val_split``: a
    fraction or a count of windows) are the ones just before them, so both are held-out text. ``subset``
    keeps that many training windows, drawn at random (seeded) from the rest.
    """
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be an int >= 1, got {seq_len!r}")
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1):
        raise ValueError(f"subset must be None or an int >= 1, got {subset!r}")
    text = read_text(path)
    vocab, ids = encode(text)
    if len(vocab) < 2:
        raise DataError(f"{path}: the text has a single distinct character ({vocab!r}); there is nothing to "
                        f"predict")
    test_start, n_train, n_val, n_test = text_layout(len(ids), seq_len, val_split, str(path))
    corpus = torch.from_numpy(ids).to(device)
    train_x, train_y = windows(corpus, 0, n_train, seq_len)
    if subset is not None and subset < n_train:
        keep = torch.randperm(n_train, generator=torch.Generator().manual_seed(int(seed)))[:subset]
        keep = keep.sort().values.to(corpus.device)
        train_x, train_y = train_x[keep], train_y[keep]
    val_x, val_y = windows(corpus, n_train * seq_len, n_val, seq_len)
    test_x, test_y = windows(corpus, test_start, n_test, seq_len)
    return {
        "name": path.name, "train_x": train_x, "train_y": train_y, "val_x": val_x, "val_y": val_y,
        "test_x": test_x, "test_y": test_y, "num_classes": len(vocab), "layout": "text", "vocab": vocab,
        "source": str(path), "corpus": corpus, "num_features": len(vocab),
    }


__all__ = ["DEFAULT_SEQ_LEN", "TEST_FRACTION", "encode", "find_text_file", "load_text", "read_text"]
