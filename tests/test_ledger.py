from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import filelock
import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenewright import config
from scenewright.errors import LedgerCorruptError, LedgerError, LedgerLockError
from scenewright.ledger import (
    LEGACY_SESSION_ID,
    CallRecord,
    Ledger,
    build_session_entry,
    fold_orphaned_journals,
    repair_ledger,
)

# The design document's example ledger, byte for byte.
DOCUMENT_LEDGER = """\
{
  "total_input_tokens": 15000,
  "total_output_tokens": 3000,
  "total_cost_usd": 0.024,
  "sessions": [
    {
      "timestamp": "2024-01-15T14:30:00",
      "session_name": "generate_images_chapters_1",
      "input_tokens": 5000,
      "output_tokens": 1000,
      "api_calls": 10,
      "cost_usd": 0.008
    }
  ]
}
"""

SRC = str(Path(__file__).resolve().parents[1] / "src")


def call(seq: int, cost: str = "0.001", **kw: Any) -> CallRecord:
    fields: dict[str, Any] = {
        "seq": seq,
        "timestamp": "2026-12-03T10:00:00",
        "model": config.DEFAULT_HAIKU_MODEL,
        "response_id": f"msg_{seq}",
        "input_tokens": 500,
        "output_tokens": 100,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "cache_read_tokens": 0,
        "batch": False,
        "long_context": False,
        "price_table_version": config.PRICE_TABLE_VERSION,
        "cost_usd": Decimal(cost),
    }
    fields.update(kw)
    return CallRecord(**fields)


def entry(session_id: str, calls: int = 2, cost: str = "0.001", name: str = "s") -> dict[str, Any]:
    return build_session_entry(
        session_id=session_id,
        session_name=name,
        timestamp="2026-12-03T10:00:00",
        calls=[call(i + 1, cost) for i in range(calls)],
        status="complete",
    )


def child_env(costs_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SCENEWRIGHT_COSTS_DIR"] = str(costs_dir)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ANTHROPIC_API_KEY", None)
    return env


def test_missing_ledger_is_empty(costs_dir: Path) -> None:
    data = Ledger().read()
    assert data["sessions"] == []
    assert (data["total_input_tokens"], data["total_output_tokens"]) == (0, 0)
    assert data["total_cost_usd"] == 0
    assert not (costs_dir / config.LEDGER_FILENAME).exists()


def test_write_creates_private_folder_gitignore_and_no_temp_files(tmp_path: Path) -> None:
    folder = tmp_path / "new" / ".costs"
    ledger = Ledger(folder)
    ledger.upsert_session(entry("a"))
    assert (folder / ".gitignore").read_text(encoding="utf-8").strip() == "*"
    assert sorted(p.name for p in folder.iterdir()) == [
        ".gitignore",
        "haiku_usage.json",
        "haiku_usage.json.lock",
    ]
    if os.name == "posix":
        assert (folder / "haiku_usage.json").stat().st_mode & 0o777 == 0o600
        assert folder.stat().st_mode & 0o777 == 0o700


def test_costs_dir_follows_the_environment(costs_dir: Path) -> None:
    assert Ledger().path == costs_dir / "haiku_usage.json"
    assert config.ledger_path() == costs_dir / "haiku_usage.json"


def test_document_format_reads_and_keeps_unitemised_money(costs_dir: Path) -> None:
    path = costs_dir / config.LEDGER_FILENAME
    path.write_text(DOCUMENT_LEDGER, encoding="utf-8")
    data = Ledger().read()
    assert (data["total_input_tokens"], data["total_output_tokens"]) == (15000, 3000)
    assert data["total_cost_usd"] == Decimal("0.024")
    assert path.read_text(encoding="utf-8") == DOCUMENT_LEDGER  # reading never rewrites

    Ledger().upsert_session(entry("new", calls=1, cost="0.001"))
    written = json.loads(path.read_text(encoding="utf-8"))
    for key in ("total_input_tokens", "total_output_tokens", "total_cost_usd", "sessions"):
        assert key in written
    sessions = written["sessions"]
    assert [s.get("session_id") for s in sessions] == [LEGACY_SESSION_ID, None, "new"]
    legacy = sessions[0]
    assert (legacy["input_tokens"], legacy["output_tokens"]) == (10000, 2000)
    assert sessions[1]["session_name"] == "generate_images_chapters_1"
    assert written["total_input_tokens"] == 15500
    assert written["total_output_tokens"] == 3100
    assert Ledger().read()["total_cost_usd"] == Decimal("0.025")
    assert sum(s["input_tokens"] for s in sessions) == written["total_input_tokens"]


def test_float_costs_are_read_exactly(costs_dir: Path) -> None:
    doc = json.loads(DOCUMENT_LEDGER)
    doc["sessions"][0]["cost_usd"] = 0.1 + 0.2  # written by the original tool as a float
    doc["total_cost_usd"] = 0.1 + 0.2
    doc["total_input_tokens"], doc["total_output_tokens"] = 5000, 1000
    (costs_dir / config.LEDGER_FILENAME).write_text(json.dumps(doc), encoding="utf-8")
    assert Ledger().read()["total_cost_usd"] == Decimal("0.30000000000000004")


def test_byte_order_mark_from_notepad_is_accepted(costs_dir: Path) -> None:
    (costs_dir / config.LEDGER_FILENAME).write_bytes(
        b"\xef\xbb\xbf" + DOCUMENT_LEDGER.encode("utf-8")
    )
    assert Ledger().read()["total_input_tokens"] == 15000


CORRUPT = {
    "not json": (b"{ this is not json", "not valid JSON (line 1"),
    "empty": (b"", "is empty"),
    "truncated": (DOCUMENT_LEDGER[:80].encode(), "not valid JSON"),
    "binary": (bytes(range(256)), "not UTF-8"),
    "list": (b"[]", "instead of an object"),
    "null": (b"null", "holds null instead of an object"),
    "true": (b"true", "holds true instead of an object"),
    "no sessions": (
        b'{"total_input_tokens":0,"total_output_tokens":0,"total_cost_usd":0}',
        "'sessions'",
    ),
    "negative": (
        DOCUMENT_LEDGER.replace('"input_tokens": 5000', '"input_tokens": -5').encode(),
        "sessions[0].input_tokens is -5",
    ),
    "bool": (
        DOCUMENT_LEDGER.replace('"api_calls": 10', '"api_calls": true').encode(),
        "api_calls is true, not a whole number",
    ),
    "null cost": (
        DOCUMENT_LEDGER.replace('"cost_usd": 0.008', '"cost_usd": null').encode(),
        "cost_usd is null,",
    ),
    "string cost": (
        DOCUMENT_LEDGER.replace('"cost_usd": 0.008', '"cost_usd": "eight cents"').encode(),
        "cost_usd",
    ),
    "nan": (DOCUMENT_LEDGER.replace("0.024", "NaN").encode(), "not valid JSON"),
    "float tokens": (
        DOCUMENT_LEDGER.replace(
            '"total_output_tokens": 3000', '"total_output_tokens": 3000.5'
        ).encode(),
        "total_output_tokens",
    ),
    "absurd cost": (
        DOCUMENT_LEDGER.replace("0.008", "1e400").encode(),
        "sessions[0].cost_usd is Decimal('1E+400'), too large (over $1,000,000,000,000)",
    ),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    "huge int": (
        DOCUMENT_LEDGER.replace("15000", "1" * 5000).encode(),
        "not valid JSON",
    ),
    "session not object": (
        b'{"total_input_tokens":0,"total_output_tokens":0,"total_cost_usd":0,"sessions":[1]}',
        "sessions[0] is 1",
    ),
    "duplicate ids": (
        json.dumps(
            {
                "total_input_tokens": 0,
                "total_output_tokens": 0,
                "total_cost_usd": 0,
                "sessions": [
                    {
                        "timestamp": "t",
                        "session_name": "n",
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "api_calls": 0,
                        "cost_usd": 0,
                        "session_id": "x",
                    }
                ]
                * 2,
            }
        ).encode(),
        "two sessions with session_id 'x'",
    ),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_ledger_is_reported_and_left_untouched(costs_dir: Path, name: str) -> None:
    content, expected = CORRUPT[name]
    path = costs_dir / config.LEDGER_FILENAME
    path.write_bytes(content)
    for attempt in (Ledger().read, lambda: Ledger().upsert_session(entry("a"))):
        with pytest.raises(LedgerCorruptError) as caught:
            attempt()
        message = str(caught.value)
        assert str(path) in message
        assert expected in message
        assert "`scenewright costs repair" in message
        assert "cost_tracker --repair" not in message
    assert path.read_bytes() == content
    assert sorted(p.name for p in costs_dir.iterdir() if not p.name.startswith(".")) == [
        "haiku_usage.json",
        "haiku_usage.json.lock",
    ]


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_the_fix_a_corrupt_ledger_message_names_works(costs_dir: Path, name: str) -> None:
    # The message once said to run `--repair`, which refuses an unreadable file with the
    # same message: it must name only a command that then succeeds.
    content, _ = CORRUPT[name]
    path = costs_dir / config.LEDGER_FILENAME
    path.write_bytes(content)
    with pytest.raises(LedgerCorruptError) as caught:
        Ledger().read()
    message = str(caught.value)
    if "--reset-corrupt" in message:
        assert "text editor" in message
        with pytest.raises(LedgerCorruptError) as again:
            repair_ledger()  # plain repair never drops data: the flag is needed
        assert "--reset-corrupt" in str(again.value)
        report = repair_ledger(reset_corrupt=True)
    else:
        assert "Run `scenewright costs repair` to rebuild the totals" in message
        report = repair_ledger()
    assert report.backup is not None and report.backup.read_bytes() == content
    Ledger().read()  # readable again


def test_unreadable_ledger_path_is_a_ledger_error(costs_dir: Path) -> None:
    (costs_dir / config.LEDGER_FILENAME).mkdir()
    with pytest.raises(LedgerError, match="Cannot read the cost ledger"):
        Ledger().read()


def test_upsert_replaces_the_same_session(costs_dir: Path) -> None:
    ledger = Ledger()
    ledger.upsert_session(entry("a", calls=1))
    ledger.upsert_session(entry("b", calls=1))
    data = ledger.upsert_session(entry("a", calls=3))
    assert [s["session_id"] for s in data["sessions"]] == ["a", "b"]
    assert data["total_api_calls"] == 4
    assert ledger.read()["total_input_tokens"] == 2000


def test_money_is_written_as_plain_exact_numbers(costs_dir: Path) -> None:
    Ledger().upsert_session(entry("a", calls=1, cost="0.00000005"))
    text = (costs_dir / config.LEDGER_FILENAME).read_text(encoding="utf-8")
    assert '"cost_usd": 0.00000005' in text
    assert "E-" not in text
    assert Ledger().read()["total_cost_usd"] == Decimal("0.00000005")


def test_unknown_keys_survive_a_rewrite(costs_dir: Path) -> None:
    doc = json.loads(DOCUMENT_LEDGER)
    doc["from_the_future"] = {"x": 1}
    doc["sessions"][0]["note"] = "kept"
    doc["total_input_tokens"], doc["total_output_tokens"], doc["total_cost_usd"] = 5000, 1000, 0.008
    (costs_dir / config.LEDGER_FILENAME).write_text(json.dumps(doc), encoding="utf-8")
    data = Ledger().upsert_session(entry("a"))
    assert data["from_the_future"] == {"x": 1}
    assert data["sessions"][0]["note"] == "kept"


session_strategy = st.fixed_dictionaries(
    {
        "calls": st.integers(1, 5),
        "cost": st.decimals(min_value=0, max_value=1000, places=12, allow_nan=False),
        "name": st.text(min_size=1, max_size=30),
    }
)


@settings(max_examples=25, deadline=None)
@given(sessions=st.lists(session_strategy, min_size=1, max_size=6))
def test_ledger_round_trip(sessions: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger(folder)
        for index, spec in enumerate(sessions):
            ledger.upsert_session(
                entry(f"s{index}", calls=spec["calls"], cost=str(spec["cost"]), name=spec["name"])
            )
        data = Ledger(folder).read()
        assert [s["session_name"] for s in data["sessions"]] == [s["name"] for s in sessions]
        assert [Decimal(s["cost_usd"]) for s in data["sessions"]] == [
            spec["calls"] * spec["cost"] for spec in sessions
        ]
        assert data["total_cost_usd"] == sum(
            (spec["calls"] * spec["cost"] for spec in sessions), Decimal(0)
        )
        assert data["total_api_calls"] == sum(spec["calls"] for spec in sessions)
        assert data["total_input_tokens"] == 500 * data["total_api_calls"]


def test_lock_timeout_is_a_ledger_lock_error(costs_dir: Path) -> None:
    Ledger().upsert_session(entry("a"))
    held = filelock.FileLock(str(costs_dir / "haiku_usage.json.lock"))
    with held, pytest.raises(LedgerLockError) as caught:
        Ledger(lock_timeout=0.2).upsert_session(entry("b"))
    assert "haiku_usage.json.lock" in str(caught.value)
    assert "delete that lock file" in str(caught.value)
    assert len(Ledger().read()["sessions"]) == 1


WORKER = textwrap.dedent(
    """
    import sys
    from scenewright.cost_tracker import CostTracker
    worker, sessions = int(sys.argv[1]), int(sys.argv[2])
    for n in range(sessions):
        tracker = CostTracker(f"worker{worker}-session{n}", model="claude-3-5-haiku-20241022")
        tracker.add_api_call(input_tokens=550, output_tokens=100)
        tracker.close()  # saves the session
    """
)


@pytest.mark.slow
def test_parallel_processes_never_lose_a_session(costs_dir: Path) -> None:
    workers, sessions = 8, 50  # the figure: 400 sessions, exact totals
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(w), str(sessions)], env=child_env(costs_dir)
        )
        for w in range(workers)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * workers
    data = Ledger().read()
    count = workers * sessions
    assert len(data["sessions"]) == count
    assert len({s["session_id"] for s in data["sessions"]}) == count
    assert data["total_api_calls"] == count
    assert data["total_input_tokens"] == 550 * count
    assert data["total_output_tokens"] == 100 * count
    assert data["total_cost_usd"] == Decimal("0.00084") * count
    assert len(list((costs_dir / "calls").iterdir())) == count
    assert not list(costs_dir.glob("journal-*"))


KILLED = textwrap.dedent(
    """
    import sys, time
    from scenewright.cost_tracker import CostTracker
    tracker = CostTracker("doomed", model="claude-3-5-haiku-20241022")
    for k in range(int(sys.argv[1])):
        tracker.add_api_call(input_tokens=550, output_tokens=100, response_id=f"msg_{k}")
    print("ready", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.slow
def test_killed_process_loses_no_call_and_a_live_one_is_not_taken_over(costs_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, "4"],
        env=child_env(costs_dir),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        assert fold_orphaned_journals() == []  # still running: its journal is its own
        assert len(list(costs_dir.glob("journal-*.jsonl"))) == 1
    finally:
        proc.kill()  # SIGKILL: no finally blocks, no atexit, no save
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    folded = fold_orphaned_journals()
    assert [(f.session_name, f.api_calls, f.added_calls) for f in folded] == [("doomed", 4, 4)]
    assert folded[0].added_cost_usd == Decimal("0.00336")
    data = Ledger().read()
    (session,) = data["sessions"]
    assert session["status"] == "interrupted"
    assert session["api_calls"] == 4
    assert data["total_cost_usd"] == Decimal("0.00336")
    assert not list(costs_dir.glob("journal-*"))
    assert (costs_dir / "calls" / f"{folded[0].session_id}.jsonl").exists()
    assert fold_orphaned_journals() == []  # folding again adds nothing


def write_journal(costs_dir: Path, session_id: str, pid: int, lines: list[str]) -> Path:
    path = costs_dir / f"journal-{session_id}-{pid}.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def header(session_id: str, pid: int, create_time: float | None) -> str:
    return json.dumps(
        {
            "type": "session",
            "session_id": session_id,
            "session_name": "crafted",
            "timestamp": "2026-12-01T09:00:00",
            "pid": pid,
            "pid_create_time": create_time,
        }
    )


def call_line(seq: int, response_id: str | None = None) -> str:
    data = call(seq, "0.00084", response_id=response_id or f"msg_{seq}").to_json()
    data["cost_usd"] = float(data["cost_usd"])
    return json.dumps(data)


def test_reused_pid_is_recognised_by_its_start_time(costs_dir: Path) -> None:
    live = os.getppid()  # alive, but not the process that wrote the journal
    started = psutil.Process(live).create_time()
    write_journal(costs_dir, "mine", live, [header("mine", live, started), call_line(1)])
    write_journal(costs_dir, "reused", live, [header("reused", live, started - 3600), call_line(1)])
    folded = fold_orphaned_journals()
    assert [f.session_id for f in folded] == ["reused"]
    assert (costs_dir / f"journal-mine-{live}.jsonl").exists()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_torn_and_duplicate_lines_in_a_journal(costs_dir: Path) -> None:
    pid = dead_pid()
    write_journal(
        costs_dir,
        "torn",
        pid,
        [
            header("torn", pid, 1.0),
            call_line(1),
            call_line(2),
            call_line(3, response_id="msg_2"),  # the same response twice counts once
            '{"type":"call","seq":4,"timest',  # the process died mid-write
        ],
    )
    (folded,) = fold_orphaned_journals()
    assert (folded.api_calls, folded.bad_lines) == (2, 1)
    assert Ledger().read()["total_cost_usd"] == Decimal("0.00168")


def test_a_saved_session_is_not_counted_again_by_fold(costs_dir: Path) -> None:
    pid = dead_pid()
    calls = [call(1, "0.00084"), call(2, "0.00084")]
    Ledger().upsert_session(
        build_session_entry(
            session_id="done",
            session_name="crafted",
            timestamp="2026-12-01T09:00:00",
            calls=calls,
            status="complete",
        )
    )
    write_journal(costs_dir, "done", pid, [header("done", pid, 1.0), call_line(1), call_line(2)])
    (folded,) = fold_orphaned_journals()
    assert folded.added_calls == 0
    data = Ledger().read()
    assert data["sessions"][0]["status"] == "complete"
    assert data["total_api_calls"] == 2
    assert not list(costs_dir.glob("journal-*"))


def test_fold_with_a_corrupt_ledger_raises_and_keeps_the_journal(costs_dir: Path) -> None:
    pid = dead_pid()
    journal = write_journal(costs_dir, "j", pid, [header("j", pid, 1.0), call_line(1)])
    (costs_dir / config.LEDGER_FILENAME).write_text("{", encoding="utf-8")
    with pytest.raises(LedgerCorruptError):
        fold_orphaned_journals()
    assert journal.exists()
    assert (costs_dir / config.LEDGER_FILENAME).read_text(encoding="utf-8") == "{"


def test_repair_rebuilds_wrong_totals_and_keeps_a_backup(costs_dir: Path) -> None:
    path = costs_dir / config.LEDGER_FILENAME
    doc = json.loads(DOCUMENT_LEDGER)
    doc["total_input_tokens"] = 10  # below the sessions' sums: simply wrong
    doc["total_cost_usd"] = "lots"  # not even a number
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(LedgerCorruptError):
        Ledger().read()
    with pytest.raises(LedgerCorruptError, match=r"total_cost_usd = 'lots'.*--reset-corrupt"):
        repair_ledger()  # the recorded total may hold money: never dropped unasked
    assert json.loads(path.read_text(encoding="utf-8")) == doc
    report = repair_ledger(reset_corrupt=True)
    assert report.changed
    assert any("total_cost_usd = 'lots'" in line for line in report.lines())
    assert report.backup is not None
    assert json.loads(report.backup.read_text(encoding="utf-8")) == doc
    data = Ledger().read()
    assert (data["total_input_tokens"], data["total_output_tokens"]) == (5000, 3000)
    assert data["total_cost_usd"] == Decimal("0.008")
    assert any("Totals:" in line for line in report.lines())
    assert not repair_ledger().changed  # a second repair finds nothing to do


def test_repair_refuses_to_drop_data_unless_asked(costs_dir: Path) -> None:
    path = costs_dir / config.LEDGER_FILENAME
    doc = json.loads(DOCUMENT_LEDGER)
    doc["sessions"].append({"session_name": "broken"})
    original = json.dumps(doc)
    path.write_text(original, encoding="utf-8")
    with pytest.raises(LedgerCorruptError, match=r"sessions\[1\] has no 'timestamp'"):
        repair_ledger()
    assert path.read_text(encoding="utf-8") == original
    report = repair_ledger(reset_corrupt=True)
    assert report.sessions_set_aside == ["sessions[1] has no 'timestamp'"]
    assert report.backup is not None
    assert report.backup.read_text(encoding="utf-8") == original
    data = Ledger().read()
    assert data["total_input_tokens"] == 15000  # the unitemised history is kept
    assert [s["session_name"] for s in data["sessions"]][-1] == "generate_images_chapters_1"


def test_repair_of_an_unreadable_file_moves_it_aside_only_when_asked(costs_dir: Path) -> None:
    path = costs_dir / config.LEDGER_FILENAME
    path.write_bytes(b"\x00garbage")
    with pytest.raises(LedgerCorruptError):
        repair_ledger()
    assert path.read_bytes() == b"\x00garbage"
    report = repair_ledger(reset_corrupt=True)
    assert report.backup is not None
    assert report.backup.read_bytes() == b"\x00garbage"
    assert report.backup.name.startswith("haiku_usage.backup-")
    assert Ledger().read()["sessions"] == []


def test_repair_without_a_ledger(costs_dir: Path) -> None:
    report = repair_ledger()
    assert not report.existed
    assert "nothing to repair" in report.lines()[0]


def test_call_record_round_trip_and_rejection() -> None:
    record = call(1, "0.00084", cache_write_1h_tokens=7, batch=True)
    assert CallRecord.from_json(record.to_json()) == record
    bad = record.to_json()
    bad["input_tokens"] = -1
    with pytest.raises(ValueError):
        CallRecord.from_json(bad)
    with pytest.raises(ValueError):
        CallRecord.from_json(["not", "a", "record"])


def test_lock_is_released_after_an_error(costs_dir: Path) -> None:
    ledger = Ledger(lock_timeout=1)
    with pytest.raises(RuntimeError), ledger.transaction():
        raise RuntimeError("boom")
    start = time.monotonic()
    ledger.upsert_session(entry("a"))
    assert time.monotonic() - start < 1


SAVER = textwrap.dedent(
    """
    from scenewright.cost_tracker import CostTracker
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        tracker = CostTracker(f"loop {n}", model="claude-3-5-haiku-20241022")
        tracker.add_api_call(550, 100)
        tracker.add_api_call(600, 120)
        tracker.close()
    """
)


@pytest.mark.slow
def test_a_kill_at_any_moment_leaves_a_valid_consistent_ledger(costs_dir: Path) -> None:
    # Kill a process that saves sessions in a tight loop at varied moments; each time the
    # ledger must parse, and after folding the journals every call must be counted once.
    for delay in (0.05, 0.13, 0.21, 0.34, 0.55):
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVER],
            env=child_env(costs_dir),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        path = costs_dir / "haiku_usage.json"
        if path.exists():  # the first kill may come before the first save
            data = json.loads(path.read_text(encoding="utf-8"))
            assert data["total_input_tokens"] == sum(s["input_tokens"] for s in data["sessions"])
    fold_orphaned_journals()
    data = Ledger().read()
    sessions = data["sessions"]
    assert data["total_api_calls"] == sum(s["api_calls"] for s in sessions)
    assert data["total_cost_usd"] == sum(Decimal(s["cost_usd"]) for s in sessions)
    # Every session holds whole calls, each priced exactly.
    assert len(sessions) >= 5
    for session in sessions:
        assert session["input_tokens"] in (550, 1150)
    assert not list(costs_dir.glob("journal-*"))


@pytest.mark.parametrize("total", ["0.024", " 0.024 ", "2.4e-2"])
def test_money_as_a_quoted_decimal_string_is_read_exactly(costs_dir: Path, total: str) -> None:
    path = costs_dir / config.LEDGER_FILENAME
    doc = {
        "total_input_tokens": 15000,
        "total_output_tokens": 3000,
        "total_cost_usd": total,
        "sessions": [],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    data = Ledger().read()
    assert data["total_cost_usd"] == Decimal("0.024")
    report = repair_ledger()  # the recorded $0.024 survives, as unitemised usage
    assert report.new_totals[2] == Decimal("0.024")
    assert Ledger().read()["total_cost_usd"] == Decimal("0.024")
    path.write_text(DOCUMENT_LEDGER.replace("0.008", '"0.008"'), encoding="utf-8")
    assert Ledger().read()["sessions"][-1]["cost_usd"] == Decimal("0.008")


@pytest.mark.parametrize("total", [-1, "-0.5", "NaN", "1e13"])
def test_repair_never_drops_an_unreadable_total_unasked(costs_dir: Path, total: Any) -> None:
    path = costs_dir / config.LEDGER_FILENAME
    doc = json.loads(DOCUMENT_LEDGER)
    doc["total_cost_usd"] = total
    original = json.dumps(doc)
    path.write_text(original, encoding="utf-8")
    with pytest.raises(LedgerCorruptError, match="--reset-corrupt") as caught:
        Ledger().read()
    assert "costs repair` to rebuild" not in str(caught.value)
    with pytest.raises(LedgerCorruptError, match="total_cost_usd"):
        repair_ledger()
    assert path.read_text(encoding="utf-8") == original
    report = repair_ledger(reset_corrupt=True)
    assert any("total_cost_usd" in line and "dropped" in line for line in report.lines())
    assert Ledger().read()["total_cost_usd"] == Decimal("0.008")


def test_the_ledger_never_writes_a_total_its_reader_rejects(costs_dir: Path) -> None:
    big = Decimal(10) ** 12 - 1
    Ledger().upsert_session(
        {**json.loads(DOCUMENT_LEDGER)["sessions"][0], "session_id": "a", "cost_usd": big}
    )
    with pytest.raises(LedgerError, match=r"too large \(over \$1,000,000,000,000\)"):
        Ledger().upsert_session(
            {**json.loads(DOCUMENT_LEDGER)["sessions"][0], "session_id": "b", "cost_usd": big}
        )
    assert [s["session_id"] for s in Ledger().read()["sessions"]] == ["a"]
