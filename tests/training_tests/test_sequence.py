"""Sequence training: layer-wise Hebbian learning of recurrent stacks, probe features (every step or the
last), the unigram baseline, the GRU head and the backprop-through-time twin."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hebbsearch.models import build_hebbian_gru, build_sequence_stack
from hebbsearch.training import (
    GRUHead,
    backprop_twin,
    sequence_accuracy,
    sequence_features,
    sequence_targets,
    train_sequence_hebbian,
    train_sequence_model,
    unigram_accuracy,
)
from hebbsearch.training._sequence import probe_row_mask

LAYERS = [{"type": "rnn", "units": 8}, {"type": "rnn", "units": 6}, {"type": "lateral", "units": 5}]


def _ids(n=40, steps=7, vocab=5, seed=0) -> torch.Tensor:
    return torch.randint(0, vocab, (n, steps), generator=torch.Generator().manual_seed(seed))


def test_layer_wise_training_touches_only_layers_up_to_depth() -> None:
    stack = build_sequence_stack(LAYERS, 5, "oja", depth=3)
    before = [stack.blocks[0].weight.clone(), stack.blocks[1].weight.clone(), stack.blocks[2].lateral.clone()]
    calls = []
    convergence = train_sequence_hebbian(stack, _ids(), depth=2, epochs=[2, 1], lr=0.05, batch_size=10,
                                         progress=lambda *a: calls.append(a))
    assert len(convergence) == 2 and all(math.isfinite(c) for c in convergence)
    assert not torch.equal(stack.blocks[0].weight, before[0]) and not torch.equal(stack.blocks[1].weight,
                                                                                before[1])
    assert torch.equal(stack.blocks[2].lateral, before[2])
    assert calls == [("layer 1", 1, 2), ("layer 1", 2, 2), ("layer 2", 1, 1)]
    w = [b.weight.clone() for b in stack.blocks[:2]]
    train_sequence_hebbian(stack, _ids(), depth=3, epochs=[0, 0, 1], lr=0.05, batch_size=10)
    assert all(torch.equal(b.weight, v) for b, v in zip(stack.blocks[:2], w))
    assert not torch.equal(stack.blocks[2].lateral, before[2])  # lateral: eta x the schedule's factor
    with pytest.raises(ValueError, match=r"epochs must be one value or one per layer \(2\)"):
        train_sequence_hebbian(stack, _ids(), depth=2, epochs=[1, 1, 1], lr=0.1)


def test_seeded() -> None:
    a, b = (build_sequence_stack(LAYERS[:1], 5, "sanger", depth=1, seed=3) for _ in range(2))
    for stack in (a, b):
        train_sequence_hebbian(stack, _ids(), depth=1, epochs=2, lr=0.05, batch_size=8, seed=4)
    assert torch.equal(a.blocks[0].weight, b.blocks[0].weight)


def test_features_every_step_or_the_last() -> None:
    stack = build_sequence_stack(LAYERS, 5, "oja", depth=2)
    x = _ids(n=9)
    out = stack(x, 2)
    rows = sequence_features(stack, x, depth=2, per_step=True, batch_size=4)
    assert rows.shape == (9 * 7, 6) and torch.allclose(rows, out.reshape(-1, 6), atol=1e-6)
    last = sequence_features(stack, x, depth=2, per_step=False, batch_size=4)
    assert last.shape == (9, 6) and torch.allclose(last, out[:, -1], atol=1e-6)
    keep = probe_row_mask(63, 20, seed=1)
    assert keep is not None and int(keep.sum()) == 20 and probe_row_mask(63, 63) is None
    kept = sequence_features(stack, x, depth=2, per_step=True, batch_size=4, keep=keep)
    assert torch.allclose(kept, rows[keep])
    y = _ids(n=9, seed=1)
    assert torch.equal(sequence_targets(y, True, keep), y.reshape(-1)[keep])
    assert torch.equal(sequence_targets(y[:, 0], False), y[:, 0])
    assert sequence_features(stack, x[:0], depth=2, per_step=False).shape == (0, 6)


def test_unigram_accuracy() -> None:
    train = torch.tensor([[1, 1, 2], [1, 0, 3]])
    assert unigram_accuracy(train, torch.tensor([1, 1, 2, 3])) == 0.5
    assert math.isnan(unigram_accuracy(train, torch.tensor([], dtype=torch.long)))


def test_backprop_twin_learns_a_copy_task() -> None:
    """Predict the current character: the twin (nn.RNN + linear head) learns it end to end."""
    torch.manual_seed(0)
    stack = build_sequence_stack(LAYERS[:1], 5, "oja", depth=1)
    twin = backprop_twin(stack, 1, 5, seed=0)
    assert isinstance(twin[0].rnn, nn.RNN) and twin[0].rnn.hidden_size == 8 and twin[-1].out_features == 5
    x, xv = _ids(n=200), _ids(n=50, seed=1)
    encode = lambda ids: torch.nn.functional.one_hot(ids, 5).float()  # noqa: E731
    epochs = []
    result = train_sequence_model(twin, (x, x), (xv, xv), per_step=True, epochs=6, lr=0.05, batch_size=20,
                                  encode=encode, on_epoch=lambda e, acc: epochs.append(e))
    assert epochs == list(range(6)) and result.val_accuracy > 0.9
    assert sequence_accuracy(twin, xv, xv, per_step=True, encode=encode) == result.val_accuracy
    lateral = backprop_twin(build_sequence_stack(LAYERS, 5, "oja", depth=3), 3, 4)
    assert [type(m) for m in lateral][2:4] == [nn.Linear, nn.ReLU]  # lateral: kernel + activation


def test_gru_head_classifies_the_last_step() -> None:
    model, stack = build_hebbian_gru(5, 2, "oja", hidden=6)
    x = _ids(n=120, steps=4)
    y = (x[:, -1] >= 3).long()  # the class of the last character
    features = stack(x, 1)
    head = GRUHead(model)
    result = train_sequence_model(head, (features, y), (features, y), per_step=False, epochs=20, lr=0.05,
                                  batch_size=20)
    assert result.val_accuracy > 0.9
    assert not model.weights.requires_grad
    twin = backprop_twin(stack, 1, 2, gru_head=True)
    assert isinstance(twin[0], nn.Linear) and twin[0].bias is None and isinstance(twin[1].rnn, nn.GRU)
