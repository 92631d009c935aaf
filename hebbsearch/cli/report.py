"""``hebbsearch report STUDY``: the best trial per probe position, as markdown, CSV, JSON or LaTeX.

One column per number of Hebbian layers before the probe (``probe_after``); rows: val and test
accuracy, the rule, each sampled hyperparameter, the number of parameters, the trial number, and the
trial counts of the column. ``--plots DIR`` also writes optimisation history, intermediate values and
parameter importances as PNG files.
"""

from __future__ import annotations

import argparse
from typing import Any

from hebbsearch.cli._output import emit, message, render, render_json

FORMATS = ("markdown", "csv", "json", "latex")
PRETTY = {"delta": "Δ", "tau": "τ"}


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", parents=parents, help="best hyperparameters per probe position",
                       description=__doc__.replace("``", "'"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", metavar="STUDY", help="study name")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="default: markdown")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--plots", metavar="DIR", help="also write PNG plots into DIR")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from hebbsearch.search import best_table, load_study, open_storage, write_plots

    storage = open_storage(args.storage, must_exist=True)
    study = load_study(storage, args.study)
    table = best_table(study)
    if not table.columns:
        message(f"study {args.study!r} has no trials with a probe position yet")
    emit(render_report(table, args.format), args.output)
    if args.plots:
        written, skipped = write_plots(study, args.plots)
        for path in written:
            message(f"wrote {path}")
        for reason in skipped:
            message(f"skipped {reason}")
    return 0


def render_report(table: Any, fmt: str) -> str:
    """Render a :class:`~hebbsearch.search.BestTable`."""
    if fmt == "json":
        return render_json(table.as_dict())
    header = ["Hebbian layers", *[str(c) for c in table.columns]]
    if fmt == "csv":
        rows = [[label, *values] for label, values in table.rows]
        return render(header, rows, "csv")
    missing = "–"
    rows = []
    for label, values in table.rows:
        pretty = PRETTY.get(label, label)
        rows.append([pretty, *[_cell(label, v, fmt, missing) for v in values]])
    c = table.counts
    footer = (f"Trials: {c.get('complete', 0)} complete, {c.get('pruned', 0)} pruned, "
              f"{c.get('failed', 0)} failed"
              + (f", {c['running']} running" if c.get("running") else ""))
    body = render(header, rows, fmt)
    if fmt == "latex":
        return body + f"% {footer}\n"
    return f"{body}\n{footer}\n"


def _cell(label: str, value: Any, fmt: str, missing: str) -> str:
    from hebbsearch.search._report import ROW_TEST, ROW_VAL

    if value is None:
        return missing
    if label in (ROW_VAL, ROW_TEST) and isinstance(value, int | float):
        return f"{100 * value:.2f} %"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
