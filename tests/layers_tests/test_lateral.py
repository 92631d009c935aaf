"""HebbianLateral: the lateral term, the masked outer-product rule, connectivity, and autograd."""

from __future__ import annotations

import pytest
import torch

from hebbsearch.layers import HebbianLateral

F64 = torch.float64


def _x(rows=8, features=5, seed=0) -> torch.Tensor:
    return torch.randn(rows, features, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize("connectivity", ["all", "random", "zero"])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_shapes_and_dtypes_with_in_not_equal_out(connectivity, dtype):
    layer = HebbianLateral(5, 3, connectivity=connectivity, seed=0, dtype=dtype)
    x = _x().to(dtype)
    out = layer(x)
    assert out.shape == (8, 3) and out.dtype == dtype
    assert layer.lateral.shape == (3, 3) and layer.mask.shape == (3, 3) and layer.mask.dtype == torch.bool
    assert layer(x.view(2, 4, 5)).shape == (2, 4, 3)  # any leading dimensions
    assert layer.weight.requires_grad and [n for n, _ in layer.named_parameters()] == ["weight"]
    wide = HebbianLateral(3, 7, connectivity=connectivity, seed=0, dtype=dtype)
    assert wide(x[:, :3]).shape == (8, 7)


def test_output_and_update_follow_the_formula():
    layer = HebbianLateral(5, 4, lmbda=0.7, eta=0.1, connectivity="all", dtype=F64, seed=0)
    x = _x()
    a = x @ layer.weight.detach().T
    lateral = layer.lateral.clone()  # zero at first
    for _ in range(3):
        out = layer(x)
        torch.testing.assert_close(out, a + 0.7 * a @ lateral.T)
        lateral = lateral + 0.1 * (a.T @ a / 8) * (1 - torch.eye(4, dtype=F64))
        torch.testing.assert_close(layer.lateral, lateral)
    assert float(lateral.abs().sum()) > 0


def test_diagonal_stays_zero_after_many_updates():
    layer = HebbianLateral(5, 6, eta=0.5, connectivity="all", seed=0)
    for step in range(200):
        layer(_x(seed=step).float())
    assert torch.equal(layer.lateral.diagonal(), torch.zeros(6))
    off_diagonal = ~torch.eye(6, dtype=torch.bool)
    assert bool((layer.lateral[off_diagonal] != 0).all())  # every other connection learnt


def test_random_mask_is_respected_and_fixed():
    layer = HebbianLateral(5, 12, eta=0.5, connectivity="random", connectivity_prob=0.3, seed=1)
    mask = layer.mask.clone()
    assert not bool(mask.diagonal().any())
    assert 0 < int(mask.sum()) < 12 * 11
    for step in range(50):
        layer(_x(seed=step).float())
    assert torch.equal(layer.mask, mask)
    assert bool((layer.lateral[~mask] == 0).all())  # masked entries exactly zero
    assert bool((layer.lateral[mask] != 0).all())
    def drawn(seed):
        return HebbianLateral(5, 12, connectivity="random", connectivity_prob=0.3, seed=seed).mask

    assert torch.equal(drawn(1), mask) and not torch.equal(drawn(2), mask)
    assert "mask" in layer.state_dict() and "lateral" in layer.state_dict()


def test_connectivity_probability_extremes():
    assert not bool(HebbianLateral(2, 6, connectivity="random", connectivity_prob=0.0, seed=0).mask.any())
    full = HebbianLateral(2, 6, connectivity="random", connectivity_prob=1.0, seed=0).mask
    assert torch.equal(full, HebbianLateral(2, 6, connectivity="all").mask)


def test_eta_zero_leaves_lateral_weights_unchanged():
    layer = HebbianLateral(5, 4, eta=0.0, connectivity="all", seed=0)
    layer.lateral.fill_(0.25).fill_diagonal_(0.0)
    before = layer.lateral.clone()
    for step in range(5):
        layer(_x(seed=step).float())
    assert torch.equal(layer.lateral, before)


def test_zero_connectivity_equals_no_lateral_term():
    layer = HebbianLateral(5, 4, eta=0.5, connectivity="zero", seed=0, dtype=F64)
    x = _x()
    for _ in range(5):
        torch.testing.assert_close(layer(x), x @ layer.weight.T, rtol=0, atol=0)
    assert torch.equal(layer.lateral, torch.zeros(4, 4, dtype=F64))


def test_eval_mode_is_pure():
    layer = HebbianLateral(5, 4, eta=0.5, connectivity="all", seed=0)
    layer(_x().float())
    layer.eval()
    state = {key: value.clone() for key, value in layer.state_dict().items()}
    out1, out2 = layer(_x().float()), layer(_x().float())
    assert torch.equal(out1, out2)
    for key, value in layer.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_lateral_updates_build_no_autograd_graph():
    layer = HebbianLateral(5, 4, eta=0.5, connectivity="all", seed=0)
    x = _x().float()
    out = layer(x)  # the update happens after the output used the old L
    assert not layer.lateral.requires_grad and layer.lateral.grad_fn is None
    layer(x)
    out.sum().backward()  # the in-between update did not modify a tensor saved for backward
    assert layer.weight.grad is not None and bool(layer.weight.grad.abs().sum() > 0)
    with torch.no_grad():
        assert layer(x).grad_fn is None


def test_bad_arguments():
    for kwargs, match in [(dict(connectivity="some"), "connectivity"), (dict(connectivity_prob=1.5), "prob"),
                          (dict(eta=-1.0), "eta"), (dict(lmbda=float("nan")), "lmbda")]:
        with pytest.raises(ValueError, match=match):
            HebbianLateral(5, 4, **kwargs)
    with pytest.raises(ValueError, match="out_features"):
        HebbianLateral(5, 0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 5\)"):
        HebbianLateral(5, 4)(torch.randn(3, 4))
