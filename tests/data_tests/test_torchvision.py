"""Torchvision datasets other than the shared ones, from small files in torchvision's own layout: EMNIST
(whose split is part of the name) and SVHN (.mat files, read with scipy). No download is attempted."""

from __future__ import annotations

import hashlib
import pickle
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torchvision.datasets as tvd

from hebbsearch.data import is_known_dataset, load_dataset
from hebbsearch.data._torchvision import canonical, torchvision_class_name, variant
from hebbsearch.errors import DataError
from tests.data_tests._helpers import images, labels, write_idx


@pytest.fixture(autouse=True)
def _offline(monkeypatch) -> None:
    monkeypatch.setenv("HEBBSEARCH_OFFLINE", "1")


def write_emnist(root: Path, split: str, n_train: int = 60, n_test: int = 20, classes: int = 10) -> None:
    raw = root / "EMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for part, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        write_idx(raw / f"emnist-{split}-{part}-images-idx3-ubyte", images(n, (28, 28), seed=seed),
                  compress=False)
        write_idx(raw / f"emnist-{split}-{part}-labels-idx1-ubyte", labels(n, classes).astype(np.uint8),
                  compress=False)


def test_emnist_split_is_part_of_the_name() -> None:
    assert variant(canonical("EMNIST-digits")) == ("emnist", {"split": "digits"})
    assert variant("emnist") == ("emnist", {"split": "balanced"})  # the default split
    assert variant("cifar10") == ("cifar10", {})
    assert torchvision_class_name("emnistletters") == "EMNIST"
    assert torchvision_class_name("emnistcursive") is None
    assert is_known_dataset("EMNIST-byclass") and not is_known_dataset("EMNIST-cursive")


def test_emnist_loads_the_named_split(tmp_path: Path) -> None:
    write_emnist(tmp_path, "digits")
    write_emnist(tmp_path, "balanced", n_train=47, n_test=47, classes=47)
    d = load_dataset("EMNIST-digits", tmp_path, val_split=10, normalize="none")
    assert d.name == "EMNIST-digits" and d.input_shape == (1, 28, 28)
    assert (len(d.train_x), len(d.val_x), len(d.test_x)) == (50, 10, 20)
    assert torch.equal(d.test_y, torch.arange(20) % 10)
    want = torch.from_numpy(images(20, (28, 28), seed=2)).float().div(255).unsqueeze(1)
    assert torch.equal(d.test_x, want)  # the files' pixels, in order, not another split's
    b = load_dataset("EMNIST", tmp_path, val_split=0)
    assert b.name == "EMNIST-balanced" and int(b.train_y.max()) == 46


def test_emnist_split_without_files_is_one_line(tmp_path: Path) -> None:
    write_emnist(tmp_path / "emnist", "digits")
    assert load_dataset("EMNIST-digits", tmp_path).name == "EMNIST-digits"  # from root/emnist/EMNIST/raw
    with pytest.raises(DataError) as info:
        load_dataset("EMNIST-letters", tmp_path)
    message = str(info.value)
    assert "dataset 'EMNIST' not found" in message and "emnist-<split>" in message and "\n" not in message
    assert f"in {tmp_path} or {tmp_path / 'emnist'}" in message
    with pytest.raises(DataError, match="unknown dataset 'EMNIST-cursive'"):
        load_dataset("EMNIST-cursive", tmp_path)


def _write_svhn(root: Path, monkeypatch) -> dict[str, np.ndarray]:
    """torchvision's SVHN layout: X (32, 32, 3, N) uint8, y (N, 1) with 10 for the digit 0; the md5
    sums torchvision checks are set to the written files'."""
    root.mkdir(parents=True, exist_ok=True)
    written, split_list = {}, dict(tvd.SVHN.split_list)
    for split, n, seed in (("train", 40, 1), ("test", 12, 2)):
        nhwc = images(n, (32, 32, 3), seed=seed)
        y = (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)  # 1..10
        path = root / f"{split}_32x32.mat"
        scipy.io.savemat(path, {"X": nhwc.transpose(1, 2, 3, 0), "y": y})
        url, name, _ = split_list[split]
        split_list[split] = [url, name, hashlib.md5(path.read_bytes()).hexdigest()]
        written[split] = nhwc
    monkeypatch.setattr(tvd.SVHN, "split_list", split_list)
    return written


@pytest.mark.parametrize("where", ["", "svhn", "SVHN"])
def test_svhn_from_mat_files(tmp_path: Path, monkeypatch, where: str) -> None:
    """In the root itself (torchvision's layout) or in ``root/<name>`` (the shared data directory's)."""
    written = _write_svhn(tmp_path / where, monkeypatch)
    d = load_dataset("SVHN", tmp_path, val_split=0, normalize="none")
    assert d.name == "SVHN" and d.input_shape == (3, 32, 32)
    assert (len(d.train_x), len(d.test_x)) == (40, 12)
    assert d.test_y[:11].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]  # label 10 is the digit 0
    # NHWC → NCHW with rows and columns where they were (torchvision's .mat is W/H-transposed)
    want = torch.from_numpy(written["test"]).permute(0, 3, 1, 2).float().div(255)
    assert torch.equal(d.test_x, want)


def test_a_missing_reader_package_is_one_line(tmp_path: Path, monkeypatch) -> None:
    _write_svhn(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "scipy.io", None)  # as if scipy were not installed
    with pytest.raises(DataError, match=r"^torchvision.datasets.SVHN needs the Python package 'scipy': "
                                        r"pip install scipy$"):
        load_dataset("SVHN", tmp_path)


def _cifar100_archive(root: Path, monkeypatch) -> np.ndarray:
    """cifar-100-python.tar.gz as torchvision knows it (pickled ``data`` rows, ``fine_labels``, ``meta``),
    with the checksums torchvision checks set to the written files'; returns the test images, NHWC."""
    folder = root / "build" / "cifar-100-python"
    folder.mkdir(parents=True)
    written = {}
    for part, n, seed in (("train", 30, 1), ("test", 10, 2)):
        nhwc = images(n, (32, 32, 3), seed=seed)
        rows = nhwc.transpose(0, 3, 1, 2).reshape(n, -1)  # CIFAR's rows: R plane, G plane, B plane
        (folder / part).write_bytes(pickle.dumps({"data": rows, "fine_labels": list(range(n))}))
        written[part] = nhwc
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))
    md5 = {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in ("train", "test", "meta")}
    archive = root / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-100-python")
    shutil.rmtree(root / "build")
    monkeypatch.setattr(tvd.CIFAR100, "train_list", [["train", md5["train"]]])
    monkeypatch.setattr(tvd.CIFAR100, "test_list", [["test", md5["test"]]])
    monkeypatch.setattr(tvd.CIFAR100, "meta",
                        {"filename": "meta", "key": "fine_label_names", "md5": md5["meta"]})
    monkeypatch.setattr(tvd.CIFAR100, "tgz_md5", hashlib.md5(archive.read_bytes()).hexdigest())
    return written["test"]


@pytest.mark.parametrize("where", ["", "cifar100"])
def test_cifar100_from_its_archive_offline(tmp_path: Path, monkeypatch, where: str) -> None:
    """The archive as published, in the root or root/cifar100: unpacked without the network (offline)."""
    (tmp_path / where).mkdir(exist_ok=True)
    test_nhwc = _cifar100_archive(tmp_path / where, monkeypatch)
    d = load_dataset("CIFAR-100", tmp_path, val_split=0, normalize="none")
    assert d.name == "CIFAR100" and d.input_shape == (3, 32, 32) and d.num_classes == 30
    assert torch.equal(d.test_x, torch.from_numpy(test_nhwc).permute(0, 3, 1, 2).float().div(255))
    assert d.test_y.tolist() == list(range(10))
    monkeypatch.setattr(tvd.CIFAR100, "tgz_md5", "0" * 32)  # a damaged archive is not unpacked...
    shutil.rmtree(tmp_path / where / "cifar-100-python")
    with pytest.raises(DataError, match="HEBBSEARCH_OFFLINE is set, not downloading"):  # ...nor downloaded
        load_dataset("CIFAR-100", tmp_path)
