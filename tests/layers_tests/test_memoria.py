"""MemoriaLayer: a round trip through the memoria-pytorch package, and the optional-extra error."""

from __future__ import annotations

import sys

import pytest
import torch

from hebbsearch.errors import HebbsearchError
from hebbsearch.errors import MissingExtraError
from hebbsearch.layers import HebbianRNN, MemoriaLayer

HIDDEN = 6


def _h(batch=2, steps=3, seed=0) -> torch.Tensor:
    return torch.randn(batch, steps, HIDDEN, generator=torch.Generator().manual_seed(seed)).tanh()


def test_missing_package_gives_the_one_line_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "memoria", None)  # import memoria now raises ImportError
    with pytest.raises(MissingExtraError) as info:
        MemoriaLayer(HIDDEN)
    assert str(info.value) == "MemoriaLayer needs the optional extra: pip install 'hebbsearch[memoria]'"
    assert isinstance(info.value, ImportError) and isinstance(info.value, HebbsearchError)


def test_round_trip():
    pytest.importorskip("memoria")
    layer = MemoriaLayer(HIDDEN, num_reminded_stm=2, stm_capacity=4, ltm_search_depth=2, initial_lifespan=3,
                         num_final_ltms=2)
    h = _h()
    first = layer(h)
    assert first.shape == (2, 3, 2 * HIDDEN) and first.dtype == h.dtype
    assert torch.equal(first[..., :HIDDEN], h)
    assert torch.equal(first[..., HIDDEN:], torch.zeros_like(h))  # nothing to remind yet
    assert layer.num_engrams == 2 * 3  # the chunk is stored
    out = layer(_h(seed=1))
    summary = out[..., HIDDEN:]
    assert bool(summary.abs().sum() > 0)  # the first chunk is reminded
    # the summary is an attention-weighted mean of stored states: inside their bounding box
    assert float(summary.max()) <= float(h.max()) + 1e-6 and float(summary.min()) >= float(h.min()) - 1e-6
    for seed in range(2, 12):  # engrams move to long-term memory and old ones are forgotten
        out = layer(_h(seed=seed))
        assert out.shape == (2, 3, 2 * HIDDEN) and bool(torch.isfinite(out).all())
    assert 0 < layer.num_engrams < 2 * 3 * 12
    assert bool((layer.memoria.engrams.engrams_types == 3).any())  # long-term engrams exist
    with pytest.raises(ValueError, match="reset"):
        layer(torch.randn(5, 3, HIDDEN))
    layer.reset()
    assert layer.num_engrams == 0
    out = layer(torch.randn(5, 3, HIDDEN))
    assert out.shape == (5, 3, 2 * HIDDEN) and torch.equal(out[..., HIDDEN:], torch.zeros(5, 3, HIDDEN))


def test_gradients_flow_through_the_hidden_half_only():
    pytest.importorskip("memoria")
    layer = MemoriaLayer(HIDDEN)
    layer(_h())
    h = _h(seed=1).requires_grad_()
    out = layer(h)
    out.sum().backward()
    assert torch.equal(h.grad, torch.ones_like(h))  # the summary half carries no graph


def test_after_a_hebbian_rnn():
    pytest.importorskip("memoria")
    rnn, memory = HebbianRNN(4, HIDDEN, "oja", seed=0), MemoriaLayer(HIDDEN)
    for seed in range(3):
        out = memory(rnn(torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(seed))))
    assert out.shape == (2, 5, 2 * HIDDEN)


def test_bad_arguments_and_shapes():
    pytest.importorskip("memoria")
    with pytest.raises(ValueError, match="stm_capacity"):
        MemoriaLayer(HIDDEN, stm_capacity=-1)
    with pytest.raises(ValueError, match="hidden_size"):
        MemoriaLayer(0)
    with pytest.raises(ValueError, match=r"\(batch, seq, 6\)"):
        MemoriaLayer(HIDDEN)(torch.randn(2, HIDDEN))
