"""``hebbsearch`` entry point: argparse with shared flags defined once, and error mapping.

Exit codes: 0 success, 1 known error (storage, data, ...), 2 usage error (bad flags, invalid study
file), 130 interrupted. Errors print ``hebbsearch: error: <one line>`` on stderr; tracebacks only with
``--debug``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from hebbsearch.cli import create, dashboard, refit, report, run, studies, worker
from hebbsearch.cli._output import set_verbosity
from hebbsearch.errors import HebbsearchError, first_line

PROG = "hebbsearch"
COMMANDS = (run, create, worker, dashboard, report, refit, studies)


def _shared_flags() -> argparse.ArgumentParser:
    """Flags every command accepts, before or after the command name (defaults live in :func:`_get`)."""
    shared = argparse.ArgumentParser(add_help=False)
    group = shared.add_argument_group("shared options")
    group.add_argument("--storage", metavar="URL", default=argparse.SUPPRESS,
                       help="study storage (SQLAlchemy URL); default: $HEBBSEARCH_STORAGE, else "
                            "sqlite:///hebbsearch.db")
    group.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks of errors")
    group.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                       help="more messages (Optuna's log too)")
    group.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS,
                       help="only errors and data")
    return shared


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line (``hebbsearch: error: ...``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        hint = f"see '{self.prog} --help'"
        _error(f"{message} ({hint})")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    shared = _shared_flags()
    parser = _Parser(
        prog=PROG, parents=[shared],
        description="Search hyperparameters of Hebbian learning networks with Optuna.",
        epilog="Run 'hebbsearch COMMAND --help' for the options of a command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub, [shared])
    return parser


def _get(args: argparse.Namespace, name: str, default: object) -> object:
    return getattr(args, name, default)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script passes it to ``sys.exit``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed by argparse
        return int(e.code or 0)
    args.storage = _get(args, "storage", None)
    args.debug = bool(_get(args, "debug", False))
    level = int(_get(args, "verbose", 0) or 0) - int(_get(args, "quiet", 0) or 0)
    set_verbosity(max(-1, min(1, level)))
    _configure_logging(level)
    try:
        return int(args.handler(args) or 0)
    except HebbsearchError as e:
        if args.debug:
            raise
        _error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug or an unexpected environment problem: one line
        if args.debug:
            raise
        detail = first_line(e, default="")
        _error(f"unexpected {type(e).__name__}: {detail} (run with --debug for the traceback)")
        return 1


def _error(text: str) -> None:
    text = " ".join(text.split())  # exactly one line
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


def _configure_logging(level: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO if level > 0 else
                                 optuna.logging.WARNING if level == 0 else optuna.logging.ERROR)
    if level <= 0:
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
