"""Comparing methods end to end: `scenewright compare` and `illustrate --llm compare`, with the
real SDKs talking to the fake Anthropic and fake Ollama servers at the same time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import simplejson
from click.testing import CliRunner, Result

from fakes.anthropic_server import FakeAnthropicServer
from fakes.anthropic_server import token_count as claude_tokens
from fakes.ollama_server import FakeOllamaServer, chat_prompt_text
from fakes.ollama_server import token_count as ollama_tokens
from scenewright import config
from scenewright.cli import cli
from scenewright.comparison import (
    Cell,
    Row,
    build_rows,
    comparison_data,
    escape_html,
    render_html,
)
from scenewright.manifest import PromptEntry
from scenewright.scenes import Scene

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RULE = "=" * 80


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def ledger(costs_dir: Path) -> dict:
    path = costs_dir / "haiku_usage.json"
    if not path.exists():
        return {"sessions": []}
    return simplejson.loads(path.read_text(encoding="utf-8"), use_decimal=True)


def haiku_cost(input_tokens: int, output_tokens: int) -> Decimal:
    # claude-haiku-5-5: $0.10 / $0.50 per million tokens.
    return (Decimal(input_tokens) * Decimal("0.10") + Decimal(output_tokens) * Decimal("0.50")) / (
        Decimal(10) ** 6
    )


def blocks(output: str) -> dict[str, str]:
    """The printed block of each method, by the method's name."""
    found = {}
    for block in output.split("\n\n"):
        first = block.strip().splitlines()[0] if block.strip() else ""
        name = first.split(" ", 1)[0]
        if name in ("keyword", "ollama", "haiku"):
            found[name] = block
    return found


# --- scenewright compare ----------------------------------------------------------------


def test_compare_all_prints_three_prompts_with_tokens_and_costs(
    in_tmp_cwd: Path,
    costs_dir: Path,
    fake_anthropic: FakeAnthropicServer,
    fake_ollama: FakeOllamaServer,
) -> None:
    fake_anthropic.reply("a rusty robot in a vast factory hall, detailed illustration")
    fake_ollama.reply("a tall robot among conveyor belts, detailed illustration")
    result = invoke("compare", "--llm", "all")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Sentence: {config.DEFAULT_COMPARE_SENTENCE}\n")
    printed = blocks(result.stdout)
    assert list(printed) == ["keyword", "ollama", "haiku"]

    [claude] = fake_anthropic.message_requests
    [local] = fake_ollama.generation_requests
    # The same instructions and message for both models.
    assert claude.system_text == local.system_text
    assert claude.user_text == local.user_text

    assert "Prompt: robot stood, factory" in printed["keyword"]
    assert "Tokens: 0 in + 0 out = 0" in printed["keyword"]
    assert "Cost:   $0.000000 USD (free)" in printed["keyword"]

    ollama_in = ollama_tokens(chat_prompt_text(local.body))
    ollama_out = ollama_tokens("a tall robot among conveyor belts, detailed illustration")
    assert printed["ollama"].startswith("ollama (llama3.2)")
    assert "Prompt: a tall robot among conveyor belts" in printed["ollama"]
    assert (
        f"Tokens: {ollama_in:,} in + {ollama_out:,} out = {ollama_in + ollama_out:,}"
        in (printed["ollama"])
    )
    assert "Cost:   $0.000000 USD (local, free)" in printed["ollama"]
    assert re.search(r"Time:   \d+\.\d{3} s", printed["ollama"])

    claude_in = claude_tokens(claude.system_text + claude.user_text)
    claude_out = claude_tokens("a rusty robot in a vast factory hall, detailed illustration")
    cost = haiku_cost(claude_in, claude_out)
    assert printed["haiku"].startswith("haiku (claude-haiku-5-5)")
    assert f"Tokens: {claude_in:,} in + {claude_out:,} out" in printed["haiku"]
    assert f"Cost:   ${cost:.6f} USD" in printed["haiku"]

    # Claude's cost is in the ledger as the document's session; local tokens are not.
    [session] = ledger(costs_dir)["sessions"]
    assert session["session_name"] == "test_prompt_comparison"
    assert (session["api_calls"], session["input_tokens"]) == (1, claude_in)
    assert session["cost_usd"] == cost
    assert f"{RULE}\nHAIKU API COST SUMMARY\n{RULE}" in result.stdout
    assert "Current Session: test_prompt_comparison" in result.stdout
    assert f"  Session Cost: ${cost:.6f} USD" in result.stdout


def test_compare_json_with_characters_and_context(
    in_tmp_cwd: Path,
    costs_dir: Path,
    fake_anthropic: FakeAnthropicServer,
    fake_ollama: FakeOllamaServer,
) -> None:
    sheet = in_tmp_cwd / "characters.yaml"
    sheet.write_text("Mara Quill: a young woman with short copper-red hair\n", encoding="utf-8")
    passage = (
        "Mara Quill climbed the iron stairs. The hall was dark. She lit her lantern. "
        "The lantern swung in the wind."
    )
    result = invoke(
        "compare",
        "She lit her lantern.",
        "--characters",
        str(sheet),
        "--context",
        passage,
        "--chapter",
        "II. The Lighthouse",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["context"] == {
        "chapter_title": "II. The Lighthouse",
        "before": ["Mara Quill climbed the iron stairs.", "The hall was dark."],
        "after": ["The lantern swung in the wind."],
    }
    assert [r["method"] for r in data["results"]] == ["keyword", "ollama", "haiku"]
    assert all(r["prompt"] and r["error"] is None for r in data["results"])
    assert data["haiku_session"]["session_name"] == "test_prompt_comparison"
    for request in (fake_anthropic.message_requests[0], fake_ollama.generation_requests[0]):
        assert "copper-red hair" in request.user_text
        assert "<chapter>II. The Lighthouse</chapter>" in request.user_text
        assert "The lantern swung in the wind." in request.user_text
    # JSON on stdout; the summary moved to stderr.
    assert "HAIKU API COST SUMMARY" in result.stderr


def test_compare_all_reports_unavailable_methods_and_runs_the_rest(
    in_tmp_cwd: Path, costs_dir: Path, closed_port: int
) -> None:
    result = invoke("compare")
    assert result.exit_code == 0, result.output
    printed = blocks(result.stdout)
    assert "Prompt: robot stood, factory" in printed["keyword"]
    assert "Not available: Ollama is not running" in printed["ollama"]
    assert "ollama serve" in printed["ollama"]
    assert "Not available: ANTHROPIC_API_KEY is not set" in printed["haiku"]
    assert "HAIKU API COST SUMMARY" not in result.output  # nothing was spent
    assert ledger(costs_dir)["sessions"] == []


@pytest.mark.parametrize(
    ("method", "fix"),
    [("ollama", "ollama serve"), ("haiku", "ANTHROPIC_API_KEY")],
)
def test_compare_one_unavailable_method_exits_non_zero_with_the_fix(
    in_tmp_cwd: Path, method: str, fix: str
) -> None:
    result = invoke("compare", "--llm", method)
    assert result.exit_code == 1
    assert fix in result.stderr
    assert "Traceback" not in result.output


def test_compare_prints_no_terminal_escapes(in_tmp_cwd: Path) -> None:
    result = invoke("compare", "The \x1b[31mrobot\x1b[0m stood\x07 in the factory.", "--llm",
                    "keyword")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.output)
    assert "Sentence: The robot stood in the factory." in result.stdout
    assert "Prompt: robot stood, factory" in result.stdout


@pytest.mark.parametrize("empty", ["", " "])
@pytest.mark.parametrize(
    ("option", "fix"),
    [
        ("--ollama-model", "Leave out --ollama-model to use 'llama3.2'"),
        ("--model", "Leave out --model to use 'claude-haiku-5-5'"),
    ],
)
def test_an_empty_model_option_is_an_error_not_the_default(
    in_tmp_cwd: Path,
    fake_anthropic: FakeAnthropicServer,
    fake_ollama: FakeOllamaServer,
    option: str,
    empty: str,
    fix: str,
) -> None:
    for command in (["compare"], ["illustrate", "--sample", "--llm", "compare", "--dry-run"]):
        result = invoke(*command, option, empty)
        assert result.exit_code == 1, result.output
        assert "is empty" in result.stderr and fix in result.stderr
        assert "Traceback" not in result.output
    # Nothing ran: the error comes before any prompt.
    assert not fake_ollama.generation_requests
    assert not fake_anthropic.message_requests


def scenewright(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command in a fresh Python, where nothing has imported the ollama client yet."""
    return subprocess.run(
        [sys.executable, "-m", "scenewright", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("host", ["127.0.0.1:99999", "http://[::1", "http://[zz]:11434"])
def test_a_bad_ollama_host_is_a_clear_error_and_compare_goes_on(
    in_tmp_cwd: Path, host: str
) -> None:
    # The ollama package makes a client from OLLAMA_HOST as it is imported, and raised
    # ValueError ("Port out of range") from the import itself.
    done = scenewright("compare", OLLAMA_HOST=host)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    printed = blocks(done.stdout)
    assert "Prompt: robot stood, factory" in printed["keyword"]
    assert f"Not available: OLLAMA_HOST is {host!r}" in printed["ollama"]
    assert "unset it" in printed["ollama"]
    assert "Not available: ANTHROPIC_API_KEY is not set" in printed["haiku"]
    run = scenewright("illustrate", "--sample", "--llm", "compare", "--dry-run", "-q",
                      OLLAMA_HOST=host)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert (
        "Warning: ollama is not available; the comparison goes on without it. "
        f"OLLAMA_HOST is {host!r}"
    ) in run.stderr
    alone = scenewright("compare", "--llm", "ollama", OLLAMA_HOST=host)
    assert alone.returncode == 1
    assert alone.stderr.startswith(f"Error: OLLAMA_HOST is {host!r}")
    assert "Traceback" not in alone.stderr


def interrupted(fake_ollama: FakeOllamaServer, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command in a fresh Python and press Ctrl+C while Ollama is still writing."""
    fake_ollama.reply(delay_s=20, times=None)
    env = {**os.environ, "OLLAMA_HOST": fake_ollama.host, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "scenewright", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        deadline = time.monotonic() + 60
        while not fake_ollama.generation_requests and process.poll() is None:
            assert time.monotonic() < deadline, "the command never asked Ollama"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.skipif(os.name != "posix", reason="Ctrl+C is sent as SIGINT")
def test_ctrl_c_says_what_each_command_kept(
    in_tmp_cwd: Path, fake_ollama: FakeOllamaServer
) -> None:
    done = interrupted(fake_ollama, "compare", "--llm", "ollama")
    assert done.returncode == 130
    assert "Traceback" not in done.stderr
    assert "Interrupted. scenewright compare keeps no prompts" in done.stderr
    assert "continue where it stopped" not in done.stderr
    fake_ollama.clear()
    run = interrupted(fake_ollama, "illustrate", "--sample", "--llm", "ollama", "--dry-run")
    assert run.returncode == 130
    assert "Traceback" not in run.stderr
    assert "run the same command again to continue where it stopped" in run.stderr


def test_compare_ollama_model_not_pulled(in_tmp_cwd: Path, fake_ollama: FakeOllamaServer) -> None:
    result = invoke("compare", "--llm", "ollama", "--ollama-model", "mistral")
    assert result.exit_code == 1
    assert "ollama pull mistral" in result.stderr
    assert not fake_ollama.generation_requests


def test_compare_one_method_that_fails_exits_non_zero(
    in_tmp_cwd: Path, fake_ollama: FakeOllamaServer
) -> None:
    fake_ollama.reply("", times=2)
    result = invoke("compare", "--llm", "ollama")
    assert result.exit_code == 1
    assert "gave an empty reply" in result.stderr
    # With every method, the same failure is that method's cell only.
    fake_ollama.reply("", times=2)
    result = invoke("compare", "--llm", "all")
    assert result.exit_code == 0, result.output
    assert "gave an empty reply" in blocks(result.stdout)["ollama"]


# --- illustrate --llm compare ----------------------------------------------------------------

NOVEL = """\
THE FOUNDRY

CHAPTER I. Sparks & Steel

The robot stood in the factory. Mara Quill watched it from the gantry.
"<script>alert('boo')</script>" she said.

CHAPTER II. Night

The furnace went dark.
"""


def test_illustrate_compare_writes_every_prompt_and_the_comparison(
    in_tmp_cwd: Path,
    costs_dir: Path,
    fake_anthropic: FakeAnthropicServer,
    fake_ollama: FakeOllamaServer,
) -> None:
    (in_tmp_cwd / "foundry.txt").write_text(NOVEL, encoding="utf-8")
    fake_ollama.reply("a <b>bold</b> robot & a furnace", times=None)
    result = invoke("illustrate", "foundry.txt", "--llm", "compare", "--dry-run")
    assert result.exit_code == 0, result.output
    out = in_tmp_cwd / "scenewright-out" / "foundry"
    manifest = json.loads((out / "prompts.json").read_text(encoding="utf-8"))
    entries = manifest["entries"]
    sentences = json.loads((out / "sentences.json").read_text(encoding="utf-8"))["sentences"]
    assert len(sentences) == 4
    # All three prompts of every sentence, in method order.
    assert [e["method"] for e in entries] == ["keyword", "ollama", "haiku"] * 4
    assert manifest["run"]["methods"] == ["keyword", "ollama", "haiku"]
    ollama_entries = [e for e in entries if e["method"] == "ollama"]
    for entry, request in zip(ollama_entries, fake_ollama.generation_requests, strict=True):
        assert entry["model"] == "llama3.2"
        assert entry["input_tokens"] == ollama_tokens(chat_prompt_text(request.body))
        assert entry["output_tokens"] == ollama_tokens("a <b>bold</b> robot & a furnace")
        assert entry["cost_usd"] == 0 and entry["duration_s"] > 0
    printed = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert printed[:3] == [
        "[1.1] keyword: robot stood, factory, detailed illustration, cinematic lighting, "
        "high quality",
        "[1.1] ollama: a <b>bold</b> robot & a furnace",
        f"[1.1] haiku: {fake_anthropic.default_reply}",
    ]

    # Claude's calls, and only Claude's, are in the ledger.
    [session] = ledger(costs_dir)["sessions"]
    assert session["session_name"] == "generate_images_all_chapters"
    assert session["api_calls"] == 4
    haiku_total = sum(Decimal(str(e["cost_usd"])) for e in entries if e["method"] == "haiku")
    assert session["cost_usd"] == haiku_total

    data = simplejson.loads((out / "comparison.json").read_text(encoding="utf-8"), use_decimal=True)
    assert [m["method"] for m in data["methods"]] == ["keyword", "ollama", "haiku"]
    assert len(data["rows"]) == 4
    row = data["rows"][0]
    assert row["sentence"] == "The robot stood in the factory."
    assert set(row["cells"]) == {"keyword", "ollama", "haiku"}
    assert row["cells"]["haiku"]["cost_usd"] > 0
    assert data["totals"]["haiku"]["cost_usd"] == haiku_total
    assert data["totals"]["ollama"]["cost_usd"] == 0
    assert data["totals"]["ollama"]["input_tokens"] == sum(
        e["input_tokens"] for e in ollama_entries
    )

    page = (out / "comparison.html").read_text(encoding="utf-8")
    # The novel's text and the models' text are escaped, never markup.
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;boo&#x27;)&lt;/script&gt;" in page
    assert "Sparks &amp; Steel" in page
    assert "a &lt;b&gt;bold&lt;/b&gt; robot &amp; a furnace" in page
    assert "<b>" not in page
    assert page.count('<td class="sentence">') == 4
    assert "$0.000000 USD (local, free)" in page

    # Again: every paid and every local prompt is reused, none is asked for twice.
    again = invoke("illustrate", "foundry.txt", "--llm", "compare", "--dry-run", "--json")
    assert again.exit_code == 0, again.output
    assert len(fake_ollama.generation_requests) == 4
    assert len(fake_anthropic.message_requests) == 4
    summary = json.loads(again.stdout)
    assert summary["comparison"].endswith("comparison.html")
    assert summary["summary"]["by_method"]["ollama"]["reused"] == 4


def test_illustrate_compare_leaves_one_cell_empty_for_one_failed_sentence(
    in_tmp_cwd: Path,
    costs_dir: Path,
    fake_anthropic: FakeAnthropicServer,
    fake_ollama: FakeOllamaServer,
) -> None:
    (in_tmp_cwd / "foundry.txt").write_text(NOVEL, encoding="utf-8")
    fake_ollama.reply("", times=2)  # sentence 1.1: empty twice
    fake_ollama.reply(times=1)  # sentence 1.2 is fine
    fake_ollama.fail(500, "llama runner process has terminated")  # sentence 1.3: one 500
    fake_anthropic.fail(400, message="prompt is too long: 250000 tokens > 200000 maximum")
    result = invoke("illustrate", "foundry.txt", "--llm", "compare", "--dry-run", "-q")
    # Every sentence was tried by every method, and the exit status says cells are empty.
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    out = in_tmp_cwd / "scenewright-out" / "foundry"
    manifest = json.loads((out / "prompts.json").read_text(encoding="utf-8"))
    cells = {(e["chapter"], e["index"], e["method"]) for e in manifest["entries"]}
    assert {c for c in cells if c[2] == "ollama"} == {(1, 2, "ollama"), (2, 1, "ollama")}
    assert {c for c in cells if c[2] == "haiku"} == {(1, 2, "haiku"), (1, 3, "haiku"),
                                                     (2, 1, "haiku")}  # fmt: skip
    assert [(f["index"], f["method"]) for f in manifest["failures"]] == [
        (1, "ollama"),
        (1, "haiku"),
        (3, "ollama"),
    ]
    assert "unavailable" not in manifest  # no method was left out
    assert manifest["complete"] is True
    assert len(fake_ollama.generation_requests) == 5  # 1.1 twice, then one per sentence
    assert len(fake_anthropic.message_requests) == 4
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert (run["status"], run["empty_cells"]) == ("complete_with_gaps", 3)
    [session] = ledger(costs_dir)["sessions"]
    assert (session["status"], session["api_calls"]) == ("complete_with_gaps", 3)
    assert "Warning: no ollama prompt for sentence 1.1." in result.stderr
    assert "Warning: no haiku prompt for sentence 1.1." in result.stderr
    assert "prompt is too long" in result.stderr
    assert "Warning: 3 cell(s) of the comparison are empty" in result.stderr
    assert "complete_with_gaps" in result.stderr
    assert "left out" not in result.stderr
    data = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    ollama_cells = [row["cells"]["ollama"] for row in data["rows"]]
    assert "empty reply" in ollama_cells[0]["error"]
    assert ollama_cells[1]["prompt"] and ollama_cells[3]["prompt"]
    assert "llama runner process has terminated" in ollama_cells[2]["error"]
    assert data["totals"]["ollama"]["failed"] == 2

    # Again: the failed cells are asked for once more, the rest reused; now none is empty.
    fake_ollama.clear()
    fake_anthropic.clear()
    again = invoke("illustrate", "foundry.txt", "--llm", "compare", "--dry-run", "--json")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["status"], summary["empty_cells"], summary["failures"]) == ("complete", 0, [])
    assert len(fake_ollama.generation_requests) == 2
    assert len(fake_anthropic.message_requests) == 1


def test_illustrate_compare_leaves_out_a_method_that_stops_working(
    in_tmp_cwd: Path,
    costs_dir: Path,
    fake_anthropic: FakeAnthropicServer,
    fake_ollama: FakeOllamaServer,
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
) -> None:
    (in_tmp_cwd / "foundry.txt").write_text(NOVEL, encoding="utf-8")
    fake_ollama.reply(times=1)  # sentence 1.1 is fine
    fake_ollama.fail(404, "model 'llama3.2' not found")  # then the model is removed
    fake_anthropic.reply(times=2)
    fake_anthropic.fail(401)  # the key is revoked at sentence 1.3
    result = invoke("illustrate", "foundry.txt", "--llm", "compare", "--dry-run", "-q", "--json")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    # Said when it happens: from which sentence on, and how many cells that empties.
    assert (
        "Warning: ollama stopped working at sentence 1.2, so it is left out of the rest of "
        "this run: its cells from sentence 1.2 on (3) are empty."
    ) in result.stderr
    assert "ollama pull llama3.2" in result.stderr
    assert (
        "Warning: haiku stopped working at sentence 1.3, so it is left out of the rest of "
        "this run: its cells from sentence 1.3 on (2) are empty."
    ) in result.stderr
    assert "Warning: 5 cell(s) of the comparison are empty" in result.stderr
    # Neither is asked again once it is left out.
    assert len(fake_ollama.generation_requests) == 2
    assert len(fake_anthropic.message_requests) == 3
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["empty_cells"]) == ("complete_with_gaps", 5)
    assert summary["unavailable"]["ollama"].startswith("left out from sentence 1.2 on: ")
    assert summary["unavailable"]["haiku"].startswith("left out from sentence 1.3 on: ")
    out = in_tmp_cwd / "scenewright-out" / "foundry"
    data = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    ollama_cells = [row["cells"]["ollama"] for row in data["rows"]]
    assert ollama_cells[0]["prompt"]
    assert "ollama pull llama3.2" in ollama_cells[1]["error"]
    assert [cell["error"] for cell in ollama_cells[2:]] == ["Not available."] * 2
    # Methods that could not run from the start are warned about then, and not gaps.
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port}")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    keyword_only = invoke("illustrate", "foundry.txt", "--llm", "compare", "--dry-run", "-q",
                          "--out", "other")  # fmt: skip
    assert keyword_only.exit_code == 0, keyword_only.output
    assert "Warning: ollama is not available" in keyword_only.stderr
    assert "cell(s) of the comparison are empty" not in keyword_only.stderr
    run = json.loads((in_tmp_cwd / "other" / "run.json").read_text(encoding="utf-8"))
    assert (run["status"], run["empty_cells"]) == ("complete", 0)


def test_illustrate_ollama_alone(
    in_tmp_cwd: Path, costs_dir: Path, fake_ollama: FakeOllamaServer
) -> None:
    result = invoke("illustrate", "--sample", "--chapters", "1", "--llm", "ollama", "--dry-run")
    assert result.exit_code == 0, result.output
    out = in_tmp_cwd / "scenewright-out" / "sample"
    entries = json.loads((out / "prompts.json").read_text(encoding="utf-8"))["entries"]
    assert len(entries) == len(fake_ollama.generation_requests) > 5
    assert {(e["method"], e["model"]) for e in entries} == {("ollama", "llama3.2")}
    assert not (out / "comparison.html").exists()
    assert not (costs_dir / "haiku_usage.json").exists()  # local tokens never enter the ledger
    assert "HAIKU API COST SUMMARY" not in result.output


def test_illustrate_ollama_alone_without_a_server_fails_with_the_fix(in_tmp_cwd: Path) -> None:
    result = invoke("illustrate", "--sample", "--llm", "ollama", "--dry-run")
    assert result.exit_code == 1
    assert "ollama serve" in result.stderr
    assert "Traceback" not in result.output


def test_time_machine_compare_dry_run_writes_the_page(in_tmp_cwd: Path, closed_port: int) -> None:
    novel = SHARED_DATA / "the-time-machine.txt"
    if not novel.is_file():
        pytest.skip("../shared/data/the-time-machine.txt is not present")
    result = invoke("illustrate", str(novel), "--chapters", "1", "--llm", "compare", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Warning: ollama is not available" in result.stderr
    assert "Warning: haiku is not available" in result.stderr
    out = in_tmp_cwd / "scenewright-out" / "the-time-machine"
    page = (out / "comparison.html").read_text(encoding="utf-8")
    sentences = json.loads((out / "sentences.json").read_text(encoding="utf-8"))["sentences"]
    assert page.count('<td class="sentence">') == len(sentences) > 50
    assert "<strong>ollama</strong> is not available" in page
    data = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert data["totals"]["keyword"]["prompts"] == len(sentences)
    assert [m["available"] for m in data["methods"]] == [True, False, False]


# --- the page itself ----------------------------------------------------------------------


def test_rows_for_a_run_that_stopped() -> None:
    scenes = [Scene(1, "I.", i, f"Sentence {i}.", (), ()) for i in (1, 2, 3)]
    entry = PromptEntry(1, "I.", 1, "Sentence 1.", "keyword", None, "p", 0, 0, Decimal(0), 0.0,
                        None, False, "k")  # fmt: skip
    rows = build_rows(scenes, ("keyword", "haiku"), [entry], unavailable={"haiku": "no key"})
    assert len(rows) == 1  # the run never reached sentences 2 and 3
    assert [c.error for c in rows[0].cells] == [None, "Not available."]
    data = comparison_data(rows, ("keyword", "haiku"), unavailable={"haiku": "no <key>"},
                           complete=False)  # fmt: skip
    page = render_html(data, rows)
    assert "no &lt;key&gt;" in page
    assert "The run stopped early" in page


def test_the_page_drops_control_characters() -> None:
    cell = Cell("haiku", "m", "a robot\x1b[31m red\x00\x7f", 1, 2, 0.5, Decimal("0.000001"))
    row = Row(1, "I.\x0c Start", 1, "The\x07 robot \x1b]0;title\x07stood.\x9b", (cell,))
    page = render_html(comparison_data([row], ("haiku",)), [row])
    assert not re.search("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]", page)
    assert "a robot red" in page
    assert "The robot stood." in page
    assert escape_html("a\tb\nc\x1b[0m") == "a b\nc"


def test_escape_html() -> None:
    assert escape_html("<a href=\"x\">'&'</a>") == (
        "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
    )
    cell = Cell("haiku", "m", "<img src=x onerror=alert(1)>", 1, 2, 0.5, Decimal("0.000001"))
    row = Row(1, "I. <i>", 1, "A & B", (cell,))
    page = render_html(comparison_data([row], ("haiku",)), [row])
    assert "<img" not in page and "<i>" not in page
    assert "A &amp; B" in page
