"""Budgets: a limit per run (``--budget``) and for all time (``--max-total``).

Both are checked before money is spent, never after:

* Before a run starts, its estimate (:mod:`scenewright.estimate`) must fit. A run that
  does not fit does not start, and the message gives the estimate and the limit.
* Before each paid call, the most that call can cost (its input tokens, bounded from
  above by one token per UTF-8 byte of its texts plus its framing, plus every output token
  its ``max_tokens`` allows, at the prices in ``config``)
  must fit in what is left. A call that could take the run past a limit is not made:
  :class:`~scenewright.errors.BudgetError` stops the run, and everything already generated
  and recorded is kept.
* A warning is shown once when the spend reaches ``config.BUDGET_WARNING_SHARE`` (80%) of
  the budget, or the ledger's total reaches that share of ``--max-total``.

A prompt reused from the output folder's cache costs nothing and is never checked.

Defaults come from ``config.DEFAULT_BUDGET_USD`` and ``config.DEFAULT_MAX_TOTAL_USD``, or
the environment variables ``SCENEWRIGHT_BUDGET_USD`` and ``SCENEWRIGHT_MAX_TOTAL_USD``,
which override them; ``--budget none`` turns a default off for one run.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from scenewright import config
from scenewright.errors import BudgetError, ConfigError, ScenewrightWarning
from scenewright.estimate import (
    PlannedPrompt,
    approximate_request_tokens,
    estimate_plan,
    plain_usd,
    request_token_upper_bound,
    worst_case_usd,
)
from scenewright.prompt_generator import HaikuRequest

__all__ = [
    "BudgetLimits",
    "Limit",
    "SessionBudget",
    "check_single_request",
    "parse_usd",
    "resolve_limits",
]

# Values of --budget and --max-total that turn a default off.
_NO_LIMIT = ("none", "off")
_MAX_USD = Decimal(10) ** 9


def format_usd(amount: Decimal) -> str:
    """Six decimals, and every further digit the amount has: an estimate of $0.0018005 over a
    budget of $0.0018 must not read as $0.001800 over $0.001800.
    """
    return plain_usd(amount, places=6)


@dataclass(frozen=True)
class Limit:
    """An amount of USD and where it was set, for messages: ``--budget``, an environment
    variable, or ``config.py``.
    """

    amount: Decimal
    source: str

    def describe(self) -> str:
        return f"{format_usd(self.amount)} USD ({self.source})"


@dataclass(frozen=True)
class BudgetLimits:
    """The limits one run is held to; either may be absent."""

    budget: Limit | None = None  # the most this run may spend
    max_total: Limit | None = None  # the most the ledger's all-time total may reach

    @property
    def active(self) -> bool:
        return self.budget is not None or self.max_total is not None


def parse_usd(text: str, *, option: str) -> Decimal | None:
    """``"0.50"``, ``"$0.50"``, ``"2"`` as exact USD; ``"none"`` or ``"off"`` as no limit.

    :class:`ConfigError` names ``option`` and says what is accepted.
    """
    cleaned = text.strip().lower().removeprefix("$").strip()
    if cleaned in _NO_LIMIT:
        return None
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        amount = None
    if amount is not None and amount.is_finite() and amount >= _MAX_USD:
        raise ConfigError(
            f"{option} {text.strip()!r} is too large: give an amount under "
            f"${_MAX_USD:,}, or 'none' for no limit."
        )
    if amount is not None and amount.is_finite() and amount <= 0:
        raise ConfigError(
            f"{option} {text.strip()!r} is not a limit: it must be more than $0. Give an "
            "amount such as 0.50 or 2, or 'none' for no limit."
        )
    if amount is None or not amount.is_finite():
        raise ConfigError(
            f"{option} {text.strip()!r} is not an amount of US dollars. Give one such as "
            f"0.50 or 2 (no currency sign needed), or 'none' for no limit."
        )
    return amount


def _resolve(
    given: str | None, option: str, env: str, default: Decimal | None, setting: str
) -> Limit | None:
    if given is not None:
        amount = parse_usd(given, option=option)
        return None if amount is None else Limit(amount, option)
    from_env = os.environ.get(env, "").strip()
    if from_env:
        amount = parse_usd(from_env, option=f"The environment variable {env}:")
        return None if amount is None else Limit(amount, env)
    if default is not None:
        return Limit(default, f"{setting} in config.py")
    return None


def resolve_limits(budget: str | None = None, max_total: str | None = None) -> BudgetLimits:
    """The limits for a run: each option when given, else its environment variable, else
    its default in ``config``.
    """
    return BudgetLimits(
        _resolve(
            budget, "--budget", config.BUDGET_ENV, config.DEFAULT_BUDGET_USD, "DEFAULT_BUDGET_USD"
        ),
        _resolve(
            max_total,
            "--max-total",
            config.MAX_TOTAL_ENV,
            config.DEFAULT_MAX_TOTAL_USD,
            "DEFAULT_MAX_TOTAL_USD",
        ),
    )


def _percent(part: Decimal, whole: Decimal) -> str:
    if whole <= 0:
        return "100%"
    return f"{math.floor(part * 100 / whole)}%"


class SessionBudget:
    """Holds one run (one ledger session) to its limits, call by call.

    ``spent`` is always the session's cost so far (``CostTracker.session_cost``);
    ``ledger_total`` is the ledger's all-time total when the run started, and
    ``spent_at_start`` the session's cost then, so that a session already in the ledger is
    not counted twice against ``--max-total``.
    """

    def __init__(
        self,
        limits: BudgetLimits,
        model: str,
        *,
        ledger_total: Decimal = Decimal(0),
        spent_at_start: Decimal = Decimal(0),
    ) -> None:
        self.limits = limits
        self.model = model
        self.ledger_total = ledger_total
        self.spent_at_start = spent_at_start
        # The largest actual / approximated input tokens seen: when the approximation has
        # fallen short, later bounds are scaled up by as much.
        self._ratio = 1.0
        self._warned: set[str] = set()

    # --- what is left -----------------------------------------------------------------------

    def _total_after(self, spent: Decimal) -> Decimal:
        return self.ledger_total + (spent - self.spent_at_start)

    def _rooms(self, spent: Decimal) -> list[tuple[Decimal, Limit]]:
        rooms: list[tuple[Decimal, Limit]] = []
        if self.limits.budget is not None:
            rooms.append((self.limits.budget.amount - spent, self.limits.budget))
        if self.limits.max_total is not None:
            rooms.append(
                (self.limits.max_total.amount - self._total_after(spent), self.limits.max_total)
            )
        return rooms

    def remaining(self, spent: Decimal) -> Decimal | None:
        """What may still be spent in this run, or None without limits."""
        rooms = self._rooms(spent)
        return min(room for room, _ in rooms) if rooms else None

    # --- before the run ---------------------------------------------------------------------

    def check_start(
        self,
        estimate: Decimal,
        *,
        prompts: int,
        spent: Decimal = Decimal(0),
        fewer: str | None = None,
    ) -> None:
        """Refuse a run whose estimate does not fit; warn when it nearly fills the budget.

        ``fewer`` is how to ask for less work (``"illustrate fewer chapters with --chapters"``).
        """
        if not prompts or estimate <= 0:
            return  # a run with nothing to pay for (every prompt reused) always goes ahead
        what = f"{prompts:,} new prompt(s) with {self.model}"
        hint = f", {fewer}," if fewer else ""
        total = self.limits.max_total
        if total is not None and self._total_after(spent) >= total.amount:
            raise BudgetError(
                f"The ledger's all-time total, {format_usd(self._total_after(spent))} USD, has "
                f"already reached the limit of {total.describe()}, so no paid run can start. "
                f"Nothing was spent. Raise --max-total{hint} or use --llm keyword, which is free."
            )
        for room, limit in self._rooms(spent):
            if estimate <= room:
                continue
            if limit is total:
                raise BudgetError(
                    f"This run's estimate is {format_usd(estimate)} USD for {what}. The "
                    f"ledger's all-time total is {format_usd(self._total_after(spent))} USD, "
                    f"so the run would take it past the limit of {limit.describe()}. Nothing "
                    f"was spent. Raise --max-total{hint} or use --llm keyword, which is free."
                )
            raise BudgetError(
                f"This run's estimate is {format_usd(estimate)} USD for {what}, over its "
                f"budget of {limit.describe()}. Nothing was spent. Raise --budget{hint} or "
                "see the details with `scenewright estimate`."
            )
        budget = self.limits.budget
        if budget is not None and estimate > budget.amount * config.BUDGET_WARNING_SHARE:
            warnings.warn(
                f"This run's estimate, {format_usd(estimate)} USD, is "
                f"{_percent(estimate, budget.amount)} of its budget of {budget.describe()}: "
                "the run may stop before the end if the prompts run long.",
                ScenewrightWarning,
                stacklevel=2,
            )

    # --- call by call -------------------------------------------------------------------------

    def input_bound(self, approximate_input_tokens: int) -> int:
        """The offline approximation, scaled up by as much as it has ever fallen short."""
        return math.ceil(approximate_input_tokens * self._ratio)

    def request_bound(self, request: HaikuRequest) -> int:
        """An upper bound for a request's input tokens: one per UTF-8 byte of its texts plus
        the framing (:func:`~scenewright.estimate.request_token_upper_bound`), or more if a
        real count has ever exceeded the approximation by more.
        """
        return max(
            request_token_upper_bound(request),
            self.input_bound(approximate_request_tokens(request)),
        )

    def observe(self, approximate_input_tokens: int, actual_input_tokens: int) -> None:
        """Learn from a call's real input tokens how far the approximation can fall short."""
        if approximate_input_tokens > 0:
            self._ratio = max(self._ratio, actual_input_tokens / approximate_input_tokens)

    def check_call(
        self, *, spent: Decimal, input_tokens: int, max_output_tokens: int, where: str
    ) -> Decimal:
        """Raise :class:`BudgetError` if the call described could take the run past a limit;
        else return the most it can cost. ``where`` names the call (``"sentence 1.14"``).
        """
        worst = worst_case_usd(self.model, input_tokens, max_output_tokens)
        for room, limit in self._rooms(spent):
            if worst <= room:
                continue
            left = max(room, Decimal(0))
            option = "--max-total" if limit is self.limits.max_total else "--budget"
            of_what = (
                f"the limit of {limit.describe()} on the ledger's all-time total"
                if option == "--max-total"
                else f"the budget of {limit.describe()}"
            )
            raise BudgetError(
                f"Stopped before {where}: its call could cost up to {format_usd(worst)} USD, "
                f"and only {format_usd(left)} USD of {of_what} is left "
                f"({format_usd(spent)} USD spent in this run). Everything written so far is "
                "kept, and every call made is recorded in the ledger. Run the same command "
                f"with a larger {option} to go on: the prompts already written are reused at "
                "no cost."
            )
        return worst

    def after_call(self, spent: Decimal) -> None:
        """Warn once when the spend reaches the warning share of a limit."""
        share = config.BUDGET_WARNING_SHARE
        budget = self.limits.budget
        if budget is not None and "budget" not in self._warned and spent >= budget.amount * share:
            self._warned.add("budget")
            warnings.warn(
                f"This run has spent {format_usd(spent)} USD, "
                f"{_percent(spent, budget.amount)} of its budget of {budget.describe()}.",
                ScenewrightWarning,
                stacklevel=2,
            )
        total = self.limits.max_total
        if (
            total is not None
            and "max_total" not in self._warned
            and self._total_after(spent) >= total.amount * share
        ):
            self._warned.add("max_total")
            warnings.warn(
                f"The ledger's all-time total is now {format_usd(self._total_after(spent))} "
                f"USD, {_percent(self._total_after(spent), total.amount)} of the limit of "
                f"{total.describe()}.",
                ScenewrightWarning,
                stacklevel=2,
            )


def check_single_request(
    limits: BudgetLimits, request: HaikuRequest, *, ledger_total: Decimal
) -> None:
    """For a command that makes one paid call (``scenewright compare``): refuse it when its
    estimate, or the most it can cost, does not fit the limits.
    """
    if not limits.active:
        return
    plan = [PlannedPrompt(0, "", 1, request, reused=False)]
    estimate = estimate_plan(plan, request.model)
    budget = SessionBudget(limits, request.model, ledger_total=ledger_total)
    budget.check_start(estimate.cost(), prompts=1)
    budget.check_call(
        spent=Decimal(0),
        input_tokens=budget.request_bound(request),
        max_output_tokens=request.max_tokens,
        where="the call for this sentence",
    )
