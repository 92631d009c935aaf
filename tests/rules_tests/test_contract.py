"""The rule contract, checked for every registered rule (a newly registered rule is tested with no edit)."""

from __future__ import annotations

import math

import pytest
import torch

from hebbsearch.layers import HebbianConv2d, HebbianLinear
from hebbsearch.rules import HyperParameter, Rule, get_rule, get_rule_class, list_rules

RULES = list_rules()
UNITS = 10  # > Krotov's default k


def _inputs(dtype=torch.float64, units=UNITS, m=24, n=7, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(units, n, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    x = torch.randn(m, n, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    return w, x


def _densify(weight: torch.Tensor, rows, d: torch.Tensor) -> torch.Tensor:
    if rows is None:
        return d
    dense = torch.zeros_like(weight)
    dense[rows] = d
    return dense


def test_the_registry_holds_the_documented_rules():
    assert {"krotov", "hebb", "oja", "sanger", "wta", "softhebb", "covariance", "bcm"} <= set(RULES)


@pytest.mark.parametrize("name", RULES)
def test_class_is_documented_and_declares_valid_hyperparameters(name):
    cls = get_rule_class(name)
    assert cls.name == name
    assert cls.__doc__ and len(cls.__doc__.strip()) > 100  # cites the source and the formula
    for hp in cls.hyperparameters:
        assert isinstance(hp, HyperParameter)
        assert hp.check(hp.default, name) == hp.default
        if hp.low is not None and hp.high is not None:  # the search range lies inside the valid bounds
            assert hp.low <= hp.high
            if not (hp.low_exclusive and hp.low == hp.valid_low):
                hp.check(hp.low, name)
            hp.check(hp.high, name)
            if hp.log:
                assert hp.low > 0


@pytest.mark.parametrize("name", RULES)
def test_impossible_hyperparameters_fail_at_construction_naming_them(name):
    cls = get_rule_class(name)
    for hp in cls.hyperparameters:
        bad = []
        if hp.valid_low is not None:
            bad.append(hp.valid_low if hp.low_exclusive else hp.valid_low - 1)
        if hp.valid_high is not None:
            bad.append(hp.valid_high + 1)
        if hp.type is float:
            bad.append(math.nan)
        bad.append("text")
        for value in bad:
            with pytest.raises(ValueError, match=hp.name):
                get_rule(name, **{hp.name: value})
    with pytest.raises(ValueError, match="no_such_parameter"):
        get_rule(name, no_such_parameter=1)


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_update_shape_dtype_and_finite(name, dtype):
    rule = get_rule(name)
    w, x = _inputs(dtype)
    d = rule.update(w, x)
    assert d.shape == w.shape and d.dtype == dtype
    assert bool(torch.isfinite(d).all())
    assert float(d.abs().max()) > 0  # the rule does learn something on random data
    rows, dr = rule.sparse_update(w, x)
    assert dr.dtype == dtype


@pytest.mark.parametrize("name", RULES)
def test_update_is_pure_and_deterministic(name):
    rule = get_rule(name)
    w, x = _inputs()
    currents = rule.currents(w, x)
    state = rule.init_state(w)
    saved = [w.clone(), x.clone(), currents.clone()] + [v.clone() for v in state.values()]
    first = rule.update(w, x, currents=currents, state=state or None)
    rows, d = rule.sparse_update(w, x, currents=currents, state=state or None)
    rule.next_state(state, w, x, currents)
    rule.convergence(w)
    after = [w, x, currents] + list(state.values())
    for before, now in zip(saved, after):
        assert torch.equal(before, now)
    assert torch.equal(rule.update(w, x, currents=currents, state=state or None), first)
    again = rule.sparse_update(w, x, currents=currents, state=state or None)
    assert torch.equal(_densify(w, *again), _densify(w, rows, d))


@pytest.mark.parametrize("name", RULES)
def test_given_currents_match_computed_ones(name):
    rule = get_rule(name)
    w, x = _inputs(seed=1)
    torch.testing.assert_close(rule.update(w, x, currents=rule.currents(w, x)), rule.update(w, x))
    torch.testing.assert_close(rule.currents(w, x), x @ rule.transform(w).T)


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("units,m", [(UNITS, 24), (60, 5)])
def test_update_equals_densified_sparse_update(name, units, m):
    rule = get_rule(name)
    w, x = _inputs(units=units, m=m, seed=2)
    state = rule.init_state(w) or None
    for st in (None, state):
        rows, d = rule.sparse_update(w, x, state=st)
        if rows is not None:
            assert rows.dim() == 1 and rows.numel() == rows.unique().numel()
            assert d.shape == (rows.numel(), w.shape[1])
        torch.testing.assert_close(_densify(w, rows, d), rule.update(w, x, state=st), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", RULES)
def test_wrong_shapes_raise(name):
    rule = get_rule(name)
    w, x = _inputs()
    with pytest.raises(ValueError):
        rule.update(w, x[:, :-1])
    with pytest.raises(ValueError):
        rule.update(w[0], x)


@pytest.mark.parametrize("name", RULES)
def test_state_has_units_as_first_dimension(name):
    rule = get_rule(name)
    w, x = _inputs()
    state = rule.init_state(w)
    for value in state.values():
        assert value.shape[0] == w.shape[0] and value.dtype == w.dtype
    new = rule.next_state(state, w, x, rule.currents(w, x))
    assert set(new) == set(state)
    for key, value in new.items():
        assert value.shape == state[key].shape and bool(torch.isfinite(value).all())


@pytest.mark.parametrize("name", RULES)
def test_works_in_linear_layer(name):
    layer = HebbianLinear(7, UNITS, name, seed=0)
    x = torch.randn(16, 7, generator=torch.Generator().manual_seed(3))
    before = layer.weight.clone()
    layer.hebbian_step(x, 0.01)
    assert not torch.equal(layer.weight, before)
    out = layer(x)
    assert out.shape == (16, UNITS) and bool(torch.isfinite(out).all())
    assert math.isfinite(layer.convergence())


@pytest.mark.parametrize("name", RULES)
def test_works_in_conv_layer(name):
    layer = HebbianConv2d(4, 2 * UNITS, 3, padding=1, groups=2, rule=name, seed=0)
    x = torch.randn(2, 4, 6, 5, generator=torch.Generator().manual_seed(4))
    before = layer.weight.clone()
    layer.hebbian_step(x, 0.01)
    assert not torch.equal(layer.weight, before)
    out = layer(x)
    assert out.shape == (2, 2 * UNITS, 6, 5) and bool(torch.isfinite(out).all())
    assert math.isfinite(layer.convergence())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", RULES)
def test_cuda_matches_cpu(name):
    rule = get_rule(name)
    w, x = _inputs()
    state = rule.init_state(w) or None
    d_cpu = rule.update(w, x, state=state)
    w_gpu, x_gpu = w.cuda(), x.cuda()
    state_gpu = rule.init_state(w_gpu) or None
    d_gpu = rule.update(w_gpu, x_gpu, state=state_gpu)
    assert d_gpu.device.type == "cuda"
    torch.testing.assert_close(d_gpu.cpu(), d_cpu, rtol=1e-9, atol=1e-9)
    layer = HebbianConv2d(4, 2 * UNITS, 3, groups=2, rule=name, seed=0, device="cuda")
    layer.hebbian_step(torch.randn(2, 4, 6, 6, device="cuda"), 0.01)
    assert bool(torch.isfinite(layer(torch.randn(2, 4, 6, 6, device="cuda"))).all())


@pytest.mark.parametrize("name", RULES)
def test_repr_and_params_round_trip(name):
    rule = get_rule(name)
    assert repr(rule).startswith(type(rule).__name__ + "(")
    assert list(rule.params) == [hp.name for hp in rule.hyperparameters] + list(rule.options)
    rebuilt = get_rule(name, **rule.params)
    assert rebuilt == rule and hash(rebuilt) == hash(rule) and repr(rebuilt) == repr(rule)
    for hp in rule.hyperparameters:  # a non-default value survives the round trip too
        if hp.high is not None and hp.high != hp.default:
            changed = get_rule(name, **{hp.name: hp.high})
            assert changed != rule
            assert get_rule(name, **changed.params) == changed
            assert f"{hp.name}={hp.type(hp.high)!r}" in repr(changed)


def test_unknown_rule_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        get_rule("no-such-rule")
    for name in RULES:
        assert name in str(info.value)


def test_get_rule_accepts_name_class_or_object():
    by_name = get_rule("oja")
    by_class = get_rule(get_rule_class("oja"))
    assert by_name == by_class and type(by_name) is get_rule_class("oja")
    assert get_rule(by_name) is by_name
    softhebb = get_rule(get_rule_class("softhebb"), tau=0.5)
    assert softhebb.tau == 0.5
    with pytest.raises(ValueError):
        get_rule(by_name, tau=0.5)
    with pytest.raises(TypeError):
        get_rule(3)
    assert isinstance(by_name, Rule)
