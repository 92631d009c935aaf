"""``hebbsearch run STUDY.toml``: create or resume a study and run trials until it has ``n_trials`` finished.

Resuming: ``n_trials`` counts the study's finished trials (complete, pruned, failed with a reason), so
running the same command again runs only the missing ones, exactly. Trials interrupted by Ctrl-C or
SIGTERM are re-queued with the same parameters; trials left RUNNING by a killed process are failed and
re-queued once their heartbeat (``--heartbeat``) is older than twice its interval.

``--jobs J`` starts J worker processes (spawned) on the same storage; stopping this process stops them.
"""

from __future__ import annotations

import argparse
from typing import Any

from hebbsearch.cli._args import (
    add_artifact_dir,
    add_data_dir,
    add_heartbeat,
    add_layer_cache,
    add_threads,
    positive_int,
)
from hebbsearch.cli._output import emit, fixed_decimals, message, render, render_json, verbosity


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", parents=parents, help="create or resume a study and run its trials",
                       description=__doc__.replace("``", "'"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study_file", metavar="STUDY.toml", help="study file")
    p.add_argument("--n-trials", type=positive_int, metavar="N",
                   help="finished trials the study should have (default: [study] n_trials)")
    p.add_argument("--jobs", type=positive_int, default=1, metavar="J",
                   help="local worker processes (default 1)")
    add_data_dir(p)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    add_heartbeat(p)
    add_artifact_dir(p)
    add_layer_cache(p)
    add_threads(p, "all cores for one job, the cores split between --jobs J")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="format of the final summary on stdout (default: table)")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    import optuna

    from hebbsearch.search import (
        Interrupted,
        finished_count,
        resolve_layer_cache,
        resolve_storage_url,
        run_study,
    )
    from hebbsearch.study import load_study_file

    config = load_study_file(args.study_file)
    if args.n_trials is not None:
        config = config.replace_study(n_trials=args.n_trials)
    try:
        study = run_study(
            config, resolve_storage_url(args.storage), jobs=args.jobs, data_dir=args.data_dir,
            device=args.device, heartbeat=args.heartbeat or None, artifact_dir=args.artifact_dir,
            progress_bar=verbosity() >= 0, summary=verbosity() >= 0, log=message,
            log_level=optuna.logging.get_verbosity(), threads=args.threads,
            layer_cache=resolve_layer_cache(args.layer_cache),
        )
    except KeyboardInterrupt as e:
        from hebbsearch.search import load_study, open_storage

        study = load_study(open_storage(args.storage), config.study.name)
        done = finished_count(study.get_trials(deepcopy=False))
        signal_name = "SIGTERM" if isinstance(e, Interrupted) else "Ctrl-C"
        message(f"hebbsearch: interrupted ({signal_name}): the trial(s) in flight were failed and re-queued "
                f"with the same parameters; {done}/{config.study.n_trials} trials finished", level=-1)
        return 143 if isinstance(e, Interrupted) else 130
    return _summary(study, args.format)


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
