"""Study files (TOML) → :class:`StudyConfig`, a tree of frozen dataclasses.

Every value a study may search is a :data:`Spec`: :class:`Fixed`, :class:`IntRange`,
:class:`FloatRange` or :class:`Choice`. A study file writes them as::

    p = 3                                  # Fixed
    p = [2, 8]                             # range (rule hyperparameters, dropout, most numeric fields)
    lr = {low = 0.005, high = 0.1, log = true}
    optimizer = {choices = ["adam", "sgd"]}

Rule hyperparameters not mentioned in ``[search.<rule>]`` take the default search range the rule
declares (:class:`hebbsearch.rules.HyperParameter` ``low``/``high``/``log``), or its default value when
it declares no range. Everything wrong in a file raises :class:`~hebbsearch.errors.ConfigError` with one
line naming the file, the dotted field and what was expected.

Registries (rules, datasets, presets) are consulted when the file is loaded, not at import time, so
rules registered later are known.
"""

from __future__ import annotations

import inspect
import math
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hebbsearch.errors import ConfigError

# -- search specs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixed:
    """A value that is not searched."""

    value: Any


@dataclass(frozen=True)
class IntRange:
    """An integer range, ``trial.suggest_int(name, low, high, step=step, log=log)``."""

    low: int
    high: int
    log: bool = False
    step: int = 1


@dataclass(frozen=True)
class FloatRange:
    """A float range, ``trial.suggest_float(name, low, high, step=step, log=log)``."""

    low: float
    high: float
    log: bool = False
    step: float | None = None


@dataclass(frozen=True)
class Choice:
    """A categorical choice, ``trial.suggest_categorical(name, choices)``."""

    choices: tuple[Any, ...]


Spec = Fixed | IntRange | FloatRange | Choice


def is_searched(spec: Spec) -> bool:
    """True unless ``spec`` is :class:`Fixed`."""
    return not isinstance(spec, Fixed)


# -- sections -------------------------------------------------------------------------------------------

SAMPLERS = ("tpe", "random", "cmaes", "qmc", "gp")
PRUNERS = ("median", "hyperband", "successive_halving", "percentile", "none")
# samplers whose optional dependency Optuna imports only when sampling starts
_SAMPLER_PACKAGES = {"cmaes": "cmaes", "qmc": "scipy", "gp": "scipy"}


@dataclass(frozen=True)
class SamplerConfig:
    name: str = "tpe"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PrunerConfig:
    name: str = "median"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudySection:
    name: str
    direction: str = "maximize"
    n_trials: int = 20
    timeout: float | None = None
    seed: int = 0
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    pruner: PrunerConfig = field(default_factory=PrunerConfig)


@dataclass(frozen=True)
class DataSection:
    dataset: str
    root: str | None = None
    val_split: int | float = 0.1
    subset: int | None = None
    batch_size: int = 1000
    normalize: str = "standard"


@dataclass(frozen=True)
class ModelSection:
    preset: str
    probe_after: Spec = Fixed(1)
    options: dict[str, Spec] = field(default_factory=dict)


@dataclass(frozen=True)
class HebbianSection:
    epochs: Spec = Fixed(1)
    lr: Spec = Fixed(0.02)
    lr_schedule: Spec = Fixed("linear")
    batch_size: Spec = Fixed(100)


@dataclass(frozen=True)
class ProbeSection:
    epochs: Spec = Fixed(10)
    optimizer: Spec = Fixed("adam")
    lr: Spec = Fixed(1e-3)
    lr_schedule: Spec = Fixed("cosine")
    batch_size: Spec = Fixed(256)
    weight_decay: Spec = Fixed(0.0)
    dropout: Spec = Fixed(0.0)


@dataclass(frozen=True)
class SearchSection:
    rules: tuple[str, ...]
    rule_params: dict[str, dict[str, Spec]]
    """rule name → hyperparameter (or extra constructor keyword) → spec, defaults filled in."""


@dataclass(frozen=True)
class StudyConfig:
    """A validated study file."""

    source: str
    text: str
    study: StudySection
    data: DataSection
    model: ModelSection
    hebbian: HebbianSection
    probe: ProbeSection
    search: SearchSection

    def replace_study(self, **changes: Any) -> StudyConfig:
        """A copy with fields of ``[study]`` changed (e.g. ``n_trials`` from the command line)."""
        from dataclasses import replace

        return replace(self, study=replace(self.study, **changes))


# -- value checking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """What a scalar must be: a type and optional bounds or allowed strings."""

    type: type
    low: float | None = None
    low_exclusive: bool = False
    high: float | None = None
    high_exclusive: bool = False
    strings: tuple[str, ...] | None = None

    def describe(self) -> str:
        what = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[self.type]
        if self.strings is not None:
            return "one of: " + ", ".join(self.strings)
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_exclusive else '>='} {_num(self.low)}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_exclusive else '<='} {_num(self.high)}")
        return what + (" " + " and ".join(bounds) if bounds else "")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


class _Ctx:
    """Where an error is: the file and a dotted path."""

    def __init__(self, source: str):
        self.source = source

    def error(self, where: str, message: str) -> ConfigError:
        return ConfigError(message, source=self.source, field=where)


def _check_scalar(ctx: _Ctx, where: str, value: Any, kind: _Kind) -> Any:
    bad = ctx.error(where, f"expected {kind.describe()}, got {_show(value)}")
    if kind.type is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if kind.type is str:
        if not isinstance(value, str) or (kind.strings is not None and value not in kind.strings):
            raise bad
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad
    if kind.type is int:
        if isinstance(value, float):
            raise bad
    else:
        value = float(value)
        if not math.isfinite(value):
            raise bad
    if kind.low is not None and (value <= kind.low if kind.low_exclusive else value < kind.low):
        raise bad
    if kind.high is not None and (value >= kind.high if kind.high_exclusive else value > kind.high):
        raise bad
    return value


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _parse_spec(ctx: _Ctx, where: str, value: Any, kind: _Kind, *, pair_is_range: bool = True) -> Spec:
    """A scalar → Fixed; ``[low, high]`` (numbers, if allowed) or ``{low, high, log, step}`` → range;
    ``{choices = [...]}`` → Choice."""
    numeric = kind.type in (int, float)
    if isinstance(value, dict):
        if "choices" in value:
            extra = sorted(set(value) - {"choices"})
            if extra:
                raise ctx.error(f"{where}.{extra[0]}",
                                "unknown key; a {choices = [...]} table has no other keys")
            choices = value["choices"]
            if not isinstance(choices, list) or not choices:
                raise ctx.error(f"{where}.choices", "expected a non-empty list")
            checked = tuple(_check_scalar(ctx, f"{where}.choices", c, kind) for c in choices)
            if len(set(checked)) != len(checked):
                raise ctx.error(f"{where}.choices", "expected distinct values")
            return Choice(checked)
        if not numeric:
            raise ctx.error(where, f"expected {kind.describe()} or a {{choices = [...]}} table, got a table")
        _known_keys(ctx, where, value, ("low", "high", "log", "step"))
        for key in ("low", "high"):
            if key not in value:
                raise ctx.error(f"{where}.{key}", "missing; a range needs low and high")
        return _range(ctx, where, value["low"], value["high"], kind,
                      log=_check_scalar(ctx, f"{where}.log", value.get("log", False), _Kind(bool)),
                      step=value.get("step"))
    if isinstance(value, list):
        if numeric and pair_is_range and len(value) == 2:
            return _range(ctx, where, value[0], value[1], kind, labels=(f"{where}[0]", f"{where}[1]"))
        expected = "[low, high], {low = .., high = .., log = ..} or {choices = [...]}" if numeric else (
            "{choices = [...]}")
        raise ctx.error(where, f"expected {kind.describe()} or a search range {expected}, got a list")
    return Fixed(_check_scalar(ctx, where, value, kind))


def _range(ctx: _Ctx, where: str, low: Any, high: Any, kind: _Kind, *, log: bool = False,
           step: Any = None, labels: tuple[str, str] | None = None) -> Spec:
    low_where, high_where = labels or (f"{where}.low", f"{where}.high")
    low = _check_scalar(ctx, low_where, low, kind)
    high = _check_scalar(ctx, high_where, high, kind)
    if not low < high:
        raise ctx.error(where, f"expected low < high, got low={_num(low)}, high={_num(high)}")
    if log and low <= 0:
        raise ctx.error(f"{where}.low", f"a log range needs low > 0, got {_num(low)}")
    if kind.type is int:
        if step is not None:
            step = _check_scalar(ctx, f"{where}.step", step, _Kind(int, low=1))
        if log and step not in (None, 1):
            raise ctx.error(f"{where}.step", "a log range cannot have a step")
        return IntRange(int(low), int(high), log, step or 1)
    if step is not None:
        step = _check_scalar(ctx, f"{where}.step", step, _Kind(float, low=0, low_exclusive=True))
        if log:
            raise ctx.error(f"{where}.step", "a log range cannot have a step")
    return FloatRange(float(low), float(high), log, step)


def _known_keys(ctx: _Ctx, where: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            prefix = f"{where}." if where else ""
            raise ctx.error(f"{prefix}{key}", f"unknown key; expected one of: {', '.join(known)}")


def _table(ctx: _Ctx, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.error(where, f"expected a table [{where}], got {_show(value)}")
    return value


# -- sections -------------------------------------------------------------------------------------------

_POS_INT = _Kind(int, low=1)
_POS_FLOAT = _Kind(float, low=0, low_exclusive=True)
_NONNEG_INT = _Kind(int, low=0)


def _study_section(ctx: _Ctx, raw: dict[str, Any], default_name: str) -> StudySection:
    t = _table(ctx, "study", raw)
    _known_keys(ctx, "study", t, ("name", "direction", "n_trials", "timeout", "seed", "sampler", "pruner"))
    name = _check_scalar(ctx, "study.name", t.get("name", default_name), _Kind(str))
    if not name.strip():
        raise ctx.error("study.name", "expected a non-empty string")
    direction = _check_scalar(ctx, "study.direction", t.get("direction", "maximize"),
                              _Kind(str, strings=("maximize", "minimize")))
    n_trials = _check_scalar(ctx, "study.n_trials", t.get("n_trials", 20), _POS_INT)
    timeout = t.get("timeout")
    if timeout is not None:
        timeout = _check_scalar(ctx, "study.timeout", timeout, _POS_FLOAT)
    seed = _check_scalar(ctx, "study.seed", t.get("seed", 0), _Kind(int, low=0))
    sampler = SamplerConfig(**_plugin(ctx, "study.sampler", t.get("sampler", {}), SAMPLERS, "tpe"))
    pruner = PrunerConfig(**_plugin(ctx, "study.pruner", t.get("pruner", {}), PRUNERS, "median"))
    if sampler.name in _SAMPLER_PACKAGES:
        import importlib.util

        package = _SAMPLER_PACKAGES[sampler.name]
        if importlib.util.find_spec(package) is None:
            raise ctx.error("study.sampler.name", f"sampler {sampler.name!r} needs the {package!r} package, "
                                                  f"which is not installed (pip install {package})")
    section = StudySection(name, direction, n_trials, timeout, seed, sampler, pruner)
    # Build both once so bad keyword arguments fail now, not in the middle of a run.
    build_sampler(section, source=ctx.source)
    build_pruner(section, source=ctx.source)
    return section


def _plugin(ctx: _Ctx, where: str, raw: Any, names: tuple[str, ...], default: str) -> dict[str, Any]:
    t = dict(_table(ctx, where, raw))
    name = _check_scalar(ctx, f"{where}.name", t.pop("name", default), _Kind(str, strings=names))
    return {"name": name, "kwargs": t}


def _sampler_class(name: str) -> type:
    import optuna

    return {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "qmc": optuna.samplers.QMCSampler,
        "gp": optuna.samplers.GPSampler,
    }[name]


def _pruner_class(name: str) -> type:
    import optuna

    return {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "none": optuna.pruners.NopPruner,
    }[name]


# Keyword arguments a study file may not set: seed comes from [study].seed; the others need Python
# objects (callables, samplers, trials) that TOML cannot express.
_NOT_FROM_FILE = {"seed", "independent_sampler", "constraints_func", "gamma", "weights", "source_trials",
                  "x0", "search_space", "self"}


def _construct(ctx: _Ctx, where: str, cls: type, kwargs: dict[str, Any], extra: dict[str, Any]) -> Any:
    import optuna

    accepted = [n for n, p in inspect.signature(cls.__init__).parameters.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in _NOT_FROM_FILE]
    params = inspect.signature(cls.__init__).parameters
    for key, value in kwargs.items():
        if key not in accepted:
            known = ", ".join(["name", *accepted])
            raise ctx.error(f"{where}.{key}", f"unknown key for {cls.__name__}; expected one of: {known}")
        _check_annotated(ctx, f"{where}.{key}", value, params[key])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            warnings.simplefilter("error", DeprecationWarning)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(**kwargs, **extra)
    except (FutureWarning, DeprecationWarning) as e:
        raise ctx.error(where, f"deprecated option: {_one_line(e)}") from None
    except ImportError as e:
        raise ctx.error(f"{where}.name", f"{cls.__name__} needs a package that is not installed: "
                                        f"{_one_line(e)}") from None
    except (TypeError, ValueError) as e:
        raise ctx.error(where, f"invalid {cls.__name__} options: {_one_line(e)}") from None


_ANNOTATION_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _check_annotated(ctx: _Ctx, where: str, value: Any, param: inspect.Parameter) -> None:
    """Check a sampler/pruner keyword against the simple types named in its annotation."""
    import re

    annotation = param.annotation if isinstance(param.annotation, str) else getattr(
        param.annotation, "__name__", str(param.annotation))
    words = set(re.findall(r"[A-Za-z_]+", annotation))
    if "Literal" in words or param.annotation is inspect.Parameter.empty:
        return
    allowed = [t for name, t in _ANNOTATION_TYPES.items() if name in words]
    if not allowed:
        raise ctx.error(where, f"cannot be set in a study file (expects {annotation})")
    ok = any(isinstance(value, bool) if t is bool else
             (isinstance(value, t) and not isinstance(value, bool)) or
             (t is float and isinstance(value, int) and not isinstance(value, bool))
             for t in allowed)
    if not ok:
        names = " or ".join({bool: "true or false", int: "an integer", float: "a number",
                             str: "a string"}[t] for t in allowed)
        raise ctx.error(where, f"expected {names}, got {_show(value)}")


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def build_sampler(study: StudySection, *, seed: int | None = None, source: str = "study file") -> Any:
    """The Optuna sampler of ``[study.sampler]``, seeded with ``seed`` (default: ``study.seed``)."""
    cls = _sampler_class(study.sampler.name)
    extra = {"seed": study.seed if seed is None else seed}
    return _construct(_Ctx(source), "study.sampler", cls, study.sampler.kwargs, extra)


def build_pruner(study: StudySection, *, source: str = "study file") -> Any:
    """The Optuna pruner of ``[study.pruner]``."""
    return _construct(_Ctx(source), "study.pruner", _pruner_class(study.pruner.name), study.pruner.kwargs, {})


def _list_datasets() -> list[str] | None:
    try:
        from hebbsearch.data import list_datasets
    except ImportError:
        return None
    return list(list_datasets())


def _list_presets() -> list[str] | None:
    try:
        from hebbsearch.models import list_presets
    except ImportError:
        return None
    return list(list_presets())


def _data_section(ctx: _Ctx, raw: Any) -> DataSection:
    t = _table(ctx, "data", raw)
    _known_keys(ctx, "data", t, ("dataset", "root", "val_split", "subset", "batch_size", "normalize"))
    if "dataset" not in t:
        raise ctx.error("data.dataset", "missing; expected a dataset name")
    dataset = _check_scalar(ctx, "data.dataset", t["dataset"], _Kind(str))
    _check_dataset(ctx, dataset)
    root = t.get("root")
    if root is not None:
        root = _check_scalar(ctx, "data.root", root, _Kind(str))
    val_split = t.get("val_split", 0.1)
    if isinstance(val_split, int) and not isinstance(val_split, bool):
        val_split = _check_scalar(ctx, "data.val_split", val_split, _Kind(int, low=1))
    else:
        if not isinstance(val_split, float):
            raise ctx.error("data.val_split", f"expected a fraction in (0, 1) or a number of samples >= 1, "
                                              f"got {_show(val_split)}")
        val_split = _check_scalar(ctx, "data.val_split", val_split,
                                  _Kind(float, low=0, low_exclusive=True, high=1, high_exclusive=True))
    subset = t.get("subset")
    if subset is not None:
        subset = _check_scalar(ctx, "data.subset", subset, _POS_INT)
    batch_size = _check_scalar(ctx, "data.batch_size", t.get("batch_size", 1000), _POS_INT)
    normalize = _check_scalar(ctx, "data.normalize", t.get("normalize", "standard"),
                              _Kind(str, strings=_normalizations()))
    return DataSection(dataset, root, val_split, subset, batch_size, normalize)


def _check_dataset(ctx: _Ctx, dataset: str) -> None:
    """Accept what :func:`hebbsearch.data.load_dataset` accepts: a listed name (case, dashes and
    underscores do not matter) or any torchvision.datasets class."""
    known = _list_datasets()
    if known is None:
        return

    def canon(name: str) -> str:
        return "".join(ch for ch in name.lower() if ch.isalnum())

    if canon(dataset) in {canon(k) for k in known} | {"npz"}:
        return
    try:
        import torchvision.datasets as tvd

        if any(canon(c) == canon(dataset) and isinstance(getattr(tvd, c, None), type) for c in tvd.__all__):
            return
    except ImportError:
        pass
    raise ctx.error("data.dataset", f"unknown dataset {dataset!r}; known datasets: {', '.join(known)} "
                                    f"(or any torchvision.datasets class)")


def _model_section(ctx: _Ctx, raw: Any) -> ModelSection:
    t = dict(_table(ctx, "model", raw))
    if "preset" not in t:
        raise ctx.error("model.preset", "missing; expected a preset name")
    preset = _check_scalar(ctx, "model.preset", t.pop("preset"), _Kind(str))
    presets = _list_presets()
    if presets is not None and preset not in presets:
        raise ctx.error("model.preset", f"unknown preset {preset!r}; known presets: {', '.join(presets)}")
    probe_after_raw = t.pop("probe_after", 1)
    if isinstance(probe_after_raw, list):
        if not probe_after_raw:
            raise ctx.error("model.probe_after", "expected an integer >= 1 or a non-empty list of them")
        values = tuple(_check_scalar(ctx, "model.probe_after", v, _POS_INT) for v in probe_after_raw)
        if len(set(values)) != len(values):
            raise ctx.error("model.probe_after", "expected distinct values")
        probe_after: Spec = Choice(values) if len(values) > 1 else Fixed(values[0])
    else:
        probe_after = _parse_spec(ctx, "model.probe_after", probe_after_raw, _POS_INT, pair_is_range=False)
    allowed = _preset_options(preset)
    options: dict[str, Spec] = {}
    for key, value in t.items():
        where = f"model.{key}"
        if allowed is not None and key not in allowed:
            known = ", ".join(["preset", "probe_after", *allowed])
            raise ctx.error(where, f"unknown key for preset {preset!r}; expected one of: {known}")
        options[key] = _option_spec(ctx, where, value)
    return ModelSection(preset, probe_after, options)


def _preset_options(preset: str) -> list[str] | None:
    """Keyword options a preset accepts, when the models package says (None: do not check)."""
    try:
        from hebbsearch import models
    except ImportError:
        return None
    getter = getattr(models, "preset_options", None)
    if getter is None:
        return None
    try:
        return list(getter(preset))
    except Exception:  # noqa: BLE001 - an unknown preset is reported elsewhere
        return None


def _option_spec(ctx: _Ctx, where: str, value: Any) -> Spec:
    """A model option or rule keyword: any scalar or list is a fixed value; tables are searched."""
    if isinstance(value, dict):
        if "choices" in value:
            sample = value["choices"][0] if isinstance(value["choices"], list) and value["choices"] else 0
        else:
            sample = value.get("low", 0)
        kind = _Kind(type(sample) if type(sample) in (int, float, str, bool) else float)
        if kind.type in (int,) and isinstance(value.get("high"), float):
            kind = _Kind(float)
        return _parse_spec(ctx, where, value, kind)
    if isinstance(value, list):
        return Fixed(tuple(value))
    return Fixed(value)


def _hebbian_section(ctx: _Ctx, raw: Any) -> HebbianSection:
    t = _table(ctx, "hebbian", raw)
    d = HebbianSection()
    _known_keys(ctx, "hebbian", t, ("epochs", "lr", "lr_schedule", "batch_size"))
    epochs_raw = t.get("epochs", d.epochs.value)
    if isinstance(epochs_raw, list):  # per-layer epochs, not a range
        if not epochs_raw:
            raise ctx.error("hebbian.epochs", "expected an integer >= 1 or a per-layer list of them")
        epochs: Spec = Fixed(tuple(_check_scalar(ctx, "hebbian.epochs", e, _NONNEG_INT) for e in epochs_raw))
    else:
        epochs = _parse_spec(ctx, "hebbian.epochs", epochs_raw, _NONNEG_INT)
    return HebbianSection(
        epochs=epochs,
        lr=_parse_spec(ctx, "hebbian.lr", t.get("lr", d.lr.value), _POS_FLOAT),
        lr_schedule=_parse_spec(ctx, "hebbian.lr_schedule", t.get("lr_schedule", d.lr_schedule.value),
                                _Kind(str, strings=_training_names("LR_SCHEDULES"))),
        batch_size=_parse_spec(ctx, "hebbian.batch_size", t.get("batch_size", d.batch_size.value), _POS_INT),
    )


def _training_names(attr: str) -> tuple[str, ...] | None:
    """Allowed strings the training package declares (``LR_SCHEDULES``, ``OPTIMIZERS``...)."""
    try:
        from hebbsearch import training
    except ImportError:
        return None
    names = getattr(training, attr, None)
    return tuple(names) if names else None


def _normalizations() -> tuple[str, ...] | None:
    try:
        from hebbsearch import data
    except ImportError:
        return None
    names = getattr(data, "NORMALIZATIONS", None)
    return tuple(names) if names else ("standard", "none")


_DROPOUT = _Kind(float, low=0, high=1, high_exclusive=True)


def _probe_section(ctx: _Ctx, raw: Any, search_dropout: Any) -> ProbeSection:
    t = _table(ctx, "probe", raw)
    d = ProbeSection()
    _known_keys(ctx, "probe", t, ("epochs", "optimizer", "lr", "lr_schedule", "batch_size", "weight_decay",
                                  "dropout"))
    if "dropout" in t and search_dropout is not None:
        raise ctx.error("search.dropout", "dropout is also set in [probe]; give it in one place")
    dropout_where, dropout_raw = (("search.dropout", search_dropout) if search_dropout is not None
                                  else ("probe.dropout", t.get("dropout", d.dropout.value)))
    return ProbeSection(
        epochs=_parse_spec(ctx, "probe.epochs", t.get("epochs", d.epochs.value), _POS_INT),
        optimizer=_parse_spec(ctx, "probe.optimizer", t.get("optimizer", d.optimizer.value),
                              _Kind(str, strings=_training_names("OPTIMIZERS"))),
        lr=_parse_spec(ctx, "probe.lr", t.get("lr", d.lr.value), _POS_FLOAT),
        lr_schedule=_parse_spec(ctx, "probe.lr_schedule", t.get("lr_schedule", d.lr_schedule.value),
                                _Kind(str, strings=_training_names("PROBE_SCHEDULES"))),
        batch_size=_parse_spec(ctx, "probe.batch_size", t.get("batch_size", d.batch_size.value), _POS_INT),
        weight_decay=_parse_spec(ctx, "probe.weight_decay", t.get("weight_decay", d.weight_decay.value),
                                 _Kind(float, low=0)),
        dropout=_parse_spec(ctx, dropout_where, dropout_raw, _DROPOUT),
    )


def _search_section(ctx: _Ctx, raw: Any) -> tuple[SearchSection, Any]:
    from hebbsearch.rules import get_rule_class, list_rules

    t = dict(_table(ctx, "search", raw))
    rule_raw = t.pop("rule", "krotov")
    dropout = t.pop("dropout", None)
    if isinstance(rule_raw, str):
        rules: tuple[str, ...] = (rule_raw,)
    elif isinstance(rule_raw, list) and rule_raw and all(isinstance(r, str) for r in rule_raw):
        rules = tuple(rule_raw)
        if len(set(rules)) != len(rules):
            raise ctx.error("search.rule", "expected distinct rule names")
    else:
        raise ctx.error("search.rule", f"expected a rule name or a non-empty list of rule names, "
                                       f"got {_show(rule_raw)}")
    known = list_rules()
    for rule in rules:
        if rule not in known:
            raise ctx.error("search.rule", f"unknown rule {rule!r}; known rules: {', '.join(known)}")
    for key, value in t.items():
        if key not in rules:
            if isinstance(value, dict) and key in known:
                raise ctx.error(f"search.{key}", f"rule {key!r} is not in search.rule; add it there or "
                                                 f"remove this table")
            raise ctx.error(f"search.{key}", "unknown key; expected rule, dropout or a table named after a "
                                             f"rule in search.rule ({', '.join(rules)})")
    rule_params = {rule: _rule_params(ctx, rule, get_rule_class(rule), t.get(rule, {})) for rule in rules}
    return SearchSection(rules, rule_params), dropout


def _rule_params(ctx: _Ctx, rule: str, cls: type, raw: Any) -> dict[str, Spec]:
    where = f"search.{rule}"
    t = _table(ctx, where, raw)
    declared = {hp.name: hp for hp in cls.hyperparameters}
    # Extra keyword-only constructor arguments (e.g. Krotov's norm_scope) may be fixed or chosen.
    extra = [n for n, p in inspect.signature(cls.__init__).parameters.items()
             if p.kind is p.KEYWORD_ONLY and n not in declared]
    specs: dict[str, Spec] = {}
    for key, value in t.items():
        if key not in declared and key not in extra:
            raise ctx.error(f"{where}.{key}", f"unknown hyperparameter of rule {rule!r}; expected one of: "
                                              f"{', '.join([*declared, *extra]) or 'none'}")
        if key in extra:
            specs[key] = _option_spec(ctx, f"{where}.{key}", value)
            continue
        hp = declared[key]
        specs[key] = _parse_spec(ctx, f"{where}.{key}", value, _hp_kind(hp))
    for name, hp in declared.items():
        if name not in specs:
            specs[name] = _default_spec(hp)
    ordered = {name: specs[name] for name in declared}
    ordered.update({k: v for k, v in specs.items() if k not in declared})
    return ordered


def _hp_kind(hp: Any) -> _Kind:
    if hp.type in (int, float):
        return _Kind(hp.type, low=hp.valid_low, low_exclusive=hp.low_exclusive, high=hp.valid_high)
    return _Kind(hp.type)


def _default_spec(hp: Any) -> Spec:
    if hp.low is None or hp.high is None or hp.low == hp.high:
        return Fixed(hp.default)
    if hp.type is int:
        return IntRange(int(hp.low), int(hp.high), bool(hp.log))
    return FloatRange(float(hp.low), float(hp.high), bool(hp.log))


# -- entry points ---------------------------------------------------------------------------------------

_TOP = ("study", "data", "model", "hebbian", "probe", "search")


def parse_study_text(text: str, source: str, *, default_name: str | None = None) -> StudyConfig:
    """Validate the TOML ``text`` of a study file; ``source`` names it in error messages."""
    ctx = _Ctx(source)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {_one_line(e)}", source=source) from None
    _known_keys(ctx, "", raw, _TOP)
    for section in ("study", "data", "model"):
        if section not in raw:
            raise ctx.error(section, f"missing section [{section}]")
    study = _study_section(ctx, raw["study"], default_name or Path(source).stem)
    data = _data_section(ctx, raw["data"])
    model = _model_section(ctx, raw["model"])
    search, search_dropout = _search_section(ctx, raw.get("search", {}))
    hebbian = _hebbian_section(ctx, raw.get("hebbian", {}))
    probe = _probe_section(ctx, raw.get("probe", {}), search_dropout)
    if isinstance(hebbian.epochs, Fixed) and isinstance(hebbian.epochs.value, tuple):
        deepest = max(model.probe_after.choices) if isinstance(model.probe_after, Choice) else (
            model.probe_after.high if isinstance(model.probe_after, IntRange) else model.probe_after.value)
        if len(hebbian.epochs.value) < deepest:
            raise ctx.error("hebbian.epochs", f"expected at least {deepest} per-layer values "
                                              f"(model.probe_after goes up to {deepest}), "
                                              f"got {len(hebbian.epochs.value)}")
    return StudyConfig(source, text, study, data, model, hebbian, probe, search)


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


__all__ = [
    "Choice",
    "DataSection",
    "Fixed",
    "FloatRange",
    "HebbianSection",
    "IntRange",
    "ModelSection",
    "PrunerConfig",
    "ProbeSection",
    "SamplerConfig",
    "SearchSection",
    "Spec",
    "StudyConfig",
    "StudySection",
    "build_pruner",
    "build_sampler",
    "is_searched",
    "load_study_file",
    "parse_study_text",
]
