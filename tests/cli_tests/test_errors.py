"""Errors: bad study files exit 2, storage problems exit 1; always exactly one line on stderr.

Tests taking ``storage`` run on SQLite and on PostgreSQL; ``sqlite_storage`` where the error comes
before the storage is used."""

from __future__ import annotations

import pytest

from hebbsearch.rules import list_rules

from .conftest import TINY, run_subprocess

BAD_FILES = {
    "unknown key": ({"subset = 500": "subset = 500\nshuffle = true"},
                    "data.shuffle: unknown key; expected one of: dataset, root"),
    "wrong type": ({"epochs = 3": 'epochs = "three"'}, "probe.epochs: expected an integer >= 1, got 'three'"),
    "out of range": ({"n_trials = 6": "n_trials = -2"}, "study.n_trials: expected an integer >= 1, got -2"),
    "rule range outside valid bounds": ({"k = 3": "k = [1, 5]"},
                                        "search.krotov.k[0]: expected an integer >= 2, got 1"),
    "unknown rule": ({"[search.krotov]": '[search]\nrule = ["krotov", "hebbian_magic"]\n[search.krotov]'},
                     "search.rule: unknown rule 'hebbian_magic'; known rules: " + ", ".join(list_rules())),
    "unknown dataset": ({'dataset = "synthetic"': 'dataset = "mnistt"'},
                        "data.dataset: unknown dataset 'mnistt'; known datasets:"),
    "bad toml": ({"seed = 1": "seed = = 1"}, "invalid TOML"),
    "unknown preset option": ({"hidden = 32": "hidden = 32\nwidht = 2"},
                              "model.widht: unknown key for preset 'krotov_fc'; expected one of: preset, probe_after,"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_study_file_exits_2_with_one_line(cli, study_file, sqlite_storage, case) -> None:
    replace, expected = BAD_FILES[case]
    path = study_file(replace=replace)
    r = cli("run", path, "--storage", sqlite_storage)
    assert r.code == 2
    assert r.err_lines == [r.err.strip()]  # exactly one line
    assert r.err.startswith(f"hebbsearch: error: {path}: ")
    assert expected in r.err
    assert r.out == ""


def test_missing_study_file(cli, tmp_path, sqlite_storage) -> None:
    r = cli("run", tmp_path / "nope.toml", "--storage", sqlite_storage)
    assert r.code == 2 and len(r.err_lines) == 1 and "cannot read study file" in r.err


@pytest.mark.parametrize("command", [["report", "tiny"], ["studies"]])
def test_malformed_storage_url_exits_1(cli, command) -> None:
    r = cli(*command, "--storage", "sqlite//oops")
    assert r.code == 1 and r.err_lines == ["hebbsearch: error: malformed storage URL 'sqlite//oops'; expected "
                                           "e.g. 'sqlite:///hebbsearch.db' or 'postgresql://user@host/db'"]


def test_unreachable_storage_exits_1(cli, study_file) -> None:
    r = cli("run", study_file(), "--storage", "sqlite:////nonexistent/dir/s.db")
    assert r.code == 1 and len(r.err_lines) == 1
    assert r.err.startswith("hebbsearch: error: cannot open storage sqlite:////nonexistent/dir/s.db: ")


def test_missing_study_exits_1(cli, study_file, storage) -> None:
    assert cli("run", study_file(), "--storage", storage, "--n-trials", "1", "-q").code == 0
    r = cli("report", "nope", "--storage", storage)
    assert r.code == 1
    assert r.err_lines == [f"hebbsearch: error: no study named 'nope' in {storage}; studies there: tiny"]


def test_missing_storage_file_is_not_created(cli, tmp_path) -> None:
    r = cli("studies", "--storage", f"sqlite:///{tmp_path}/none.db")
    assert r.code == 1 and len(r.err_lines) == 1 and "does not exist" in r.err
    assert not (tmp_path / "none.db").exists()


def test_storage_from_environment(cli, study_file, storage, monkeypatch) -> None:
    monkeypatch.setenv("HEBBSEARCH_STORAGE", storage)
    assert cli("run", study_file(), "--n-trials", "1", "-q").code == 0
    r = cli("studies", "--format", "csv")
    assert r.code == 0 and r.out.splitlines()[1].startswith("tiny,maximize,")


def test_usage_errors_exit_2(cli, study_file) -> None:
    assert cli().code == 2
    assert cli("frobnicate").code == 2
    assert cli("run", study_file(), "--jobs", "0").code == 2
    assert cli("report", "x", "--format", "xml").code == 2


def test_shared_flags_before_or_after_the_command(cli, study_file, sqlite_storage) -> None:
    assert cli("-q", "--storage", sqlite_storage, "run", study_file(), "--n-trials", "1").code == 0
    r = cli("studies", "--storage", sqlite_storage, "-q")
    assert r.code == 0 and "tiny" in r.out


def test_debug_shows_the_traceback(cli, study_file, sqlite_storage) -> None:
    path = study_file(replace={"n_trials = 6": "n_trials = 0"})
    from hebbsearch.errors import ConfigError

    with pytest.raises(ConfigError):
        cli("run", path, "--storage", sqlite_storage, "--debug")


def test_console_entry_point_in_a_fresh_interpreter(tmp_path) -> None:
    """What a user sees: one line, no warnings or traceback, exit code 2."""
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace("lr = {choices", "lr = {chioces"))
    proc = run_subprocess("run", path, "--storage", f"sqlite:///{tmp_path}/s.db", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"hebbsearch: error: {path}: probe.lr.chioces: unknown key; expected one of: low, high, log, step"]


def test_a_study_that_cannot_run_is_not_created(cli, study_file, storage) -> None:
    bad = study_file(replace={"hidden = 32": "hidden = 32\nwidht = 2"})
    assert cli("run", bad, "--storage", storage).code == 2
    r = cli("run", study_file(), "--storage", storage, "--n-trials", "1", "-q")  # the fixed file runs
    assert r.code == 0, r.err


@pytest.mark.parametrize("args", [
    ["frobnicate"],                             # unknown command
    [],                                         # no command
    ["run"],                                    # missing argument
    ["report"],
    ["run", "{study}", "--jobs", "0"],          # bad value
    ["report", "x", "--format", "xml"],
    ["run", "{study}", "--no-such-flag"],
])
def test_usage_errors_are_one_line(cli, study_file, args) -> None:
    r = cli(*[str(study_file()) if a == "{study}" else a for a in args])
    assert r.code == 2
    assert len(r.err_lines) == 1, r.err
    assert r.err_lines[0].startswith("hebbsearch: error: ")
    assert r.out == ""


def test_jobs_0_names_the_option(cli, study_file) -> None:
    r = cli("run", study_file(), "--jobs", "0")
    assert r.code == 2 and r.err_lines == [
        "hebbsearch: error: argument --jobs: expected an integer >= 1, got '0' (see 'hebbsearch run --help')"]


@pytest.mark.parametrize("name", [r"a\tb", r"a\nb", r"a\u0007b"])
def test_study_name_with_a_control_character_is_rejected(cli, study_file, sqlite_storage, name) -> None:
    path = study_file(replace={'name = "tiny"': f'name = "{name}"'})
    r = cli("run", path, "--storage", sqlite_storage)
    assert r.code == 2
    assert len(r.err_lines) == 1, r.err
    assert r.err_lines[0].startswith(f"hebbsearch: error: {path}: study.name: expected printable characters")
    assert r.out == ""


def test_worker_of_a_missing_study_exits_1(cli, study_file, sqlite_storage) -> None:
    assert cli("run", study_file(), "--storage", sqlite_storage, "--n-trials", "1", "-q").code == 0
    r = cli("worker", "nosuch", "--storage", sqlite_storage)
    assert r.code == 1
    assert r.err_lines == [f"hebbsearch: error: no study named 'nosuch' in {sqlite_storage}; studies there: tiny"]


@pytest.mark.parametrize("gpus", ["1,a", "0,0", "-1", ""])
def test_worker_bad_gpus_exits_2(cli, sqlite_storage, gpus) -> None:
    r = cli("worker", "x", "--gpus", gpus, "--storage", sqlite_storage)
    assert r.code == 2
    assert len(r.err_lines) == 1, r.err
    assert r.err_lines[0].startswith("hebbsearch: error: --gpus: expected auto, none or distinct device indices")
    assert repr(gpus) in r.err
