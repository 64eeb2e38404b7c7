"""Count every Claude token and cent, per session and for all time (the design document's API).

::

    with CostTracker("my_custom_session") as tracker:
        tracker.add_api_call(usage=response.usage, response_id=response.id)
    # on exit, even after an error: the session is saved and the summary printed

Each call is priced when it is recorded, at the prices then in ``config``, and written to the
session's journal before ``add_api_call`` returns, so a killed process loses nothing: the
next tracker folds its journal into the ledger (see :mod:`scenewright.ledger`).

``python -m scenewright.cost_tracker`` runs the design document's simulation on a scratch
ledger; ``--repair`` rebuilds the real ledger's totals from its sessions.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import uuid
import warnings
import weakref
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias

from scenewright import config
from scenewright.errors import LedgerError, ScenewrightError, ScenewrightWarning
from scenewright.ledger import (
    CallRecord,
    FoldedSession,
    Ledger,
    RepairReport,
    SessionJournal,
    build_session_entry,
    check_costs_dir_writable,
    fold_orphaned_journals,
    now_local,
    repair_ledger,
)
from scenewright.pricing import (
    BilledTokens,
    billed_tokens,
    check_model,
    model_price,
    price_call,
    usd_sum,
)
from scenewright.usage import Usage, format_usd

__all__ = [
    "MAX_TOKENS_PER_CALL",
    "CostTracker",
    "FoldedSession",
    "RepairReport",
    "SessionStats",
    "fold_orphaned_journals",
    "get_total_cost",
    "load_sessions",
    "main",
    "print_cost_history",
    "repair_ledger",
]

RULE = "=" * 80

PathLike: TypeAlias = "str | os.PathLike[str]"


def _emit(text: str) -> None:
    """print(), but a console that cannot show a character gets '?' instead of a crash."""
    try:
        print(text)
    except UnicodeEncodeError:
        encoding = getattr(sys.stdout, "encoding", None) or "ascii"
        print(text.encode(encoding, errors="replace").decode(encoding, errors="replace"))


def _printable(text: str) -> str:
    # Session names come from novels and from the ledger file: no terminal escapes.
    return "".join(ch if ch.isprintable() else "?" for ch in text)


# The most tokens one call may report in any field. No model reads or writes anywhere near
# a trillion tokens in one request, so a larger count is a bug upstream; letting it in would
# make a cost the ledger refuses to store (over its trillion-dollar sanity limit), and the
# session could then not be saved at all.
MAX_TOKENS_PER_CALL = 10**12


def _check_count(value: object, name: str) -> int:
    if value is None:
        raise ValueError(f"{name} is required: give the number of tokens the API reported")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number of tokens, not {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value}")
    if value > MAX_TOKENS_PER_CALL:
        raise ValueError(
            f"{name} is {value:,}, more than one API call can use ({MAX_TOKENS_PER_CALL:,} "
            "tokens at most): pass the counts from the API's usage"
        )
    return value


@dataclass(frozen=True)
class SessionStats:
    """A tracker's running totals."""

    session_name: str
    session_id: str
    api_calls: int
    usage: Usage
    cost_usd: Decimal

    @property
    def input_tokens(self) -> int:
        return self.usage.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.usage.output_tokens

    @property
    def total_tokens(self) -> int:
        return self.usage.total_tokens


class _JournalState:
    """What the finalizer needs, kept apart from the tracker so that it can be collected."""

    def __init__(self, journal: SessionJournal) -> None:
        self.journal = journal
        self.calls = 0
        self.saved_calls = 0


def _finish_journal(state: _JournalState) -> None:
    # At garbage collection or interpreter exit: a fully saved journal becomes the session's
    # call record; one with unsaved calls stays, for the next tracker to fold.
    try:
        if state.calls and state.saved_calls == state.calls:
            state.journal.archive()
        else:
            state.journal.close()
    except OSError:
        state.journal.close()


def _new_session_id() -> str:
    return f"{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


class CostTracker:
    """Tokens and dollars for one session of Claude calls.

    ``CostTracker(session_name)`` checks that the cost folder can be written, folds any
    journal left by a killed run into the ledger and checks that the ledger is readable, so
    an unwritable folder or a broken ledger (:class:`LedgerError`) stops a run before it
    spends.
    """

    def __init__(
        self,
        session_name: str = "session",
        model: str | None = None,
        *,
        costs_dir: PathLike | None = None,
    ) -> None:
        if not isinstance(session_name, str) or not session_name.strip():
            raise ValueError(f"session_name must be a non-empty string, not {session_name!r}")
        if model is not None and not isinstance(model, str):
            raise ValueError(f"model must be a model id string, not {model!r}")
        self.session_name = session_name
        self.model = check_model(model if model is not None else config.DEFAULT_HAIKU_MODEL)
        self.costs_dir = Path(costs_dir) if costs_dir is not None else config.costs_dir()
        # An unwritable cost folder raises here, before any call is paid for and lost.
        check_costs_dir_writable(self.costs_dir)
        self.ledger = Ledger(self.costs_dir)
        self.session_id = _new_session_id()
        self.timestamp = now_local()
        self.recovered: list[FoldedSession] = fold_orphaned_journals(self.costs_dir)
        self._warn_recovered()
        self.ledger.read()  # a corrupt ledger raises here, before any money is spent
        self._lock = threading.RLock()
        self._calls: list[CallRecord] = []
        self._response_ids: set[str] = set()
        self._usage = Usage()
        self._cost = Decimal(0)
        self._journal = SessionJournal(
            self.costs_dir,
            self.session_id,
            {"session_name": session_name, "timestamp": self.timestamp, "model": self.model},
        )
        self._state = _JournalState(self._journal)
        self._finalizer = weakref.finalize(self, _finish_journal, self._state)
        self._journal_warned = False
        self._closed = False
        # Shown in the summary beside the session's cost when a run sets them: what the run
        # was estimated to cost before it started, and its --budget.
        self.estimate_usd: Decimal | None = None
        self.budget_usd: Decimal | None = None

    def _warn_recovered(self) -> None:
        for folded in self.recovered:
            if folded.added_calls:
                warnings.warn(
                    f"An earlier session, {_printable(folded.session_name)!r} "
                    f"(started {folded.timestamp}), ended without saving its costs. "
                    f"Its {folded.added_calls} unsaved API call(s), "
                    f"{format_usd(folded.added_cost_usd)} USD, are now in the ledger.",
                    ScenewrightWarning,
                    stacklevel=3,
                )

    # --- recording ----------------------------------------------------------------------

    def _tokens(
        self,
        input_tokens: object,
        output_tokens: object,
        cache_creation_input_tokens: object,
        cache_read_input_tokens: object,
        usage: object,
    ) -> BilledTokens:
        creation = _check_count(cache_creation_input_tokens, "cache_creation_input_tokens")
        read = _check_count(cache_read_input_tokens, "cache_read_input_tokens")
        if usage is None:
            return BilledTokens(
                input_tokens=_check_count(input_tokens, "input_tokens"),
                output_tokens=_check_count(output_tokens, "output_tokens"),
                cache_write_5m_tokens=creation,
                cache_read_tokens=read,
            )
        tokens = billed_tokens(usage)
        for name, count in (
            ("usage.input_tokens", tokens.input_tokens),
            ("usage.output_tokens", tokens.output_tokens),
            ("usage.cache_creation_input_tokens", tokens.cache_creation_input_tokens),
            ("usage.cache_read_input_tokens", tokens.cache_read_tokens),
        ):
            _check_count(count, name)
        # Counts given alongside usage must agree with it; a mismatch is a bug upstream.
        for name, given, reported in (
            ("input_tokens", input_tokens, tokens.input_tokens),
            ("output_tokens", output_tokens, tokens.output_tokens),
            ("cache_creation_input_tokens", creation or None, tokens.cache_creation_input_tokens),
            ("cache_read_input_tokens", read or None, tokens.cache_read_tokens),
        ):
            if given is not None and _check_count(given, name) != reported:
                raise ValueError(f"{name}={given!r} disagrees with usage.{name}={reported}")
        return tokens

    def add_api_call(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        *,
        cache_creation_input_tokens: int = 0,
        cache_read_input_tokens: int = 0,
        model: str | None = None,
        batch: bool = False,
        response_id: str | None = None,
        usage: object | None = None,
    ) -> Decimal:
        """Record one API call and return the cost it added.

        Token counts come from ``usage`` (the SDK's ``Usage``, or a dict with its field
        names) when given, else from the arguments. Bad input raises :class:`ValueError`
        naming the argument, and an unpriced model :class:`UnknownModelError`; either way
        nothing is recorded. A ``response_id`` already recorded adds nothing and returns 0.
        """
        tokens = self._tokens(
            input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, usage
        )
        if model is not None and not isinstance(model, str):
            raise ValueError(f"model must be a model id string, not {model!r}")
        if response_id is not None and (not isinstance(response_id, str) or not response_id):
            raise ValueError(f"response_id must be a non-empty string or None, not {response_id!r}")
        priced = price_call(tokens, model if model is not None else self.model, batch=batch)
        with self._lock:
            if self._closed:
                raise ValueError(
                    f"session {self.session_name!r} is closed; start a new CostTracker to "
                    "record more calls"
                )
            if response_id is not None and response_id in self._response_ids:
                return Decimal(0)
            record = CallRecord(
                seq=len(self._calls) + 1,
                timestamp=now_local(),
                model=priced.model,
                response_id=response_id,
                input_tokens=tokens.input_tokens,
                output_tokens=tokens.output_tokens,
                cache_write_5m_tokens=tokens.cache_write_5m_tokens,
                cache_write_1h_tokens=tokens.cache_write_1h_tokens,
                cache_read_tokens=tokens.cache_read_tokens,
                batch=priced.batch,
                long_context=priced.long_context,
                price_table_version=priced.price_table_version,
                cost_usd=priced.cost,
            )
            # Memory first: a KeyboardInterrupt inside the journal write then still leaves
            # the call in what save_session writes.
            self._calls.append(record)
            if response_id is not None:
                self._response_ids.add(response_id)
            self._usage = self._usage + tokens.as_usage()
            self._cost = usd_sum([self._cost, priced.cost])
            self._state.calls = len(self._calls)
            self._journal_append(record)
        return priced.cost

    def _journal_append(self, record: CallRecord) -> None:
        try:
            self._journal.append(record)
        except (OSError, LedgerError) as error:
            # The call is paid for: keep counting it in memory and let save_session record
            # it, rather than fail a run whose next step might pay for the call again.
            if not self._journal_warned:
                self._journal_warned = True
                warnings.warn(
                    f"Could not write the cost journal {self._journal.path} ({error}). Costs "
                    "are still counted and saved at the end of the session, but would be "
                    "lost if the process were killed before then.",
                    ScenewrightWarning,
                    stacklevel=3,
                )

    # --- reading ------------------------------------------------------------------------

    @property
    def stats(self) -> SessionStats:
        with self._lock:
            return SessionStats(
                self.session_name, self.session_id, len(self._calls), self._usage, self._cost
            )

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has run: then ``add_api_call`` refuses, so check before paying."""
        with self._lock:
            return self._closed

    @property
    def session_cost(self) -> Decimal:
        """What this session has cost so far, in exact USD."""
        with self._lock:
            return self._cost

    @property
    def calls(self) -> list[CallRecord]:
        with self._lock:
            return list(self._calls)

    def get_session_stats(self) -> dict[str, Any]:
        """The design document's stats dict: api_calls, tokens and ``cost_usd`` (a Decimal)."""
        with self._lock:
            calls = list(self._calls)
            usage = self._usage
            cost = self._cost
        entry = build_session_entry(
            session_id=self.session_id,
            session_name=self.session_name,
            timestamp=self.timestamp,
            calls=calls,
            status="open",
        )
        return {
            "session_name": self.session_name,
            "session_id": self.session_id,
            "api_calls": len(calls),
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "total_tokens": usage.total_tokens,
            "cost_usd": cost,
            "models": entry["models"],
        }

    # --- saving -------------------------------------------------------------------------

    def save_session(self, *, status: str = "complete") -> None:
        """Write this session to the ledger; saving again updates the same entry."""
        with self._lock:
            calls = list(self._calls)
        entry = build_session_entry(
            session_id=self.session_id,
            session_name=self.session_name,
            timestamp=self.timestamp,
            calls=calls,
            status=status,
        )
        self.ledger.upsert_session(entry)
        self._state.saved_calls = len(calls)

    def close(self, *, status: str = "complete") -> None:
        """Save the session and file its journal under ``calls/``; no calls may follow."""
        with self._lock:
            if self._closed:
                return
            self.save_session(status=status)
            self._closed = True
        self._finalizer()

    def __enter__(self) -> CostTracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            try:
                self.close()
            finally:
                self.print_summary()
            return
        status = "interrupted" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "failed"
        # The body's exception is what the caller must see; a failure to save on top of it
        # becomes a warning, and the journal keeps the calls for the next run to fold.
        try:
            self.close(status=status)
        except (ScenewrightError, OSError) as error:
            warnings.warn(
                f"Could not save the costs of session {self.session_name!r}: {error}",
                ScenewrightWarning,
                stacklevel=2,
            )
        with contextlib.suppress(OSError):  # e.g. a closed pipe: never hide the real error
            self.print_summary()

    # --- reporting ----------------------------------------------------------------------

    def _cumulative(self) -> tuple[int, int, int, Decimal]:
        """All-time totals including this session, whether or not it has been saved yet."""
        data = self.ledger.read()
        stats = self.stats
        total_in = data["total_input_tokens"] + stats.usage.input_tokens
        total_out = data["total_output_tokens"] + stats.usage.output_tokens
        cache = (
            data["total_cache_creation_input_tokens"]
            + data["total_cache_read_input_tokens"]
            + stats.usage.cache_creation_input_tokens
            + stats.usage.cache_read_input_tokens
        )
        cost = usd_sum([Decimal(data["total_cost_usd"]), stats.cost_usd])
        saved = next((s for s in data["sessions"] if s.get("session_id") == self.session_id), None)
        if saved is not None:
            total_in -= saved["input_tokens"]
            total_out -= saved["output_tokens"]
            cache -= saved.get("cache_creation_input_tokens", 0)
            cache -= saved.get("cache_read_input_tokens", 0)
            cost = usd_sum([cost, -Decimal(saved["cost_usd"])])
        return total_in, total_out, cache, cost

    def print_summary(self) -> None:
        """Print the design document's cost summary for this session and for all time.

        Never raises for an unreadable ledger: the session's own figures still print.
        """
        stats = self.stats
        usage = stats.usage
        lines = [
            RULE,
            "HAIKU API COST SUMMARY",
            RULE,
            "",
            f"Current Session: {_printable(self.session_name)}",
            f"  API Calls: {stats.api_calls:,}",
            f"  Input Tokens: {usage.input_tokens:,}",
            f"  Output Tokens: {usage.output_tokens:,}",
        ]
        if usage.cache_creation_input_tokens or usage.cache_read_input_tokens:
            lines.append(f"  Cache Write Tokens: {usage.cache_creation_input_tokens:,}")
            lines.append(f"  Cache Read Tokens: {usage.cache_read_input_tokens:,}")
        lines += [
            f"  Total Tokens: {usage.total_tokens:,}",
            f"  Session Cost: {format_usd(stats.cost_usd)} USD",
        ]
        if self.estimate_usd is not None:
            lines.append(f"  Estimated Cost: {format_usd(self.estimate_usd)} USD (before the run)")
        if self.budget_usd is not None:
            budget = self.budget_usd
            share = f" ({stats.cost_usd * 100 / budget:.0f}% used)" if budget else ""
            lines.append(f"  Budget: {format_usd(budget)} USD{share}")
        lines += [
            "",
            "Cumulative Total (All Time):",
        ]
        try:
            total_in, total_out, cache, cost = self._cumulative()
        except LedgerError as error:
            lines.append(f"  (unavailable: {error})")
        else:
            lines += [
                f"  Total Input Tokens: {total_in:,}",
                f"  Total Output Tokens: {total_out:,}",
            ]
            if cache:
                lines.append(f"  Total Cache Tokens: {cache:,}")
            lines += [
                f"  Total Tokens: {total_in + total_out + cache:,}",
                f"  Total Cost: {format_usd(cost)} USD",
            ]
        lines += ["", RULE]
        _emit("\n".join(lines))

    def __repr__(self) -> str:
        stats = self.stats
        return (
            f"CostTracker({self.session_name!r}, model={self.model!r}, "
            f"api_calls={stats.api_calls}, cost_usd={format_usd(stats.cost_usd)})"
        )


# --- Module functions (the design document's) --------------------------------------------------


def load_sessions(*, costs_dir: PathLike | None = None) -> list[dict[str, Any]]:
    """Every session in the ledger, oldest first."""
    return Ledger(costs_dir).sessions()


def get_total_cost(*, costs_dir: PathLike | None = None) -> tuple[int, int, Decimal]:
    """``(total_input_tokens, total_output_tokens, total_cost_usd)`` for all time."""
    data = Ledger(costs_dir).read()
    return (
        data["total_input_tokens"],
        data["total_output_tokens"],
        Decimal(data["total_cost_usd"]),
    )


def print_cost_history(limit: int | None = 10, *, costs_dir: PathLike | None = None) -> None:
    """Print the last ``limit`` sessions (all when None), oldest first, and the totals."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a whole number >= 0 or None, not {limit!r}")
    ledger = Ledger(costs_dir)
    data = ledger.read()
    sessions: list[dict[str, Any]] = data["sessions"]
    if not sessions:
        _emit(f"No Claude API usage recorded yet in {ledger.path}.")
        return
    shown = sessions[-limit:] if limit else ([] if limit == 0 else sessions)
    lines = [
        RULE,
        f"HAIKU API COST HISTORY (last {len(shown)} of {len(sessions)} sessions)",
        RULE,
    ]
    for session in shown:
        status = session.get("status")
        note = f"  ({_printable(status)})" if status in ("interrupted", "failed") else ""
        lines += [
            "",
            f"{_printable(session['timestamp'])}  {_printable(session['session_name'])}{note}",
            f"  API Calls: {session['api_calls']:,} | "
            f"Input Tokens: {session['input_tokens']:,} | "
            f"Output Tokens: {session['output_tokens']:,} | "
            f"Cost: {format_usd(Decimal(session['cost_usd']))} USD",
        ]
    total_in = data["total_input_tokens"]
    total_out = data["total_output_tokens"]
    lines += [
        "",
        "Cumulative Total (All Time):",
        f"  Total Input Tokens: {total_in:,}",
        f"  Total Output Tokens: {total_out:,}",
        f"  Total Tokens: {total_in + total_out:,}",
        f"  Total Cost: {format_usd(Decimal(data['total_cost_usd']))} USD",
        "",
        RULE,
    ]
    _emit("\n".join(lines))


# --- python -m scenewright.cost_tracker -----------------------------------------------------

# The design document's per-prompt estimate: 500-600 input and 80-120 output tokens.
SIMULATED_CALLS = ((550, 100), (500, 80), (600, 120), (520, 95), (580, 110))


def simulate(costs_dir: Path) -> None:
    """The design document's demonstration, on the ledger in ``costs_dir``."""
    with CostTracker("cost_tracker_simulation", costs_dir=costs_dir) as tracker:
        rates = model_price(tracker.model).standard
        _emit(
            f"Model {tracker.model}: {format_usd(rates.input, 2)} per million input tokens, "
            f"{format_usd(rates.output, 2)} per million output tokens (no API calls are made)"
        )
        for input_tokens, output_tokens in SIMULATED_CALLS:
            cost = tracker.add_api_call(input_tokens=input_tokens, output_tokens=output_tokens)
            _emit(
                f"Simulated API call: {input_tokens:,} input + {output_tokens:,} output tokens"
                f" = {format_usd(cost)} USD"
            )
        stats = tracker.get_session_stats()
        _emit(f"Session cost so far: ${stats['cost_usd']:.6f}")
        _emit("")
    _emit("")
    print_cost_history(limit=10, costs_dir=costs_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scenewright.cost_tracker",
        description=(
            "Run the cost-tracking simulation on a scratch ledger (your real ledger is not "
            "touched), or repair the real ledger."
        ),
    )
    parser.add_argument(
        "--repair",
        action="store_true",
        help="rebuild the totals of the real ledger from its sessions",
    )
    parser.add_argument(
        "--reset-corrupt",
        action="store_true",
        help="with --repair: set unreadable parts aside in a dated backup and keep the rest",
    )
    args = parser.parse_args(argv)
    try:
        if args.repair:
            report = repair_ledger(reset_corrupt=args.reset_corrupt)
            for line in report.lines():
                _emit(line)
            return 0
        if args.reset_corrupt:
            parser.error("--reset-corrupt only goes with --repair")
        scratch = Path(tempfile.mkdtemp(prefix="scenewright-cost-simulation-"))
        _emit(f"Simulating Haiku calls on a scratch ledger in {scratch}")
        _emit(f"(your real ledger, {config.ledger_path()}, is not touched)")
        _emit("")
        simulate(scratch)
        _emit(f"\nScratch ledger: {scratch / config.LEDGER_FILENAME}")
    except ScenewrightError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # Output piped into `head` or a closed pager: not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
