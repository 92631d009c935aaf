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

Modules, in the order a file is read:

=====================  ==================================================================================
``_parse.py``          entry points :func:`parse_study_text`, :func:`load_study_file`
``_parse_sections.py`` ``[study]``, ``[data]``, ``[model]``, ``[hebbian]``, ``[probe]``
``_parse_search.py``   ``[search]``: rules and their hyperparameters (defaults from the rule)
``_sampler_pruner.py`` ``[study.sampler]`` / ``[study.pruner]`` → Optuna objects (:func:`build_sampler`)
``_values.py``         typed-value checks and ``[low, high]`` / ``{choices = [...]}`` → :data:`Spec`
``_known_names.py``    names other subpackages declare (datasets, presets, schedules...)
``_study_config.py``   :class:`StudyConfig` and its section dataclasses
``_specs.py``          :data:`Spec`: :class:`Fixed`, :class:`IntRange`, :class:`FloatRange`, :class:`Choice`
=====================  ==================================================================================
"""

from hebbsearch.search._config._parse import load_study_file, parse_study_text
from hebbsearch.search._config._parse_search import _default_spec  # noqa: F401 - used by the tests
from hebbsearch.search._config._sampler_pruner import PRUNERS, SAMPLERS, build_pruner, build_sampler
from hebbsearch.search._config._specs import Choice, Fixed, FloatRange, IntRange, Spec, is_searched
from hebbsearch.search._config._study_config import (
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

__all__ = [
    "Choice",
    "DataSection",
    "Fixed",
    "FloatRange",
    "HebbianSection",
    "IntRange",
    "ModelSection",
    "PRUNERS",
    "PrunerConfig",
    "ProbeSection",
    "SAMPLERS",
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
