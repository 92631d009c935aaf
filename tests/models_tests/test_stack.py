from __future__ import annotations

import pytest
import torch
from torch import nn

from hebbsearch.layers import HebbianConv2d, HebbianLinear
from hebbsearch.models import HebbianBlock, HebbianStack, build_stack


def _stack() -> HebbianStack:
    blocks = [
        HebbianBlock(HebbianConv2d(1, 4, 3, rule="krotov", rule_params={"k": 2}, input_norm="batch",
                                   activation="relu", seed=0), nn.MaxPool2d(2)),
        HebbianBlock(HebbianLinear(4 * 3 * 3, 5, rule="krotov", rule_params={"k": 2}, seed=1)),
    ]
    return HebbianStack(blocks, (1, 8, 8))


def test_features_of_each_block_are_flattened() -> None:
    stack = _stack()
    x = torch.rand(3, 1, 8, 8)
    assert stack.out_shapes == [(4, 3, 3), (5,)]
    assert stack(x, 1).shape == (3, 4, 3, 3)
    assert stack.features(x, 1).shape == (3, 36)
    assert stack.features(x).shape == (3, 5) == stack.features(x, 2).shape
    block1 = stack.blocks[0](x)
    torch.testing.assert_close(stack.features(x, 1), block1.flatten(1))
    torch.testing.assert_close(stack.features(x, 2), stack.blocks[1](block1))
    assert [stack.feature_dim(1), stack.feature_dim()] == [36, 5]


def test_counts_and_layers() -> None:
    stack = _stack()
    assert stack.depth == 2
    assert stack.hebbian_layers() == [stack.blocks[0].layer, stack.blocks[1].layer]
    assert stack.num_hebbian_params(1) == 4 * 9
    assert stack.num_hebbian_params() == 4 * 9 + 5 * 36


@pytest.mark.parametrize("depth", [0, 3, -1, 1.5, True])
def test_upto_is_checked(depth) -> None:
    with pytest.raises(ValueError, match="depth"):
        _stack().features(torch.rand(1, 1, 8, 8), depth)


def test_forward_is_pure() -> None:
    stack = build_stack("amato5", (3, 16, 16), "krotov", depth=2)
    before = {k: v.clone() for k, v in stack.state_dict().items()}
    stack.features(torch.rand(4, 3, 16, 16))
    after = stack.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_block_requires_a_hebbian_layer() -> None:
    with pytest.raises(TypeError):
        HebbianBlock(nn.Linear(2, 2))
    with pytest.raises(ValueError):
        HebbianStack([], (1, 2, 2))


@pytest.mark.parametrize(("activation", "params"), [
    ("triangle", {"power": 0.7}), ("relu_power", {"power": 4.5}), ("relu", None), ("tanh", None)])
@pytest.mark.parametrize("pool", [(4, 2, 1), (2, 2, 0), (3, 1, 1)])
def test_max_pool_before_the_elementwise_activation_gives_the_same_features(activation, params, pool) -> None:
    """HebbianBlock pools before the activation's elementwise tail (see monotone_split): same output."""
    from hebbsearch.layers import HebbianConv2d
    from hebbsearch.layers._activations import get_activation, monotone_split

    act = get_activation(activation, **(params or {}))
    u = torch.randn(3, 6, 5, 5, dtype=torch.float64)
    pre, tail = monotone_split(act)
    torch.testing.assert_close(tail(pre(u)), act(u), rtol=0, atol=0)
    layer = HebbianConv2d(2, 6, 3, padding=1, rule="hebb", input_norm="batch", activation=activation,
                          activation_params=params, seed=0, dtype=torch.float64)
    block = HebbianBlock(layer, nn.MaxPool2d(*pool))
    x = torch.randn(4, 2, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(block(x), block.post(layer(x)), rtol=1e-12, atol=1e-12)
