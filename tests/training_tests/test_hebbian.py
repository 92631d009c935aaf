from __future__ import annotations

import math

import pytest
import torch

from hebbsearch.data import load_dataset
from hebbsearch.errors import DivergenceError
from hebbsearch.models import build_stack
from hebbsearch.rules import Rule, get_rule
from hebbsearch.training import scheduled_lr, train_hebbian
from hebbsearch.training import _hebbian

RULE = get_rule("krotov", p=3, k=2, delta=0.4)


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic_rgb", None, subset=400)


def _stack(depth: int = 3, seed: int = 0):
    return build_stack("softhebb3", (3, 8, 8), RULE, depth=depth, seed=seed, units=[8, 6, 4])


def _state(stack, i: int) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in stack.blocks[i].layer.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("schedule", "step", "expected"),
    [("constant", 7, 0.1), ("linear", 0, 0.1), ("linear", 5, 0.05), ("linear", 10, 0.0),
     ("cosine", 0, 0.1), ("cosine", 5, 0.05), ("cosine", 10, 0.0)],
)
def test_scheduled_lr(schedule, step, expected) -> None:
    assert scheduled_lr(schedule, 0.1, step, 10) == pytest.approx(expected, abs=1e-12)


def test_cosine_and_linear_differ_in_between() -> None:
    assert scheduled_lr("cosine", 1.0, 2, 10) == pytest.approx((1 + math.cos(math.pi * 0.2)) / 2)
    assert scheduled_lr("cosine", 1.0, 2, 10) > scheduled_lr("linear", 1.0, 2, 10)
    with pytest.raises(ValueError, match="lr_schedule"):
        scheduled_lr("exponential", 1.0, 0, 10)


def test_only_layers_up_to_upto_change(data) -> None:
    stack = _stack()
    before = [_state(stack, i) for i in range(3)]
    conv = train_hebbian(stack, data.train_x, depth=2, epochs=1, lr=0.05)
    assert len(conv) == 2 and all(isinstance(c, float) for c in conv)
    assert conv == [layer.convergence() for layer in stack.hebbian_layers()[:2]]
    assert not torch.equal(stack.blocks[0].layer.weight, before[0]["weight"])
    assert not torch.equal(stack.blocks[1].layer.weight, before[1]["weight"])
    assert _same(before[2], _state(stack, 2))  # layer 3 untouched (weights and norm statistics)


def test_earlier_layers_are_frozen_while_later_learn(data) -> None:
    stack = _stack()
    before = [_state(stack, i) for i in range(2)]
    train_hebbian(stack, data.train_x, depth=2, epochs=[0, 2], lr=0.05)
    assert _same(before[0], _state(stack, 0))
    assert not torch.equal(stack.blocks[1].layer.weight, before[1]["weight"])
    # layer 1 trained together with layer 2 ends exactly where it ends when trained alone
    together, alone = _stack(), _stack()
    train_hebbian(together, data.train_x, depth=2, epochs=[1, 2], lr=0.05, seed=3)
    train_hebbian(alone, data.train_x, depth=1, epochs=1, lr=0.05, seed=3)
    assert _same(_state(together, 0), _state(alone, 0))


def test_cached_and_recomputed_layer_inputs_agree(data, monkeypatch) -> None:
    cached, recomputed = _stack(), _stack()
    train_hebbian(cached, data.train_x, depth=2, epochs=2, lr=0.05)
    monkeypatch.setattr(_hebbian, "CACHE_BYTES", 0)
    train_hebbian(recomputed, data.train_x, depth=2, epochs=2, lr=0.05)
    torch.testing.assert_close(cached.blocks[1].layer.weight, recomputed.blocks[1].layer.weight)


def test_seeded_shuffling(data) -> None:
    a, b, c = _stack(), _stack(), _stack()
    for stack, seed in ((a, 1), (b, 1), (c, 2)):
        train_hebbian(stack, data.train_x, depth=1, epochs=1, lr=0.05, seed=seed)
    assert torch.equal(a.blocks[0].layer.weight, b.blocks[0].layer.weight)
    assert not torch.equal(a.blocks[0].layer.weight, c.blocks[0].layer.weight)


class _Recorder:
    def __init__(self, layer) -> None:
        self.layer, self.lrs, self.sizes = layer, [], []

    def __call__(self, x, lr) -> None:
        self.lrs.append(lr)
        self.sizes.append(x.shape[0])


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_schedule_is_applied_over_each_layers_steps(data, schedule) -> None:
    stack = _stack(depth=2)
    recorders = []
    for layer in stack.hebbian_layers():
        recorders.append(_Recorder(layer))
        layer.hebbian_step = recorders[-1]  # instance attribute shadows the method
    n = len(data.train_x)  # 400
    train_hebbian(stack, data.train_x, depth=2, epochs=[2, 3], lr=[0.1, 0.2], lr_schedule=schedule,
                  batch_size=64)
    steps = n // 64  # last incomplete batch dropped
    for rec, epochs, lr in zip(recorders, (2, 3), (0.1, 0.2)):
        total = epochs * steps
        assert len(rec.lrs) == total and set(rec.sizes) == {64}
        assert rec.lrs == pytest.approx([scheduled_lr(schedule, lr, s, total) for s in range(total)])
        assert rec.lrs[0] == pytest.approx(lr)


def test_batch_larger_than_dataset_is_one_batch(data) -> None:
    stack = _stack(depth=1)
    rec = _Recorder(stack.blocks[0].layer)
    stack.blocks[0].layer.hebbian_step = rec
    train_hebbian(stack, data.train_x[:30], depth=1, epochs=2, lr=0.1, batch_size=100)
    assert rec.sizes == [30, 30]


def test_progress_is_called_after_every_epoch(data) -> None:
    calls = []
    train_hebbian(_stack(), data.train_x, depth=2, epochs=[2, 1], lr=0.05,
                  progress=lambda *args: calls.append(args))
    assert calls == [("layer 1", 1, 2), ("layer 1", 2, 2), ("layer 2", 1, 1)]


class _NanRule(Rule):
    name = "nan_for_tests"

    def update(self, weight, x, *, currents=None, state=None):
        return torch.full_like(weight, float("nan"))


def test_divergence_propagates(data) -> None:
    stack = build_stack("krotov_fc", (3, 8, 8), _NanRule(), depth=1, hidden=4)
    with pytest.raises(DivergenceError):
        train_hebbian(stack, data.train_x, depth=1, epochs=1, lr=0.1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"depth": 4}, "depth"), ({"depth": None}, "depth"), ({"depth": 0}, "depth"), ({"epochs": [1, 1]}, "epochs"),
     ({"epochs": -1}, "epochs"),
     ({"lr": float("nan")}, "lr"), ({"lr": [0.1]}, "lr"), ({"lr_schedule": "step"}, "lr_schedule"),
     ({"batch_size": 0}, "batch_size")],
)
def test_invalid_arguments(data, kwargs, match) -> None:
    args = {"depth": 3, "epochs": 1, "lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        train_hebbian(_stack(), data.train_x, **args)
