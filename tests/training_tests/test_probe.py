from __future__ import annotations

import math

import optuna
import pytest
import torch
from torch import nn

from hebbsearch.data import load_dataset
from hebbsearch.models import build_stack
from hebbsearch.rules import get_rule
from hebbsearch.training import (
    OPTIMIZERS,
    PROBE_SCHEDULES,
    ProbeResult,
    accuracy,
    extract_features,
    make_probe,
    train_hebbian,
    train_probe,
)


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", None)


def _pairs(d):
    return (d.train_x.flatten(1), d.train_y), (d.val_x.flatten(1), d.val_y)


def test_probe_structure_and_parameter_count() -> None:
    probe = make_probe(36, 10, dropout=0.2)
    assert isinstance(probe[0], nn.BatchNorm1d) and not probe[0].affine
    assert isinstance(probe[1], nn.Dropout) and probe[1].p == 0.2
    assert isinstance(probe[2], nn.Linear)
    assert sum(p.numel() for p in probe.parameters()) == 36 * 10 + 10


def test_probe_learns_the_synthetic_dataset(data) -> None:
    train, val = _pairs(data)
    calls = []
    result = train_probe(train, val, num_classes=10, epochs=4, lr=1e-2, batch_size=64,
                         on_epoch=lambda epoch, acc: calls.append((epoch, acc)))
    assert isinstance(result, ProbeResult)
    assert result.val_accuracy > 0.9
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    assert [c[1] for c in calls] == result.history and result.history[-1] == result.val_accuracy
    assert result.val_accuracy == accuracy(result.probe, *val)
    assert not result.probe.training


def test_untrained_probe_is_near_chance(data) -> None:
    _, val = _pairs(data)
    torch.manual_seed(0)
    assert accuracy(make_probe(64, 10).eval(), *val) < 0.4


def test_pruning_propagates_and_stops_training(data) -> None:
    train, val = _pairs(data)
    seen = []

    def on_epoch(epoch, acc):
        seen.append(epoch)
        if epoch == 1:
            raise optuna.TrialPruned()

    with pytest.raises(optuna.TrialPruned):
        train_probe(train, val, num_classes=10, epochs=5, lr=1e-2, on_epoch=on_epoch)
    assert seen == [0, 1]


def test_seeded_and_leaves_the_global_rng_alone(data) -> None:
    train, val = _pairs(data)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = train_probe(train, val, num_classes=10, epochs=2, lr=1e-3, dropout=0.3, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    b = train_probe(train, val, num_classes=10, epochs=2, lr=1e-3, dropout=0.3, seed=5)
    c = train_probe(train, val, num_classes=10, epochs=2, lr=1e-3, dropout=0.3, seed=6)
    assert torch.equal(a.probe[2].weight, b.probe[2].weight)
    assert not torch.equal(a.probe[2].weight, c.probe[2].weight)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("schedule", PROBE_SCHEDULES)
def test_every_optimizer_and_schedule_learns(data, optimizer, schedule) -> None:
    train, val = _pairs(data)
    lr = 0.05 if optimizer == "sgd" else 1e-2
    result = train_probe(train, val, num_classes=10, epochs=3, lr=lr, optimizer=optimizer,
                         lr_schedule=schedule, weight_decay=1e-4, batch_size=128)
    assert result.val_accuracy > 0.8


def test_accuracy_uses_eval_mode_and_restores_it() -> None:
    x = torch.randn(50, 4)
    y = torch.randint(0, 3, (50,))
    probe = nn.Sequential(nn.Dropout(0.9), nn.Linear(4, 3))
    probe.train()
    first = accuracy(probe, x, y, batch_size=7)
    assert first == accuracy(probe, x, y)  # dropout is off: deterministic
    assert probe.training
    assert math.isnan(accuracy(probe, x[:0], y[:0]))


def test_perfect_and_wrong_predictions() -> None:
    x = torch.eye(3)
    identity = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        identity.weight.copy_(torch.eye(3))
    assert accuracy(identity, x, torch.tensor([0, 1, 2])) == 1.0
    assert accuracy(identity, x, torch.tensor([1, 2, 0])) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"optimizer": "rmsprop"}, "optimizer"), ({"lr_schedule": "linear"}, "lr_schedule"),
     ({"epochs": 0}, "epochs"), ({"lr": 0}, "lr"), ({"dropout": 1.0}, "dropout"),
     ({"batch_size": 0}, "batch_size")],
)
def test_invalid_arguments(data, kwargs, match) -> None:
    train, val = _pairs(data)
    args = {"num_classes": 10, "epochs": 1, "lr": 1e-3, **kwargs}
    with pytest.raises(ValueError, match=match):
        train_probe(train, val, **args)


def test_pipeline_hebbian_features_then_probe(data) -> None:
    """End to end on synthetic data: Krotov layer → features once → probe well above chance."""
    stack = build_stack("krotov_fc", data.input_shape, get_rule("krotov", p=3, k=3, delta=0.2), depth=1,
                        hidden=40, power=2)
    train_hebbian(stack, data.train_x, depth=1, epochs=3, lr=0.05, batch_size=50)
    feats = [extract_features(stack, x, depth=1) for x in (data.train_x, data.val_x)]
    result = train_probe((feats[0], data.train_y), (feats[1], data.val_y), num_classes=10, epochs=5,
                         lr=1e-2, batch_size=64)
    assert result.val_accuracy > 0.85


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pipeline_on_cuda() -> None:
    d = load_dataset("synthetic", None, device="cuda")
    stack = build_stack("krotov_fc", d.input_shape, get_rule("krotov", k=3), depth=1, hidden=40, power=2,
                        device="cuda")
    train_hebbian(stack, d.train_x, depth=1, epochs=2, lr=0.05, batch_size=50)
    feats = [extract_features(stack, x, depth=1) for x in (d.train_x, d.val_x)]
    assert feats[0].is_cuda
    result = train_probe((feats[0], d.train_y), (feats[1], d.val_y), num_classes=10, epochs=3, lr=1e-2)
    assert result.val_accuracy > 0.8 and next(result.probe.parameters()).is_cuda


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_1_minus_p_and_rescales(p) -> None:
    from hebbsearch.training._probe import Dropout

    torch.manual_seed(0)
    drop = Dropout(p).train()
    x = torch.rand(1000, 1000) + 0.5
    out = drop(x)
    kept = out != 0
    n = x.numel()
    assert abs(int(kept.sum()) - n * (1 - p)) < 6 * math.sqrt(n * p * (1 - p))  # 6 sigma of the binomial
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    assert not torch.equal(drop(x) != 0, kept)  # a fresh mask each call
    assert torch.equal(drop.eval()(x), x)
    # neighbours (four of them share one 64-bit draw) are kept independently: P(both) = (1 − p)²
    both = (kept[:, :-1] & kept[:, 1:]).float().mean().item()
    m = kept[:, :-1].numel()
    assert abs(both - (1 - p) ** 2) < 6 * math.sqrt((1 - p) ** 2 * (1 - (1 - p) ** 2) / m)
    odd = drop.train()(torch.ones(3, 7, dtype=torch.float64))  # a size that is not a multiple of four
    assert odd.shape == (3, 7) and set(odd.unique().tolist()) <= {0.0, 1 / (1 - p)}


def test_dropout_is_seeded_by_torch_and_passes_gradients() -> None:
    from hebbsearch.training._probe import Dropout

    x = torch.ones(4, 50, requires_grad=True)
    torch.manual_seed(3)
    first = Dropout(0.5)(x)
    torch.manual_seed(3)
    second = Dropout(0.5)(x)
    assert torch.equal(first, second)
    first.sum().backward()
    torch.testing.assert_close(x.grad, first.detach())  # d(out)/dx = mask / (1 - p) = out for x = 1
