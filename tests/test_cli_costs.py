"""`scenewright costs ...` against ledgers built in the test, and parallel paid runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import anthropic
import pytest
import simplejson
from click.testing import CliRunner

from fakes.anthropic_server import FakeAnthropicServer
from scenewright.cli import cli
from scenewright.cost_tracker import CostTracker
from scenewright.pricing import cost_of

SRC = Path(__file__).resolve().parents[1] / "src"


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def ledger(costs_dir: Path) -> dict:
    return simplejson.loads(
        (costs_dir / "haiku_usage.json").read_text(encoding="utf-8"), use_decimal=True
    )


def child_env(costs_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SCENEWRIGHT_COSTS_DIR"] = str(costs_dir)
    env["PYTHONPATH"] = str(SRC)
    return env


def test_costs_on_an_empty_ledger(costs_dir: Path) -> None:
    result = invoke("costs", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["total_tokens"], data["total_cost_usd"]) == (0, 0)
    text = invoke("costs")
    assert "Total Cost: $0.000000 USD" in text.stdout


def test_costs_reads_the_design_documents_own_ledger(costs_dir: Path) -> None:
    document_ledger = {
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
                "cost_usd": 0.008,
            }
        ],
    }
    (costs_dir / "haiku_usage.json").write_text(json.dumps(document_ledger), encoding="utf-8")
    result = invoke("costs", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout, parse_float=Decimal)
    assert data["total_input_tokens"] == 15000
    assert data["total_cost_usd"] == Decimal("0.024")
    history = invoke("costs", "history")
    assert "generate_images_chapters_1" in history.stdout


def test_history_limit_and_json(costs_dir: Path) -> None:
    for n in range(5):
        with CostTracker(f"session_{n}", model="claude-3-5-haiku-20241022") as tracker:
            tracker.add_api_call(550, 100)
    result = invoke("costs", "history", "--limit", "2", "--json")
    assert result.exit_code == 0, result.output
    sessions = json.loads(result.stdout, parse_float=Decimal)
    assert [s["session_name"] for s in sessions] == ["session_3", "session_4"]
    assert all(s["cost_usd"] == Decimal("0.00084") for s in sessions)
    text = invoke("costs", "history", "--limit", "2")
    assert "session_4" in text.stdout and "session_2" not in text.stdout


def test_a_crashed_session_is_recovered_by_costs(costs_dir: Path) -> None:
    crash = textwrap.dedent(
        """
        import os
        from scenewright.cost_tracker import CostTracker
        tracker = CostTracker("crashed", model="claude-3-5-haiku-20241022")
        tracker.add_api_call(550, 100, response_id="msg_1")
        tracker.add_api_call(550, 100, response_id="msg_2")
        os._exit(0)  # no save, no finally, no atexit: as if the machine lost power
        """
    )
    subprocess.run([sys.executable, "-c", crash], env=child_env(costs_dir), check=True)
    result = invoke("costs", "--json")
    assert result.exit_code == 0, result.output
    assert "Recovered interrupted session 'crashed'" in result.stderr
    assert json.loads(result.stdout, parse_float=Decimal)["total_cost_usd"] == Decimal("0.00168")
    session = ledger(costs_dir)["sessions"][0]
    assert (session["status"], session["api_calls"]) == ("interrupted", 2)


def test_repair_fixes_totals_and_refuses_to_guess_about_garbage(costs_dir: Path) -> None:
    with CostTracker("real", model="claude-3-5-haiku-20241022") as tracker:
        tracker.add_api_call(550, 100)
    path = costs_dir / "haiku_usage.json"
    data = ledger(costs_dir)
    data["total_input_tokens"] = 1  # hand-edited and wrong
    path.write_text(simplejson.dumps(data, use_decimal=True), encoding="utf-8")
    result = invoke("costs", "repair", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["changed"] is True and report["total_input_tokens"] == 550
    assert Path(report["backup"]).is_file()

    path.write_text("{ not json", encoding="utf-8")
    refused = invoke("costs", "repair")
    assert refused.exit_code == 1
    assert "haiku_usage.json" in refused.output and "Traceback" not in refused.output
    assert path.read_text(encoding="utf-8") == "{ not json"  # untouched
    broken = invoke("costs")
    assert broken.exit_code == 1 and "haiku_usage.json" in broken.output
    reset = invoke("costs", "repair", "--reset-corrupt")
    assert reset.exit_code == 0, reset.output
    assert ledger(costs_dir)["sessions"] == []


PAID_RUN = textwrap.dedent(
    """
    import sys
    from scenewright.cli import main
    sys.argv = ["scenewright", "illustrate", "--sample", "--chapters", "1", "--llm", "haiku",
                "--dry-run", "-q", "--out", sys.argv[1]]
    main()
    """
)


def test_parallel_paid_runs_into_one_ledger_lose_nothing(
    tmp_path: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    runs = 4
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PAID_RUN, str(tmp_path / f"out{n}")],
            env=child_env(costs_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in range(runs)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    data = ledger(costs_dir)
    assert len(data["sessions"]) == runs
    calls = len(fake_anthropic.message_requests)
    assert sum(s["api_calls"] for s in data["sessions"]) == data["total_api_calls"] == calls
    assert data["total_cost_usd"] == sum(s["cost_usd"] for s in data["sessions"])
    per_run = {s["cost_usd"] for s in data["sessions"]}
    assert len(per_run) == 1  # the same chapter costs the same, to the last digit


def test_a_streamed_reply_costs_what_the_same_reply_costs_unstreamed(
    fake_anthropic: FakeAnthropicServer,
) -> None:
    request = {
        "model": "claude-haiku-5-5",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "The robot stood in the factory."}],
    }
    usage = {"cache_read_input_tokens": 40, "cache_creation_input_tokens": 12}
    fake_anthropic.reply("a robot in a factory", usage=usage, times=2)
    with anthropic.Anthropic(max_retries=0) as client:
        plain = client.messages.create(**request)  # type: ignore[call-overload]
        with client.messages.stream(**request) as stream:  # type: ignore[arg-type]
            final = stream.get_final_message()
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert cost_of(final.usage, "claude-haiku-5-5") == cost_of(plain.usage, "claude-haiku-5-5")
    assert cost_of(plain.usage, "claude-haiku-5-5") > 0


def test_output_in_a_narrow_encoding_never_crashes(costs_dir: Path) -> None:
    # A Windows redirect: stdout in cp1252, a session name it cannot encode.
    with CostTracker("Drache \U0001f409 \u9f8d", model="claude-3-5-haiku-20241022") as tracker:
        tracker.add_api_call(550, 100)
    env = {**child_env(costs_dir), "PYTHONIOENCODING": "cp1252"}
    for args in (["history", "--all", "--csv"], ["history", "--all"], ["report", "--by", "name"]):
        done = subprocess.run(
            [sys.executable, "-c", "from scenewright.cli import main; main()", "costs", *args],
            env=env,
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode("cp1252", "replace")
        assert b"Traceback" not in done.stderr
        assert "Drache ? ?" in done.stdout.decode("cp1252")


@pytest.mark.parametrize(
    "command", [("costs",), ("costs", "repair"), ("costs", "history"), ("costs", "report")]
)
def test_costs_dir_that_is_a_file_names_the_environment_variable(
    costs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x", encoding="utf-8")
    for where in (a_file, a_file / "inside"):
        monkeypatch.setenv("SCENEWRIGHT_COSTS_DIR", str(where))
        result = CliRunner().invoke(cli, list(command))
        assert result.exit_code == 1, result.output
        assert "SCENEWRIGHT_COSTS_DIR must be a folder" in result.output
        assert f"{a_file} is a file" in result.output or f"{a_file}, above" in result.output
        assert "nothing to repair" not in result.output
        assert "Not a directory" not in result.output
    assert a_file.read_text(encoding="utf-8") == "x"
