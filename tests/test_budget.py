"""--budget and --max-total: a run that does not fit does not start, a call that could pass the
budget is not made, and a stopped run keeps everything it paid for. Against the fake API.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import simplejson
from click.testing import CliRunner, Result

from fakes.anthropic_server import FakeAnthropicServer, token_count
from scenewright import config
from scenewright.budget import BudgetLimits, Limit, SessionBudget, parse_usd, resolve_limits
from scenewright.cli import cli, sample_paths
from scenewright.errors import BudgetError, ConfigError, ScenewrightWarning
from scenewright.estimate import (
    approximate_request_tokens,
    plain_usd,
    request_token_upper_bound,
    worst_case_usd,
)
from scenewright.fileio import dumps_json
from scenewright.pipeline import IllustrateOptions, IllustrationRun

MODEL = config.DEFAULT_HAIKU_MODEL
RUN = ["illustrate", "--sample", "--chapters", "1", "--llm", "haiku", "--dry-run", "-q"]


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


def ledger(costs_dir: Path) -> dict[str, Any]:
    path = costs_dir / "haiku_usage.json"
    if not path.exists():
        return {"sessions": [], "total_cost_usd": 0}
    data: dict[str, Any] = simplejson.loads(path.read_text(encoding="utf-8"), use_decimal=True)
    return data


def sample_run(out: Path) -> IllustrationRun:
    novel, sheet = sample_paths()
    return IllustrationRun(
        novel, IllustrateOptions(chapters="1", llm="haiku", characters=sheet, out_dir=out)
    )


# --- Amounts and defaults ---------------------------------------------------------------------


def test_amounts_and_where_limits_come_from(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_usd("0.50", option="--budget") == Decimal("0.50")
    assert parse_usd(" $2 ", option="--budget") == Decimal(2)
    assert parse_usd("None", option="--budget") is None
    for bad in ("abc", "-1", "nan", "1e99", ""):
        with pytest.raises(ConfigError, match="--budget"):
            parse_usd(bad, option="--budget")
    for bad in ("abc", "nan", "inf", ""):
        with pytest.raises(ConfigError, match="is not an amount of US dollars"):
            parse_usd(bad, option="--budget")
    for large in ("1e9", "1000000000", "$1e99"):
        with pytest.raises(ConfigError, match=r"too large: give an amount under \$1,000,000,000"):
            parse_usd(large, option="--max-total")
    assert parse_usd("999999999.99", option="--budget") == Decimal("999999999.99")
    for nothing in ("0", "-1", "-0", "$0.00", "-1e99"):
        with pytest.raises(ConfigError, match=r"--budget .* must be more than \$0"):
            parse_usd(nothing, option="--budget")
    assert resolve_limits() == BudgetLimits()
    monkeypatch.setenv(config.BUDGET_ENV, "0.25")
    monkeypatch.setattr(config, "DEFAULT_MAX_TOTAL_USD", Decimal(5))
    limits = resolve_limits()
    assert limits.budget == Limit(Decimal("0.25"), config.BUDGET_ENV)
    assert limits.max_total == Limit(Decimal(5), "DEFAULT_MAX_TOTAL_USD in config.py")
    assert resolve_limits("1").budget == Limit(Decimal(1), "--budget")
    assert resolve_limits("none", "off") == BudgetLimits()
    monkeypatch.setenv(config.BUDGET_ENV, "lots")
    with pytest.raises(ConfigError, match=config.BUDGET_ENV):
        resolve_limits()


def test_a_call_is_checked_at_its_worst_case() -> None:
    worst = worst_case_usd(MODEL, 1000, 200)
    assert worst == Decimal("0.0002")  # 1,000 x $0.10 + 200 x $0.50, per million
    budget = SessionBudget(BudgetLimits(Limit(Decimal("0.001"), "--budget")), MODEL)
    # Exactly the room left is allowed; a millionth of a cent more is not.
    assert (
        budget.check_call(
            spent=Decimal("0.0008"), input_tokens=1000, max_output_tokens=200, where="x"
        )
        == worst
    )
    with pytest.raises(BudgetError, match=r"Stopped before x: .* up to \$0\.000200 USD"):
        budget.check_call(
            spent=Decimal("0.00080001"), input_tokens=1000, max_output_tokens=200, where="x"
        )
    # When the approximation falls short of a real count, later bounds grow by as much.
    assert budget.input_bound(100) == 100
    budget.observe(100, 150)
    budget.observe(100, 90)
    assert budget.input_bound(100) == 150
    # The warning comes once, at 80%.
    with pytest.warns(ScenewrightWarning, match="80% of its budget"):
        budget.after_call(Decimal("0.0008"))
    budget.after_call(Decimal("0.0009"))


# --- Before the run ---------------------------------------------------------------------------


def test_a_run_whose_estimate_exceeds_the_budget_does_not_start(
    in_tmp_cwd: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    estimate = sample_run(in_tmp_cwd / "scenewright-out" / "sample").estimate()
    assert estimate is not None
    budget = estimate.cost() - Decimal("0.000001")
    result = invoke(*RUN, "--budget", str(budget))
    assert result.exit_code == 1
    assert f"estimate is {plain_usd(estimate.cost(), places=6)} USD" in result.output
    assert f"budget of {plain_usd(budget, places=6)} USD (--budget)" in result.output
    assert "Nothing was spent" in result.output
    assert fake_anthropic.requests == []
    assert not (in_tmp_cwd / "scenewright-out").exists()
    assert ledger(costs_dir)["sessions"] == []
    # The same from the environment, named as such.
    result = CliRunner(env={config.BUDGET_ENV: str(budget)}).invoke(cli, RUN)
    assert result.exit_code == 1 and config.BUDGET_ENV in result.output
    # A budget that fits starts, with a warning when the estimate nearly fills it.
    fits = invoke(*RUN, "--budget", str(estimate.cost() * Decimal("1.1")))
    assert fits.exit_code == 0, fits.output
    assert "of its budget" in fits.stderr


def test_max_total_refuses_to_take_the_ledger_past_it(
    in_tmp_cwd: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    document = {
        "total_input_tokens": 15000,
        "total_output_tokens": 3000,
        "total_cost_usd": Decimal("0.024"),
        "sessions": [],
    }
    (costs_dir / "haiku_usage.json").write_text(dumps_json(document), encoding="utf-8")
    reached = invoke(*RUN, "--max-total", "0.024")
    assert reached.exit_code == 1
    assert "$0.024000 USD, has already reached the limit of $0.024000 USD (--max-total)" in (
        reached.output
    )
    past = invoke(*RUN, "--max-total", "0.0241")
    assert past.exit_code == 1
    assert "would take it past the limit of $0.024100 USD (--max-total)" in past.output
    assert fake_anthropic.requests == []
    fits = invoke(*RUN, "--max-total", "1")
    assert fits.exit_code == 0, fits.output
    assert ledger(costs_dir)["total_cost_usd"] > Decimal("0.024")
    # A rerun that reuses every prompt pays for nothing, so it goes ahead even with the
    # ledger already over the limit.
    calls = len(fake_anthropic.requests)
    rerun = invoke(*RUN, "--max-total", "0.01")
    assert rerun.exit_code == 0, rerun.output
    assert len(fake_anthropic.requests) == calls


def test_a_run_with_nothing_to_pay_for_always_starts() -> None:
    limits = BudgetLimits(Limit(Decimal(0), "--budget"), Limit(Decimal("0.01"), "--max-total"))
    budget = SessionBudget(limits, MODEL, ledger_total=Decimal(5))
    budget.check_start(Decimal(0), prompts=0)
    with pytest.raises(BudgetError, match="already reached"):
        budget.check_start(Decimal("0.001"), prompts=1)


def test_compare_checks_its_one_call(costs_dir: Path, fake_anthropic: FakeAnthropicServer) -> None:
    refused = invoke("compare", "--llm", "haiku", "--budget", "0.00001")
    assert refused.exit_code == 1
    assert "budget of $0.000010 USD (--budget)" in refused.output
    assert fake_anthropic.requests == []
    allowed = invoke("compare", "--llm", "haiku", "--budget", "0.01", "--max-total", "1")
    assert allowed.exit_code == 0, allowed.output
    assert len(fake_anthropic.message_requests) == 1


# --- During the run ---------------------------------------------------------------------------


def test_a_budgeted_run_stops_before_the_call_that_could_pass_it(
    in_tmp_cwd: Path, costs_dir: Path, fake_anthropic: FakeAnthropicServer
) -> None:
    out = in_tmp_cwd / "scenewright-out" / "sample"
    run = sample_run(out)
    estimate = run.estimate()
    assert estimate is not None
    plan = run.haiku_plan()
    # Every reply runs to its limit, so the run costs more than its estimate, which assumed
    # prompts of typical length: it starts within its budget and must stop part-way.
    fake_anthropic.reply(usage={"output_tokens": config.HAIKU_MAX_OUTPUT_TOKENS}, times=None)
    budget = estimate.cost()
    result = invoke(*RUN, "--budget", str(budget))
    assert result.exit_code != 0

    made = fake_anthropic.message_requests
    assert 0 < len(made) < len(plan)
    spent = sum(
        (
            (token_count(r.system_text + r.user_text) * Decimal("0.10") + 200 * Decimal("0.50"))
            / 10**6
            for r in made
        ),
        Decimal(0),
    )
    # Within the budget, and the next call's worst case would have passed it.
    nxt = plan[len(made)]
    worst = worst_case_usd(MODEL, request_token_upper_bound(nxt.request), 200)
    assert spent <= budget < spent + worst
    ref = f"{nxt.chapter}.{nxt.index}"
    most = plain_usd(worst, places=6)
    assert f"Stopped before sentence {ref}: its call could cost up to {most} USD" in result.output
    assert f"budget of {plain_usd(budget, places=6)} USD (--budget)" in result.output
    assert "80%" in result.stderr or "% of its budget" in result.stderr

    # Nothing is lost: every call made is in the ledger, the cache and the manifest.
    session = ledger(costs_dir)["sessions"][0]
    assert session["api_calls"] == len(made)
    assert session["cost_usd"] == spent
    assert session["status"] == "stopped_at_budget"
    cache_lines = (out / "prompt_cache.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(cache_lines) == len(made)
    manifest = json.loads((out / "prompts.json").read_text(encoding="utf-8"))
    assert manifest["complete"] is False and len(manifest["entries"]) == len(made)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["status"] == (
        "stopped_at_budget"
    )
    # The summary is printed, with the estimate beside the cost and the budget used.
    assert "HAIKU API COST SUMMARY" in result.stdout
    assert f"Session Cost: ${spent:.6f} USD" in result.stdout
    assert f"Estimated Cost: ${budget:.6f} USD (before the run)" in result.stdout
    assert f"Budget: ${budget:.6f} USD (" in result.stdout

    # Run again with room to spare: the paid prompts are reused, the rest are made.
    again = invoke(*RUN, "--budget", "1")
    assert again.exit_code == 0, again.output
    assert len(fake_anthropic.message_requests) == len(plan)
    manifest = json.loads((out / "prompts.json").read_text(encoding="utf-8"))
    assert manifest["complete"] is True
    assert sum(e["reused"] for e in manifest["entries"]) == len(made)


def test_the_per_call_bound_holds_for_emoji_and_rare_cjk() -> None:
    from scenewright.prompt_generator import build_haiku_request

    sentence = "\U0001f409\U0001f30a" * 50 + "\U00020000" * 50  # 4-byte characters
    request = build_haiku_request(sentence, None, None, MODEL)
    budget = SessionBudget(BudgetLimits(Limit(Decimal(1), "--budget")), MODEL)
    bound = budget.request_bound(request)
    # The offline approximation counts one token per such character; the tokenizer may
    # spend a token on each of their bytes. The bound covers that.
    assert approximate_request_tokens(request) < len(sentence) * 4 <= bound
    assert bound >= len((request.system + request.user_message).encode("utf-8"))
