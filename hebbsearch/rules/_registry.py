"""Name → rule class registry (timm style: a plain dict filled by a decorator)."""

from __future__ import annotations

from typing import Any, TypeVar

from hebbsearch.rules._base import Rule

_RULES: dict[str, type[Rule]] = {}

R = TypeVar("R", bound=type[Rule])


def register_rule(cls: R) -> R:
    """Class decorator: make ``cls`` available as ``get_rule(cls.name)``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} must set a non-empty 'name'")
    if cls.name in _RULES and _RULES[cls.name] is not cls:
        raise ValueError(f"a rule named {cls.name!r} is already registered")
    _RULES[cls.name] = cls
    return cls


def list_rules() -> list[str]:
    """Names of the registered rules, sorted."""
    return sorted(_RULES)


def get_rule_class(name: str) -> type[Rule]:
    """The class registered as ``name``; unknown names fail with the list of known ones."""
    try:
        return _RULES[name]
    except KeyError:
        raise ValueError(f"unknown rule {name!r}; known rules: {', '.join(list_rules())}") from None


def get_rule(rule: str | Rule | type[Rule], **params: Any) -> Rule:
    """Build a rule from a registered name, a Rule subclass, or return a Rule object as is.

    Example: ``get_rule("krotov", p=3, k=7, delta=0.4)``.
    """
    if isinstance(rule, Rule):
        if params:
            raise ValueError("hyperparameters cannot be given together with a rule object")
        return rule
    if isinstance(rule, type) and issubclass(rule, Rule):
        return rule(**params)
    if isinstance(rule, str):
        return get_rule_class(rule)(**params)
    raise TypeError(f"rule must be a name, a Rule subclass or a Rule, got {type(rule).__name__}")
