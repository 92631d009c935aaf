"""Hyperparameter search: sampling, the Optuna objective, storage, the worker pool, reports.

Study files are read by :mod:`hebbsearch.study`. Typical use::

    config = hebbsearch.study.load_study_file("studies/quickstart.toml")
    study = run_study(config, "sqlite:///hebbsearch.db", jobs=2)     # what `hebbsearch run` does
    print(render_report(best_table(study), "markdown"))

A pool: ``create_study(url, config)`` once, then ``run_worker(WorkerOptions(url, name))`` in any number of
processes on any number of machines sharing the storage.
"""

from hebbsearch.search._artifacts import ARTIFACTS_ENV, download_filters, filters_image, resolve_artifact_dir
from hebbsearch.search._locks import StorageLock
from hebbsearch.search._dashboard import run_dashboard, study_note, update_study_note
from hebbsearch.search._objective import (
    LAYER_CACHE_ENV,
    Objective,
    TrialFailed,
    clear_data_cache,
    load_data,
    resolve_device,
    resolve_layer_cache,
)
from hebbsearch.search._report import BestTable, best_table, render_report, write_plots
from hebbsearch.search._runner import (
    DEFAULT_HEARTBEAT,
    BudgetState,
    Interrupted,
    WorkerOptions,
    WorkerResult,
    budget_state,
    create_study,
    format_trial,
    refit_best,
    run_pool,
    run_study,
    run_worker,
    threads_from_env,
    threads_per_worker,
    worker_process,
)
from hebbsearch.search._slots import GpuSlot, claim_gpu_slot, claim_slot, parse_gpus
from hebbsearch.search._space import TrialSettings, probe_positions, sample, suggest
from hebbsearch.search._storage import (
    DEFAULT_STORAGE,
    METRIC_NAME,
    STORAGE_ENV,
    create_or_load_study,
    finished_count,
    is_counted,
    is_outage,
    load_study,
    open_storage,
    outage_error,
    requeue_interrupted,
    resolve_storage_url,
    retried_numbers,
    stored_config,
    study_names,
)

__all__ = [
    "ARTIFACTS_ENV",
    "LAYER_CACHE_ENV",
    "DEFAULT_HEARTBEAT",
    "DEFAULT_STORAGE",
    "METRIC_NAME",
    "STORAGE_ENV",
    "BestTable",
    "BudgetState",
    "GpuSlot",
    "Interrupted",
    "Objective",
    "StorageLock",
    "TrialFailed",
    "TrialSettings",
    "WorkerOptions",
    "WorkerResult",
    "best_table",
    "budget_state",
    "claim_gpu_slot",
    "claim_slot",
    "clear_data_cache",
    "create_or_load_study",
    "create_study",
    "download_filters",
    "filters_image",
    "finished_count",
    "format_trial",
    "is_counted",
    "is_outage",
    "outage_error",
    "load_data",
    "load_study",
    "open_storage",
    "parse_gpus",
    "probe_positions",
    "refit_best",
    "render_report",
    "requeue_interrupted",
    "resolve_artifact_dir",
    "resolve_device",
    "resolve_layer_cache",
    "resolve_storage_url",
    "retried_numbers",
    "run_dashboard",
    "run_pool",
    "run_study",
    "run_worker",
    "sample",
    "stored_config",
    "study_names",
    "study_note",
    "suggest",
    "threads_from_env",
    "threads_per_worker",
    "update_study_note",
    "worker_process",
    "write_plots",
]
