from __future__ import annotations

import pytest
import torch
from torch import nn

from hebbsearch.layers import HebbianConv2d, HebbianLinear, ReLUPower, Triangle
from hebbsearch.models._presets import get_preset
from hebbsearch.models import HebbianStack, build_stack, list_presets, preset_options
from hebbsearch.rules import get_rule
from hebbsearch.training import make_probe

RULE = get_rule("krotov", p=3, k=7, delta=0.4)


def test_presets_are_listed() -> None:
    assert list_presets() == ["amato5", "krotov_fc", "softhebb3", "softhebb5"]


def test_amato5_after_layer_1_on_cifar10_counts_195370_parameters() -> None:
    stack = build_stack("amato5", (3, 32, 32), RULE, depth=1)
    assert stack.num_hebbian_params() == 96 * 3 * 5 * 5 == 7200
    assert stack.feature_dim() == 96 * 14 * 14 == 18816
    probe_params = sum(p.numel() for p in make_probe(stack.feature_dim(), 10).parameters())
    assert probe_params == 188170
    assert stack.num_hebbian_params() + probe_params == 195370


AMATO_SHAPES = [(96, 14, 14), (128, 12, 12), (192, 5, 5), (256, 3, 3), (300,)]


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_amato5_output_shapes_per_depth(depth) -> None:
    stack = build_stack("amato5", (3, 32, 32), RULE, depth=depth)
    assert stack.depth == depth == len(stack.hebbian_layers())
    assert stack.out_shapes == AMATO_SHAPES[:depth]
    out = stack.features(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, torch.Size(AMATO_SHAPES[depth - 1]).numel())
    assert bool(torch.isfinite(out).all())


@pytest.mark.parametrize("preset", list_presets())
def test_every_preset_builds_at_every_depth(preset) -> None:
    n_layers = len(get_preset(preset).layers)
    x = torch.rand(3, 3, 32, 32)
    for depth in range(1, n_layers + 1):
        stack = build_stack(preset, (3, 32, 32), get_rule("krotov", k=2), depth=depth, width=0.1)
        assert stack.depth == depth
        assert stack.features(x).shape == (3, stack.feature_dim())
        assert stack.num_hebbian_params() == sum(layer.weight.numel() for layer in stack.hebbian_layers())
    with pytest.raises(ValueError, match="depth"):
        build_stack(preset, (3, 32, 32), "krotov", depth=n_layers + 1)


def test_amato5_layers_as_published() -> None:
    stack = build_stack("amato5", (3, 32, 32), RULE, depth=5)
    kernels = [b.layer.kernel_size for b in stack.blocks[:4]]
    assert kernels == [(5, 5), (3, 3), (3, 3), (3, 3)]
    assert [b.layer.out_channels for b in stack.blocks[:4]] == [96, 128, 192, 256]
    assert all(b.layer.padding == 0 for b in stack.blocks[:4])
    assert all(b.layer.input_norm == "batch" for b in stack.blocks)
    assert all(isinstance(b.layer.activation, nn.ReLU) for b in stack.blocks)
    assert [type(b.post).__name__ for b in stack.blocks] == ["MaxPool2d", "Identity", "MaxPool2d",
                                                             "Identity", "Identity"]
    fc = stack.blocks[4].layer
    assert isinstance(fc, HebbianLinear) and (fc.in_features, fc.out_features) == (2304, 300)
    assert stack.num_hebbian_params(2) == 7200 + 128 * 96 * 9


def test_softhebb3_shapes_and_layers() -> None:
    stack = build_stack("softhebb3", (3, 32, 32), RULE, depth=3)
    assert stack.out_shapes == [(96, 16, 16), (384, 8, 8), (1536, 4, 4)]
    assert stack.feature_dim() == 24576
    layers = stack.hebbian_layers()
    assert all(isinstance(layer, HebbianConv2d) and layer.input_norm == "batch" for layer in layers)
    assert [layer.kernel_size for layer in layers] == [(5, 5), (3, 3), (3, 3)]
    assert [layer.padding for layer in layers] == [2, 1, 1]
    assert all(layer.padding_mode == "reflect" for layer in layers)
    assert [layer.activation.power for layer in layers] == [0.7, 1.4, 1.0]
    assert all(isinstance(layer.activation, Triangle) for layer in layers)
    pools = [b.post for b in stack.blocks]
    assert [type(p).__name__ for p in pools] == ["MaxPool2d", "MaxPool2d", "AvgPool2d"]
    assert (pools[0].kernel_size, pools[0].stride, pools[0].padding) == (4, 2, 1)
    assert stack.features(torch.rand(2, 3, 32, 32)).shape == (2, 24576)


def test_softhebb5_is_softhebb3_then_two_1x1_layers() -> None:
    x = torch.rand(2, 3, 32, 32)
    five = build_stack("softhebb5", (3, 32, 32), RULE, depth=5, seed=1)
    three = build_stack("softhebb3", (3, 32, 32), RULE, depth=3, seed=1)
    assert five.out_shapes == [*three.out_shapes, (1536, 4, 4), (1536, 4, 4)]
    assert [five.feature_dim(d) for d in (3, 4, 5)] == [24576] * 3
    torch.testing.assert_close(five.features(x, 3), three.features(x), rtol=0, atol=0)
    four, fifth = five.hebbian_layers()[3:]
    assert four.kernel_size == fifth.kernel_size == (1, 1) and four.padding == 0 and four.input_norm == "batch"
    assert isinstance(fifth.activation, Triangle) and fifth.activation.power == 1.0
    assert [type(b.post).__name__ for b in five.blocks[3:]] == ["Identity", "Identity"]
    assert five.num_hebbian_params(5) - five.num_hebbian_params(3) == 2 * 1536 * 1536


def test_krotov_fc_shapes_and_layer() -> None:
    stack = build_stack("krotov_fc", (1, 28, 28), RULE, depth=1)
    layer = stack.blocks[0].layer
    assert isinstance(layer, HebbianLinear) and (layer.in_features, layer.out_features) == (784, 2000)
    assert layer.input_norm is None
    assert isinstance(layer.activation, ReLUPower) and layer.activation.power == 4.5
    small = build_stack("krotov_fc", (1, 28, 28), RULE, depth=1, hidden=400, power=3)
    out = small.features(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 400) and float(out.min()) >= 0
    assert small.blocks[0].layer.activation.power == 3
    assert small.num_hebbian_params() == 400 * 784


def test_options_change_the_architecture() -> None:
    wide = build_stack("amato5", (3, 32, 32), RULE, depth=2, width=0.5)
    assert wide.out_shapes == [(48, 14, 14), (64, 12, 12)]
    custom = build_stack("amato5", (1, 28, 28), RULE, depth=2, units=[16, 8], activation="relu_power",
                         power=2)
    assert custom.out_shapes == [(16, 12, 12), (8, 10, 10)]
    assert all(isinstance(layer.activation, ReLUPower) for layer in custom.hebbian_layers())
    relu = build_stack("softhebb3", (3, 32, 32), RULE, depth=1, activation="relu", input_norm=None)
    assert isinstance(relu.blocks[0].layer.activation, nn.ReLU) and relu.blocks[0].layer.norm is None
    mixed = build_stack("amato5", (3, 32, 32), RULE, depth=2, activation=["tanh", "relu"])
    assert isinstance(mixed.blocks[0].layer.activation, nn.Tanh)


def test_preset_options_are_listed_and_accepted() -> None:
    assert "hidden" in preset_options("krotov_fc") and "hidden" not in preset_options("softhebb3")
    assert {"width", "activation", "power", "input_norm", "init", "units"} <= set(preset_options("amato5"))
    with pytest.raises(ValueError, match="unknown preset"):
        preset_options("nope")


def test_unknown_preset_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown preset 'vgg'.*amato5.*krotov_fc.*softhebb3"):
        build_stack("vgg", (3, 32, 32), RULE, depth=1)


@pytest.mark.parametrize(("preset", "option"), [("amato5", "hiden"), ("softhebb3", "hidden"),
                                                ("krotov_fc", "t_invert")])
def test_unknown_option_is_named(preset, option) -> None:
    with pytest.raises(ValueError, match=f"no option '{option}'"):
        build_stack(preset, (3, 32, 32), RULE, depth=1, **{option: 1})


@pytest.mark.parametrize("depth", [0, 6, 1.0, None])
def test_invalid_depth(depth) -> None:
    with pytest.raises(ValueError, match="depth"):
        build_stack("amato5", (3, 32, 32), RULE, depth=depth)


def test_input_too_small_for_the_preset() -> None:
    with pytest.raises(ValueError, match="too small for block 3"):
        build_stack("amato5", (1, 10, 10), RULE, depth=3)


def test_invalid_option_values() -> None:
    with pytest.raises(ValueError, match="power"):
        build_stack("amato5", (3, 32, 32), RULE, depth=1, power=2.0)  # ReLU takes no power
    with pytest.raises(ValueError, match="units"):
        build_stack("amato5", (3, 32, 32), RULE, depth=2, units=[8, 8, 8])
    with pytest.raises(ValueError, match="width"):
        build_stack("amato5", (3, 32, 32), RULE, depth=1, width=0)


def test_one_rule_is_copied_per_layer() -> None:
    stack = build_stack("amato5", (3, 32, 32), RULE, depth=3)
    rules = [layer.rule for layer in stack.hebbian_layers()]
    assert all(r == RULE and r is not RULE for r in rules)
    assert len({id(r) for r in rules}) == 3


def test_rules_per_layer_and_by_name() -> None:
    per_layer = [get_rule("krotov", k=k) for k in (2, 3)]
    stack = build_stack("amato5", (3, 32, 32), per_layer, depth=2)
    assert [layer.rule.k for layer in stack.hebbian_layers()] == [2, 3]
    five = [get_rule("krotov", k=k) for k in (2, 3, 4, 5, 6)]  # one per preset layer is fine too
    stack5 = build_stack("amato5", (3, 32, 32), five, depth=2)
    assert [layer.rule.k for layer in stack5.hebbian_layers()] == [2, 3]
    by_name = build_stack("krotov_fc", (1, 8, 8), "krotov", depth=1, hidden=20)
    assert by_name.blocks[0].layer.rule.name == "krotov"
    with pytest.raises(ValueError, match="one rule, or one per layer"):
        build_stack("amato5", (3, 32, 32), per_layer * 2, depth=3)


def test_rule_constraints_are_checked_per_layer() -> None:
    with pytest.raises(ValueError, match="layer 2.*k must be <"):
        build_stack("amato5", (3, 32, 32), get_rule("krotov", k=7), depth=2, units=[16, 5])


def test_seed_controls_initial_weights_and_depth_does_not() -> None:
    a = build_stack("amato5", (3, 32, 32), RULE, depth=1, seed=1)
    b = build_stack("amato5", (3, 32, 32), RULE, depth=3, seed=1)
    c = build_stack("amato5", (3, 32, 32), RULE, depth=1, seed=2)
    assert torch.equal(a.blocks[0].layer.weight, b.blocks[0].layer.weight)
    assert not torch.equal(a.blocks[0].layer.weight, c.blocks[0].layer.weight)
    assert not torch.equal(b.blocks[1].layer.weight[:, :3].flatten()[:50],
                           b.blocks[2].layer.weight[:, :3].flatten()[:50])
    assert isinstance(a, HebbianStack) and a.preset == "amato5"


def test_input_norm_none_as_a_study_file_writes_it() -> None:
    stack = build_stack("amato5", (3, 32, 32), RULE, depth=2, input_norm=["none", "unit"])
    assert [layer.input_norm for layer in stack.hebbian_layers()] == [None, "unit"]


def test_a_layer_spec_says_what_it_is() -> None:
    from hebbsearch.models._presets import LayerSpec, get_preset

    assert [s.type for s in get_preset("amato5").layers] == ["conv"] * 4 + ["linear"]
    assert LayerSpec(8, kernel=3).type == "conv" and LayerSpec(8).type == "linear"
    for bad, message in [({"type": "conv"}, "needs a kernel"), ({"type": "linear", "kernel": 3}, "no kernel"),
                         ({"padding": 1}, "no kernel, stride or padding"), ({"type": "rnn"}, "must be one of")]:
        with pytest.raises(ValueError, match=message):
            LayerSpec(8, **bad)
