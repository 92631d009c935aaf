from __future__ import annotations

import numpy as np
import pytest

from hebbsearch.data import make_synthetic


def test_shapes_balance_and_dtype() -> None:
    train_x, train_y, test_x, test_y = make_synthetic(shape=(3, 8, 8), num_train=200, num_test=50)
    assert train_x.shape == (200, 3, 8, 8) and test_x.shape == (50, 3, 8, 8)
    assert train_x.dtype == np.uint8 and train_y.dtype == np.int64
    assert np.bincount(train_y).tolist() == [20] * 10


def test_generated_from_the_seed() -> None:
    a, b, c = make_synthetic(seed=1), make_synthetic(seed=1), make_synthetic(seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_classes_are_separable_by_nearest_class_mean() -> None:
    train_x, train_y, test_x, test_y = make_synthetic()
    means = np.stack([train_x[train_y == c].reshape(-1, 64).mean(0) for c in range(10)])
    dist = ((test_x.reshape(-1, 1, 64).astype(float) - means[None]) ** 2).sum(-1)
    assert (dist.argmin(1) == test_y).mean() > 0.95


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError):
        make_synthetic(num_classes=1)
