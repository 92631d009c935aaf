"""Hyperparameter search: sampling, the Optuna objective, storage, the worker loop, reports.

Study files are read by :mod:`hebbsearch.study`. Typical use::

    config = hebbsearch.study.load_study_file("studies/quickstart.toml")
    storage = open_storage("sqlite:///hebbsearch.db")
    study = create_or_load_study(storage, config)
    study.optimize(Objective(config), n_trials=config.study.n_trials, catch=(TrialFailed,))
    table = best_table(study)
"""

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
    "Objective",
    "TrialFailed",
    "TrialSettings",
    "WorkerOptions",
    "best_table",
    "clear_data_cache",
    "create_or_load_study",
    "finished_count",
    "format_trial",
    "is_counted",
    "load_data",
    "load_study",
    "open_storage",
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
