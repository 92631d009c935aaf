"""The study-file schema: TOML → :class:`StudyConfig`, a tree of frozen dataclasses.

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

Registries (rules, datasets, presets) are consulted when a file is parsed, not at import time, so
rules registered later are known.

=================  ======================================================================================
``_parse.py``      entry points :func:`parse_study_text`, :func:`load_study_file`; one parser per section
``_search.py``     ``[search]``: rules and their hyperparameters (defaults from the rule)
``_plugins.py``    ``[study.sampler]`` / ``[study.pruner]`` → Optuna objects (:func:`build_sampler`)
``_schema.py``     :class:`StudyConfig` and its section dataclasses
``_specs.py``      :data:`Spec` (:class:`Fixed`, :class:`IntRange`, :class:`FloatRange`, :class:`Choice`)
                   and the typed-value checks that build them
=================  ======================================================================================
"""

from hebbsearch.study._parse import load_study_file, parse_study_text
from hebbsearch.study._plugins import PRUNERS, SAMPLERS, build_pruner, build_sampler
from hebbsearch.study._schema import (
    DataSection,
    HebbianSection,
    ModelSection,
    ProbeSection,
    PrunerConfig,
    SamplerConfig,
    SearchSection,
    StudyConfig,
    StudySection,
)
from hebbsearch.study._specs import Choice, Fixed, FloatRange, IntRange, PerLayer, Spec, is_searched

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "Choice",
    "DataSection",
    "Fixed",
    "FloatRange",
    "HebbianSection",
    "IntRange",
    "ModelSection",
    "PerLayer",
    "ProbeSection",
    "PrunerConfig",
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
