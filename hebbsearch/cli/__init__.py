"""The ``hebbsearch`` command line: one module per command (``run``, ``create``, ``worker``, ``dashboard``,
``report``, ``refit``, ``studies``), mounted by ``_main``.

A command module builds its parser at import time and imports the search and study layers inside its
handler, so ``--help`` and usage errors do not load Optuna and SQLAlchemy (``benchmarks/README.md``,
``bench_cli_startup.py``)."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hebbsearch`` console script; returns the exit code."""
    from hebbsearch.cli._main import main as _main

    return _main(argv)


__all__ = ["main"]
