"""BCM: the formula, the sliding threshold (state) and selectivity on two patterns."""

from __future__ import annotations

import pytest
import torch

from hebbsearch.layers import HebbianConv2d, HebbianLinear
from hebbsearch.rules import get_rule

from ._helpers import F64, gen


def test_update_uses_the_given_threshold():
    g = gen(0)
    w, x = torch.randn(3, 5, generator=g, dtype=F64), torch.randn(7, 5, generator=g, dtype=F64)
    theta = torch.tensor([0.5, 1.0, 2.0], dtype=F64)
    expected = torch.zeros_like(w)
    for xm in x:
        y = w @ xm
        expected += torch.outer(y * (y - theta), xm)
    rule = get_rule("bcm")
    torch.testing.assert_close(rule.update(w, x, state={"theta": theta}), expected / len(x))


def test_without_state_the_threshold_is_the_batch_mean_square():
    g = gen(1)
    w, x = torch.randn(3, 5, generator=g, dtype=F64), torch.randn(7, 5, generator=g, dtype=F64)
    rule = get_rule("bcm")
    theta = (x @ w.T).square().mean(0)
    torch.testing.assert_close(rule.update(w, x), rule.update(w, x, state={"theta": theta}))


def test_weight_decay_is_subtracted():
    g = gen(2)
    w, x = torch.randn(3, 5, generator=g, dtype=F64), torch.randn(7, 5, generator=g, dtype=F64)
    plain, decayed = get_rule("bcm"), get_rule("bcm", weight_decay=0.01)
    torch.testing.assert_close(decayed.update(w, x), plain.update(w, x) - 0.01 * w)


def test_threshold_slides_towards_the_mean_square_response():
    g = gen(3)
    w, x = torch.randn(3, 5, generator=g, dtype=F64), torch.randn(7, 5, generator=g, dtype=F64)
    rule = get_rule("bcm", theta_decay=0.25)
    state = rule.init_state(w)
    assert state["theta"].shape == (3,) and state["theta"].dtype == F64
    y = x @ w.T
    new = rule.next_state(state, w, x, y)["theta"]
    torch.testing.assert_close(new, 0.75 * state["theta"] + 0.25 * y.square().mean(0))


@pytest.mark.parametrize("params,name", [({"theta_decay": 0.0}, "theta_decay"),
                                         ({"theta_decay": 1.5}, "theta_decay"),
                                         ({"weight_decay": -1e-3}, "weight_decay")])
def test_bad_hyperparameters(params, name):
    with pytest.raises(ValueError, match=name):
        get_rule("bcm", **params)


def test_layer_keeps_the_threshold_as_a_buffer_and_updates_it():
    g = gen(4)
    layer = HebbianLinear(5, 3, "bcm", rule_params={"theta_decay": 0.5}, dtype=F64, seed=0)
    assert "rule_theta" in dict(layer.named_buffers())
    assert "rule_theta" in layer.state_dict()
    theta0, w0 = layer.rule_theta.clone(), layer.weight.clone()
    x = torch.randn(16, 5, generator=g, dtype=F64)
    layer.hebbian_step(x, 0.01)
    rule = layer.rule
    expected_w = w0 + 0.01 * rule.update(w0, x, state={"theta": theta0})
    torch.testing.assert_close(layer.weight.detach(), expected_w)
    torch.testing.assert_close(layer.rule_theta, 0.5 * theta0 + 0.5 * (x @ w0.T).square().mean(0))


def test_conv_layer_state_has_one_threshold_per_channel():
    layer = HebbianConv2d(4, 6, 3, groups=2, rule="bcm", dtype=F64, seed=0)
    assert layer.rule_theta.shape == (6,)
    layer.hebbian_step(torch.randn(2, 4, 6, 6, generator=gen(5), dtype=F64), 0.01)
    assert bool((layer.rule_theta != 1).all())


def test_neuron_becomes_selective_to_one_of_two_patterns():
    g = gen(6)
    patterns = torch.tensor([[1.0, 0.2], [0.3, 1.0]], dtype=F64)
    layer = HebbianLinear(2, 1, "bcm", rule_params={"theta_decay": 0.1}, dtype=F64)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, 0.45]], dtype=F64))  # almost equal initial responses
    before = layer(patterns)[:, 0]
    assert float((before[0] - before[1]).abs()) < 0.2
    for _ in range(3000):
        layer.hebbian_step(patterns[torch.randint(0, 2, (32,), generator=g)], 0.05)
    responses = layer(patterns)[:, 0].abs()
    strong, weak = responses.max(), responses.min()
    # fixed point of θ = E[y²] with two equiprobable patterns: y = 2 on one pattern, y = 0 on the other
    assert float(strong) == pytest.approx(2.0, abs=0.15)
    assert float(weak) < 0.1
    assert float(layer.rule_theta[0]) == pytest.approx(2.0, abs=0.3)
    assert bool(torch.isfinite(layer.weight).all())
