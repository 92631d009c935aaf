from __future__ import annotations

import numpy as np
import pytest
import torch

from hebbsearch.data import DataSplits, load_dataset
from hebbsearch.data._splits import make_splits, validation_count


def test_synthetic_splits_shapes_dtypes_and_sizes() -> None:
    d = load_dataset("synthetic", None, val_split=0.1)
    assert isinstance(d, DataSplits)
    assert d.name == "synthetic"
    assert d.input_shape == (1, 8, 8)
    assert d.num_classes == 10
    assert (len(d.train_x), len(d.val_x), len(d.test_x)) == (1800, 200, 500)
    for x, y in ((d.train_x, d.train_y), (d.val_x, d.val_y), (d.test_x, d.test_y)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (1, 8, 8) and x.shape[0] == y.shape[0]
    assert load_dataset("synthetic_rgb", None).input_shape == (3, 8, 8)


def test_standard_normalisation_uses_train_statistics() -> None:
    d = load_dataset("synthetic-rgb", None, normalize="standard")
    mean = d.train_x.mean(dim=(0, 2, 3))
    std = d.train_x.std(dim=(0, 2, 3))
    torch.testing.assert_close(mean, torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(std, torch.ones(3), atol=1e-3, rtol=0)
    assert d.mean is not None and len(d.mean) == 3 and all(0 < m < 1 for m in d.mean)
    # val/test use the train statistics, so they are close to but not exactly standardised
    raw = load_dataset("synthetic-rgb", None, normalize="none")
    expected = (raw.test_x - torch.tensor(d.mean).view(1, 3, 1, 1)) / torch.tensor(d.std).view(1, 3, 1, 1)
    torch.testing.assert_close(d.test_x, expected, atol=1e-5, rtol=1e-5)


def test_no_normalisation_keeps_unit_range() -> None:
    d = load_dataset("synthetic", None, normalize="none")
    assert d.mean is None and d.std is None
    for x in (d.train_x, d.val_x, d.test_x):
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert float(d.train_x.max()) > 0.9  # scaled by 255, not left as 0..255 or squashed


def test_split_is_deterministic_under_seed_and_changes_with_it() -> None:
    a = load_dataset("synthetic", None, seed=3)
    b = load_dataset("synthetic", None, seed=3)
    c = load_dataset("synthetic", None, seed=4)
    for name in ("train_x", "train_y", "val_x", "val_y", "test_x"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.val_x, c.val_x)


def test_val_and_train_partition_the_training_set() -> None:
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, size=(50, 1, 2, 2), dtype=np.uint8)
    train_x[:, 0, 0, 0] = np.arange(50)  # a unique id per sample
    train_y = np.arange(50) % 5
    test_x, test_y = train_x[:5], train_y[:5]
    d = make_splits("t", train_x, train_y, test_x, test_y, val_split=12, normalize="none")
    ids = lambda x: set(np.rint(x[:, 0, 0, 0].numpy() * 255).astype(int).tolist())  # noqa: E731
    assert len(d.val_x) == 12 and len(d.train_x) == 38
    assert ids(d.train_x).isdisjoint(ids(d.val_x))
    assert ids(d.train_x) | ids(d.val_x) == set(range(50))
    # labels stay attached to their images
    assert all(int(round(float(x[0, 0, 0]) * 255)) % 5 == int(y) for x, y in zip(d.train_x, d.train_y))


def test_subset_limits_only_the_train_set() -> None:
    d = load_dataset("synthetic", None, val_split=100, subset=300)
    assert (len(d.train_x), len(d.val_x), len(d.test_x)) == (300, 100, 500)
    full = load_dataset("synthetic", None, val_split=100, subset=10**6)
    assert len(full.train_x) == 1900


@pytest.mark.parametrize(
    ("val_split", "n", "expected"),
    [(0.1, 1000, 100), (0.0, 10, 0), (0, 10, 0), (5, 10, 5), (0.25, 10, 2)],
)
def test_validation_count(val_split, n, expected) -> None:
    assert validation_count(val_split, n) == expected


@pytest.mark.parametrize("val_split", [-1, 10, 1.0, 250.0, -0.1, True, "0.1"])
def test_invalid_val_split(val_split) -> None:
    with pytest.raises(ValueError, match="val_split"):
        validation_count(val_split, 10)


@pytest.mark.parametrize(("kwargs", "match"), [({"normalize": "zscore"}, "normalize"),
                                               ({"subset": 0}, "subset"), ({"subset": 1.5}, "subset")])
def test_invalid_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        load_dataset("synthetic", None, **kwargs)


def test_device_argument_places_every_tensor() -> None:
    d = load_dataset("synthetic", None, device="cpu")
    assert d.device == torch.device("cpu")
    assert all(t.device == torch.device("cpu") for t in (d.val_x, d.test_y))
