"""Sampling: conditional rule hyperparameters, fixed values are not Optuna parameters."""

from __future__ import annotations

import optuna
import pytest

from hebbsearch.rules import get_rule_class
from hebbsearch.search import probe_positions, sample
from hebbsearch.study import parse_study_text

from .conftest import TINY

MULTI = TINY.replace("[search.krotov]", '[search]\nrule = ["krotov", "softhebb", "bcm", "oja"]\n[search.krotov]').replace(
    "power = 1.0", "power = 1.0\nprobe_after = [1]")


def test_rule_hyperparameters_are_sampled_only_for_the_chosen_rule() -> None:
    config = parse_study_text(MULTI, "s.toml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    seen = set()
    for _ in range(30):
        trial = study.ask()
        settings = sample(trial, config)
        seen.add(settings.rule)
        assert trial.params["rule"] == settings.rule
        prefixes = {name.split(".")[0] for name in trial.params if "." in name}
        assert prefixes <= {settings.rule, "probe", "hebbian", "model"}
        declared = [hp.name for hp in get_rule_class(settings.rule).hyperparameters]
        assert list(settings.rule_params) == declared
        get_rule_class(settings.rule)(**settings.rule_params)  # values are valid for the rule
        study.tell(trial, 0.5)
    assert seen == {"krotov", "softhebb", "bcm", "oja"}


def test_fixed_values_are_not_parameters_and_ranges_are_respected() -> None:
    config = parse_study_text(TINY, "s.toml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        trial = study.ask()
        settings = sample(trial, config)
        assert set(trial.params) == {"krotov.delta"}
        assert 0.1 <= settings.rule_params["delta"] <= 0.4
        assert settings.rule_params["p"] == 3 and settings.probe["lr"] == 0.02
        assert settings.probe_after == 1 and settings.rule == "krotov"
        assert settings.to_dict()["model_options"] == {"hidden": 32, "power": 1.0}
        study.tell(trial, 0.0)
    assert probe_positions(config) == [1]


@pytest.mark.parametrize("probe_after", [1, 2])
def test_values_of_layers_deeper_than_the_probe_are_not_sampled(probe_after) -> None:
    from study_tests.test_sequences import TEXT

    config = parse_study_text(TEXT, "s.toml")  # layers[0].units and layers[1].eta are searched
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"probe_after": probe_after})
    trial = study.ask()
    settings = sample(trial, config)
    assert "model.layers[0].units" in trial.params and "layers[0].units" in settings.model_options
    assert ("model.layers[1].eta" in trial.params) == (probe_after == 2)
    assert ("layers[1].eta" in settings.model_options) == (probe_after == 2)
