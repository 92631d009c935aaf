"""The worker pool against the real PostgreSQL (a fresh database per test): worker processes started with
``hebbsearch worker``, exactly as the compose file starts them, then killed, stopped and cut off.

Every test ends with the same invariants: exactly ``n_trials`` finished trials, trial numbers unique,
nothing RUNNING, every interrupted trial retried with its parameters and finished.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from hebbsearch.search import BudgetState, finished_count, open_storage

ROOT = Path(__file__).resolve().parents[2]

# ~0.1 s of Hebbian training and `epochs` probe epochs of ~0.05 s each on synthetic 8×8 images.
POOL_STUDY = textwrap.dedent("""
    [study]
    name = "pool"
    n_trials = {n_trials}
    seed = 3

    [study.sampler]
    name = "random"

    [study.pruner]
    name = "none"

    [data]
    dataset = "synthetic"
    subset = 500

    [model]
    preset = "krotov_fc"
    hidden = 32
    power = 1.0

    [probe]
    epochs = {epochs}
    lr = 0.02

    [search.krotov]
    p = 3
    k = 3
    delta = [0.1, 0.4]
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _hebbsearch(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hebbsearch.cli", *args], env=_env(), capture_output=True,
                          text=True, timeout=300, **kwargs)


class Pool:
    """``hebbsearch worker`` processes on one storage."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []

    def create(self, n_trials: int, epochs: int = 3) -> None:
        path = self.tmp / "pool.toml"
        path.write_text(POOL_STUDY.format(n_trials=n_trials, epochs=epochs))
        r = _hebbsearch("create", str(path), "--storage", self.url)
        assert r.returncode == 0, r.stderr

    def start(self, n: int, *extra: str) -> list[subprocess.Popen]:
        started = []
        for i in range(n):
            log = open(self.tmp / f"worker{len(self.procs)}.log", "w+")  # noqa: SIM115 - closed in wait
            proc = subprocess.Popen([sys.executable, "-m", "hebbsearch.cli", "worker", "pool", "--storage",
                                     self.url, "--heartbeat", "1", "--gpus", "none", *extra],
                                    env=_env(), stdout=log, stderr=subprocess.STDOUT, text=True)
            proc.log = log  # type: ignore[attr-defined]
            self.procs.append(proc)
            started.append(proc)
        return started

    def wait(self, timeout: float = 240) -> list[int]:
        deadline = time.monotonic() + timeout
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=max(1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        for i, proc in enumerate(self.procs):  # shown in full by pytest when the test fails
            print(f"--- worker {i} (pid {proc.pid}) exited {proc.returncode}:\n{self.output(proc)}")
        return codes

    def output(self, proc: subprocess.Popen) -> str:
        proc.log.seek(0)  # type: ignore[attr-defined]
        return proc.log.read()  # type: ignore[attr-defined]

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return optuna.load_study(study_name="pool", storage=open_storage(self.url)).get_trials()

    def running_trial_of(self, proc: subprocess.Popen, timeout: float = 120) -> optuna.trial.FrozenTrial:
        """Wait until ``proc`` runs a trial that has reported a probe epoch; return it."""
        me = f"{socket.gethostname()}:{proc.pid}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t in self.trials():
                if t.state == TrialState.RUNNING and t.user_attrs.get("worker") == me and t.intermediate_values:
                    return t
            assert proc.poll() is None, self.output(proc)
            time.sleep(0.1)
        raise AssertionError(f"worker {proc.pid} never ran a trial:\n{self.output(proc)}")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.log.close()  # type: ignore[attr-defined]


@pytest.fixture
def pool(postgres_url: str, tmp_path: Path) -> Iterator[Pool]:
    p = Pool(postgres_url, tmp_path)
    try:
        yield p
    finally:
        p.close()


def test_budget_state_decides_exactly() -> None:
    """The rule each worker applies under the budget lock."""
    assert BudgetState(finished=3, running=0, waiting=0, to_requeue=0).next_step(3) == "done"
    assert BudgetState(finished=1, running=1, waiting=0, to_requeue=0).next_step(3) == "run"
    assert BudgetState(finished=1, running=2, waiting=0, to_requeue=0).next_step(3) == "wait"
    # a trial about to be re-queued keeps its place: no new trial may take it
    assert BudgetState(finished=1, running=1, waiting=0, to_requeue=1).next_step(3) == "wait"
    # a waiting (re-queued) trial runs as soon as a running one's place allows
    assert BudgetState(finished=1, running=1, waiting=1, to_requeue=0).next_step(3) == "run"
    assert BudgetState(finished=2, running=1, waiting=1, to_requeue=0).next_step(3) == "wait"


def test_four_workers_finish_exactly_the_budget(pool: Pool) -> None:
    pool.create(24)
    pool.start(4)
    codes = pool.wait()
    assert codes == [0, 0, 0, 0], [pool.output(p) for p in pool.procs]
    trials = pool.trials()
    assert len(trials) == 24 and finished_count(trials) == 24
    assert sorted(t.number for t in trials) == list(range(24))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) >= 2  # the work was shared
    for proc in pool.procs:
        assert "reached its budget" in pool.output(proc)


def test_kill_9_of_a_worker_mid_trial_is_retried_elsewhere(pool: Pool) -> None:
    pool.create(6, epochs=60)
    victim, survivor = pool.start(2)
    doomed = pool.running_trial_of(victim)
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    assert survivor.wait(timeout=240) == 0, pool.output(survivor)
    trials = pool.trials()
    assert trials[doomed.number].state == TrialState.FAIL  # failed by the stale heartbeat
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == doomed.number]
    assert len(retries) == 1 and retries[0].params == doomed.params
    assert retries[0].state == TrialState.COMPLETE
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert finished_count(trials) == 6 and len(trials) == 7


def test_sigterm_requeues_the_trial_and_exits_0(pool: Pool) -> None:
    pool.create(6, epochs=60)
    victim, survivor = pool.start(2)
    doomed = pool.running_trial_of(victim)
    sent = time.monotonic()
    victim.send_signal(signal.SIGTERM)
    assert victim.wait(timeout=30) == 0, pool.output(victim)
    assert time.monotonic() - sent < 10  # between batches, not at the end of the trial
    out = pool.output(victim)
    assert "stopped by SIGTERM" in out and "Traceback" not in out
    trial = pool.trials()[doomed.number]
    assert trial.state == TrialState.FAIL and trial.user_attrs["fail_reason"] == "interrupted (SIGTERM)"
    assert survivor.wait(timeout=240) == 0, pool.output(survivor)
    trials = pool.trials()
    retries = [t for t in trials if t.user_attrs.get("retry_of") == doomed.number]
    assert len(retries) == 1 and retries[0].params == doomed.params
    assert retries[0].state == TrialState.COMPLETE
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert finished_count(trials) == 6 and len(trials) == 7


def test_postgresql_restart_mid_study(pool: Pool, postgres_server) -> None:
    """The server goes away for a few seconds (every connection terminated, new ones refused, as in a
    restart) while two workers train; both reconnect, finish the study, and the budget is exact."""
    pool.create(8, epochs=60)  # as long as the kill tests: both workers must still be training
    workers = pool.start(2)
    pool.running_trial_of(workers[0])
    name = make_url(pool.url).database
    with postgres_server.connection.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        time.sleep(4)
        cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    codes = pool.wait()
    outputs = [pool.output(p) for p in workers]
    assert codes == [0, 0], outputs
    assert any("storage unreachable" in out for out in outputs), outputs
    assert all("Traceback" not in out for out in outputs), outputs
    trials = pool.trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert finished_count(trials) == 8
    # each trial cut off by the outage was retried once with the parameters it had drawn (none, when the
    # outage came between creating the trial and its first suggest: then the retry draws its own)
    lost = [t for t in trials if t.state == TrialState.FAIL]
    for t in lost:
        retries = [r for r in trials if r.user_attrs.get("retry_of") == t.number
                   or r.system_attrs.get("failed_trial") == t.number]
        assert len(retries) == 1, (t, retries)
        assert {k: retries[0].params[k] for k in t.params} == t.params, (t, retries)
    assert len(trials) == 8 + len(lost)


def test_create_twice_at_once_on_an_empty_database(postgres_url: str, tmp_path: Path) -> None:
    """Optuna's "relation alembic_version already exists" race: concurrent first starts must not fail."""
    path = tmp_path / "pool.toml"
    path.write_text(POOL_STUDY.format(n_trials=2, epochs=1))
    procs = [subprocess.Popen([sys.executable, "-m", "hebbsearch.cli", "create", str(path), "--storage",
                               postgres_url], env=_env(), stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errs
    assert sum("created study 'pool'" in e for e in errs) == 1
    assert optuna.get_all_study_names(open_storage(postgres_url)) == ["pool"]
    # a different study file under the same name is an error, as for `run`
    path.write_text(POOL_STUDY.format(n_trials=2, epochs=1).replace("k = 3", "k = 4"))
    r = _hebbsearch("create", str(path), "--storage", postgres_url)
    assert r.returncode == 2 and "different study file" in r.stderr and len(r.stderr.splitlines()) == 1


SLOT_SCRIPT = textwrap.dedent("""
    import sys, time
    from hebbsearch.search import claim_slot
    url = sys.argv[1]
    slot = claim_slot(url, [(i, f"test-gpu-{i}") for i in range(4)], poll=0.2)
    print(slot.index, flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_five_workers_four_gpu_slots(backend: str, request, tmp_path: Path) -> None:
    """4 distinct slots for the first 4; the 5th waits until one is freed (its holder killed -9: the
    server or the kernel releases the lock)."""
    url = (f"sqlite:///{tmp_path / 'slots.db'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_url"))
    script = tmp_path / "slot.py"
    script.write_text(SLOT_SCRIPT)
    procs = [subprocess.Popen([sys.executable, str(script), url], env=_env(), stdout=subprocess.PIPE,
                              text=True) for _ in range(5)]
    try:
        def first_lines(ps: list[subprocess.Popen], n: int, timeout: float) -> dict[int, int]:
            import selectors

            sel = selectors.DefaultSelector()
            for p in ps:
                sel.register(p.stdout, selectors.EVENT_READ, p)
            got: dict[int, int] = {}
            deadline = time.monotonic() + timeout
            while len(got) < n and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=0.5):
                    line = key.fileobj.readline()
                    if line:
                        got[key.data.pid] = int(line)
                        sel.unregister(key.fileobj)
            return got

        claimed = first_lines(procs, 4, timeout=120)
        assert sorted(claimed.values()) == [0, 1, 2, 3]
        waiting = [p for p in procs if p.pid not in claimed]
        assert len(waiting) == 1 and not first_lines(waiting, 1, timeout=2)  # still waiting
        holder = next(p for p in procs if claimed.get(p.pid) == 2)
        holder.kill()
        holder.wait()
        assert first_lines(waiting, 1, timeout=30) == {waiting[0].pid: 2}
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_budget_lock_excludes_across_processes(storage_url: str, tmp_path: Path) -> None:
    from hebbsearch.search import StorageLock

    open_storage(storage_url)  # the database (file) exists
    a, b = StorageLock(storage_url, "budget:x"), StorageLock(storage_url, "budget:x")
    assert a.acquire(blocking=False)
    held = subprocess.run([sys.executable, "-c", "import sys; from hebbsearch.search import StorageLock; "
                           "sys.exit(0 if StorageLock(sys.argv[1], 'budget:x').acquire(False) else 3)",
                           storage_url], env=_env(), timeout=120)
    assert held.returncode == 3
    assert not b.acquire(blocking=False)  # another connection / file description of this process
    a.release()
    b.release()
    other = StorageLock(storage_url, "budget:y")
    assert other.acquire(blocking=False)
    other.release()


def test_worker_options_from_the_pool_are_picklable() -> None:
    import pickle

    from hebbsearch.search import WorkerOptions

    options = WorkerOptions(storage="sqlite:///x.db", study_name="s", gpus=(0, 1))
    assert pickle.loads(pickle.dumps(options)) == options


def test_concurrent_first_runs_on_an_empty_storage(storage_url: str, tmp_path: Path) -> None:
    """The README's "run the same command on each machine": three `run`s at once on an empty storage
    (SQLite: `table study_directions already exists`; PostgreSQL: `pg_type_typname_nsp_index` before)."""
    path = tmp_path / "pool.toml"
    path.write_text(POOL_STUDY.format(n_trials=3, epochs=1))
    procs = [subprocess.Popen([sys.executable, "-m", "hebbsearch.cli", "run", str(path), "--storage", storage_url,
                               "-q", "--heartbeat", "1"], env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errs = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errs
    trials = optuna.load_study(study_name="pool", storage=open_storage(storage_url)).get_trials()
    assert finished_count(trials) == 3 and len(trials) == 3


def test_tables_half_created_by_another_process_are_not_taken_as_set_up(storage_url: str) -> None:
    """Optuna creates the tables, then stamps ``alembic_version``: a process that opened the storage
    between the two (without the ``init`` lock) failed with `UNIQUE constraint failed: alembic_version`."""
    import sqlalchemy
    from optuna.storages._rdb import models

    from hebbsearch.search._locks import has_tables

    engine = sqlalchemy.create_engine(storage_url)
    models.BaseModel.metadata.create_all(engine)  # what the first process has done so far
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
    engine.dispose()
    assert not has_tables(storage_url)
    open_storage(storage_url)  # stamps it
    assert has_tables(storage_url)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_stopping_run_jobs_stops_its_workers(how: str, postgres_url: str, tmp_path: Path) -> None:
    """`run --jobs 2` stopped by SIGTERM (exit 143, one message) or killed with -9: its worker processes
    stop too (they watch their parent), each re-queues its trial, nothing stays RUNNING."""
    path = tmp_path / "pool.toml"
    # long trials (~20 s here): they must still be running when the workers notice their parent is gone
    path.write_text(POOL_STUDY.format(n_trials=6, epochs=5000))
    parent = subprocess.Popen([sys.executable, "-m", "hebbsearch.cli", "run", str(path), "--storage", postgres_url,
                               "--jobs", "2", "--heartbeat", "1"], env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        running: list = []
        while time.monotonic() < deadline and len(running) < 2:
            try:
                trials = optuna.load_study(study_name="pool", storage=open_storage(postgres_url)).get_trials()
            except Exception:  # noqa: BLE001 - not created yet
                trials = []
            running = [t for t in trials if t.state == TrialState.RUNNING and t.intermediate_values]
            time.sleep(0.2)
        assert len(running) == 2, parent.stderr.read() if parent.poll() is not None else "no trials"
        children = {int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in running}
        parent.send_signal(getattr(signal, how))
        code = parent.wait(timeout=60)
        err = parent.stderr.read()
    finally:
        parent.kill()
        parent.wait()
    if how == "SIGTERM":
        assert code == 143, err
        assert err.strip().splitlines()[-1].startswith("hebbsearch: interrupted (SIGTERM)"), err
        assert "Traceback" not in err
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)], "worker processes outlived their parent"
    trials = optuna.load_study(study_name="pool", storage=open_storage(postgres_url)).get_trials()
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    for t in running:
        assert trials[t.number].user_attrs["fail_reason"] == "interrupted (SIGTERM)"
        retries = [r for r in trials if r.user_attrs.get("retry_of") == t.number]
        assert len(retries) == 1 and retries[0].state == TrialState.WAITING


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its dead parent's reaper) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_a_gpu_slot_is_reclaimed_after_its_connection_died(postgres_url: str, postgres_server) -> None:
    """A restart of PostgreSQL drops the advisory lock with its connection: the worker takes its slot
    again, or learns that another worker took it meanwhile."""
    from hebbsearch.search import claim_slot

    slot = claim_slot(postgres_url, [(0, "test-gpu-0")])
    assert slot is not None and slot.index == 0
    name = make_url(postgres_url).database
    with postgres_server.connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    assert slot.reclaim() and slot.lock is not None and slot.lock.held
    # held again: nobody else gets it
    assert claim_slot(postgres_url, [(0, "test-gpu-0")], should_stop=lambda: True) is None
    with postgres_server.connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    other = claim_slot(postgres_url, [(0, "test-gpu-0")])  # another worker, during the "outage"
    assert other is not None and not slot.reclaim() and slot.lock is None
    other.release()
