"""The Krotov rule against an independent, plainly written reference and against biopytorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hebbsearch.layers import HebbianConv2d, HebbianLinear
from hebbsearch.rules import Krotov, get_rule

from tests.rules_tests._helpers import krotov_reference

biopytorch = pytest.importorskip("biopytorch")


def _data(units: int, m: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(units, n, generator=g, dtype=torch.float64),
            torch.randn(m, n, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("p", [2, 3, 5])
@pytest.mark.parametrize("k,delta", [(2, 0.4), (3, 0.1), (7, 0.0), (5, 0.25)])
@pytest.mark.parametrize("units,m", [(60, 12), (10, 40), (16, 8)])  # sparse (K > 2M) and dense paths
@pytest.mark.parametrize("scope", ["matrix", "unit"])
def test_update_equals_reference(p, k, delta, units, m, scope):
    w, x = _data(units, m, 9, seed=p * 100 + k + units)
    rule = Krotov(p=p, k=k, delta=delta, norm_scope=scope)
    expected = krotov_reference(w.numpy(), x.numpy(), p, k, delta, scope)
    np.testing.assert_allclose(rule.update(w, x).numpy(), expected, rtol=0, atol=1e-5)
    # the sparse form holds the same rows, and the untouched rows of dW are zero
    rows, d = rule.sparse_update(w, x)
    dense = torch.zeros_like(w)
    if rows is None:
        dense = d
    else:
        dense[rows] = d
    np.testing.assert_allclose(dense.numpy(), expected, rtol=0, atol=1e-5)


def test_sparse_path_touches_only_winners_and_kth():
    w, x = _data(80, 5, 6, seed=1)
    rule = Krotov(p=3, k=4, delta=0.3)
    rows, _ = rule.sparse_update(w, x)
    assert rows is not None and rows.numel() <= 2 * x.shape[0]
    ranked = rule.currents(w, x).topk(4, dim=1).indices
    assert set(rows.tolist()) == set(ranked[:, 0].tolist()) | set(ranked[:, 3].tolist())


def test_currents_argument_is_used_as_given():
    w, x = _data(12, 20, 5, seed=2)
    rule = Krotov(p=3, k=3, delta=0.2)
    assert torch.equal(rule.update(w, x, currents=rule.currents(w, x)), rule.update(w, x))
    with pytest.raises(ValueError, match="currents"):
        rule.update(w, x, currents=torch.zeros(3, 3, dtype=torch.float64))


def _train_on_clusters(p: int, delta: float, steps: int = 400) -> tuple[HebbianLinear, float]:
    g = torch.Generator().manual_seed(p)
    layer = HebbianLinear(20, 12, "krotov", rule_params={"p": p, "k": 3, "delta": delta},
                          input_norm="unit", seed=p, dtype=torch.float64)
    before = layer.convergence()
    means = torch.randn(6, 20, generator=g, dtype=torch.float64)
    for step in range(steps):
        labels = torch.randint(0, 6, (64,), generator=g)
        x = means[labels] + 0.5 * torch.randn(64, 20, generator=g, dtype=torch.float64)
        layer.hebbian_step(x, 0.05 * (1 - step / steps))
    return layer, before


@pytest.mark.parametrize("p", [2, 3, 4])
def test_row_p_norms_move_towards_one(p):
    layer, before = _train_on_clusters(p, delta=0.0)
    after = layer.convergence()
    assert before > 10.0
    assert after < 0.2 and after < 0.01 * before
    # the figure is max_k |Σ_i |W_ki|^p − 1|
    expected = (layer.weight.abs().pow(p).sum(1) - 1).abs().max()
    assert after == pytest.approx(float(expected))


@pytest.mark.parametrize("p", [2, 3])
def test_with_anti_hebbian_push_most_units_reach_unit_p_norm(p):
    # units that are only ever pushed away (k-th, never winning) are driven off the sphere, as in
    # Krotov & Hopfield's dynamics; the others converge to unit p-norm
    layer, _ = _train_on_clusters(p, delta=0.2)
    deviation = (layer.weight.abs().pow(p).sum(1) - 1).abs()
    assert float(deviation.median()) < 0.05


@pytest.mark.parametrize("p,k,delta", [(3, 2, 0.05), (2, 4, 0.4), (5, 3, 0.2)])
def test_linear_equals_biopytorch(p, k, delta):
    torch.manual_seed(0)
    bio = biopytorch.BioLinear(30, 12, delta=delta, ranking_param=k, lebesgue_p=p, dtype=torch.float64)
    ours = HebbianLinear(30, 12, "krotov", rule_params={"p": p, "k": k, "delta": delta},
                         input_norm="batch", dtype=torch.float64)
    with torch.no_grad():
        ours.weight.copy_(bio.weight)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        x = torch.randn(40, 5, 6, generator=g, dtype=torch.float64) * 2 + 1  # flattened by both
        c_bio = float(bio.training_step(x, learning_rate=0.05))
        c_ours = ours.training_step(x, learning_rate=0.05)
        torch.testing.assert_close(ours.weight, bio.weight, rtol=0, atol=1e-6)
        assert c_ours == pytest.approx(c_bio, rel=1e-6, abs=1e-6)
    torch.testing.assert_close(ours.norm.running_mean, bio.batch_norm.running_mean)
    torch.testing.assert_close(ours(x), bio(x), rtol=1e-5, atol=1e-6)  # bio divides by max|dW| + 1e-5


@pytest.mark.parametrize(
    "conv",
    [
        dict(kernel_size=3),
        dict(kernel_size=3, stride=2),
        dict(kernel_size=(3, 2), stride=(1, 2), padding=1),
        dict(kernel_size=3, padding=2, padding_mode="reflect"),
        dict(kernel_size=3, padding="same"),
        dict(kernel_size=3, padding=1, groups=2),
    ],
    ids=["plain", "stride2", "rect-stride-pad", "reflect", "same", "groups"],
)
def test_conv_equals_biopytorch(conv):
    p, k, delta = 3, 3, 0.1
    torch.manual_seed(0)
    bio = biopytorch.BioConv2d(4, 8, lebesgue_p=p, ranking_param=k, delta=delta, dtype=torch.float64,
                               **conv)
    ours = HebbianConv2d(4, 8, rule="krotov", rule_params={"p": p, "k": k, "delta": delta,
                                                            "norm_scope": "unit"},
                         input_norm="batch", dtype=torch.float64, **conv)
    with torch.no_grad():
        ours.weight.copy_(bio.weight)
    g = torch.Generator().manual_seed(2)
    for _ in range(3):
        x = torch.randn(3, 4, 9, 8, generator=g, dtype=torch.float64)
        c_bio = float(bio.training_step(x, learning_rate=0.05))
        c_ours = ours.training_step(x, learning_rate=0.05)
        torch.testing.assert_close(ours.weight, bio.weight, rtol=0, atol=1e-6)
        assert c_ours == pytest.approx(c_bio, rel=1e-6, abs=1e-6)
    torch.testing.assert_close(ours(x), bio(x), rtol=1e-5, atol=1e-6)  # bio divides by max|dW| + 1e-5


@pytest.mark.parametrize(
    "params,name",
    [({"k": 1}, "k"), ({"k": 2.5}, "k"), ({"p": 0}, "p"), ({"p": 2.5}, "p"), ({"delta": -0.1}, "delta"),
     ({"delta": float("nan")}, "delta"), ({"q": 1}, "q"), ({"norm_scope": "row"}, "norm_scope")],
)
def test_bad_hyperparameters_name_the_parameter(params, name):
    with pytest.raises(ValueError, match=name):
        get_rule("krotov", **params)


def test_norm_scope_survives_a_round_trip_through_params():
    rule = get_rule("krotov", p=4, k=3, delta=0.2, norm_scope="unit")
    assert rule.params["norm_scope"] == "unit" and "norm_scope='unit'" in repr(rule)
    rebuilt = get_rule("krotov", **rule.params)
    assert rebuilt.norm_scope == "unit" and rebuilt == rule and hash(rebuilt) == hash(rule)
    assert rule != get_rule("krotov", p=4, k=3, delta=0.2)  # the scope changes the update
    assert get_rule("krotov").params["norm_scope"] == "matrix"
    # an option, not a searched hyperparameter
    assert "norm_scope" not in {hp.name for hp in Krotov.hyperparameters}


@pytest.mark.parametrize("units", [7, 5])
def test_k_must_be_below_the_number_of_units(units):
    with pytest.raises(ValueError, match=r"\bk\b"):
        HebbianLinear(10, units, "krotov", rule_params={"k": 7})
    with pytest.raises(ValueError, match=r"\bk\b"):
        HebbianConv2d(4, 2 * units, 3, groups=2, rule="krotov", rule_params={"k": units})
    HebbianLinear(10, 8, "krotov", rule_params={"k": 7})  # k = units - 1 is fine
