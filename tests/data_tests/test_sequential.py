"""Images as sequences: row by row (H steps of W·C) and pixel by pixel (H·W steps of C), the same values
as the image path (which stays as it was), the ``seq<name>`` names, and errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from hebbsearch.data import (
    DataSplits,
    SequenceSplits,
    image_sequences,
    is_sequence_dataset,
    list_datasets,
    load_dataset,
    load_sequences,
)
from hebbsearch.errors import DataError

DATA_DIR = os.environ.get("HEBBSEARCH_DATA_DIR")
MNIST = Path(DATA_DIR or "/nonexistent") / "mnist"
CIFAR10 = Path(DATA_DIR or "/nonexistent") / "cifar10"


def test_rows_and_pixels_of_rgb_images() -> None:
    images = load_dataset("synthetic_rgb", None, val_split=100)
    assert images.kind == "image" and type(images) is DataSplits  # the image path is unchanged
    rows = image_sequences(images, "rows")
    pixels = image_sequences(images, "pixels")
    assert rows.kind == pixels.kind == "sequence" and not rows.per_step
    assert rows.input_shape == (8, 24) and pixels.input_shape == (64, 3)
    assert rows.train_x.dtype == torch.float32 and rows.train_y.dtype == torch.int64
    assert torch.equal(rows.train_y, images.train_y) and rows.num_classes == 10
    x = images.test_x
    # row r holds pixel (r, c)'s three channels at 3c .. 3c + 2; pixel step t is pixel (t // 8, t % 8)
    assert torch.equal(rows.test_x[:, 2, 3 * 5:3 * 5 + 3], x[:, :, 2, 5])
    assert torch.equal(pixels.test_x[:, 8 * 2 + 5], x[:, :, 2, 5])
    assert rows.encode(rows.train_x) is rows.train_x


def test_seq_names() -> None:
    for name in ("seqmnist", "SeqMNIST", "seq-cifar10", "seq_synthetic", "seqsynthetic_rgb", "text", "Text"):
        assert is_sequence_dataset(name), name
    for name in ("mnist", "seq", "seqnothing", "synthetic", "sequence"):
        assert not is_sequence_dataset(name), name
    assert "text" not in list_datasets()  # the image names only
    s = load_dataset("seqsynthetic", None, val_split=100)
    assert isinstance(s, SequenceSplits) and s.layout == "rows" and s.input_shape == (8, 8)
    assert s.name == "synthetic (rows)" and s.source == "synthetic"
    p = load_sequences("synthetic", None, sequential="pixels", val_split=100, subset=50)
    assert p.input_shape == (64, 1) and len(p.train_x) == 50


def test_errors() -> None:
    with pytest.raises(DataError, match=r"dataset 'synthetic' is not a sequence dataset: use 'text', "
                                        r"'seq<images>'"):
        load_sequences("synthetic", None)
    with pytest.raises(DataError, match=r"data\.seq_len: only for dataset 'text'"):
        load_sequences("seqsynthetic", None, seq_len=10)
    with pytest.raises(ValueError, match="sequential must be one of"):
        load_sequences("seqsynthetic", None, sequential="columns")
    splits = load_dataset("synthetic", None)
    flat = DataSplits(**{**splits.__dict__, "train_x": splits.train_x.flatten(1)})
    with pytest.raises(DataError, match=r"data\.sequential needs images \(N, C, H, W\), got samples of shape "
                                        r"\(64,\)"):
        image_sequences(flat)


@pytest.mark.skipif(not MNIST.is_dir() and os.environ.get("CI", "").lower() != "true",
                    reason="MNIST is not under $HEBBSEARCH_DATA_DIR/mnist")
def test_sequential_mnist() -> None:
    rows = load_sequences("seqmnist", DATA_DIR, val_split=100, subset=200)
    assert rows.input_shape == (28, 28) and len(rows.test_x) == 10_000
    pixels = load_sequences("MNIST", DATA_DIR, sequential="pixels", val_split=100, subset=200)
    assert pixels.input_shape == (784, 1)
    assert torch.equal(pixels.train_x.reshape(-1, 28, 28), rows.train_x)


@pytest.mark.skipif(not CIFAR10.is_dir() and os.environ.get("CI", "").lower() != "true",
                    reason="CIFAR-10 is not under $HEBBSEARCH_DATA_DIR/cifar10")
def test_sequential_cifar10() -> None:
    """32 rows of 32 RGB pixels (96 features per step), or 1024 pixels of 3 channels, in the same order."""
    rows = load_sequences("seqcifar10", DATA_DIR, val_split=100, subset=200)
    assert rows.input_shape == (32, 96) and len(rows.test_x) == 10_000 and rows.num_classes == 10
    pixels = load_sequences("CIFAR10", DATA_DIR, sequential="pixels", val_split=100, subset=200)
    assert pixels.input_shape == (1024, 3)
    assert torch.equal(pixels.train_x.reshape(-1, 32, 96), rows.train_x)
    assert torch.equal(pixels.train_y, rows.train_y)
