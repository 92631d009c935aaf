"""Study files (TOML text or a path) → :class:`StudyConfig`: one parser per section.

The ``[search]`` section (rules and their hyperparameters) is parsed in :mod:`._search`; sampler and
pruner tables are checked in :mod:`._plugins`; values become :data:`Spec` in :mod:`._specs`.
"""

from __future__ import annotations

import importlib.util
import math
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from hebbsearch.data import NORMALIZATIONS, is_known_dataset, list_datasets
from hebbsearch.errors import ConfigError, first_line
from hebbsearch.models import LayerSpecError, list_presets, preset_from_layers, preset_options
from hebbsearch.study._plugins import PRUNERS, SAMPLER_PACKAGES, SAMPLERS, build_pruner, build_sampler
from hebbsearch.study._schema import (
    DataSection,
    HebbianSection,
    ModelSection,
    ProbeSection,
    PrunerConfig,
    SamplerConfig,
    StudyConfig,
    StudySection,
)
from hebbsearch.study._search import parse_search_section
from hebbsearch.study._sequences import (
    SEQUENCE_DATA_KEYS,
    check_sequence_study,
    is_sequence_model,
    parse_sequence_data,
    parse_sequence_model,
)
from hebbsearch.study._specs import (
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    Choice,
    ErrorContext,
    Fixed,
    IntRange,
    Kind,
    PerLayer,
    Spec,
    check_known_keys,
    check_scalar,
    describe_value,
    expect_table,
    parse_option_spec,
    parse_spec,
)
from hebbsearch.training import LR_SCHEDULES, OPTIMIZERS, PROBE_SCHEDULES

_TOP = ("study", "data", "model", "hebbian", "probe", "search")


def parse_study_text(text: str, source: str, *, default_name: str | None = None) -> StudyConfig:
    """Validate the TOML ``text`` of a study file; ``source`` names it in error messages."""
    ctx = ErrorContext(source)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {first_line(e)}", source=source) from None
    check_known_keys(ctx, "", raw, _TOP)
    for section in ("study", "data", "model"):
        if section not in raw:
            raise ctx.error(section, f"missing section [{section}]")
    study = parse_study_section(ctx, raw["study"], default_name or Path(source).stem)
    data = parse_data_section(ctx, raw["data"])
    model = parse_model_section(ctx, raw["model"])
    check_sequence_study(ctx, data, model)
    search, search_dropout = parse_search_section(ctx, raw.get("search", {}))
    hebbian = parse_hebbian_section(ctx, raw.get("hebbian", {}))
    probe = parse_probe_section(ctx, raw.get("probe", {}), search_dropout)
    if data.kind != "image" and probe.augment != Fixed("none"):
        raise ctx.error("probe.augment", f"mirrored images are for image datasets, not {data.kind} data; "
                                         "expected 'none'")
    if study.sampler.name == "bruteforce":
        check_bruteforce(ctx, study, model, hebbian, probe, search)
    check_per_layer(ctx, data, model, hebbian, search)
    if search.every_depth and isinstance(model.probe_after, Fixed):
        raise ctx.error("search.every_depth",
                        "needs several probe positions (model.probe_after = [1, 2, ...])")
    return StudyConfig(source, text, study, data, model, hebbian, probe, search)


def check_per_layer(ctx: ErrorContext, data: Any, model: Any, hebbian: Any, search: Any) -> None:
    """Per-layer values (``{layers = [...]}``, a list of Hebbian epochs) cover the deepest ``probe_after``;
    per-layer learning rates and rule hyperparameters are for image stacks."""
    deepest = max(model.probe_after.choices) if isinstance(model.probe_after, Choice) else (
        model.probe_after.high if isinstance(model.probe_after, IntRange) else model.probe_after.value)
    specs = {"hebbian.epochs": hebbian.epochs, "hebbian.lr": hebbian.lr,
             **{f"search.{rule}.{key}": spec for rule, params in search.rule_params.items()
                for key, spec in params.items()}}
    for where, spec in specs.items():
        if not isinstance(spec, PerLayer):
            continue
        if where != "hebbian.epochs" and data.kind != "image":
            raise ctx.error(where, f"one value per layer is for image stacks, not {data.kind} data; "
                                   "expected a single value or a search range")
        if len(spec.value) < deepest:
            raise ctx.error(where, f"expected at least {deepest} per-layer values "
                                   f"(model.probe_after goes up to {deepest}), got {len(spec.value)}")


def _count(spec: Spec) -> int | None:
    """Values ``spec`` can take: 1 when fixed, None when not countable (a float range without a step)."""
    if isinstance(spec, Fixed):
        return 1
    if isinstance(spec, Choice):
        return len(spec.choices)
    if isinstance(spec, IntRange):
        return (spec.high - spec.low) // spec.step + 1 if not spec.log else None
    if spec.step is None or spec.log:
        return None
    return int(math.floor((spec.high - spec.low) / spec.step + 1e-9)) + 1


def check_bruteforce(ctx: ErrorContext, study: Any, model: Any, hebbian: Any, probe: Any, search: Any) -> None:
    """``[study.sampler] name = "bruteforce"`` tries every combination once: each searched value must be a
    list of choices, an integer range or a float range with a step, and ``n_trials`` at most the number of
    combinations (a rule's hyperparameters count only under that rule)."""
    shared = {"model.probe_after": model.probe_after,
              **{f"model.{k}": v for k, v in model.options.items()},
              **{f"hebbian.{f.name}": getattr(hebbian, f.name) for f in fields(hebbian)},
              **{f"probe.{f.name}": getattr(probe, f.name) for f in fields(probe)}}
    per_rule = {rule: {f"search.{rule}.{k}": v for k, v in search.rule_params.get(rule, {}).items()}
                for rule in search.rules}
    combinations = 0
    for rule, specs in per_rule.items():
        product = 1
        for where, spec in {**shared, **specs}.items():
            count = _count(spec)
            if count is None:
                raise ctx.error(where, "the bruteforce sampler tries every value: expected a list of choices, an "
                                       "integer range or a float range with a step")
            product *= count
        combinations += product
    if study.n_trials > combinations:
        raise ctx.error("study.n_trials", f"the bruteforce sampler has {combinations} combination(s) of the "
                                          f"searched values, got n_trials = {study.n_trials}")


def load_study_file(path: str | Path) -> StudyConfig:
    """Read and validate a study file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read study file: {e.strerror or e}", source=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("cannot read study file: not UTF-8 text", source=str(path)) from None
    return parse_study_text(text, str(path), default_name=path.stem)

def parse_study_section(ctx: ErrorContext, raw: dict[str, Any], default_name: str) -> StudySection:
    t = expect_table(ctx, "study", raw)
    check_known_keys(ctx, "study", t,
                     ("name", "direction", "n_trials", "timeout", "seed", "sampler", "pruner"))
    name = check_scalar(ctx, "study.name", t.get("name", default_name), Kind(str))
    if not name.strip():
        raise ctx.error("study.name", "expected a non-empty string")
    if any(not ch.isprintable() for ch in name):
        raise ctx.error("study.name", f"expected printable characters (no newline, tab or other control "
                                      f"character), got {name!r}")
    direction = check_scalar(ctx, "study.direction", t.get("direction", "maximize"),
                             Kind(str, strings=("maximize", "minimize")))
    n_trials = check_scalar(ctx, "study.n_trials", t.get("n_trials", 20), POSITIVE_INT)
    timeout = t.get("timeout")
    if timeout is not None:
        timeout = check_scalar(ctx, "study.timeout", timeout, POSITIVE_FLOAT)
    seed = check_scalar(ctx, "study.seed", t.get("seed", 0), Kind(int, low=0))
    sampler = SamplerConfig(**_plugin(ctx, "study.sampler", t.get("sampler", {}), SAMPLERS, "tpe"))
    pruner = PrunerConfig(**_plugin(ctx, "study.pruner", t.get("pruner", {}), PRUNERS, "median"))
    if sampler.name in SAMPLER_PACKAGES:
        package = SAMPLER_PACKAGES[sampler.name]
        if importlib.util.find_spec(package) is None:
            raise ctx.error("study.sampler.name", f"sampler {sampler.name!r} needs the {package!r} package, "
                                                  f"which is not installed (pip install {package})")
    section = StudySection(name, direction, n_trials, timeout, seed, sampler, pruner)
    # Build both once so bad keyword arguments fail now, not in the middle of a run.
    build_sampler(section, source=ctx.source)
    build_pruner(section, source=ctx.source)
    return section


def _plugin(ctx: ErrorContext, where: str, raw: Any, names: tuple[str, ...], default: str) -> dict[str, Any]:
    t = dict(expect_table(ctx, where, raw))
    name = check_scalar(ctx, f"{where}.name", t.pop("name", default), Kind(str, strings=names))
    return {"name": name, "kwargs": t}


def parse_data_section(ctx: ErrorContext, raw: Any) -> DataSection:
    t = expect_table(ctx, "data", raw)
    check_known_keys(ctx, "data", t, ("dataset", "root", "val_split", "subset", "batch_size", "normalize",
                                      *SEQUENCE_DATA_KEYS))
    if "dataset" not in t:
        raise ctx.error("data.dataset", "missing; expected a dataset name")
    dataset = check_scalar(ctx, "data.dataset", t["dataset"], Kind(str))
    _check_dataset(ctx, dataset)
    root = t.get("root")
    if root is not None:
        root = check_scalar(ctx, "data.root", root, Kind(str))
    val_split = t.get("val_split", 0.1)
    if isinstance(val_split, int) and not isinstance(val_split, bool):
        val_split = check_scalar(ctx, "data.val_split", val_split, Kind(int, low=1))
    else:
        if not isinstance(val_split, float):
            raise ctx.error("data.val_split", f"expected a fraction in (0, 1) or a number of samples >= 1, "
                                              f"got {describe_value(val_split)}")
        val_split = check_scalar(ctx, "data.val_split", val_split,
                                 Kind(float, low=0, low_exclusive=True, high=1, high_exclusive=True))
    subset = t.get("subset")
    if subset is not None:
        subset = check_scalar(ctx, "data.subset", subset, POSITIVE_INT)
    batch_size = check_scalar(ctx, "data.batch_size", t.get("batch_size", 1000), POSITIVE_INT)
    normalize = check_scalar(ctx, "data.normalize", t.get("normalize", "standard"),
                             Kind(str, strings=NORMALIZATIONS))
    return DataSection(dataset, root, val_split, subset, batch_size, normalize,
                       **parse_sequence_data(ctx, t, dataset))


def _check_dataset(ctx: ErrorContext, dataset: str) -> None:
    """Accept what :func:`hebbsearch.data.load_dataset` accepts: a listed name (case, dashes and
    underscores do not matter), a sequence dataset or any torchvision.datasets class."""
    if not is_known_dataset(dataset):
        raise ctx.error("data.dataset", f"unknown dataset {dataset!r}; known datasets: "
                                        f"{', '.join(list_datasets())} (or any torchvision.datasets class)")


def parse_model_section(ctx: ErrorContext, raw: Any) -> ModelSection:
    t = dict(expect_table(ctx, "model", raw))
    if is_sequence_model(t):  # recurrent layers, hebbian_gru: hebbsearch.study._sequences
        return parse_sequence_model(ctx, t)
    layers = None
    if "layers" in t:
        if "preset" in t:
            raise ctx.error("model.layers", "give either 'preset' or 'layers', not both")
        layers = _parse_layers(ctx, t.pop("layers"))
        preset = "layers"
    elif "preset" not in t:
        raise ctx.error("model.preset", "missing; expected a preset name (or the layers as [[model.layers]])")
    else:
        preset = check_scalar(ctx, "model.preset", t.pop("preset"), Kind(str))
        presets = list_presets()
        if preset not in presets:
            raise ctx.error("model.preset", f"unknown preset {preset!r}; known presets: {', '.join(presets)}")
    probe_after_raw = t.pop("probe_after", 1)
    if isinstance(probe_after_raw, list):
        if not probe_after_raw:
            raise ctx.error("model.probe_after", "expected an integer >= 1 or a non-empty list of them")
        values = tuple(check_scalar(ctx, "model.probe_after", v, POSITIVE_INT) for v in probe_after_raw)
        if len(set(values)) != len(values):
            raise ctx.error("model.probe_after", "expected distinct values")
        probe_after: Spec = Choice(values) if len(values) > 1 else Fixed(values[0])
    else:
        probe_after = parse_spec(ctx, "model.probe_after", probe_after_raw, POSITIVE_INT, pair_is_range=False)
    options: dict[str, Spec] = {}
    for key, value in t.items():
        where = f"model.{key}"
        if layers is not None and key not in LAYERS_OPTIONS:
            known = ", ".join(["layers", "probe_after", *LAYERS_OPTIONS])
            raise ctx.error(where, f"unknown key with [[model.layers]] (set it per layer); "
                                   f"expected one of: {known}")
        allowed = preset_options(preset) if layers is None else None
        if allowed is not None and key not in allowed:
            known = ", ".join(["preset", "probe_after", *allowed])
            raise ctx.error(where, f"unknown key for preset {preset!r}; expected one of: {known}")
        options[key] = parse_option_spec(ctx, where, value)
    return ModelSection(preset, probe_after, options, layers)


# Options of the whole stack that still apply when the layers are written out one by one.
LAYERS_OPTIONS = ("width", "init", "padding_mode")


def _parse_layers(ctx: ErrorContext, raw: Any) -> tuple[dict[str, Any], ...]:
    """``[[model.layers]]``: checked by the models package, errors pointed at ``model.layers[i].key``."""
    try:
        preset_from_layers(raw)
    except LayerSpecError as e:
        raise ctx.error(f"model.{e.field}", e.expected) from None
    return tuple(dict(layer) for layer in raw)


def parse_hebbian_section(ctx: ErrorContext, raw: Any) -> HebbianSection:
    t = expect_table(ctx, "hebbian", raw)
    d = HebbianSection()
    check_known_keys(ctx, "hebbian", t, ("epochs", "lr", "lr_schedule", "batch_size"))
    epochs_raw = t.get("epochs", d.epochs.value)
    if isinstance(epochs_raw, list):  # per-layer epochs, not a range: the same as {layers = [...]}
        if not epochs_raw:
            raise ctx.error("hebbian.epochs", "expected an integer >= 1 or a per-layer list of them")
        epochs: Spec = PerLayer(tuple(check_scalar(ctx, "hebbian.epochs", e, NON_NEGATIVE_INT)
                                      for e in epochs_raw))
    else:
        epochs = parse_spec(ctx, "hebbian.epochs", epochs_raw, NON_NEGATIVE_INT, per_layer=True)
    return HebbianSection(
        epochs=epochs,
        lr=parse_spec(ctx, "hebbian.lr", t.get("lr", d.lr.value), POSITIVE_FLOAT, per_layer=True),
        lr_schedule=parse_spec(ctx, "hebbian.lr_schedule", t.get("lr_schedule", d.lr_schedule.value),
                               Kind(str, strings=LR_SCHEDULES)),
        batch_size=parse_spec(ctx, "hebbian.batch_size", t.get("batch_size", d.batch_size.value),
                              POSITIVE_INT),
    )


_DROPOUT = Kind(float, low=0, high=1, high_exclusive=True)
#: ``[probe] augment``: "none", or "flip" (the training images mirrored left-right, as extra probe rows)
AUGMENTS = ("none", "flip")


def parse_probe_section(ctx: ErrorContext, raw: Any, search_dropout: Any) -> ProbeSection:
    t = expect_table(ctx, "probe", raw)
    d = ProbeSection()
    check_known_keys(ctx, "probe", t, ("epochs", "optimizer", "lr", "lr_schedule", "batch_size",
                                       "weight_decay", "dropout", "augment"))
    if "dropout" in t and search_dropout is not None:
        raise ctx.error("search.dropout", "dropout is also set in [probe]; give it in one place")
    dropout_where, dropout_raw = (("search.dropout", search_dropout) if search_dropout is not None
                                  else ("probe.dropout", t.get("dropout", d.dropout.value)))
    return ProbeSection(
        epochs=parse_spec(ctx, "probe.epochs", t.get("epochs", d.epochs.value), POSITIVE_INT),
        optimizer=parse_spec(ctx, "probe.optimizer", t.get("optimizer", d.optimizer.value),
                             Kind(str, strings=OPTIMIZERS)),
        lr=parse_spec(ctx, "probe.lr", t.get("lr", d.lr.value), POSITIVE_FLOAT),
        lr_schedule=parse_spec(ctx, "probe.lr_schedule", t.get("lr_schedule", d.lr_schedule.value),
                               Kind(str, strings=PROBE_SCHEDULES)),
        batch_size=parse_spec(ctx, "probe.batch_size", t.get("batch_size", d.batch_size.value), POSITIVE_INT),
        weight_decay=parse_spec(ctx, "probe.weight_decay", t.get("weight_decay", d.weight_decay.value),
                                Kind(float, low=0)),
        dropout=parse_spec(ctx, dropout_where, dropout_raw, _DROPOUT),
        augment=parse_spec(ctx, "probe.augment", t.get("augment", d.augment.value), Kind(str, strings=AUGMENTS)),
    )


__all__ = ["load_study_file", "parse_study_text"]
