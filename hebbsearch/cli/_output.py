"""Output of every command: data to stdout (or ``--output``) with :func:`emit`, messages to stderr
through :func:`message`; rendering (tables, markdown, CSV, LaTeX, JSON) is
:mod:`hebbsearch._format`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hebbsearch.errors import HebbsearchError
from hebbsearch._format import fixed_decimals, latex_escape, render, render_json

__all__ = ["emit", "fixed_decimals", "latex_escape", "message", "render", "render_json", "set_verbosity",
           "verbosity"]

_verbosity = 0


def set_verbosity(level: int) -> None:
    """-1 quiet, 0 normal, 1 verbose."""
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    return _verbosity


def message(text: str, *, level: int = 0) -> None:
    """Print ``text`` on stderr when the verbosity is at least ``level`` (0: unless -q)."""
    if _verbosity >= level:
        print(text, file=sys.stderr, flush=True)


def emit(text: str, output: str | Path | None = None) -> None:
    """Write ``text`` to ``output`` (a file) or stdout."""
    if output is None or str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise HebbsearchError(f"cannot write {output}: {e.strerror or e}") from None
    message(f"wrote {output}")
