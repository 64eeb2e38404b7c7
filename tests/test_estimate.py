"""`scenewright estimate`: the design document's figures to the digit, and estimates of the
very requests `illustrate --llm haiku` sends, counted by the fake token-counting endpoint.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import simplejson
from click.testing import CliRunner, Result

from fakes.anthropic_server import FakeAnthropicServer, request_text, token_count
from scenewright import config
from scenewright.cli import cli, sample_paths
from scenewright.estimate import (
    about,
    approximate_request_tokens,
    approximate_tokens,
    back_of_envelope,
    plain_usd,
)
from scenewright.pipeline import IllustrateOptions, IllustrationRun

DOCUMENT_MODEL = "claude-3-5-haiku-20241022"
COUNT_PATH = "/v1/messages/count_tokens"


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


def ok(*args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout, parse_float=Decimal)


def sample_run(out: Path, chapters: str = "1") -> IllustrationRun:
    novel, sheet = sample_paths()
    return IllustrationRun(
        novel,
        IllustrateOptions(chapters=chapters, llm="haiku", characters=sheet, out_dir=out),
    )


# --- The design document's "Cost Estimation" --------------------------------------------------


def test_the_documents_per_prompt_figures() -> None:
    one = back_of_envelope(1, 550, 100, DOCUMENT_MODEL)
    assert (one.input_usd, one.output_usd, one.per_prompt_usd) == (
        Decimal("0.00044"),
        Decimal("0.0004"),
        Decimal("0.00084"),
    )
    text = "\n".join(one.lines())
    assert "Input:  550 tokens x ($0.80 / 1,000,000) = $0.00044" in text
    assert "Output: 100 tokens x ($4.00 / 1,000,000) = $0.00040" in text
    assert "Total:  $0.00084 per prompt (about 0.084 cents)" in text


@pytest.mark.parametrize(
    ("sentences", "batch", "tokens_in", "tokens_out", "total", "cost", "about_text"),
    [
        (50, False, "27,500", "5,000", "32,500", "$0.042", "about 4.2 cents"),
        (600, False, "330,000", "60,000", "390,000", "$0.504", "about 50 cents"),
        (600, True, "330,000", "60,000", "390,000", "$0.252", "about 25 cents"),
    ],
)
def test_scenewright_estimate_reproduces_the_document(
    sentences: int,
    batch: bool,
    tokens_in: str,
    tokens_out: str,
    total: str,
    cost: str,
    about_text: str,
) -> None:
    args = ["estimate", "--sentences", str(sentences), "--model", DOCUMENT_MODEL]
    args += ["--input-tokens", "550", "--output-tokens", "100"]
    if batch:
        args.append("--batch")
    text = ok(*args).stdout
    assert f"API calls:     {sentences}" in text
    assert f"Input tokens:  {tokens_in}" in text
    assert f"Output tokens: {tokens_out}" in text
    assert f"Total tokens:  {total}" in text
    assert f"Total cost:    {cost} USD ({about_text})" in text
    per_prompt = "$0.00042" if batch else "$0.00084"
    assert f"Total:  {per_prompt} per prompt" in text
    if batch:
        assert "($0.40 / 1,000,000)" in text and "($2.00 / 1,000,000)" in text
    data = as_json(*args)
    assert data["total_usd"] == Decimal(cost[1:])
    assert data["per_prompt_usd"] == Decimal(per_prompt[1:])
    assert data["total_tokens"] == int(total.replace(",", ""))
    # --input-tokens and --output-tokens default to the document's 550 and 100.
    short = ["estimate", "--sentences", str(sentences), "--model", DOCUMENT_MODEL]
    assert as_json(*short, *(["--batch"] if batch else []))["total_usd"] == Decimal(cost[1:])


def test_envelope_csv_cache_and_the_default_model() -> None:
    rows = list(
        csv.DictReader(
            io.StringIO(
                ok("estimate", "--sentences", "600", "--model", DOCUMENT_MODEL, "--csv").stdout
            )
        )
    )
    assert rows[0]["total_usd"] == "0.504" and rows[0]["batch"] == "false"
    # The document's prompt-caching rate: $0.08 per million cache-read tokens.
    cached = as_json(
        "estimate", "--sentences", "1", "--model", DOCUMENT_MODEL, "--cached-tokens", "500"
    )
    assert cached["cache_read_usd_per_million"] == Decimal("0.08")
    assert cached["per_prompt_usd"] == Decimal("0.00004") + Decimal("0.00004") + Decimal("0.0004")
    # Today's default model: $0.10 / $0.50 per million.
    default = as_json("estimate", "--sentences", "1")
    assert default["model"] == config.DEFAULT_HAIKU_MODEL
    assert default["per_prompt_usd"] == Decimal("0.000105")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--sentences", "5", "--sample"], "leave out --sample"),
        (["--sentences", "5", "--cache"], "--cached-tokens"),
        (["--sentences", "5", "--input-tokens", "5", "--cached-tokens", "6"], "more than"),
        (["--sample", "--input-tokens", "5"], "go with --sentences"),
        ([], "--sentences N"),
        (["--sentences", "5", "--model", "gpt-4"], "gpt-4"),
        (["--sentences", "-1"], "-1"),
        (["--sentences", "5", "--json", "--csv"], "Choose one"),
    ],
)
def test_bad_estimate_options_are_clear_errors(args: list[str], expected: str) -> None:
    result = invoke("estimate", *args)
    assert result.exit_code in (1, 2)
    assert expected in result.output


def test_money_formatting() -> None:
    assert plain_usd(Decimal("0.0004"), places=5) == "$0.00040"
    assert plain_usd(Decimal("0.000055"), places=5) == "$0.000055"
    assert plain_usd(Decimal("0.504")) == "$0.504"
    assert about(Decimal("0.00084")) == "about 0.084 cents"
    assert about(Decimal("0.999")) == "about $1.00"
    assert about(Decimal("12.345")) == "about $12.35"
    assert about(Decimal(0)) == "nothing"


# --- Estimating a novel -----------------------------------------------------------------------


def test_the_offline_approximation_is_the_documented_rule() -> None:
    assert approximate_tokens("") == 0
    assert approximate_tokens("abc") == 1
    assert approximate_tokens("abcd") == 2
    assert approximate_tokens("こんにちは") == 5  # one per character outside ASCII
    assert approximate_tokens("café") == 2  # "caf" is one token, "é" another


def test_offline_estimate_of_a_novel(in_tmp_cwd: Path) -> None:
    run = sample_run(in_tmp_cwd / "scenewright-out" / "sample")
    plan = run.haiku_plan()
    data = as_json("estimate", "--sample", "--chapters", "1")
    assert data["input_tokens_counted_by"] == "offline"
    assert data["notes"] and "ANTHROPIC_API_KEY" in data["notes"][0]
    total = data["total"]
    assert total["prompts"] == len(plan) == len(run.scenes)
    assert total["input_tokens"] == sum(approximate_request_tokens(p.request) for p in plan)
    assert total["output_tokens"] == 100 * len(plan)
    assert total["max_output_tokens"] == 200 * len(plan)
    standard = (
        Decimal(total["input_tokens"]) * Decimal("0.10")
        + Decimal(total["output_tokens"]) * Decimal("0.50")
    ) / 10**6
    assert total["standard_usd"] == standard
    assert total["batch_usd"] == standard / 2
    assert total["cached_usd"] < standard
    assert data["estimate_usd"] == standard
    assert as_json("estimate", "--sample", "--chapters", "1", "--batch")["estimate_usd"] == (
        standard / 2
    )
    text = ok("estimate", "--sample", "--chapters", "1").stdout
    assert "approximated offline" in text
    for column in ("Chapter", "Prompts", "Input tokens", "Output tokens", "Standard", "Batch"):
        assert column in text
    assert f"Estimated cost: ${standard:.6f} USD (standard rates)" in text
    # Per chapter and in all.
    both = as_json("estimate", "--sample")
    assert len(both["chapters"]) == 2
    assert sum(c["prompts"] for c in both["chapters"]) == both["total"]["prompts"]
    assert sum(c["standard_usd"] for c in both["chapters"]) == both["total"]["standard_usd"]
    rows = list(csv.DictReader(io.StringIO(ok("estimate", "--sample", "--csv").stdout)))
    assert [r["chapter"] for r in rows][-1] == "Total" and len(rows) == 3


def test_estimate_counts_the_requests_illustrate_sends_and_matches_the_bill(
    in_tmp_cwd: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    estimate = as_json("estimate", "--sample", "--chapters", "1")
    assert estimate["input_tokens_counted_by"] == "anthropic" and estimate["notes"] == []
    counts = [r for r in fake_anthropic.requests if r.path == COUNT_PATH]
    probe, counted = counts[0], counts[1:]
    assert probe.body["messages"][0]["content"] == "."
    assert estimate["shared_prefix_tokens"] == token_count(request_text(probe.body)) - 1
    assert fake_anthropic.message_requests == []  # counting is free: nothing was generated

    result = ok("illustrate", "--sample", "--chapters", "1", "--llm", "haiku", "--dry-run")
    sent = fake_anthropic.message_requests
    # The very same requests: model, system and messages (counted a few at a time, so in
    # another order).
    assert len(sent) == len(counted) == estimate["total"]["prompts"]

    def essence(body: dict[str, Any]) -> str:
        return json.dumps([body["model"], body["system"], body["messages"]], sort_keys=True)

    assert sorted(essence(r.body) for r in counted) == sorted(essence(r.body) for r in sent)
    assert {r.body["max_tokens"] for r in sent} == {config.HAIKU_MAX_OUTPUT_TOKENS}
    # The fake bills exactly what it counts, so the estimate's input tokens are the bill's.
    ledger = simplejson.loads(
        (costs_dir / "haiku_usage.json").read_text(encoding="utf-8"), use_decimal=True
    )
    assert ledger["sessions"][0]["input_tokens"] == estimate["total"]["input_tokens"]
    # The summary shows the estimate made before the run beside what it cost.
    assert "Estimated Cost: $" in result.stdout and "(before the run)" in result.stdout
    assert "Estimated Claude cost: $" in result.stderr

    # Everything is now in the output folder's cache: nothing left to pay for.
    again = as_json("estimate", "--sample", "--chapters", "1")
    assert again["total"]["prompts"] == 0 and again["total"]["reused"] == len(sent)
    assert again["estimate_usd"] == 0
    assert "reused at no cost" in ok("estimate", "--sample", "--chapters", "1").stdout


def test_counting_falls_back_to_the_approximation_and_says_why(
    in_tmp_cwd: Path, fake_anthropic: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake, like the API, answers 404 for a retired model.
    retired = as_json("estimate", "--sample", "--chapters", "1", "--model", DOCUMENT_MODEL)
    assert retired["input_tokens_counted_by"] == "offline"
    assert "does not know the model" in retired["notes"][0]
    # Rate limits that outlast the SDK's retries stop counting part-way.
    monkeypatch.setattr(config, "TOKEN_COUNT_WORKERS", 1)
    monkeypatch.setattr(config, "HAIKU_MAX_RETRIES", 0)
    fake_anthropic.fail_count_tokens(429, after=3)  # the probe and the first two requests
    partial = as_json("estimate", "--sample", "--chapters", "1")
    assert partial["input_tokens_counted_by"] == "anthropic+offline"
    assert partial["requests_counted"] == 2
    assert partial["requests_approximated"] == partial["total"]["prompts"] - 2
    assert "rate limiting" in partial["notes"][0]
    # --offline sends nothing at all.
    fake_anthropic.clear()
    offline = as_json("estimate", "--sample", "--chapters", "1", "--offline")
    assert offline["input_tokens_counted_by"] == "offline" and offline["notes"] == []
    assert fake_anthropic.requests == []
