"""``refit_best``: each probe position's best trial refit on train + val, stored position by position, so an
interrupted refit keeps what it finished and a second one refits only what is missing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hebbsearch.errors import HebbsearchError
from hebbsearch.search import WorkerOptions, create_study, load_study, open_storage, refit_best, run_worker
from hebbsearch.search import _objective as objective_module
from hebbsearch.search._report import best_table
from hebbsearch.study import parse_study_text
from search_tests.test_every_depth import THREE


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> str:
    """A finished 3-depth study (every_depth: every position has a complete trial); its storage URL."""
    path = tmp_path_factory.mktemp("refit") / "s.db"
    url = f"sqlite:///{path}"
    objective_module._LAYER_CACHE.clear()
    create_study(url, parse_study_text(THREE, "s.toml"), device="cpu")
    run_worker(WorkerOptions(url, "tiny", gpus="none", heartbeat=None, progress_bar=False, summary=False))
    objective_module._LAYER_CACHE.clear()
    return url


def _copy(url: str, tmp_path: Path) -> str:
    """A private copy of the searched study, so each test starts without refit results."""
    copy = tmp_path / "copy.db"
    with sqlite3.connect(url.removeprefix("sqlite:///")) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    return f"sqlite:///{copy}"


def _best_numbers(url: str) -> dict[int, int]:
    study = load_study(open_storage(url, must_exist=True), "tiny")
    return {depth: t.number for depth, t in best_table(study).best.items()}


def _stored(url: str) -> dict:
    return load_study(open_storage(url, must_exist=True), "tiny").user_attrs.get("refit", {})


def test_positions_one_at_a_time_then_only_what_is_missing(searched: str, tmp_path: Path) -> None:
    url = _copy(searched, tmp_path)
    best = _best_numbers(url)
    assert sorted(best) == [1, 2, 3]
    lines: list[str] = []
    new = refit_best(url, "tiny", probe_after=[3], log=lines.append)
    assert list(new) == [str(best[3])] and _stored(url) == new
    assert 0 <= new[str(best[3])]["test_accuracy"] <= 1
    rest = refit_best(url, "tiny", log=lines.append)  # positions 1 and 2; 3 is kept, not refit
    assert sorted(rest) == sorted(str(best[d]) for d in (1, 2))
    assert any(f"trial {best[3]} (probe after 3): already refit" in line for line in lines)
    assert _stored(url) == {**new, **rest}
    assert refit_best(url, "tiny") == {}
    again = refit_best(url, "tiny", again=True, probe_after=[1, 3])
    assert sorted(again) == sorted(str(best[d]) for d in (1, 3))
    # same trial, same seed, same data: the same test accuracy again
    assert again[str(best[3])]["test_accuracy"] == new[str(best[3])]["test_accuracy"]


def test_an_interrupted_refit_keeps_the_positions_it_finished(searched: str, tmp_path: Path,
                                                              monkeypatch) -> None:
    url = _copy(searched, tmp_path)
    best = _best_numbers(url)
    call = objective_module.Objective.__call__
    calls = []

    def interrupted_second(self, trial):
        calls.append(trial.number)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return call(self, trial)

    monkeypatch.setattr(objective_module.Objective, "__call__", interrupted_second)
    with pytest.raises(KeyboardInterrupt):
        refit_best(url, "tiny")
    assert list(_stored(url)) == [str(best[1])]


def test_a_position_without_a_complete_trial_is_one_line(searched: str, tmp_path: Path) -> None:
    url = _copy(searched, tmp_path)
    with pytest.raises(HebbsearchError) as info:
        refit_best(url, "tiny", probe_after=[2, 5])
    assert str(info.value) == ("study 'tiny' has no complete trial probing after 5; its probe positions "
                               "with a complete trial: 1, 2, 3")
    assert _stored(url) == {}
