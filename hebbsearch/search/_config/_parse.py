"""The entry points: study file text or path → :class:`StudyConfig`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from hebbsearch.errors import ConfigError, first_line
from hebbsearch.search._config._parse_search import parse_search_section
from hebbsearch.search._config._parse_sections import (
    parse_data_section,
    parse_hebbian_section,
    parse_model_section,
    parse_probe_section,
    parse_study_section,
)
from hebbsearch.search._config._specs import Choice, Fixed, IntRange
from hebbsearch.search._config._study_config import StudyConfig
from hebbsearch.search._config._values import ErrorContext, check_known_keys

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
    search, search_dropout = parse_search_section(ctx, raw.get("search", {}))
    hebbian = parse_hebbian_section(ctx, raw.get("hebbian", {}))
    probe = parse_probe_section(ctx, raw.get("probe", {}), search_dropout)
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


__all__ = ["load_study_file", "parse_study_text"]
