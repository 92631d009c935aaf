"""The worker pool on PostgreSQL: throughput against the number of workers, and storage overhead per trial.

    python benchmarks/bench_pool.py                        # 1, 2, 4, 8 workers, 2 s trials, 6 per worker
    python benchmarks/bench_pool.py --workers 1,8 --reps 3 --seconds 1 --json pool.json

For each worker count N the script creates a fresh study (synthetic data, krotov_fc, random sampler, no
pruner, ``n_trials`` = trials-per-worker × N) in a scratch database of its own on the server named by
``--url``, and starts N spawned processes that each call ``run_worker(WorkerOptions(...),
objective=SleepObjective(seconds))``: the real worker loop (budget lock, stale/orphan/interrupted checks,
counting, ``ask``, heartbeat thread, ``tell``, the study note under its lock, polling at the end) around
an objective that only sleeps. Importing hebbsearch costs several CPU seconds per process, so each
worker first imports, opens the storage and takes a lock once (warming the lock engine), then reports
ready; the clock starts when all N are ready and the barrier is released, and stops when the last worker
returns from ``run_worker``.

Figures (medians over ``--reps``):

  * trials/h = trials / wall;  scaling efficiency = throughput(N) / (N × throughput(1));
  * overhead per trial = (N × wall − trials × seconds) / trials: every worker-second not spent in the
    objective, split exactly into
      - start-up: release → the worker's first trial (``run_worker`` opening its own storage, loading
        the study, first ``ask``);
      - gaps: one trial's objective returning → the same worker's next objective call (``tell``, the
        note, the budget lock, counting, ``ask``), and the same gap read from the storage
        (``datetime_complete`` → next ``datetime_start``);
      - end: a worker's last objective returning → ``run_worker`` returning (waiting for the other
        workers' last trials, then for the next budget poll).
  * after the run each study must hold exactly ``n_trials`` finished trials and nothing RUNNING.

Unless ``--no-pieces``, the pieces of the per-trial cycle are then timed one by one in this process on a
study of the largest size (budget lock, the budget check, ``ask``, ``tell``, the study note). The
scratch database is dropped at the end, on errors too.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import textwrap
import time
import traceback
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from hebbsearch.search import (  # noqa: E402
    StorageLock,
    WorkerOptions,
    create_or_load_study,
    finished_count,
    open_storage,
    run_worker,
    update_study_note,
)
from hebbsearch.study import parse_study_text  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EFFICIENCY_TARGET = 0.90   # throughput(8) / (8 × throughput(1))
OVERHEAD_TARGET_MS = 50.0  # per trial

STUDY = textwrap.dedent("""
    [study]
    name = "{name}"
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
    epochs = 1
    lr = 0.02

    [search.krotov]
    p = 3
    k = 3
    delta = [0.1, 0.4]
""")


def study_config(name: str, n_trials: int):
    return parse_study_text(STUDY.format(name=name, n_trials=n_trials), f"{name}.toml")


def trial_seconds(number: int, seconds: float, jitter: float) -> float:
    """How long trial ``number`` sleeps: ``seconds`` × (1 ± ``jitter``), fixed per trial number."""
    if not jitter:
        return seconds
    u = (zlib.crc32(f"trial{number}".encode()) / 0xFFFFFFFF) * 2 - 1
    return seconds * (1 + jitter * u)


class SleepObjective:
    """The objective: sleep, return a constant; records when each call began and ended."""

    def __init__(self, seconds: float, jitter: float = 0.0) -> None:
        self.seconds = seconds
        self.jitter = jitter
        self.calls: list[tuple[int, float, float]] = []   # (trial number, entered, returned), time.time()

    def __call__(self, trial: optuna.Trial) -> float:
        entered = time.time()
        time.sleep(trial_seconds(trial.number, self.seconds, self.jitter))
        self.calls.append((trial.number, entered, time.time()))
        return 0.5


class TimedLock(StorageLock):
    """Instrumentation (this process only): the worker's StorageLock, recording waits and holds."""

    records: dict[str, list[tuple[float, float]]] = {}   # kind (budget, note) → [(wait s, hold s)]

    def acquire(self, blocking: bool = True) -> bool:
        t = time.perf_counter()
        ok = super().acquire(blocking)
        self._acquired = time.perf_counter()
        self._wait = self._acquired - t
        return ok

    def release(self) -> None:
        if self.held:
            super().release()
            kind = self.name.split(":", 1)[0]
            TimedLock.records.setdefault(kind, []).append((self._wait, time.perf_counter() - self._acquired))
        else:
            super().release()


# -- the worker processes ----------------------------------------------------------------------------


def _worker(url: str, study_name: str, index: int, seconds: float, jitter: float, poll: float,
            heartbeat: int, ready: Any, go: Any, results: Any) -> None:
    """One spawned worker: warm up, report ready, wait for the release, run the real worker loop."""
    import sqlalchemy

    import hebbsearch.search._runner as runner

    runner.StorageLock = TimedLock  # time the budget and note locks (instrumentation, this process only)
    sql = {"statements": 0, "commits": 0, "counting": False}

    def count(key: str):
        def listener(*_: Any) -> None:
            if sql["counting"]:
                sql[key] += 1
        return listener

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", count("statements"))
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "commit", count("commits"))
    try:
        storage = open_storage(url, heartbeat_interval=heartbeat)   # the import already happened (spawn)
        storage.get_all_studies()
        with StorageLock(url, f"bench-warm:{index}"):   # opens this process's lock engine (reused later)
            pass
        storage.engine.dispose()
        del storage
        objective = SleepObjective(seconds, jitter)
        callbacks: dict[int, float] = {}
        ready.put(index)
        go.wait()
        released = time.time()
        cpu = time.process_time()
        sql["counting"] = True
        options = WorkerOptions(storage=url, study_name=study_name, gpus="none", heartbeat=heartbeat,
                                artifact_dir=None, progress_bar=False, summary=False, worker=index, poll=poll)
        result = run_worker(options, objective=objective,
                            on_trial=lambda t: callbacks.__setitem__(t.number, time.time()))
        sql["counting"] = False
        results.put({"worker": index, "released": released, "returned": time.time(),
                     "cpu_s": time.process_time() - cpu, "statements": sql["statements"],
                     "commits": sql["commits"],
                     "trials": result.trials, "reason": result.reason, "calls": objective.calls,
                     "callbacks": callbacks, "locks": TimedLock.records})
    except BaseException as e:  # noqa: BLE001 - report to the parent, which fails the run
        results.put({"worker": index, "error": f"{type(e).__name__}: {e}\n{traceback.format_exc()}"})
        ready.put(index)


# -- one measurement ---------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _get(queue: Any, procs: list, timeout: float) -> Any:
    """The next item of ``queue``; RuntimeError when every worker has exited without sending one."""
    import queue as queues

    deadline = time.monotonic() + timeout
    while True:
        try:
            return queue.get(timeout=1.0)
        except queues.Empty:
            if all(not p.is_alive() for p in procs):
                try:
                    return queue.get(timeout=1.0)   # sent just before exiting
                except queues.Empty:
                    codes = [p.exitcode for p in procs]
                    raise RuntimeError(f"the workers exited without reporting (exit codes {codes})") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"no report from the workers within {timeout:.0f} s") from None


def measure(url: str, n_workers: int, rep: int, args: argparse.Namespace) -> dict:
    """Run one study with ``n_workers`` workers; all figures of that run."""
    name = f"pool_w{n_workers}_r{rep}"
    n_trials = args.trials_per_worker * n_workers
    config = study_config(name, n_trials)
    storage = open_storage(url)
    create_or_load_study(storage, config)

    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_worker, name=f"bench-w{i}",
                         args=(url, name, i, args.seconds, args.jitter, args.poll, args.heartbeat, ready, go,
                               results))
             for i in range(n_workers)]
    t_spawn = time.monotonic()
    try:
        for p in procs:
            p.start()
        for _ in procs:
            _get(ready, procs, timeout=600)
        startup_s = time.monotonic() - t_spawn
        t0 = time.time()
        go.set()
        reports = [_get(results, procs, timeout=600 + 10 * n_trials * args.seconds) for _ in procs]
        for p in procs:
            p.join(timeout=60)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        raise RuntimeError(f"{len(errors)} worker(s) failed; first:\n{errors[0]}")

    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    finished = finished_count(trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    stored = {t.number: t for t in trials}
    t_end = max(r["returned"] for r in reports)
    wall = t_end - t0
    planned = sum(trial_seconds(k, args.seconds, args.jitter) for k in range(n_trials))

    starts, gaps_obj, gaps_db, tells, afters, creates, ends, lags, sleeps, overshoot = ([] for _ in range(10))
    for r in reports:
        calls = sorted(r["calls"], key=lambda c: c[1])
        if not calls:
            ends.append(t_end - t0)
            continue
        starts.append(calls[0][1] - t0)
        ends.append(t_end - calls[-1][2])         # idle from its last trial to the end of the run
        lags.append(r["returned"] - calls[-1][2])  # ... of which until run_worker returned
        for number, entered, returned in calls:
            sleeps.append(returned - entered)
            overshoot.append(returned - entered - trial_seconds(number, args.seconds, args.jitter))
            t = stored[number]
            if number in r["callbacks"]:
                tells.append(r["callbacks"][number] - returned)
            creates.append(entered - t.datetime_start.timestamp())
        for (n_a, _, ret_a), (n_b, ent_b, _) in zip(calls, calls[1:]):
            gaps_obj.append(ent_b - ret_a)
            gaps_db.append(stored[n_b].datetime_start.timestamp() - stored[n_a].datetime_complete.timestamp())
            afters.append(stored[n_b].datetime_start.timestamp() - r["callbacks"].get(n_a, ret_a))
    n_done = len(sleeps)
    idle = n_workers * wall - sum(sleeps)
    locks: dict[str, list[tuple[float, float]]] = {}
    for r in reports:
        for kind, records in r["locks"].items():
            locks.setdefault(kind, []).extend(records)
    lock_ms = {f"{kind} {what}": sum(rec[i] for rec in locks.get(kind, [])) / n_trials * 1e3
               for kind in ("budget", "note") for i, what in ((0, "wait"), (1, "hold"))}
    return {
        "workers": n_workers, "rep": rep, "trials": n_trials, "trials_run": n_done, "wall_s": wall,
        "spawn_and_warm_s": startup_s,
        "trials_per_h": n_done / wall * 3600,
        "overhead_ms": (n_workers * wall - planned) / n_trials * 1e3,
        "gap_ms": _median(gaps_db) * 1e3,             # storage: datetime_complete → next datetime_start
        "gap_objective_ms": _median(gaps_obj) * 1e3,  # objective returned → next objective call
        "gap_max_ms": max(gaps_obj, default=float("nan")) * 1e3,
        "tell_ms": _median(tells) * 1e3,              # objective returned → on_trial callback
        "after_ms": _median(afters) * 1e3,            # on_trial → next trial's datetime_start
        "create_ms": _median(creates) * 1e3,          # datetime_start → objective call
        # the idle worker-seconds split per trial (sum = overhead_ms + sleep overshoot)
        "split_ms": {
            "start-up": sum(starts) / n_trials * 1e3,
            "gaps": sum(gaps_obj) / n_trials * 1e3,
            "end": sum(ends) / n_trials * 1e3,
            "sleep overshoot": sum(overshoot) / n_trials * 1e3,
        },
        # lock waits and holds (all acquisitions, also the polls at the end), ms per trial
        "lock_ms": lock_ms,
        # per trial, whole run (start-up and polls included): the workers' own CPU, SQL statements, commits
        "cpu_ms": sum(r["cpu_s"] for r in reports) / n_trials * 1e3,
        "statements": sum(r["statements"] for r in reports) / n_trials,
        "commits": sum(r["commits"] for r in reports) / n_trials,
        "startup_ms_median": _median(starts) * 1e3, "startup_ms_max": max(starts, default=0) * 1e3,
        "end_ms_median": _median(ends) * 1e3, "end_ms_max": max(ends, default=0) * 1e3,
        "return_lag_ms_median": _median(lags) * 1e3,
        "idle_s": idle,
        "finished": finished, "running": running, "ok": finished == n_trials and running == 0,
        "per_worker": sorted((r["worker"], r["trials"], r["reason"]) for r in reports),
    }


# -- the pieces of one trial cycle -------------------------------------------------------------------


def _timed(fn, reps: int) -> float:
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e3


def pieces(url: str, n_trials: int, heartbeat: int, reps: int) -> dict[str, float]:
    """ms per call (median) of each storage step of a trial cycle, one process, no contention."""
    from hebbsearch.search._runner import _next_step  # the budget check the worker runs under the lock

    import warnings

    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # fail_stale_trials
    warnings.filterwarnings("ignore", message="Heartbeat of storage")       # ask/tell outside optimize
    name = "pieces"
    config = study_config(name, n_trials)
    t = time.perf_counter()
    storage = open_storage(url, heartbeat_interval=heartbeat)
    study, _ = create_or_load_study(storage, config)
    out = {"open_storage + create study (first time in the process)": (time.perf_counter() - t) * 1e3}
    # fill the study to the size the largest pool run ends with, timing ask and tell
    asks, tells = [], []
    for _ in range(max(n_trials, 4) - 1):
        t = time.perf_counter()
        trial = study.ask()
        asks.append(time.perf_counter() - t)
        t = time.perf_counter()
        study.tell(trial, 0.5)
        tells.append(time.perf_counter() - t)
    out[f"study.ask (a new trial; up to {n_trials} trials)"] = statistics.median(asks) * 1e3
    out["study.tell (complete it)"] = statistics.median(tells) * 1e3
    lock = StorageLock(url, f"budget:{name}")

    def lock_cycle() -> None:
        lock.acquire()
        lock.release()

    out["budget lock acquire + release"] = _timed(lock_cycle, reps)
    out["budget check under the lock (_next_step)"] = _timed(lambda: _next_step(study, storage, n_trials),
                                                             reps)
    out["optuna fail_stale_trials (again in study.optimize)"] = _timed(
        lambda: optuna.storages.fail_stale_trials(study), reps)
    out["study.get_trials"] = _timed(lambda: study.get_trials(deepcopy=False), reps)
    out["study note (update_study_note)"] = _timed(lambda: update_study_note(study, config), reps)
    notes = StorageLock(url, f"note:{name}")

    def note_locked() -> None:
        with notes:
            update_study_note(study, config)

    out["study note under its lock"] = _timed(note_locked, reps)
    t = time.perf_counter()
    s2 = open_storage(url, heartbeat_interval=heartbeat)
    optuna.load_study(study_name=name, storage=s2).get_trials()
    out["open_storage + load_study again (warm process)"] = (time.perf_counter() - t) * 1e3
    return out


# -- scratch database --------------------------------------------------------------------------------


class ScratchDatabase:
    """``CREATE DATABASE hebbsearch_bench_pool_<pid>`` on the server of ``url``; dropped on exit."""

    def __init__(self, maintenance_url: str) -> None:
        import psycopg2

        self.url = make_url(maintenance_url)
        self.name = f"hebbsearch_bench_pool_{os.getpid()}"
        self.conn = psycopg2.connect(host=self.url.host, port=self.url.port, user=self.url.username,
                                     password=self.url.password, dbname=self.url.database or "postgres",
                                     connect_timeout=5)
        self.conn.autocommit = True

    def __enter__(self) -> str:
        with self.conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{self.name}"')
        return self.url.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *exc: Any) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            self.conn.close()


# -- report ------------------------------------------------------------------------------------------


def summarise(runs: list[dict], counts: list[int]) -> list[dict]:
    rows = []
    for n in counts:
        rs = [r for r in runs if r["workers"] == n]
        med = {k: statistics.median(r[k] for r in rs) for k in
               ("wall_s", "trials_per_h", "overhead_ms", "gap_ms", "gap_objective_ms", "gap_max_ms",
                "tell_ms", "after_ms", "create_ms", "startup_ms_median", "startup_ms_max", "end_ms_median",
                "end_ms_max", "return_lag_ms_median", "spawn_and_warm_s", "cpu_ms", "statements", "commits")}
        for key in ("split_ms", "lock_ms"):
            med[key] = {k: statistics.median(r[key][k] for r in rs) for k in rs[0][key]}
        rows.append({"workers": n, "trials": rs[0]["trials"], "ok": all(r["ok"] for r in rs), **med})
    base = next((r for r in rows if r["workers"] == 1), None)
    for r in rows:
        r["efficiency"] = (r["trials_per_h"] / (r["workers"] * base["trials_per_h"])
                           if base else float("nan"))
    return rows


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    print(f"\n{'workers':>7s} {'trials':>6s} {'wall s':>7s} {'trials/h':>9s} {'effic.':>7s} "
          f"{'overhead':>9s} {'gap':>7s} {'gap obj':>8s} {'check':>6s}")
    print(f"{'':>7s} {'':>6s} {'':>7s} {'':>9s} {'':>7s} {'ms/trial':>9s} {'ms':>7s} {'ms':>8s}")
    for r in rows:
        print(f"{r['workers']:7d} {r['trials']:6d} {r['wall_s']:7.1f} {r['trials_per_h']:9.0f} "
              f"{100 * r['efficiency']:6.1f}% {r['overhead_ms']:9.0f} {r['gap_ms']:7.1f} "
              f"{r['gap_objective_ms']:8.1f} {'ok' if r['ok'] else 'FAIL':>6s}")
    print("\n  gap = median over consecutive trials of one worker of datetime_complete → next datetime_start;"
          "\n  gap obj = objective returned → same worker's next objective call (tell + note + lock + ask)")
    print("\nwhere a worker's non-sleeping time goes, ms per trial (sum = overhead):")
    keys = list(rows[0]["split_ms"])
    print(f"{'workers':>7s} " + " ".join(f"{k:>16s}" for k in keys))
    for r in rows:
        print(f"{r['workers']:7d} " + " ".join(f"{r['split_ms'][k]:16.1f}" for k in keys))
    print("\nper trial, median ms: tell = objective returned → on_trial; after = on_trial → next "
          "datetime_start (note, budget lock, checks, ask); create = datetime_start → objective call")
    print(f"{'workers':>7s} {'tell':>7s} {'after':>7s} {'create':>7s} {'max gap':>8s} "
          f"{'start-up med/max':>17s} {'end med/max':>15s} {'return lag':>11s} {'spawn+warm s':>13s}")
    for r in rows:
        print(f"{r['workers']:7d} {r['tell_ms']:7.1f} {r['after_ms']:7.1f} {r['create_ms']:7.1f} "
              f"{r['gap_max_ms']:8.1f} {r['startup_ms_median']:8.0f}/{r['startup_ms_max']:<8.0f} "
              f"{r['end_ms_median']:7.0f}/{r['end_ms_max']:<7.0f} {r['return_lag_ms_median']:11.0f} "
              f"{r['spawn_and_warm_s']:13.1f}")
    print("  start-up: release → first trial; end: last trial returned → the last worker returned; "
          "return lag: → this worker returned")
    print("\nlocks, ms per trial (sums over all acquisitions, the polls at the end included), and per trial "
          "the workers' CPU time and SQL statements / commits (whole run):")
    keys = list(rows[0]["lock_ms"])
    print(f"{'workers':>7s} " + " ".join(f"{k:>12s}" for k in keys)
          + f" {'CPU ms':>7s} {'statements':>10s} {'commits':>8s}")
    for r in rows:
        print(f"{r['workers']:7d} " + " ".join(f"{r['lock_ms'][k]:12.1f}" for k in keys)
              + f" {r['cpu_ms']:7.0f} {r['statements']:10.1f} {r['commits']:8.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2,4,8", help="worker counts, comma-separated")
    ap.add_argument("--seconds", type=float, default=2.0, help="duration of each trial (time.sleep)")
    ap.add_argument("--jitter", type=float, default=0.0,
                    help="trial durations spread over seconds × (1 ± jitter), fixed per trial number "
                         "(0: all equal, the workers then finish in lockstep)")
    ap.add_argument("--trials-per-worker", type=int, default=6, help="n_trials = this × workers")
    ap.add_argument("--reps", type=int, default=1, help="repetitions of each worker count (medians)")
    ap.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL maintenance URL (a scratch database is "
                    "created and dropped on that server)")
    ap.add_argument("--poll", type=float, default=WorkerOptions.poll,
                    help="WorkerOptions.poll: seconds between budget checks while others finish "
                         f"(default {WorkerOptions.poll}, the library's)")
    ap.add_argument("--heartbeat", type=int, default=30, help="WorkerOptions.heartbeat, seconds")
    ap.add_argument("--no-pieces", action="store_true", help="skip timing the pieces of a trial cycle")
    ap.add_argument("--json", metavar="PATH", help="also write every run's figures here")
    args = ap.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    counts = [int(c) for c in args.workers.split(",") if c.strip()]
    if not counts or min(counts) < 1:
        ap.error("--workers: positive integers, e.g. 1,2,4,8")
    if make_url(args.url).get_backend_name() != "postgresql":
        ap.error("--url must be a PostgreSQL URL")

    print(f"optuna {optuna.__version__}, {os.cpu_count()} CPUs, PostgreSQL at "
          f"{make_url(args.url).render_as_string(hide_password=True)}; trials sleep {args.seconds} s, "
          f"(± {100 * args.jitter:.0f} %), {args.trials_per_worker} per worker, "
          f"heartbeat {args.heartbeat} s, poll {args.poll} s, "
          f"{args.reps} rep(s), load average {os.getloadavg()[0]:.2f}")
    runs: list[dict] = []
    piece_ms: dict[str, float] = {}
    with ScratchDatabase(args.url) as url:
        for rep in range(args.reps):
            for n in counts:
                r = measure(url, n, rep, args)
                runs.append(r)
                print(f"  rep {rep} workers {n}: {r['trials']} trials in {r['wall_s']:.2f} s "
                      f"({r['trials_per_h']:.0f}/h), overhead {r['overhead_ms']:.0f} ms/trial, gap "
                      f"{r['gap_ms']:.1f} ms, finished {r['finished']}/{r['trials']}, running {r['running']}"
                      f"{'' if r['ok'] else '  <-- CHECK FAILED'}; "
                      f"per worker {[t for _, t, _ in r['per_worker']]}"
                      f" (spawn+warm-up {r['spawn_and_warm_s']:.1f} s, not timed)", flush=True)
        if not args.no_pieces:
            piece_ms = pieces(url, args.trials_per_worker * max(counts), args.heartbeat, reps=15)
    rows = summarise(runs, counts)
    print_table(rows, args)
    if piece_ms:
        print("\npieces of a trial cycle, one process, no contention (median ms per call):")
        for label, ms in piece_ms.items():
            print(f"   {label:58s} {ms:8.1f}")

    print(f"\ntargets (load average now {os.getloadavg()[0]:.2f}):")
    checks = []
    top = max(rows, key=lambda r: r["workers"])
    if any(r["workers"] == 1 for r in rows) and top["workers"] > 1:
        checks.append((f"scaling efficiency at {top['workers']} workers >= 90 %",
                       f"{100 * top['efficiency']:.1f} %", top["efficiency"] >= EFFICIENCY_TARGET))
    worst = max(r["overhead_ms"] for r in rows)
    checks.append(("overhead per trial < 50 ms (worst N)", f"{worst:.0f} ms", worst < OVERHEAD_TARGET_MS))
    worst_gap = max(r["gap_ms"] for r in rows)
    checks.append(("  (per-trial gap, excluding start-up and end, < 50 ms)", f"{worst_gap:.0f} ms",
                   worst_gap < OVERHEAD_TARGET_MS))
    checks.append(("every study: n_trials finished, none RUNNING", "", all(r["ok"] for r in runs)))
    for label, shown, ok in checks:
        print(f"   {label:58s} {shown:>9s}   {'MET' if ok else 'NOT MET'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs, "summary": rows,
                                               "pieces_ms": piece_ms}, indent=1, default=str))
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
