"""Recurrent stacks: layer tables (rnn, lateral, memoria) → RecurrentStack; shapes, one-hot ids, pure
forward, layer-wise Hebbian steps, searched overrides, errors named ``layers[i].key``, and the
hebbian_gru preset sharing BasicHebbianGRUModel's projection."""

from __future__ import annotations

import pytest
import torch

from hebbsearch.layers import HebbianLateral, HebbianLinear, HebbianRNN, MemoriaLayer
from hebbsearch.models import (
    BasicHebbianGRUModel,
    LayerSpecError,
    RecurrentStack,
    build_hebbian_gru,
    build_sequence_stack,
    check_sequence_layers,
)
from hebbsearch.models import _recurrent_stack

RNN = {"type": "rnn", "units": 12}
LATERAL = {"type": "lateral", "units": 10, "eta": 0.01, "connectivity": "all"}
MEMORIA = {"type": "memoria", "chunk": 3, "stm_capacity": 4, "num_reminded_stm": 2, "num_final_ltms": 2}


def _x(batch=4, steps=6, features=5, seed=0) -> torch.Tensor:
    return torch.randn(batch, steps, features, generator=torch.Generator().manual_seed(seed))


def test_shapes_depth_and_parameters() -> None:
    pytest.importorskip("memoria")
    stack = build_sequence_stack([RNN, LATERAL, MEMORIA], 5, "oja", depth=3, seed=1)
    assert isinstance(stack, RecurrentStack) and stack.depth == 3
    assert [type(b) for b in stack.blocks] == [HebbianRNN, HebbianLateral, MemoriaLayer]
    assert stack.out_features == [12, 10, 20] and stack.feature_dim(0) == 5
    x = _x()
    assert stack(x, 0).shape == (4, 6, 5)
    for depth, features in ((1, 12), (2, 10), (3, 20)):
        out = stack(x, depth)
        assert out.shape == (4, 6, features) and out.dtype == torch.float32 and out.grad_fn is None
    out = stack(x)
    assert torch.equal(out[:, :3, 10:], torch.zeros(4, 3, 10))  # the first chunk has nothing to recall
    assert bool(out[:, 3:, 10:].abs().sum() > 0)
    assert stack.num_hebbian_params(1) == 12 * (5 + 12)
    assert stack.num_hebbian_params(2) == 12 * 17 + 10 * 12 + 10 * 9  # kernel + connected pairs (no diagonal)
    assert stack.learns(1) and stack.learns(2) and not stack.learns(3)
    assert len(stack.hebbian_layers()) == 2


def test_ids_are_one_hot_and_forward_is_pure() -> None:
    stack = build_sequence_stack([RNN, LATERAL], 7, "sanger", depth=2)
    ids = torch.randint(0, 7, (3, 5), generator=torch.Generator().manual_seed(0))
    one_hot = torch.nn.functional.one_hot(ids, 7).float()
    assert torch.equal(stack(ids), stack(one_hot))
    saved = {k: v.clone() for k, v in stack.state_dict().items()}
    stack(one_hot)
    assert all(torch.equal(v, saved[k]) for k, v in stack.state_dict().items())


def test_hebbian_steps_learn_only_the_block_asked() -> None:
    stack = build_sequence_stack([RNN, LATERAL], 5, "oja", depth=2)
    rnn, lateral = stack.blocks
    w, lat = rnn.weight.clone(), lateral.lateral.clone()
    x = _x()
    stack.hebbian_step(1, x, 0.05)
    assert not torch.equal(rnn.weight, w) and torch.equal(lateral.lateral, lat)
    w = rnn.weight.clone()
    stack.hebbian_step(2, stack(x, 1), 0.05, factor=0.5)
    assert torch.equal(rnn.weight, w) and not torch.equal(lateral.lateral, lat)
    assert lateral.eta == 0.01 and not lateral.training  # restored after the step
    assert torch.equal(lateral.lateral.diagonal(), torch.zeros(10))
    assert stack.convergence(2) == float(lateral.lateral.abs().max())


def test_overrides_and_rule_copies() -> None:
    stack = build_sequence_stack([{"type": "rnn"}, RNN], 5, "krotov", depth=2,
                                 overrides={"layers[0].units": 9, "layers[1].activation": "identity"})
    assert stack.out_features == [9, 12]
    assert stack.blocks[0].rule is not stack.blocks[1].rule
    with pytest.raises(ValueError, match=r"option 'layers\[5\]\.units': there are 2 layers"):
        build_sequence_stack([RNN, RNN], 5, "oja", depth=1, overrides={"layers[5].units": 3})
    with pytest.raises(ValueError, match=r"layer 1 \(rnn\): .*k"):  # Krotov's k (7) must be < units
        build_sequence_stack([{"type": "rnn", "units": 4}], 5, "krotov", depth=1)
    with pytest.raises(ValueError, match="depth must be an int in 1..1"):
        build_sequence_stack([RNN], 5, "oja", depth=2)


@pytest.mark.parametrize(("layers", "field", "message"), [
    ([{"type": "gru", "units": 3}], "layers[0].type", "expected one of 'rnn', 'lateral', 'memoria'"),
    ([{"units": 3}], "layers[0].type", "missing"),
    ([RNN, {"type": "rnn"}], "layers[1].units", "missing"),
    ([{"type": "rnn", "units": 3, "kernel": 3}], "layers[0].kernel", "unknown key for type 'rnn'"),
    ([{"type": "rnn", "units": 3, "activation": "swish"}], "layers[0].activation", "expected one of"),
    ([{"type": "rnn", "units": 3, "power": 2}], "layers[0].power", "needs activation 'relu_power'"),
    ([{"type": "rnn", "units": 3, "bias": 1}], "layers[0].bias", "expected true or false"),
    ([{"type": "lateral", "units": 3, "connectivity_prob": 2}], "layers[0].connectivity_prob", "<= 1"),
    ([{"type": "lateral", "units": 3, "connectivity": "some"}], "layers[0].connectivity", "expected one of"),
    ([{"type": "memoria", "initial_lifespan": 0}], "layers[0].initial_lifespan", "expected an integer >= 1"),
])
def test_layer_errors_name_the_field(layers, field, message) -> None:
    if layers[-1].get("type") == "memoria":
        pytest.importorskip("memoria")
    with pytest.raises(LayerSpecError, match=message) as info:
        check_sequence_layers(layers)
    assert info.value.field == field


def test_memoria_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_recurrent_stack, "memoria_available", lambda: False)
    with pytest.raises(LayerSpecError) as info:
        check_sequence_layers([RNN, {"type": "memoria"}])
    assert info.value.field == "layers[1].type"
    assert info.value.expected == "MemoriaLayer needs the optional extra: pip install 'hebbsearch[memoria]'"


def test_hebbian_gru_preset_shares_the_projection() -> None:
    model, stack = build_hebbian_gru(7, 7, "oja", hidden=6, seed=2)
    assert isinstance(model, BasicHebbianGRUModel) and model.lr == 0.0
    assert stack.blocks[0] is model.hebbian and isinstance(model.hebbian, HebbianLinear)
    ids = torch.randint(0, 7, (2, 5), generator=torch.Generator().manual_seed(0))
    x = torch.nn.functional.one_hot(ids, 7).float()
    projected = stack(ids, 1)
    assert projected.shape == (2, 5, 6)
    model.eval()
    out, _ = model.gru(projected)
    assert torch.allclose(model.fc(torch.relu(out)), model(x))
    w = model.weights.clone()
    stack.hebbian_step(1, x, 0.1)
    assert not torch.equal(model.weights, w) and not model.weights.requires_grad
    assert stack.num_hebbian_params() == 6 * 7
    with pytest.raises(ValueError, match="option 'hidden' must be an int >= 1"):
        build_hebbian_gru(7, 7, "oja", hidden=0)
