"""Names the other subpackages declare (datasets, presets and their options, schedules...).

Looked up when a file is parsed, not at import time, so names registered later are known. Each
function returns None when the subpackage is unavailable or does not say: then the value is not checked.
"""

from __future__ import annotations


def known_datasets() -> list[str] | None:
    try:
        from hebbsearch.data import list_datasets
    except ImportError:
        return None
    return list(list_datasets())


def known_presets() -> list[str] | None:
    try:
        from hebbsearch.models import list_presets
    except ImportError:
        return None
    return list(list_presets())


def known_preset_options(preset: str) -> list[str] | None:
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


def training_names(attr: str) -> tuple[str, ...] | None:
    """Allowed strings the training package declares (``LR_SCHEDULES``, ``OPTIMIZERS``...)."""
    try:
        from hebbsearch import training
    except ImportError:
        return None
    names = getattr(training, attr, None)
    return tuple(names) if names else None


def known_normalizations() -> tuple[str, ...] | None:
    try:
        from hebbsearch import data
    except ImportError:
        return None
    names = getattr(data, "NORMALIZATIONS", None)
    return tuple(names) if names else ("standard", "none")
