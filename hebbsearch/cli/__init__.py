"""The ``hebbsearch`` command line: ``run``, ``report``, ``studies`` (one module per command)."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hebbsearch`` console script; returns the exit code."""
    from hebbsearch.cli._main import main as _main

    return _main(argv)


__all__ = ["main"]
