"""Name resolution, missing data, and (only with HEBBSEARCH_DATA_DIR set) the real MNIST and CIFAR-10."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from hebbsearch.data import default_root, list_datasets, load_dataset
from hebbsearch.data._torchvision import canonical, torchvision_class_name
from hebbsearch.errors import DataError, HebbsearchError

DATA_DIR = os.environ.get("HEBBSEARCH_DATA_DIR")
needs_data = pytest.mark.skipif(not DATA_DIR, reason="HEBBSEARCH_DATA_DIR is not set")


@pytest.mark.parametrize(("name", "canon"), [("CIFAR-10", "cifar10"), ("cifar_10", "cifar10"),
                                             ("Fashion-MNIST", "fashionmnist"), ("MNIST", "mnist")])
def test_names_are_case_and_dash_insensitive(name, canon) -> None:
    assert canonical(name) == canon


def test_known_names_map_to_torchvision_classes() -> None:
    import torchvision.datasets as tvd

    for name in list_datasets():
        if name in ("arrays", "synthetic", "synthetic_rgb"):
            continue
        assert isinstance(getattr(tvd, torchvision_class_name(name)), type)
    assert torchvision_class_name("semeion") == "SEMEION"  # any torchvision class by name
    assert {"mnist", "cifar10", "arrays", "synthetic"} <= set(list_datasets())


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(DataError, match="unknown dataset 'imagenette2'.*cifar10.*mnist"):
        load_dataset("imagenette2", "/nonexistent")


@pytest.mark.parametrize(("name", "what"), [("mnist", "train-images-idx3-ubyte.gz"),
                                            ("cifar10", "cifar10_train.npz")])
def test_missing_files_offline_say_where_and_what(tmp_path: Path, monkeypatch, name, what) -> None:
    monkeypatch.setenv("HEBBSEARCH_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        load_dataset(name, tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and what in message
    assert "\n" not in message
    assert isinstance(info.value, HebbsearchError)


def test_default_root_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEBBSEARCH_DATA_DIR", str(tmp_path))
    assert default_root() == tmp_path
    monkeypatch.delenv("HEBBSEARCH_DATA_DIR")
    monkeypatch.setenv("HEBBSEARCH_CACHE", str(tmp_path / "cache"))
    assert default_root() == tmp_path / "cache" / "data"


@needs_data
def test_real_mnist_from_the_directory_of_gz_files() -> None:
    d = load_dataset("MNIST", Path(DATA_DIR) / "mnist", val_split=0, normalize="none")
    assert (len(d.train_x), len(d.val_x), len(d.test_x)) == (60000, 0, 10000)
    assert d.input_shape == (1, 28, 28)
    assert torch.bincount(d.train_y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(d.test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # the parent directory works too (root/mnist/)
    assert len(load_dataset("mnist", DATA_DIR, val_split=0.5, subset=10).train_x) == 10


@needs_data
def test_real_cifar10_from_npz() -> None:
    d = load_dataset("cifar10", DATA_DIR, val_split=0)
    assert d.input_shape == (3, 32, 32)
    assert (len(d.train_x), len(d.test_x)) == (50000, 10000)
    assert torch.bincount(d.test_y).tolist() == [1000] * 10
    assert d.test_y[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    # channel statistics published in shared/data/README.md: R, G, B order and NHWC → NCHW are right
    assert d.mean == pytest.approx((0.49139968, 0.48215841, 0.44653091), abs=1e-4)
    assert d.std == pytest.approx((0.24703223, 0.24348513, 0.26158784), abs=1e-4)
