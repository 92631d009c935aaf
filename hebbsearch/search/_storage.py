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

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from hebbsearch.errors import ConfigError, StorageError, first_line
from hebbsearch.study import StudyConfig, build_pruner, build_sampler, parse_study_text

DEFAULT_STORAGE = "sqlite:///hebbsearch.db"
STORAGE_ENV = "HEBBSEARCH_STORAGE"

#: user attributes
STUDY_FILE_ATTR = "study_file"
STUDY_PATH_ATTR = "study_file_path"
FAIL_REASON_ATTR = "fail_reason"
RETRY_OF_ATTR = "retry_of"
INTERRUPTED = "interrupted"


def resolve_storage_url(url: str | None = None) -> str:
    """``url``, else ``$HEBBSEARCH_STORAGE``, else :data:`DEFAULT_STORAGE`."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def _safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparsable: show as given, there is no password to find
        return url


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    rest = url[len("sqlite:///"):].split("?", 1)[0]
    if rest in ("", ":memory:"):
        return None
    return Path(rest)


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
    sqlite = _sqlite_path(url)
    if must_exist and sqlite is not None and not sqlite.exists():
        raise StorageError(f"no storage at {shown} (the file {sqlite} does not exist); run a study first "
                           f"or pass --storage")
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("postgresql://"):
        _use_installed_postgres_driver()
    if url.startswith("sqlite"):
        # Several worker processes share one SQLite file: wait for locks instead of failing.
        engine_kwargs["connect_args"] = {"timeout": 60}
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
            storage = RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
    except ImportError as e:
        raise StorageError(f"cannot open storage {shown}: missing database driver "
                           f"({_first_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - SQLAlchemy raises many kinds; all mean "cannot use this URL"
        raise StorageError(f"cannot open storage {shown}: {_first_line(e)}") from None
    if url.startswith("sqlite") and sqlite is not None:
        _tune_sqlite(storage)
    return storage


def _use_installed_postgres_driver() -> None:
    """Let ``postgresql://`` URLs (no ``+driver``) work with the installed driver.

    SQLAlchemy 2.1 reads them as psycopg (3); hebbsearch depends on psycopg2. When psycopg is missing
    and psycopg2 is there, register psycopg2 as the default PostgreSQL driver of this process, so the
    URL stays as the user wrote it (in messages, and for worker processes, which do the same).
    """
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        from sqlalchemy.dialects import registry

        registry.register("postgresql", "sqlalchemy.dialects.postgresql.psycopg2", "PGDialect_psycopg2")


def _tune_sqlite(storage: RDBStorage) -> None:
    """WAL journal (readers do not block the writer: several workers share the file) and fewer fsyncs
    (a commit per reported epoch otherwise costs ~10 ms)."""
    import sqlalchemy

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # connections opened while creating the tables get the pragmas too


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
    import numpy as np

    return int(np.random.SeedSequence([config.study.seed, n_existing, worker]).generate_state(1)[0])


def create_or_load_study(storage: RDBStorage, config: StudyConfig, *, worker: int = 0) -> optuna.Study:
    """Create the study of ``config`` or resume it; the stored study file must describe the same search.

    Raises:
        ConfigError: the stored study was made from a study file that searches something else.
    """
    name = config.study.name
    exists = name in study_names(storage)
    if exists:
        stored = stored_config(load_study(storage, name))
        if _search_identity(stored) != _search_identity(config):
            raise ConfigError(
                f"study {name!r} already exists in {_safe_url(storage.url)} with a different study file "
                f"(only [study] n_trials and timeout may change on resume); rename the study",
                source=config.source, field="study.name")
    n_existing = len(storage.get_all_trials(storage.get_study_id_from_name(name))) if exists else 0
    sampler = build_sampler(config.study, seed=sampler_seed(config, n_existing, worker), source=config.source)
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
    return study


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


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Enqueue, with the same parameters, every trial failed by an interruption and not yet retried.

    Returns the numbers of the re-queued trials.
    """
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_OF_ATTR) for t in trials}
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
    "finished_count",
    "is_counted",
    "load_study",
    "open_storage",
    "requeue_interrupted",
    "resolve_storage_url",
    "stored_config",
    "study_names",
]
