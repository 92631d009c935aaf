"""``hebbsearch studies``: the studies in a storage with their trial counts and best values."""

from __future__ import annotations

import argparse
from typing import Any

from hebbsearch.cli._output import emit, fixed_decimals, render, render_json

COLUMNS = ("study", "direction", "complete", "pruned", "failed", "running", "best_value", "best_trial",
           "created")


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("studies", parents=parents, help="list studies with trial counts and best values",
                       description=__doc__)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="default: table")
    p.set_defaults(handler=main)


def study_records(storage: Any) -> list[dict[str, Any]]:
    """One record per study (see :data:`COLUMNS`)."""
    from optuna.study import StudyDirection

    from hebbsearch.search._report import best_complete_trial, trial_counts

    records = []
    for frozen in storage.get_all_studies():
        trials = storage.get_all_trials(frozen._study_id, deepcopy=False)
        maximize = frozen.direction == StudyDirection.MAXIMIZE
        counts = trial_counts(trials)
        best = best_complete_trial(trials, maximize)
        starts = [t.datetime_start for t in trials if t.datetime_start is not None]
        records.append({
            "study": frozen.study_name,
            "direction": "maximize" if maximize else "minimize",
            **{name: counts[name] for name in ("complete", "pruned", "failed", "running")},
            "best_value": best.value if best else None,
            "best_trial": best.number if best else None,
            "created": min(starts).isoformat(timespec="seconds") if starts else None,
        })
    return records


def main(args: argparse.Namespace) -> int:
    from hebbsearch.search import open_storage

    records = study_records(open_storage(args.storage, must_exist=True))
    if args.format == "json":
        emit(render_json(records))
        return 0
    rows = [[r[c] for c in COLUMNS] for r in records]
    if args.format == "table":
        rows = [fixed_decimals(row) for row in rows]
    emit(render(COLUMNS, rows, args.format))
    return 0
