"""optuna-dashboard: the server on the study storage, and each study's note.

The note (:func:`optuna_dashboard.save_note`) shows the study's best-params table and its study file. It
is written when the study is created and after every finished trial (workers serialise the update with
the study's ``note`` lock), so the dashboard's study page always shows what is searched and what was
found so far. The objective is named ``val_accuracy`` (Optuna's metric names) when the study is created.
"""

from __future__ import annotations

from typing import Any

import optuna
import optuna_dashboard

from hebbsearch.search._artifacts import artifact_store
from hebbsearch.search._report import best_table, render_report
from hebbsearch.study import StudyConfig


def study_note(study: optuna.Study, config: StudyConfig) -> str:
    """Markdown: the best-params table (``hebbsearch report``) and the study file."""
    table = best_table(study)
    best = render_report(table, "markdown") if table.columns else "No finished trial yet.\n"
    return (f"## Best trials of `{study.study_name}`\n\n{best}\n"
            f"## Study file `{config.source.split(' (stored')[0]}`\n\n```toml\n{config.text.rstrip()}\n```\n")


def update_study_note(study: optuna.Study, config: StudyConfig) -> None:
    """Replace the study's dashboard note with :func:`study_note`."""
    optuna_dashboard.save_note(study, study_note(study, config))


def run_dashboard(storage: Any, *, host: str = "127.0.0.1", port: int = 8080,
                  artifact_dir: str | None = None) -> None:
    """Serve optuna-dashboard on ``storage`` until interrupted; trial pages show the artifacts stored in
    ``artifact_dir`` (the workers' artifact store)."""
    store = artifact_store(artifact_dir) if artifact_dir is not None else None
    optuna_dashboard.run_server(storage, host=host, port=port, artifact_store=store)


__all__ = ["run_dashboard", "study_note", "update_study_note"]
