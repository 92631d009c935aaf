"""The study-file keys of sequence studies: ``[data] seq_len | sequential | file | probe_rows``, recurrent
``[[model.layers]]`` (``rnn``, ``lateral``, ``memoria``, with searchable values), the ``hebbian_gru``
preset, and ``[model] baseline | baseline_epochs | baseline_lr``.

A layer value written as a table (``stm_capacity = {low = 8, high = 32}``, ``units = {choices = [..]}``)
is searched: it becomes the model option ``layers[i].key`` (Optuna parameter ``model.layers[i].key``) and
is left out of the stored layer table. Every fixed value, and every end or choice of a searched one, is
checked when the file is read.
"""

from __future__ import annotations

from typing import Any

from hebbsearch.data import LAYOUTS, is_sequence_dataset
from hebbsearch.models import LayerSpecError, check_sequence_layers, list_sequence_presets
from hebbsearch.models._recurrent_stack import SEQUENCE_PRESETS, is_sequence_layers
from hebbsearch.study._schema import DataSection, ModelSection
from hebbsearch.study._specs import (
    POSITIVE_FLOAT,
    POSITIVE_INT,
    Choice,
    ErrorContext,
    Fixed,
    FloatRange,
    IntRange,
    Kind,
    Spec,
    check_scalar,
    parse_option_spec,
    parse_spec,
)

SEQUENCE_DATA_KEYS = ("seq_len", "sequential", "file", "probe_rows")
BASELINE_KEYS = ("baseline", "baseline_epochs", "baseline_lr")
BASELINES = ("none", "backprop")
DEFAULT_SEQ_LEN = 64
DEFAULT_PROBE_ROWS = 262_144


def _is_text(dataset: str) -> bool:
    return "".join(ch for ch in dataset.lower() if ch.isalnum()) == "text"


def parse_sequence_data(ctx: ErrorContext, t: dict[str, Any], dataset: str) -> dict[str, Any]:
    """``seq_len``, ``sequential``, ``file``, ``probe_rows`` of ``[data]`` (None where they do not apply)."""
    text = _is_text(dataset)
    seq_images = not text and is_sequence_dataset(dataset)
    for key in ("seq_len", "file", "probe_rows"):
        if key in t and not text:
            raise ctx.error(f"data.{key}", f"only for dataset 'text', got dataset {dataset!r}")
    if "sequential" in t and text:
        raise ctx.error("data.sequential", "dataset 'text' is already a sequence of characters; remove it")
    out: dict[str, Any] = {"seq_len": None, "sequential": None, "file": None, "probe_rows": None}
    if text:
        out["seq_len"] = check_scalar(ctx, "data.seq_len", t.get("seq_len", DEFAULT_SEQ_LEN), POSITIVE_INT)
        out["probe_rows"] = check_scalar(ctx, "data.probe_rows", t.get("probe_rows", DEFAULT_PROBE_ROWS),
                                         POSITIVE_INT)
        if "file" in t:
            out["file"] = check_scalar(ctx, "data.file", t["file"], Kind(str))
    elif "sequential" in t or seq_images:
        out["sequential"] = check_scalar(ctx, "data.sequential", t.get("sequential", "rows"),
                                         Kind(str, strings=LAYOUTS))
    return out


def is_sequence_model(t: dict[str, Any]) -> bool:
    """True when ``[model]`` names a sequence preset or has recurrent ``[[model.layers]]``."""
    return t.get("preset") in SEQUENCE_PRESETS or is_sequence_layers(t.get("layers"))


def _candidates(spec: Spec) -> list[Any]:
    if isinstance(spec, Fixed):
        return [spec.value]
    if isinstance(spec, Choice):
        return list(spec.choices)
    if isinstance(spec, IntRange | FloatRange):
        return [spec.low, spec.high]
    return []


def _parse_probe_after(ctx: ErrorContext, raw: Any, deepest: int, what: str) -> Spec:
    if isinstance(raw, list):
        if not raw:
            raise ctx.error("model.probe_after", "expected an integer >= 1 or a non-empty list of them")
        values = tuple(check_scalar(ctx, "model.probe_after", v, POSITIVE_INT) for v in raw)
        if len(set(values)) != len(values):
            raise ctx.error("model.probe_after", "expected distinct values")
        spec: Spec = Choice(values) if len(values) > 1 else Fixed(values[0])
    else:
        spec = parse_spec(ctx, "model.probe_after", raw, POSITIVE_INT, pair_is_range=False)
    highest = max(_candidates(spec))
    if highest > deepest:
        raise ctx.error("model.probe_after", f"expected at most {deepest} ({what}), got {highest}")
    return spec


def _parse_layers(ctx: ErrorContext, raw: Any) -> tuple[tuple[dict[str, Any], ...], dict[str, Spec]]:
    """Recurrent layer tables → (fixed tables without the searched keys, searched ``layers[i].key`` specs)."""
    if not isinstance(raw, list) or not raw:
        raise ctx.error("model.layers", "expected a non-empty list of [[model.layers]] tables")
    fixed: list[dict[str, Any]] = []
    searched: dict[str, Spec] = {}
    for i, layer in enumerate(raw):
        if not isinstance(layer, dict):
            raise ctx.error(f"model.layers[{i}]", "expected a table of layer settings")
        table = {}
        for key, value in layer.items():
            if isinstance(value, dict) and key != "type":
                searched[f"layers[{i}].{key}"] = parse_option_spec(ctx, f"model.layers[{i}].{key}", value)
            else:
                table[key] = value
        fixed.append(table)
    # check the fixed values with every searched key at each of its ends or choices (one at a time)
    first = {name: _candidates(spec)[0] for name, spec in searched.items()}
    trials = [first] + [{**first, name: value} for name, spec in searched.items()
                        for value in _candidates(spec)[1:]]
    for values in trials:
        tables = [dict(table) for table in fixed]
        for name, value in values.items():
            head, _, key = name.partition(".")
            tables[int(head[len("layers["):-1])][key] = value
        try:
            check_sequence_layers(tables)
        except LayerSpecError as e:
            raise ctx.error(f"model.{e.field}", e.expected) from None
    return tuple(fixed), searched


def parse_sequence_model(ctx: ErrorContext, t: dict[str, Any]) -> ModelSection:
    """``[model]`` of a sequence study: recurrent ``layers`` or the ``hebbian_gru`` preset, ``probe_after``
    and the baseline keys."""
    t = dict(t)
    t_keys = set(t)
    options: dict[str, Spec] = {}
    layers = None
    if "layers" in t:
        if "preset" in t:
            raise ctx.error("model.layers", "give either 'preset' or 'layers', not both")
        layers, options = _parse_layers(ctx, t.pop("layers"))
        preset = "layers"
        allowed: tuple[str, ...] = ()
        probe_after = _parse_probe_after(ctx, t.pop("probe_after", 1), len(layers),
                                         f"the number of layers, {len(layers)}")
    else:
        preset = check_scalar(ctx, "model.preset", t.pop("preset"), Kind(str))
        allowed = tuple(SEQUENCE_PRESETS[preset])
        probe_after = _parse_probe_after(ctx, t.pop("probe_after", 1), 1,
                                         f"preset {preset!r} has one Hebbian layer")
    baseline = check_scalar(ctx, "model.baseline", t.pop("baseline", "none"), Kind(str, strings=BASELINES))
    baseline_epochs = t.pop("baseline_epochs", None)
    if baseline_epochs is not None:
        baseline_epochs = check_scalar(ctx, "model.baseline_epochs", baseline_epochs, POSITIVE_INT)
    baseline_lr = check_scalar(ctx, "model.baseline_lr", t.pop("baseline_lr", 0.001), POSITIVE_FLOAT)
    for key in ("baseline_epochs", "baseline_lr"):
        if key in t_keys and baseline == "none":
            raise ctx.error(f"model.{key}", "needs model.baseline = 'backprop'")
    for key, value in t.items():
        if key not in allowed:
            known = ", ".join(["layers" if layers is not None else "preset", "probe_after", *allowed,
                               *BASELINE_KEYS])
            raise ctx.error(f"model.{key}", f"unknown key for a sequence model; expected one of: {known}")
        options[key] = parse_option_spec(ctx, f"model.{key}", value)
        for candidate in _candidates(options[key]):
            if isinstance(candidate, bool) or not isinstance(candidate, int) or candidate < 1:
                raise ctx.error(f"model.{key}", f"expected an integer >= 1, got {candidate!r}")
    return ModelSection(preset, probe_after, options, layers, baseline=baseline,
                        baseline_epochs=baseline_epochs, baseline_lr=baseline_lr)


def model_is_sequence(model: ModelSection) -> bool:
    return model.preset in SEQUENCE_PRESETS or (model.layers is not None and is_sequence_layers(model.layers))


def check_sequence_study(ctx: ErrorContext, data: DataSection, model: ModelSection) -> None:
    """A recurrent model needs sequence data and an image model image data: one line naming the field."""
    sequences = data.seq_len is not None or data.sequential is not None
    recurrent = model_is_sequence(model)
    if recurrent and not sequences:
        where = "model.preset" if model.layers is None else "model.layers[0].type"
        what = f"preset {model.preset!r} needs" if model.layers is None else "recurrent layers need"
        raise ctx.error(where, f"{what} sequences (B, T, F), but dataset {data.dataset!r} gives images "
                               f"(C, H, W): set data.sequential = 'rows' or 'pixels', or use dataset 'text'")
    if sequences and not recurrent:
        where = "data.sequential" if data.sequential is not None else "data.dataset"
        what = f"preset {model.preset!r} takes" if model.layers is None else "conv and linear layers take"
        raise ctx.error(where, f"dataset {data.dataset!r} gives sequences (B, T, F), but {what} images: "
                               f"use [[model.layers]] of type 'rnn' (also 'lateral', 'memoria') or preset "
                               f"{', '.join(map(repr, list_sequence_presets()))}")


__all__ = ["BASELINES", "SEQUENCE_DATA_KEYS", "check_sequence_study", "is_sequence_model",
           "model_is_sequence", "parse_sequence_data", "parse_sequence_model"]
