"""Small Gaussian-cluster images for tests and smoke runs: no files, generated from a seed."""

from __future__ import annotations

import numpy as np

from hebbsearch.data._arrays import Arrays

SYNTHETIC_SHAPES = {"synthetic": (1, 8, 8), "synthetic_rgb": (3, 8, 8)}


def make_synthetic(
    *,
    shape: tuple[int, int, int] = (1, 8, 8),
    num_classes: int = 10,
    num_train: int = 2000,
    num_test: int = 500,
    noise: float = 0.25,
    seed: int = 0,
) -> Arrays:
    """Images around one random prototype per class, as uint8 NCHW arrays.

    Each prototype is a random pattern of bright (0.8) and dark (0.2) pixels; a sample is its class
    prototype plus Gaussian noise of std ``noise``, clipped to [0, 1]. With the defaults a linear probe
    reaches > 95 % test accuracy, so tests can check that learning works.

    Returns:
        ``(train_x, train_y, test_x, test_y)``; labels are balanced and shuffled.
    """
    if num_classes < 2 or num_train < num_classes or num_test < 1:
        raise ValueError("make_synthetic needs num_classes >= 2, num_train >= num_classes, num_test >= 1")
    rng = np.random.default_rng(int(seed))
    prototypes = np.where(rng.random((num_classes, *shape)) < 0.5, 0.2, 0.8)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.permutation(np.arange(n) % num_classes)
        x = prototypes[y] + noise * rng.standard_normal((n, *shape))
        return np.rint(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8), y.astype(np.int64)

    train_x, train_y = draw(num_train)
    test_x, test_y = draw(num_test)
    return train_x, train_y, test_x, test_y
