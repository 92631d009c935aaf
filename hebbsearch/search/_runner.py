"""Running a study: workers that share one storage and stop at exactly ``n_trials`` finished trials.

:func:`run_worker` is what ``hebbsearch worker``, each process of ``hebbsearch run --jobs J`` and a
single-process ``run`` execute; :func:`run_pool` starts J of them on this machine and :func:`run_study`
is the whole ``run`` command (create or resume, check, re-queue, work, summarise).

**The budget is exact.** Before each trial a worker takes the study's ``budget`` lock
(:class:`~hebbsearch.search._locks.StorageLock`), fails trials whose heartbeat is stale (Optuna re-queues
them), re-queues interrupted ones, counts, and, if the budget allows, asks Optuna for the next trial; the
lock is released as soon as that trial exists. A trial is *committed* when it is finished (complete,
pruned, failed with a recorded reason), running with a fresh heartbeat, waiting in the queue, or
interrupted and about to be re-queued. A new trial starts only while ``committed < n_trials`` (a
waiting trial runs while ``finished + running < n_trials``); otherwise the worker waits, because a
running trial may still fail and need a retry, and it exits once ``n_trials`` are finished.

**Nothing is lost.** SIGINT or SIGTERM fail the trial in flight at the next Python statement (between
batches), record ``fail_reason = "interrupted (SIGTERM)"`` and re-queue it with the same parameters for
any worker; SIGTERM then exits 0, SIGINT 130. A killed process's trial goes stale and is retried by
Optuna's :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`. A storage outage pauses the worker
(one line, exponential backoff up to :data:`BACKOFF_MAX` s, for at most ``reconnect_timeout`` seconds);
a trial it interrupted is re-queued once the storage is back.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TextIO

import optuna
import torch
from optuna.storages import RDBStorage, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState
from tqdm.auto import tqdm

from hebbsearch._defaults import DEFAULT_HEARTBEAT
from hebbsearch.errors import ConfigError, HebbsearchError, StorageError
from hebbsearch.search._artifacts import resolve_artifact_dir
from hebbsearch.search._baselines import RAW_ATTR
from hebbsearch.search._dashboard import update_study_note
from hebbsearch.search._locks import StorageLock
from hebbsearch.search._objective import Interrupted, Objective, TrialFailed, resolve_device
from hebbsearch.search._report import REFIT_ATTR, best_complete_trial, best_table, probe_after_of
from hebbsearch.search._slots import GpuSlot, claim_gpu_slot
from hebbsearch.search._space import probe_positions
from hebbsearch.search._storage import (
    DEPTH_OF_ATTR,
    FAIL_REASON_ATTR,
    INTERRUPTED,
    RETRY_OF_ATTR,
    create_or_load_study,
    fail_orphaned_trials,
    finished_count,
    is_counted,
    is_outage,
    load_study,
    open_storage,
    outage_error,
    requeue_interrupted,
    retried_numbers,
    stored_config,
)
from hebbsearch.study import StudyConfig

#: longest pause between reconnection attempts, seconds
BACKOFF_MAX = 30.0
#: seconds a starting worker waits for an unreachable storage before it gives up
STARTUP_RETRY = 60.0
#: seconds between two looks at the trials of a worker waiting for the others' trials
WAIT_LOOK = 0.25
#: the study note is rewritten after a new best trial, else at most this often (and when a worker ends)
NOTE_INTERVAL = 30.0


@dataclass(frozen=True)
class WorkerOptions:
    """What a worker needs; picklable, so it can be handed to a spawned process.

    Args:
        storage: storage URL.
        study_name: the study (its study file is read from the storage).
        n_trials: finished trials to reach (None: the study's own ``n_trials``).
        gpus: ``"auto"`` (claim a free GPU slot when CUDA is available, else CPU), ``"none"`` (CPU), or
            a tuple of device indices to claim from.
        share_gpus: when every slot is taken, share one instead of waiting for a free one.
        layer_cache: directory of the on-disk layer cache (None: trained layers stay in this process).
        heartbeat: heartbeat interval of running trials in seconds (None: off).
        worker: index of a local worker (seeds its sampler); None: derived from host and pid.
        poll: seconds between budget checks while other workers finish.
        reconnect_timeout: give up (exit 1) after the storage has been unreachable this long.
        parent_pid: exit like on SIGTERM when this process is no longer the parent (``run --jobs``).
        threads: CPU threads of torch's operators in this worker (``torch.set_num_threads``); None:
            torch's default, all cores. Workers sharing a host should split its cores between them
            (``run --jobs J`` does: :func:`threads_per_worker`): oversubscribed cores slow a Hebbian
            step several times more than they slow one large matrix product.
    """

    storage: str
    study_name: str
    n_trials: int | None = None
    timeout: float | None = None
    data_dir: str | None = None
    gpus: str | tuple[int, ...] = "auto"
    share_gpus: bool = False
    artifact_dir: str | None = None
    layer_cache: str | None = None
    heartbeat: int | None = DEFAULT_HEARTBEAT
    worker: int | None = None
    poll: float = 2.0
    reconnect_timeout: float = 600.0
    progress_bar: bool = True
    summary: bool = True
    log_level: int = optuna.logging.WARNING
    parent_pid: int | None = None
    threads: int | None = None


def threads_per_worker(jobs: int) -> int:
    """This process's usable cores split between ``jobs`` local workers (at least 1 each)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, jobs))


#: environment variable with the torch threads of a ``worker`` (compose: cores of the host / workers)
THREADS_ENV = "HEBBSEARCH_THREADS"


def threads_from_env() -> int | None:
    """``$HEBBSEARCH_THREADS`` as a thread count (None when unset or empty); ConfigError when invalid."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"expected an integer >= 1, got {raw!r}", field=THREADS_ENV)
    return int(raw)


@dataclass
class WorkerResult:
    """What one worker did."""

    trials: int = 0
    reason: str = "budget"   # budget | timeout | SIGTERM | SIGINT
    device: str = "cpu"


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
            tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)


@dataclass
class BudgetState:
    """The study's trials as the budget sees them (counted under the budget lock)."""

    finished: int
    running: int
    waiting: int
    to_requeue: int

    @property
    def committed(self) -> int:
        return self.finished + self.running + self.waiting + self.to_requeue

    def next_step(self, n_trials: int) -> str:
        """``"done"``, ``"run"`` (ask for a trial: the oldest waiting one, else a new one) or ``"wait"``."""
        if self.finished >= n_trials:
            return "done"
        if self.waiting and self.finished + self.running < n_trials:
            return "run"
        if self.committed < n_trials:
            return "run"
        return "wait"


def budget_state(trials: list[FrozenTrial], *, count_running: bool = True) -> BudgetState:
    """Count ``trials`` for the budget; ``count_running=False`` (no heartbeats: a dead worker's trial
    cannot be told from a live one) leaves RUNNING trials out, so they never block the study."""
    retried = retried_numbers(trials)
    to_requeue = sum(1 for t in trials if t.state == TrialState.FAIL and t.number not in retried
                     and str(t.user_attrs.get(FAIL_REASON_ATTR, "")).startswith(INTERRUPTED))
    return BudgetState(
        finished=sum(is_counted(t) for t in trials),
        running=sum(t.state == TrialState.RUNNING for t in trials) if count_running else 0,
        waiting=sum(t.state == TrialState.WAITING for t in trials),
        to_requeue=to_requeue,
    )


class _Signals:
    """SIGINT/SIGTERM: raise :class:`Interrupted` in the trial in flight (first signal only), otherwise
    only flag a stop; the worker loop re-queues and exits."""

    def __init__(self, parent_pid: int | None) -> None:
        self.parent_pid = parent_pid
        self.reason: str | None = None
        self.in_trial = False
        self._raised = False
        self._active = True
        self._timers: list[threading.Timer] = []
        self._previous: dict[int, Any] = {}
        self._stop_watch = threading.Event()

    def _handle(self, signum: int, frame: Any) -> None:
        self.reason = self.reason or signal.Signals(signum).name
        if self.in_trial and not self._raised:
            if _in_storage_code(frame):
                # Never break a database call (its connection and session would be left half-done): the
                # same signal comes back in a moment and lands in training code.
                timer = threading.Timer(_RESIGNAL, self._resend, (signum,))
                self._timers.append(timer)
                timer.start()
                return
            self._raised = True
            raise Interrupted(self.interrupt_reason)

    def _resend(self, signum: int) -> None:
        if self._active and not self._raised:  # not after the trial stopped or the worker's end
            os.kill(os.getpid(), signum)

    def take(self) -> str | None:
        """For the trial's own checks between epochs: the reason to stop now, once (None: go on)."""
        if self.reason is None or self._raised or not self.in_trial:
            return None
        self._raised = True
        return self.interrupt_reason

    @property
    def interrupt_reason(self) -> str:
        return "Ctrl-C" if self.reason == "SIGINT" else str(self.reason)

    def _watch_parent(self) -> None:
        while not self._stop_watch.wait(PARENT_POLL):
            if os.getppid() != self.parent_pid:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        if self.parent_pid is not None:
            threading.Thread(target=self._watch_parent, daemon=True, name="hebbsearch-parent-watch").start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._active = False
        for timer in self._timers:
            timer.cancel()
        self._stop_watch.set()
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


#: seconds between a ``run --jobs`` worker's checks that its parent is still alive
PARENT_POLL = 0.25
#: seconds after which a signal that arrived during a database call is delivered again
_RESIGNAL = 0.05
_STORAGE_MODULES = ("sqlalchemy", "psycopg2", "psycopg", "sqlite3", "optuna.storages", "optuna.trial",
                    "optuna.artifacts", "optuna_dashboard", "hebbsearch.search._locks")


def _in_storage_code(frame: Any) -> bool:
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith(_STORAGE_MODULES):
            return True
        frame = frame.f_back
    return False


def _worker_id(options: WorkerOptions) -> int:
    if options.worker is not None:
        return options.worker
    return zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) or 1


def run_worker(options: WorkerOptions, *, stream: TextIO | None = None,
               on_trial: Callable[[FrozenTrial], None] | None = None,
               objective: Callable[[optuna.Trial], float] | None = None) -> WorkerResult:
    """Run trials of an existing study until it has its budget of finished trials (see the module doc).

    Args:
        on_trial: called with each trial this worker finished.
        objective: replaces the study's :class:`Objective` (benchmarks and tests of the pool itself).

    Returns what this worker did. Raises KeyboardInterrupt after SIGINT (the trial in flight is failed and
    re-queued); after SIGTERM it returns with ``reason = "SIGTERM"``.
    """
    optuna.logging.set_verbosity(options.log_level)
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    if options.log_level > optuna.logging.INFO:
        _hide_failed_trial_tracebacks()
    stream = stream or sys.stderr

    def log(line: str) -> None:
        print(f"hebbsearch: {line}", file=stream, flush=True)

    worker_id = _worker_id(options)

    def connect() -> tuple[RDBStorage, StudyConfig, optuna.Study]:
        storage = open_storage(options.storage, heartbeat_interval=options.heartbeat)
        config = stored_config(load_study(storage, options.study_name))
        return storage, config, load_study(storage, options.study_name, config=config, worker=worker_id)

    # a worker started while the server restarts waits for it (a while: a wrong URL must still fail soon)
    storage, config, study = _retry_outages(connect, min(options.reconnect_timeout, STARTUP_RETRY), log)
    n_trials = options.n_trials or config.study.n_trials
    budget_lock = StorageLock(options.storage, f"budget:{options.study_name}")
    bar = _Bar(options.progress_bar, stream)
    study_objective = Objective(config, options.data_dir, "cpu", progress=bar if bar.enabled else None,
                                artifact_dir=options.artifact_dir, layer_cache=options.layer_cache)
    result = WorkerResult()
    current: dict[str, int] = {}
    label = options.worker if options.worker else None
    deadline = time.monotonic() + options.timeout if options.timeout else None
    notes_lock = StorageLock(options.storage, f"note:{options.study_name}")
    note_written = [time.monotonic()]

    def objective_in_slot(trial: optuna.Trial) -> float:
        current["id"], current["number"] = trial._trial_id, trial.number
        budget_lock.release()  # the trial exists: other workers may count and start theirs
        signals.in_trial = True
        try:
            if signals.reason is not None:  # the signal came while the trial was being created
                raise Interrupted(signals.interrupt_reason)
            return (objective or study_objective)(trial)
        except Interrupted as e:
            if FAIL_REASON_ATTR not in trial.user_attrs:
                trial.set_user_attr(FAIL_REASON_ATTR, f"{INTERRUPTED} ({e.reason})")
            raise
        finally:
            signals.in_trial = False

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        result.trials += 1
        current.clear()
        bar.close()
        if options.summary:
            bar.write(format_trial(trial, study, label))
        if on_trial is not None:
            on_trial(trial)
        if config.search.every_depth and trial.state == TrialState.COMPLETE:
            queue_other_depths(study, trial, config, n_trials, budget_lock)
        if trial.state == TrialState.COMPLETE and _is_column_best(study, trial) or (
                time.monotonic() - note_written[0] > NOTE_INTERVAL):
            write_note()

    def write_note() -> None:
        try:
            with notes_lock:
                update_study_note(study, config)
            note_written[0] = time.monotonic()
        except Exception as e:  # noqa: BLE001 - the note is a convenience; never fail a trial for it
            if not is_outage(e):
                raise

    with _Signals(options.parent_pid) as signals, _Slot(options, study, n_trials, signals,
                                                                     log) as slot:
        if slot.stopped:
            result.reason = signals.reason or "budget"
            return _finish(result, signals)
        study_objective.device = result.device = slot.device
        study_objective.stop_requested = signals.take
        outage_since: float | None = None
        backoff = 1.0
        has_baseline = False
        while signals.reason is None:
            if deadline is not None and time.monotonic() >= deadline:
                result.reason = "timeout"
                break
            try:
                if current:  # a trial interrupted by an outage: fail and re-queue it
                    _requeue_lost(study, current, budget_lock)
                budget_lock.acquire()
                try:
                    step = _next_step(study, storage, n_trials)
                    if step == "run":
                        study.optimize(objective_in_slot, n_trials=1, catch=(TrialFailed,),
                                       callbacks=[after_trial], gc_after_trial=False)
                finally:
                    budget_lock.release()
                    bar.close()
                if step == "run" and not has_baseline and objective is None:
                    has_baseline = _ensure_raw_baseline(study, study_objective, options.storage, signals, log)
            except KeyboardInterrupt:
                _requeue_after_interrupt(study, budget_lock, current, signals.interrupt_reason, log)
                break
            except Exception as e:  # noqa: BLE001 - outages are retried, everything else is re-raised
                if not is_outage(e):
                    raise
                now = time.monotonic()
                outage_since = outage_since or now
                if now - outage_since > options.reconnect_timeout:
                    raise StorageError(f"storage unreachable for {now - outage_since:.0f} s, giving up: "
                                       f"{_cause_line(e)}") from None
                storage.remove_session()  # a session broken mid-transaction must not be reused
                log(f"storage unreachable ({_cause_line(e)}); retrying in {backoff:.0f} s")
                _sleep(backoff, signals)
                backoff = min(2 * backoff, BACKOFF_MAX)
                continue
            if outage_since is not None:
                log(f"storage reachable again after {time.monotonic() - outage_since:.0f} s")
                outage_since, backoff = None, 1.0
                if slot.slot is not None and not slot.slot.reclaim():
                    log(f"{slot.slot.describe()} was claimed by another worker during the outage; sharing it")
            if step == "done":
                break
            if step == "wait":
                _wait_for_change(study, n_trials, options.poll, signals, count_running=bool(options.heartbeat))
        if signals.reason is not None:
            result.reason = signals.reason
        elif result.trials:
            write_note()  # the final counts
    return _finish(result, signals)


#: the raw-input baseline is computed again when the best trial's probe settings change, at most this often
MAX_BASELINES = 3


def _ensure_raw_baseline(study: optuna.Study, objective: Objective, url: str, signals: _Signals,
                         log: Callable[[str], None]) -> bool:
    """Keep the study's raw-input baseline on the probe settings of its best trial.

    After a trial, the first worker to get the study's ``baseline`` lock computes it when it is missing or
    was computed with other probe settings than the current best trial's (at most :data:`MAX_BASELINES`
    times per study); interruptible like a trial. Returns False while it may still change.
    """
    try:
        best = study.best_trial
    except ValueError:  # no complete trial yet
        return False
    probe = best.user_attrs.get("settings", {}).get("probe")
    current = study.user_attrs.get(RAW_ATTR)
    if isinstance(current, dict) and (current.get("count", 1) >= MAX_BASELINES or current.get("probe") == probe):
        return current.get("count", 1) >= MAX_BASELINES
    lock = StorageLock(url, f"baseline:{study.study_name}")
    if not lock.acquire(blocking=False):
        return False
    try:
        signals.in_trial = True
        try:
            baseline = objective.raw_baseline(probe)
        except Interrupted:
            return False
        finally:
            signals.in_trial = False
        if baseline is None:
            return True
        baseline.update(trial=best.number, count=(current or {}).get("count", 0) + 1)
        study.set_user_attr(RAW_ATTR, baseline)
        log(f"raw-input baseline (the probe of trial {best.number} on the input itself): val "
            f"{baseline['val']:.4f}, test {baseline['test']:.4f}")
        return False
    finally:
        lock.release()


def refit_best(url: str, study_name: str, *, data_dir: str | None = None, device: str = "auto",
               log: Callable[[str], None] | None = None, layer_cache: str | None = None,
               probe_after: Collection[int] | None = None, again: bool = False) -> dict[str, dict[str, Any]]:
    """``hebbsearch refit``: the final fit of each probe position's best trial.

    The trial is trained again with its parameters (same seed, same Hebbian training); its probe is fit on
    train + val and evaluated on test. Results are stored in the study's ``refit`` user attribute
    (``{trial number: {"test_accuracy", "val_accuracy", "seconds"}}``), shown by ``report`` in its own
    row, apart from the searched validation figure. Each result is stored as soon as it is measured, so an
    interrupted refit keeps the positions it finished, and a best trial that already has a result is not
    refit again unless ``again``. With the search's on-disk ``layer_cache`` the trained layers are read
    back instead of trained again.

    Args:
        probe_after: only these probe positions (default: all).
        again: refit best trials that already have a result too.

    Returns:
        The entries measured by this call.

    Raises:
        HebbsearchError: ``probe_after`` names a position without a complete trial.
    """
    storage = open_storage(url, must_exist=True)
    study = load_study(storage, study_name)
    best = best_table(study).best
    if probe_after is not None and set(probe_after) - set(best):
        raise HebbsearchError(
            f"study {study_name!r} has no complete trial probing after "
            f"{', '.join(map(str, sorted(set(probe_after) - set(best))))}; its probe positions with a "
            f"complete trial: {', '.join(map(str, sorted(best))) or 'none'}")
    objective = Objective(stored_config(study), data_dir, device, refit=True, layer_cache=layer_cache)
    new: dict[str, dict[str, Any]] = {}
    for depth, trial in sorted(best.items()):
        if probe_after is not None and depth not in probe_after:
            continue
        stored = study.user_attrs.get(REFIT_ATTR, {}).get(str(trial.number))
        if stored is not None and not again:
            if log is not None:
                log(f"trial {trial.number} (probe after {depth}): already refit (test "
                    f"{stored['test_accuracy']:.4f}); --again refits it")
            continue
        start = time.perf_counter()
        fixed = optuna.trial.FixedTrial(trial.params, number=trial.number)
        test_accuracy = objective(fixed)
        entry = {"test_accuracy": float(test_accuracy), "val_accuracy": trial.value,
                 "seconds": round(time.perf_counter() - start, 1)}
        # read again before writing: another refit of this study may have stored a position meanwhile
        study.set_user_attr(REFIT_ATTR, {**study.user_attrs.get(REFIT_ATTR, {}), str(trial.number): entry})
        new[str(trial.number)] = entry
        if log is not None:
            log(f"trial {trial.number} (probe after {depth}): val {trial.value:.4f} in the search, test "
                f"{test_accuracy:.4f} refit on train+val")
    return new


def _retry_outages(call: Callable[[], Any], timeout: float, log: Callable[[str], None]) -> Any:
    """``call()``, again after a pause (exponential backoff) while the storage is unreachable."""
    start, backoff = time.monotonic(), 1.0
    while True:
        try:
            return call()
        except Exception as e:  # noqa: BLE001 - outages are retried, everything else is re-raised
            if not is_outage(e) or time.monotonic() - start > timeout:
                raise
            log(f"storage unreachable ({_cause_line(e)}); retrying in {backoff:.0f} s")
            time.sleep(backoff)
            backoff = min(2 * backoff, BACKOFF_MAX)


def _finish(result: WorkerResult, signals: _Signals) -> WorkerResult:
    if signals.reason == "SIGINT":
        raise KeyboardInterrupt
    return result


def _wait_for_change(study: optuna.Study, n_trials: int, poll: float, signals: _Signals, *,
                     count_running: bool) -> None:
    """While other workers' trials fill the budget: look (without the lock) every :data:`WAIT_LOOK`
    seconds whether the budget is reached or has room again; take the lock again after that, or after
    ``poll`` seconds at the latest (a running trial may have gone stale)."""
    end = time.monotonic() + poll
    while signals.reason is None and time.monotonic() < end:
        _sleep(min(WAIT_LOOK, end - time.monotonic()), signals)
        if budget_state(study.get_trials(deepcopy=False), count_running=count_running).next_step(
                n_trials) != "wait":
            return


def _is_column_best(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Whether ``trial`` is now the best complete trial of its probe position."""
    column = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if probe_after_of(t) == probe_after_of(trial)]
    best = best_complete_trial(column, study.direction == optuna.study.StudyDirection.MAXIMIZE)
    return best is not None and best.number == trial.number


def _sleep(seconds: float, signals: _Signals) -> None:
    end = time.monotonic() + seconds
    while signals.reason is None and (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.2))


def _cause_line(e: BaseException) -> str:
    """First line of the storage error behind ``e`` (of ``e`` itself when there is none)."""
    e = outage_error(e) or e
    while e.__cause__ is not None:
        e = e.__cause__
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


def _next_step(study: optuna.Study, storage: RDBStorage, n_trials: int) -> str:
    """Under the budget lock: retire stale and interrupted trials, then decide (see :class:`BudgetState`)."""
    heartbeat = bool(storage.heartbeat_interval)
    trials = study.get_trials(deepcopy=False)
    if requeue_interrupted(study, trials):
        trials = study.get_trials(deepcopy=False)
    step = budget_state(trials, count_running=heartbeat).next_step(n_trials)
    if step != "wait" or not heartbeat:
        return step  # (Optuna fails stale trials itself before it creates the next one)
    # The budget looks full: running trials whose worker died must not hold their places.
    with warnings.catch_warnings():  # fail_stale_trials is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(study)  # stale RUNNING trials are failed and re-queued by Optuna's callback
    fail_orphaned_trials(study, storage, trials)
    trials = study.get_trials(deepcopy=False)
    return budget_state(trials, count_running=heartbeat).next_step(n_trials)


def _requeue_after_interrupt(study: optuna.Study, budget_lock: StorageLock, current: dict[str, int],
                             reason: str, log: Callable[[str], None]) -> None:
    """After SIGINT/SIGTERM: re-queue the interrupted trial (and any other interrupted one) at once."""
    budget_lock.release()
    try:
        if current:  # also when the signal cut the trial's own bookkeeping short
            _requeue_lost(study, current, budget_lock, reason)
        with budget_lock:
            numbers = requeue_interrupted(study)
    except Exception as e:  # noqa: BLE001 - storage down: the next worker to start re-queues it
        if not is_outage(e):
            raise
        numbers = []
    if numbers:
        log(f"interrupted: trial {', '.join(f'#{n}' for n in numbers)} re-queued with the same parameters")


def queue_other_depths(study: optuna.Study, trial: FrozenTrial, config: StudyConfig, n_trials: int,
                       budget_lock: StorageLock) -> list[int]:
    """``[search] every_depth``: queue ``trial``'s parameters at every other probe position, shallower
    ones first, as far as the budget has room (counted under the budget lock, so it stays exact).

    The queued trials (user attribute ``depth_of``: ``trial``'s number) train nothing that this process
    has trained already: a shallower one finds all its layers in the layer cache, a deeper one trains
    only the layers beyond ``trial``'s depth (whose explicit-layer values, never drawn for ``trial``,
    the sampler draws). A queued trial queues nothing itself. Returns the queued probe positions.
    """
    if DEPTH_OF_ATTR in trial.user_attrs:
        return []
    depth = probe_after_of(trial)
    others = [d for d in probe_positions(config) if d != depth]
    with budget_lock:
        room = n_trials - budget_state(study.get_trials(deepcopy=False)).committed
        queued = others[:max(room, 0)]
        for d in queued:
            study.enqueue_trial({**trial.params, "probe_after": d}, user_attrs={DEPTH_OF_ATTR: trial.number})
    return queued


def _requeue_lost(study: optuna.Study, current: dict[str, int], budget_lock: StorageLock,
                  reason: str = "storage outage") -> None:
    """The trial in flight when the storage went away or a signal came: fail it (if still running) with
    ``fail_reason = "interrupted (<reason>)"`` and re-queue it, unless that happened already.

    Another worker may have failed it meanwhile (its heartbeat stopped during the outage, so it looked
    stale) and Optuna's callback re-queued it; then it is left as it is.
    """
    storage = study._storage
    with budget_lock:
        trial = storage.get_trial(current["id"])
        if trial.state == TrialState.RUNNING:
            try:
                storage.set_trial_user_attr(trial._trial_id, FAIL_REASON_ATTR, f"{INTERRUPTED} ({reason})")
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                trial = storage.get_trial(current["id"])
        if trial.state == TrialState.FAIL and not is_counted(trial):
            trials = study.get_trials(deepcopy=False)
            if trial.number not in retried_numbers(trials) and not str(
                    trial.user_attrs.get(FAIL_REASON_ATTR, "")).startswith(INTERRUPTED):
                study.enqueue_trial(trial.params, user_attrs={RETRY_OF_ATTR: trial.number})
        requeue_interrupted(study)
    current.clear()


class _Slot:
    """The worker's device: a GPU slot claimed for the worker's lifetime, or the CPU."""

    def __init__(self, options: WorkerOptions, study: optuna.Study, n_trials: int, signals: _Signals,
                 log: Callable[[str], None]) -> None:
        self.options = options
        self.study = study
        self.n_trials = n_trials
        self.signals = signals
        self.log = log
        self.slot: GpuSlot | None = None
        self.device = "cpu"
        self.stopped = False

    def _should_stop(self) -> bool:
        if self.signals.reason is not None:
            return True
        return finished_count(self.study.get_trials(deepcopy=False)) >= self.n_trials

    def __enter__(self) -> _Slot:
        self.slot = claim_gpu_slot(self.options.storage, self.options.gpus, share=self.options.share_gpus,
                                   should_stop=self._should_stop, log=self.log)
        if self.slot is None:
            self.stopped = True  # stopped (budget reached or a signal) while waiting for a free slot
        else:
            self.device = self.slot.device
            if self.slot.index is not None:
                self.log(f"worker {os.getpid()} claimed {self.slot.describe()}")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.slot is not None:
            self.slot.release()


class _FailedTrialFilter(logging.Filter):
    """Drops Optuna's "Trial N failed ..." warnings (with a traceback): our summary line says why."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("optuna") and str(record.msg).startswith("Trial ")
                    and " failed " in str(record.msg))


def _hide_failed_trial_tracebacks() -> None:
    for handler in logging.getLogger("optuna").handlers:
        if not any(isinstance(f, _FailedTrialFilter) for f in handler.filters):
            handler.addFilter(_FailedTrialFilter())


def worker_process(options: WorkerOptions) -> None:
    """Entry point of a spawned worker process: exit 0 done (or SIGTERM), 130 SIGINT, 1 error."""
    try:
        run_worker(options)
    except KeyboardInterrupt:
        sys.exit(130)
    except HebbsearchError as e:
        print(f"hebbsearch: error: worker {options.worker}: {e}", file=sys.stderr, flush=True)
        sys.exit(e.exit_code)


def run_pool(options: WorkerOptions, jobs: int) -> None:
    """Run ``jobs`` spawned worker processes on this machine and wait for them.

    SIGINT and SIGTERM of this process are forwarded (each worker re-queues its trial); if this process
    is killed, its workers notice within a second and stop the same way. Raises KeyboardInterrupt after
    SIGINT, :class:`Interrupted` (reason ``SIGTERM``) after SIGTERM, HebbsearchError if a worker failed.
    """
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=worker_process, name=f"hebbsearch-w{i}",
                         args=(dataclasses.replace(options, worker=i, parent_pid=os.getpid()),))
             for i in range(jobs)]
    received: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                try:
                    os.kill(proc.pid, signum)
                except ProcessLookupError:
                    pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    codes = [proc.exitcode for proc in procs]
    if signal.SIGINT in received or any(code == 130 for code in codes):
        raise KeyboardInterrupt
    if signal.SIGTERM in received:
        raise Interrupted("SIGTERM")
    failed = [f"w{i} ({code})" for i, code in enumerate(codes) if code]
    if failed:
        raise HebbsearchError(f"worker(s) {', '.join(failed)} failed; see their messages above")


def create_study(url: str, config: StudyConfig, *, data_dir: str | None = None,
                 device: str = "auto") -> tuple[optuna.Study, bool]:
    """``hebbsearch create``: create the study (once, however many processes try at once) after checking
    that its data load and its networks build; resuming an identical study is a no-op.

    Returns ``(study, created)``.
    """
    storage = open_storage(url)
    objective = Objective(config, data_dir, device)
    study, created = create_or_load_study(storage, config, check=objective.check)
    if created:
        update_study_note(study, config)
    return study, created


def resolve_gpus(device: str) -> str:
    """``run --device`` → the worker's ``gpus``: cpu → none, auto/cuda → auto (cuda: CUDA must exist)."""
    resolved = resolve_device(device)
    return "none" if resolved == "cpu" else "auto"


def run_study(config: StudyConfig, url: str, *, jobs: int = 1, data_dir: str | None = None,
              device: str = "auto", heartbeat: int | None = DEFAULT_HEARTBEAT,
              artifact_dir: str | None = None, progress_bar: bool = True, summary: bool = True,
              log: Callable[[str], None] | None = None, log_level: int = optuna.logging.WARNING,
              threads: int | None = None, layer_cache: str | None = None) -> optuna.Study:
    """``hebbsearch run``: create or resume the study of ``config`` and run it to ``n_trials`` finished
    trials with ``jobs`` workers (1: in this process). Returns the study.

    ``threads``: torch threads per worker (None: all cores for one worker, the cores split between
    ``jobs`` workers, see :func:`threads_per_worker`). ``layer_cache``: the on-disk layer cache of the
    workers (:func:`~hebbsearch.search.resolve_layer_cache`; None: off).

    Raises KeyboardInterrupt (SIGINT) or :class:`Interrupted` (SIGTERM) after the trials in flight were
    failed and re-queued.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    storage = open_storage(url)
    gpus = resolve_gpus(device)
    objective = Objective(config, data_dir, "cpu" if gpus == "none" else device)
    study, created = create_or_load_study(storage, config, check=objective.check)
    if created:
        update_study_note(study, config)
    name, n_trials = config.study.name, config.study.n_trials
    with StorageLock(url, f"budget:{name}"):
        requeued = requeue_interrupted(study)
    if requeued:
        log(f"re-queued interrupted trial(s) {', '.join(f'#{n}' for n in requeued)} with the same parameters")
    finished = finished_count(study.get_trials(deepcopy=False))
    remaining = n_trials - finished
    if remaining <= 0:
        log(f"study {name!r} already has {finished} finished trials (n_trials = {n_trials}); nothing to run")
        return study
    if not created:
        objective.check()
    jobs = min(jobs, remaining)
    if threads is None and jobs > 1:
        threads = threads_per_worker(jobs)
    log(f"study {name!r}: {finished}/{n_trials} trials finished, running {remaining} more on "
        f"{objective.device}" + (f" with {jobs} workers" if jobs > 1 else ""))
    options = WorkerOptions(
        storage=url, study_name=name, n_trials=n_trials, timeout=config.study.timeout, data_dir=data_dir,
        gpus=gpus, artifact_dir=resolve_artifact_dir(artifact_dir), heartbeat=heartbeat,
        progress_bar=progress_bar and jobs == 1, summary=summary, log_level=log_level, worker=0,
        threads=threads, layer_cache=layer_cache,
    )
    if jobs == 1:
        result = run_worker(options)
        if result.reason == "SIGTERM":
            raise Interrupted("SIGTERM")
    else:
        run_pool(options, jobs)
    return study


__all__ = ["BudgetState", "Interrupted", "WorkerOptions", "WorkerResult", "budget_state",
           "create_study", "format_trial", "refit_best", "run_pool", "run_study", "run_worker",
           "threads_from_env", "threads_per_worker", "worker_process"]
