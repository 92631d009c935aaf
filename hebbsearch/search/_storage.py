"""Opening study storage and creating, resuming and loading studies.

The storage URL comes from ``--storage``, else ``$HEBBSEARCH_STORAGE``, else ``sqlite:///hebbsearch.db``
(in the working directory). A study stores its study file's text as the user attribute ``study_file``,
so workers and reports need only the study name.

Which trials count toward ``n_trials`` (see :func:`finished_count`): complete, pruned, and failed
*with a recorded reason* (diverged, impossible settings). Trials failed by Ctrl-C are re-queued with
the same parameters by :func:`requeue_interrupted`; trials left RUNNING by a killed process are failed
and re-queued by Optuna's heartbeat (:func:`open_storage` with ``heartbeat_interval``) once their
heartbeat is older than the grace period. Neither kind counts, so a resumed study still reaches
``n_trials`` finished trials.
"""

from __future__ import annotations

import datetime
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from hebbsearch.errors import ConfigError, StorageError, first_line
from hebbsearch.search._locks import StorageLock, has_tables, sqlite_file, use_installed_postgres_driver
from hebbsearch.study import StudyConfig, build_pruner, build_sampler, parse_study_text

DEFAULT_STORAGE = "sqlite:///hebbsearch.db"
STORAGE_ENV = "HEBBSEARCH_STORAGE"

#: user attributes
STUDY_FILE_ATTR = "study_file"
STUDY_PATH_ATTR = "study_file_path"
FAIL_REASON_ATTR = "fail_reason"
RETRY_OF_ATTR = "retry_of"
#: a trial queued by ``[search] every_depth``: the number of the trial whose settings it probes elsewhere
DEPTH_OF_ATTR = "depth_of"
N_TRIALS_ATTR = "n_trials"
INTERRUPTED = "interrupted"
#: the objective's name (Optuna metric names, shown by optuna-dashboard)
METRIC_NAME = "val_accuracy"


def resolve_storage_url(url: str | None = None) -> str:
    """``url``, else ``$HEBBSEARCH_STORAGE``, else :data:`DEFAULT_STORAGE`."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def _safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparsable: show as given, there is no password to find
        return url


def open_storage(
    url: str | None = None,
    *,
    must_exist: bool = False,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int | None = 3,
) -> RDBStorage:
    """Open an RDB storage; one-line :class:`StorageError` when that is impossible.

    Args:
        url: SQLAlchemy URL (see :func:`resolve_storage_url` for the default).
        must_exist: for read-only commands: a missing SQLite file is an error instead of being created.
        heartbeat_interval: seconds between heartbeats of running trials (None: no heartbeat). With
            a heartbeat, trials whose process died are failed after ``grace_period`` (default twice
            the interval) and re-queued with the same parameters, at most ``max_retry`` times.
    """
    url = resolve_storage_url(url)
    shown = _safe_url(url)
    if "://" not in url:
        raise StorageError(f"malformed storage URL {shown!r}; expected e.g. {DEFAULT_STORAGE!r} "
                           f"or 'postgresql://user@host/db'")
    sqlite = sqlite_file(url)
    if must_exist and sqlite is not None and not sqlite.exists():
        raise StorageError(f"no storage at {shown} (the file {sqlite} does not exist); run a study first "
                           f"or pass --storage")
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several worker processes share one SQLite file: wait for locks instead of failing.
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        use_installed_postgres_driver()
        # A connection dropped during a long epoch (server restart, idle timeout) is replaced before
        # use. Two pooled connections cover the main thread and the heartbeat thread of a worker.
        engine_kwargs.update(pool_pre_ping=True, pool_size=2, max_overflow=3)
    try:
        with warnings.catch_warnings():
            # heartbeats and their retry callback are marked experimental in Optuna 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            heartbeat: dict[str, Any] = {}
            if heartbeat_interval:
                heartbeat = {
                    "heartbeat_interval": int(heartbeat_interval),
                    "grace_period": grace_period,
                    "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
                }
            if has_tables(url):
                storage = _ResilientStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
            else:  # creating the tables is not safe when several processes start at once
                with StorageLock(url, "init"):
                    storage = _ResilientStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
    except ImportError as e:
        raise StorageError(f"cannot open storage {shown}: missing database driver "
                           f"({_first_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - SQLAlchemy raises many kinds; all mean "cannot use this URL"
        raise StorageError(f"cannot open storage {shown}: {_first_line(e)}") from None
    if url.startswith("sqlite") and sqlite is not None:
        _tune_sqlite(storage)
    return storage


def _tune_sqlite(storage: RDBStorage) -> None:
    """WAL journal (readers do not block the writer: several workers share the file) and fewer fsyncs
    (a commit per reported epoch otherwise costs ~10 ms)."""
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # connections opened while creating the tables get the pragmas too


class _ResilientStorage(RDBStorage):
    """Optuna's RDB storage whose heartbeat survives a storage outage.

    Optuna records heartbeats from a thread that dies on the first database error, after which the
    running trial looks stale to every other worker. Here an outage skips that heartbeat (one line on
    stderr) and the next interval tries again.
    """

    _heartbeat_failing = False

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as e:  # noqa: BLE001 - only outages are swallowed, see is_outage
            if not is_outage(e):
                raise
            self.remove_session()  # this thread's session may be mid-transaction on a dead connection
            if not self._heartbeat_failing:
                print(f"hebbsearch: heartbeat of trial id {trial_id} failed (storage unreachable: "
                      f"{_first_line(_root_cause(e))}); retrying", file=sys.stderr, flush=True)
            self._heartbeat_failing = True
        else:
            self._heartbeat_failing = False


def _root_cause(e: BaseException) -> BaseException:
    while e.__cause__ is not None:
        e = e.__cause__
    return e


def outage_error(error: BaseException) -> BaseException | None:
    """The exception in ``error``'s chain (its causes and contexts) that says the storage could not be
    reached (connection refused or dropped, server restarting, SQLite busy), or None: an outage is worth
    retrying after a pause, unlike a wrong URL or a bug.

    The chain matters: Optuna may raise something else while it handles an outage (e.g. an
    ``UnboundLocalError`` from ``study.optimize`` when telling the trial and then reading it back both
    failed), and the outage is then only the context of what reaches the caller.
    """
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
                      | sqlalchemy.exc.DisconnectionError | sqlalchemy.exc.PendingRollbackError):
            return e
        if isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return e
        if type(e).__module__.startswith(("psycopg2", "psycopg")) and type(e).__name__ in (
                "OperationalError", "InterfaceError"):
            return e
        e = e.__cause__ or e.__context__
    return None


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` means the storage could not be reached (see :func:`outage_error`)."""
    return outage_error(error) is not None


def _first_line(e: BaseException) -> str:
    text = first_line(e)
    # SQLAlchemy prefixes "(sqlite3.OperationalError) "; keep the message readable.
    if text.startswith("(") and ") " in text:
        text = text.split(") ", 1)[1]
    return text


def study_names(storage: RDBStorage) -> list[str]:
    """Names of all studies in ``storage``."""
    return [s.study_name for s in storage.get_all_studies()]


def _check_study_exists(storage: RDBStorage, name: str) -> None:
    names = study_names(storage)
    if name not in names:
        hint = f"; studies there: {', '.join(sorted(names))}" if names else "; the storage has no studies"
        raise StorageError(f"no study named {name!r} in {_safe_url(storage.url)}{hint}")


def sampler_seed(config: StudyConfig, n_existing: int, worker: int = 0) -> int:
    """The sampler seed of one ``optimize`` call.

    A fresh single-worker study uses ``[study] seed`` as is; a resumed study or a second worker
    derives a different seed, so random start-up trials are not repeated.
    """
    if n_existing == 0 and worker == 0:
        return config.study.seed
    return int(np.random.SeedSequence([config.study.seed, n_existing, worker]).generate_state(1)[0])


def create_or_load_study(storage: RDBStorage, config: StudyConfig, *, worker: int = 0,
                         check: Callable[[], None] | None = None) -> tuple[optuna.Study, bool]:
    """Create the study of ``config`` or resume it; the stored study file must describe the same search.

    Safe when several processes (on several machines) do it at once: the check and the creation run under
    the storage's ``init`` lock. A new study stores its study file (user attribute ``study_file``) and
    names its objective :data:`METRIC_NAME`.

    Args:
        check: called before a new study is created (loads the data and builds the networks, so a study
            that cannot run is never created).

    Returns:
        ``(study, created)``.

    Raises:
        ConfigError: the stored study was made from a study file that searches something else.
    """
    name = config.study.name
    with StorageLock(storage.url, "init"):
        exists = name in study_names(storage)
        if exists:
            stored = stored_config(load_study(storage, name))
            if _search_identity(stored) != _search_identity(config):
                raise ConfigError(
                    f"study {name!r} already exists in {_safe_url(storage.url)} with a different study file "
                    f"(only [study] n_trials and timeout may change on resume); rename the study",
                    source=config.source, field="study.name")
        elif check is not None:
            check()
        n_existing = len(storage.get_all_trials(storage.get_study_id_from_name(name))) if exists else 0
        sampler = build_sampler(config.study, seed=sampler_seed(config, n_existing, worker),
                                source=config.source)
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=config.study.direction,
            sampler=sampler,
            pruner=build_pruner(config.study, source=config.source),
            load_if_exists=True,
        )
        if not exists:
            study.set_user_attr(STUDY_FILE_ATTR, config.text)
            study.set_user_attr(STUDY_PATH_ATTR, config.source)
            study.set_user_attr(N_TRIALS_ATTR, config.study.n_trials)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names([METRIC_NAME])
    return study, not exists


def _search_identity(config: StudyConfig) -> tuple[Any, ...]:
    study = config.study
    return (study.name, study.direction, study.seed, study.sampler, study.pruner, config.data, config.model,
            config.hebbian, config.probe, config.search.rules, repr(config.search.rule_params))


def load_study(storage: RDBStorage, name: str, *, config: StudyConfig | None = None,
               worker: int = 0) -> optuna.Study:
    """Load an existing study; with ``config``, with its sampler and pruner (for workers)."""
    _check_study_exists(storage, name)
    if config is None:
        return optuna.load_study(study_name=name, storage=storage)
    n_existing = len(storage.get_all_trials(storage.get_study_id_from_name(name)))
    return optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=build_sampler(config.study, seed=sampler_seed(config, n_existing, worker),
                              source=config.source),
        pruner=build_pruner(config.study, source=config.source),
    )


def stored_config(study: optuna.Study) -> StudyConfig:
    """The :class:`StudyConfig` stored with ``study``."""
    attrs = study.user_attrs
    text = attrs.get(STUDY_FILE_ATTR)
    if text is None:
        raise StorageError(f"study {study.study_name!r} was not created by hebbsearch "
                           f"(no {STUDY_FILE_ATTR!r} attribute)")
    source = f"{attrs.get(STUDY_PATH_ATTR, 'study file')} (stored in study {study.study_name!r})"
    return parse_study_text(text, source, default_name=study.study_name)


def is_counted(trial: FrozenTrial) -> bool:
    """Whether ``trial`` counts toward ``n_trials`` (see the module docstring)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    if trial.state == TrialState.FAIL:
        reason = trial.user_attrs.get(FAIL_REASON_ATTR)
        return bool(reason) and not str(reason).startswith(INTERRUPTED)
    return False


def finished_count(trials: Iterable[FrozenTrial]) -> int:
    """How many of ``trials`` count toward ``n_trials``."""
    return sum(is_counted(t) for t in trials)


def fail_orphaned_trials(study: optuna.Study, storage: RDBStorage,
                         trials: list[FrozenTrial] | None = None) -> list[int]:
    """Fail and retry RUNNING trials that never recorded a heartbeat and started longer than the grace
    period ago (a worker killed right after creating its trial); heartbeat storages only.

    Optuna's :func:`~optuna.storages.fail_stale_trials` skips trials without a heartbeat record, so such a
    trial would stay RUNNING forever and hold a place in the budget. ``storage`` is the study's RDB
    storage. Returns their numbers.
    """
    interval = storage.heartbeat_interval
    if not interval:
        return []
    grace = storage.grace_period or 2 * interval
    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=grace)
    running = [t for t in trials if t.state == TrialState.RUNNING] if trials is not None else study.get_trials(
        deepcopy=False, states=(TrialState.RUNNING,))
    old = {t._trial_id: t for t in running if t.datetime_start is not None and t.datetime_start < cutoff}
    if not old:
        return []
    query = sqlalchemy.text("SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids").bindparams(
        sqlalchemy.bindparam("ids", expanding=True))
    with storage.engine.connect() as conn:
        beating = {row[0] for row in conn.execute(query, {"ids": list(old)})}
    callback = storage.get_heartbeat_stale_trial_callback()
    failed = []
    for trial_id, trial in old.items():
        if trial_id in beating:
            continue
        try:
            if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        failed.append(trial.number)
        if callback is not None:
            callback(study, storage.get_trial(trial_id))
    return failed


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of the trials that already have a retry among ``trials``: re-queued by hebbsearch
    (``retry_of``) or by Optuna's heartbeat callback (the system attribute ``retry_history``, which
    lists every trial of the chain of retries, where ``failed_trial`` only names the first)."""
    retried: set[int] = set()
    for t in trials:
        if isinstance(number := t.user_attrs.get(RETRY_OF_ATTR), int):
            retried.add(number)
        retried.update(n for n in t.system_attrs.get("retry_history", ()) if isinstance(n, int))
    return retried


def requeue_interrupted(study: optuna.Study, trials: list[FrozenTrial] | None = None) -> list[int]:
    """Enqueue, with the same parameters, every trial failed by an interruption and not yet retried
    (``trials``: the study's trials, when the caller has just read them).

    Returns the numbers of the re-queued trials.
    """
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    retried = retried_numbers(trials)
    requeued = []
    for t in trials:
        reason = t.user_attrs.get(FAIL_REASON_ATTR)
        if (t.state == TrialState.FAIL and str(reason or "").startswith(INTERRUPTED)
                and t.number not in retried):
            study.enqueue_trial(t.params, user_attrs={RETRY_OF_ATTR: t.number})
            requeued.append(t.number)
    return requeued


__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "create_or_load_study",
    "fail_orphaned_trials",
    "finished_count",
    "is_counted",
    "load_study",
    "open_storage",
    "outage_error",
    "requeue_interrupted",
    "resolve_storage_url",
    "retried_numbers",
    "stored_config",
    "study_names",
]
