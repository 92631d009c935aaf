"""Study-level baselines, stored as study user attributes and shown by ``report`` beside the best trial:
``baseline_raw_input`` (the study's probe on the raw, normalised input: every study, computed once by the
first worker), ``baseline_backprop`` (sequence studies: the same stack trained end to end with
backpropagation through time) and ``baseline_unigram`` (text: always the most frequent training
character).

Each attribute is ``{"val": accuracy, "test": accuracy, ...}`` (fractions; more keys say how it was
trained).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RAW_ATTR = "baseline_raw_input"
BACKPROP_ATTR = "baseline_backprop"
UNIGRAM_ATTR = "baseline_unigram"
BASELINE_LABELS = {RAW_ATTR: "Raw-input baseline", BACKPROP_ATTR: "Backprop baseline",
                   UNIGRAM_ATTR: "Unigram baseline"}

#: report rows holding accuracies (formatted as percentages)
PERCENT_ROWS = frozenset(f"{label} ({split})" for label in BASELINE_LABELS.values()
                         for split in ("val", "test"))


def baseline_rows(user_attrs: Mapping[str, Any]) -> list[tuple[str, float | None]]:
    """``[("Backprop baseline (val)", 0.41), ("Backprop baseline (test)", 0.40), ...]`` for the baselines
    a study stored (none for image studies)."""
    rows: list[tuple[str, float | None]] = []
    for attr, label in BASELINE_LABELS.items():
        value = user_attrs.get(attr)
        if isinstance(value, Mapping):
            rows += [(f"{label} (val)", value.get("val")), (f"{label} (test)", value.get("test"))]
    return rows


__all__ = ["BACKPROP_ATTR", "BASELINE_LABELS", "PERCENT_ROWS", "RAW_ATTR", "UNIGRAM_ATTR", "baseline_rows"]
