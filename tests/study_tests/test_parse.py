"""Study files → StudyConfig: defaults from the rule declarations, overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hebbsearch.errors import ConfigError
from hebbsearch.rules import get_rule_class, list_rules
from hebbsearch.study import Choice, Fixed, FloatRange, IntRange, PerLayer, load_study_file, parse_study_text
from hebbsearch.study._search import _default_spec

from search_tests.conftest import TINY

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def parse(text: str = TINY, **replace: str) -> object:
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_study_text(text, "s.toml")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_study_text(text, "s.toml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("s.toml: ")
    return message


def test_tiny_study_parses_with_defaults() -> None:
    c = parse()
    assert c.study.name == "tiny" and c.study.direction == "maximize" and c.study.n_trials == 4
    assert c.study.sampler.name == "random"
    assert c.study.pruner.kwargs == {"n_startup_trials": 1, "n_warmup_steps": 0}
    assert c.model.preset == "krotov_fc" and c.model.probe_after == Fixed(1)
    assert c.model.options == {"hidden": Fixed(32), "power": Fixed(1.0)}
    assert c.search.rules == ("krotov",)
    assert c.search.rule_params["krotov"] == {"p": Fixed(3), "k": Fixed(3), "delta": FloatRange(0.1, 0.4)}
    assert c.probe.lr == Fixed(0.02) and c.probe.optimizer == Fixed("adam")
    assert c.hebbian.lr_schedule == Fixed("linear")


def test_study_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "my-study.toml"
    path.write_text(TINY.replace('name = "tiny"\n', ""))
    assert load_study_file(path).study.name == "my-study"


@pytest.mark.parametrize("rule", list_rules())
def test_unlisted_hyperparameters_use_the_declared_search_range(rule: str) -> None:
    c = parse(**{"[search.krotov]\np = 3\nk = 3\ndelta = [0.1, 0.4]\n": f'[search]\nrule = "{rule}"\n'})
    cls = get_rule_class(rule)
    specs = c.search.rule_params[rule]
    for hp in cls.hyperparameters:
        assert specs[hp.name] == _default_spec(hp)
        spec = specs[hp.name]
        if hp.low is not None and hp.high is not None and hp.low != hp.high:
            assert (spec.low, spec.high, spec.log) == (hp.low, hp.high, hp.log)
            assert isinstance(spec, IntRange if hp.type is int else FloatRange)


def test_override_forms() -> None:
    c = parse(**{"p = 3\nk = 3\ndelta = [0.1, 0.4]": "p = [2, 8]\nk = {low = 2, high = 10, step = 2}\n"
                                                     "delta = {choices = [0.2, 0.4]}"})
    specs = c.search.rule_params["krotov"]
    assert specs == {"p": IntRange(2, 8), "k": IntRange(2, 10, step=2), "delta": Choice((0.2, 0.4))}


def test_numeric_fields_may_be_searched() -> None:
    c = parse(**{"lr = 0.02": 'lr = {low = 0.001, high = 0.1, log = true}\noptimizer = {choices = ["adam", "sgd"]}',
                 "epochs = 1": "epochs = {low = 1, high = 3}", "subset = 500": "subset = 500\nval_split = 0.2"})
    assert c.probe.lr == FloatRange(0.001, 0.1, log=True)
    assert c.probe.optimizer == Choice(("adam", "sgd"))
    assert c.hebbian.epochs == IntRange(1, 3)
    assert c.data.val_split == 0.2


def test_probe_after_list_and_rule_list() -> None:
    c = parse(**{"power = 1.0": "power = 1.0\nprobe_after = [1]",
                 "[search.krotov]": '[search]\nrule = ["krotov", "oja"]\ndropout = [0.0, 0.5]\n[search.krotov]'})
    assert c.model.probe_after == Fixed(1)
    assert c.search.rules == ("krotov", "oja")
    assert c.probe.dropout == FloatRange(0.0, 0.5)
    c = parse(**{'preset = "krotov_fc"\nhidden = 32\npower = 1.0': 'preset = "amato5"\nprobe_after = [1, 2, 3]'})
    assert c.model.probe_after == Choice((1, 2, 3))


def test_per_layer_hebbian_epochs() -> None:
    c = parse(**{"epochs = 1\n": "epochs = [2, 1]\n", "power = 1.0": "power = 1.0\nprobe_after = [1]"})
    assert c.hebbian.epochs == PerLayer((2, 1))
    msg = error_of(TINY.replace('preset = "krotov_fc"\nhidden = 32\npower = 1.0',
                                'preset = "amato5"\nprobe_after = [1, 3]').replace("epochs = 1\n", "epochs = [1, 1]\n"))
    assert "hebbian.epochs" in msg and "at least 3" in msg


def test_one_value_per_layer_for_the_hebbian_lr_and_rule_hyperparameters() -> None:
    """``{layers = [...]}``: a fixed value per layer, checked like the scalar, covering the deepest probe."""
    two = {'preset = "krotov_fc"\nhidden = 32\npower = 1.0': 'preset = "amato5"\nprobe_after = [1, 2]'}
    c = parse(**two, **{"epochs = 1\n": "epochs = 1\nlr = {layers = [0.1, 0.03]}\n",
                        "p = 3": "p = {layers = [2, 4, 6]}"})
    assert c.hebbian.lr == PerLayer((0.1, 0.03)) and c.search.rule_params["krotov"]["p"] == PerLayer((2, 4, 6))
    epochs = parse(**{"epochs = 1\n": "epochs = {layers = [2, 1]}\n"}).hebbian.epochs
    assert epochs == parse(**{"epochs = 1\n": "epochs = [2, 1]\n"}).hebbian.epochs == PerLayer((2, 1))
    text = TINY.replace(*next(iter(two.items())))
    assert "s.toml: hebbian.lr: expected at least 2 per-layer values" in error_of(
        text.replace("epochs = 1\n", "epochs = 1\nlr = {layers = [0.1]}\n"))
    assert error_of(text.replace("p = 3", "p = {layers = [2, 0]}")).startswith(
        "s.toml: search.krotov.p.layers[1]: expected an integer >= 1, got 0")
    assert error_of(text.replace("p = 3", "p = {layers = [2, 3], log = true}")).startswith(
        "s.toml: search.krotov.p.log: unknown key; a {layers = [...]} table has no other keys")
    assert error_of(text.replace("lr = 0.02", "lr = {layers = [0.1, 0.2]}")).startswith(
        "s.toml: probe.lr.layers: unknown key; only [hebbian] epochs and lr and the rules'")
    assert error_of(text.replace("p = 3", "p = {layers = []}")).startswith(
        "s.toml: search.krotov.p.layers: expected a non-empty list, one value per layer")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("subset = 500", "subset = 500\ncolour = 1", "s.toml: data.colour: unknown key; expected one of: dataset"),
    ("n_trials = 4", 'n_trials = "four"', "s.toml: study.n_trials: expected an integer >= 1, got 'four'"),
    ("n_trials = 4", "n_trials = 0", "s.toml: study.n_trials: expected an integer >= 1, got 0"),
    ("lr = 0.02", "lr = -1", "s.toml: probe.lr: expected a number > 0, got -1"),
    ("p = 3", "p = [0, 4]", "s.toml: search.krotov.p[0]: expected an integer >= 1, got 0"),
    ("p = 3", "p = {low = 2, high = 4.5}", "s.toml: search.krotov.p.high: expected an integer >= 1, got 4.5"),
    ("p = 3", "p = [5, 2]", "s.toml: search.krotov.p: expected low < high, got low=5, high=2"),
    ("delta = [0.1, 0.4]", "delta = {low = 0.0, high = 0.4, log = true}", "a log range needs low > 0"),
    ("p = 3", "q = 3", "s.toml: search.krotov.q: unknown hyperparameter of rule 'krotov'; expected one of: p, k"),
    ('name = "random"', 'name = "annealing"', "s.toml: study.sampler.name: expected one of: tpe, random"),
    ('name = "median"', 'name = "median"\nwarmup = 3', "s.toml: study.pruner.warmup: unknown key for MedianPruner"),
    ('name = "random"', 'name = "tpe"\nconsider_prior = true', "s.toml: study.sampler: deprecated option"),
    ('name = "random"', 'name = "tpe"\nn_startup_trials = "x"',
     "s.toml: study.sampler.n_startup_trials: expected an integer, got 'x'"),
    ('name = "median"', 'name = "percentile"', "s.toml: study.pruner: invalid PercentilePruner options"),
    ('name = "median"\nn_startup_trials = 1\nn_warmup_steps = 0', 'name = "successive_halving"\nreduction_factor = 1',
     "s.toml: study.pruner: invalid SuccessiveHalvingPruner options"),
    ('dataset = "synthetic"', 'dataset = "imagenot"', "s.toml: data.dataset: unknown dataset 'imagenot'; "
                                                       "known datasets: arrays, cifar10"),
    ('dataset = "synthetic"', 'dataset = "EMNIST-cursive"', "s.toml: data.dataset: unknown dataset "
                                                            "'EMNIST-cursive'; known datasets: arrays, cifar10"),
    ('dataset = "synthetic"', 'dataset = "EMNIST-digits"', None),  # valid: EMNIST's split as a suffix
    ('dataset = "synthetic"', 'dataset = "SVHN"', None),  # valid: any torchvision class
    ('preset = "krotov_fc"', 'preset = "resnet"', "s.toml: model.preset: unknown preset 'resnet'; known presets:"),
    ("[search.krotov]", '[search]\nrule = "nope"\n[search.krotov]', "s.toml: search.rule: unknown rule 'nope'; "
                                                                     "known rules: " + ", ".join(list_rules())),
    ("[search.krotov]", '[search]\nrule = "oja"\n[search.krotov]', "s.toml: search.krotov: rule 'krotov' is not in"),
    ("[hebbian]", "[hebian]", "s.toml: hebian: unknown key; expected one of: study, data"),
    ("epochs = 3", "epochs = 3\ndropout = 0.1", None),  # valid
    ("epochs = 3", "epochs = 3\ndropout = 1.5", "s.toml: probe.dropout: expected a number >= 0 and < 1, got 1.5"),
    ("n_trials = 4", "n_trials = 4\n[extra", "s.toml: invalid TOML:"),
    ('name = "random"', 'name = "bruteforce"', "s.toml: search.krotov.delta: the bruteforce sampler tries every "
                                               "value: expected a list of choices, an integer range or a float range"),
])
def test_errors_are_one_line_with_file_and_field(old: str, new: str, expected: str | None) -> None:
    text = TINY.replace(old, new, 1)
    assert text != TINY
    if expected is None:
        parse_study_text(text, "s.toml")
        return
    assert expected in error_of(text)


def test_missing_file_and_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read study file"):
        load_study_file(tmp_path / "nope.toml")
    assert "s.toml: data: missing section [data]" in error_of("[study]\n[model]\npreset = 'amato5'\n")
    assert "s.toml: model.preset: missing" in error_of("[study]\n[data]\ndataset = 'synthetic'\n[model]\n")


def test_config_error_exit_code_is_2() -> None:
    assert ConfigError("x").exit_code == 2


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_studies_are_valid(path: Path) -> None:
    config = load_study_file(path)
    assert config.study.name == path.stem


def test_shipped_studies_search_what_they_promise() -> None:
    bio = load_study_file(STUDIES / "cifar10-biopytorch.toml")
    assert bio.model.preset == "amato5" and bio.model.probe_after == Choice((1, 2, 3, 4, 5))
    assert bio.search.rule_params["krotov"] == {"p": IntRange(2, 8), "k": IntRange(2, 10),
                                                "delta": FloatRange(0.0, 0.4)}
    assert bio.probe.dropout == FloatRange(0.0, 0.5)
    assert bio.data.val_split == 10000
    assert (bio.study.sampler.name, bio.study.pruner.name) == ("tpe", "median")
    rules = load_study_file(STUDIES / "cifar10-rules.toml")
    assert set(rules.search.rules) == {"krotov", "softhebb", "wta", "oja", "sanger", "hebb", "covariance", "bcm"}
    assert rules.model.probe_after == Choice((1, 2, 3))
    softhebb = load_study_file(STUDIES / "cifar10-softhebb.toml")
    assert softhebb.model.preset == "softhebb3" and softhebb.model.probe_after == Fixed(1)
    assert {k: v for k, v in softhebb.search.rule_params["softhebb"].items() if k != "tau"} == {
        "anti_hebbian": Fixed(True), "scale": Fixed("max"), "norm_lr_power": Fixed(0.5)}
    quick = load_study_file(STUDIES / "quickstart.toml")
    assert quick.data.dataset == "MNIST" and quick.model.options["hidden"] == Fixed(400)


def test_sampler_dependencies_are_checked_up_front() -> None:
    import importlib.util

    text = TINY.replace('name = "random"', 'name = "cmaes"')
    if importlib.util.find_spec("cmaes") is None:
        assert "s.toml: study.sampler.name: sampler 'cmaes' needs the 'cmaes' package" in error_of(text)
    else:
        assert parse_study_text(text, "s.toml").study.sampler.name == "cmaes"
    for name in ("tpe", "random"):
        assert parse_study_text(TINY.replace('name = "random"', f'name = "{name}"'), "s.toml")
    for name in ("qmc", "gp"):  # both need scipy, which optuna does not install
        text = TINY.replace('name = "random"', f'name = "{name}"')
        if importlib.util.find_spec("scipy") is None:
            assert f"sampler '{name}' needs the 'scipy' package" in error_of(text)
        else:
            assert parse_study_text(text, "s.toml").study.sampler.name == name


LAYERS = TINY.replace('preset = "krotov_fc"\nhidden = 32\npower = 1.0', 'probe_after = [1, 2]\nwidth = 0.5') + """
[[model.layers]]
type = "conv"
units = 16
kernel = 3
padding = 1
pool = "max"
pool_size = 2

[[model.layers]]
type = "linear"
units = 20
activation = "relu_power"
power = 2
"""


def test_explicit_layers() -> None:
    model = parse_study_text(LAYERS, "s.toml").model
    assert model.preset == "layers" and len(model.layers) == 2 and model.layers[0]["kernel"] == 3
    assert model.probe_after == Choice((1, 2)) and model.options == {"width": Fixed(0.5)}
    architecture = model.architecture()
    assert [layer.kernel for layer in architecture.layers] == [3, None]


@pytest.mark.parametrize(("change", "expected"), [
    (("[model]", '[model]\npreset = "krotov_fc"'), "s.toml: model.layers: give either 'preset' or 'layers', not both"),
    (("kernel = 3", "kernel = 3\ncolour = 1"), "s.toml: model.layers[0].colour: unknown key; expected one of: type,"),
    (("units = 20", "units = 0"), "s.toml: model.layers[1].units: expected an integer >= 1, got 0"),
    (("pool_size = 2", 'pool_size = "big"'), "s.toml: model.layers[0].pool_size: expected an integer >= 1"),
    (("width = 0.5", "hidden = 8"), "s.toml: model.hidden: unknown key with [[model.layers]] (set it per layer)"),
])
def test_explicit_layers_errors_name_the_field(change, expected) -> None:
    assert error_of(LAYERS.replace(*change)).startswith(expected)


SOFTHEBB = TINY.split("[search.krotov]")[0] + """[search]
rule = "softhebb"

[search.softhebb]
anti_hebbian = true
scale = "max"
norm_lr_power = 0.5
"""


def test_rule_options_are_fixed_or_chosen_and_checked_up_front() -> None:
    params = parse_study_text(SOFTHEBB, "s.toml").search.rule_params["softhebb"]
    assert params["anti_hebbian"] == Fixed(True) and params["scale"] == Fixed("max")
    assert params["norm_lr_power"] == Fixed(0.5)
    assert error_of(SOFTHEBB.replace('scale = "max"', 'scale = {choices = ["max", "big"]}')) == (
        "s.toml: search.softhebb.scale: rule 'softhebb': scale must be 'mean' or 'max', got 'big'")


@pytest.mark.parametrize(("delta", "n_trials", "expected"), [
    ("{choices = [0.1, 0.2, 0.4]}", 3, None),
    ("{low = 0.1, high = 0.4, step = 0.1}", 4, None),  # 0.1, 0.2, 0.3, 0.4
    ("{low = 0.1, high = 0.4, step = 0.1}", 5, "s.toml: study.n_trials: the bruteforce sampler has 4 "
                                              "combination(s) of the searched values, got n_trials = 5"),
])
def test_the_bruteforce_sampler_runs_each_combination_at_most_once(delta, n_trials, expected) -> None:
    text = TINY.replace('name = "random"', 'name = "bruteforce"').replace("delta = [0.1, 0.4]", f"delta = {delta}")
    text = text.replace("n_trials = 4", f"n_trials = {n_trials}")
    if expected is None:
        assert parse_study_text(text, "s.toml").study.sampler.name == "bruteforce"
    else:
        assert error_of(text) == expected
