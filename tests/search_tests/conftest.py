"""Tiny study files for the search tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# A few seconds in total: synthetic 8×8 images, 32 units, 3 probe epochs.
TINY = textwrap.dedent("""
    [study]
    name = "tiny"
    n_trials = 4
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
    lr = 0.02

    [search.krotov]
    p = 3
    k = 3
    delta = [0.1, 0.4]
""")


@pytest.fixture
def write_study(tmp_path: Path) -> Callable[..., Path]:
    """``write_study(text=TINY, name="study.toml", **replace)``: write a study file and return its path."""

    def write(text: str = TINY, name: str = "study.toml", replace: dict[str, str] | None = None) -> Path:
        for old, new in (replace or {}).items():
            assert old in text, old
            text = text.replace(old, new)
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


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
