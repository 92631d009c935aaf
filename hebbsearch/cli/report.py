"""``hebbsearch report STUDY``: the best trial per probe position, as markdown, CSV, JSON or LaTeX.

One column per number of Hebbian layers before the probe (``probe_after``); rows: val and test
accuracy, the rule, each sampled hyperparameter, the number of parameters, the trial number, and the
trial counts of the column. ``--plots DIR`` also writes optimisation history, intermediate values and
parameter importances as PNG files, and the first Hebbian layer's filters of each column's best trial
(``filters_after_N.png``, from the artifact store of ``--artifact-dir``).
"""

from __future__ import annotations

import argparse
from typing import Any

from hebbsearch.cli._args import add_artifact_dir
from hebbsearch.cli._output import emit, message

FORMATS = ("markdown", "csv", "json", "latex")


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", parents=parents, help="best hyperparameters per probe position",
                       description=__doc__.replace("``", "'"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", metavar="STUDY", help="study name")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="default: markdown")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--plots", metavar="DIR", help="also write PNG plots into DIR")
    add_artifact_dir(p)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from hebbsearch.search import (
        best_table,
        load_study,
        open_storage,
        render_report,
        resolve_artifact_dir,
        write_plots,
    )

    storage = open_storage(args.storage, must_exist=True)
    study = load_study(storage, args.study)
    table = best_table(study)
    if not table.columns:
        message(f"study {args.study!r} has no trials with a probe position yet")
    emit(render_report(table, args.format), args.output)
    if args.plots:
        written, skipped = write_plots(study, args.plots, resolve_artifact_dir(args.artifact_dir))
        for path in written:
            message(f"wrote {path}")
        for reason in skipped:
            message(f"skipped {reason}")
    return 0
