"""Covariance rule: dW = C W for the batch covariance, blind to the mean; aligns with the variance."""

from __future__ import annotations

import torch

from hebbsearch.layers import HebbianLinear
from hebbsearch.rules import get_rule

from ._helpers import F64, abs_cos, gen


def test_update_is_the_batch_covariance_times_w():
    g = gen(0)
    w, x = torch.randn(4, 6, generator=g, dtype=F64), torch.randn(9, 6, generator=g, dtype=F64) + 3
    centred = x - x.mean(0)
    cov = centred.T @ centred / len(x)
    expected = torch.zeros_like(w)
    y = x @ w.T
    for xm, ym in zip(x, y):
        expected += torch.outer(ym - y.mean(0), xm - x.mean(0))
    rule = get_rule("covariance")
    torch.testing.assert_close(rule.update(w, x), expected / len(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rule.update(w, x), w @ cov, rtol=1e-12, atol=1e-12)


def test_mean_of_the_input_is_ignored():
    g = gen(1)
    w, x = torch.randn(3, 5, generator=g, dtype=F64), torch.randn(8, 5, generator=g, dtype=F64)
    shift = torch.randn(5, generator=g, dtype=F64) * 10
    rule = get_rule("covariance")
    torch.testing.assert_close(rule.update(w, x + shift), rule.update(w, x))
    assert torch.equal(rule.update(w, x[:1]), torch.zeros_like(w))  # one row: no covariance


def test_aligns_with_the_covarying_direction_where_hebb_follows_the_mean():
    g = gen(2)
    mean = torch.tensor([5.0, 0, 0, 0], dtype=F64)
    direction = torch.tensor([0, 1.0, 1.0, 0], dtype=F64) / 2**0.5  # inputs 1 and 2 co-vary

    def sample(m):
        return (mean + 2 * torch.randn(m, 1, generator=g, dtype=F64) * direction
                + 0.3 * torch.randn(m, 4, generator=g, dtype=F64))

    cov_layer = HebbianLinear(4, 2, "covariance", seed=3, dtype=F64)
    hebb_layer = HebbianLinear(4, 2, "hebb", seed=3, dtype=F64)
    for _ in range(200):
        x = sample(64)
        cov_layer.hebbian_step(x, 0.05)
        hebb_layer.hebbian_step(x, 0.05)
    assert bool((abs_cos(cov_layer.weight, direction) > 0.99).all())
    assert bool((abs_cos(hebb_layer.weight, direction) < 0.3).all())  # Hebb is captured by the mean
    assert cov_layer.convergence() < 1e-9  # project() keeps rows at unit norm
