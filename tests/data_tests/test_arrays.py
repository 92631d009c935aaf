from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hebbsearch.data import load_dataset
from hebbsearch.data._arrays import to_nchw
from hebbsearch.errors import DataError

from ._helpers import IDX_NAMES, images, labels, write_idx, write_mnist_like, write_npz_pair


def _pair(tmp_path: Path, train_x, test_x, stem: str | None = "toy"):
    return write_npz_pair(tmp_path, stem, train_x, labels(len(train_x)), test_x, labels(len(test_x)))


def _raw(d):
    return np.rint(d.test_x.numpy() * 255).astype(np.uint8)


def test_nhwc_file_is_read_as_nchw(tmp_path: Path) -> None:
    train_x, test_x = images(40, (6, 5, 3)), images(10, (6, 5, 3), seed=1)
    _pair(tmp_path, train_x, test_x)
    d = load_dataset("arrays", tmp_path, val_split=0, normalize="none")
    assert d.name == "toy"
    assert d.input_shape == (3, 6, 5)
    assert np.array_equal(_raw(d), test_x.transpose(0, 3, 1, 2))  # the test split keeps its order


def test_nchw_file_is_kept(tmp_path: Path) -> None:
    train_x, test_x = images(40, (3, 6, 5)), images(10, (3, 6, 5), seed=1)
    _pair(tmp_path, train_x, test_x, stem=None)  # plain train.npz / test.npz
    d = load_dataset("arrays", tmp_path, val_split=0, normalize="none")
    assert d.input_shape == (3, 6, 5)
    assert np.array_equal(_raw(d), test_x)


def test_grayscale_nhw_gets_a_channel(tmp_path: Path) -> None:
    _pair(tmp_path, images(40, (7, 7)), images(10, (7, 7), seed=1))
    d = load_dataset("arrays", tmp_path, val_split=0.25)
    assert d.input_shape == (1, 7, 7) and len(d.val_x) == 10 and d.num_classes == 10


def test_arrays_root_may_be_the_train_file(tmp_path: Path) -> None:
    train, _ = _pair(tmp_path, images(20, (4, 4)), images(5, (4, 4)))
    assert load_dataset("arrays", train, val_split=0).input_shape == (1, 4, 4)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((2, 32, 32, 3), (2, 3, 32, 32)), ((2, 3, 32, 32), (2, 3, 32, 32)), ((2, 1, 4, 4), (2, 1, 4, 4)),
     ((2, 4, 4, 3), (2, 3, 4, 4)), ((2, 3, 4, 4), (2, 3, 4, 4)), ((2, 9, 9), (2, 1, 9, 9))],
)
def test_layout_detection(shape, expected) -> None:
    assert to_nchw(np.zeros(shape, np.uint8), "f").shape == expected


def test_cifar10_is_found_as_npz_in_root_or_root_cifar10(tmp_path: Path) -> None:
    train_x, test_x = images(30, (32, 32, 3)), images(10, (32, 32, 3), seed=1)
    write_npz_pair(tmp_path / "a" / "cifar10", "cifar10", train_x, labels(30), test_x, labels(10))
    write_npz_pair(tmp_path / "b", "cifar10", train_x, labels(30), test_x, labels(10))
    for root, name in ((tmp_path / "a", "cifar10"), (tmp_path / "b", "CIFAR-10")):
        d = load_dataset(name, root, val_split=0, normalize="none")
        assert d.name == "CIFAR10" and d.input_shape == (3, 32, 32) and len(d.train_x) == 30
        assert np.array_equal(_raw(d), test_x.transpose(0, 3, 1, 2))


def test_mnist_from_a_directory_holding_the_gz_files(tmp_path: Path) -> None:
    arrays = write_mnist_like(tmp_path)
    d = load_dataset("mnist", tmp_path, val_split=0, normalize="none")
    assert d.name == "MNIST" and d.input_shape == (1, 28, 28)
    assert (len(d.train_x), len(d.test_x)) == (120, 30)
    assert np.array_equal(_raw(d)[:, 0], arrays["test_x"])
    assert torch.equal(d.test_y, torch.from_numpy(arrays["test_y"].astype(np.int64)))
    assert not any(p.suffix != ".gz" for p in tmp_path.iterdir())  # nothing extracted next to them


def test_mnist_in_torchvision_layout_uncompressed(tmp_path: Path) -> None:
    write_mnist_like(tmp_path / "MNIST" / "raw", compress=False)
    assert len(load_dataset("MNIST", tmp_path, val_split=0).train_x) == 120


def test_malformed_idx_names_the_file(tmp_path: Path) -> None:
    write_mnist_like(tmp_path)
    bad = tmp_path / (IDX_NAMES["train_y"] + ".gz")
    bad.write_bytes(b"not gzip")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path)
    write_idx(tmp_path / IDX_NAMES["train_y"], labels(7).astype(np.uint8))  # 7 labels for 120 images
    with pytest.raises(DataError, match="120"):
        load_dataset("mnist", tmp_path)


def test_missing_field_names_file_and_field(tmp_path: Path) -> None:
    _pair(tmp_path, images(10, (4, 4)), images(5, (4, 4)))
    np.savez(tmp_path / "toy_test.npz", x=images(5, (4, 4)), labels=labels(5))
    with pytest.raises(DataError, match=r"toy_test\.npz.*'y'"):
        load_dataset("arrays", tmp_path)


@pytest.mark.parametrize(
    ("x", "y", "field"),
    [(np.zeros((10, 16), np.uint8), labels(10), "'x'"),               # 2-D images
     (np.zeros((10, 8, 8, 8), np.uint8), labels(10), "'x'"),          # no channel dim
     (np.zeros((10, 4, 4), np.uint8), labels(9), "'y'"),              # label count
     (np.zeros((10, 4, 4), np.uint8), np.zeros((10, 2)), "'y'"),      # 2-D labels
     (np.zeros((10, 4, 4), np.uint8), np.full(10, 0.5), "'y'"),       # non-integer labels
     (np.zeros((10, 4, 4), np.int32), labels(10), "'x'")],            # wrong dtype
)
def test_malformed_arrays(tmp_path: Path, x, y, field) -> None:
    np.savez(tmp_path / "bad_train.npz", x=x, y=y)
    np.savez(tmp_path / "bad_test.npz", x=images(5, (4, 4)), y=labels(5))
    with pytest.raises(DataError, match=rf"bad_train\.npz.*{field}"):
        load_dataset("arrays", tmp_path)


def test_not_an_npz_file(tmp_path: Path) -> None:
    _pair(tmp_path, images(10, (4, 4)), images(5, (4, 4)))
    (tmp_path / "toy_train.npz").write_text("hello")
    with pytest.raises(DataError, match=r"toy_train\.npz"):
        load_dataset("arrays", tmp_path)


def test_train_and_test_image_shapes_must_agree(tmp_path: Path) -> None:
    _pair(tmp_path, images(10, (4, 4)), images(5, (5, 5)))
    with pytest.raises(DataError, match="shape"):
        load_dataset("arrays", tmp_path)


def test_arrays_directory_without_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=str(tmp_path)):
        load_dataset("arrays", tmp_path)
    with pytest.raises(DataError, match="root"):
        load_dataset("arrays", None)


def test_several_pairs_are_ambiguous(tmp_path: Path) -> None:
    _pair(tmp_path, images(10, (4, 4)), images(5, (4, 4)), stem="a")
    _pair(tmp_path, images(10, (4, 4)), images(5, (4, 4)), stem="b")
    with pytest.raises(DataError, match="several"):
        load_dataset("arrays", tmp_path)
