"""``hebbsearch run STUDY.toml``: create or resume a study and run trials until it has ``n_trials`` finished.

Resuming: ``n_trials`` counts the study's finished trials (complete, pruned, failed with a reason), so
running the same command again runs only the missing ones. Trials interrupted by Ctrl-C are re-run
with the same parameters; trials left RUNNING by a killed process are failed and re-run once their
heartbeat (``--heartbeat``) is older than twice its interval.

``--jobs J`` starts J worker processes (spawned) on the same storage; each loads the study by name.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
from collections.abc import Callable
from typing import Any

from hebbsearch.cli._output import emit, fixed_decimals, message, render, render_json, verbosity

DEFAULT_HEARTBEAT = 30


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", parents=parents, help="create or resume a study and run its trials",
                       description=__doc__.replace("``", "'"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study_file", metavar="STUDY.toml", help="study file")
    p.add_argument("--n-trials", type=_positive_int, metavar="N",
                   help="finished trials the study should have (default: [study] n_trials)")
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="J",
                   help="local worker processes (default 1)")
    p.add_argument("--data-dir", metavar="DIR", help="dataset directory (overrides [data] root)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    p.add_argument("--heartbeat", type=_non_negative_int, default=DEFAULT_HEARTBEAT, metavar="SECONDS",
                   help="heartbeat interval of running trials; a trial whose process died is failed and "
                        f"re-queued after twice this (0: off; default {DEFAULT_HEARTBEAT})")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="format of the final summary on stdout (default: table)")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from hebbsearch.search import (
        Objective,
        WorkerOptions,
        create_or_load_study,
        finished_count,
        open_storage,
        requeue_interrupted,
        resolve_device,
        resolve_storage_url,
        run_worker,
        study_names,
    )

    from hebbsearch.study import load_study_file

    config = load_study_file(args.study_file)
    if args.n_trials is not None:
        config = config.replace_study(n_trials=args.n_trials)
    device = resolve_device(args.device)
    url = resolve_storage_url(args.storage)
    storage = open_storage(url)
    name = config.study.name
    n_trials = config.study.n_trials
    objective = Objective(config, args.data_dir, device)
    checked = False
    if name not in study_names(storage):
        objective.check()  # data and model problems fail before the study is created
        checked = True
    study = create_or_load_study(storage, config)

    requeued = requeue_interrupted(study)
    if requeued:
        numbers = ", ".join(f"#{n}" for n in requeued)
        message(f"re-queued interrupted trial(s) {numbers} with the same parameters")
    finished = finished_count(study.get_trials(deepcopy=False))
    remaining = n_trials - finished
    if remaining <= 0:
        message(f"study {name!r} already has {finished} finished trials (n_trials = {n_trials}); "
                "nothing to run")
        return _summary(study, args.format)

    if not checked:
        objective.check()
    jobs = min(args.jobs, remaining)
    message(f"study {name!r}: {finished}/{n_trials} trials finished, running {remaining} more on {device}"
            + (f" with {jobs} workers" if jobs > 1 else ""))
    options = WorkerOptions(
        storage=url, study_name=name, n_trials=n_trials, timeout=config.study.timeout,
        data_dir=args.data_dir, device=device, heartbeat=args.heartbeat or None,
        progress_bar=verbosity() >= 0 and jobs == 1, summary=verbosity() >= 0,
        log_level=_optuna_level(),
    )
    try:
        if jobs == 1:
            run_worker(options)
        else:
            _run_pool(options, jobs)
    except KeyboardInterrupt:
        done = finished_count(study.get_trials(deepcopy=False))
        message(f"hebbsearch: interrupted: the trial in flight was marked FAIL and will be re-run on resume; "
                f"{done}/{n_trials} trials finished", level=-1)
        return 130
    return _summary(study, args.format)


def _optuna_level() -> int:
    import optuna

    return optuna.logging.get_verbosity()


def _run_pool(options: Any, jobs: int) -> None:
    """Start ``jobs`` spawned workers and wait; Ctrl-C is forwarded and their exit awaited."""
    from dataclasses import replace

    from hebbsearch.errors import HebbsearchError
    from hebbsearch.search import worker_process

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=worker_process, args=(replace(options, worker=i),), name=f"hebbsearch-w{i}")
             for i in range(jobs)]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join()
    except KeyboardInterrupt:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                try:
                    os.kill(proc.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        raise
    codes = [proc.exitcode for proc in procs]
    if any(code == 130 for code in codes):
        raise KeyboardInterrupt
    failed = [f"w{i} ({code})" for i, code in enumerate(codes) if code]
    if failed:
        raise HebbsearchError(f"worker(s) {', '.join(failed)} failed; see their messages above")


def _summary(study: Any, fmt: str) -> int:
    from hebbsearch.search._report import trial_counts

    all_counts = trial_counts(study.get_trials(deepcopy=False))
    counts = {name: all_counts[name] for name in ("complete", "pruned", "failed")}
    try:
        best = study.best_trial
    except ValueError:
        best = None
    record: dict[str, Any] = {"study": study.study_name, **counts,
                              "best_value": best.value if best else None,
                              "best_trial": best.number if best else None,
                              "test_accuracy": best.user_attrs.get("test_accuracy") if best else None,
                              "best_params": dict(best.params) if best else {}}
    if fmt == "json":
        emit(render_json(record))
    else:
        header = ["study", "complete", "pruned", "failed", "best_value", "best_trial", "test_accuracy",
                  "best_params"]
        params = " ".join(f"{k}={v}" for k, v in record["best_params"].items())
        row = [record[h] for h in header[:-1]] + [params]
        if fmt == "table":
            row = fixed_decimals(row)
        emit(render(header, [row], fmt))
    return 0
