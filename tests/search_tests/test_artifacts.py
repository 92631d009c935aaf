"""Filter pictures: the image of a weight, one PNG artifact per trial of a run, and ``report --plots``."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState
from PIL import Image

from hebbsearch.search import ARTIFACTS_ENV, load_data, open_storage
from hebbsearch.search._artifacts import MAX_UNITS, filters_image, grid_size
from hebbsearch.study import parse_study_text

from cli_tests.conftest import TINY as CLI_TINY
from cli_tests.conftest import cli  # noqa: F401 - the fixture

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HIDDEN = 32  # [model] hidden of the CLI's TINY study


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


# --- the picture of a weight --------------------------------------------------------------------------


def test_conv_weight_gives_one_tile_per_filter() -> None:
    image = filters_image(torch.randn(10, 3, 5, 5), (3, 8, 8))
    assert image.mode == "RGB"
    assert image.size == grid_size(10, (5, 5))
    assert image.size != grid_size(9, (5, 5))  # the grid depends on the number of filters


def test_positive_first_channel_is_red() -> None:
    weight = torch.zeros(1, 3, 5, 5)
    weight[0, 0] = torch.rand(5, 5) + 0.1  # all positive, channel 0 (R) only
    image = filters_image(weight, (3, 8, 8))
    width, height = image.size
    r, g, b = _pixels(image)[height // 2, width // 2]
    assert r > g and r > b, (r, g, b)
    assert r > 128 and g == b  # brighter than mid-grey in red, the other channels at zero


def test_linear_layer_on_one_channel_images_shows_the_image_shape() -> None:
    image = filters_image(torch.randn(7, 784), (1, 28, 28))
    assert image.size == grid_size(7, (28, 28))


def test_linear_layer_tiles_have_the_image_shape_even_when_not_square() -> None:
    image = filters_image(torch.randn(7, 64), (1, 4, 16))
    assert image.size == grid_size(7, (4, 16))
    assert image.size != grid_size(7, (8, 8))  # not a near-square tile of 64 values


def test_zero_weights_do_not_divide_by_zero() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns on 0 / 0
        rgb = filters_image(torch.zeros(4, 3, 5, 5), (3, 8, 8))
        grey = filters_image(torch.zeros(3, 64), (1, 8, 8))
    colours = {tuple(c) for c in _pixels(rgb).reshape(-1, 3)}
    assert colours == {(255, 255, 255), (128, 128, 128)}  # white borders, mid-grey tiles
    assert (_pixels(grey) == 255).all()  # one channel: zero is white in the blue-white-red map


def test_at_most_max_units_tiles() -> None:
    assert MAX_UNITS == 100
    image = filters_image(torch.randn(150, 1, 5, 5), (1, 8, 8))
    assert image.size == grid_size(100, (5, 5), max_units=1000)
    assert image.size != grid_size(150, (5, 5), max_units=1000)


# --- artifacts of a run, and the report's copy of the best one --------------------------------------


def _run_tiny(cli, tmp_path: Path, *extra: object, name: str = "tiny") -> str:  # noqa: F811
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    path = tmp_path / f"{name}.toml"
    path.write_text(CLI_TINY.replace('name = "tiny"', f'name = "{name}"'))
    r = cli("run", path, "--storage", storage, "--n-trials", 2, "-q", *extra)
    assert r.code == 0, r.err
    return storage


def _trials(storage: str, name: str) -> tuple[optuna.storages.BaseStorage, list[optuna.trial.FrozenTrial]]:
    rdb = open_storage(storage)
    return rdb, optuna.load_study(study_name=name, storage=rdb).get_trials()


def _tile_shape() -> tuple[int, int]:
    splits = load_data(parse_study_text(CLI_TINY, "tiny.toml"), None, "cpu")
    return splits.input_shape[1:]


def test_each_trial_of_a_run_stores_its_filters(cli, tmp_path) -> None:  # noqa: F811
    store = Path(os.environ[ARTIFACTS_ENV])  # the default artifact store (tests/conftest.py)
    assert f"hidden = {HIDDEN}" in CLI_TINY
    storage = _run_tiny(cli, tmp_path)
    rdb, trials = _trials(storage, "tiny")
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 2 and any(t.state == TrialState.COMPLETE for t in finished)
    expected = grid_size(HIDDEN, _tile_shape())
    for trial in finished:
        (meta,) = get_all_artifact_meta(trial, storage=rdb)
        assert meta.mimetype == "image/png"
        file = store / meta.artifact_id
        assert file.read_bytes().startswith(PNG_MAGIC)
        with Image.open(file) as image:
            assert image.size == expected
    assert len(list(store.iterdir())) == 2


def test_artifact_dir_none_stores_nothing(cli, tmp_path) -> None:  # noqa: F811
    store = Path(os.environ[ARTIFACTS_ENV])
    storage = _run_tiny(cli, tmp_path, "--artifact-dir", "none")
    rdb, trials = _trials(storage, "tiny")
    assert len(trials) == 2
    assert all(get_all_artifact_meta(t, storage=rdb) == [] for t in trials)
    assert not store.exists() or list(store.iterdir()) == []


def test_report_plots_write_the_best_trials_filters(cli, tmp_path) -> None:  # noqa: F811
    store = Path(os.environ[ARTIFACTS_ENV])
    storage = _run_tiny(cli, tmp_path)
    rdb, _ = _trials(storage, "tiny")
    best = optuna.load_study(study_name="tiny", storage=rdb).best_trial
    (meta,) = get_all_artifact_meta(best, storage=rdb)
    plots = tmp_path / "plots"
    for _ in range(2):  # a second report replaces the picture
        r = cli("report", "tiny", "--storage", storage, "--plots", plots)
        assert r.code == 0, r.err
        assert f"wrote {plots / 'filters_after_1.png'}" in r.err
        assert (plots / "filters_after_1.png").read_bytes() == (store / meta.artifact_id).read_bytes()

    empty = tmp_path / "empty-store"
    r = cli("report", "tiny", "--storage", storage, "--plots", tmp_path / "p2", "--artifact-dir", empty)
    assert r.code == 0, r.err
    assert not (tmp_path / "p2" / "filters_after_1.png").exists()
    assert f"skipped filters_after_1: the picture of trial {best.number} is not in the artifact store" in r.err
    assert not empty.exists()  # reading never creates the store

    r = cli("report", "tiny", "--storage", storage, "--plots", tmp_path / "p3", "--artifact-dir", "none")
    assert r.code == 0, r.err
    assert (tmp_path / "p3" / "optimization_history.png").exists()
    assert not (tmp_path / "p3" / "filters_after_1.png").exists()


def test_report_plots_of_a_trial_without_filters_are_skipped(cli, tmp_path) -> None:  # noqa: F811
    storage = _run_tiny(cli, tmp_path, "--artifact-dir", "none")
    r = cli("report", "tiny", "--storage", storage, "--plots", tmp_path / "plots")
    assert r.code == 0, r.err
    assert not (tmp_path / "plots" / "filters_after_1.png").exists()
    assert "skipped filters_after_1: trial " in r.err and "stored no filter picture" in r.err


@pytest.mark.parametrize("where", ["under a file", "a file"])
def test_report_plots_into_an_impossible_directory(cli, tmp_path, where) -> None:  # noqa: F811
    storage = _run_tiny(cli, tmp_path)
    regular = tmp_path / "f.txt"
    regular.write_text("not a directory")
    plots = regular / "sub" if where == "under a file" else regular
    r = cli("report", "tiny", "--storage", storage, "--plots", plots)
    assert r.code == 1
    assert len(r.err_lines) == 1, r.err
    assert r.err_lines[0].startswith(f"hebbsearch: error: cannot write plots to {plots}: ")
    assert "unexpected" not in r.err
