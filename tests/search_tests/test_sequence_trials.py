"""One sequence trial through :class:`Objective`, with what image trials have: the quick probe at step 0
before the probe's epochs, the layer cache, collapse diagnostics, stop requests between epochs, the final
fit (``refit``) on train + val."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from hebbsearch.search import (
    Interrupted,
    Objective,
    TrialFailed,
    WorkerOptions,
    create_study,
    refit_best,
    run_worker,
)
from hebbsearch.search import _objective as objective_module
from hebbsearch.study import parse_study_text

from .test_sequence_study import SEQ_IMAGES

# every probe position once (the study's 2 trials)
FIXED = SEQ_IMAGES.replace("[data]", '[study.sampler]\nname = "bruteforce"\n\n[data]')


@pytest.fixture
def config():
    objective_module._LAYER_CACHE.clear()
    yield parse_study_text(FIXED, "rows.toml")
    objective_module._LAYER_CACHE.clear()


def _trial(config, params: dict, **objective) -> optuna.trial.FrozenTrial:
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(params)
    study.optimize(Objective(config, device="cpu", **objective), n_trials=1, catch=(TrialFailed,))
    return study.trials[0]


def test_the_quick_probe_is_step_0_and_the_probe_epochs_follow(config) -> None:
    t = _trial(config, {"probe_after": 2})
    assert t.state == TrialState.COMPLETE
    assert sorted(t.intermediate_values) == list(range(0, 9))  # 8 probe epochs after the quick probe
    assert 0.1 < t.intermediate_values[0] <= 1.0 and t.user_attrs["time_signal"] >= 0
    assert [d["units"] for d in t.user_attrs["diagnostics"]] == [64, 32]


def test_a_hopeless_quick_probe_prunes_before_the_probe(config) -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.01))
    study.enqueue_trial({"probe_after": 1})
    study.optimize(Objective(config, device="cpu"), n_trials=1)
    t = study.trials[0]
    assert t.state == TrialState.PRUNED and sorted(t.intermediate_values) == [0]
    assert "time_probe" not in t.user_attrs


def test_trained_recurrent_layers_are_reused_and_give_the_same_result(config) -> None:
    study = optuna.create_study(direction="maximize")
    for depth in (1, 2, 2):
        study.enqueue_trial({"probe_after": depth})
    study.optimize(Objective(config, device="cpu"), n_trials=3)
    first, deeper, again = study.trials
    assert "reused_layers" not in first.user_attrs
    assert deeper.user_attrs["reused_layers"] == 1 and again.user_attrs["reused_layers"] == 2
    objective_module._LAYER_CACHE.clear()
    scratch = _trial(config, {"probe_after": 2})
    assert scratch.user_attrs["convergence"] == deeper.user_attrs["convergence"]
    assert scratch.value == deeper.value == again.value


def test_a_collapsed_recurrent_layer_fails_the_trial(config, monkeypatch) -> None:
    from hebbsearch.search import _sequence  # the names the trial calls

    real = _sequence.train_sequence_hebbian

    def collapse(stack, *args, **kwargs):
        out = real(stack, *args, **kwargs)
        stack.blocks[0].weight.data[:] = stack.blocks[0].weight.data[0]
        return out

    monkeypatch.setattr(_sequence, "train_sequence_hebbian", collapse)
    t = _trial(config, {"probe_after": 1})
    assert t.state == TrialState.FAIL and t.user_attrs["fail_reason"].startswith("collapsed: layer 1: ")
    assert "time_probe" not in t.user_attrs


def test_a_stop_request_interrupts_the_probe_between_epochs(config) -> None:
    objective = Objective(config, device="cpu")
    epochs = []

    def stop_after_two_epochs() -> str | None:
        epochs.append(None)
        return "SIGTERM" if len(epochs) > 3 else None

    objective.stop_requested = stop_after_two_epochs
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"probe_after": 1})
    with pytest.raises(Interrupted):
        study.optimize(objective, n_trials=1)
    t = study.trials[0]
    assert t.state == TrialState.FAIL and t.user_attrs["fail_reason"] == "interrupted (SIGTERM)"
    assert max(t.intermediate_values) < 8


def test_refit_trains_the_probe_on_train_and_val_and_tests_once(tmp_path, config) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    create_study(url, config, device="cpu")
    run_worker(WorkerOptions(url, "rows", gpus="none", heartbeat=None, progress_bar=False, summary=False))
    new = refit_best(url, "rows")
    study = optuna.load_study(study_name="rows", storage=url)
    assert sorted(new) == sorted(str(t.number) for t in study.trials)  # the best of each probe position
    for number, refit in new.items():
        trial = study.trials[int(number)]
        assert 0.5 < refit["test_accuracy"] <= 1.0 and refit["val_accuracy"] == trial.value
    assert study.user_attrs["refit"] == new
