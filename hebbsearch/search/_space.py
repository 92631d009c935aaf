"""Sampling one trial's settings from a :class:`~hebbsearch.search.StudyConfig`.

Parameter names in Optuna:

=====================  =========================================================
``probe_after``        when ``[model] probe_after`` lists several positions
``rule``               when ``[search] rule`` lists several rules
``<rule>.<name>``      a rule hyperparameter, e.g. ``krotov.p`` — sampled only when that rule is chosen
``hebbian.<field>``    a searched ``[hebbian]`` field, e.g. ``hebbian.lr``
``probe.<field>``      a searched ``[probe]`` field, e.g. ``probe.dropout``
``model.<option>``     a searched preset option, e.g. ``model.hidden``, or a searched value of an
                       explicit layer, ``model.layers[i].<key>``, sampled only when that layer is built
=====================  =========================================================

Fixed values are not Optuna parameters; the full settings of a trial are stored in its ``settings``
user attribute.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

import optuna

from hebbsearch.study import Choice, Fixed, FloatRange, IntRange, PerLayer, Spec, StudyConfig


@dataclass(frozen=True)
class TrialSettings:
    """Everything one trial trains with."""

    probe_after: int
    rule: str
    rule_params: dict[str, Any]
    model_options: dict[str, Any]
    hebbian: dict[str, Any]
    probe: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (tuples become lists)."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def suggest(trial: optuna.Trial, name: str, spec: Spec) -> Any:
    """The value of ``spec``: fixed, or suggested by ``trial`` under ``name``."""
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, IntRange):
        return trial.suggest_int(name, spec.low, spec.high, step=spec.step, log=spec.log)
    if isinstance(spec, FloatRange):
        if spec.step is not None:
            return trial.suggest_float(name, spec.low, spec.high, step=spec.step)
        return trial.suggest_float(name, spec.low, spec.high, log=spec.log)
    if isinstance(spec, Choice):
        return trial.suggest_categorical(name, list(spec.choices))
    raise TypeError(f"not a search spec: {spec!r}")


def sample(trial: optuna.Trial, config: StudyConfig) -> TrialSettings:
    """Sample one trial's settings. Rule hyperparameters are sampled only for the chosen rule."""
    probe_after = suggest(trial, "probe_after", config.model.probe_after)
    rules = config.search.rules
    rule = rules[0] if len(rules) == 1 else trial.suggest_categorical("rule", list(rules))
    rule_params = {name: suggest(trial, f"{rule}.{name}", spec)
                   for name, spec in config.search.rule_params[rule].items()}
    model_options = {name: suggest(trial, f"model.{name}", spec)
                     for name, spec in config.model.options.items() if option_built(name, probe_after)}
    hebbian = {f.name: suggest(trial, f"hebbian.{f.name}", getattr(config.hebbian, f.name))
               for f in fields(config.hebbian)}
    probe = {f.name: suggest(trial, f"probe.{f.name}", getattr(config.probe, f.name))
             for f in fields(config.probe)}
    return TrialSettings(probe_after, rule, rule_params, model_options, hebbian, probe)


def layer_rule_params(config: StudyConfig, rule: str, params: dict[str, Any], depth: int) -> list[dict[str, Any]]:
    """The hyperparameters of ``rule`` for layers 1..depth: a per-layer value (``{layers = [...]}``)
    gives layer i its entry i, every other value is shared."""
    per_layer = {name for name, spec in config.search.rule_params[rule].items() if isinstance(spec, PerLayer)}
    return [{name: value[i] if name in per_layer else value for name, value in params.items()}
            for i in range(depth)]


_LAYER_OPTION = re.compile(r"^layers\[(\d+)\]\.")


def option_built(option: str, probe_after: int) -> bool:
    """False for a value of an explicit layer deeper than ``probe_after`` (``layers[i].key`` with i ≥
    probe_after): that layer is not built, and a value sampled for it would only add noise to the
    sampler's model of the trials (and to the layer cache's keys of the layers below it)."""
    match = _LAYER_OPTION.match(option)
    return match is None or int(match.group(1)) < probe_after


def probe_positions(config: StudyConfig) -> list[int]:
    """Every ``probe_after`` value the study can sample."""
    spec = config.model.probe_after
    if isinstance(spec, Fixed):
        return [spec.value]
    if isinstance(spec, Choice):
        return list(spec.choices)
    if isinstance(spec, IntRange):
        return list(range(spec.low, spec.high + 1, spec.step))
    raise TypeError(f"probe_after cannot be {spec!r}")


__all__ = ["TrialSettings", "probe_positions", "sample", "suggest"]
