"""BasicHebbianGRUModel: the documented API (attributes, shapes), Hebbian learning only in training mode,
and the supervised head trained by backprop while the Hebbian weights get no gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hebbsearch.models import BasicHebbianGRUModel
from hebbsearch.rules import list_rules


def _x(batch=2, steps=3, features=512, seed=0) -> torch.Tensor:
    return torch.randn(batch, steps, features, generator=torch.Generator().manual_seed(seed))


def test_documented_api_as_written():
    model = BasicHebbianGRUModel(512, 256, 128)
    assert isinstance(model.weights, nn.Parameter) and model.weights.shape == (256, 512)
    assert not model.weights.requires_grad
    assert isinstance(model.gru, nn.GRU)
    assert (model.gru.input_size, model.gru.hidden_size, model.gru.batch_first) == (256, 256, True)
    assert isinstance(model.fc, nn.Linear) and (model.fc.in_features, model.fc.out_features) == (256, 128)
    out = model(_x())
    assert out.shape == (2, 3, 128) and out.dtype == torch.float32


def test_forward_is_projection_gru_relu_fc():
    model = BasicHebbianGRUModel(6, 4, 3, seed=0).eval()
    x = _x(features=6)
    y = x @ model.weights.T
    expected = model.fc(torch.relu(model.gru(y)[0]))
    torch.testing.assert_close(model(x), expected)


def test_hebbian_weights_change_only_in_training_mode():
    model = BasicHebbianGRUModel(16, 8, 2, lr=0.01, seed=0)
    before = model.weights.clone()
    model.eval()
    state = {key: value.clone() for key, value in model.state_dict().items()}
    model(_x(features=16))
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    model.train()
    model(_x(features=16))
    assert not torch.equal(model.weights, before)
    assert bool(torch.isfinite(model.weights).all())


def test_training_update_is_the_rule_step_on_all_rows():
    model = BasicHebbianGRUModel(5, 4, 2, rule="oja", lr=0.1, seed=0)
    x = _x(features=5).double()
    model.double()
    w = model.weights.detach().clone()
    rows = x.reshape(-1, 5)
    y = rows @ w.T
    expected = w + 0.1 * (y.T @ rows - (y.T @ y) @ w) / rows.shape[0]  # Oja on the B·T rows
    model(x)
    torch.testing.assert_close(model.weights.detach(), expected)


def test_head_gets_gradients_and_hebbian_weights_none():
    model = BasicHebbianGRUModel(16, 8, 2, lr=0.01, seed=0)
    out = model(_x(features=16))
    assert out.requires_grad
    out.square().mean().backward()
    assert model.weights.grad is None and not model.weights.requires_grad
    for name, param in list(model.gru.named_parameters()) + list(model.fc.named_parameters()):
        assert param.grad is not None and bool(param.grad.abs().sum() > 0), name
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    fc_before = model.fc.weight.detach().clone()
    optimizer.step()
    assert not torch.equal(model.fc.weight, fc_before)


@pytest.mark.parametrize("rule", list_rules())
def test_every_rule_works(rule):
    model = BasicHebbianGRUModel(6, 10, 3, rule=rule, lr=0.01, seed=0)
    before = model.weights.clone()
    out = model(_x(features=6))
    assert out.shape == (2, 3, 3) and bool(torch.isfinite(out).all())
    assert not torch.equal(model.weights, before)


def test_bad_arguments():
    model = BasicHebbianGRUModel(6, 4, 3)
    with pytest.raises(ValueError, match=r"\(batch, seq, 6\)"):
        model(torch.randn(2, 6))
    with pytest.raises(ValueError, match="lr"):
        BasicHebbianGRUModel(6, 4, 3, lr=-1.0)
    with pytest.raises(ValueError, match="output_dim"):
        BasicHebbianGRUModel(6, 4, 0)
