"""Threads per worker: ``--threads``, ``$HEBBSEARCH_THREADS``, and the cores split between ``run --jobs``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch

from hebbsearch.errors import ConfigError
from hebbsearch.search import WorkerOptions, create_study, run_worker, threads_from_env, threads_per_worker
from hebbsearch.study import parse_study_text

from .conftest import TINY


def test_cores_are_split_between_local_workers(monkeypatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert [threads_per_worker(j) for j in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), (" 3 ", 3)])
def test_threads_from_the_environment(monkeypatch, raw, expected) -> None:
    if raw is None:
        monkeypatch.delenv("HEBBSEARCH_THREADS", raising=False)
    else:
        monkeypatch.setenv("HEBBSEARCH_THREADS", raw)
    assert threads_from_env() == expected


@pytest.mark.parametrize("raw", ["0", "two", "-1", "1.5"])
def test_invalid_threads_in_the_environment(monkeypatch, raw) -> None:
    monkeypatch.setenv("HEBBSEARCH_THREADS", raw)
    with pytest.raises(ConfigError, match=r"^HEBBSEARCH_THREADS: expected an integer >= 1, got"):
        threads_from_env()


def test_a_worker_runs_its_trials_on_its_threads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    create_study(url, parse_study_text(TINY, "s.toml"), device="cpu")
    before = torch.get_num_threads()
    try:
        options = WorkerOptions(url, "tiny", n_trials=1, gpus="none", heartbeat=None, threads=1,
                                progress_bar=False, summary=False)
        run_worker(options, objective=lambda trial: float(torch.get_num_threads()))
    finally:
        torch.set_num_threads(before)
    study = optuna.load_study(study_name="tiny", storage=url)
    assert [t.value for t in study.trials] == [1.0]


def test_the_worker_command_rejects_a_bad_thread_count(tmp_path: Path) -> None:
    env = {**os.environ, "HEBBSEARCH_THREADS": "many"}
    done = subprocess.run([sys.executable, "-m", "hebbsearch.cli", "worker", "tiny", "--storage",
                           f"sqlite:///{tmp_path / 's.db'}"], env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "hebbsearch: error: HEBBSEARCH_THREADS: expected an integer >= 1, got 'many'"
