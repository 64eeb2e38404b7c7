"""`scenewright illustrate --llm haiku` end to end: the real SDK, a fake API, a real ledger."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import filelock
import pytest
import simplejson
from click.testing import CliRunner

from fakes.anthropic_server import FakeAnthropicServer, token_count
from scenewright.cli import cli

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RULE = "=" * 80


def ledger(costs_dir: Path) -> dict:
    return simplejson.loads(
        (costs_dir / "haiku_usage.json").read_text(encoding="utf-8"), use_decimal=True
    )


def expected_cost(input_tokens: int, output_tokens: int) -> Decimal:
    # claude-haiku-5-5 below the long-context threshold: $0.10 / $0.50 per million.
    return (Decimal(input_tokens) * Decimal("0.10") + Decimal(output_tokens) * Decimal("0.50")) / (
        Decimal(10) ** 6
    )


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def test_haiku_run_records_one_exact_session_and_reuses_prompts(
    in_tmp_cwd: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    result = invoke("illustrate", "--sample", "--chapters", "1", "--llm", "haiku", "--dry-run")
    assert result.exit_code == 0, result.output
    requests = fake_anthropic.message_requests
    entries = json.loads((in_tmp_cwd / "scenewright-out/sample/prompts.json").read_text())[
        "entries"
    ]
    assert len(requests) == len(entries) > 10
    # The fake's documented token rule gives the exact usage it reported.
    input_tokens = sum(token_count(r.system_text + r.user_text) for r in requests)
    output_tokens = len(requests) * token_count(fake_anthropic.default_reply)
    data = ledger(costs_dir)
    assert len(data["sessions"]) == 1
    session = data["sessions"][0]
    assert session["session_name"] == "generate_images_chapters_1"
    assert session["api_calls"] == len(requests)
    assert session["output_tokens"] == output_tokens
    assert session["input_tokens"] == input_tokens
    assert session["cost_usd"] == expected_cost(input_tokens, output_tokens)
    assert data["total_cost_usd"] == session["cost_usd"]
    # The summary block of the design document, with this session's figures.
    assert f"{RULE}\nHAIKU API COST SUMMARY\n{RULE}" in result.output
    assert "Current Session: generate_images_chapters_1" in result.output
    assert f"  API Calls: {len(requests)}" in result.output
    assert f"  Input Tokens: {input_tokens:,}" in result.output
    # Prompt text never reaches the ledger; the key never reaches any file.
    ledger_text = (costs_dir / "haiku_usage.json").read_text()
    assert fake_anthropic.default_reply not in ledger_text
    for path in [*in_tmp_cwd.rglob("*"), *costs_dir.rglob("*")]:
        if path.is_file():
            assert fake_anthropic.api_key not in path.read_text(errors="replace")

    # The same run again: every prompt is reused, nothing is paid, no session is added.
    again = invoke("illustrate", "--sample", "--chapters", "1", "--llm", "haiku", "--dry-run")
    assert again.exit_code == 0, again.output
    assert len(fake_anthropic.message_requests) == len(requests)
    assert len(ledger(costs_dir)["sessions"]) == 1
    manifest = json.loads((in_tmp_cwd / "scenewright-out/sample/prompts.json").read_text())
    assert all(e["reused"] for e in manifest["entries"])


def test_a_failing_run_keeps_what_it_paid_for_and_resumes(
    in_tmp_cwd: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    fake_anthropic.reply(times=3)
    fake_anthropic.fail(500, headers={"retry-after-ms": "1"}, times=None)
    result = invoke("illustrate", "--sample", "--chapters", "1", "--llm", "haiku", "--dry-run")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    out = in_tmp_cwd / "scenewright-out/sample"
    manifest = json.loads((out / "prompts.json").read_text())
    assert manifest["complete"] is False
    assert len(manifest["entries"]) == 3
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    session = ledger(costs_dir)["sessions"][0]
    assert session["api_calls"] == 3
    # The summary is printed even though the run failed: that money was spent.
    assert "HAIKU API COST SUMMARY" in result.output

    fake_anthropic.clear()
    again = invoke("illustrate", "--sample", "--chapters", "1", "--llm", "haiku", "--dry-run")
    assert again.exit_code == 0, again.output
    manifest = json.loads((out / "prompts.json").read_text())
    assert manifest["complete"] is True
    assert sum(e["reused"] for e in manifest["entries"]) == 3
    assert len(fake_anthropic.message_requests) == len(manifest["entries"]) - 3
    sessions = ledger(costs_dir)["sessions"]
    assert [s["api_calls"] for s in sessions] == [3, len(manifest["entries"]) - 3]


def test_a_refusal_is_not_cached_and_is_asked_for_again(
    in_tmp_cwd: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    fake_anthropic.reply(times=2)
    fake_anthropic.reply("I cannot help with that.", stop_reason="refusal")
    result = invoke("illustrate", "--sample", "--chapters", "1", "--llm", "haiku", "--dry-run")
    assert result.exit_code == 1
    assert "declined" in result.stderr and "Traceback" not in result.output
    out = in_tmp_cwd / "scenewright-out/sample"
    cache = (out / "prompt_cache.jsonl").read_text(encoding="utf-8")
    assert "I cannot help" not in cache and len(cache.splitlines()) == 2
    assert ledger(costs_dir)["sessions"][0]["api_calls"] == 3  # the refusal was billed

    fake_anthropic.clear()
    again = invoke("illustrate", "--sample", "--chapters", "1", "--llm", "haiku", "--dry-run")
    assert again.exit_code == 0, again.output
    entries = json.loads((out / "prompts.json").read_text())["entries"]
    assert [e["reused"] for e in entries[:3]] == [True, True, False]
    assert all("I cannot help" not in e["prompt"] for e in entries)


def test_retired_model_is_a_clear_error_and_costs_nothing(
    in_tmp_cwd: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    args = ["--model", "claude-3-5-haiku-20241022", "--dry-run"]
    result = invoke("illustrate", "--sample", "--llm", "haiku", *args)
    assert result.exit_code == 1
    assert "claude-3-5-haiku-20241022" in result.output
    assert "claude-haiku-5-5" in result.output
    assert not (costs_dir / "haiku_usage.json").exists() or not ledger(costs_dir)["sessions"]


def test_time_machine_chapter_one_with_haiku(
    in_tmp_cwd: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    novel = SHARED_DATA / "the-time-machine.txt"
    if not novel.is_file():
        pytest.skip("../shared/data/the-time-machine.txt is not present")
    result = invoke("illustrate", str(novel), "--chapters", "1", "--llm", "haiku", "--dry-run")
    assert result.exit_code == 0, result.output
    sessions = ledger(costs_dir)["sessions"]
    assert len(sessions) == 1
    assert sessions[0]["api_calls"] == len(fake_anthropic.message_requests) > 50
    assert "Session Cost: $" in result.output


def test_failed_and_interrupted_runs_are_marked_in_the_ledger(
    in_tmp_cwd: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    fake_anthropic.reply(times=2)
    fake_anthropic.fail(401)
    result = invoke("illustrate", "--sample", "--chapters", "1", "--llm", "haiku", "--dry-run")
    assert result.exit_code == 1
    session = ledger(costs_dir)["sessions"][0]
    assert (session["status"], session["api_calls"]) == ("failed", 2)
    history = invoke("costs", "history").output.splitlines()
    row = next(line for line in history if "generate_images_chapters_1" in line)
    assert row.split()[3:5] == ["failed", "2"]  # the Status and Calls columns


def test_a_torn_cache_line_is_paid_for_once_more_and_then_never_again(
    in_tmp_cwd: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    args = ["illustrate", "--sample", "--chapters", "1", "--llm", "haiku", "--dry-run", "-q"]
    assert invoke(*args).exit_code == 0
    paid = len(fake_anthropic.message_requests)
    cache = in_tmp_cwd / "scenewright-out/sample/prompt_cache.jsonl"
    cache.write_bytes(cache.read_bytes()[:-40])  # a crash in the middle of the last write
    torn = invoke(*args)
    assert torn.exit_code == 0
    assert "Warning:" in torn.stderr and "unreadable line" in torn.stderr
    assert len(fake_anthropic.message_requests) == paid + 1
    assert invoke(*args).exit_code == 0
    assert len(fake_anthropic.message_requests) == paid + 1


def test_two_runs_into_one_folder_do_not_both_pay(
    in_tmp_cwd: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    out = in_tmp_cwd / "scenewright-out" / "sample"
    out.mkdir(parents=True)
    with filelock.FileLock(str(out / ".scenewright.lock")):  # a run in another process
        result = invoke("illustrate", "--sample", "--llm", "haiku", "--dry-run")
    assert result.exit_code == 1
    assert "Another scenewright run" in result.output and "--out" in result.output
    assert fake_anthropic.message_requests == []


def test_an_output_folder_that_cannot_be_made_is_a_clear_error(in_tmp_cwd: Path) -> None:
    (in_tmp_cwd / "afile").write_text("x", encoding="utf-8")
    result = invoke("illustrate", "--sample", "--dry-run", "--out", "afile/sub")
    assert result.exit_code == 1
    assert "afile" in result.output and "--out" in result.output
    assert "Traceback" not in result.output


def test_later_chapters_join_earlier_ones_in_the_manifest(in_tmp_cwd: Path) -> None:
    assert invoke("illustrate", "--sample", "--chapters", "1", "--dry-run", "-q").exit_code == 0
    assert invoke("illustrate", "--sample", "--chapters", "2", "--dry-run", "-q").exit_code == 0
    entries = json.loads((in_tmp_cwd / "scenewright-out/sample/prompts.json").read_text())[
        "entries"
    ]
    assert {e["chapter"] for e in entries} == {1, 2}
    again = invoke("illustrate", "--sample", "--chapters", "2", "--dry-run", "-q")
    assert again.exit_code == 0
    after = json.loads((in_tmp_cwd / "scenewright-out/sample/prompts.json").read_text())
    assert len(after["entries"]) == len(entries)  # chapter 2 replaced, not doubled
