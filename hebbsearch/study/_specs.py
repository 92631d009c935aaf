"""What a study file says about one value (:data:`Spec`: fixed, or searched over a range or a set of
choices), and the checks that turn TOML values into specs.

Every check raises :class:`~hebbsearch.errors.ConfigError` through an :class:`ErrorContext`, which knows
the file; callers pass the dotted field path (``"probe.lr"``), so messages read
``FILE: probe.lr: expected a number > 0, got 'x'``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hebbsearch.errors import ConfigError


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


@dataclass(frozen=True)
class PerLayer(Fixed):
    """One fixed value per Hebbian layer (``{layers = [...]}``): ``value`` is a tuple, entry i for layer i + 1."""


Spec = Fixed | IntRange | FloatRange | Choice


def is_searched(spec: Spec) -> bool:
    """True unless ``spec`` is :class:`Fixed`."""
    return not isinstance(spec, Fixed)


@dataclass(frozen=True)
class Kind:
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
            bounds.append(f"{'>' if self.low_exclusive else '>='} {format_number(self.low)}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_exclusive else '<='} {format_number(self.high)}")
        return what + (" " + " and ".join(bounds) if bounds else "")


def format_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


class ErrorContext:
    """Where an error is: the file and a dotted path."""

    def __init__(self, source: str):
        self.source = source

    def error(self, where: str, message: str) -> ConfigError:
        return ConfigError(message, source=self.source, field=where)


def check_scalar(ctx: ErrorContext, where: str, value: Any, kind: Kind) -> Any:
    bad = ctx.error(where, f"expected {kind.describe()}, got {describe_value(value)}")
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


def describe_value(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def parse_spec(ctx: ErrorContext, where: str, value: Any, kind: Kind, *, pair_is_range: bool = True,
               per_layer: bool = False) -> Spec:
    """A scalar → Fixed; ``[low, high]`` (numbers, if allowed) or ``{low, high, log, step}`` → range;
    ``{choices = [...]}`` → Choice; with ``per_layer``, ``{layers = [...]}`` → PerLayer."""
    numeric = kind.type in (int, float)
    if isinstance(value, dict) and "layers" in value:
        if not per_layer:
            raise ctx.error(f"{where}.layers", "unknown key; only [hebbian] epochs and lr and the rules' "
                                               "hyperparameters take one value per layer")
        return parse_per_layer(ctx, where, value, kind)
    if isinstance(value, dict):
        if "choices" in value:
            extra = sorted(set(value) - {"choices"})
            if extra:
                raise ctx.error(f"{where}.{extra[0]}",
                                "unknown key; a {choices = [...]} table has no other keys")
            choices = value["choices"]
            if not isinstance(choices, list) or not choices:
                raise ctx.error(f"{where}.choices", "expected a non-empty list")
            checked = tuple(check_scalar(ctx, f"{where}.choices", c, kind) for c in choices)
            if len(set(checked)) != len(checked):
                raise ctx.error(f"{where}.choices", "expected distinct values")
            return Choice(checked)
        if not numeric:
            raise ctx.error(where, f"expected {kind.describe()} or a {{choices = [...]}} table, got a table")
        check_known_keys(ctx, where, value, ("low", "high", "log", "step"))
        for key in ("low", "high"):
            if key not in value:
                raise ctx.error(f"{where}.{key}", "missing; a range needs low and high")
        return parse_range(ctx, where, value["low"], value["high"], kind,
                           log=check_scalar(ctx, f"{where}.log", value.get("log", False), Kind(bool)),
                           step=value.get("step"))
    if isinstance(value, list):
        if numeric and pair_is_range and len(value) == 2:
            return parse_range(ctx, where, value[0], value[1], kind, labels=(f"{where}[0]", f"{where}[1]"))
        expected = "[low, high], {low = .., high = .., log = ..} or {choices = [...]}" if numeric else (
            "{choices = [...]}")
        raise ctx.error(where, f"expected {kind.describe()} or a search range {expected}, got a list")
    return Fixed(check_scalar(ctx, where, value, kind))


def parse_per_layer(ctx: ErrorContext, where: str, value: Mapping[str, Any], kind: Kind) -> PerLayer:
    """``{layers = [v1, v2, ...]}``: one fixed value per layer, each checked against ``kind``."""
    extra = sorted(set(value) - {"layers"})
    if extra:
        raise ctx.error(f"{where}.{extra[0]}", "unknown key; a {layers = [...]} table has no other keys")
    values = value["layers"]
    if not isinstance(values, list) or not values:
        raise ctx.error(f"{where}.layers", "expected a non-empty list, one value per layer")
    return PerLayer(tuple(check_scalar(ctx, f"{where}.layers[{i}]", v, kind) for i, v in enumerate(values)))


def parse_range(ctx: ErrorContext, where: str, low: Any, high: Any, kind: Kind, *, log: bool = False,
                step: Any = None, labels: tuple[str, str] | None = None) -> Spec:
    low_where, high_where = labels or (f"{where}.low", f"{where}.high")
    low = check_scalar(ctx, low_where, low, kind)
    high = check_scalar(ctx, high_where, high, kind)
    if not low < high:
        raise ctx.error(where, f"expected low < high, got low={format_number(low)}, "
                               f"high={format_number(high)}")
    if log and low <= 0:
        raise ctx.error(f"{where}.low", f"a log range needs low > 0, got {format_number(low)}")
    if kind.type is int:
        if step is not None:
            step = check_scalar(ctx, f"{where}.step", step, Kind(int, low=1))
        if log and step not in (None, 1):
            raise ctx.error(f"{where}.step", "a log range cannot have a step")
        return IntRange(int(low), int(high), log, step or 1)
    if step is not None:
        step = check_scalar(ctx, f"{where}.step", step, Kind(float, low=0, low_exclusive=True))
        if log:
            raise ctx.error(f"{where}.step", "a log range cannot have a step")
    return FloatRange(float(low), float(high), log, step)


def check_known_keys(ctx: ErrorContext, where: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            prefix = f"{where}." if where else ""
            raise ctx.error(f"{prefix}{key}", f"unknown key; expected one of: {', '.join(known)}")


def expect_table(ctx: ErrorContext, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.error(where, f"expected a table [{where}], got {describe_value(value)}")
    return value


def parse_option_spec(ctx: ErrorContext, where: str, value: Any, *, per_layer: bool = False) -> Spec:
    """A model option or rule keyword: any scalar or list is a fixed value; tables are searched (with
    ``per_layer``, ``{layers = [...]}`` is one fixed value per layer)."""
    if isinstance(value, dict):
        if "layers" in value and not per_layer:
            raise ctx.error(f"{where}.layers", "unknown key; a model option takes a list for one value per layer")
        listed = next((value[key] for key in ("layers", "choices") if key in value), None)
        if listed is not None:
            sample = listed[0] if isinstance(listed, list) and listed else 0
        else:
            sample = value.get("low", 0)
        kind = Kind(type(sample) if type(sample) in (int, float, str, bool) else float)
        if kind.type in (int,) and isinstance(value.get("high"), float):
            kind = Kind(float)
        return parse_spec(ctx, where, value, kind, per_layer=per_layer)
    if isinstance(value, list):
        return Fixed(tuple(value))
    return Fixed(value)


# kinds several sections use
POSITIVE_INT = Kind(int, low=1)
POSITIVE_FLOAT = Kind(float, low=0, low_exclusive=True)
NON_NEGATIVE_INT = Kind(int, low=0)
