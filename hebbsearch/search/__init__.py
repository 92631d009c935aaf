"""Hyperparameter search: study files (TOML) → StudyConfig, sampling, the Optuna objective, storage, reports.

Typical use::

    config = load_study_file("studies/quickstart.toml")
    storage = open_storage("sqlite:///hebbsearch.db")
    study = create_or_load_study(storage, config)
    study.optimize(Objective(config), n_trials=config.study.n_trials, catch=(TrialFailed,))
    table = best_table(study)
"""

from hebbsearch.search._config import (
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    Spec,
    StudyConfig,
    build_pruner,
    build_sampler,
    load_study_file,
    parse_study_text,
)
from hebbsearch.search._objective import Objective, TrialFailed, clear_data_cache, load_data, resolve_device
from hebbsearch.search._report import BestTable, best_table, write_plots
from hebbsearch.search._runner import WorkerOptions, format_trial, run_worker, worker_process
from hebbsearch.search._space import TrialSettings, probe_positions, sample, suggest
from hebbsearch.search._storage import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    create_or_load_study,
    finished_count,
    is_counted,
    load_study,
    open_storage,
    requeue_interrupted,
    resolve_storage_url,
    stored_config,
    study_names,
)

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "BestTable",
    "Choice",
    "Fixed",
    "FloatRange",
    "IntRange",
    "Objective",
    "Spec",
    "StudyConfig",
    "TrialFailed",
    "TrialSettings",
    "WorkerOptions",
    "best_table",
    "build_pruner",
    "build_sampler",
    "clear_data_cache",
    "create_or_load_study",
    "finished_count",
    "format_trial",
    "is_counted",
    "load_data",
    "load_study",
    "load_study_file",
    "open_storage",
    "parse_study_text",
    "probe_positions",
    "requeue_interrupted",
    "resolve_device",
    "resolve_storage_url",
    "run_worker",
    "sample",
    "stored_config",
    "study_names",
    "suggest",
    "worker_process",
    "write_plots",
]
