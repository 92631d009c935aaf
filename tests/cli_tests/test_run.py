"""``hebbsearch run``: pruning, resuming, Ctrl-C, killed workers, several processes.

Every test runs on SQLite and on PostgreSQL (the ``storage`` fixture, tests/conftest.py)."""

from __future__ import annotations

import signal
import time
import warnings

import optuna
from optuna.trial import TrialState

from hebbsearch.search import create_or_load_study, finished_count, open_storage, sample
from hebbsearch.study import parse_study_text


def load(storage: str, name: str = "tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(storage))


def states(study: optuna.Study) -> list[TrialState]:
    return [t.state for t in study.get_trials()]


def test_run_completes_and_the_pruner_prunes(cli, study_file, storage) -> None:
    r = cli("run", study_file(), "--storage", storage)
    assert r.code == 0, r.err
    study = load(storage)
    s = states(study)
    assert len(s) == 6 and s.count(TrialState.PRUNED) >= 1 and s.count(TrialState.COMPLETE) >= 2
    assert TrialState.FAIL not in s
    # one summary line per finished trial, and the final summary on stdout
    lines = [line for line in r.err_lines if line.startswith("[trial ")]
    assert len(lines) == 6 and any(" pruned at epoch 0" in line for line in lines)
    header, _, row = r.out.splitlines()
    assert header.split()[:4] == ["study", "complete", "pruned", "failed"]
    assert row.split()[:4] == ["tiny", str(s.count(TrialState.COMPLETE)), str(s.count(TrialState.PRUNED)), "0"]
    best = study.best_trial
    assert f"{best.value:.4f}" in row
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        assert {"test_accuracy", "n_params", "time_data", "time_hebbian", "time_features", "time_probe",
                "device", "convergence", "probe_after"} <= set(t.user_attrs)


def test_resume_runs_only_the_missing_trials(cli, study_file, storage) -> None:
    path = study_file()
    assert cli("run", path, "--storage", storage, "--n-trials", "2", "-q").code == 0
    first = load(storage).get_trials()
    assert len(first) == 2
    r = cli("run", path, "--storage", storage)
    assert r.code == 0
    assert "2/6 trials finished, running 4 more" in r.err
    trials = load(storage).get_trials()
    assert [t.number for t in trials] == list(range(6))
    assert [(t.datetime_start, t.state) for t in trials[:2]] == [(t.datetime_start, t.state) for t in first]
    deltas = [t.params["krotov.delta"] for t in trials]
    assert len(set(deltas)) == 6  # the resumed sampler does not replay the first trials
    r = cli("run", path, "--storage", storage)
    assert r.code == 0 and "already has 6 finished trials" in r.err
    assert len(load(storage).get_trials()) == 6


def test_ctrl_c_fails_the_trial_in_flight_and_resume_reruns_it(cli, study_file, storage, monkeypatch) -> None:
    from hebbsearch.search import _objective  # the names the trial calls

    real = _objective.train_probe
    calls = {"n": 0}

    def interrupted_in_second_trial(*args, on_epoch=None, **kwargs):
        if on_epoch is None:  # the quick probe before the long one
            return real(*args, **kwargs)
        calls["n"] += 1

        def epoch(e, acc):
            if calls["n"] == 2 and e == 1:
                signal.raise_signal(signal.SIGINT)  # what Ctrl-C does, at a known point
            on_epoch(e, acc)

        return real(*args, on_epoch=epoch, **kwargs)

    monkeypatch.setattr(_objective, "train_probe", interrupted_in_second_trial)
    path = study_file()
    before = signal.getsignal(signal.SIGINT)  # Python's handler, or SIG_IGN under `nohup ... &`
    r = cli("run", path, "--storage", storage)
    assert r.code == 130
    assert r.err_lines[-1].startswith("hebbsearch: interrupted (Ctrl-C): the trial(s) in flight were failed "
                                      "and re-queued")
    assert "Traceback" not in r.err
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    study = load(storage)
    # re-queued at once with the same parameters, for the next run or any other worker
    assert states(study) == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    assert study.trials[1].user_attrs["fail_reason"] == "interrupted (Ctrl-C)"

    monkeypatch.setattr(_objective, "train_probe", real)
    r = cli("run", path, "--storage", storage)
    assert r.code == 0
    study = load(storage)
    retry = study.trials[2]
    assert retry.user_attrs["retry_of"] == 1 and retry.params == study.trials[1].params
    assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert finished_count(study.get_trials()) == 6 and len(study.trials) == 7


def _leave_a_running_trial(storage_url: str, path) -> optuna.Study:
    """What a worker killed with SIGKILL leaves behind: a RUNNING trial whose heartbeat stopped."""
    config = parse_study_text(path.read_text(), str(path))
    storage = open_storage(storage_url, heartbeat_interval=1)
    study, _ = create_or_load_study(storage, config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "heartbeat is supposed to be used with optimize"
        trial = study.ask()
    sample(trial, config)
    storage.record_heartbeat(trial._trial_id)
    return study


def test_a_trial_left_running_by_a_killed_process_is_failed_and_retried(cli, study_file, storage) -> None:
    """With a heartbeat (default 30 s; 1 s here) a RUNNING trial whose heartbeat is older than twice
    the interval is marked FAIL when the next trial starts, and re-queued with the same parameters."""
    path = study_file(replace={"n_trials = 6": "n_trials = 3"})
    stale = _leave_a_running_trial(storage, path).trials[0]
    time.sleep(3.2)
    r = cli("run", path, "--storage", storage, "--heartbeat", "1")
    assert r.code == 0, r.err
    trials = load(storage).get_trials()
    assert trials[0].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retried) == 1 and retried[0].params == stale.params
    assert retried[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert finished_count(trials) == 3


def test_without_heartbeat_a_killed_trial_stays_running_but_is_not_counted(cli, study_file, storage) -> None:
    """--heartbeat 0: nothing can tell a dead worker from a slow one, so its trial stays RUNNING (shown
    by `studies`); it does not count toward n_trials, so the study still gets n_trials finished trials."""
    path = study_file(replace={"n_trials = 6": "n_trials = 2"})
    _leave_a_running_trial(storage, path)
    assert cli("run", path, "--storage", storage, "--heartbeat", "0", "-q").code == 0
    trials = load(storage).get_trials()
    assert trials[0].state == TrialState.RUNNING and finished_count(trials) == 2
    r = cli("studies", "--storage", storage, "--format", "json")
    assert '"running": 1' in r.out


def test_jobs_runs_worker_processes_on_one_storage(cli, study_file, storage) -> None:
    path = study_file(replace={"n_trials = 6": "n_trials = 4"})
    r = cli("run", path, "--storage", storage, "--jobs", "2", "--format", "json")
    assert r.code == 0, r.err
    trials = load(storage).get_trials()
    # the budget is exact: no worker starts a trial the budget has no room for
    assert finished_count(trials) == len(trials) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert '"study": "tiny"' in r.out


def test_sigint_to_a_real_process(study_file, storage, tmp_path) -> None:
    """Ctrl-C in a terminal: exit 130, one line, the trial in flight FAIL, nothing left RUNNING."""
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    path = study_file(replace={"n_trials = 6": "n_trials = 1", "epochs = 3": "epochs = 100000"})
    proc = subprocess.Popen([sys.executable, "-m", "hebbsearch.cli", "run", str(path), "--storage", storage],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the probe reports epochs
            try:
                trials = load(storage).get_trials()
            except Exception:  # noqa: BLE001 - the study is not created yet
                trials = []
            if trials and trials[0].intermediate_values:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("hebbsearch: interrupted (Ctrl-C): the trial(s) in flight")
    assert "Traceback" not in err and out == ""
    trial, retry = load(storage).get_trials()
    assert trial.state == TrialState.FAIL and trial.user_attrs["fail_reason"] == "interrupted (Ctrl-C)"
    assert retry.state == TrialState.WAITING and retry.user_attrs["retry_of"] == 0
    assert retry.system_attrs["fixed_params"] == trial.params  # what the next worker will run


def test_a_diverging_trial_fails_with_its_reason_and_the_run_goes_on(cli, study_file, storage, monkeypatch) -> None:
    from hebbsearch.search import _objective  # the names the trial calls
    from hebbsearch.errors import DivergenceError

    real = _objective.train_hebbian
    calls = {"n": 0}

    def first_diverges(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise DivergenceError("HebbianLinear(64, 32)", "Krotov(p=3)")
        return real(*args, **kwargs)

    monkeypatch.setattr(_objective, "train_hebbian", first_diverges)
    r = cli("run", study_file(replace={"n_trials = 6": "n_trials = 2"}), "--storage", storage)
    assert r.code == 0
    assert "Traceback" not in r.err
    assert any(line.startswith("[trial 0] FAIL: diverged: non-finite weights") for line in r.err_lines)
    trials = load(storage).get_trials()
    assert [t.state for t in trials][0] == TrialState.FAIL and len(trials) == 2  # the failure counts


def test_the_bruteforce_sampler_runs_every_combination_once(cli, study_file, sqlite_storage) -> None:
    """Two probe learning rates: n_trials = 2 runs each once (a fixed-settings table, e.g. one trial per
    probe position as in studies/cifar10-depth.toml)."""
    path = study_file(replace={'name = "random"': 'name = "bruteforce"', "n_trials = 6": "n_trials = 2",
                               "delta = [0.1, 0.4]": "delta = 0.3"})
    r = cli("run", path, "--storage", sqlite_storage)
    assert r.code == 0, r.err
    trials = load(sqlite_storage).get_trials()
    assert sorted(t.params["probe.lr"] for t in trials) == [0.00001, 0.02]
    assert TrialState.FAIL not in states(load(sqlite_storage))
