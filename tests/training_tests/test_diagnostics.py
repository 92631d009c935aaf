"""Collapse diagnostics: dead (never winning) units, inactive units, near-duplicate units."""

from __future__ import annotations

import torch

from hebbsearch.models import build_sequence_stack, build_stack
from hebbsearch.training import LayerDiagnostics, duplicate_fraction, layer_diagnostics


def test_duplicate_fraction_counts_units_with_a_near_twin() -> None:
    w = torch.eye(6)
    assert duplicate_fraction(w) == 0.0
    w[1] = w[0] * 3.0          # same direction, other norm: a duplicate of unit 0 (and 0 of it)
    w[2] = w[0] + 1e-4         # nearly the same
    assert duplicate_fraction(w) == 0.5
    assert duplicate_fraction(torch.ones(1, 4)) == 0.0


def test_layer_diagnostics_on_a_healthy_and_a_collapsed_layer() -> None:
    torch.manual_seed(0)
    stack = build_stack("krotov_fc", (1, 8, 8), "krotov", depth=1, hidden=40, power=1.0, seed=0)
    x = torch.randn(300, 1, 8, 8)
    (healthy,) = layer_diagnostics(stack, x, depth=1, batch_size=128)
    assert healthy.units == 40 and healthy.collapsed is None
    assert healthy.dead < 0.5 and healthy.duplicates == 0.0
    layer = stack.blocks[0].layer
    with torch.no_grad():
        layer.weight[:] = layer.weight[0]            # every unit the same: one winner at most
    (collapsed,) = layer_diagnostics(stack, x, depth=1)
    assert collapsed.duplicates == 1.0 and collapsed.dead >= 39 / 40
    assert "never win" in collapsed.collapsed or "near-duplicates" in collapsed.collapsed


def test_small_layers_are_never_called_collapsed() -> None:
    assert LayerDiagnostics(units=5, dead=0.8, inactive=0.0, duplicates=1.0).collapsed is None
    assert LayerDiagnostics(units=100, dead=0.96, inactive=0.0, duplicates=0.0).collapsed.startswith("96%")


def test_layer_diagnostics_of_a_recurrent_stack_count_every_step() -> None:
    """Sequences: every step of every sequence is a sample; a Memoria-free stack of an RNN and a lateral
    layer, healthy, then with every RNN unit the same (one winner at every step)."""
    torch.manual_seed(0)
    stack = build_sequence_stack([{"type": "rnn", "units": 40}, {"type": "lateral", "units": 30}], 6, "oja",
                                 depth=2, seed=0)
    x = torch.randint(0, 6, (50, 12))  # character ids: the stack encodes them
    rnn, lateral = layer_diagnostics(stack, x, depth=2, batch_size=16)
    assert (rnn.units, lateral.units) == (40, 30)
    assert rnn.collapsed is None and rnn.dead < 0.5 and rnn.duplicates == 0.0
    assert lateral.collapsed is None
    with torch.no_grad():
        stack.blocks[0].weight[:] = stack.blocks[0].weight[0]
    collapsed, _ = layer_diagnostics(stack, x, depth=2)
    assert collapsed.duplicates == 1.0 and collapsed.dead >= 39 / 40 and collapsed.collapsed
