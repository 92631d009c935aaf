from __future__ import annotations

import pytest
import torch

from hebbsearch.models import LayerSpecError, build_stack, preset_from_layers
from hebbsearch.rules import get_rule

RULE = get_rule("krotov", p=3, k=7, delta=0.4)

SOFTHEBB3 = [
    {"type": "conv", "units": 96, "kernel": 5, "padding": 2, "activation": "triangle", "power": 0.7,
     "pool": "max", "pool_size": 4, "pool_stride": 2, "pool_padding": 1},
    {"type": "conv", "units": 384, "kernel": 3, "padding": 1, "activation": "triangle", "power": 1.4,
     "pool": "max", "pool_size": 4, "pool_stride": 2, "pool_padding": 1},
    {"type": "conv", "units": 1536, "kernel": 3, "padding": 1, "activation": "triangle", "power": 1.0,
     "pool": "avg", "pool_size": 2},
]
AMATO5 = [
    {"type": "conv", "units": 96, "kernel": 5, "pool": "max", "pool_size": 2},
    {"type": "conv", "units": 128, "kernel": 3},
    {"type": "conv", "units": 192, "kernel": 3, "pool": "max", "pool_size": 2},
    {"type": "conv", "units": 256, "kernel": 3},
    {"type": "linear", "units": 300},
]


@pytest.mark.parametrize(("preset", "layers", "options"), [
    ("softhebb3", SOFTHEBB3, {"padding_mode": "reflect", "width": 0.25}),
    ("amato5", AMATO5, {"width": 0.25}),
])
def test_written_out_presets_build_the_same_network(preset, layers, options) -> None:
    """The same layers, seeds and options give the same weights and the same features at every depth."""
    x = torch.rand(2, 3, 32, 32)
    for depth in range(1, len(layers) + 1):
        ours = build_stack(preset_from_layers(layers), (3, 32, 32), RULE, depth=depth, seed=3, **options)
        ref = build_stack(preset, (3, 32, 32), RULE, depth=depth, seed=3, **options)
        assert ours.out_shapes == ref.out_shapes
        assert str(ours.blocks) == str(ref.blocks)
        torch.testing.assert_close(ours.features(x), ref.features(x), rtol=0, atol=0)


def test_stride_units_and_norms_per_layer() -> None:
    layers = [{"type": "conv", "units": 8, "kernel": 3, "stride": 2, "input_norm": "unit"},
              {"type": "linear", "units": 5, "input_norm": "none", "activation": "relu_power", "power": 2}]
    stack = build_stack(preset_from_layers(layers, name="mine"), (1, 9, 9), "hebb", depth=2)
    conv, fc = stack.hebbian_layers()
    assert conv.stride == (2, 2) and conv.input_norm == "unit" and fc.input_norm is None
    assert stack.out_shapes == [(8, 4, 4), (5,)] and stack.preset == "mine"
    assert fc.activation.power == 2.0


@pytest.mark.parametrize(("layers", "field", "expected"), [
    ([], "layers", "non-empty list"),
    ([{"type": "conv", "units": 4, "kernel": 3, "colour": 1}], "layers[0].colour", "unknown key"),
    ([{"units": 4}], "layers[0].type", "missing"),
    ([{"type": "dense", "units": 4}], "layers[0].type", "expected one of 'conv', 'linear'"),
    ([{"type": "conv", "units": 4}], "layers[0].kernel", "missing"),
    ([{"type": "conv", "units": 0, "kernel": 3}], "layers[0].units", "expected an integer >= 1, got 0"),
    ([{"type": "linear", "units": 4, "kernel": 3}], "layers[0].kernel", "only for type 'conv'"),
    ([{"type": "linear", "units": 4}, {"type": "conv", "units": 4, "kernel": 1}], "layers[1].type",
     "cannot follow a linear layer"),
    ([{"type": "linear", "units": 4, "power": 2}], "layers[0].power", "needs activation"),
    ([{"type": "conv", "units": 4, "kernel": 3, "pool": "max"}], "layers[0].pool_size", "missing"),
    ([{"type": "conv", "units": 4, "kernel": 3, "pool_size": 2}], "layers[0].pool_size", "needs pool"),
    ([{"type": "conv", "units": 4, "kernel": 3, "pool": "max", "pool_size": 2, "pool_padding": 2}],
     "layers[0].pool_padding", "at most half"),
    ([{"type": "linear", "units": 4, "input_norm": "layer"}], "layers[0].input_norm", "expected one of"),
])
def test_invalid_layers_name_the_field(layers, field, expected) -> None:
    with pytest.raises(LayerSpecError, match=expected) as info:
        preset_from_layers(layers)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
