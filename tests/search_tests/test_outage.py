"""A worker cut off from its storage at the worst moment, in process and deterministic: the outage starts
inside the objective, so Optuna's own bookkeeping of the trial (tell, then reading the trial back) fails
too. (``test_pool.py`` does the same with a real PostgreSQL server, where the moment is left to chance.)
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from hebbsearch.search import (
    WorkerOptions,
    create_study,
    finished_count,
    is_outage,
    outage_error,
    retried_numbers,
    run_worker,
)
from hebbsearch.study import parse_study_text

from .conftest import TINY

#: storage calls that fail while the storage is "down" (every call a worker makes around a trial)
_CALLS = ("set_trial_state_values", "get_trial", "get_all_trials", "set_trial_user_attr", "create_new_trial",
          "set_trial_intermediate_value", "get_best_trial")


def _lost_connection() -> sqlalchemy.exc.OperationalError:
    reason = Exception("server closed the connection unexpectedly")
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, reason)


@pytest.fixture
def outage(monkeypatch):
    """``down``: while set, the main thread's storage calls raise an ``OperationalError`` (other threads,
    standing for other workers, still reach the storage)."""
    down = threading.Event()
    main = threading.main_thread()

    def failing(name: str):
        original = getattr(RDBStorage, name)

        def call(self, *args, **kwargs):
            if down.is_set() and threading.current_thread() is main:
                raise _lost_connection()
            return original(self, *args, **kwargs)
        return call

    for name in _CALLS:
        monkeypatch.setattr(RDBStorage, name, failing(name))
    return down


def _run(tmp_path: Path, objective, n_trials: int = 3) -> tuple[optuna.Study, str]:
    url = f"sqlite:///{tmp_path / 's.db'}"
    config = parse_study_text(TINY, "s.toml")
    create_study(url, config, device="cpu")
    stream = io.StringIO()
    options = WorkerOptions(url, "tiny", n_trials=n_trials, gpus="none", heartbeat=None, progress_bar=False,
                            summary=False)
    result = run_worker(options, stream=stream, objective=objective)
    assert result.reason == "budget"
    return optuna.load_study(study_name="tiny", storage=url), stream.getvalue()


def test_the_chain_of_optunas_error_leads_to_the_outage() -> None:
    try:
        try:
            raise _lost_connection()
        except Exception:
            raise UnboundLocalError("cannot access local variable 'updated_state'")  # noqa: B904 - as Optuna
    except UnboundLocalError as e:
        assert is_outage(e) and isinstance(outage_error(e), sqlalchemy.exc.OperationalError)
    assert outage_error(ValueError("a bug")) is None


def test_an_outage_while_the_trial_is_told_retries_it_once(tmp_path: Path, outage) -> None:
    calls = []

    def objective(trial: optuna.Trial) -> float:
        calls.append(trial.number)
        if len(calls) == 1:  # the server goes away as the first trial ends, and comes back 2.5 s later
            outage.set()
            threading.Timer(2.5, outage.clear).start()
        return trial.suggest_float("x", 0.0, 1.0)

    study, log = _run(tmp_path, objective)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] + [TrialState.COMPLETE] * 3
    assert trials[0].user_attrs["fail_reason"] == "interrupted (storage outage)"
    assert trials[1].user_attrs["retry_of"] == 0 and trials[1].params == trials[0].params
    assert finished_count(trials) == 3
    # the log names the lost connection, not what Optuna raised while it handled it
    assert "server closed the connection unexpectedly" in log and "updated_state" not in log, log
    assert "storage reachable again" in log


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_trial_failed_as_stale_by_another_worker_during_the_outage_is_retried_once(
        tmp_path: Path, outage) -> None:
    """The worker's heartbeat stopped with the outage, so another worker failed its trial as stale and
    Optuna's callback re-queued it; the worker, back, must neither fail on the finished trial nor
    re-queue it a second time."""
    calls = []

    def other_worker_fails_it_as_stale(url: str, trial_id: int) -> None:
        try:
            storage = RDBStorage(url)
            study = optuna.load_study(study_name="tiny", storage=storage)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            RetryHeartbeatStaleTrialCallback(max_retry=3)(study, storage.get_trial(trial_id))
        finally:
            outage.clear()

    def objective(trial: optuna.Trial) -> float:
        calls.append(trial.number)
        if len(calls) == 1:
            outage.set()
            url = f"sqlite:///{tmp_path / 's.db'}"
            threading.Timer(1.5, other_worker_fails_it_as_stale, (url, trial._trial_id)).start()
        return trial.suggest_float("x", 0.0, 1.0)

    study, log = _run(tmp_path, objective)
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL and "fail_reason" not in trials[0].user_attrs
    retries = [t for t in trials if t.params == trials[0].params and t.number != 0]
    assert len(retries) == 1 and retries[0].system_attrs["failed_trial"] == 0
    assert retries[0].state == TrialState.COMPLETE
    assert retried_numbers(trials) == {0}
    assert finished_count(trials) == 3 and len(trials) == 4
