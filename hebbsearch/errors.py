"""Exceptions shared by the library and the CLI.

Every error a user can cause derives from :class:`HebbsearchError`; the CLI prints its message as one
line and exits non-zero, so messages must say what was wrong and what was expected.
"""

from __future__ import annotations


class HebbsearchError(Exception):
    """Base class for errors caused by user input or the environment (not bugs)."""

    exit_code = 1


class ConfigError(HebbsearchError, ValueError):
    """A study file or CLI value is invalid: names the file, the field and what was expected."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class DataError(HebbsearchError):
    """A dataset is missing or malformed."""


class StorageError(HebbsearchError):
    """The study storage cannot be reached or the study does not exist."""


class MissingExtraError(HebbsearchError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


class DivergenceError(HebbsearchError, ArithmeticError):
    """A Hebbian step produced NaN or inf weights.

    Carries the layer and the rule so a search can fail the trial with a reason instead of crashing.
    """

    def __init__(self, layer: object, rule: object, detail: str = "non-finite weights"):
        self.layer = layer
        self.rule = rule
        super().__init__(f"{detail} after a Hebbian step of {layer!r} with rule {rule!r}")


def first_line(error: BaseException, default: str | None = None) -> str:
    """The first non-blank line of ``str(error)``, stripped, for one-line messages that quote another
    exception; ``default`` (None: the exception's type name) when the message is blank."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines:
        return lines[0]
    return type(error).__name__ if default is None else default
