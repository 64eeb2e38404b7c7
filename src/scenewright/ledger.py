"""The cost ledger, ``.costs/haiku_usage.json``, and the per-session call journals.

The ledger has the design document's layout, with extra keys that older readers ignore::

    {
      "total_input_tokens": 1650,          # the document's keys: always the sums over
      "total_output_tokens": 300,          # "sessions", in exact numbers
      "total_cost_usd": 0.00031,
      "total_api_calls": 3,                # extras, also sums over "sessions"
      "total_cache_creation_input_tokens": 0,
      "total_cache_read_input_tokens": 0,
      "schema_version": 1,
      "updated": "2026-12-03T15:54:49",
      "sessions": [
        {"timestamp": "2026-12-03T15:54:49", "session_name": "chapters_1",
         "input_tokens": 1650, "output_tokens": 300, "api_calls": 3, "cost_usd": 0.00031,
         "session_id": "20261203T155449-1a2b3c4d", "status": "complete", ...}
      ]
    }

Every write happens under a cross-process lock (``haiku_usage.json.lock``) and replaces the
file atomically, so parallel runs never lose a session and a crash never leaves half a file.
A file that is not valid JSON, or does not fit the layout, raises
:class:`~scenewright.errors.LedgerCorruptError` and is never rewritten behind the user's back.

While a session runs, each call is appended and fsynced to
``.costs/journal-<session id>-<pid>.jsonl``; when the session ends the journal moves to
``.costs/calls/<session id>.jsonl``, the session's per-call record. A journal left behind by a
process that died (SIGKILL, power cut) is folded into the ledger by
:func:`fold_orphaned_journals`, which every new :class:`~scenewright.cost_tracker.CostTracker`
runs first. No prompt text and no API key is ever written.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import filelock
import psutil
import simplejson

from scenewright import config
from scenewright.errors import LedgerCorruptError, LedgerError, LedgerLockError
from scenewright.fileio import (
    PRIVATE_FILE_MODE,
    REPLACE_RETRY_SECONDS,
    atomic_write_text,
    dumps_json,
    fsync_dir,
    loads_json,
    replace_file,
)
from scenewright.pricing import usd_sum
from scenewright.usage import format_usd

__all__ = [
    "CALLS_DIR_NAME",
    "REPAIR_COMMAND",
    "SCHEMA_VERSION",
    "CallRecord",
    "FoldedSession",
    "Ledger",
    "LedgerTransaction",
    "RepairReport",
    "SessionJournal",
    "build_session_entry",
    "check_costs_dir_writable",
    "ensure_costs_dir",
    "fold_orphaned_journals",
    "now_local",
    "parse_money",
    "repair_ledger",
]

SCHEMA_VERSION = 1
CALLS_DIR_NAME = "calls"
JOURNAL_PREFIX = "journal-"
JOURNAL_SUFFIX = ".jsonl"
LEGACY_SESSION_ID = "legacy-unitemized"

_PRIVATE_DIR = 0o700
# A process whose start time differs from the journal's by more than this is another
# process that was given the same pid.
_CREATE_TIME_TOLERANCE_S = 1.0
_MAX_USD = Decimal(10) ** 12

_REQUIRED_SESSION_INTS = ("input_tokens", "output_tokens", "api_calls")
_OPTIONAL_SESSION_INTS = ("cache_creation_input_tokens", "cache_read_input_tokens")
_OPTIONAL_SESSION_STRS = ("session_id", "status", "updated", "calls_file")
_TOP_INTS = ("total_input_tokens", "total_output_tokens")
_TOP_EXTRA_INTS = (
    "total_api_calls",
    "total_cache_creation_input_tokens",
    "total_cache_read_input_tokens",
)


def now_local() -> str:
    """Local time in the design document's format, ``2024-01-15T14:30:00``."""
    return datetime.now().isoformat(timespec="seconds")


# --- Files ------------------------------------------------------------------------------------


def _costs_dir_is_a_file(path: Path) -> LedgerError | None:
    """The error to raise when ``path``, or a folder above it, is a regular file."""
    try:
        blocker = next((part for part in (path, *path.parents) if part.is_file()), None)
    except OSError:
        return None
    if blocker is None:
        return None
    what = f"{path} is a file" if blocker == path else f"{blocker}, above {path}, is a file"
    if (os.environ.get(config.COSTS_DIR_ENV) or "").strip():
        return LedgerError(
            f"The environment variable {config.COSTS_DIR_ENV} must be a folder, but {what}. "
            f"Point {config.COSTS_DIR_ENV} at a folder (it is created if missing), or unset "
            "it to use ./.costs."
        )
    return LedgerError(
        f"The cost folder must be a folder, but {what}. Move that file away, or set the "
        f"environment variable {config.COSTS_DIR_ENV} to a folder."
    )


def ensure_costs_dir(path: Path) -> Path:
    """Create the cost folder (owner-only) with a ``.gitignore`` that keeps it out of git."""
    blocked = _costs_dir_is_a_file(path)
    if blocked is not None:
        raise blocked
    try:
        if not path.is_dir():
            path.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
            fsync_dir(path.parent)
        ignore = path / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n", encoding="utf-8")
    except OSError as error:
        raise LedgerError(
            f"Cannot create the cost folder {path}: {error.strerror or error}. Make sure the "
            f"folder can be created there, or set {config.COSTS_DIR_ENV} to a writable folder."
        ) from error
    return path


def check_costs_dir_writable(path: Path) -> Path:
    """Create the cost folder if need be, and prove that a file can be written in it.

    Every tracker calls this before its first call is made: a folder that cannot be
    written would otherwise lose the record of every call paid for after it. The probe
    file is removed again, so a session that makes no call still leaves nothing behind.
    """
    ensure_costs_dir(path)
    # Unique per process and tracker, so parallel runs never trip over each other's probe.
    probe = path / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(probe, flags, PRIVATE_FILE_MODE)
        try:
            os.write(fd, b"scenewright\n")
            os.fsync(fd)  # a full disk may only say so here
        finally:
            os.close(fd)
    except OSError as error:
        raise LedgerError(
            f"Cannot write in the cost folder {path}: {error.strerror or error}. scenewright "
            "records the cost of every Claude call there, so it has sent none. Make the folder "
            f"writable, or set {config.COSTS_DIR_ENV} to a folder you can write to."
        ) from error
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return path


def _describe(value: object) -> str:
    """``value`` for a message about a JSON file: null, true and false in JSON's words."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- Validation -------------------------------------------------------------------------------


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_money(value: object) -> Decimal | None:
    """``value`` as an exact amount of US dollars, or None if it is not one the ledger holds.

    Money is a JSON number, or a quoted decimal string such as ``"0.024"`` (as a hand edit
    or another tool may write it), read exactly; it must be finite, >= 0 and under
    ``_MAX_USD``.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        # Plain decimal notation only: no "NaN", "Infinity", "1_000" or hex.
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text):
            return None
        value = Decimal(text)
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        return None
    # A trillion dollars is no hobbyist's spend; larger numbers are damage, and would not fit
    # the six-decimal formatting either.
    return value if 0 <= value < _MAX_USD else None


def _is_money(value: object) -> bool:
    return parse_money(value) is not None


def _money_problem(value: object) -> str:
    """Why ``value`` is not money, in words, for the messages that name it."""
    if isinstance(value, (int, str, Decimal)) and not isinstance(value, bool):
        with contextlib.suppress(ArithmeticError, ValueError):
            amount = Decimal(value.strip() if isinstance(value, str) else value)
            if amount.is_finite() and amount >= _MAX_USD:
                return f"too large (over ${_MAX_USD:,.0f})"
    return "not an amount >= 0"


def _session_problem(session: object, index: int) -> str | None:
    where = f"sessions[{index}]"
    if not isinstance(session, dict):
        return f"{where} is {_describe(session)}, not an object"
    for key in ("timestamp", "session_name"):
        if key not in session:
            return f"{where} has no {key!r}"
        if not isinstance(session[key], str):
            return f"{where}.{key} is {_describe(session[key])}, not a string"
    for key in _REQUIRED_SESSION_INTS:
        if key not in session:
            return f"{where} has no {key!r}"
    for key in _REQUIRED_SESSION_INTS + _OPTIONAL_SESSION_INTS:
        if key in session and not _is_count(session[key]):
            return f"{where}.{key} is {_describe(session[key])}, not a whole number >= 0"
    if "cost_usd" not in session:
        return f"{where} has no 'cost_usd'"
    if not _is_money(session["cost_usd"]):
        return (
            f"{where}.cost_usd is {_describe(session['cost_usd'])}, "
            f"{_money_problem(session['cost_usd'])}"
        )
    for key in _OPTIONAL_SESSION_STRS:
        if key in session and not isinstance(session[key], str):
            return f"{where}.{key} is {_describe(session[key])}, not a string"
    if "session_id" in session and not session["session_id"]:
        return f"{where}.session_id is empty"
    if "models" in session and not isinstance(session["models"], dict):
        return f"{where}.models is {_describe(session['models'])}, not an object"
    return None


def _top_problem(data: object) -> str | None:
    if not isinstance(data, dict):
        return f"holds {_describe(data)} instead of an object with totals and sessions"
    for key in (*_TOP_INTS, "total_cost_usd", "sessions"):
        if key not in data:
            return f"has no {key!r}"
    for key in _TOP_INTS:
        if not _is_count(data[key]):
            return f"has {key} = {_describe(data[key])}, not a whole number >= 0"
    for key in _TOP_EXTRA_INTS:
        if key in data and not _is_count(data[key]):
            return f"has {key} = {_describe(data[key])}, not a whole number >= 0"
    if not _is_money(data["total_cost_usd"]):
        return (
            f"has total_cost_usd = {_describe(data['total_cost_usd'])}, "
            f"{_money_problem(data['total_cost_usd'])}"
        )
    if not isinstance(data["sessions"], list):
        return f"has sessions = {_describe(data['sessions'])}, not a list"
    return None


def _duplicate_problem(sessions: list[dict[str, Any]]) -> str | None:
    seen: set[str] = set()
    for index, session in enumerate(sessions):
        session_id = session.get("session_id")
        if session_id is None:
            continue
        if session_id in seen:
            return (
                f"has two sessions with session_id {session_id!r} (the second is sessions[{index}])"
            )
        seen.add(session_id)
    return None


# The command that repairs a ledger (scenewright.cli: `costs repair`, which calls repair_ledger).
REPAIR_COMMAND = "scenewright costs repair"
# What is wrong with a ledger decides what can fix it: plain `costs repair` rebuilds totals
# from readable sessions, but refuses to drop anything, so unreadable sessions or an
# unreadable file need --reset-corrupt or a hand edit. Each message names only what works.
_TOTALS, _SESSIONS, _FILE = "totals", "sessions", "file"
# A recorded total cost that cannot be read as money: rebuilding it from the sessions could
# drop money that the sessions do not itemise, so only --reset-corrupt (or a hand edit) does.
_MONEY_TOTAL = "money total"


def _fix_text(kind: str) -> str:
    kept = "scenewright has left the file exactly as it is."
    if kind == _TOTALS:
        return (
            f"{kept} Run `{REPAIR_COMMAND}` to rebuild the totals from the sessions (it keeps "
            "a dated backup of the file first), or correct the totals in a text editor."
        )
    if kind == _MONEY_TOTAL:
        return (
            f"{kept} Correct total_cost_usd in a text editor (keep a copy first; write the "
            'amount as a number such as 0.024 or a quoted decimal such as "0.024"), or run '
            f"`{REPAIR_COMMAND} --reset-corrupt`, which keeps a dated backup of the file and "
            "then sets the total cost to the sum of the sessions' costs, dropping the recorded "
            "total (it stays only in the backup)."
        )
    if kind == _SESSIONS:
        return (
            f"{kept} Correct it in a text editor (keep a copy first), or run "
            f"`{REPAIR_COMMAND} --reset-corrupt`, which keeps a dated backup of the file and "
            "then drops the unreadable sessions from the ledger, keeping the rest."
        )
    return (
        f"{kept} Correct it in a text editor (keep a copy first), or run "
        f"`{REPAIR_COMMAND} --reset-corrupt`, which moves the unreadable file to a dated "
        "backup and starts a new, empty ledger (what the old file recorded stays in the backup)."
    )


def _corrupt(path: Path, problem: str, kind: str = _FILE) -> LedgerCorruptError:
    return LedgerCorruptError(f"The cost ledger {path} {problem}. {_fix_text(kind)}")


# --- Ledger data ------------------------------------------------------------------------------


def _money(value: int | Decimal | str) -> Decimal:
    amount = parse_money(value)
    if amount is None:
        raise ValueError(f"not an amount of money: {value!r}")
    return amount


def _sums(sessions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    listed = list(sessions)
    return {
        "total_input_tokens": sum(s["input_tokens"] for s in listed),
        "total_output_tokens": sum(s["output_tokens"] for s in listed),
        "total_cost_usd": usd_sum(_money(s["cost_usd"]) for s in listed),
        "total_api_calls": sum(s["api_calls"] for s in listed),
        "total_cache_creation_input_tokens": sum(
            s.get("cache_creation_input_tokens", 0) for s in listed
        ),
        "total_cache_read_input_tokens": sum(s.get("cache_read_input_tokens", 0) for s in listed),
    }


def _with_totals(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with every total recomputed from its sessions, keys in a stable order."""
    sessions = list(data["sessions"])
    ordered: dict[str, Any] = dict(_sums(sessions))
    ordered["schema_version"] = max(SCHEMA_VERSION, _int_or(data.get("schema_version"), 0))
    ordered["updated"] = data.get("updated", now_local())
    for key, value in data.items():
        if key not in ordered and key != "sessions":
            ordered[key] = value  # keys a newer scenewright added survive our rewrite
    ordered["sessions"] = sessions
    return ordered


def _int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Make the stored totals equal the sums over sessions without losing any money.

    A ledger written by the original tool may hold totals above what its sessions list
    (sessions pruned, or edited by hand). That difference was spent, so it becomes one
    ``legacy-unitemized`` session instead of vanishing. Totals below the sessions' sums are
    simply wrong, and the itemised sessions win.
    """
    sessions: list[dict[str, Any]] = data["sessions"]
    sums = _sums(sessions)
    extra_in = data["total_input_tokens"] - sums["total_input_tokens"]
    extra_out = data["total_output_tokens"] - sums["total_output_tokens"]
    extra_cost = usd_sum([_money(data["total_cost_usd"]), -sums["total_cost_usd"]])
    if extra_in > 0 or extra_out > 0 or extra_cost > 0:
        legacy = next((s for s in sessions if s.get("session_id") == LEGACY_SESSION_ID), None)
        if legacy is None:
            earliest = min((s["timestamp"] for s in sessions), default=now_local())
            legacy = {
                "timestamp": earliest,
                "session_name": "(earlier usage, not itemised)",
                "input_tokens": 0,
                "output_tokens": 0,
                "api_calls": 0,
                "cost_usd": Decimal(0),
                "session_id": LEGACY_SESSION_ID,
                "status": "legacy",
            }
            sessions.insert(0, legacy)
        legacy["input_tokens"] += max(0, extra_in)
        legacy["output_tokens"] += max(0, extra_out)
        legacy["cost_usd"] = usd_sum([_money(legacy["cost_usd"]), max(Decimal(0), extra_cost)])
    return _with_totals(data)


def _empty() -> dict[str, Any]:
    return _with_totals(
        {"total_input_tokens": 0, "total_output_tokens": 0, "total_cost_usd": 0, "sessions": []}
    )


def _parse(path: Path, raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8-sig")  # -sig: a file saved by Windows Notepad starts with a BOM
    except UnicodeDecodeError as error:
        raise _corrupt(path, f"is not UTF-8 text (bad byte at offset {error.start})") from None
    if not text.strip():
        raise _corrupt(path, "is empty")
    try:
        return loads_json(text)
    except simplejson.JSONDecodeError as error:
        raise _corrupt(
            path, f"is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    except (ValueError, RecursionError) as error:
        raise _corrupt(path, f"is not valid JSON ({type(error).__name__})") from None


def _validated(path: Path, data: Any) -> dict[str, Any]:
    problem = _top_problem(data)
    # With a list of sessions present, a top-level problem is in the totals, which
    # `costs repair` recomputes; without one, nothing in the file can be trusted.
    kind = _TOTALS if isinstance(data, dict) and isinstance(data.get("sessions"), list) else _FILE
    if problem is None:
        kind = _SESSIONS
        for index, session in enumerate(data["sessions"]):
            problem = _session_problem(session, index)
            if problem:
                break
    if problem is None:
        problem = _duplicate_problem(data["sessions"])
    if problem is not None:
        if kind == _TOTALS and "total_cost_usd" in data and not _is_money(data["total_cost_usd"]):
            kind = _MONEY_TOTAL
        raise _corrupt(path, problem, kind)
    result: dict[str, Any] = data
    # Money written as a quoted decimal string is read as the exact Decimal it spells.
    result["total_cost_usd"] = _money(result["total_cost_usd"])
    for session in result["sessions"]:
        session["cost_usd"] = _money(session["cost_usd"])
        models = session.get("models")
        if isinstance(models, dict):
            for per in models.values():
                if isinstance(per, dict) and isinstance(per.get("cost_usd"), str):
                    amount = parse_money(per["cost_usd"])
                    if amount is not None:
                        per["cost_usd"] = amount
    return result


# --- The ledger -------------------------------------------------------------------------------


class Ledger:
    """``haiku_usage.json`` in a cost folder, read freely and written under a lock."""

    def __init__(
        self, costs_dir: str | os.PathLike[str] | None = None, *, lock_timeout: float | None = None
    ) -> None:
        self.costs_dir = Path(costs_dir) if costs_dir is not None else config.costs_dir()
        self.path = self.costs_dir / config.LEDGER_FILENAME
        self.lock_path = self.costs_dir / f"{config.LEDGER_FILENAME}.lock"
        self.lock_timeout = (
            config.LEDGER_LOCK_TIMEOUT_SECONDS if lock_timeout is None else lock_timeout
        )

    def _read_bytes(self) -> bytes | None:
        deadline = time.monotonic() + REPLACE_RETRY_SECONDS
        while True:
            try:
                return self.path.read_bytes()
            except FileNotFoundError:
                return None
            except PermissionError as error:
                # On Windows a file that another process is replacing is briefly unopenable.
                if os.name != "nt" or time.monotonic() > deadline:
                    raise self._unreadable(error) from error
                time.sleep(0.05)
            except OSError as error:
                blocked = _costs_dir_is_a_file(self.costs_dir)
                raise (blocked or self._unreadable(error)) from error

    def _unreadable(self, error: OSError) -> LedgerError:
        return LedgerError(
            f"Cannot read the cost ledger {self.path}: {error.strerror or error}. "
            "Check that it is a file and that you may read it."
        )

    def read(self) -> dict[str, Any]:
        """The ledger, validated, with totals equal to the sums over sessions.

        A missing file is an empty ledger. Reading takes no lock: writers replace the file
        atomically, so a reader always sees one complete version.
        """
        raw = self._read_bytes()
        if raw is None:
            return _empty()
        return _normalize(_validated(self.path, _parse(self.path, raw)))

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        ensure_costs_dir(self.costs_dir)
        lock = filelock.FileLock(
            str(self.lock_path), timeout=self.lock_timeout, mode=PRIVATE_FILE_MODE
        )
        try:
            lock.acquire()
        except filelock.Timeout:
            raise LedgerLockError(
                f"Another scenewright process has held the cost ledger lock {self.lock_path} "
                f"for over {self.lock_timeout:g} seconds. Wait for the other run to finish and "
                "try again; if no other scenewright is running, delete that lock file."
            ) from None
        except OSError as error:
            raise LedgerError(
                f"Cannot lock the cost ledger ({self.lock_path}): {error.strerror or error}. "
                "Make sure the cost folder is writable."
            ) from error
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        """Hold the lock, read the ledger, and let the caller change and ``commit()`` it.

        Nothing is written unless ``commit()`` is called; a corrupt ledger raises before the
        caller sees it and stays untouched.
        """
        with self._lock():
            yield LedgerTransaction(self, self.read())

    def _write(self, data: dict[str, Any]) -> dict[str, Any]:
        data = _with_totals({**data, "updated": now_local()})
        total = data["total_cost_usd"]
        if not _is_money(total):
            # Never write a total that the reader would reject as damage.
            raise LedgerError(
                f"Cannot write the cost ledger {self.path}: its total cost would be "
                f"{format_usd(total)} USD, {_money_problem(total)}"
                ", which the ledger does not hold. The previous ledger is unchanged; check the "
                "sessions' cost_usd values in it and correct the one that is wrong."
            )
        try:
            atomic_write_text(self.path, dumps_json(data, pretty=True) + "\n")
        except OSError as error:
            raise LedgerError(
                f"Cannot write the cost ledger {self.path}: {error.strerror or error}. The "
                "previous ledger is unchanged. Free some disk space or make the folder "
                "writable; calls already made are kept in the session journal and are added "
                "to the ledger by the next run."
            ) from error
        return data

    def upsert_session(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Add a session, or replace the one with the same ``session_id``; returns the ledger."""
        entry = dict(entry)
        problem = _session_problem(entry, 0)
        if problem is not None or not entry.get("session_id"):
            raise ValueError(f"not a valid session entry: {problem or 'no session_id'}")
        with self.transaction() as txn:
            txn.upsert(entry)
            return txn.commit()

    def sessions(self) -> list[dict[str, Any]]:
        sessions: list[dict[str, Any]] = self.read()["sessions"]
        return sessions

    def find(self, session_id: str) -> dict[str, Any] | None:
        return next((s for s in self.sessions() if s.get("session_id") == session_id), None)


@dataclass
class LedgerTransaction:
    """The ledger as read under the lock; ``commit()`` writes it back atomically."""

    ledger: Ledger
    data: dict[str, Any]

    @property
    def sessions(self) -> list[dict[str, Any]]:
        sessions: list[dict[str, Any]] = self.data["sessions"]
        return sessions

    def find(self, session_id: str) -> dict[str, Any] | None:
        return next((s for s in self.sessions if s.get("session_id") == session_id), None)

    def upsert(self, entry: dict[str, Any]) -> None:
        sessions = self.sessions
        for index, session in enumerate(sessions):
            if session.get("session_id") == entry["session_id"]:
                sessions[index] = entry
                return
        sessions.append(entry)

    def commit(self) -> dict[str, Any]:
        self.data = self.ledger._write(self.data)
        return self.data


# --- Calls and sessions -----------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecord:
    """One priced API call as journaled and archived: token counts and money, no text."""

    seq: int
    timestamp: str
    model: str
    response_id: str | None
    input_tokens: int
    output_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_read_tokens: int
    batch: bool
    long_context: bool
    price_table_version: str
    cost_usd: Decimal

    @property
    def cache_creation_input_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "call",
            "seq": self.seq,
            "timestamp": self.timestamp,
            "model": self.model,
            "response_id": self.response_id,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_write_5m_tokens": self.cache_write_5m_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "cache_read_input_tokens": self.cache_read_tokens,
            "batch": self.batch,
            "long_context": self.long_context,
            "price_table_version": self.price_table_version,
            "cost_usd": self.cost_usd,
        }

    @classmethod
    def from_json(cls, data: object) -> CallRecord:
        """Rebuild a record; :class:`ValueError` if anything is missing or of the wrong type."""
        if not isinstance(data, dict) or data.get("type") != "call":
            raise ValueError("not a call record")
        counts: dict[str, int] = {}
        for key in (
            "seq",
            "input_tokens",
            "output_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "cache_read_input_tokens",
        ):
            if not _is_count(data.get(key)):
                raise ValueError(f"bad {key}")
            counts[key] = data[key]
        for key in ("timestamp", "model", "price_table_version"):
            if not isinstance(data.get(key), str):
                raise ValueError(f"bad {key}")
        response_id = data.get("response_id")
        if response_id is not None and not isinstance(response_id, str):
            raise ValueError("bad response_id")
        if not isinstance(data.get("batch"), bool) or not isinstance(
            data.get("long_context"), bool
        ):
            raise ValueError("bad flags")
        if not _is_money(data.get("cost_usd")):
            raise ValueError("bad cost_usd")
        return cls(
            seq=counts["seq"],
            timestamp=data["timestamp"],
            model=data["model"],
            response_id=response_id,
            input_tokens=counts["input_tokens"],
            output_tokens=counts["output_tokens"],
            cache_write_5m_tokens=counts["cache_write_5m_tokens"],
            cache_write_1h_tokens=counts["cache_write_1h_tokens"],
            cache_read_tokens=counts["cache_read_input_tokens"],
            batch=data["batch"],
            long_context=data["long_context"],
            price_table_version=data["price_table_version"],
            cost_usd=_money(data["cost_usd"]),
        )


def build_session_entry(
    *,
    session_id: str,
    session_name: str,
    timestamp: str,
    calls: Iterable[CallRecord],
    status: str,
) -> dict[str, Any]:
    """A ledger session: the document's keys, then totals per model and cache tokens."""
    listed = list(calls)
    models: dict[str, dict[str, Any]] = {}
    for call in listed:
        per = models.setdefault(
            call.model,
            {
                "api_calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "cost_usd": Decimal(0),
            },
        )
        per["api_calls"] += 1
        per["input_tokens"] += call.input_tokens
        per["output_tokens"] += call.output_tokens
        per["cache_creation_input_tokens"] += call.cache_creation_input_tokens
        per["cache_read_input_tokens"] += call.cache_read_tokens
        per["cost_usd"] = usd_sum([per["cost_usd"], call.cost_usd])
    return {
        "timestamp": timestamp,
        "session_name": session_name,
        "input_tokens": sum(c.input_tokens for c in listed),
        "output_tokens": sum(c.output_tokens for c in listed),
        "api_calls": len(listed),
        "cost_usd": usd_sum(c.cost_usd for c in listed),
        "session_id": session_id,
        "status": status,
        "updated": now_local(),
        "cache_creation_input_tokens": sum(c.cache_creation_input_tokens for c in listed),
        "cache_read_input_tokens": sum(c.cache_read_tokens for c in listed),
        "batch_api_calls": sum(1 for c in listed if c.batch),
        "models": models,
        "price_table_versions": sorted({c.price_table_version for c in listed}),
        "calls_file": f"{CALLS_DIR_NAME}/{session_id}{JOURNAL_SUFFIX}",
    }


# --- Journals ---------------------------------------------------------------------------------


def _process_create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


class SessionJournal:
    """Append-only, fsynced record of one running session's calls.

    The file is created on the first call, so a session that makes none leaves nothing.
    """

    def __init__(self, costs_dir: Path, session_id: str, header: Mapping[str, Any]) -> None:
        self.costs_dir = costs_dir
        self.session_id = session_id
        self.pid = os.getpid()
        self.path = costs_dir / f"{JOURNAL_PREFIX}{session_id}-{self.pid}{JOURNAL_SUFFIX}"
        self.archive_path = costs_dir / CALLS_DIR_NAME / f"{session_id}{JOURNAL_SUFFIX}"
        self._header = {
            "type": "session",
            **header,
            "session_id": session_id,
            "pid": self.pid,
            "pid_create_time": _process_create_time(self.pid),
        }
        self._fd: int | None = None
        self._torn = False
        self._header_written = False

    @property
    def exists(self) -> bool:
        return self._fd is not None or self.path.exists()

    def append(self, record: CallRecord) -> None:
        """Write the record and fsync it before returning; raises :class:`OSError`."""
        text = dumps_json(record.to_json(), pretty=False) + "\n"
        created = False
        if self._fd is None:
            ensure_costs_dir(self.costs_dir)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
            self._fd = os.open(self.path, flags, PRIVATE_FILE_MODE)
            created = True
        if not self._header_written:
            text = dumps_json(self._header, pretty=False) + "\n" + text
        if self._torn:
            # A write that failed half-way may have left a partial line: end it, so that it
            # costs only itself and not this record too.
            text = "\n" + text
        data = text.encode("utf-8")
        try:
            # One write per call, so a crash leaves whole lines or at worst one torn last line.
            while data:
                data = data[os.write(self._fd, data) :]
            os.fsync(self._fd)
        except OSError:
            self._torn = True
            raise
        self._torn = False
        self._header_written = True
        if created:
            fsync_dir(self.costs_dir)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def archive(self) -> None:
        """Close, and move the journal to ``calls/`` as the session's per-call record."""
        self.close()
        _archive_journal(self.path, self.archive_path)


def _archive_journal(journal: Path, target: Path) -> None:
    if not journal.exists():
        return
    target.parent.mkdir(mode=_PRIVATE_DIR, exist_ok=True)
    replace_file(journal, target)
    fsync_dir(target.parent)
    fsync_dir(journal.parent)


def _journal_pid(path: Path) -> int | None:
    stem = path.name[len(JOURNAL_PREFIX) : -len(JOURNAL_SUFFIX)]
    _, _, pid = stem.rpartition("-")
    return int(pid) if pid.isdigit() else None


@dataclass
class _JournalContents:
    header: dict[str, Any]
    calls: list[CallRecord]
    bad_lines: int


def _read_journal(path: Path) -> _JournalContents:
    header: dict[str, Any] = {}
    calls: list[CallRecord] = []
    seen: set[str] = set()
    bad = 0
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            data = loads_json(line.decode("utf-8"))
        except (ValueError, RecursionError):
            bad += 1  # at worst the torn last line of a killed process
            continue
        if isinstance(data, dict) and data.get("type") == "session" and not header:
            header = data
            continue
        try:
            call = CallRecord.from_json(data)
        except ValueError:
            bad += 1
            continue
        if call.response_id is not None:
            if call.response_id in seen:
                continue
            seen.add(call.response_id)
        calls.append(call)
    return _JournalContents(header, calls, bad)


def _owner_alive(path: Path) -> bool:
    """Whether the process that writes this journal still runs (then it is not an orphan)."""
    pid = _journal_pid(path)
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        started = float(process.create_time())
    except psutil.NoSuchProcess:
        return False
    except (psutil.Error, OSError):
        return True  # cannot tell: leaving the journal for later never loses a call
    try:
        with path.open("rb") as handle:
            first = loads_json(handle.readline().decode("utf-8"))
        recorded = first.get("pid_create_time") if isinstance(first, dict) else None
    except (OSError, ValueError, RecursionError):
        recorded = None
    if not isinstance(recorded, (int, float, Decimal)) or isinstance(recorded, bool):
        return True
    # The same pid with another start time is a different process: the owner is gone.
    return abs(started - float(recorded)) <= _CREATE_TIME_TOLERANCE_S


@dataclass(frozen=True)
class FoldedSession:
    """One orphaned journal folded into the ledger."""

    session_id: str
    session_name: str
    timestamp: str
    api_calls: int
    cost_usd: Decimal
    added_calls: int
    added_cost_usd: Decimal
    bad_lines: int
    journal: Path


def fold_orphaned_journals(costs_dir: str | os.PathLike[str] | None = None) -> list[FoldedSession]:
    """Add the calls of sessions whose process died before saving them to the ledger.

    A journal whose process still runs (same pid and same start time) is left alone. A
    session already in the ledger with at least as many calls is left as it is; otherwise
    it is replaced by the journal's calls and marked ``"interrupted"``. Folding the same
    journal twice changes nothing. Journals are moved to ``calls/`` once folded.
    """
    folder = Path(costs_dir) if costs_dir is not None else config.costs_dir()
    if not folder.is_dir():
        return []
    journals = sorted(folder.glob(f"{JOURNAL_PREFIX}*{JOURNAL_SUFFIX}"))
    orphans = [path for path in journals if not _owner_alive(path)]
    if not orphans:
        return []
    folded: list[FoldedSession] = []
    ledger = Ledger(folder)
    with ledger.transaction() as txn:
        to_archive: list[tuple[Path, Path | None]] = []
        for path in orphans:
            try:
                contents = _read_journal(path)
            except OSError:
                continue  # gone (another process folded it) or unreadable: try next time
            header = contents.header
            stem = path.name[len(JOURNAL_PREFIX) : -len(JOURNAL_SUFFIX)]
            session_id = header.get("session_id")
            if not isinstance(session_id, str) or not session_id:
                session_id = stem.rpartition("-")[0] or stem
            if not contents.calls:
                # Nothing billable in it; an empty file is simply removed.
                empty = path.stat().st_size == 0
                to_archive.append((path, None if empty else folder / CALLS_DIR_NAME / path.name))
                continue
            name = header.get("session_name")
            timestamp = header.get("timestamp")
            entry = build_session_entry(
                session_id=session_id,
                session_name=name if isinstance(name, str) else "(unnamed session)",
                timestamp=timestamp if isinstance(timestamp, str) else now_local(),
                calls=contents.calls,
                status="interrupted",
            )
            existing = txn.find(session_id)
            known_calls = existing["api_calls"] if existing else 0
            known_cost = _money(existing["cost_usd"]) if existing else Decimal(0)
            if existing is None or known_calls < entry["api_calls"]:
                txn.upsert(entry)
                added_calls = entry["api_calls"] - known_calls
                added_cost = usd_sum([entry["cost_usd"], -known_cost])
            else:
                entry = existing
                added_calls, added_cost = 0, Decimal(0)
            folded.append(
                FoldedSession(
                    session_id=session_id,
                    session_name=entry["session_name"],
                    timestamp=entry["timestamp"],
                    api_calls=entry["api_calls"],
                    cost_usd=_money(entry["cost_usd"]),
                    added_calls=added_calls,
                    added_cost_usd=added_cost,
                    bad_lines=contents.bad_lines,
                    journal=path,
                )
            )
            to_archive.append((path, folder / CALLS_DIR_NAME / f"{session_id}{JOURNAL_SUFFIX}"))
        if any(f.added_calls for f in folded):
            txn.commit()
        for path, target in to_archive:
            with contextlib.suppress(OSError):
                if target is None:
                    path.unlink()
                else:
                    _archive_journal(path, target)
    return folded


# --- Repair -----------------------------------------------------------------------------------


@dataclass
class RepairReport:
    """What :func:`repair_ledger` found and did."""

    path: Path
    existed: bool = True
    sessions_kept: int = 0
    sessions_set_aside: list[str] = field(default_factory=list)
    backup: Path | None = None
    old_totals: tuple[int, int, Decimal] | None = None
    new_totals: tuple[int, int, Decimal] = (0, 0, Decimal(0))
    changed: bool = False

    def lines(self) -> list[str]:
        if not self.existed:
            return [f"There is no cost ledger at {self.path} yet; nothing to repair."]
        out = [f"Cost ledger: {self.path}"]
        if self.sessions_set_aside:
            out.append(f"Set aside {len(self.sessions_set_aside)} unreadable part(s):")
            out.extend(f"  {problem}" for problem in self.sessions_set_aside)
        if self.backup is not None:
            out.append(f"The previous file is kept as {self.backup}")
        out.append(f"Sessions: {self.sessions_kept}")
        if self.old_totals is not None and self.old_totals != self.new_totals:
            out.append(f"Totals were: {_format_totals(self.old_totals)}")
        out.append(f"Totals: {_format_totals(self.new_totals)}")
        if not self.changed:
            out.append("The ledger was already consistent; nothing was changed.")
        return out


def _format_totals(totals: tuple[int, int, Decimal]) -> str:
    tokens_in, tokens_out, cost = totals
    return f"{tokens_in:,} input tokens, {tokens_out:,} output tokens, {format_usd(cost)} USD"


def _totals_of(data: Mapping[str, Any]) -> tuple[int, int, Decimal]:
    return (
        data["total_input_tokens"],
        data["total_output_tokens"],
        _money(data["total_cost_usd"]),
    )


def _backup_path(path: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    candidate = path.with_name(f"{path.stem}.backup-{stamp}{path.suffix}")
    counter = 1
    while candidate.exists():
        counter += 1
        candidate = path.with_name(f"{path.stem}.backup-{stamp}-{counter}{path.suffix}")
    return candidate


def repair_ledger(
    costs_dir: str | os.PathLike[str] | None = None, *, reset_corrupt: bool = False
) -> RepairReport:
    """Rebuild the ledger's totals from its sessions.

    Totals that are missing, malformed or below the sessions' sums are recomputed; totals
    above them are kept as the ``legacy-unitemized`` session, as on every read, because that
    money was spent. Sessions that cannot be read, or a file that is not a ledger at all, make
    this raise :class:`LedgerCorruptError` unless ``reset_corrupt`` is true: then the readable
    sessions are kept and the rest stays only in the backup. Whenever the file changes, the
    previous version is first copied to ``haiku_usage.backup-<time>.json``.
    """
    ledger = Ledger(costs_dir)
    report = RepairReport(ledger.path)
    blocked = _costs_dir_is_a_file(ledger.costs_dir)
    if blocked is not None:
        raise blocked
    if not ledger.path.exists():
        report.existed = False
        return report
    with ledger._lock():
        raw = ledger._read_bytes()
        if raw is None:
            report.existed = False
            return report
        unparsable = False  # not `data is None`: a file holding JSON null parses to None
        try:
            data: Any = _parse(ledger.path, raw)
        except LedgerCorruptError as error:
            if not reset_corrupt:
                raise
            data, unparsable = None, True
            report.sessions_set_aside.append(f"the whole file: {error}".split(". ")[0])
        sessions: list[dict[str, Any]] = []
        if isinstance(data, dict) and isinstance(data.get("sessions"), list):
            seen: set[str] = set()
            for index, session in enumerate(data["sessions"]):
                problem = _session_problem(session, index)
                if problem is None and session.get("session_id") in seen:
                    problem = f"sessions[{index}] repeats session_id {session['session_id']!r}"
                if problem is not None:
                    report.sessions_set_aside.append(problem)
                    continue
                if "session_id" in session:
                    seen.add(session["session_id"])
                sessions.append(session)
            if report.sessions_set_aside and not reset_corrupt:
                raise _corrupt(ledger.path, report.sessions_set_aside[0], _SESSIONS)
        elif not unparsable:
            problem = _top_problem(data) or "has no list of sessions"
            if not reset_corrupt:
                raise _corrupt(ledger.path, problem)
            report.sessions_set_aside.append(f"the whole file: it {problem}")
        extra: dict[str, Any] = dict(data) if isinstance(data, dict) else {}
        # A malformed total is recomputed; a valid one is kept, so that money the sessions
        # do not itemise survives as the legacy session.
        for key in _TOP_INTS:
            if not _is_count(extra.get(key)):
                extra[key] = 0
        if "total_cost_usd" in extra and not _is_money(extra["total_cost_usd"]):
            # Never dropped silently: it may hold money that the sessions do not itemise.
            value = extra["total_cost_usd"]
            problem = f"has total_cost_usd = {_describe(value)}, {_money_problem(value)}"
            if not reset_corrupt:
                raise _corrupt(ledger.path, problem, _MONEY_TOTAL)
            report.sessions_set_aside.append(
                f"total_cost_usd = {_describe(value)} ({_money_problem(value)}): dropped; "
                "the total cost is now the sum of the sessions' costs"
            )
        if not _is_money(extra.get("total_cost_usd")):
            extra["total_cost_usd"] = 0
        if isinstance(data, dict) and _top_problem({**data, "sessions": []}) is None:
            report.old_totals = _totals_of(data)
        for key in _TOP_EXTRA_INTS:
            extra.pop(key, None)
        rebuilt = _normalize({**extra, "sessions": sessions})
        report.sessions_kept = len(rebuilt["sessions"])
        report.new_totals = _totals_of(rebuilt)
        report.changed = (
            bool(report.sessions_set_aside)
            or not isinstance(data, dict)
            or any(
                data.get(key) != rebuilt[key]
                for key in rebuilt
                if key not in ("updated", "sessions", "schema_version")
            )
            or len(data["sessions"]) != len(rebuilt["sessions"])
        )
        if report.changed:
            report.backup = _backup_path(ledger.path)
            try:
                shutil.copy2(ledger.path, report.backup)
                if os.name == "posix":
                    report.backup.chmod(PRIVATE_FILE_MODE)
            except OSError as error:
                raise LedgerError(
                    f"Cannot copy {ledger.path} to {report.backup} before repairing it: "
                    f"{error.strerror or error}. Nothing was changed."
                ) from error
            ledger._write(rebuilt)
    return report
