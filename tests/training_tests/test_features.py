from __future__ import annotations

import torch

from hebbsearch.models import build_stack
from hebbsearch.training import extract_features


def _stack():
    torch.manual_seed(0)
    return build_stack("softhebb3", (3, 8, 8), "krotov", depth=2, units=[8, 8, 4], seed=0)


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal up to float summation order (chunks and memory layouts differ; features are ~10)."""
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


def test_features_of_block_upto_in_batches() -> None:
    stack = _stack()
    x = torch.rand(37, 3, 8, 8)
    for depth in (1, 2):
        f = extract_features(stack, x, depth=depth, batch_size=10)
        assert f.shape == (37, stack.feature_dim(depth))
        _close(f, stack.features(x, depth))
        _close(f, extract_features(stack, x, depth=depth, batch_size=1000))
        assert not f.requires_grad


def test_no_autograd_graph_and_normal_tensors() -> None:
    stack = _stack()
    x = torch.rand(5, 3, 8, 8, requires_grad=True)
    f = extract_features(stack, x, depth=1)
    assert f.grad_fn is None and not f.is_inference()
    # usable as input of a layer trained with autograd
    torch.nn.Linear(f.shape[1], 2)(f).sum().backward()


def test_empty_input() -> None:
    stack = _stack()
    assert extract_features(stack, torch.rand(0, 3, 8, 8), depth=2).shape == (0, stack.feature_dim(2))


def test_mirrored_rows_follow_the_originals() -> None:
    """``mirrored``: the features of x, then those of x flipped left-right, in one (2N, F) tensor."""
    stack = _stack()
    x = torch.rand(13, 3, 8, 8)
    f = extract_features(stack, x, depth=2, batch_size=4, mirrored=True)
    assert f.shape == (26, stack.feature_dim(2))
    _close(f[:13], stack.features(x, 2))
    _close(f[13:], stack.features(x.flip(-1), 2))
    assert not torch.equal(f[:13], f[13:])
