"""CLI test helpers: a tiny study that must prune, and ``cli(*args)`` running ``main`` in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hebbsearch.cli import main

ROOT = Path(__file__).resolve().parents[2]

# Synthetic 8×8 images, 32 units, 3 probe epochs: well under a second per trial. probe.lr is either
# useless (1e-5) or good (0.02), so with the median pruner (1 start-up trial, no warm-up) every useless
# trial after a good one is pruned at its first epoch; the random sampler with seed 1 draws both kinds.
TINY = textwrap.dedent("""
    [study]
    name = "tiny"
    n_trials = 6
    seed = 1

    [study.sampler]
    name = "random"

    [study.pruner]
    name = "median"
    n_startup_trials = 1
    n_warmup_steps = 0

    [data]
    dataset = "synthetic"
    subset = 500

    [model]
    preset = "krotov_fc"
    hidden = 32
    power = 1.0

    [hebbian]
    epochs = 1

    [probe]
    epochs = 3
    lr = {choices = [0.00001, 0.02]}

    [search.krotov]
    p = 3
    k = 3
    delta = [0.1, 0.4]
""")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``cli("run", path, ...)`` → Result(code, stdout, stderr) of ``hebbsearch ...`` run in-process."""

    def run(*args: object) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def study_file(tmp_path: Path) -> Callable[..., Path]:
    """``study_file(text=TINY, replace={old: new})`` → path of the written study file."""

    def write(text: str = TINY, replace: dict[str, str] | None = None, name: str = "tiny.toml") -> Path:
        for old, new in (replace or {}).items():
            assert old in text, old
            text = text.replace(old, new)
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def storage(storage_url: str) -> str:
    """A fresh study storage URL: tests using it run on SQLite and on PostgreSQL (tests/conftest.py)."""
    return storage_url


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> str:
    """For tests where the backend does not matter (errors found before the storage is opened)."""
    return f"sqlite:///{tmp_path / 'studies.db'}"


def run_subprocess(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None,
                   timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m hebbsearch.cli ARGS`` in a fresh interpreter (what the console script does)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "hebbsearch.cli", *map(str, args)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(autouse=True)
def _one_torch_thread(monkeypatch: pytest.MonkeyPatch):
    """Tiny tensors: one thread is faster and does not fight other processes for the 2 cores.
    Spawned workers inherit OMP_NUM_THREADS."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(threads)
