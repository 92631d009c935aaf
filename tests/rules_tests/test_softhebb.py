"""SoftHebb: the formula, temperature limits, unit-norm convergence and specialisation."""

from __future__ import annotations

import pytest
import torch

from hebbsearch.layers import HebbianLinear
from hebbsearch.rules import get_rule

from ._helpers import F64, gen


def test_update_is_the_batch_average_of_the_soft_wta_rule():
    g = gen(0)
    w, x = torch.randn(4, 6, generator=g, dtype=F64), torch.randn(9, 6, generator=g, dtype=F64)
    tau = 0.7
    expected = torch.zeros_like(w)
    for xm in x:
        u = w @ xm
        y = torch.exp(u / tau) / torch.exp(u / tau).sum()
        for k in range(len(w)):
            expected[k] += y[k] * (xm - u[k] * w[k])
    got = get_rule("softhebb", tau=tau).update(w, x)
    torch.testing.assert_close(got, expected / len(x), rtol=1e-12, atol=1e-12)


def test_small_temperature_approaches_hard_competition():
    g = gen(1)
    w, x = torch.randn(5, 3, generator=g, dtype=F64), torch.randn(8, 3, generator=g, dtype=F64)
    u = x @ w.T
    r = torch.nn.functional.one_hot(u.argmax(1), 5).to(F64)
    expected = (r.T @ x - (r * u).sum(0)[:, None] * w) / len(x)
    torch.testing.assert_close(get_rule("softhebb", tau=1e-4).update(w, x), expected)


@pytest.mark.parametrize("tau", [0.0, -1.0])
def test_temperature_must_be_positive(tau):
    with pytest.raises(ValueError, match="tau"):
        get_rule("softhebb", tau=tau)


def test_weights_converge_to_unit_norm():
    g = gen(2)
    layer = HebbianLinear(8, 5, "softhebb", seed=3, dtype=F64)
    assert layer.convergence() > 0.5
    for step in range(400):
        layer.hebbian_step(torch.randn(64, 8, generator=g, dtype=F64), 0.05 if step < 300 else 0.01)
    norms = layer.weight.norm(dim=1)
    assert bool(((norms - 1).abs() < 0.02).all()), norms
    assert layer.convergence() < 0.02


def test_units_specialise_on_different_clusters():
    g = gen(4)
    centres = torch.tensor([[4.0, 0, 0, 1], [0, 4.0, 0, 1], [0, 0, 4.0, 1]], dtype=F64)
    directions = centres / centres.norm(dim=1, keepdim=True)

    def sample(m):
        x = centres[torch.randint(0, 3, (m,), generator=g)] + 0.5 * torch.randn(m, 4, generator=g,
                                                                                dtype=F64)
        return x / x.norm(dim=1, keepdim=True)

    layer = HebbianLinear(4, 6, "softhebb", rule_params={"tau": 0.2}, seed=0, dtype=F64)
    for _ in range(400):
        layer.hebbian_step(sample(64), 0.1)
    w = layer.weight
    preferred = (directions @ w.T).argmax(dim=1)  # the unit responding most to each cluster
    assert len(set(preferred.tolist())) == 3
    unit = w[preferred] / w[preferred].norm(dim=1, keepdim=True)
    assert bool(((unit * directions).sum(1) > 0.98).all())
    assert bool(((w[preferred].norm(dim=1) - 1).abs() < 0.02).all())


JOURNE = {"anti_hebbian": True, "scale": "max", "norm_lr_power": 0.5}


def test_journe_2023_variant_is_their_code_s_update():
    """Soft anti-Hebbian, max-normalised, weight-norm dependent rate: the update of Journé et al.'s
    SoftHebbConv2d (one row per patch) followed by their WeightNormDependentLR factor, written per row."""
    g = gen(5)
    w, x = torch.randn(5, 7, generator=g, dtype=F64), torch.randn(11, 7, generator=g, dtype=F64)
    tau = 0.8
    yx, yu = torch.zeros_like(w), torch.zeros(5, dtype=F64)
    for xm in x:
        u = w @ xm
        y = -torch.softmax(u / tau, dim=0)
        y[u.argmax()] *= -1
        yx += y[:, None] * xm
        yu += y * u
    expected = yx - yu[:, None] * w
    expected /= expected.abs().max()
    expected *= ((w.norm(dim=1) - 1).abs() + 1e-10).sqrt()[:, None]
    rule = get_rule("softhebb", tau=tau, **JOURNE)
    torch.testing.assert_close(rule.update(w, x), expected, rtol=1e-12, atol=1e-12)
    assert rule == get_rule("softhebb", **rule.params) and "anti_hebbian=True" in repr(rule)


@pytest.mark.parametrize("anti_hebbian", [False, True])
def test_the_winner_moves_towards_the_input_and_anti_hebbian_losers_away(anti_hebbian):
    """For dw_k = c_k (x − u_k w_k), d cos(w_k, x) = c_k |x| (1 − cos²) / |w_k| · lr: its sign is c_k's.
    So every unit turns towards x under plain SoftHebb, and only the winner does under the anti-Hebbian
    variant."""
    g = gen(7)
    w, x = torch.randn(6, 5, generator=g, dtype=F64), torch.randn(1, 5, generator=g, dtype=F64)

    def cos(weight):
        return torch.nn.functional.cosine_similarity(weight, x)

    rule = get_rule("softhebb", tau=0.5, anti_hebbian=anti_hebbian)
    change = cos(w + 1e-4 * rule.update(w, x)) - cos(w)
    winner = int((x @ w.T).argmax())
    assert float(change[winner]) > 0
    losers = torch.cat([change[:winner], change[winner + 1:]])
    assert bool((losers < 0).all() if anti_hebbian else (losers > 0).all()), change


@pytest.mark.parametrize(("option", "value"), [("anti_hebbian", 1), ("scale", "sum"), ("norm_lr_power", -1)])
def test_invalid_options_are_named(option, value):
    with pytest.raises(ValueError, match=f"softhebb': {option}"):
        get_rule("softhebb", **{option: value})
