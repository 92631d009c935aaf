"""``[study.sampler]`` and ``[study.pruner]`` → Optuna sampler and pruner objects.

A study file names the sampler or pruner and may give keyword arguments of its constructor; they are
checked against the constructor's signature and simple annotations, and the object is built once
while the file is parsed, so a bad option fails before a run starts.
"""

from __future__ import annotations

import inspect
import re
import warnings
from typing import Any

import optuna

from hebbsearch.errors import first_line
from hebbsearch.study._schema import StudySection
from hebbsearch.study._specs import ErrorContext, describe_value

SAMPLERS = ("tpe", "random", "cmaes", "qmc", "gp", "bruteforce")
PRUNERS = ("median", "hyperband", "successive_halving", "percentile", "none")
# samplers whose optional dependency Optuna imports only when sampling starts
SAMPLER_PACKAGES = {"cmaes": "cmaes", "qmc": "scipy", "gp": "scipy"}


def _sampler_class(name: str) -> type:
    return {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "qmc": optuna.samplers.QMCSampler,
        "gp": optuna.samplers.GPSampler,
        "bruteforce": optuna.samplers.BruteForceSampler,
    }[name]


def _pruner_class(name: str) -> type:
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


def _construct(ctx: ErrorContext, where: str, cls: type, kwargs: dict[str, Any],
               extra: dict[str, Any]) -> Any:
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
        raise ctx.error(where, f"deprecated option: {first_line(e)}") from None
    except ImportError as e:
        raise ctx.error(f"{where}.name", f"{cls.__name__} needs a package that is not installed: "
                                        f"{first_line(e)}") from None
    except (TypeError, ValueError) as e:
        raise ctx.error(where, f"invalid {cls.__name__} options: {first_line(e)}") from None


_ANNOTATION_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _check_annotated(ctx: ErrorContext, where: str, value: Any, param: inspect.Parameter) -> None:
    """Check a sampler/pruner keyword against the simple types named in its annotation."""
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
        raise ctx.error(where, f"expected {names}, got {describe_value(value)}")


def build_sampler(study: StudySection, *, seed: int | None = None, source: str = "study file") -> Any:
    """The Optuna sampler of ``[study.sampler]``, seeded with ``seed`` (default: ``study.seed``)."""
    cls = _sampler_class(study.sampler.name)
    extra = {"seed": study.seed if seed is None else seed}
    return _construct(ErrorContext(source), "study.sampler", cls, study.sampler.kwargs, extra)


def build_pruner(study: StudySection, *, source: str = "study file") -> Any:
    """The Optuna pruner of ``[study.pruner]``."""
    cls = _pruner_class(study.pruner.name)
    return _construct(ErrorContext(source), "study.pruner", cls, study.pruner.kwargs, {})
