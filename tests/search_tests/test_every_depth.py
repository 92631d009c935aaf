"""``[search] every_depth``: a completed trial's settings are probed at the other probe positions too, by
trials queued within the budget, which take the trained layers from the layer cache."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hebbsearch.errors import ConfigError
from hebbsearch.search import WorkerOptions, create_study, run_worker
from hebbsearch.search import _objective as objective_module
from hebbsearch.study import parse_study_text
from study_tests.test_parse import LAYERS

THREE = (LAYERS.replace("probe_after = [1, 2]", "probe_after = [1, 2, 3]")
         .replace("n_trials = 4", "n_trials = 5")
         .replace("[search.krotov]", "[search]\nevery_depth = true\n\n[search.krotov]")
         .replace('name = "median"\nn_startup_trials = 1\nn_warmup_steps = 0', 'name = "none"')
         + '\n[[model.layers]]\ntype = "linear"\nunits = 12\n')


def test_each_sampled_setting_is_probed_at_every_depth_within_the_budget(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    config = parse_study_text(THREE, "s.toml")
    assert config.search.every_depth
    objective_module._LAYER_CACHE.clear()
    create_study(url, config, device="cpu")
    run_worker(WorkerOptions(url, "tiny", gpus="none", heartbeat=None, progress_bar=False, summary=False))
    objective_module._LAYER_CACHE.clear()
    trials = optuna.load_study(study_name="tiny", storage=url).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5  # exactly n_trials, nothing left waiting
    first, a, b, second, c = trials
    depth = [t.params["probe_after"] for t in trials]
    assert [t.user_attrs.get("depth_of") for t in trials] == [None, 0, 0, None, 3]
    # trial 0's settings at the two other depths, shallower first
    assert sorted(depth[:3]) == [1, 2, 3] and depth[1] < depth[2]
    assert a.params["krotov.delta"] == b.params["krotov.delta"] == first.params["krotov.delta"]
    assert c.params["krotov.delta"] == second.params["krotov.delta"] != first.params["krotov.delta"]
    # one training of layers 1..3 for the three probes: every layer trained once
    trained = sum(depth[i] - trials[i].user_attrs.get("reused_layers", 0) for i in range(3))
    assert trained == 3


@pytest.mark.parametrize(("change", "expected"), [
    (("every_depth = true", 'every_depth = "yes"'),
     "s.toml: search.every_depth: expected true or false, got"),
    (("probe_after = [1, 2, 3]", "probe_after = 2"),
     "s.toml: search.every_depth: needs several probe positions"),
])
def test_every_depth_errors(change, expected) -> None:
    with pytest.raises(ConfigError) as e:
        parse_study_text(THREE.replace(*change), "s.toml")
    assert str(e.value).startswith(expected)
