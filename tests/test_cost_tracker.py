from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import CacheCreation
from anthropic.types import Usage as SDKUsage

from scenewright import config, cost_tracker
from scenewright.cost_tracker import (
    CostTracker,
    get_total_cost,
    load_sessions,
    print_cost_history,
)
from scenewright.errors import (
    LedgerCorruptError,
    LedgerError,
    ScenewrightWarning,
    UnknownModelError,
)
from scenewright.ledger import Ledger, SessionJournal
from scenewright.pricing import cost_of

HAIKU_35 = "claude-3-5-haiku-20241022"
SRC = str(Path(__file__).resolve().parents[1] / "src")
DESIGN_DOC = Path(__file__).resolve().parents[2] / "shared" / "seed" / "COST_TRACKING.md"

# The design document's "Cost Reports" block, character for character.
DOCUMENT_SUMMARY = """\
================================================================================
HAIKU API COST SUMMARY
================================================================================

Current Session: generate_images_chapters_1
  API Calls: 25
  Input Tokens: 12,500
  Output Tokens: 2,500
  Total Tokens: 15,000
  Session Cost: $0.020000 USD

Cumulative Total (All Time):
  Total Input Tokens: 50,000
  Total Output Tokens: 10,000
  Total Tokens: 60,000
  Total Cost: $0.080000 USD

================================================================================
"""


def ledger_file(costs_dir: Path) -> Path:
    return costs_dir / config.LEDGER_FILENAME


def write_earlier_usage(costs_dir: Path) -> None:
    """A ledger in the document's own format holding 37,500 in / 7,500 out / $0.06."""
    ledger_file(costs_dir).write_text(
        json.dumps(
            {
                "total_input_tokens": 37500,
                "total_output_tokens": 7500,
                "total_cost_usd": 0.06,
                "sessions": [
                    {
                        "timestamp": "2024-01-15T14:30:00",
                        "session_name": "generate_images_chapters_0",
                        "input_tokens": 37500,
                        "output_tokens": 7500,
                        "api_calls": 75,
                        "cost_usd": 0.06,
                    }
                ],
            }
        ),
        encoding="utf-8",
    )


def test_summary_matches_the_design_document(
    costs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if DESIGN_DOC.is_file():
        assert DOCUMENT_SUMMARY in DESIGN_DOC.read_text(encoding="utf-8")
    write_earlier_usage(costs_dir)
    with CostTracker("generate_images_chapters_1", model=HAIKU_35) as tracker:
        for _ in range(25):
            tracker.add_api_call(input_tokens=500, output_tokens=100)
        capsys.readouterr()
        tracker.print_summary()  # before saving: this session counted once
        assert capsys.readouterr().out == DOCUMENT_SUMMARY
    assert capsys.readouterr().out == DOCUMENT_SUMMARY  # on exit, after saving
    tracker.print_summary()
    assert capsys.readouterr().out == DOCUMENT_SUMMARY
    assert get_total_cost() == (50_000, 10_000, Decimal("0.08"))


def test_manual_tracking_from_the_document(
    costs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracker = CostTracker("manual_session", model=HAIKU_35)
    tracker.add_api_call(input_tokens=500, output_tokens=100)
    tracker.add_api_call(input_tokens=600, output_tokens=120)
    stats = tracker.get_session_stats()
    assert f"Session cost: ${stats['cost_usd']:.6f}" == "Session cost: $0.001760"
    assert (stats["api_calls"], stats["input_tokens"], stats["output_tokens"]) == (2, 1100, 220)
    assert stats["total_tokens"] == 1320
    tracker.save_session()
    tracker.print_summary()
    out = capsys.readouterr().out
    assert "Current Session: manual_session\n  API Calls: 2\n" in out
    assert "  Session Cost: $0.001760 USD\n" in out
    total_input, total_output, total_cost = get_total_cost()
    assert f"${total_cost:.6f}" == "$0.001760"
    assert (total_input, total_output) == (1100, 220)


def test_design_document_estimate_for_one_prompt(costs_dir: Path) -> None:
    tracker = CostTracker("estimate", model=HAIKU_35)
    assert tracker.add_api_call(550, 100) == Decimal("0.00084")
    assert tracker.session_cost == Decimal("0.00084")


def test_saving_twice_counts_once(costs_dir: Path) -> None:
    tracker = CostTracker("twice")
    tracker.add_api_call(input_tokens=1000, output_tokens=100)
    tracker.save_session()
    tracker.save_session()
    tracker.add_api_call(input_tokens=1000, output_tokens=100)
    tracker.save_session()
    (session,) = load_sessions()
    assert session["session_id"] == tracker.session_id
    assert session["api_calls"] == 2
    assert get_total_cost()[0] == 2000


def test_context_manager_saves_and_prints_when_the_body_raises(
    costs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(RuntimeError, match="boom"), CostTracker("fails") as tracker:
        tracker.add_api_call(input_tokens=10, output_tokens=10)
        raise RuntimeError("boom")
    assert "Current Session: fails" in capsys.readouterr().out
    (session,) = load_sessions()
    assert (session["api_calls"], session["status"]) == (1, "failed")
    assert not list(costs_dir.glob("journal-*"))


def test_keyboard_interrupt_is_saved_as_interrupted_and_propagates(costs_dir: Path) -> None:
    with pytest.raises(KeyboardInterrupt), CostTracker("ctrl-c") as tracker:
        tracker.add_api_call(input_tokens=10, output_tokens=10)
        raise KeyboardInterrupt
    assert load_sessions()[0]["status"] == "interrupted"


def test_failed_save_does_not_hide_the_body_exception(
    costs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        pytest.warns(ScenewrightWarning, match="Could not save"),
        CostTracker("broken ledger") as tracker,
    ):
        tracker.add_api_call(input_tokens=10, output_tokens=10)
        ledger_file(costs_dir).write_text("{", encoding="utf-8")
        raise RuntimeError("boom")
    out = capsys.readouterr().out
    assert "Session Cost: $0.000006 USD" in out
    assert "(unavailable: The cost ledger" in out
    # The unsaved call is still in the journal, for the next run once the ledger is fixed.
    assert len(list(costs_dir.glob("journal-*.jsonl"))) == 1
    assert ledger_file(costs_dir).read_text(encoding="utf-8") == "{"


def test_clean_exit_with_a_broken_ledger_raises_after_printing(
    costs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(LedgerCorruptError), CostTracker("broken") as tracker:
        tracker.add_api_call(input_tokens=10, output_tokens=10)
        ledger_file(costs_dir).write_text("[]", encoding="utf-8")
    assert "Current Session: broken" in capsys.readouterr().out


def test_corrupt_ledger_stops_a_tracker_before_any_spending(costs_dir: Path) -> None:
    ledger_file(costs_dir).write_text("not json", encoding="utf-8")
    with pytest.raises(LedgerCorruptError, match=r"haiku_usage\.json is not valid JSON"):
        CostTracker("too late")
    assert ledger_file(costs_dir).read_text(encoding="utf-8") == "not json"


def unwritable_costs_dirs(tmp_path: Path) -> list[Path]:
    """Cost folders that cannot be written even by root, which the tests run as."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    paths = [blocker / "costs", blocker]
    if Path("/proc/self").is_dir():
        paths.append(Path("/proc/scenewright-costs"))
    return paths


def test_an_unwritable_costs_folder_stops_a_tracker_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in unwritable_costs_dirs(tmp_path):
        monkeypatch.setenv(config.COSTS_DIR_ENV, str(path))
        with pytest.raises(LedgerError) as caught:
            CostTracker("nowhere to write")
        message = str(caught.value)
        assert str(path) in message
        assert config.COSTS_DIR_ENV in message  # the fix: point it at a writable folder


def test_a_costs_folder_that_refuses_writes_is_found_by_a_real_write(
    costs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The folder exists and can be listed; only writing fails (a full disk, a read-only
    # mount, a folder made read-only): the probe must find it before any call.
    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(LedgerError, match=r"Cannot write in the cost folder .*No space left"):
        CostTracker("disk full")
    monkeypatch.undo()
    assert [p.name for p in costs_dir.iterdir()] == [".gitignore"]  # no probe left behind


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root writes into a read-only folder"
)
def test_a_read_only_costs_folder_stops_a_tracker(costs_dir: Path) -> None:
    costs_dir.chmod(0o500)
    try:
        with pytest.raises(LedgerError, match="Make the folder writable"):
            CostTracker("read-only")
    finally:
        costs_dir.chmod(0o700)


def test_a_tracker_that_makes_no_call_leaves_no_file(costs_dir: Path) -> None:
    CostTracker("idle")
    assert [p.name for p in costs_dir.iterdir()] == [".gitignore"]


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_a_blank_costs_dir_setting_counts_as_unset(
    in_tmp_cwd: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(config.COSTS_DIR_ENV, value)
    assert config.costs_dir() == in_tmp_cwd / config.COSTS_DIR_NAME
    monkeypatch.setenv(config.COSTS_DIR_ENV, f"  {in_tmp_cwd / 'elsewhere'}  ")
    assert config.costs_dir() == in_tmp_cwd / "elsewhere"


BAD_CALLS: list[tuple[dict[str, Any], str]] = [
    ({"input_tokens": -1, "output_tokens": 1}, "input_tokens"),
    ({"input_tokens": 1, "output_tokens": -1}, "output_tokens"),
    ({"input_tokens": 1.5, "output_tokens": 1}, "input_tokens"),
    ({"input_tokens": 1, "output_tokens": 2.0}, "output_tokens"),
    ({"input_tokens": True, "output_tokens": 1}, "input_tokens"),
    ({"input_tokens": "500", "output_tokens": 1}, "input_tokens"),
    ({"input_tokens": None, "output_tokens": 1}, "input_tokens"),
    ({"input_tokens": 1}, "output_tokens"),
    ({}, "input_tokens"),
    ({"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": -1}, "cache_read_input"),
    (
        {"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": None},
        "cache_creation",
    ),
    ({"input_tokens": 1, "output_tokens": 1, "batch": "yes"}, "batch"),
    ({"input_tokens": 1, "output_tokens": 1, "model": 5}, "model"),
    ({"input_tokens": 1, "output_tokens": 1, "response_id": 7}, "response_id"),
    ({"input_tokens": 1, "output_tokens": 1, "response_id": ""}, "response_id"),
    # Beyond any real call: the cost would be too large for the ledger to save.
    ({"input_tokens": 10**30, "output_tokens": 1}, "input_tokens is 1,000,000,000,000,000"),
    ({"input_tokens": 1, "output_tokens": 10**12 + 1}, "output_tokens"),
    ({"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": 10**13}, "cache_read"),
    ({"usage": {"input_tokens": 10**30, "output_tokens": 1}}, "usage.input_tokens"),
    (
        {"usage": {"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 10**20}},
        "usage.cache_creation_input_tokens",
    ),
    ({"usage": "550 tokens"}, "usage"),
    ({"usage": {"input_tokens": 5}}, "usage.output_tokens"),
    ({"usage": {"input_tokens": 5, "output_tokens": 1}, "input_tokens": 6}, "input_tokens=6"),
]


@pytest.mark.parametrize(("kwargs", "named"), BAD_CALLS)
def test_bad_input_names_the_argument_and_records_nothing(
    costs_dir: Path, kwargs: dict[str, Any], named: str
) -> None:
    tracker = CostTracker("strict")
    with pytest.raises(ValueError, match=re.escape(named)):
        tracker.add_api_call(**kwargs)
    assert tracker.stats.api_calls == 0
    assert tracker.session_cost == 0
    assert not list(costs_dir.glob("journal-*"))


def test_the_largest_token_count_is_accepted_and_saved(costs_dir: Path) -> None:
    tracker = CostTracker("huge")
    with pytest.raises(ValueError, match="input_tokens"):
        tracker.add_api_call(10**30, 1)
    tracker.add_api_call(cost_tracker.MAX_TOKENS_PER_CALL, 1)
    tracker.save_session()
    assert load_sessions()[0]["input_tokens"] == cost_tracker.MAX_TOKENS_PER_CALL


def test_positional_bad_input(costs_dir: Path) -> None:
    tracker = CostTracker("strict")
    with pytest.raises(ValueError, match="input_tokens"):
        tracker.add_api_call(-5, 10)
    assert tracker.get_session_stats()["api_calls"] == 0


def test_unknown_model_is_refused(costs_dir: Path) -> None:
    with pytest.raises(UnknownModelError, match="MODEL_PRICES"):
        CostTracker("s", model="claude-nonexistent")
    tracker = CostTracker("s")
    with pytest.raises(UnknownModelError, match="'gpt-4'"):
        tracker.add_api_call(1, 1, model="gpt-4")
    assert tracker.stats.api_calls == 0


@pytest.mark.parametrize("name", ["", "   ", None, 5])
def test_session_name_must_be_text(costs_dir: Path, name: Any) -> None:
    with pytest.raises(ValueError, match="session_name"):
        CostTracker(name)


def test_same_response_id_counts_once(costs_dir: Path) -> None:
    tracker = CostTracker("dedupe")
    first = tracker.add_api_call(500, 100, response_id="msg_01")
    assert first > 0
    assert tracker.add_api_call(500, 100, response_id="msg_01") == 0
    tracker.add_api_call(500, 100, response_id="msg_02")
    tracker.add_api_call(500, 100)
    tracker.add_api_call(500, 100)
    assert tracker.stats.api_calls == 4
    assert tracker.session_cost == 4 * first


def test_usage_object_from_the_sdk(costs_dir: Path) -> None:
    usage = SDKUsage(
        input_tokens=1200,
        output_tokens=90,
        cache_creation_input_tokens=3000,
        cache_read_input_tokens=7000,
        cache_creation=CacheCreation(
            ephemeral_5m_input_tokens=1000, ephemeral_1h_input_tokens=2000
        ),
        service_tier="batch",
    )
    tracker = CostTracker("sdk")
    cost = tracker.add_api_call(usage=usage, response_id="msg_x")
    assert cost == cost_of(usage, config.DEFAULT_HAIKU_MODEL)
    assert cost == cost_of(usage.model_dump(exclude={"service_tier"}), tracker.model) / 2
    # The same counts given twice are fine; they only have to agree.
    tracker.add_api_call(1200, 90, usage=usage.model_dump(), cache_read_input_tokens=7000)
    stats = tracker.get_session_stats()
    assert stats["cache_creation_input_tokens"] == 6000
    assert stats["cache_read_input_tokens"] == 14000
    assert stats["total_tokens"] == 2 * (1200 + 90 + 3000 + 7000)
    tracker.save_session()
    (session,) = load_sessions()
    assert session["batch_api_calls"] == 2
    assert session["cache_read_input_tokens"] == 14000


def test_summary_shows_cache_tokens_only_when_there_are_some(
    costs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracker = CostTracker("cached")
    tracker.add_api_call(100, 10, cache_read_input_tokens=5000)
    tracker.print_summary()
    out = capsys.readouterr().out
    assert "  Cache Read Tokens: 5,000\n" in out
    assert "  Total Tokens: 5,110\n" in out
    assert "  Total Cache Tokens: 5,000\n" in out


def test_each_call_keeps_the_price_in_force_when_made(
    costs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = CostTracker("price change", model=HAIKU_35)
    version = config.PRICE_TABLE_VERSION
    tracker.add_api_call(1_000_000, 0)
    monkeypatch.setitem(
        config.MODEL_PRICES, HAIKU_35, (Decimal("1.60"), Decimal("4.00"), "2099-01-01")
    )
    monkeypatch.setattr(config, "PRICE_TABLE_VERSION", "2099-01-01")
    tracker.add_api_call(1_000_000, 0)
    tracker.save_session()
    assert tracker.session_cost == Decimal("2.40")
    (session,) = load_sessions()
    assert Decimal(session["cost_usd"]) == Decimal("2.40")
    assert session["price_table_versions"] == sorted([version, "2099-01-01"])


def test_session_default_model_and_per_call_model(costs_dir: Path) -> None:
    tracker = CostTracker("models", model=HAIKU_35)
    tracker.add_api_call(550, 100)
    tracker.add_api_call(550, 100, model=config.DEFAULT_HAIKU_MODEL)
    models = tracker.get_session_stats()["models"]
    assert models[HAIKU_35]["cost_usd"] == Decimal("0.00084")
    assert models[config.DEFAULT_HAIKU_MODEL]["api_calls"] == 1


def test_every_call_is_journaled_before_add_returns(costs_dir: Path) -> None:
    tracker = CostTracker("journaled")
    tracker.add_api_call(500, 100, response_id="msg_a")
    (journal,) = costs_dir.glob("journal-*.jsonl")
    lines = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    assert [line["type"] for line in lines] == ["session", "call"]
    assert lines[1]["response_id"] == "msg_a"
    text = journal.read_text(encoding="utf-8")
    assert "api_key" not in text.lower()
    if os.name == "posix":
        assert journal.stat().st_mode & 0o777 == 0o600
    tracker.close()
    assert not journal.exists()
    assert (costs_dir / "calls" / f"{tracker.session_id}.jsonl").exists()
    with pytest.raises(ValueError, match="closed"):
        tracker.add_api_call(1, 1)


def test_an_unwritable_journal_warns_and_still_counts(
    costs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: SessionJournal, record: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SessionJournal, "append", fail)
    tracker = CostTracker("disk full")
    with pytest.warns(ScenewrightWarning, match="No space left"):
        tracker.add_api_call(500, 100)
    tracker.add_api_call(500, 100)  # warned once only
    tracker.save_session()
    assert load_sessions()[0]["api_calls"] == 2


def test_threads_share_a_tracker(costs_dir: Path) -> None:
    tracker = CostTracker("threads", model=HAIKU_35)

    def work(worker: int) -> None:
        for n in range(40):
            tracker.add_api_call(550, 100, response_id=f"msg_{worker}_{n}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tracker.save_session()
    assert tracker.session_cost == Decimal("0.00084") * 240
    (journal,) = costs_dir.glob("journal-*.jsonl")
    assert len(journal.read_text(encoding="utf-8").splitlines()) == 241
    assert load_sessions()[0]["api_calls"] == 240


def test_a_new_tracker_recovers_an_orphaned_session(costs_dir: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os\n"
            "from scenewright.cost_tracker import CostTracker\n"
            "t = CostTracker('killed run', model='claude-3-5-haiku-20241022')\n"
            "t.add_api_call(550, 100)\n"
            "t.add_api_call(550, 100)\n"
            "os._exit(1)  # like a crash: no save, no cleanup\n",
        ],
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert proc.wait(timeout=30) == 1
    with pytest.warns(ScenewrightWarning, match=r"'killed run'.*2 unsaved API call.*\$0\.001680"):
        tracker = CostTracker("next run")
    assert [f.added_calls for f in tracker.recovered] == [2]
    (session,) = load_sessions()
    assert (session["session_name"], session["status"]) == ("killed run", "interrupted")


def test_print_cost_history(costs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    print_cost_history()
    assert (
        capsys.readouterr().out
        == f"No Claude API usage recorded yet in {ledger_file(costs_dir)}.\n"
    )
    for n in range(12):
        tracker = CostTracker(f"run {n}\x1b[31m", model=HAIKU_35)
        tracker.add_api_call(550, 100)
        tracker.save_session()
    print_cost_history(limit=3)
    out = capsys.readouterr().out
    assert "HAIKU API COST HISTORY (last 3 of 12 sessions)" in out
    assert out.count("API Calls: 1 | Input Tokens: 550 | Output Tokens: 100") == 3
    assert "run 11?[31m" in out  # no terminal escapes from the ledger
    assert "\x1b" not in out
    assert "  Total Cost: $0.010080 USD\n" in out
    print_cost_history(limit=None)
    assert capsys.readouterr().out.count("Cost: $0.000840 USD") == 12
    with pytest.raises(ValueError, match="limit"):
        print_cost_history(limit=-1)


def test_total_cost_types(costs_dir: Path) -> None:
    total_input, total_output, total_cost = get_total_cost()
    assert (total_input, total_output, total_cost) == (0, 0, Decimal(0))
    assert isinstance(total_cost, Decimal)


def test_repair_command(costs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger_file(costs_dir).write_text("{oops", encoding="utf-8")
    assert cost_tracker.main(["--repair"]) == 1
    assert "--reset-corrupt" in capsys.readouterr().err
    assert cost_tracker.main(["--repair", "--reset-corrupt"]) == 0
    assert "kept as" in capsys.readouterr().out
    assert Ledger().read()["sessions"] == []


def test_simulation_uses_a_scratch_ledger(tmp_path: Path) -> None:
    real = tmp_path / "real-costs"
    env = {k: v for k, v in os.environ.items() if k != config.COSTS_DIR_ENV}
    env["PYTHONPATH"] = SRC
    for extra in ({}, {config.COSTS_DIR_ENV: str(real)}):
        result = subprocess.run(
            [sys.executable, "-m", "scenewright.cost_tracker"],
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        # runpy warns when the package __init__ has already imported the module it runs.
        stderr = [
            line
            for line in result.stderr.splitlines()
            if "found in sys.modules after import of package" not in line
            and line.strip() != "warn(RuntimeWarning(msg))"
        ]
        assert stderr == []
        assert "HAIKU API COST SUMMARY" in result.stdout
        assert "HAIKU API COST HISTORY" in result.stdout
        match = re.search(r"Scratch ledger: (.+)$", result.stdout, re.MULTILINE)
        assert match is not None
        scratch = Path(match.group(1))
        assert scratch.is_file()
        assert Ledger(scratch.parent).read()["total_api_calls"] == 5
        shutil.rmtree(scratch.parent)
        assert not (tmp_path / ".costs").exists()
        assert not real.exists()
