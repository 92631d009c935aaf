"""HebbianRNN: the layer contract for every registered rule (a newly registered rule is tested with no
edit), the recurrence against torch.nn.RNN, and the update against the rule on independently computed
(pre, post) pairs."""

from __future__ import annotations

import math

import pytest
import torch

from hebbsearch.errors import DivergenceError
from hebbsearch.layers import HebbianRNN
from hebbsearch.rules import Rule, get_rule, list_rules

RULES = list_rules()
F64 = torch.float64
IN, HIDDEN, BATCH, STEPS = 4, 10, 3, 5  # HIDDEN > Krotov's default k


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _x(dtype=F64, batch=BATCH, steps=STEPS, features=IN, seed=0) -> torch.Tensor:
    return torch.randn(batch, steps, features, generator=_gen(seed), dtype=F64).to(dtype)


def _by_hand(layer: HebbianRNN, x: torch.Tensor, h0: torch.Tensor | None = None):
    """(pre rows, currents, hidden states) computed step by step from the formulas, batch-major rows."""
    w = layer.rule.transform(layer.weight.detach())
    h = torch.zeros(x.shape[0], layer.hidden_size, dtype=x.dtype) if h0 is None else h0
    pre, cur, hs = [], [], []
    for t in range(x.shape[1]):
        parts = [x[:, t], h] + ([torch.ones(x.shape[0], 1, dtype=x.dtype)] if layer.bias else [])
        p = torch.cat(parts, dim=1)
        u = p @ w.T
        h = layer.activation(u)
        pre.append(p), cur.append(u), hs.append(h)
    return (torch.stack(pre, 1).reshape(-1, p.shape[1]), torch.stack(cur, 1).reshape(-1, u.shape[1]),
            torch.stack(hs, 1))


# -- the contract, for every rule --------------------------------------------------------------------


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_shapes_and_dtypes(name, dtype):
    layer = HebbianRNN(IN, HIDDEN, name, seed=0, dtype=dtype)
    x = _x(dtype)
    out, h_last = layer(x, return_state=True)
    assert out.shape == (BATCH, STEPS, HIDDEN) and out.dtype == dtype
    assert h_last.shape == (BATCH, HIDDEN) and h_last.dtype == dtype
    assert torch.equal(out[:, -1], h_last)
    assert layer(x).shape == (BATCH, STEPS, HIDDEN)
    assert layer.currents(x).shape == (BATCH, STEPS, HIDDEN)
    assert layer.weight.shape == (HIDDEN, IN + HIDDEN) and layer.weight.dtype == dtype
    assert layer.weight_ih.shape == (HIDDEN, IN) and layer.weight_hh.shape == (HIDDEN, HIDDEN)
    assert layer.bias_ih is None
    assert layer.hebbian_step(x, 0.01).shape == (BATCH, HIDDEN)
    assert layer.weight.dtype == dtype and not layer.weight.requires_grad


@pytest.mark.parametrize("name", RULES)
def test_forward_is_pure_and_builds_no_graph(name):
    layer = HebbianRNN(IN, HIDDEN, name, input_norm="batch", seed=0)
    x = _x(torch.float32) * 3 + 1
    saved = {key: value.clone() for key, value in layer.state_dict().items()}
    out1, h1 = layer(x, return_state=True)
    out2 = layer(x)
    assert torch.equal(out1, out2)
    assert not out1.requires_grad and out1.grad_fn is None and h1.grad_fn is None
    for key, value in layer.state_dict().items():
        assert torch.equal(value, saved[key]), key  # weights, batch-norm running stats, rule state


@pytest.mark.parametrize("name", RULES)
def test_hebbian_step_changes_weights_and_keeps_them_finite(name):
    layer = HebbianRNN(IN, HIDDEN, name, bias=True, seed=0)
    before = layer.weight.clone()
    x = _x(torch.float32, seed=1)
    for _ in range(5):
        layer.hebbian_step(x, 0.01)
    assert not torch.equal(layer.weight, before)
    assert bool(torch.isfinite(layer.weight).all())
    assert bool(torch.isfinite(layer(x)).all())
    assert math.isfinite(layer.convergence())
    assert not layer.weight.requires_grad and layer.weight.grad is None


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("bias", [False, True])
def test_update_equals_the_rule_on_independent_pairs(name, bias):
    """weight ← project(weight + lr · rule.update(weight, P, currents)) for the pairs of a by-hand run."""
    layer = HebbianRNN(IN, HIDDEN, name, bias=bias, seed=3, dtype=F64)
    x, h0 = _x(seed=4), torch.randn(BATCH, HIDDEN, generator=_gen(5), dtype=F64).tanh()
    pre, currents, _ = _by_hand(layer, x, h0)
    assert pre.shape == (BATCH * STEPS, IN + HIDDEN + bias)
    weight = layer.weight.detach().clone()
    state = {key: value.clone() for key, value in layer.rule.init_state(weight).items()}
    expected = weight + 0.05 * layer.rule.update(weight, pre, currents=currents, state=state or None)
    layer.rule.project(expected)
    layer.hebbian_step(x, 0.05, h0=h0)
    torch.testing.assert_close(layer.weight.detach(), expected, rtol=1e-10, atol=1e-12)
    for key, value in layer.rule.next_state(state, weight, pre, currents).items():  # BCM's θ slid once
        torch.testing.assert_close(getattr(layer, f"rule_{key}"), value)


@pytest.mark.parametrize("name", RULES)
def test_nan_input_raises_divergence_error(name):
    layer = HebbianRNN(IN, HIDDEN, name, seed=0)
    x = _x(torch.float32)
    x[1, 2, 0] = float("nan")
    with pytest.raises(DivergenceError) as info:
        layer.hebbian_step(x, 0.1)
    assert info.value.layer is layer and info.value.rule is layer.rule


# -- the formulas by hand --------------------------------------------------------------------------


def test_oja_update_by_hand():
    """Oja: ΔW_kn = lr/M Σ_m y_mk (p_mn − Σ_j y_mj W_jn), on a tiny sequence, with explicit sums."""
    layer = HebbianRNN(2, 3, "oja", activation=None, seed=0, dtype=F64)
    x = torch.tensor([[[1.0, -0.5], [0.25, 2.0]]], dtype=F64)  # B = 1, T = 2
    w = layer.weight.detach().clone()
    # p_1 = [x_1, 0, 0, 0], y_1 = W p_1; p_2 = [x_2, y_1] (identity activation), y_2 = W p_2
    p1 = torch.cat([x[0, 0], torch.zeros(3, dtype=F64)])
    y1 = w @ p1
    p2 = torch.cat([x[0, 1], y1])
    y2 = w @ p2
    expected = w.clone()
    for k in range(3):
        for n in range(5):
            total = sum(y[k] * (p[n] - sum(y[j] * w[j, n] for j in range(3)))
                        for p, y in [(p1, y1), (p2, y2)])
            expected[k, n] += 0.1 * total / 2
    layer.hebbian_step(x, 0.1)
    torch.testing.assert_close(layer.weight.detach(), expected, rtol=1e-12, atol=1e-12)


def test_hebb_update_by_hand():
    """Hebb: W ← normalise_rows(W + lr/M Σ_m y_m p_mᵀ)."""
    layer = HebbianRNN(2, 3, "hebb", activation="tanh", seed=1, dtype=F64)
    x = torch.tensor([[[0.5, 1.0], [-1.0, 0.0], [2.0, 1.0]]], dtype=F64)
    w = layer.weight.detach().clone()
    h = torch.zeros(3, dtype=F64)
    total = torch.zeros_like(w)
    for t in range(3):
        p = torch.cat([x[0, t], h])
        y = w @ p  # the currents; tanh only shapes the state fed back
        total += torch.outer(y, p)
        h = torch.tanh(y)
    expected = w + 0.2 * total / 3
    expected /= expected.norm(dim=1, keepdim=True)
    layer.hebbian_step(x, 0.2)
    torch.testing.assert_close(layer.weight.detach(), expected, rtol=1e-12, atol=1e-12)


# -- the recurrence ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [False, True])
def test_forward_equals_torch_rnn(bias):
    layer = HebbianRNN(IN, HIDDEN, "oja", bias=bias, seed=0, dtype=F64)
    rnn = torch.nn.RNN(IN, HIDDEN, batch_first=True, bias=bias, dtype=F64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(layer.weight_ih)
        rnn.weight_hh_l0.copy_(layer.weight_hh)
        if bias:
            rnn.bias_ih_l0.copy_(layer.bias_ih)
            rnn.bias_hh_l0.zero_()
    x, h0 = _x(), torch.randn(BATCH, HIDDEN, generator=_gen(1), dtype=F64)
    expected, h_n = rnn(x, h0.unsqueeze(0))
    out, h_last = layer(x, h0, return_state=True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(h_last, h_n[0])
    torch.testing.assert_close(layer(x), rnn(x)[0])
    torch.testing.assert_close(layer.hebbian_step(x, 0.0, h0=h0), h_last)  # the same run


@pytest.mark.parametrize("activation", [None, "relu", "triangle"])
def test_forward_and_currents_match_the_formulas(activation):
    layer = HebbianRNN(IN, HIDDEN, "krotov", activation=activation, bias=True, seed=2, dtype=F64)
    x = _x(seed=3)
    _, currents, hidden = _by_hand(layer, x)  # with Krotov's transform sign(W)|W|^(p−1)
    torch.testing.assert_close(layer(x), hidden)
    torch.testing.assert_close(layer.currents(x), currents.view(BATCH, STEPS, HIDDEN))


def test_gradients_reach_the_input_not_the_weights():
    layer = HebbianRNN(IN, HIDDEN, "oja", seed=0, dtype=F64)
    rnn = torch.nn.RNN(IN, HIDDEN, batch_first=True, bias=False, dtype=F64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(layer.weight_ih)
        rnn.weight_hh_l0.copy_(layer.weight_hh)
    x1 = _x().requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    out = layer(x1)
    assert out.grad_fn is not None
    out.square().sum().backward()
    rnn(x2)[0].square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    assert layer.weight.grad is None


def test_layers_stack():
    first = HebbianRNN(IN, 12, "softhebb", seed=0)
    second = HebbianRNN(12, 8, "oja", seed=1)
    x = _x(torch.float32)
    before = second.weight.clone()
    second.hebbian_step(first(x), 0.05)
    assert not torch.equal(second.weight, before)
    hidden = first(x)  # a batch-first view of time-major storage, read as such by the next layer
    assert second(hidden).shape == (BATCH, STEPS, 8)
    torch.testing.assert_close(second(hidden), second(hidden.contiguous()))


def test_input_norms():
    x = _x(seed=6) * 3 + 1
    unit = HebbianRNN(IN, HIDDEN, "oja", input_norm="unit", seed=0, dtype=F64)
    plain = HebbianRNN(IN, HIDDEN, "oja", seed=0, dtype=F64)
    torch.testing.assert_close(unit(x), plain(x / x.norm(dim=2, keepdim=True)))
    batch = HebbianRNN(IN, HIDDEN, "oja", input_norm="batch", seed=0, dtype=F64)
    batch.hebbian_step(x, 0.01)
    torch.testing.assert_close(batch.norm.running_mean, 0.1 * x.reshape(-1, IN).mean(dim=0))


def test_reset_restores_weights_and_rule_state():
    layer = HebbianRNN(IN, HIDDEN, "bcm", seed=0)
    initial = layer.weight.clone()
    layer.hebbian_step(_x(torch.float32), 0.01)
    assert not torch.equal(layer.rule_theta, torch.ones(HIDDEN))
    layer.reset_parameters(init="unit", seed=0)
    assert torch.equal(layer.weight, initial) and torch.equal(layer.rule_theta, torch.ones(HIDDEN))


def test_init_and_seed():
    a, b = HebbianRNN(IN, HIDDEN, seed=7), HebbianRNN(IN, HIDDEN, seed=7)
    assert torch.equal(a.weight, b.weight)
    torch.testing.assert_close(a.weight.norm(dim=1), torch.ones(HIDDEN))  # "unit" rows by default
    assert not torch.equal(HebbianRNN(IN, HIDDEN, init="normal", seed=7).weight, a.weight)


def test_huge_learning_rate_raises_divergence_error():
    layer = HebbianRNN(IN, HIDDEN, "oja", seed=0, dtype=F64)
    with pytest.raises(DivergenceError):
        for _ in range(10):
            layer.hebbian_step(_x(), 1e200)


@pytest.mark.parametrize("kwargs,match", [
    (dict(input_size=0, hidden_size=3), "input_size"),
    (dict(input_size=3, hidden_size=5, rule="krotov"), "k must be"),
    (dict(input_size=3, hidden_size=4, input_norm="layer"), "input_norm"),
    (dict(input_size=3, hidden_size=4, rule="nope"), "known rules"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HebbianRNN(**kwargs)


def test_bad_shapes():
    layer = HebbianRNN(IN, HIDDEN)
    for shape in [(BATCH, IN), (BATCH, STEPS, IN + 1), (BATCH, 0, IN)]:
        with pytest.raises(ValueError, match=r"\(batch, seq, 4\)"):
            layer(torch.randn(*shape))
        with pytest.raises(ValueError, match=r"\(batch, seq, 4\)"):
            layer.hebbian_step(torch.randn(*shape), 0.1)
    with pytest.raises(ValueError, match="h0"):
        layer(torch.randn(BATCH, STEPS, IN), torch.zeros(1, BATCH, HIDDEN))


def test_rule_object_and_class_are_accepted():
    rule = get_rule("softhebb", tau=0.5)
    assert HebbianRNN(IN, HIDDEN, rule).rule is rule
    assert isinstance(HebbianRNN(IN, HIDDEN, type(rule), rule_params={"tau": 0.3}).rule, Rule)
