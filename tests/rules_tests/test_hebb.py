"""Plain Hebb with normalisation: the formula, project(), and the leading eigenvector."""

from __future__ import annotations

import torch

from hebbsearch.layers import HebbianLinear
from hebbsearch.rules import get_rule

from ._helpers import F64, abs_cos, gaussian, gen, random_covariance, top_components


def test_update_is_the_batch_average_of_y_x():
    g = gen(0)
    w, x = torch.randn(4, 6, generator=g, dtype=F64), torch.randn(9, 6, generator=g, dtype=F64)
    expected = sum(torch.outer(w @ xm, xm) for xm in x) / len(x)
    torch.testing.assert_close(get_rule("hebb").update(w, x), expected, rtol=1e-12, atol=1e-12)


def test_project_normalises_rows():
    w = torch.tensor([[3.0, 4.0], [0.0, 0.5]], dtype=F64)
    get_rule("hebb").project(w)
    torch.testing.assert_close(w, torch.tensor([[0.6, 0.8], [0.0, 1.0]], dtype=F64))


def test_units_converge_to_the_leading_eigenvector():
    g = gen(1)
    cov = random_covariance(6, g)
    layer = HebbianLinear(6, 3, "hebb", seed=2, dtype=F64)
    for _ in range(200):
        layer.hebbian_step(gaussian(cov, 64, g), 0.05)
    first = top_components(cov, 1)[0]
    assert bool((abs_cos(layer.weight, first) > 0.99).all())
    assert layer.convergence() < 1e-9
