"""Reports from the cost ledger: the all-time summary, the session history, totals per
day, month, model or session name, and the spend over time that the chart draws.

Everything is read from ``.costs/haiku_usage.json`` (:class:`scenewright.ledger.Ledger`),
including ledgers in the design document's original format, whose sessions record no
model: they are grouped as ``(model not recorded)``. Money stays an exact ``Decimal`` from
the ledger to the CSV and JSON; only the printed tables round it to six decimals.

Sessions are selected by name (a glob, case-insensitive) and by the local date on which they
started (``--since`` and ``--until``, both inclusive, as ``YYYY-MM-DD`` or ``YYYY-MM``).
"""

from __future__ import annotations

import calendar
import fnmatch
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from scenewright.errors import ConfigError
from scenewright.ledger import Ledger
from scenewright.pricing import usd_sum
from scenewright.tables import Cell, printable, shorten, text_table
from scenewright.usage import format_usd

__all__ = [
    "GROUPINGS",
    "NO_DATE",
    "NO_MODEL",
    "Group",
    "SessionFilter",
    "SessionRow",
    "Totals",
    "all_time_lines",
    "group_sessions",
    "history_csv",
    "history_lines",
    "load_sessions",
    "parse_date_bound",
    "parse_timestamp",
    "report_csv",
    "report_json",
    "report_lines",
]

# What `costs report --by` and `costs chart --by` accept.
GROUPINGS = ("day", "month", "model", "name")
# The group of sessions whose timestamp cannot be read as a date.
NO_DATE = "(no date)"
# The group of usage whose model the ledger does not record (the design document's format).
NO_MODEL = "(model not recorded)"

_TOKEN_FIELDS = (
    "api_calls",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)

_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


# --- Reading sessions ------------------------------------------------------------------------


def parse_timestamp(text: str) -> datetime | None:
    """A ledger timestamp as a naive local time, or None when it is not an ISO date-time.

    The ledger writes local times (``2024-01-15T14:30:00``); one with a zone is converted to
    local time, so that every session is dated the same way.
    """
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"  # fromisoformat before 3.11 does not read "Z"
    try:
        when = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone().replace(tzinfo=None)
    return when


def parse_date_bound(text: str, *, end: bool, option: str = "date") -> date:
    """``YYYY-MM-DD``, or ``YYYY-MM`` for a whole month: its first day, or its last when
    ``end``. :class:`ConfigError` names ``option`` and shows the formats.
    """
    cleaned = text.strip()
    try:
        day = _DAY.match(cleaned)
        if day:
            return date(int(day[1]), int(day[2]), int(day[3]))
        month = _MONTH.match(cleaned)
        if month:
            year, number = int(month[1]), int(month[2])
            last = calendar.monthrange(year, number)[1] if 1 <= number <= 12 else 1
            return date(year, number, last if end else 1)
    except ValueError:
        pass  # a well-formed date that does not exist, such as 2026-02-30
    raise ConfigError(
        f"{option} {text!r} is not a date. Use YYYY-MM-DD, such as 2026-03-15, or YYYY-MM "
        "for a whole month, such as 2026-03."
    )


@dataclass(frozen=True)
class Totals:
    """Calls, tokens by kind, and exact cost."""

    api_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.api_calls + other.api_calls,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            usd_sum([self.cost_usd, other.cost_usd]),
        )

    def __sub__(self, other: Totals) -> Totals:
        return Totals(
            self.api_calls - other.api_calls,
            self.input_tokens - other.input_tokens,
            self.output_tokens - other.output_tokens,
            self.cache_creation_input_tokens - other.cache_creation_input_tokens,
            self.cache_read_input_tokens - other.cache_read_input_tokens,
            usd_sum([self.cost_usd, -other.cost_usd]),
        )

    @property
    def negative(self) -> bool:
        return any(
            value < 0
            for value in (
                self.api_calls,
                self.input_tokens,
                self.output_tokens,
                self.cache_creation_input_tokens,
                self.cache_read_input_tokens,
                self.cost_usd,
            )
        )

    @property
    def empty(self) -> bool:
        return not self.api_calls and not self.total_tokens and not self.cost_usd

    def to_json(self) -> dict[str, Any]:
        return {
            "api_calls": self.api_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
        }


def _totals_of(data: Mapping[str, Any]) -> Totals | None:
    """Totals from a ledger mapping with the session fields, or None if any is malformed."""
    values: list[int] = []
    for name in _TOKEN_FIELDS:
        value = data.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return None
        values.append(value)
    cost = data.get("cost_usd", 0)
    if isinstance(cost, bool) or not isinstance(cost, (int, Decimal)) or cost < 0:
        return None
    calls, tokens_in, tokens_out, cache_write, cache_read = values
    return Totals(calls, tokens_in, tokens_out, cache_write, cache_read, Decimal(cost))


@dataclass(frozen=True)
class SessionRow:
    """One ledger session, with its date parsed and its usage split by model."""

    entry: Mapping[str, Any]  # the session as the ledger holds it
    when: datetime | None
    totals: Totals
    by_model: tuple[tuple[str, Totals], ...]  # sums to ``totals``

    @property
    def session_name(self) -> str:
        return str(self.entry["session_name"])

    @property
    def timestamp(self) -> str:
        return str(self.entry["timestamp"])

    @property
    def status(self) -> str:
        status = self.entry.get("status")
        return status if isinstance(status, str) else ""

    @property
    def day(self) -> str:
        return self.when.date().isoformat() if self.when else NO_DATE

    @property
    def month(self) -> str:
        return f"{self.when:%Y-%m}" if self.when else NO_DATE


def _split_by_model(entry: Mapping[str, Any], totals: Totals) -> tuple[tuple[str, Totals], ...]:
    """The session's usage per model; what the models do not account for is NO_MODEL.

    A ``models`` map that is malformed, or claims more than the session holds (edited by
    hand), is ignored, so that the groups always add up to the ledger's totals.
    """
    models = entry.get("models")
    parts: list[tuple[str, Totals]] = []
    if isinstance(models, Mapping):
        for model, data in models.items():
            part = _totals_of(data) if isinstance(data, Mapping) else None
            if part is None or not isinstance(model, str):
                parts = []
                break
            parts.append((model, part))
    rest = totals
    for _, part in parts:
        rest = rest - part
    if rest.negative:
        parts, rest = [], totals
    if not rest.empty or not parts:
        parts.append((NO_MODEL, rest))
    return tuple(parts)


def load_sessions(costs_dir: str | os.PathLike[str] | None = None) -> list[SessionRow]:
    """Every session in the ledger, oldest first as the ledger lists them."""
    rows: list[SessionRow] = []
    for entry in Ledger(costs_dir).sessions():
        # The ledger has validated every session, so these totals are never None.
        totals = _totals_of(entry) or Totals()
        rows.append(
            SessionRow(
                entry=entry,
                when=parse_timestamp(entry["timestamp"]),
                totals=totals,
                by_model=_split_by_model(entry, totals),
            )
        )
    return rows


def _fold(text: str) -> str:
    """``text`` for caseless matching: NFC, case-folded (ß as ss), then NFC again, so that
    precomposed and decomposed accents match and ``STRASSE`` matches ``straße``.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions a report covers: a name glob and a range of start dates."""

    name: str | None = None  # fnmatch glob, case- and Unicode-normalisation-insensitive
    since: date | None = None  # inclusive
    until: date | None = None  # inclusive

    def __post_init__(self) -> None:
        if self.since and self.until and self.until < self.since:
            raise ConfigError(
                f"--until {self.until} is before --since {self.since}, so no session can "
                "match. Swap them, or leave one out."
            )

    @property
    def active(self) -> bool:
        return bool(self.name) or self.since is not None or self.until is not None

    def matches(self, row: SessionRow) -> bool:
        if self.name and not fnmatch.fnmatchcase(_fold(row.session_name), _fold(self.name)):
            return False
        if self.since is None and self.until is None:
            return True
        if row.when is None:
            return False  # a session with no readable date is in no date range
        day = row.when.date()
        if self.since is not None and day < self.since:
            return False
        return self.until is None or day <= self.until

    def apply(self, rows: Iterable[SessionRow]) -> list[SessionRow]:
        return [row for row in rows if self.matches(row)]

    def describe(self) -> str:
        parts = []
        if self.name:
            parts.append(f"named like {self.name!r}")
        if self.since and self.until:
            parts.append(f"from {self.since} to {self.until}")
        elif self.since:
            parts.append(f"since {self.since}")
        elif self.until:
            parts.append(f"until {self.until}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


# --- History -----------------------------------------------------------------------------------


def _money(amount: Decimal) -> str:
    return format_usd(amount)


def history_lines(
    shown: Sequence[SessionRow], *, matching: int, all_time: Totals, ledger: str, where: str
) -> list[str]:
    """The design document's print_cost_history as a table: the sessions shown, their sum,
    and the all-time totals.
    """
    rule = "=" * 80
    if not matching:
        what = f"No sessions {where} in {ledger}." if where else f"No Claude API usage in {ledger}."
        return [what]
    title = f"HAIKU API COST HISTORY (last {len(shown)} of {matching} sessions"
    title += f" {where})" if where else ")"
    cache = any(
        row.totals.cache_creation_input_tokens or row.totals.cache_read_input_tokens
        for row in shown
    )
    headers = ["Started", "Session", "Status", "Calls", "Input", "Output"]
    if cache:
        headers += ["Cache write", "Cache read"]
    headers.append("Cost (USD)")

    def cells(label: str, name: str, status: str, totals: Totals) -> list[str]:
        out = [
            label,
            name,
            status,
            f"{totals.api_calls:,}",
            f"{totals.input_tokens:,}",
            f"{totals.output_tokens:,}",
        ]
        if cache:
            out += [
                f"{totals.cache_creation_input_tokens:,}",
                f"{totals.cache_read_input_tokens:,}",
            ]
        out.append(_money(totals.cost_usd))
        return out

    body = [
        cells(
            shorten(row.timestamp.replace("T", " "), 19),
            shorten(row.session_name, 40),
            shorten(row.status, 18),
            row.totals,
        )
        for row in shown
    ]
    shown_sum = sum((row.totals for row in shown), Totals())
    table = text_table(
        headers,
        body,
        left=3,
        footer=[cells(f"Shown ({len(shown)})", "", "", shown_sum)],
    )
    return [
        rule,
        title,
        rule,
        "",
        *table,
        "",
        *all_time_lines(all_time),
        "",
        rule,
    ]


def all_time_lines(totals: Totals, *, sessions: int | None = None) -> list[str]:
    """The design document's "Cumulative Total (All Time)" block."""
    lines = ["Cumulative Total (All Time):"]
    if sessions is not None:
        lines.append(f"  Sessions: {sessions:,}")
    lines += [
        f"  API Calls: {totals.api_calls:,}",
        f"  Total Input Tokens: {totals.input_tokens:,}",
        f"  Total Output Tokens: {totals.output_tokens:,}",
    ]
    cache = totals.cache_creation_input_tokens + totals.cache_read_input_tokens
    if cache:
        lines.append(f"  Total Cache Tokens: {cache:,}")
    lines += [
        f"  Total Tokens: {totals.total_tokens:,}",
        f"  Total Cost: {_money(totals.cost_usd)} USD",
    ]
    return lines


_TOKEN_HEADERS = [
    "api_calls",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "total_tokens",
    "cost_usd",
]


def _token_cells(totals: Totals) -> list[Cell]:
    return [
        totals.api_calls,
        totals.input_tokens,
        totals.output_tokens,
        totals.cache_creation_input_tokens,
        totals.cache_read_input_tokens,
        totals.total_tokens,
        totals.cost_usd,
    ]


def history_csv(rows: Sequence[SessionRow]) -> tuple[list[str], list[list[Cell]]]:
    """One CSV row per session: when, name, id, status, models, calls, tokens by kind, cost."""
    headers = ["timestamp", "session_name", "session_id", "status", "models", *_TOKEN_HEADERS]
    body: list[list[Cell]] = []
    for row in rows:
        session_id = row.entry.get("session_id")
        body.append(
            [
                row.timestamp,
                row.session_name,
                session_id if isinstance(session_id, str) else "",
                row.status,
                ";".join(model for model, _ in row.by_model if model != NO_MODEL),
                *_token_cells(row.totals),
            ]
        )
    return headers, body


# --- Totals per group --------------------------------------------------------------------------


@dataclass
class Group:
    """The sessions of one day, month, model or session name, and what they spent."""

    key: str
    sessions: int = 0
    totals: Totals = field(default_factory=Totals)
    cumulative_usd: Decimal | None = None  # by day and month: the spend up to this period's end

    def to_json(self, by: str) -> dict[str, Any]:
        data: dict[str, Any] = {by: self.key, "sessions": self.sessions, **self.totals.to_json()}
        if self.cumulative_usd is not None:
            data["cumulative_cost_usd"] = self.cumulative_usd
        return data


def _check_grouping(by: str) -> None:
    if by not in GROUPINGS:
        raise ConfigError(f"Cannot group by {by!r}. Use one of: {', '.join(GROUPINGS)}.")


def group_sessions(rows: Iterable[SessionRow], by: str) -> list[Group]:
    """Totals per ``by`` (one of ``GROUPINGS``).

    Days and months come in date order, with a running total; sessions with no readable date
    come first, as ``(no date)``, since nothing says when they were spent. Models and names
    come most expensive first.
    """
    _check_grouping(by)
    groups: dict[str, Group] = {}
    for row in rows:
        if by == "model":
            for model, part in row.by_model:
                group = groups.setdefault(model, Group(model))
                group.sessions += 1
                group.totals = group.totals + part
            continue
        key = {"day": row.day, "month": row.month, "name": printable(row.session_name)}[by]
        group = groups.setdefault(key, Group(key))
        group.sessions += 1
        group.totals = group.totals + row.totals
    if by in ("model", "name"):
        return sorted(groups.values(), key=lambda g: (-g.totals.cost_usd, g.key))
    ordered = sorted(groups.values(), key=lambda g: (g.key != NO_DATE, g.key))
    running = Decimal(0)
    for group in ordered:
        running = usd_sum([running, group.totals.cost_usd])
        group.cumulative_usd = running
    return ordered


def report_lines(
    groups: Sequence[Group], by: str, *, sessions: int, where: str, ledger: str
) -> list[str]:
    """Totals per group as a table, with their sum."""
    if not sessions:
        what = f"No sessions {where} in {ledger}." if where else f"No Claude API usage in {ledger}."
        return [what]
    dated = by in ("day", "month")
    headers = [by.capitalize(), "Sessions", "Calls", "Input", "Output"]
    headers += ["Cache write", "Cache read", "Cost (USD)"]
    if dated:
        headers.append("Cumulative")

    def cells(label: str, count: int, totals: Totals, cumulative: Decimal | None) -> list[str]:
        out = [
            shorten(label, 40),
            f"{count:,}",
            f"{totals.api_calls:,}",
            f"{totals.input_tokens:,}",
            f"{totals.output_tokens:,}",
            f"{totals.cache_creation_input_tokens:,}",
            f"{totals.cache_read_input_tokens:,}",
            _money(totals.cost_usd),
        ]
        if dated:
            out.append(_money(cumulative) if cumulative is not None else "")
        return out

    total = sum((g.totals for g in groups), Totals())
    title = f"Claude spend by {by}, {sessions:,} session(s)" + (f" {where}" if where else "")
    table = text_table(
        headers,
        (cells(g.key, g.sessions, g.totals, g.cumulative_usd) for g in groups),
        footer=[cells("Total", sessions, total, None)],
    )
    return [title, "", *table]


def report_csv(groups: Sequence[Group], by: str) -> tuple[list[str], list[list[Cell]]]:
    """One CSV row per group; no total row, so that a script can sum the rows itself."""
    headers = [by, "sessions", *_TOKEN_HEADERS]
    dated = by in ("day", "month")
    if dated:
        headers.append("cumulative_cost_usd")
    rows: list[list[Cell]] = []
    for group in groups:
        row: list[Cell] = [group.key, group.sessions, *_token_cells(group.totals)]
        if dated:
            row.append(group.cumulative_usd)
        rows.append(row)
    return headers, rows


def report_json(
    groups: Sequence[Group], by: str, *, sessions: int, session_filter: SessionFilter, ledger: str
) -> dict[str, Any]:
    total = sum((g.totals for g in groups), Totals())
    return {
        "ledger": ledger,
        "by": by,
        "filter": session_filter.to_json(),
        "sessions": sessions,
        "groups": [g.to_json(by) for g in groups],
        "total": total.to_json(),
    }
