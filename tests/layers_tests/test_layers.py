"""HebbianLinear / HebbianConv2d behaviour: shapes, pure forward, divergence, seeding, norms, activations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hebbsearch.errors import DivergenceError, HebbsearchError
from hebbsearch.layers import HebbianConv2d, HebbianLinear, ReLUPower, Triangle, get_activation
from hebbsearch.rules import list_rules

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- shapes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 7), (6,), (4, 2, 4)])
def test_linear_rejects_wrong_input_shapes(shape):
    layer = HebbianLinear(6, 10)
    with pytest.raises(ValueError, match=r"\(batch, 6\)"):
        layer(torch.randn(*shape))
    with pytest.raises(ValueError, match=r"\(batch, 6\)"):
        layer.hebbian_step(torch.randn(*shape), 0.1)


def test_linear_flattens_inputs_with_the_right_size():
    layer = HebbianLinear(6, 10, seed=0)
    x = torch.randn(4, 2, 3)
    torch.testing.assert_close(layer(x), layer(x.reshape(4, 6)))


@pytest.mark.parametrize("shape", [(2, 4, 8), (2, 3, 8, 8), (4, 8, 8, 1, 1)])
def test_conv_rejects_wrong_input_shapes(shape):
    layer = HebbianConv2d(4, 10, 3)
    with pytest.raises(ValueError, match=r"\(batch, 4, height, width\)"):
        layer(torch.randn(*shape))
    with pytest.raises(ValueError, match=r"\(batch, 4, height, width\)"):
        layer.hebbian_step(torch.randn(*shape), 0.1)


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(groups=3), "groups"), (dict(padding_mode="mirror"), "padding_mode"),
     (dict(padding="full"), "padding"), (dict(padding="same", stride=2), "stride"),
     (dict(padding=-1), "padding"), (dict(stride=0), "stride")],
)
def test_conv_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HebbianConv2d(4, 10, 3, **kwargs)


def test_layers_reject_bad_options():
    with pytest.raises(ValueError, match="input_norm"):
        HebbianLinear(4, 10, input_norm="layer")
    with pytest.raises(ValueError, match="init"):
        HebbianLinear(4, 10, init="xavier")
    with pytest.raises(ValueError, match="out_features"):
        HebbianLinear(4, 0)
    with pytest.raises(ValueError, match="known rules"):
        HebbianLinear(4, 10, "no-such-rule")


# -- forward is pure ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["krotov", "bcm", "softhebb"])
def test_forward_changes_nothing(rule):
    for layer, x in [
        (HebbianLinear(6, 10, rule, input_norm="batch", seed=0), torch.randn(8, 6) * 3 + 2),
        (HebbianConv2d(3, 10, 3, rule=rule, input_norm="batch", seed=0), torch.randn(2, 3, 6, 6) * 3 + 2),
    ]:
        layer.train()
        state = {key: value.clone() for key, value in layer.state_dict().items()}
        out1 = layer(x)
        out2 = layer(x)
        assert torch.equal(out1, out2)
        for key, value in layer.state_dict().items():
            assert torch.equal(value, state[key]), key  # weights, BN running stats, rule state


def test_batch_norm_learns_running_stats_only_in_hebbian_step():
    layer = HebbianLinear(6, 10, input_norm="batch", seed=0)
    x = torch.randn(16, 6, generator=_gen(0)) * 3 + 2
    layer.hebbian_step(x, 0.01)
    assert not torch.equal(layer.norm.running_mean, torch.zeros(6))
    assert int(layer.norm.num_batches_tracked) == 1


def test_forward_uses_running_statistics():
    layer = HebbianLinear(6, 10, "hebb", input_norm="batch", seed=0, dtype=F64)
    x = torch.randn(5, 6, generator=_gen(1), dtype=F64) + 4
    expected = (x / torch.sqrt(torch.tensor(1 + 1e-5, dtype=F64))) @ layer.weight.T  # fresh: mean 0, var 1
    torch.testing.assert_close(layer(x), expected)


# -- divergence --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list_rules())
def test_nan_input_raises_divergence_error(name):
    for layer, shape in [(HebbianLinear(6, 10, name, seed=0), (8, 6)),
                         (HebbianConv2d(2, 10, 3, rule=name, seed=0), (2, 2, 5, 5))]:
        x = torch.randn(*shape)
        x.view(-1)[3] = float("nan")
        with pytest.raises(DivergenceError) as info:
            layer.hebbian_step(x, 0.1)
        assert info.value.layer is layer
        assert info.value.rule is layer.rule
        assert isinstance(info.value, HebbsearchError)
        assert name in str(info.value) or type(layer.rule).__name__ in str(info.value)


def test_huge_learning_rate_raises_divergence_error():
    layer = HebbianLinear(6, 4, "oja", seed=0, dtype=F64)
    x = torch.randn(16, 6, generator=_gen(2), dtype=F64)
    with pytest.raises(DivergenceError) as info:
        for _ in range(10):
            layer.hebbian_step(x, 1e200)
    assert info.value.layer is layer and info.value.rule is layer.rule


def test_sparse_rule_divergence_is_detected_on_changed_rows():
    layer = HebbianLinear(6, 40, "krotov", rule_params={"k": 2}, seed=0)  # 40 units > 2·M: sparse rows
    with pytest.raises(DivergenceError):
        layer.hebbian_step(torch.randn(3, 6), float("inf"))


# -- initialisation ----------------------------------------------------------------------------------


def test_seed_makes_initialisation_deterministic():
    a, b = HebbianLinear(6, 10, seed=7), HebbianLinear(6, 10, seed=7)
    assert torch.equal(a.weight, b.weight)
    assert not torch.equal(a.weight, HebbianLinear(6, 10, seed=8).weight)
    c, d = HebbianConv2d(3, 10, 3, seed=7), HebbianConv2d(3, 10, 3, seed=7)
    assert torch.equal(c.weight, d.weight)
    # the seed does not touch the global generator, and float64 draws the same values
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    HebbianLinear(6, 10, seed=7)
    assert torch.equal(torch.rand(1), before)
    assert torch.equal(HebbianLinear(6, 10, seed=7, dtype=F64).weight.float(), a.weight)


def test_init_options():
    normal = HebbianLinear(50, 200, init="normal", seed=0).weight
    assert abs(float(normal.std()) - 1) < 0.05
    unit = HebbianConv2d(3, 10, 3, init="unit", seed=0).weight
    torch.testing.assert_close(unit.flatten(1).norm(dim=1), torch.ones(10))


# -- input normalisation -----------------------------------------------------------------------------


def test_input_norm_options():
    x = torch.randn(5, 6, generator=_gen(3), dtype=F64) * 3 + 1
    plain = HebbianLinear(6, 10, "hebb", seed=0, dtype=F64)
    torch.testing.assert_close(plain(x), x @ plain.weight.T)
    unit = HebbianLinear(6, 10, "hebb", input_norm="unit", seed=0, dtype=F64)
    torch.testing.assert_close(unit(x), (x / x.norm(dim=1, keepdim=True)) @ unit.weight.T)
    torch.testing.assert_close(unit(3 * x), unit(x))  # scale invariant
    batch = HebbianLinear(6, 10, "hebb", input_norm="batch", seed=0, dtype=F64)
    assert isinstance(batch.norm, torch.nn.BatchNorm1d) and not batch.norm.affine
    assert plain.norm is None and unit.norm is None
    conv = HebbianConv2d(3, 10, 3, rule="hebb", input_norm="unit", seed=0, dtype=F64)
    img = torch.randn(2, 3, 5, 5, generator=_gen(4), dtype=F64)
    expected = F.conv2d(img / img.flatten(1).norm(dim=1).view(-1, 1, 1, 1), conv.weight)
    torch.testing.assert_close(conv(img), expected)


# -- activations -------------------------------------------------------------------------------------


def test_activations():
    x = torch.randn(4, 6, generator=_gen(5), dtype=F64)
    layer = HebbianLinear(6, 10, "hebb", seed=0, dtype=F64)
    u = layer.currents(x)
    torch.testing.assert_close(u, x @ layer.weight.T)
    torch.testing.assert_close(layer(x), u)  # identity by default
    relu = HebbianLinear(6, 10, "hebb", activation="relu", seed=0, dtype=F64)
    torch.testing.assert_close(relu(x), torch.relu(u))
    power = HebbianLinear(6, 10, "hebb", activation="relu_power", activation_params={"power": 3}, seed=0,
                          dtype=F64)
    torch.testing.assert_close(power(x), torch.relu(u) ** 3)
    tri = HebbianLinear(6, 10, "hebb", activation="triangle", seed=0, dtype=F64)
    torch.testing.assert_close(tri(x), torch.relu(u - u.mean(dim=1, keepdim=True)))
    conv = HebbianConv2d(3, 10, 3, rule="hebb", activation="triangle", activation_params={"power": 2},
                         seed=0, dtype=F64)
    img = torch.randn(2, 3, 5, 5, generator=_gen(6), dtype=F64)
    c = conv.currents(img)
    torch.testing.assert_close(conv(img), torch.relu(c - c.mean(dim=1, keepdim=True)) ** 2)  # over channels
    for padding_mode in ("zeros", "reflect"):  # the channel mean folded into the kernels: the same currents
        padded = HebbianConv2d(3, 10, 3, padding=1, padding_mode=padding_mode, rule="hebb", seed=0, dtype=F64)
        c = padded.currents(img)
        torch.testing.assert_close(padded.currents(img, centered=True), c - c.mean(dim=1, keepdim=True))
    with pytest.raises(ValueError, match="groups = 1"):
        HebbianConv2d(4, 10, 3, groups=2, rule="hebb", seed=0).currents(torch.randn(1, 4, 5, 5), centered=True)
    assert isinstance(get_activation("relu_power", power=2), ReLUPower)
    assert isinstance(get_activation("triangle"), Triangle)
    module = torch.nn.Sigmoid()
    assert get_activation(module) is module


def test_bad_activations():
    with pytest.raises(ValueError, match="known"):
        get_activation("swishy")
    with pytest.raises(ValueError, match="power"):
        get_activation("relu_power", power=0)
    with pytest.raises(ValueError, match="power"):
        get_activation("triangle", power=-1)


# -- learning API ------------------------------------------------------------------------------------


def test_training_step_returns_convergence():
    layer = HebbianLinear(6, 10, seed=0)
    value = layer.training_step(torch.randn(8, 6), 0.05)
    assert value == layer.convergence()


def test_float32_layer_stays_float32():
    layer = HebbianConv2d(2, 10, 3, rule="softhebb", seed=0)
    layer.hebbian_step(torch.randn(2, 2, 5, 5), 0.05)
    assert layer.weight.dtype == torch.float32 and not layer.weight.requires_grad
    assert layer(torch.randn(1, 2, 5, 5)).dtype == torch.float32


@pytest.mark.parametrize("name", list_rules())
def test_state_dict_keys_are_stable_and_round_trip(name):
    for make, x in [(lambda: HebbianLinear(6, 10, name, input_norm="batch", seed=0), torch.randn(8, 6)),
                    (lambda: HebbianConv2d(2, 10, 3, rule=name, seed=0), torch.randn(2, 2, 5, 5))]:
        layer = make()
        keys = set(layer.state_dict())
        layer(x)
        layer.hebbian_step(x, 0.05)
        layer(x)
        assert set(layer.state_dict()) == keys
        assert [n for n, _ in layer.named_parameters()] == ["weight"]
        fresh = make()
        fresh.load_state_dict(layer.state_dict())
        torch.testing.assert_close(fresh(x), layer(x))
