"""``hebbsearch worker STUDY``: run trials of a study created with ``create`` until its budget is reached.

Start any number of workers, on any number of machines, with the same ``--storage`` (PostgreSQL for
several machines). Together they finish exactly the study's ``n_trials`` trials; each exits 0 once the
budget is reached. SIGTERM or Ctrl-C fail the trial in flight and re-queue it with the same parameters
for another worker (SIGTERM exits 0, Ctrl-C 130); the trial of a killed worker is retried after twice
``--heartbeat``. Each worker claims a free GPU (``--gpus``) for its lifetime.
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
from hebbsearch.cli._output import message, verbosity


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", parents=parents, help="run trials of an existing study (one pool worker)",
                       description=__doc__.replace("``", "'"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", metavar="STUDY", help="study name (see 'hebbsearch studies')")
    p.add_argument("--gpus", default="auto", metavar="auto|none|LIST",
                   help="auto: claim the lowest free GPU (CPU without CUDA); none: CPU; LIST: claim one of "
                        "these device indices, e.g. 0,1 (default: auto)")
    p.add_argument("--share-gpus", action="store_true",
                   help="when every GPU is claimed, share one instead of waiting for a free one")
    add_data_dir(p)
    add_artifact_dir(p)
    add_layer_cache(p)
    add_heartbeat(p)
    add_threads(p, "$HEBBSEARCH_THREADS, else all cores")
    p.add_argument("--n-trials", type=positive_int, metavar="N",
                   help="finished trials to reach (default: the study's n_trials)")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    import optuna

    from hebbsearch.search import (
        WorkerOptions,
        parse_gpus,
        resolve_artifact_dir,
        resolve_layer_cache,
        resolve_storage_url,
        run_worker,
        threads_from_env,
    )

    options = WorkerOptions(
        storage=resolve_storage_url(args.storage), study_name=args.study, n_trials=args.n_trials,
        data_dir=args.data_dir, gpus=parse_gpus(args.gpus), share_gpus=args.share_gpus,
        artifact_dir=resolve_artifact_dir(args.artifact_dir), heartbeat=args.heartbeat or None,
        progress_bar=False, summary=verbosity() >= 0, log_level=optuna.logging.get_verbosity(),
        threads=args.threads or threads_from_env(), layer_cache=resolve_layer_cache(args.layer_cache),
    )
    try:
        result = run_worker(options)
    except KeyboardInterrupt:
        message("hebbsearch: interrupted: the trial in flight was failed and re-queued", level=-1)
        return 130
    if result.reason == "SIGTERM":
        message(f"hebbsearch: worker stopped by SIGTERM after {result.trials} trial(s); the trial in flight "
                f"(if any) was re-queued")
    elif result.reason == "timeout":
        message(f"hebbsearch: worker reached the study's timeout after {result.trials} trial(s)")
    else:
        message(f"hebbsearch: study {args.study!r} reached its budget; this worker ran {result.trials} trial(s)")
    return 0
