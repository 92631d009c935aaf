"""The compose topology without Docker: the exact commands of the ``init``, ``worker`` and ``dashboard``
services of docker-compose.yml, run as local processes against the local PostgreSQL (a fresh database),
then ``report``, as a user would after ``docker compose up --scale worker=4``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import yaml

from hebbsearch.search import finished_count, open_storage
from search_tests.test_pool import POOL_STUDY

ROOT = Path(__file__).resolve().parents[2]

# the pool tests' tiny synthetic study (a few seconds for all 8 trials), under the compose file's name
STUDY = POOL_STUDY.format(n_trials=8, epochs=3).replace('name = "pool"', 'name = "compose"')



def _service_command(service: str, env: dict[str, str]) -> list[str]:
    """The service's ``command`` with ``${VAR:-default}`` / ``${VAR:?msg}`` interpolated from ``env``."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"][service]["command"]

    def sub(text: str) -> str:
        def one(m: re.Match) -> str:
            name, default = m.group(1), m.group(3) or ""
            return env.get(name, default if m.group(2) == ":-" else "")
        return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, text)

    return [sub(part) for part in command]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_compose_services_as_local_processes(postgres_url: str, tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "compose.toml").write_text(STUDY)
    artifacts = tmp_path / "artifacts"
    # what the x-hebbsearch anchor sets, pointed at this machine
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HEBBSEARCH_STORAGE": postgres_url,
           "HEBBSEARCH_ARTIFACTS": str(artifacts), "HEBBSEARCH_OFFLINE": "1",
           "STUDY": "compose", "STUDY_NAME": "compose", "HEBBSEARCH_GPUS": "auto"}
    hebbsearch = [sys.executable, "-m", "hebbsearch.cli"]

    init = _service_command("init", env)
    assert init == ["create", "/studies/compose.toml"]
    init[1] = str(studies / "compose.toml")  # the bind mount ./studies:/studies
    # `docker compose up` may start init again (a second `up`): two at once on an empty database
    procs = [subprocess.Popen([*hebbsearch, *init], env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs

    worker = _service_command("worker", env)
    assert worker == ["worker", "compose", "--gpus", "auto"]
    workers = [subprocess.Popen([*hebbsearch, *worker], env=env, stderr=subprocess.PIPE, text=True)
               for _ in range(4)]

    port = _free_port()
    dashboard = _service_command("dashboard", env)
    assert dashboard[:3] == ["dashboard", "--host", "0.0.0.0"]
    # in the container it binds 0.0.0.0 behind a port published on 127.0.0.1 only; here: 127.0.0.1
    dashboard[2], dashboard[4] = "127.0.0.1", str(port)
    server = subprocess.Popen([*hebbsearch, *dashboard], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        worker_errs = [w.communicate(timeout=300)[1] for w in workers]
        assert [w.returncode for w in workers] == [0, 0, 0, 0], worker_errs

        trials = optuna.load_study(study_name="compose", storage=open_storage(postgres_url)).get_trials()
        assert finished_count(trials) == 8 and len(trials) == 8

        study_api = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    studies_api = json.load(r)["study_summaries"]
                study_id = next(s["study_id"] for s in studies_api if s["study_name"] == "compose")
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}?after=0",
                                            timeout=10) as r:
                    study_api = json.load(r)
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                time.sleep(0.5)
        assert study_api is not None, "the dashboard never answered"
        assert study_api["objective_names"] == ["val_accuracy"]
        note = study_api["note"]["body"]
        assert "[search.krotov]" in note and "Accuracy (val)" in note and "Trials (complete)" in note
        # each trial's filter picture is an artifact the dashboard lists on the trial's page
        assert all(len(t["artifacts"]) == 1 for t in study_api["trials"])
    finally:
        server.terminate()
        server.wait(timeout=30)

    report = subprocess.run([*hebbsearch, "report", "compose"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("| Hebbian layers | 1 |")
    assert "Trials: 8 complete, 0 pruned, 0 failed" in report.stdout

