"""Sanger's GHA (Hebbian PCA): the formula, and the ordered principal components."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hebbsearch.layers import HebbianLinear
from hebbsearch.rules import get_rule

from ._helpers import F64, abs_cos, gaussian, gen, random_covariance


# fewer rows than inputs (yᵀy taken directly) and more (taken as (yᵀx)·Wᵀ): the same formula
@pytest.mark.parametrize("rows", [3, 9])
def test_update_is_the_batch_average_of_gha_per_sample(rows):
    g = gen(0)
    w, x = torch.randn(4, 6, generator=g, dtype=F64), torch.randn(rows, 6, generator=g, dtype=F64)
    expected = torch.zeros_like(w)
    for xm in x:  # Δw_k = y_k (x − Σ_{j<=k} y_j w_j)
        y = w @ xm
        for k in range(len(w)):
            expected[k] += y[k] * (xm - (y[: k + 1, None] * w[: k + 1]).sum(0))
    torch.testing.assert_close(get_rule("sanger").update(w, x), expected / len(x), rtol=1e-12, atol=1e-12)


def test_first_unit_follows_oja():
    g = gen(1)
    w, x = torch.randn(3, 5, generator=g, dtype=F64), torch.randn(7, 5, generator=g, dtype=F64)
    torch.testing.assert_close(get_rule("sanger").update(w, x)[:1], get_rule("oja").update(w[:1], x))


def test_recovers_top_three_components_in_order():
    g = gen(2)
    cov = random_covariance(10, g)
    layer = HebbianLinear(10, 3, "sanger", seed=3, dtype=F64)
    for step in range(1200):
        layer.hebbian_step(gaussian(cov, 32, g), 0.02 if step < 600 else 0.004)
    _, vectors = np.linalg.eigh(cov.numpy())
    components = torch.from_numpy(vectors[:, ::-1][:, :3].T.copy())  # by decreasing eigenvalue
    cosines = abs_cos(layer.weight, components)
    assert bool((cosines > 0.95).all()), cosines
    assert layer.convergence() < 0.05
