"""Parser of the ``[search]`` section: the rules and their hyperparameters.

Rule hyperparameters not mentioned in ``[search.<rule>]`` take the default search range the rule
declares (:class:`hebbsearch.rules.HyperParameter` ``low``/``high``/``log``), or its default value when
it declares no range.
"""

from __future__ import annotations

import inspect
from typing import Any

from hebbsearch.errors import first_line
from hebbsearch.rules import get_rule_class, list_rules
from hebbsearch.study._schema import SearchSection
from hebbsearch.study._specs import (
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    PerLayer,
    Spec,
    ErrorContext,
    Kind,
    describe_value,
    expect_table,
    parse_option_spec,
    parse_spec,
)


def parse_search_section(ctx: ErrorContext, raw: Any) -> tuple[SearchSection, Any]:
    t = dict(expect_table(ctx, "search", raw))
    rule_raw = t.pop("rule", "krotov")
    dropout = t.pop("dropout", None)
    every_depth = t.pop("every_depth", False)
    if not isinstance(every_depth, bool):
        raise ctx.error("search.every_depth", f"expected true or false, got {describe_value(every_depth)}")
    if isinstance(rule_raw, str):
        rules: tuple[str, ...] = (rule_raw,)
    elif isinstance(rule_raw, list) and rule_raw and all(isinstance(r, str) for r in rule_raw):
        rules = tuple(rule_raw)
        if len(set(rules)) != len(rules):
            raise ctx.error("search.rule", "expected distinct rule names")
    else:
        raise ctx.error("search.rule", f"expected a rule name or a non-empty list of rule names, "
                                       f"got {describe_value(rule_raw)}")
    known = list_rules()
    for rule in rules:
        if rule not in known:
            raise ctx.error("search.rule", f"unknown rule {rule!r}; known rules: {', '.join(known)}")
    for key, value in t.items():
        if key not in rules:
            if isinstance(value, dict) and key in known:
                raise ctx.error(f"search.{key}", f"rule {key!r} is not in search.rule; add it there or "
                                                 f"remove this table")
            raise ctx.error(f"search.{key}", "unknown key; expected rule, dropout, every_depth or a table "
                                             f"named after a rule in search.rule ({', '.join(rules)})")
    rule_params = {rule: _rule_params(ctx, rule, get_rule_class(rule), t.get(rule, {})) for rule in rules}
    return SearchSection(rules, rule_params, every_depth), dropout


def _rule_params(ctx: ErrorContext, rule: str, cls: type, raw: Any) -> dict[str, Spec]:
    where = f"search.{rule}"
    t = expect_table(ctx, where, raw)
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
            specs[key] = parse_option_spec(ctx, f"{where}.{key}", value, per_layer=True)
            _check_option(ctx, f"{where}.{key}", cls, key, specs[key])
            continue
        hp = declared[key]
        specs[key] = parse_spec(ctx, f"{where}.{key}", value, _hp_kind(hp), per_layer=True)
    for name, hp in declared.items():
        if name not in specs:
            specs[name] = _default_spec(hp)
    ordered = {name: specs[name] for name in declared}
    ordered.update({k: v for k, v in specs.items() if k not in declared})
    return ordered


def _check_option(ctx: ErrorContext, where: str, cls: type, key: str, spec: Spec) -> None:
    """A rule option's every possible value must construct the rule now, not fail trial after trial."""
    values = (spec.choices if isinstance(spec, Choice) else spec.value if isinstance(spec, PerLayer)
              else (spec.value,) if isinstance(spec, Fixed) else ())
    for value in values:
        try:
            cls(**{key: value})
        except (ValueError, TypeError) as e:
            raise ctx.error(where, first_line(e)) from None


def _hp_kind(hp: Any) -> Kind:
    if hp.type in (int, float):
        return Kind(hp.type, low=hp.valid_low, low_exclusive=hp.low_exclusive, high=hp.valid_high)
    return Kind(hp.type)


def _default_spec(hp: Any) -> Spec:
    if hp.low is None or hp.high is None or hp.low == hp.high:
        return Fixed(hp.default)
    if hp.type is int:
        return IntRange(int(hp.low), int(hp.high), bool(hp.log))
    return FloatRange(float(hp.low), float(hp.high), bool(hp.log))
