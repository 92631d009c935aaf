"""``hebbsearch report`` in every format, parsed back and checked against the best trial per probe position;
``hebbsearch studies``. Tests taking ``storage`` run on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

DISTS = {
    "probe_after": CategoricalDistribution([1, 2, 3]),
    "krotov.p": IntDistribution(2, 8),
    "krotov.k": IntDistribution(2, 10),
    "krotov.delta": FloatDistribution(0.0, 0.4),
    "probe.dropout": FloatDistribution(0.0, 0.5),
}
TRIALS = [  # state, val, probe_after, p, k, delta, dropout
    (TrialState.COMPLETE, 0.61, 1, 3, 7, 0.31, 0.10),
    (TrialState.COMPLETE, 0.66, 1, 4, 5, 0.22, 0.25),
    (TrialState.COMPLETE, 0.70, 2, 2, 9, 0.05, 0.40),
    (TrialState.PRUNED, None, 2, 8, 3, 0.39, 0.00),
    (TrialState.COMPLETE, 0.64, 3, 6, 4, 0.12, 0.33),
    (TrialState.COMPLETE, 0.68, 3, 5, 6, 0.18, 0.05),
    (TrialState.FAIL, None, 3, 8, 2, 0.40, 0.50),
]


@pytest.fixture
def handmade(storage: str) -> optuna.Study:
    """A three-column study written straight into the storage (no training)."""
    from hebbsearch.search import open_storage

    study = optuna.create_study(study_name="bio", storage=open_storage(storage), direction="maximize")
    for state, value, pa, p, k, delta, dropout in TRIALS:
        params = {"probe_after": pa, "krotov.p": p, "krotov.k": k, "krotov.delta": delta, "probe.dropout": dropout}
        study.add_trial(create_trial(
            state=state, value=value, params=params, distributions={n: DISTS[n] for n in params},
            intermediate_values={0: value or 0.1},
            user_attrs={"rule": "krotov", "probe_after": pa, "n_params": 1000 * pa + 17,
                        **({"test_accuracy": value - 0.02} if value else {})},
        ))
    return study


def best_per_column(study: optuna.Study) -> dict[int, optuna.trial.FrozenTrial]:
    best: dict[int, optuna.trial.FrozenTrial] = {}
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        pa = t.params["probe_after"]
        if pa not in best or t.value > best[pa].value:
            best[pa] = t
    return best


def expected_rows(study: optuna.Study) -> dict[str, list]:
    best = best_per_column(study)
    cols = sorted(best)
    return {
        "Accuracy (val)": [best[c].value for c in cols],
        "Accuracy (test)": [best[c].user_attrs["test_accuracy"] for c in cols],
        "rule": ["krotov"] * len(cols),
        "p": [best[c].params["krotov.p"] for c in cols],
        "k": [best[c].params["krotov.k"] for c in cols],
        "delta": [best[c].params["krotov.delta"] for c in cols],
        "dropout": [best[c].params["probe.dropout"] for c in cols],
        "Params": [best[c].user_attrs["n_params"] for c in cols],
        "Trial": [best[c].number for c in cols],
    }


def test_json(cli, storage, handmade) -> None:
    r = cli("report", "bio", "--storage", storage, "--format", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["columns"] == [1, 2, 3] and data["study"] == "bio"
    for label, values in expected_rows(handmade).items():
        assert data["rows"][label] == values, label
    assert data["rows"]["Trials (complete)"] == [2, 1, 2]
    assert data["rows"]["Trials (pruned)"] == [0, 1, 0]
    assert data["rows"]["Trials (failed)"] == [0, 0, 1]
    assert data["trials"] == {"complete": 5, "pruned": 1, "failed": 1, "running": 0, "waiting": 0}


def test_csv(cli, storage, handmade) -> None:
    r = cli("report", "bio", "--storage", storage, "--format", "csv")
    rows = list(csv.reader(io.StringIO(r.out)))
    assert rows[0] == ["Hebbian layers", "1", "2", "3"]
    got = {row[0]: row[1:] for row in rows[1:]}
    for label, values in expected_rows(handmade).items():
        if label == "rule":
            assert got[label] == values
        else:
            assert [float(v) for v in got[label]] == pytest.approx(values), label
    assert got["Trials (failed)"] == ["0", "0", "1"]


def _check_human(cells: dict[str, list[str]], study: optuna.Study) -> None:
    exp = expected_rows(study)
    for label in ("Accuracy (val)", "Accuracy (test)"):
        assert [float(re.sub(r"[^0-9.]", "", c)) for c in cells[label]] == pytest.approx(
            [100 * v for v in exp[label]], abs=0.006)
    for label in ("p", "k", "Params", "Trial"):
        assert [int(c) for c in cells[label]] == exp[label]
    assert [float(c) for c in cells["dropout"]] == pytest.approx(exp["dropout"], rel=1e-3)
    assert cells["rule"] == exp["rule"]


def test_markdown(cli, storage, handmade) -> None:
    r = cli("report", "bio", "--storage", storage)  # markdown is the default
    lines = r.out.splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| Hebbian layers | 1 | 2 | 3 |"
    assert set(table[1]) <= set("|:-")
    cells = {}
    for line in table[2:]:
        label, *values = [c.strip() for c in line.strip("|").split("|")]
        cells[label] = values
    cells["delta"] = cells.pop("Δ")
    _check_human(cells, handmade)
    assert [float(c) for c in cells["delta"]] == pytest.approx(expected_rows(handmade)["delta"], rel=1e-3)
    assert lines[-1] == "Trials: 5 complete, 1 pruned, 1 failed"


def test_latex(cli, storage, handmade, tmp_path) -> None:
    out = tmp_path / "table.tex"
    r = cli("report", "bio", "--storage", storage, "--format", "latex", "--output", out)
    assert r.code == 0 and r.out == "" and f"wrote {out}" in r.err
    text = out.read_text()
    body = text[text.index(r"\begin{tabular}"):text.index(r"\end{tabular}")]
    assert r"\begin{tabular}{lrrr}" in body
    rows = [line.removesuffix(r" \\") for line in body.splitlines() if line.endswith(r" \\")]
    assert rows[0] == "Hebbian layers & 1 & 2 & 3"
    cells = {}
    for row in rows[1:]:
        label, *values = [c.strip() for c in row.split(" & ")]
        cells[label.replace(r"\_", "_")] = [v.replace(r"\%", "%").replace(r"\_", "_") for v in values]
    assert r"$\Delta$" in cells
    _check_human(cells, handmade)
    assert "% Trials: 5 complete, 1 pruned, 1 failed" in text


def test_report_of_a_real_run_and_plots(cli, study_file, storage, tmp_path) -> None:
    assert cli("run", study_file(), "--storage", storage, "-q").code == 0
    from hebbsearch.search import open_storage

    study = optuna.load_study(study_name="tiny", storage=open_storage(storage))
    plots = tmp_path / "plots"
    r = cli("report", "tiny", "--storage", storage, "--format", "json", "--plots", plots)
    assert r.code == 0, r.err
    data = json.loads(r.out)
    best = study.best_trial
    assert data["columns"] == [1]
    assert data["rows"]["Accuracy (val)"] == [best.value]
    assert data["rows"]["Accuracy (test)"] == [best.user_attrs["test_accuracy"]]
    assert data["rows"]["delta"] == [best.params["krotov.delta"]]
    assert data["rows"]["probe.lr"] == [best.params["probe.lr"]]
    assert data["rows"]["Params"] == [best.user_attrs["n_params"]]
    assert data["trials"]["pruned"] >= 1
    for name in ("optimization_history", "intermediate_values", "param_importances"):
        assert (plots / f"{name}.png").stat().st_size > 1000, name
        assert f"wrote {plots / name}.png" in r.err


def test_plots_skip_importances_with_too_few_trials(cli, study_file, storage, tmp_path) -> None:
    assert cli("run", study_file(), "--storage", storage, "--n-trials", "1", "-q").code == 0
    r = cli("report", "tiny", "--storage", storage, "--plots", tmp_path / "p")
    assert r.code == 0
    assert (tmp_path / "p" / "optimization_history.png").exists()
    assert not (tmp_path / "p" / "param_importances.png").exists()
    assert "skipped param_importances: needs at least 2 complete trials" in r.err


def test_studies_lists_counts_and_best_values(cli, storage, handmade) -> None:
    r = cli("studies", "--storage", storage, "--format", "json")
    (record,) = json.loads(r.out)
    assert record["study"] == "bio" and record["direction"] == "maximize"
    assert (record["complete"], record["pruned"], record["failed"], record["running"]) == (5, 1, 1, 0)
    assert record["best_value"] == handmade.best_value and record["best_trial"] == handmade.best_trial.number
    rows = list(csv.DictReader(io.StringIO(cli("studies", "--storage", storage, "--format", "csv").out)))
    assert rows[0]["study"] == "bio" and float(rows[0]["best_value"]) == handmade.best_value
    table = cli("studies", "--storage", storage).out.splitlines()
    assert table[0].split()[:3] == ["study", "direction", "complete"]
    assert table[2].split()[:6] == ["bio", "maximize", "5", "1", "1", "0"]


def test_raw_baseline_gain_and_refit_rows(cli, study_file, storage) -> None:
    """Every study gets the raw-input baseline (the best trial's probe on the input itself) and the
    Hebbian gain; `refit` adds the test accuracy of the best trial refit on train + val."""
    path = study_file(replace={"n_trials = 6": "n_trials = 3"})
    assert cli("run", path, "--storage", storage, "-q").code == 0
    r = cli("report", "tiny", "--storage", storage, "--format", "json")
    rows = json.loads(r.out)["rows"]
    raw = rows["Raw-input baseline (val)"][0]
    assert 0 <= raw <= 1 and rows["Hebbian gain (val)"][0] == pytest.approx(rows["Accuracy (val)"][0] - raw)
    assert "Accuracy (test, refit on train+val)" not in rows
    r = cli("refit", "tiny", "--storage", storage)
    assert r.code == 0 and "refit on train+val" in r.err
    r = cli("refit", "tiny", "--storage", storage)  # stored: nothing is refit twice
    assert r.code == 0 and "already refit" in r.err and "nothing left to refit" in r.err
    r = cli("refit", "tiny", "--storage", storage, "--probe-after", "4")
    assert r.code == 1 and r.err.strip() == ("hebbsearch: error: study 'tiny' has no complete trial probing "
                                             "after 4; its probe positions with a complete trial: 1")
    rows = json.loads(cli("report", "tiny", "--storage", storage, "--format", "json").out)["rows"]
    assert 0 < rows["Accuracy (test, refit on train+val)"][0] <= 1
    text = cli("report", "tiny", "--storage", storage).out
    assert "| Hebbian gain (val) | " in text and " points |" in text
