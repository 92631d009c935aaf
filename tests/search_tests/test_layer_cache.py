"""The on-disk layer cache (``--layer-cache``): trained layers shared by the processes of a host, read back
by ``refit``, written atomically, bounded in size, keyed by everything the layer depends on."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest

from hebbsearch.search import (
    LAYER_CACHE_ENV,
    Objective,
    WorkerOptions,
    create_study,
    refit_best,
    resolve_layer_cache,
    run_worker,
)
from hebbsearch.search import _objective
from hebbsearch.study import parse_study_text
from study_tests.test_parse import LAYERS


@pytest.fixture
def config():
    _objective._LAYER_CACHE.clear()
    yield parse_study_text(LAYERS.replace('name = "median"\nn_startup_trials = 1\nn_warmup_steps = 0',
                                          'name = "none"'), "s.toml")
    _objective._LAYER_CACHE.clear()


def _trial(config, cache: Path | None, params: dict) -> optuna.trial.FrozenTrial:
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(params)
    study.optimize(Objective(config, device="cpu", layer_cache=cache), n_trials=1)
    return study.trials[0]


def test_another_process_reuses_the_layers_from_disk(tmp_path: Path, config) -> None:
    cache = tmp_path / "layers"
    first = _trial(config, cache, {"probe_after": 2, "krotov.delta": 0.3})
    assert "reused_layers" not in first.user_attrs
    assert len(list(cache.glob("*.pt"))) == 2  # one file per layer
    _objective._LAYER_CACHE.clear()  # a new process: nothing in memory
    again = _trial(config, cache, {"probe_after": 2, "krotov.delta": 0.3})
    assert again.user_attrs["reused_layers"] == 2 and again.value == first.value
    assert again.user_attrs["convergence"] == first.user_attrs["convergence"]
    _objective._LAYER_CACHE.clear()
    other = _trial(config, cache, {"probe_after": 2, "krotov.delta": 0.2})  # other settings: trained anew
    assert "reused_layers" not in other.user_attrs and len(list(cache.glob("*.pt"))) == 4
    _objective._LAYER_CACHE.clear()
    without = _trial(config, None, {"probe_after": 2, "krotov.delta": 0.3})  # off: memory only
    assert "reused_layers" not in without.user_attrs and without.value == first.value


def test_a_damaged_file_is_trained_again_and_old_files_go_beyond_the_size_limit(tmp_path: Path, config,
                                                                                monkeypatch) -> None:
    cache = tmp_path / "layers"
    first = _trial(config, cache, {"probe_after": 1, "krotov.delta": 0.3})
    (path,) = cache.glob("*.pt")
    path.write_bytes(b"not a tensor file")
    _objective._LAYER_CACHE.clear()
    again = _trial(config, cache, {"probe_after": 1, "krotov.delta": 0.3})
    assert "reused_layers" not in again.user_attrs and again.value == first.value
    os.utime(path, (1, 1))  # the least recently used
    monkeypatch.setattr(_objective, "LAYER_CACHE_DISK_BYTES", path.stat().st_size + 1)
    _objective._LAYER_CACHE.clear()
    _trial(config, cache, {"probe_after": 1, "krotov.delta": 0.2})
    assert not path.exists() and len(list(cache.glob("*.pt"))) == 1
    assert not list(cache.glob("*.tmp"))


def test_refit_reads_the_searched_layers_back(tmp_path: Path, config, monkeypatch) -> None:
    url, cache = f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "layers")
    create_study(url, config.replace_study(n_trials=2), device="cpu")
    run_worker(WorkerOptions(url, "tiny", gpus="none", heartbeat=None, progress_bar=False, summary=False,
                             layer_cache=cache))
    _objective._LAYER_CACHE.clear()  # refit runs in another process
    epochs = []
    real = _objective.train_hebbian

    def spy(*args, **kwargs):
        epochs.append(list(kwargs["epochs"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(_objective, "train_hebbian", spy)
    refit_best(url, "tiny", layer_cache=cache)
    assert epochs and all(e == [0] * len(e) for e in epochs)  # every layer read back, none trained


def test_resolve_layer_cache(monkeypatch) -> None:
    monkeypatch.delenv(LAYER_CACHE_ENV, raising=False)
    assert resolve_layer_cache() is None and resolve_layer_cache("/x") == "/x"
    monkeypatch.setenv(LAYER_CACHE_ENV, "/cache")
    assert resolve_layer_cache() == "/cache" and resolve_layer_cache("none") is None


def test_the_key_names_the_data_directory_one_way_however_it_is_spelled(config, tmp_path: Path,
                                                                        monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    keys = {Objective(config, data_dir=d, device="cpu")._data_key()
            for d in ("data", "./data", str(tmp_path / "data"), f"{tmp_path}/x/../data")}
    assert len(keys) == 1
