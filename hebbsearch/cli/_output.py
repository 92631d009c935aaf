"""One output helper for every command: rows of cells rendered as a table, markdown, CSV, LaTeX or JSON.

Data goes to stdout (or ``--output``); messages go to stderr through :func:`message`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
LATEX_SYMBOLS = {"Δ": r"$\Delta$", "τ": r"$\tau$", "–": "--"}

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


def latex_escape(text: str) -> str:
    out = "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)
    for symbol, tex in LATEX_SYMBOLS.items():
        out = out.replace(symbol, tex)
    return out


def render(header: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """Render a grid of cells (already formatted as text, except for CSV where values are written as is).

    Formats: ``table`` (aligned plain text), ``markdown``, ``csv``, ``latex`` (a ``tabular``).
    """
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    head = [str(h) for h in header]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(head)
        writer.writerows(cells)
        return buf.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(_md(h) for h in head) + " |",
                 "|" + "|".join([":---", *["---:"] * (len(head) - 1)]) + "|"]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    if fmt == "latex":
        spec = "l" + "r" * (len(head) - 1)
        lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
                 " & ".join(latex_escape(h) for h in head) + r" \\", r"\midrule"]
        lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in cells]
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines) + "\n"
    if fmt == "table":
        widths = [max([len(head[i]), *(len(row[i]) for row in cells)]) for i in range(len(head))]
        lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r}")


def fixed_decimals(row: Sequence[Any], digits: int = 4) -> list[Any]:
    """``row`` with its floats written with ``digits`` decimals (for the plain-text table format)."""
    return [f"{v:.{digits}f}" if isinstance(v, float) else v for v in row]


def _md(text: str) -> str:
    return text.replace("|", r"\|")


def render_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def emit(text: str, output: str | Path | None = None) -> None:
    """Write ``text`` to ``output`` (a file) or stdout."""
    if output is None or str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as e:
        from hebbsearch.errors import HebbsearchError

        raise HebbsearchError(f"cannot write {output}: {e.strerror or e}") from None
    message(f"wrote {output}")
