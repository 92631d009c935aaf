"""Every rule in every layer: a layer step equals the rule applied to rows computed independently here.

HebbianConv2d: the rule on all unfolded patches of the (normalised, padded) input, per group.
HebbianLinear: weight + lr * rule.update(weight, x), then rule.project.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hebbsearch.layers import HebbianConv2d, HebbianLinear
from hebbsearch.rules import list_rules

F64 = torch.float64
PER_GROUP = 9  # units per group, > Krotov's default k = 7

CONV_SETTINGS = [
    dict(kernel_size=3),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
    dict(kernel_size=3, padding=1, groups=2),
    dict(kernel_size=3, padding=2, padding_mode="reflect", dilation=2),
    dict(kernel_size=3, padding=1, padding_mode="circular", groups=3),
    dict(kernel_size=2, padding="same", padding_mode="replicate"),  # asymmetric 'same' padding
    dict(kernel_size=2, padding="same"),
    dict(kernel_size=1, padding="valid", stride=3),
]
CONV_IDS = ["plain", "stride-pad", "rect-dilation", "groups", "reflect-dilation", "circular-groups",
            "same-even-replicate", "same-even-zeros", "1x1-valid-stride"]


def _same_pads(kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
    return (tw // 2, tw - tw // 2, th // 2, th - th // 2)


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _reference_patches(x: torch.Tensor, conv: dict, in_channels: int, input_norm: str | None):
    """Rows of every patch, per group, computed from scratch: normalise, F.pad, F.unfold."""
    groups = conv.get("groups", 1)
    kernel, stride = _pair(conv["kernel_size"]), _pair(conv.get("stride", 1))
    dilation = _pair(conv.get("dilation", 1))
    padding = conv.get("padding", 0)
    if input_norm == "unit":
        x = x / x.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    elif input_norm == "batch":  # training-mode batch norm without affine parameters
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)
        x = (x - mean) / torch.sqrt(var + 1e-5)
    if padding == "same":
        pads = _same_pads(kernel, dilation)
    elif padding == "valid":
        pads = (0, 0, 0, 0)
    else:
        ph, pw = _pair(padding)
        pads = (pw, pw, ph, ph)
    mode = conv.get("padding_mode", "zeros")
    x = F.pad(x, pads, mode="constant" if mode == "zeros" else mode)
    per = in_channels // groups
    rows = []
    for g in range(groups):
        cols = F.unfold(x[:, g * per:(g + 1) * per], kernel, dilation=dilation, stride=stride)
        rows.append(cols.transpose(1, 2).reshape(-1, cols.shape[1]))  # (B·L, C/g·kh·kw)
    return rows


def _reference_step(rule, weight2d, rows_per_group, state, lr):
    """weight + lr·dW per group (the rule on that group's rows), then project; and the new state."""
    new_weight = weight2d.clone()
    new_state = {key: value.clone() for key, value in state.items()}
    per = weight2d.shape[0] // len(rows_per_group)
    for g, x in enumerate(rows_per_group):
        units = slice(g * per, (g + 1) * per)
        w = weight2d[units]
        st = {key: value[units] for key, value in state.items()}
        d = rule.update(w, x, state=st or None)
        w_new = w + lr * d
        rule.project(w_new)
        new_weight[units] = w_new
        for key, value in rule.next_state(st, w_new, x, rule.currents(w, x)).items():
            new_state[key][units] = value
    return new_weight, new_state


@pytest.mark.parametrize("name", list_rules())
@pytest.mark.parametrize("conv", CONV_SETTINGS, ids=CONV_IDS)
def test_conv_step_equals_rule_on_unfolded_patches(name, conv):
    groups = conv.get("groups", 1)
    in_channels = 2 * groups
    layer = HebbianConv2d(in_channels, PER_GROUP * groups, rule=name, seed=1, dtype=F64, **conv)
    _check_conv_layer(layer, conv, in_channels, None, steps=2)


@pytest.mark.parametrize("name", ["krotov", "softhebb", "bcm"])
@pytest.mark.parametrize("input_norm", ["unit", "batch"])
def test_conv_step_with_input_normalisation(name, input_norm):
    conv = dict(kernel_size=3, padding=1, groups=2, stride=2)
    layer = HebbianConv2d(4, 2 * PER_GROUP, rule=name, seed=2, dtype=F64, input_norm=input_norm, **conv)
    _check_conv_layer(layer, conv, 4, input_norm, steps=2)


def _check_conv_layer(layer, conv, in_channels, input_norm, steps):
    rule = layer.rule
    g = torch.Generator().manual_seed(5)
    units = layer.weight.shape[0]
    state = rule.init_state(layer.weight.detach().view(units, -1))
    for _ in range(steps):
        x = torch.randn(3, in_channels, 7, 6, generator=g, dtype=F64)
        rows = _reference_patches(x, conv, in_channels, input_norm)
        expected, state = _reference_step(rule, layer.weight.detach().view(units, -1), rows, state, 0.05)
        layer.hebbian_step(x, 0.05)
        torch.testing.assert_close(layer.weight.detach().view(units, -1), expected, rtol=1e-9, atol=1e-10)
        for key, value in state.items():
            torch.testing.assert_close(getattr(layer, f"rule_{key}"), value, rtol=1e-9, atol=1e-10)
    # forward then uses the learned weights: conv2d of the prepared input with transform(W)
    x = torch.randn(2, in_channels, 7, 6, generator=g, dtype=F64)
    assert layer(x).shape[:2] == (2, units)


@pytest.mark.parametrize("name", list_rules())
@pytest.mark.parametrize("input_norm", [None, "unit"])
def test_linear_step_equals_rule_update(name, input_norm):
    layer = HebbianLinear(6, 12, name, seed=3, dtype=F64, input_norm=input_norm)
    rule = layer.rule
    g = torch.Generator().manual_seed(6)
    state = rule.init_state(layer.weight.detach())
    for _ in range(3):
        x = torch.randn(10, 2, 3, generator=g, dtype=F64)  # flattened by the layer
        rows = x.flatten(1)
        if input_norm == "unit":
            rows = rows / rows.norm(dim=1, keepdim=True)
        expected, state = _reference_step(rule, layer.weight.detach(), [rows], state, 0.1)
        layer.hebbian_step(x, 0.1)
        torch.testing.assert_close(layer.weight.detach(), expected, rtol=1e-12, atol=1e-12)
        for key, value in state.items():
            torch.testing.assert_close(getattr(layer, f"rule_{key}"), value, rtol=1e-12, atol=1e-12)
        # the forward pass uses the fresh weights (the transform cache is kept in step)
        torch.testing.assert_close(layer.currents(x), rows @ rule.transform(expected).T)


@pytest.mark.parametrize("name", list_rules())
def test_state_resets_with_the_weights(name):
    layer = HebbianLinear(6, 12, name, seed=3, dtype=F64)
    init = {key: value.clone() for key, value in layer.rule.init_state(layer.weight.detach()).items()}
    layer.hebbian_step(torch.randn(8, 6, dtype=F64), 0.1)
    layer.reset_parameters(seed=3)
    for key, value in init.items():
        torch.testing.assert_close(getattr(layer, f"rule_{key}"), value)
