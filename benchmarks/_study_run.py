"""One run of a study file through ``hebbsearch run`` in a subprocess, for the benchmarks that compare two
variants of a study (``bench_pruning.py``, ``bench_every_depth.py``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import optuna


def run_study_file(study_file: Path, storage: str, n_trials: int,
                   data_dir: str | None) -> tuple[float, optuna.Study]:
    """Run ``study_file`` to ``n_trials`` trials on ``storage`` (quiet, no artifacts); the wall seconds
    and the study (the only one in ``storage``)."""
    command = [sys.executable, "-m", "hebbsearch.cli", "-q", "run", str(study_file), "--storage", storage,
               "--n-trials", str(n_trials), "--artifact-dir", "none"]
    if data_dir:
        command += ["--data-dir", data_dir]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    (name,) = optuna.get_all_study_names(storage)
    return seconds, optuna.load_study(study_name=name, storage=storage)
