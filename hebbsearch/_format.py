"""Rendering rows of cells as an aligned table, markdown, CSV, LaTeX or JSON (reports, notes, the CLI)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
LATEX_SYMBOLS = {"Δ": r"$\Delta$", "τ": r"$\tau$", "–": "--"}

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


__all__ = ["fixed_decimals", "latex_escape", "render", "render_json"]
