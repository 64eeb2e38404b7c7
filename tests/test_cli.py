"""The `scenewright` command end to end, through click's CliRunner, checking the files written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from scenewright.cli import cli

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def manifest(out: Path) -> dict:
    return json.loads((out / "prompts.json").read_text(encoding="utf-8"))


def test_sample_keyword_dry_run_writes_artifacts(in_tmp_cwd: Path) -> None:
    result = run("illustrate", "--sample", "--llm", "keyword", "--dry-run")
    assert result.exit_code == 0, result.output
    out = in_tmp_cwd / "scenewright-out" / "sample"
    data = manifest(out)
    assert data["complete"] is True
    entries = data["entries"]
    sentences = json.loads((out / "sentences.json").read_text(encoding="utf-8"))["sentences"]
    assert len(entries) == len(sentences) >= 20
    assert {e["chapter"] for e in entries} == {1, 2}
    assert all(e["method"] == "keyword" and e["prompt"] and e["cost_usd"] == 0 for e in entries)
    # One printed prompt per sentence, each tagged with its chapter.sentence reference.
    printed = [line for line in result.stdout.splitlines() if re.match(r"\[\d+\.\d+\] ", line)]
    assert len(printed) == len(entries)
    run_info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run_info["status"] == "complete"
    assert run_info["settings"]["llm"] == "keyword"
    # The keyword method never touches the ledger.
    assert not (in_tmp_cwd / ".costs").exists()


def test_sample_uses_character_sheet(in_tmp_cwd: Path) -> None:
    result = run("illustrate", "--sample", "--chapters", "1", "--dry-run", "-q")
    assert result.exit_code == 0, result.output
    entries = manifest(in_tmp_cwd / "scenewright-out" / "sample")["entries"]
    assert any("copper-red hair" in e["prompt"] for e in entries)


def test_chapter_selection(in_tmp_cwd: Path) -> None:
    result = run("illustrate", "--sample", "--chapters", "2", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    entries = manifest(in_tmp_cwd / "scenewright-out" / "sample")["entries"]
    assert {e["chapter"] for e in entries} == {2}
    summary = json.loads(result.stdout)
    assert summary["summary"]["by_method"]["keyword"]["prompts"] == len(entries)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["illustrate", "missing.txt", "--dry-run"], "missing.txt"),
        (["illustrate", "--sample", "--chapters", "9", "--dry-run"], "chapter"),
        (["illustrate", "--sample", "--chapters", "x-y", "--dry-run"], "chapter"),
        (["illustrate", "--sample"], "--dry-run"),
        (["illustrate", "--sample", "--llm", "haiku", "--dry-run"], "ANTHROPIC_API_KEY"),
        (
            ["illustrate", "--sample", "--llm", "haiku", "--model", "gpt-4", "--dry-run"],
            "gpt-4",
        ),
        (["illustrate", "--dry-run"], "--sample"),
    ],
)
def test_bad_input_gives_a_clear_error(in_tmp_cwd: Path, args: list[str], expected: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (1, 2), result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_empty_novel_is_a_clear_error(in_tmp_cwd: Path) -> None:
    (in_tmp_cwd / "empty.txt").write_text("", encoding="utf-8")
    result = CliRunner().invoke(cli, ["illustrate", "empty.txt", "--dry-run"])
    assert result.exit_code == 1
    assert "empty.txt" in result.output
    assert "Traceback" not in result.output


def test_time_machine_chapter_one(in_tmp_cwd: Path) -> None:
    novel = SHARED_DATA / "the-time-machine.txt"
    if not novel.is_file():
        pytest.skip("../shared/data/the-time-machine.txt is not present")
    result = run("illustrate", str(novel), "--chapters", "1", "--llm", "keyword", "--dry-run")
    assert result.exit_code == 0, result.output
    sentences = json.loads(
        (in_tmp_cwd / "scenewright-out" / "the-time-machine" / "sentences.json").read_text(
            encoding="utf-8"
        )
    )
    assert sentences["chapters"] == [{"number": 1, "label": "I", "title": "Introduction"}]
    printed = [line for line in result.stdout.splitlines() if line.startswith("[1.")]
    assert len(printed) == len(sentences["sentences"]) > 50


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, full + " "))
    return found


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name, command in _commands(cli):
        assert command.help, f"`scenewright {name}` has no help text"
        result = run(*name.split(), "--help")
        assert result.exit_code == 0
        assert f"scenewright {name}" in readme, f"`scenewright {name}` is not in README.md"


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scenewright", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "scenewright" in done.stdout


def test_model_is_checked_and_ignored_with_a_warning_when_unused(in_tmp_cwd: Path) -> None:
    empty = CliRunner().invoke(
        cli, ["illustrate", "--sample", "--llm", "haiku", "--model", "", "--dry-run"]
    )
    assert empty.exit_code == 1 and "model name is empty" in empty.output
    unused = run("illustrate", "--sample", "--model", "claude-haiku-5-5", "--dry-run", "-q")
    assert unused.exit_code == 0
    assert "Warning: --model 'claude-haiku-5-5' is ignored" in unused.stderr


def test_an_unexpected_error_is_one_sentence_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scenewright.cli import handle_errors

    @click.command()
    @handle_errors
    def broken() -> None:
        raise RuntimeError("a bug")

    result = CliRunner().invoke(broken, [])
    assert result.exit_code == 1
    assert "Unexpected error (RuntimeError: a bug)" in result.output
    assert "SCENEWRIGHT_DEBUG=1" in result.output and "Traceback" not in result.output
    monkeypatch.setenv("SCENEWRIGHT_DEBUG", "1")
    debug = CliRunner().invoke(broken, [])
    assert isinstance(debug.exception, RuntimeError)
