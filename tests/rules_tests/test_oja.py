"""Oja's rule: the formula, and one unit finding the first principal component."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hebbsearch.layers import HebbianLinear
from hebbsearch.rules import get_rule

from ._helpers import F64, abs_cos, gaussian, gen, random_covariance


# fewer rows than inputs (yᵀy taken directly) and more (taken as (yᵀx)·Wᵀ): the same formula
@pytest.mark.parametrize("rows", [3, 9])
def test_update_is_the_batch_average_of_oja_per_sample(rows):
    g = gen(0)
    w, x = torch.randn(4, 6, generator=g, dtype=F64), torch.randn(rows, 6, generator=g, dtype=F64)
    expected = torch.zeros_like(w)
    for xm in x:  # Δw = y xᵀ − y yᵀ W per sample
        y = w @ xm
        expected += torch.outer(y, xm) - torch.outer(y, y) @ w
    torch.testing.assert_close(get_rule("oja").update(w, x), expected / len(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "cov",
    [torch.tensor([[3.0, 1.2], [1.2, 1.0]], dtype=F64), random_covariance(10, gen(1))],
    ids=["2d", "10d"],
)
def test_one_unit_converges_to_the_first_principal_component(cov):
    g = gen(2)
    layer = HebbianLinear(cov.shape[0], 1, "oja", seed=3, dtype=F64)
    steps = 600
    for step in range(steps):
        layer.hebbian_step(gaussian(cov, 32, g), 0.02 if step < steps // 2 else 0.005)
    w = layer.weight[0]
    _, vectors = np.linalg.eigh(cov.numpy())
    first = torch.from_numpy(vectors[:, -1])
    assert float(abs_cos(w, first)) > 0.99
    assert abs(float(w.norm()) - 1) < 0.05  # Oja's decay keeps ‖w‖ at 1
    assert layer.convergence() < 0.05


def test_k_units_span_the_principal_subspace():
    g = gen(4)
    cov = random_covariance(8, g)
    layer = HebbianLinear(8, 3, "oja", seed=5, dtype=F64)
    for step in range(800):
        layer.hebbian_step(gaussian(cov, 32, g), 0.02 if step < 400 else 0.005)
    w = layer.weight
    _, vectors = np.linalg.eigh(cov.numpy())
    top = torch.from_numpy(vectors[:, -3:])
    # rows are near-orthonormal and lie in the top-3 eigenspace
    torch.testing.assert_close(w @ w.T, torch.eye(3, dtype=F64), rtol=0, atol=0.05)
    residual = w - (w @ top) @ top.T
    assert float(residual.norm(dim=1).max()) < 0.1
