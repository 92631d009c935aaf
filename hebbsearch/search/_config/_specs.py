"""What a study file says about one value: fixed, or searched over a range or a set of choices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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


__all__ = ["Choice", "Fixed", "FloatRange", "IntRange", "Spec", "is_searched"]
