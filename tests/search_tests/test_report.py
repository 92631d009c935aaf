"""best_table: one column per probe position holding that position's best complete trial."""

from __future__ import annotations

import datetime

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from hebbsearch.search import best_table, render_report

DISTS = {
    "probe_after": CategoricalDistribution([1, 2, 3]),
    "rule": CategoricalDistribution(["krotov", "softhebb"]),
    "krotov.p": IntDistribution(2, 8),
    "krotov.delta": FloatDistribution(0.0, 0.4),
    "softhebb.tau": FloatDistribution(0.05, 2.0, log=True),
    "probe.dropout": FloatDistribution(0.0, 0.5),
}


def add(study, state, value, probe_after, rule, **params):
    params = {"probe_after": probe_after, "rule": rule, **{k.replace("__", "."): v for k, v in params.items()}}
    study.add_trial(create_trial(
        state=state, value=value if state == TrialState.COMPLETE else None, params=params,
        distributions={k: DISTS[k] for k in params},
        user_attrs={"test_accuracy": value - 0.01 if value else None, "n_params": 1000 * probe_after,
                    "probe_after": probe_after, "rule": rule},
    ))


def make_study() -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    add(study, TrialState.COMPLETE, 0.60, 1, "krotov", krotov__p=3, krotov__delta=0.3, probe__dropout=0.1)
    add(study, TrialState.COMPLETE, 0.70, 1, "krotov", krotov__p=4, krotov__delta=0.2, probe__dropout=0.2)
    add(study, TrialState.COMPLETE, 0.65, 2, "softhebb", softhebb__tau=0.5, probe__dropout=0.0)
    add(study, TrialState.PRUNED, None, 2, "krotov", krotov__p=2, krotov__delta=0.1, probe__dropout=0.0)
    add(study, TrialState.FAIL, None, 3, "krotov", krotov__p=8, krotov__delta=0.0, probe__dropout=0.0)
    return study


def test_columns_rows_and_counts() -> None:
    study = make_study()
    table = best_table(study)
    assert table.columns == [1, 2, 3]
    rows = dict(table.rows)
    assert rows["Accuracy (val)"] == [0.70, 0.65, None]
    assert rows["Accuracy (test)"] == [0.69, 0.64, None]
    assert rows["rule"] == ["krotov", "softhebb", None]
    assert rows["p"] == [4, None, None] and rows["delta"] == [0.2, None, None]
    assert rows["tau"] == [None, 0.5, None]
    assert rows["dropout"] == [0.2, 0.0, None]
    assert rows["Params"] == [1000, 2000, None]
    assert rows["Trial"] == [1, 2, None]
    assert rows["Trials (complete)"] == [2, 1, 0]
    assert rows["Trials (pruned)"] == [0, 1, 0]
    assert rows["Trials (failed)"] == [0, 0, 1]
    assert table.counts == {"complete": 3, "pruned": 1, "failed": 1, "running": 0, "waiting": 0}
    labels = [label for label, _ in table.rows]
    assert labels.index("rule") < labels.index("p") < labels.index("dropout") < labels.index("Params")
    assert table.best[1].number == study.best_trial.number


def test_minimize_picks_the_lowest() -> None:
    study = optuna.create_study(direction="minimize")
    add(study, TrialState.COMPLETE, 0.60, 1, "krotov", krotov__p=3)
    add(study, TrialState.COMPLETE, 0.50, 1, "krotov", krotov__p=5)
    assert dict(best_table(study).rows)["p"] == [5]


def test_trial_time_and_last_layer_dead_units() -> None:
    """Each column shows its best trial's wall time and the dead-unit fraction of its deepest layer (from
    the collapse diagnostics); the dead row is left out when no trial has diagnostics."""
    study = optuna.create_study(direction="maximize")
    start = datetime.datetime(2026, 12, 6, 12, 0, 0)
    for number, (depth, seconds, dead) in enumerate([(1, 380.4, [0.05]), (2, 526.6, [0.05, 0.62])]):
        study.add_trial(optuna.trial.FrozenTrial(
            number=number, state=TrialState.COMPLETE, value=0.7, datetime_start=start,
            datetime_complete=start + datetime.timedelta(seconds=seconds),
            params={"probe_after": depth}, distributions={"probe_after": DISTS["probe_after"]},
            user_attrs={"probe_after": depth, "diagnostics": [
                {"units": 96, "dead": d, "inactive": 0.0, "duplicates": 0.0} for d in dead]},
            system_attrs={}, intermediate_values={}, trial_id=number))
    rows = dict(best_table(study).rows)
    assert rows["Trial time (s)"] == [380, 527]
    assert rows["Dead units (last layer)"] == [0.05, 0.62]
    assert "| Dead units (last layer) | 5 % | 62 % |" in render_report(best_table(study), "markdown")
    assert "Dead units (last layer)" not in dict(best_table(make_study()).rows)
