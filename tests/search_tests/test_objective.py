"""The objective on the synthetic dataset: attributes, pruning, divergence → FAIL with a reason."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from hebbsearch.errors import ConfigError, DivergenceError
from hebbsearch.search import Objective, TrialFailed
from hebbsearch.study import parse_study_text

from .conftest import TINY

PHASES = ("time_data", "time_hebbian", "time_features", "time_probe")


@pytest.fixture(scope="module")
def config():
    return parse_study_text(TINY, "s.toml")


def test_a_trial_stores_everything(config) -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(Objective(config, device="cpu"), n_trials=1)
    t = study.trials[0]
    assert t.state == TrialState.COMPLETE and 0.5 < t.value <= 1.0
    attrs = t.user_attrs
    assert 0.5 < attrs["test_accuracy"] <= 1.0
    assert attrs["probe_after"] == 1 and attrs["rule"] == "krotov" and attrs["device"] == "cpu"
    assert all(attrs[p] >= 0 for p in PHASES)
    assert len(attrs["convergence"]) == 1 and math.isfinite(attrs["convergence"][0])
    # Hebbian weights (32 units × 64 inputs) + the probe (32 features → 10 classes, at least W and b)
    assert attrs["n_params"] >= 32 * 64 + 32 * 10 + 10
    assert attrs["settings"]["rule_params"]["delta"] == t.params["krotov.delta"]
    # step 0: the quick probe after the Hebbian phase (the early pruning signal); 1..3: the probe's epochs
    assert sorted(t.intermediate_values) == [0, 1, 2, 3]
    (layer,) = attrs["diagnostics"]
    assert layer["units"] == 32 and 0 <= layer["dead"] < 1 and 0 <= layer["duplicates"] <= 1


def test_divergence_fails_the_trial_with_a_reason_and_the_run_goes_on(config, monkeypatch) -> None:
    from hebbsearch.search import _objective  # the names the trial calls

    real = _objective.train_hebbian
    calls = {"n": 0}

    def sometimes_diverges(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise DivergenceError("layer 1", "krotov")
        return real(*args, **kwargs)

    monkeypatch.setattr(_objective, "train_hebbian", sometimes_diverges)
    study = optuna.create_study(direction="maximize")
    study.optimize(Objective(config, device="cpu"), n_trials=2, catch=(TrialFailed,))
    first, second = study.trials
    assert first.state == TrialState.FAIL
    assert first.user_attrs["fail_reason"].startswith("diverged: non-finite weights")
    assert second.state == TrialState.COMPLETE


def test_impossible_settings_fail_the_trial(config) -> None:
    bad = parse_study_text(TINY.replace("k = 3", "k = 50"), "s.toml")  # k >= 32 units
    study = optuna.create_study(direction="maximize")
    study.optimize(Objective(bad, device="cpu"), n_trials=1, catch=(TrialFailed,))
    assert study.trials[0].state == TrialState.FAIL
    assert "k must be < the number of units" in study.trials[0].user_attrs["fail_reason"]


def test_pruned_trial(config) -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values={0: 1.0, 1: 1.0, 2: 1.0}))
    study.optimize(Objective(config, device="cpu"), n_trials=1)
    t = study.trials[-1]
    assert t.state == TrialState.PRUNED and list(t.intermediate_values) == [0]
    # pruned by the quick probe after the Hebbian phase: the long probe never ran
    assert "time_signal" in t.user_attrs and "time_probe" not in t.user_attrs
    assert "test_accuracy" not in t.user_attrs


def test_unknown_preset_options_fail_before_any_trial() -> None:
    with pytest.raises(ConfigError, match="s.toml: model.colour: unknown key for preset 'krotov_fc'"):
        parse_study_text(TINY.replace("hidden = 32", "hidden = 32\ncolour = 3"), "s.toml")


def test_cuda_must_exist() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ConfigError, match="--device"):
        Objective(parse_study_text(TINY, "s.toml"), device="cuda")


def test_explicit_layers_run_at_each_probe_position() -> None:
    from study_tests.test_parse import LAYERS

    # per-layer epochs: a trial probing after layer 1 uses the first entry only
    config = parse_study_text(LAYERS.replace("epochs = 1", "epochs = [2, 1]"), "s.toml")
    Objective(config, device="cpu").check()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for probe_after in (1, 2):
        study.enqueue_trial({"probe_after": probe_after})
    study.optimize(Objective(config, device="cpu"), n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert [t.user_attrs["probe_after"] for t in study.trials] == [1, 2]
    assert [len(t.user_attrs["convergence"]) for t in study.trials] == [1, 2]
    # width 0.5: conv 8 × 1×3×3 (pool 2: 8×4×4 features), then linear 10 × 128; the probe maps to 10 classes
    conv, linear = 8 * 9, 10 * 128
    expected = [conv + 128 * 10 + 10, conv + linear + 10 * 10 + 10]
    assert [t.user_attrs["n_params"] for t in study.trials] == expected


def test_explicit_layers_deeper_than_written_fail_before_any_trial() -> None:
    from study_tests.test_parse import LAYERS

    config = parse_study_text(LAYERS.replace("probe_after = [1, 2]", "probe_after = 3"), "s.toml")
    with pytest.raises(ConfigError, match="s.toml: model: .*depth must be an int in 1..2"):
        Objective(config, device="cpu").check()


# --- the pre-run check: fixed values as written, searched values at their ends or choices -------------


def _krotov(hidden: str, k: int) -> object:
    """TINY (preset krotov_fc on synthetic data, rule krotov) with ``hidden`` and ``k`` replaced."""
    return parse_study_text(TINY.replace("hidden = 32", f"hidden = {hidden}").replace("k = 3", f"k = {k}"),
                            "s.toml")


def test_check_passes_a_study_that_can_build() -> None:
    Objective(_krotov("5", 3), device="cpu").check()


def test_check_rejects_a_study_in_which_nothing_can_build() -> None:
    with pytest.raises(ConfigError, match=r"^s\.toml: model: no sampled setting can work: .*k must be < the "
                                          r"number of units \(50\), got 60$"):
        Objective(_krotov("50", 60), device="cpu").check()


@pytest.mark.parametrize("hidden", ["{choices = [5, 50]}", "{choices = [50, 5]}"])
def test_check_passes_when_one_choice_can_build_whatever_its_place(hidden) -> None:
    Objective(_krotov(hidden, 7), device="cpu").check()  # k = 7 works with 50 units, not with 5


@pytest.mark.parametrize("hidden", ["{choices = [5, 6]}", "{choices = [6, 5]}"])
def test_check_rejects_when_no_choice_can_build(hidden) -> None:
    with pytest.raises(ConfigError, match="no sampled setting can work"):
        Objective(_krotov(hidden, 7), device="cpu").check()


def test_check_tries_both_ends_of_a_range() -> None:
    Objective(_krotov("{low = 5, high = 50}", 7), device="cpu").check()
    with pytest.raises(ConfigError, match="no sampled setting can work"):
        Objective(_krotov("{low = 5, high = 7}", 7), device="cpu").check()


def test_trained_layers_are_reused_by_trials_with_the_same_hebbian_settings() -> None:
    """Depth without retraining: a trial probing after layer 2 reuses layer 1 trained by an earlier trial
    with the same Hebbian settings (another probe position or probe), and its features equal those of a
    stack trained from scratch."""
    from hebbsearch.search import _objective as objective_module
    from study_tests.test_parse import LAYERS

    config = parse_study_text(LAYERS, "s.toml")
    objective_module._LAYER_CACHE.clear()
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"probe_after": 1, "krotov.delta": 0.3})
    study.enqueue_trial({"probe_after": 2, "krotov.delta": 0.3})
    study.enqueue_trial({"probe_after": 2, "krotov.delta": 0.3})
    study.optimize(Objective(config, device="cpu"), n_trials=3)
    first, deeper, again = study.trials
    assert "reused_layers" not in first.user_attrs
    assert deeper.user_attrs["reused_layers"] == 1 and again.user_attrs["reused_layers"] == 2
    # the same results as training every layer from scratch
    objective_module._LAYER_CACHE.clear()
    scratch = optuna.create_study(direction="maximize")
    scratch.enqueue_trial({"probe_after": 2, "krotov.delta": 0.3})
    scratch.optimize(Objective(config, device="cpu"), n_trials=1)
    assert scratch.trials[0].user_attrs["convergence"] == deeper.user_attrs["convergence"]
    assert scratch.trials[0].value == deeper.value == again.value


def test_a_collapsed_layer_fails_the_trial_with_its_reason(config, monkeypatch) -> None:
    """Every unit with the same weights: the diagnostics say so and the trial fails before the probe."""
    from hebbsearch.search import _objective  # the names the trial calls

    real = _objective.train_hebbian

    def collapse(stack, *args, **kwargs):
        out = real(stack, *args, **kwargs)
        layer = stack.blocks[0].layer
        layer.weight.data[:] = layer.weight.data[0]
        return out

    monkeypatch.setattr(_objective, "train_hebbian", collapse)
    study = optuna.create_study(direction="maximize")
    study.optimize(Objective(config, device="cpu"), n_trials=1, catch=(TrialFailed,))
    t = study.trials[0]
    assert t.state == TrialState.FAIL
    assert t.user_attrs["fail_reason"].startswith("collapsed: layer 1: ")
    assert t.user_attrs["diagnostics"][0]["duplicates"] == 1.0
    assert "time_probe" not in t.user_attrs


def test_raw_baseline_uses_the_given_probe_settings(config) -> None:
    objective = Objective(config, device="cpu")
    good = objective.raw_baseline({"lr": 0.02})
    useless = objective.raw_baseline({"lr": 1e-9, "epochs": 1})
    assert good["probe"]["lr"] == 0.02 and 0.0 <= useless["val"] < good["val"] <= 1.0


@pytest.mark.parametrize("refit", [False, True])
def test_flip_augmentation_trains_the_probe_on_mirrored_images_too(monkeypatch, refit) -> None:
    """``[probe] augment = "flip"``: the probe's training rows are the images and their mirror images (train
    + val in the final fit); the raw-input baseline gets the same rows."""
    from hebbsearch.search import _objective  # the names the trial calls

    config = parse_study_text(TINY.replace("lr = 0.02\n", 'lr = 0.02\naugment = "flip"\n'), "s.toml")
    rows: list[int] = []
    real = _objective.train_probe

    def spy(train, val, **kwargs):
        rows.append(train[0].shape[0])
        assert train[0].shape[0] == train[1].shape[0]
        return real(train, val, **kwargs)

    monkeypatch.setattr(_objective, "train_probe", spy)
    objective = Objective(config, device="cpu", refit=refit)
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    assert study.trials[0].state == TrialState.COMPLETE
    from hebbsearch.search._objective import load_data

    splits = load_data(config, None, "cpu")
    n = splits.train_x.shape[0] + (splits.val_x.shape[0] if refit else 0)
    assert rows[-1] == 2 * n  # the long probe (after the quick one, which a search also runs)
    assert len(rows) == (1 if refit else 2)
    baseline = objective.raw_baseline({"augment": "flip"})
    assert rows[-1] == 2 * splits.train_x.shape[0] and baseline["probe"]["augment"] == "flip"


def test_per_layer_rule_hyperparameters_and_lr_build_one_rule_per_layer(monkeypatch) -> None:
    """``{layers = [...]}``: layer i gets entry i; changing layer 2's value keeps layer 1 in the cache."""
    from hebbsearch.search import _objective  # the names the trial calls
    from hebbsearch.search import _objective as objective_module
    from study_tests.test_parse import LAYERS

    seen = {}
    real = _objective.train_hebbian

    def spy(stack, *args, **kwargs):
        seen["p"] = [layer.rule.p for layer in stack.hebbian_layers()]
        seen["lr"] = kwargs["lr"]
        return real(stack, *args, **kwargs)

    monkeypatch.setattr(_objective, "train_hebbian", spy)
    objective_module._LAYER_CACHE.clear()
    study = optuna.create_study(direction="maximize")
    for p2 in (4, 4, 5):
        config = parse_study_text(LAYERS.replace("p = 3", f"p = {{layers = [2, {p2}]}}").replace(
            "epochs = 1\n", "epochs = 1\nlr = {layers = [0.02, 0.005]}\n"), "s.toml")
        study.enqueue_trial({"probe_after": 2, "krotov.delta": 0.3})
        study.optimize(Objective(config, device="cpu"), n_trials=1)
        assert seen == {"p": [2, p2], "lr": [0.02, 0.005]}
    first, same, other = study.trials
    assert "reused_layers" not in first.user_attrs
    assert same.user_attrs["reused_layers"] == 2 and other.user_attrs["reused_layers"] == 1
    assert other.user_attrs["settings"]["rule_params"]["p"] == [2, 5]
    objective_module._LAYER_CACHE.clear()
