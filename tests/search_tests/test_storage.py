"""Storage: URLs, missing studies, resume bookkeeping (what counts toward n_trials, re-queueing).

Tests taking ``storage_url`` run on SQLite and on PostgreSQL (see tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hebbsearch.errors import ConfigError, StorageError
from hebbsearch.search import (
    create_or_load_study,
    finished_count,
    load_study,
    open_storage,
    requeue_interrupted,
    resolve_storage_url,
    stored_config,
    study_names,
)
from hebbsearch.study import parse_study_text

from .conftest import TINY


def test_storage_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEBBSEARCH_STORAGE", raising=False)
    assert resolve_storage_url(None) == "sqlite:///hebbsearch.db"
    monkeypatch.setenv("HEBBSEARCH_STORAGE", "sqlite:///env.db")
    assert resolve_storage_url(None) == "sqlite:///env.db"
    assert resolve_storage_url("sqlite:///flag.db") == "sqlite:///flag.db"


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x/y", "sqlite:////no/such/dir/x.db",
                                 "postgresql://user:secret@127.0.0.1:1/db"])
def test_bad_storage_is_one_line_storage_error(url: str) -> None:
    with pytest.raises(StorageError) as info:
        open_storage(url)
    assert "\n" not in str(info.value)
    assert "secret" not in str(info.value)


def test_read_only_commands_do_not_create_sqlite_files(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        open_storage(f"sqlite:///{tmp_path}/x.db", must_exist=True)
    assert not (tmp_path / "x.db").exists()


def test_missing_study_names_the_existing_ones(storage_url: str) -> None:
    storage = open_storage(storage_url)
    create_or_load_study(storage, parse_study_text(TINY, "s.toml"))
    with pytest.raises(StorageError, match="no study named 'other'.*studies there: tiny"):
        load_study(storage, "other")


def test_study_file_is_stored_and_must_not_change(storage_url: str) -> None:
    storage = open_storage(storage_url)
    config = parse_study_text(TINY, "s.toml")
    study, created = create_or_load_study(storage, config)
    assert created and stored_config(study).search == config.search
    assert study.metric_names == ["val_accuracy"]  # the objective's name in optuna-dashboard
    # n_trials may change on resume; the search may not
    _, created = create_or_load_study(storage, parse_study_text(TINY.replace("n_trials = 4", "n_trials = 9"),
                                                                "s.toml"))
    assert not created
    with pytest.raises(ConfigError, match="different study file"):
        create_or_load_study(storage, parse_study_text(TINY.replace("p = 3", "p = 4"), "s.toml"))


def _trial(state: TrialState, number_attrs: dict, delta: float = 0.2) -> optuna.trial.FrozenTrial:
    return create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None,
                        params={"krotov.delta": delta},
                        distributions={"krotov.delta": FloatDistribution(0.1, 0.4)}, user_attrs=number_attrs)


def test_what_counts_toward_n_trials_and_requeueing(storage_url: str) -> None:
    study = optuna.create_study(storage=open_storage(storage_url), direction="maximize")
    study.add_trial(_trial(TrialState.COMPLETE, {}))
    study.add_trial(_trial(TrialState.PRUNED, {}))
    study.add_trial(_trial(TrialState.FAIL, {"fail_reason": "diverged: nan"}))
    study.add_trial(_trial(TrialState.FAIL, {"fail_reason": "interrupted (Ctrl-C)"}, delta=0.33))
    study.add_trial(_trial(TrialState.FAIL, {}))  # e.g. failed by the heartbeat: Optuna retries it
    assert finished_count(study.get_trials()) == 3
    assert requeue_interrupted(study) == [3]
    assert requeue_interrupted(study) == []  # only once
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1
    assert waiting[0].system_attrs["fixed_params"] == {"krotov.delta": 0.33}
    assert waiting[0].user_attrs["retry_of"] == 3


def test_a_storage_is_shared_by_separate_connections(storage_url: str) -> None:
    """What workers rely on: a study created through one storage object is resumed through another
    (its own engine and connections), with its trials and stored study file."""
    config = parse_study_text(TINY, "s.toml")
    first, _ = create_or_load_study(open_storage(storage_url), config)
    first.add_trial(_trial(TrialState.COMPLETE, {}))
    second = open_storage(storage_url, must_exist=True, heartbeat_interval=5)
    assert study_names(second) == ["tiny"]
    resumed, _ = create_or_load_study(second, config, worker=1)
    assert finished_count(resumed.get_trials()) == 1
    assert stored_config(load_study(second, "tiny")).search == config.search


def test_plain_postgresql_urls_use_the_installed_driver(postgres_url: str) -> None:
    """SQLAlchemy 2.1 reads postgresql:// as psycopg 3; hebbsearch installs psycopg2. The URL must work
    as written and stay as written in messages."""
    assert postgres_url.startswith("postgresql://")
    storage = open_storage(postgres_url)
    assert storage.url == postgres_url
    with pytest.raises(StorageError) as info:
        load_study(storage, "nope")
    assert str(info.value) == f"no study named 'nope' in {postgres_url}; the storage has no studies"
