"""Best-parameter tables grouped by probe position, and plots.

The table has one column per number of Hebbian layers before the probe (``probe_after``), holding the
best complete trial with that ``probe_after`` (as in biopytorch's result tables). Rows:
``Accuracy (val)``, ``Accuracy (test)``, ``Accuracy (test, refit on train+val)`` (after
``hebbsearch refit``), the study's baselines (``Raw-input baseline (val|test)``: the probe on the input
itself; sequence studies add their own) and ``Hebbian gain (val)`` (best − raw input), ``rule``, one row
per sampled hyperparameter (a rule
hyperparameter is shown by its own name, e.g. ``p``; ``probe.dropout`` as ``dropout``; other
parameters by their Optuna name, e.g. ``hebbian.lr``), ``Params``, ``Trial``, then the trial counts of
that column.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import FrozenTrial, TrialState

from hebbsearch._format import render, render_json
from hebbsearch.errors import HebbsearchError, first_line
from hebbsearch.search._artifacts import download_filters
from hebbsearch.search._baselines import PERCENT_ROWS, RAW_ATTR, baseline_rows

ROW_VAL = "Accuracy (val)"
ROW_TEST = "Accuracy (test)"
ROW_REFIT = "Accuracy (test, refit on train+val)"
ROW_GAIN = "Hebbian gain (val)"
ROW_DEAD = "Dead units (last layer)"
ROW_SECONDS = "Trial time (s)"
#: study user attribute of ``hebbsearch refit``: {trial number (str): {"test_accuracy", ...}}
REFIT_ATTR = "refit"
ROW_RULE = "rule"
ROW_PARAMS = "Params"
ROW_TRIAL = "Trial"
COUNT_ROWS = ("Trials (complete)", "Trials (pruned)", "Trials (failed)")


@dataclass(frozen=True)
class BestTable:
    """The report of one study."""

    study: str
    direction: str
    columns: list[int]                          # probe_after values, ascending
    rows: list[tuple[str, list[Any]]]           # (label, one raw value per column; None = not applicable)
    counts: dict[str, int] = field(default_factory=dict)   # complete / pruned / failed / running / waiting
    best: dict[int, FrozenTrial] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"study", "direction", "columns", "rows": {label: [values]}, "trials": counts}``."""
        return {
            "study": self.study,
            "direction": self.direction,
            "columns": self.columns,
            "rows": {label: values for label, values in self.rows},
            "trials": self.counts,
        }


# trial states by the name reports and summaries give them
STATE_NAMES = {
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "failed": TrialState.FAIL,
    "running": TrialState.RUNNING,
    "waiting": TrialState.WAITING,
}


def trial_counts(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    """How many of ``trials`` are in each state of :data:`STATE_NAMES` (complete, pruned, failed...)."""
    states = [t.state for t in trials]
    return {name: states.count(state) for name, state in STATE_NAMES.items()}


def best_complete_trial(trials: Iterable[FrozenTrial], maximize: bool) -> FrozenTrial | None:
    """The complete trial with the best value (ties: the earliest, as ``study.best_trial``); None if none."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not complete:
        return None
    key = (lambda t: (-t.value, t.number)) if maximize else (lambda t: (t.value, t.number))
    return min(complete, key=key)


def probe_after_of(trial: FrozenTrial) -> int | None:
    """The probe position of ``trial`` (sampled or fixed)."""
    value = trial.params.get("probe_after", trial.user_attrs.get("probe_after"))
    return int(value) if value is not None else None


def rule_of(trial: FrozenTrial) -> str | None:
    return trial.params.get("rule", trial.user_attrs.get("rule"))


# parameters outside rules shown by a short name (the others keep their dotted Optuna name)
SHORT_LABELS = {"probe.dropout": "dropout"}


def _label(param: str, rules: set[str]) -> str:
    head, _, tail = param.partition(".")
    return tail if tail and head in rules else SHORT_LABELS.get(param, param)


def best_table(study: optuna.Study) -> BestTable:
    """Build the table of ``study`` (single objective)."""
    trials = study.get_trials(deepcopy=False)
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    by_column: dict[int, list[FrozenTrial]] = {}
    for t in trials:
        pa = probe_after_of(t)
        if pa is not None:
            by_column.setdefault(pa, []).append(t)
    best = {pa: b for pa, ts in by_column.items() if (b := best_complete_trial(ts, maximize)) is not None}
    columns = sorted(by_column)
    rules = {r for t in trials if (r := rule_of(t))}

    # rows of sampled parameters: rule hyperparameters first (merged by name across rules), then others
    labels: dict[str, None] = {}
    for pa in columns:
        if pa in best:
            for name in best[pa].params:
                if name not in ("probe_after", "rule"):
                    labels.setdefault(_label(name, rules), None)
    rule_labels = [lbl for lbl in labels if "." not in lbl]
    other_labels = sorted(lbl for lbl in labels if "." in lbl)

    def param_value(t: FrozenTrial | None, label: str) -> Any:
        if t is None:
            return None
        for name, value in t.params.items():
            if name not in ("probe_after", "rule") and _label(name, rules) == label:
                return value
        return None

    col_best = [best.get(pa) for pa in columns]
    rows: list[tuple[str, list[Any]]] = [
        (ROW_VAL, [t.value if t else None for t in col_best]),
        (ROW_TEST, [t.user_attrs.get("test_accuracy") if t else None for t in col_best]),
        (ROW_REFIT, [_refit_of(study.user_attrs, t) for t in col_best]),
        *[(label, [value] * len(columns)) for label, value in baseline_rows(study.user_attrs)],
        (ROW_GAIN, [_gain(study.user_attrs, t) for t in col_best]),
        (ROW_DEAD, [_last_layer_dead(t) for t in col_best]),
        (ROW_RULE, [rule_of(t) if t else None for t in col_best]),
    ]
    # the refit, gain and diagnostics rows appear once there is something to show
    rows = [(label, values) for label, values in rows
            if label not in (ROW_REFIT, ROW_GAIN, ROW_DEAD) or any(v is not None for v in values)]
    rows += [(lbl, [param_value(t, lbl) for t in col_best]) for lbl in [*rule_labels, *other_labels]]
    rows += [
        (ROW_PARAMS, [t.user_attrs.get("n_params") if t else None for t in col_best]),
        (ROW_SECONDS, [round(t.duration.total_seconds()) if t and t.duration else None for t in col_best]),
        (ROW_TRIAL, [t.number if t else None for t in col_best]),
    ]
    column_counts = [trial_counts(by_column[pa]) for pa in columns]
    for label, name in zip(COUNT_ROWS, ("complete", "pruned", "failed")):
        rows.append((label, [c[name] for c in column_counts]))
    counts = trial_counts(trials)
    return BestTable(study.study_name, "maximize" if maximize else "minimize", columns, rows, counts, best)


# labels shown with their symbol
PRETTY = {"delta": "Δ", "tau": "τ"}


def render_report(table: BestTable, fmt: str) -> str:
    """Render a :class:`BestTable` as ``markdown``, ``csv``, ``json`` or ``latex``."""
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


def _refit_of(user_attrs: dict[str, Any], trial: FrozenTrial | None) -> float | None:
    if trial is None:
        return None
    entry = user_attrs.get(REFIT_ATTR, {}).get(str(trial.number))
    return entry.get("test_accuracy") if isinstance(entry, dict) else None


def _last_layer_dead(trial: FrozenTrial | None) -> float | None:
    """The fraction of the deepest layer's units that never win (the trial's collapse diagnostics)."""
    diagnostics = trial.user_attrs.get("diagnostics") if trial is not None else None
    if not isinstance(diagnostics, list) or not diagnostics or not isinstance(diagnostics[-1], dict):
        return None
    return diagnostics[-1].get("dead")


def _gain(user_attrs: dict[str, Any], trial: FrozenTrial | None) -> float | None:
    """Best val accuracy minus the raw-input baseline's (negative: the features are worse than pixels)."""
    raw = user_attrs.get(RAW_ATTR)
    if trial is None or trial.value is None or not isinstance(raw, dict) or raw.get("val") is None:
        return None
    return trial.value - raw["val"]


def _cell(label: str, value: Any, fmt: str, missing: str) -> str:
    if value is None:
        return missing
    if (label in (ROW_VAL, ROW_TEST, ROW_REFIT) or label in PERCENT_ROWS) and isinstance(value, int | float):
        return f"{100 * value:.2f} %"
    if label == ROW_GAIN and isinstance(value, int | float):
        return f"{100 * value:+.2f} points"
    if label == ROW_DEAD and isinstance(value, int | float):
        return f"{100 * value:.0f} %"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_plots(study: optuna.Study, directory: str | Path,
                artifact_dir: str | None = None) -> tuple[list[Path], list[str]]:
    """Write optimisation history, intermediate values and parameter importances as PNGs, and the
    filter picture of each probe position's best trial as ``filters_after_{n}.png``.

    Args:
        study: the study.
        directory: where the PNGs go (created if missing).
        artifact_dir: the artifact store the trials uploaded their filter pictures to (None: no filter
            pictures).

    Returns:
        ``(written files, skipped plots with the reason)``; importances need at least two complete
        trials and a parameter that varies; a filter picture needs a best trial that stored one.

    Raises:
        HebbsearchError: ``directory`` cannot be created or written into.
    """
    # here, not at the top: choosing the Agg backend must not happen to every importer of hebbsearch
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    out = Path(directory)

    def cannot_write(e: OSError) -> HebbsearchError:
        return HebbsearchError(f"cannot write plots to {directory}: {e.strerror or e}")

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cannot_write(e) from None
    written: list[Path] = []
    skipped: list[str] = []
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    plots = [
        ("optimization_history", ovm.plot_optimization_history),
        ("intermediate_values", ovm.plot_intermediate_values),
        ("param_importances", ovm.plot_param_importances),
    ]
    try:
        for name, plot in plots:
            if name == "param_importances":
                varying = {k for t in complete for k in t.params
                           if len({repr(u.params.get(k)) for u in complete}) > 1}
                if len(complete) < 2 or not varying:
                    skipped.append(f"{name}: needs at least 2 complete trials with a varying parameter "
                                   f"(has {len(complete)})")
                    continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ax = plot(study)
            except (ValueError, RuntimeError, ZeroDivisionError) as e:
                skipped.append(f"{name}: {first_line(e)}")
                continue
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            path = out / f"{name}.png"
            try:
                fig.savefig(path, dpi=100, bbox_inches="tight")
            except OSError as e:
                raise cannot_write(e) from None
            written.append(path)
    finally:
        plt.close("all")
    if artifact_dir is not None:
        for probe_after, trial in sorted(best_table(study).best.items()):
            name = f"filters_after_{probe_after}"
            path = out / f"{name}.png"
            try:
                found = download_filters(trial, study._storage, artifact_dir, path)
            except ArtifactNotFound:
                skipped.append(f"{name}: the picture of trial {trial.number} is not in the artifact store "
                               f"{artifact_dir} (see --artifact-dir)")
                continue
            except OSError as e:
                if e.filename is not None and Path(e.filename) != path:  # reading the store failed
                    skipped.append(f"{name}: cannot read the picture of trial {trial.number}: "
                                   f"{e.strerror or e}")
                    continue
                raise cannot_write(e) from None
            if found:
                written.append(path)
            else:
                skipped.append(f"{name}: trial {trial.number} stored no filter picture (it ran without an "
                               f"artifact store)")
    return written, skipped


__all__ = ["BestTable", "best_complete_trial", "best_table", "probe_after_of", "render_report", "trial_counts",
           "write_plots"]
