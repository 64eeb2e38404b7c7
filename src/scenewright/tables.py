"""Plain-text tables and CSV for the reports and estimates.

Text tables are for people: columns padded, numbers right-aligned, names cut to a width a
terminal can show, anything unprintable replaced. CSV is for programs: the ``csv`` module's
quoting, whole numbers as digits and money as exact plain decimals (``0.00084``, never
``8.4E-4`` or a rounded float).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TypeAlias

from scenewright.pricing import tidy_usd

__all__ = ["csv_text", "csv_value", "printable", "shorten", "text_table"]

Cell: TypeAlias = "str | int | Decimal | None"


def printable(text: str) -> str:
    """``text`` with control characters (terminal escapes from a ledger or a novel) as '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in "..." when cut (ASCII, for any console)."""
    text = printable(text)
    if len(text) <= width:
        return text
    return text[: max(0, width - 3)] + "..."


def text_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    left: int = 1,
    footer: Sequence[Sequence[str]] = (),
) -> list[str]:
    """Lines of a table: the first ``left`` columns left-aligned, the others right-aligned.

    ``footer`` rows follow a rule under the body, for totals.
    """
    body = [list(row) for row in rows]
    tail = [list(row) for row in footer]
    widths = [len(header) for header in headers]
    for row in (*body, *tail):
        for column, value in enumerate(row):
            widths[column] = max(widths[column], len(value))

    def line(values: Sequence[str]) -> str:
        cells = [
            value.ljust(widths[column]) if column < left else value.rjust(widths[column])
            for column, value in enumerate(values)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    lines = [line(headers), rule, *(line(row) for row in body)]
    if tail:
        lines.append(rule)
        lines.extend(line(row) for row in tail)
    return lines


def csv_value(value: Cell) -> str:
    """How one value is written in CSV: money exact and plain, nothing as an empty field."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(tidy_usd(value), "f")
    return str(value)


def csv_text(headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """CSV with a header row. Lines end in "\\n": a text-mode stdout turns that into the
    platform's line ending, where "\\r\\n" would become "\\r\\r\\n" on Windows.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # The csv module quotes a field holding "\n" (the line terminator) but not one holding
    # a bare "\r", which a reader takes as the end of the row: such a row is written with
    # every field quoted, which any CSV reader reads back as the same values.
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(headers)
    for row in rows:
        values = [csv_value(value) for value in row]
        (quoted if any("\r" in value for value in values) else writer).writerow(values)
    return buffer.getvalue()
