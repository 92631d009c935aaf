"""Running a study: one ``optimize`` loop per process, until the study has ``n_trials`` finished trials.

:func:`run_worker` is what each local worker process (and a single-process run) executes. It loads the
study by name, so any number of processes, on this machine or others, can share one storage.

Ctrl-C: a trial in flight raises :class:`KeyboardInterrupt`, Optuna marks it FAIL (with
``fail_reason = "interrupted (Ctrl-C)"``) and the loop ends; between trials it only stops the loop.
The next ``run`` re-queues interrupted trials with the same parameters.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState

from hebbsearch.search._objective import Objective, TrialFailed
from hebbsearch.search._storage import (
    FAIL_REASON_ATTR,
    RETRY_OF_ATTR,
    finished_count,
    load_study,
    open_storage,
    stored_config,
)


@dataclass(frozen=True)
class WorkerOptions:
    """What a worker needs; picklable, so it can be handed to a spawned process."""

    storage: str
    study_name: str
    n_trials: int
    timeout: float | None = None
    data_dir: str | None = None
    device: str = "auto"
    worker: int = 0
    heartbeat: int | None = None
    progress_bar: bool = True
    summary: bool = True
    log_level: int = optuna.logging.WARNING


def format_trial(trial: FrozenTrial, study: optuna.Study | None = None, worker: int | None = None) -> str:
    """One summary line for a finished trial."""
    who = f"[trial {trial.number}{'' if worker is None else f' w{worker}'}]"
    params = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    retry = trial.user_attrs.get(RETRY_OF_ATTR)
    if retry is None:
        retry = trial.system_attrs.get("failed_trial")
    again = f" (retry of #{retry})" if retry is not None else ""
    seconds = sum(v for k, v in trial.user_attrs.items()
                  if k.startswith("time_") and isinstance(v, int | float))
    took = f" {seconds:.1f}s" if seconds else ""
    if trial.state == TrialState.COMPLETE:
        test = trial.user_attrs.get("test_accuracy")
        line = f"{who} val {trial.value:.4f}" + (f"  test {test:.4f}" if test is not None else "")
        if study is not None:
            try:
                best = study.best_trial
                line += f"  (best {best.value:.4f} #{best.number})"
            except ValueError:
                pass
        return f"{line}  {params}{took}{again}"
    if trial.state == TrialState.PRUNED:
        last = max(trial.intermediate_values) if trial.intermediate_values else None
        at = (f" at epoch {last} (val {trial.intermediate_values[last]:.4f})" if last is not None else "")
        return f"{who} pruned{at}  {params}{took}{again}"
    reason = trial.user_attrs.get(FAIL_REASON_ATTR, "failed")
    return f"{who} FAIL: {reason}  {params}{again}"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class _Bar:
    """A tqdm bar for the trial in flight: Hebbian steps, then probe epochs (on stderr)."""

    def __init__(self, enabled: bool, stream: TextIO) -> None:
        self.enabled = enabled
        self.stream = stream
        self._bar: Any = None
        self._key: tuple[int, str] | None = None

    def __call__(self, number: int, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        if self._key != (number, phase):
            self.close()
            self._key = (number, phase)
            # disable=None: no bar when stderr is not a terminal (logs stay readable)
            self._bar = tqdm(total=total, desc=f"trial {number} {phase}", unit="epoch", file=self.stream,
                             leave=False, dynamic_ncols=True, disable=None)
        if self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._key = None

    def write(self, line: str) -> None:
        if self._bar is not None:
            from tqdm.auto import tqdm

            tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)


def run_worker(options: WorkerOptions, *, stream: TextIO | None = None,
               on_trial: Callable[[FrozenTrial], None] | None = None) -> int:
    """Run trials of an existing study until it has ``options.n_trials`` finished trials.

    Returns the number of trials this worker finished. Raises KeyboardInterrupt after a Ctrl-C (the
    trial in flight is marked FAIL).
    """
    optuna.logging.set_verbosity(options.log_level)
    if options.log_level > optuna.logging.INFO:
        _hide_failed_trial_tracebacks()
    stream = stream or sys.stderr
    storage = open_storage(options.storage, heartbeat_interval=options.heartbeat)
    config = stored_config(load_study(storage, options.study_name))
    study = load_study(storage, options.study_name, config=config, worker=options.worker)
    bar = _Bar(options.progress_bar, stream)
    objective = Objective(config, options.data_dir, options.device, progress=bar if bar.enabled else None)
    worker = options.worker if options.worker else None
    done = 0

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        nonlocal done
        done += 1
        bar.close()
        if options.summary:
            bar.write(format_trial(trial, study, worker))
        if on_trial is not None:
            on_trial(trial)
        if objective.interrupted or finished_count(study.get_trials(deepcopy=False)) >= options.n_trials:
            study.stop()

    remaining = options.n_trials - finished_count(study.get_trials(deepcopy=False))
    if remaining <= 0:
        return 0
    with _sigint_handler(objective):
        try:
            study.optimize(objective, n_trials=remaining, timeout=options.timeout, catch=(TrialFailed,),
                           callbacks=[after_trial], gc_after_trial=False)
        finally:
            bar.close()
    if objective.interrupted:
        raise KeyboardInterrupt
    return done


class _FailedTrialFilter(logging.Filter):
    """Drops Optuna's "Trial N failed ..." warnings (with a traceback): our summary line says why."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("optuna") and str(record.msg).startswith("Trial ")
                    and " failed " in str(record.msg))


def _hide_failed_trial_tracebacks() -> None:
    for handler in logging.getLogger("optuna").handlers:
        if not any(isinstance(f, _FailedTrialFilter) for f in handler.filters):
            handler.addFilter(_FailedTrialFilter())


class _sigint_handler:
    """SIGINT in a trial raises KeyboardInterrupt (the trial fails); between trials it only flags a stop,
    so no trial is left RUNNING half-created."""

    def __init__(self, objective: Objective) -> None:
        self.objective = objective
        self.previous: Any = None
        self.installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        # Only the first SIGINT raises: a second one (e.g. forwarded by the parent of a worker pool)
        # must not interrupt the bookkeeping of the trial that the first one failed.
        first = not self.objective.interrupted
        self.objective.interrupted = True
        if first and self.objective.in_trial:
            raise KeyboardInterrupt

    def __enter__(self) -> _sigint_handler:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
            self.installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, self.previous)


def worker_process(options: WorkerOptions) -> None:
    """Entry point of a spawned worker process: exit 0 done, 130 interrupted, 1 error (message on stderr)."""
    from hebbsearch.errors import HebbsearchError

    try:
        run_worker(options)
    except KeyboardInterrupt:
        sys.exit(130)
    except HebbsearchError as e:
        print(f"hebbsearch: error: worker {options.worker}: {e}", file=sys.stderr, flush=True)
        sys.exit(e.exit_code)


__all__ = ["WorkerOptions", "format_trial", "run_worker", "worker_process"]
