"""Character-level text: vocabulary and ids, windows and next-character targets, held-out splits (the last
10 % is test, validation just before it), and one-line errors naming the file and the field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from hebbsearch.data import SequenceSplits, load_dataset, load_sequences
from hebbsearch.errors import DataError

TEXT = "".join(f"line {i % 7}: the quick brown fox.\n" for i in range(60))  # 1740 characters
SHAKESPEARE = Path(os.environ.get("HEBBSEARCH_DATA_DIR", "/nonexistent")) / "text" / "tinyshakespeare.txt"


def _write(tmp_path: Path, content: str | bytes, name: str = "t.txt") -> Path:
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def _decode(splits: SequenceSplits, ids: torch.Tensor) -> str:
    return "".join(splits.vocab[i] for i in ids.tolist())


def test_shapes_dtypes_and_one_hot(tmp_path: Path) -> None:
    s = load_sequences("text", _write(tmp_path, TEXT), seq_len=16)
    assert isinstance(s, SequenceSplits) and s.kind == "text" and s.per_step and s.layout == "text"
    assert s.vocab == "".join(sorted(set(TEXT))) and s.num_classes == len(s.vocab) == s.num_features
    assert s.input_shape == (16, len(s.vocab)) and s.seq_len == 16
    for x, y in ((s.train_x, s.train_y), (s.val_x, s.val_y), (s.test_x, s.test_y)):
        assert x.dtype == y.dtype == torch.int64 and x.shape == y.shape and x.shape[1] == 16
    assert s.corpus.shape == (len(TEXT),) and _decode(s, s.corpus) == TEXT
    one_hot = s.encode(s.train_x[:3])
    assert one_hot.shape == (3, 16, len(s.vocab)) and one_hot.dtype == torch.float32
    assert torch.equal(one_hot.argmax(-1), s.train_x[:3]) and torch.equal(one_hot.sum(-1), torch.ones(3, 16))
    assert "input_shape=(16," in repr(s)


def test_targets_are_the_next_characters_and_test_is_the_last_ten_percent(tmp_path: Path) -> None:
    s = load_sequences("text", _write(tmp_path, TEXT), seq_len=10, val_split=0.2)
    test_start = len(TEXT) - round(0.1 * len(TEXT))
    for x, y in ((s.train_x, s.train_y), (s.test_x, s.test_y)):
        assert torch.equal(x[:, 1:], y[:, :-1])  # y is x shifted by one character
    assert _decode(s, s.test_x[0]) == TEXT[test_start:test_start + 10]
    assert _decode(s, s.test_y[-1]) in TEXT[test_start:]
    assert len(s.test_x) == (len(TEXT) - test_start - 1) // 10
    # validation: the windows just before the test text; training: those before them, consecutive
    n_all = (test_start - 1) // 10
    assert len(s.train_x) + len(s.val_x) == n_all and len(s.val_x) == round(0.2 * n_all)
    assert _decode(s, s.val_x[0]) == TEXT[len(s.train_x) * 10:len(s.train_x) * 10 + 10]
    assert _decode(s, s.train_x.reshape(-1)) == TEXT[:len(s.train_x) * 10]
    # an int val_split counts windows; subset keeps that many training windows, seeded
    a = load_sequences("text", tmp_path / "t.txt", seq_len=10, val_split=5, subset=20, seed=3)
    b = load_sequences("text", tmp_path / "t.txt", seq_len=10, val_split=5, subset=20, seed=3)
    assert len(a.val_x) == 5 and len(a.train_x) == 20 and torch.equal(a.train_x, b.train_x)


def test_found_in_a_directory_and_through_load_dataset(tmp_path: Path) -> None:
    _write(tmp_path, TEXT, "only.txt")
    assert load_sequences("text", tmp_path).source == str(tmp_path / "only.txt")
    (tmp_path / "text").mkdir()
    _write(tmp_path / "text", TEXT, "b.txt")
    with pytest.raises(DataError, match=r"several \.txt files \(only\.txt, text/b\.txt\); choose one with "
                                        r"data\.file"):
        load_sequences("text", tmp_path)
    s = load_sequences("text", tmp_path, file="text/b.txt", seq_len=8)
    assert s.source == str(tmp_path / "text" / "b.txt") and s.seq_len == 8
    default = load_dataset("Text", tmp_path / "only.txt")  # load_dataset hands sequences on; seq_len 64
    assert isinstance(default, SequenceSplits) and default.seq_len == 64


@pytest.mark.parametrize(("content", "message"), [
    (b"", r"t\.txt: empty text file"),
    (b"\xef\xbb\xbf", r"t\.txt: empty text file"),
    (b"abc\x00def" * 20, r"t\.txt: not a text file \(a NUL byte at offset 3: binary data\)"),
    (b"abc\xff\xfe" * 20, r"t\.txt: not a text file \(byte 0xff at offset 3 is not UTF-8\)"),
    (b"aaaa" * 100, r"t\.txt: the text has a single distinct character"),
])
def test_bad_files(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message) as info:
        load_sequences("text", _write(tmp_path, content))
    assert "\n" not in str(info.value)


def test_missing_files_and_seq_len_too_long(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.txt: no such file or directory: dataset 'text' reads"):
        load_sequences("text", tmp_path / "nope.txt")
    with pytest.raises(DataError, match=r"missing\.txt: data\.file: no such text file"):
        load_sequences("text", tmp_path, file="missing.txt")
    with pytest.raises(DataError, match=r"no \.txt file here"):
        load_sequences("text", tmp_path)
    path = _write(tmp_path, TEXT)
    with pytest.raises(DataError, match=r"t\.txt: data\.seq_len: 200 is longer than the text allows \(1740 "
                                        r"characters: the test split, the last 10 % \(174 characters\)"):
        load_sequences("text", path, seq_len=200)
    with pytest.raises(DataError, match=r"data\.sequential: dataset 'text' is already a sequence"):
        load_sequences("text", path, sequential="rows")


@pytest.mark.skipif(not SHAKESPEARE.is_file() and os.environ.get("CI", "").lower() != "true",
                    reason="tinyshakespeare.txt is not under $HEBBSEARCH_DATA_DIR/text")
def test_tiny_shakespeare() -> None:
    s = load_sequences("text", SHAKESPEARE.parent.parent, file="text/tinyshakespeare.txt", seq_len=100,
                       val_split=0.05)
    assert s.corpus.numel() == 1_115_394 and s.num_classes == 65
    assert len(s.test_x) == (111_539 - 1) // 100 and s.test_x.shape[1] == 100
