"""What Claude prompts will cost, before anything is paid for.

Two forms, both priced by :mod:`scenewright.pricing` at the prices in ``config``:

* :func:`estimate_plan` prices the very requests ``illustrate --llm haiku`` would send
  (:meth:`scenewright.pipeline.IllustrationRun.haiku_plan`). Prompts already in the output
  folder's cache, and repeats of a request earlier in the run, are reused at no cost and are
  not priced.
* :func:`back_of_envelope` is the design document's arithmetic: N prompts of A input and B
  output tokens each.

Input tokens are counted by Anthropic's free token-counting endpoint
(``POST /v1/messages/count_tokens``) when a key is set, or approximated offline by
:func:`approximate_tokens`: one token per ``config.APPROX_ASCII_CHARS_PER_TOKEN`` (3) ASCII
characters, rounded up, one per other character, plus
``config.APPROX_REQUEST_OVERHEAD_TOKENS`` (10) per request for its framing. Claude's
tokenizers average nearer 3.5 to 4 ASCII characters a token, so the approximation errs high.

Output tokens are ``config.HAIKU_TYPICAL_OUTPUT_TOKENS`` (100) per prompt, typically, and
at most the request's ``max_tokens`` (``config.HAIKU_MAX_OUTPUT_TOKENS``, 200).

Each estimate is priced at three rates:

* standard: what a run costs;
* batch: the Message Batches API, every rate halved;
* cached: the instructions every request shares read from the prompt cache (the first
  request writes them at the 5-minute write rate). scenewright does not ask for caching yet,
  and the API caches only prompts above a model-dependent minimum length, so this is what
  caching could save.
"""

from __future__ import annotations

import decimal
import math
import textwrap
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from scenewright import config
from scenewright.pricing import (
    BilledTokens,
    check_model,
    model_price,
    price_call,
    tidy_usd,
    usd_sum,
)
from scenewright.prompt_generator import SYSTEM_INSTRUCTIONS, HaikuRequest
from scenewright.tables import Cell, shorten, text_table
from scenewright.usage import format_usd

__all__ = [
    "COUNTED_BY_ANTHROPIC",
    "COUNTED_OFFLINE",
    "EnvelopeEstimate",
    "Estimate",
    "EstimateLine",
    "PlannedPrompt",
    "TokenCounts",
    "about",
    "approximate_request_tokens",
    "approximate_tokens",
    "back_of_envelope",
    "count_input_tokens",
    "estimate_plan",
    "plain_usd",
    "request_token_upper_bound",
    "token_upper_bound",
    "worst_case_usd",
]

COUNTED_BY_ANTHROPIC = "anthropic"
COUNTED_OFFLINE = "offline"

# A request that makes the token counter count only the shared instructions and framing.
_PREFIX_PROBE = "."
# Token counts times prices, and a price times a count of prompts, exactly.
_EXACT = decimal.Context(prec=60)


def approximate_tokens(text: str) -> int:
    """The offline approximation of ``text``'s tokens (see the module's docstring)."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / config.APPROX_ASCII_CHARS_PER_TOKEN) + (len(text) - ascii_chars)


def token_upper_bound(text: str) -> int:
    """The most tokens ``text`` can be: one per UTF-8 byte.

    Claude's tokenizer falls back to single bytes for what its vocabulary lacks, so no text
    takes more tokens than it has bytes: an emoji or a rare CJK character (4 or 3 bytes) can
    be several tokens, and is counted as such here. Far above the real count for ordinary
    text, so it bounds spending; :func:`approximate_tokens` estimates it.
    """
    return len(text.encode("utf-8", "surrogatepass"))


def request_token_upper_bound(request: HaikuRequest) -> int:
    """The most input tokens a whole request can be: :func:`token_upper_bound` of its
    texts, plus ``config.APPROX_REQUEST_OVERHEAD_TOKENS`` for its framing.
    """
    return (
        token_upper_bound(request.system)
        + token_upper_bound(request.user_message)
        + config.APPROX_REQUEST_OVERHEAD_TOKENS
    )


def approximate_request_tokens(request: HaikuRequest) -> int:
    """The offline approximation of a whole request's input tokens."""
    return (
        approximate_tokens(request.system)
        + approximate_tokens(request.user_message)
        + config.APPROX_REQUEST_OVERHEAD_TOKENS
    )


def plain_usd(amount: Decimal, *, places: int = 0) -> str:
    """``$0.00084``: an exact amount as the design document writes it, with at least
    ``places`` decimals (``$0.00040``) and no other trailing zeros.
    """
    amount = tidy_usd(amount)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent < places:
        amount = amount.quantize(Decimal(1).scaleb(-places))
    return "$" + format(amount, "f")


def about(amount: Decimal) -> str:
    """``about 50 cents``, ``about 4.2 cents``, ``about $12.35``: two significant figures
    under a dollar, as the design document rounds its estimates.
    """
    if amount <= 0:
        return "nothing"
    cents = amount * 100
    if cents < 100:
        rounded = cents.quantize(Decimal(1).scaleb(cents.adjusted() - 1), decimal.ROUND_HALF_UP)
        if rounded < 100:
            return f"about {format(tidy_usd(rounded), 'f')} cents"
    return f"about {format_usd(amount.quantize(Decimal('0.01'), decimal.ROUND_HALF_UP), 2)}"


def worst_case_usd(model: str, input_tokens: int, max_output_tokens: int) -> Decimal:
    """The most one call can cost: every input token, and every output token it may write."""
    return price_call(BilledTokens(input_tokens, max_output_tokens), model).cost


# --- Planned requests and their counts -------------------------------------------------------


@dataclass(frozen=True)
class PlannedPrompt:
    """One sentence's prompt as a run would get it: paid for with ``request``, or reused."""

    chapter: int
    chapter_title: str
    index: int
    request: HaikuRequest
    reused: bool  # in the output folder's prompt cache, or a repeat earlier in the run


@dataclass
class TokenCounts:
    """Input tokens of each request to pay for, and how they were found."""

    tokens: list[int]
    counted: list[bool]  # True: by Anthropic's endpoint; False: approximated offline
    prefix_tokens: int  # the shared instructions and framing, as the cached rate reads them
    notes: list[str] = field(default_factory=list)

    @property
    def counted_by(self) -> str:
        """``anthropic``, ``offline``, or ``anthropic+offline`` when counting stopped part-way."""
        if self.tokens and all(self.counted):
            return COUNTED_BY_ANTHROPIC
        if any(self.counted):
            return f"{COUNTED_BY_ANTHROPIC}+{COUNTED_OFFLINE}"
        return COUNTED_OFFLINE


def _offline_prefix() -> int:
    return approximate_tokens(SYSTEM_INSTRUCTIONS) + config.APPROX_REQUEST_OVERHEAD_TOKENS


def count_input_tokens(
    requests: Sequence[HaikuRequest],
    model: str,
    *,
    offline: bool,
    on_counted: Callable[[], None] | None = None,
) -> TokenCounts:
    """Input tokens of ``requests``: by Anthropic's endpoint unless ``offline``.

    Counting never makes an estimate fail: when the endpoint cannot be used (no key, a model
    it does not know, rate limits that outlast the SDK's retries, no connection) the requests
    not yet counted are approximated offline, and a note says why.
    """
    approximations = [approximate_request_tokens(request) for request in requests]
    counts = TokenCounts(list(approximations), [False] * len(requests), _offline_prefix())
    if offline or not requests:
        return counts
    from scenewright.api_key import check_api_key
    from scenewright.errors import MissingAPIKeyError

    try:
        check_api_key()
    except MissingAPIKeyError:
        counts.notes.append(
            "ANTHROPIC_API_KEY is not set, so input tokens are approximated offline; set it "
            "to have Anthropic's free token-counting endpoint count them exactly."
        )
        return counts
    _count_with_anthropic(requests, model, counts, on_counted)
    return counts


def _count_with_anthropic(
    requests: Sequence[HaikuRequest],
    model: str,
    counts: TokenCounts,
    on_counted: Callable[[], None] | None,
) -> None:
    # Imported here: the SDK takes seconds to import, and offline estimates never need it.
    import anthropic

    from scenewright.haiku_prompt import _translate, shared_client

    client = shared_client()
    stop = threading.Event()
    problems: list[str] = []

    def count(request: HaikuRequest) -> int:
        result = client.messages.count_tokens(
            model=request.model,
            system=request.system,
            messages=[{"role": "user", "content": request.user_message}],
        )
        return int(result.input_tokens)

    def explain(error: anthropic.APIError) -> str:
        if isinstance(error, anthropic.NotFoundError):
            return (
                f"Anthropic's token-counting endpoint does not know the model {model!r} (it "
                "may be retired), so input tokens are approximated offline."
            )
        return (
            f"Token counting stopped: {_translate(error, model, client)} Input tokens not "
            "counted are approximated offline."
        )

    def work(position: int) -> None:
        if stop.is_set():
            return
        try:
            counts.tokens[position] = count(requests[position])
        except anthropic.APIError as error:
            if not stop.is_set():
                stop.set()
                problems.append(explain(error))
            return
        counts.counted[position] = True
        if on_counted is not None:
            on_counted()

    probe = HaikuRequest(model, config.HAIKU_MAX_OUTPUT_TOKENS, SYSTEM_INSTRUCTIONS, _PREFIX_PROBE)
    try:
        counts.prefix_tokens = count(probe) - 1  # less the probe's own token
    except anthropic.APIError as error:
        counts.notes.append(explain(error))
        return
    with ThreadPoolExecutor(max_workers=config.TOKEN_COUNT_WORKERS) as pool:
        futures: list[Future[None]] = [pool.submit(work, n) for n in range(len(requests))]
        for future in futures:
            future.result()
    counts.notes.extend(problems[:1])


# --- Pricing a plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class EstimateLine:
    """The figures of one chapter, or of the whole selection."""

    label: str
    prompts: int  # prompts to pay for
    reused: int  # prompts reused at no cost
    input_tokens: int
    output_tokens: int  # at the typical length
    max_output_tokens: int  # at every request's max_tokens
    standard_usd: Decimal
    batch_usd: Decimal
    cached_usd: Decimal
    batch_cached_usd: Decimal
    max_usd: Decimal  # every prompt at its max_tokens, standard rates

    def cost(self, *, batch: bool, cache: bool) -> Decimal:
        if batch and cache:
            return self.batch_cached_usd
        if batch:
            return self.batch_usd
        return self.cached_usd if cache else self.standard_usd

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "prompts": self.prompts,
            "reused": self.reused,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "max_output_tokens": self.max_output_tokens,
            "standard_usd": self.standard_usd,
            "batch_usd": self.batch_usd,
            "cached_usd": self.cached_usd,
            "batch_cached_usd": self.batch_cached_usd,
            "max_usd": self.max_usd,
        }


def rates_label(*, batch: bool, cache: bool) -> str:
    if batch and cache:
        return "batch and cached rates"
    if batch:
        return "batch rates"
    return "cached rates" if cache else "standard rates"


@dataclass(frozen=True)
class Estimate:
    """What a run's Claude prompts will cost, per chapter and in all."""

    model: str
    chapters: tuple[EstimateLine, ...]
    total: EstimateLine
    counted_by: str
    counted: int  # requests whose input tokens Anthropic counted
    approximated: int  # requests whose input tokens were approximated offline
    prefix_tokens: int
    typical_output_tokens: int
    max_output_tokens: int
    notes: tuple[str, ...] = ()

    def cost(self, *, batch: bool = False, cache: bool = False) -> Decimal:
        return self.total.cost(batch=batch, cache=cache)

    def to_json(self, *, batch: bool = False, cache: bool = False) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_tokens_counted_by": self.counted_by,
            "requests_counted": self.counted,
            "requests_approximated": self.approximated,
            "shared_prefix_tokens": self.prefix_tokens,
            "output_tokens_per_prompt": self.typical_output_tokens,
            "max_output_tokens_per_prompt": self.max_output_tokens,
            "rates": rates_label(batch=batch, cache=cache),
            "estimate_usd": self.cost(batch=batch, cache=cache),
            "chapters": [line.to_json() for line in self.chapters],
            "total": self.total.to_json(),
            "notes": list(self.notes),
        }

    def lines(self, *, title: str, batch: bool = False, cache: bool = False) -> list[str]:
        """The printed estimate: a table per chapter and in all, then the headline figure."""
        how = {
            COUNTED_BY_ANTHROPIC: "counted by Anthropic's token-counting endpoint (free)",
            COUNTED_OFFLINE: (
                f"approximated offline (1 token per {config.APPROX_ASCII_CHARS_PER_TOKEN} "
                f"characters, +{config.APPROX_REQUEST_OVERHEAD_TOKENS} per request; errs high)"
            ),
        }.get(
            self.counted_by,
            f"{self.counted:,} counted by Anthropic, {self.approximated:,} approximated offline",
        )
        out = [
            title,
            f"Model: {self.model}",
            f"Input tokens: {how}",
            f"Output tokens: {self.typical_output_tokens} per prompt (typical), "
            f"{self.max_output_tokens} at most (max_tokens)",
            "",
        ]
        headers = (
            "Chapter",
            "Prompts",
            "Input tokens",
            "Output tokens",
            "Standard",
            "Batch",
            "Cached",
        )

        def row(line: EstimateLine) -> list[str]:
            return [
                shorten(line.label, 36),
                f"{line.prompts:,}",
                f"{line.input_tokens:,}",
                f"{line.output_tokens:,}",
                format_usd(line.standard_usd),
                format_usd(line.batch_usd),
                format_usd(line.cached_usd),
            ]

        out += text_table(headers, (row(line) for line in self.chapters), footer=[row(self.total)])
        out.append("")
        if self.total.reused:
            out.append(
                f"{self.total.reused:,} prompt(s) already written are reused at no cost and "
                "are not counted above."
            )
        out.append(
            f"At most (every prompt at {self.max_output_tokens} output tokens): "
            f"{format_usd(self.total.max_usd)} USD at standard rates."
        )
        notes = [
            f"Cached: the {self.prefix_tokens:,} tokens of instructions every request shares, "
            "read from the prompt cache. scenewright does not ask for caching yet, and the API "
            "caches only prompts above a model-dependent minimum length, so this is what "
            "caching could save.",
            *self.notes,
        ]
        out.extend(
            line for note in notes for line in textwrap.wrap(note, width=88, break_on_hyphens=False)
        )
        out.append("")
        out.append(
            f"Estimated cost: {format_usd(self.cost(batch=batch, cache=cache))} USD "
            f"({rates_label(batch=batch, cache=cache)}) for {self.total.prompts:,} prompt(s)"
        )
        return out

    def csv_rows(self) -> tuple[list[str], list[list[Cell]]]:
        headers = [
            "chapter",
            "prompts",
            "reused",
            "input_tokens",
            "output_tokens",
            "max_output_tokens",
            "standard_usd",
            "batch_usd",
            "cached_usd",
            "batch_cached_usd",
            "max_usd",
        ]
        rows: list[list[Cell]] = [
            [
                line.label,
                line.prompts,
                line.reused,
                line.input_tokens,
                line.output_tokens,
                line.max_output_tokens,
                line.standard_usd,
                line.batch_usd,
                line.cached_usd,
                line.batch_cached_usd,
                line.max_usd,
            ]
            for line in (*self.chapters, self.total)
        ]
        return headers, rows


@dataclass
class _Sums:
    prompts: int = 0
    reused: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    max_output_tokens: int = 0
    standard: list[Decimal] = field(default_factory=list)
    batch: list[Decimal] = field(default_factory=list)
    cached: list[Decimal] = field(default_factory=list)
    batch_cached: list[Decimal] = field(default_factory=list)
    most: list[Decimal] = field(default_factory=list)

    def line(self, label: str) -> EstimateLine:
        return EstimateLine(
            label=label,
            prompts=self.prompts,
            reused=self.reused,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            max_output_tokens=self.max_output_tokens,
            standard_usd=usd_sum(self.standard),
            batch_usd=usd_sum(self.batch),
            cached_usd=usd_sum(self.cached),
            batch_cached_usd=usd_sum(self.batch_cached),
            max_usd=usd_sum(self.most),
        )


def estimate_plan(
    plan: Sequence[PlannedPrompt],
    model: str,
    *,
    offline: bool = True,
    typical_output_tokens: int | None = None,
    on_counted: Callable[[], None] | None = None,
) -> Estimate:
    """Price the prompts of ``plan`` that would be paid for, per chapter and in all.

    ``offline`` (the default, which sends nothing anywhere) approximates input tokens;
    otherwise Anthropic's endpoint counts them when a key is set.
    """
    check_model(model)
    typical = (
        config.HAIKU_TYPICAL_OUTPUT_TOKENS
        if typical_output_tokens is None
        else (typical_output_tokens)
    )
    to_pay = [item for item in plan if not item.reused]
    counts = count_input_tokens(
        [item.request for item in to_pay], model, offline=offline, on_counted=on_counted
    )
    tokens = iter(counts.tokens)
    chapters: dict[int, tuple[str, _Sums]] = {}
    total = _Sums()
    first = True
    for item in plan:
        label = item.chapter_title or f"Chapter {item.chapter}"
        _, sums = chapters.setdefault(item.chapter, (label, _Sums()))
        if item.reused:
            sums.reused += 1
            total.reused += 1
            continue
        input_tokens = next(tokens)
        output_tokens = min(typical, item.request.max_tokens)
        prefix = min(counts.prefix_tokens, input_tokens)
        plain = BilledTokens(input_tokens, output_tokens)
        # The first request writes the shared instructions to the cache; the rest read them.
        cached = (
            BilledTokens(input_tokens - prefix, output_tokens, cache_write_5m_tokens=prefix)
            if first
            else BilledTokens(input_tokens - prefix, output_tokens, cache_read_tokens=prefix)
        )
        first = False
        for bucket in (sums, total):
            bucket.prompts += 1
            bucket.input_tokens += input_tokens
            bucket.output_tokens += output_tokens
            bucket.max_output_tokens += item.request.max_tokens
            bucket.standard.append(price_call(plain, model).cost)
            bucket.batch.append(price_call(plain, model, batch=True).cost)
            bucket.cached.append(price_call(cached, model).cost)
            bucket.batch_cached.append(price_call(cached, model, batch=True).cost)
            bucket.most.append(worst_case_usd(model, input_tokens, item.request.max_tokens))
    counted = sum(counts.counted)
    return Estimate(
        model=model,
        chapters=tuple(sums.line(label) for label, sums in chapters.values()),
        total=total.line("Total"),
        counted_by=counts.counted_by,
        counted=counted,
        approximated=len(counts.tokens) - counted,
        prefix_tokens=counts.prefix_tokens,
        typical_output_tokens=typical,
        max_output_tokens=config.HAIKU_MAX_OUTPUT_TOKENS,
        notes=tuple(counts.notes),
    )


# --- The design document's arithmetic --------------------------------------------------------


@dataclass(frozen=True)
class EnvelopeEstimate:
    """N prompts of the same size, priced as the design document's "Cost Estimation" does."""

    model: str
    sentences: int
    input_tokens: int  # per prompt, cache reads included
    output_tokens: int  # per prompt
    cached_tokens: int  # per prompt, of input_tokens, read from the prompt cache
    batch: bool
    input_rate: Decimal  # USD per million tokens, after any batch discount
    output_rate: Decimal
    cache_read_rate: Decimal
    input_usd: Decimal  # per prompt
    output_usd: Decimal
    cache_usd: Decimal
    per_prompt_usd: Decimal
    total_usd: Decimal

    @property
    def total_input_tokens(self) -> int:
        return self.sentences * self.input_tokens

    @property
    def total_output_tokens(self) -> int:
        return self.sentences * self.output_tokens

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.total_output_tokens

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "sentences": self.sentences,
            "batch": self.batch,
            "input_tokens_per_prompt": self.input_tokens,
            "output_tokens_per_prompt": self.output_tokens,
            "cached_tokens_per_prompt": self.cached_tokens,
            "input_usd_per_million": self.input_rate,
            "output_usd_per_million": self.output_rate,
            "cache_read_usd_per_million": self.cache_read_rate,
            "input_usd_per_prompt": self.input_usd,
            "output_usd_per_prompt": self.output_usd,
            "cache_read_usd_per_prompt": self.cache_usd,
            "per_prompt_usd": self.per_prompt_usd,
            "api_calls": self.sentences,
            "total_input_tokens": self.total_input_tokens,
            "total_output_tokens": self.total_output_tokens,
            "total_tokens": self.total_tokens,
            "total_usd": self.total_usd,
        }

    def lines(self) -> list[str]:
        """The document's calculation, with this model's rates."""
        rates = "batch rates, 50% off" if self.batch else "standard rates"

        def per_million(rate: Decimal) -> str:
            return f"({plain_usd(rate, places=2)} / 1,000,000)"

        uncached = self.input_tokens - self.cached_tokens
        # Five decimals at least, as the document writes its per-prompt figures ($0.00040).
        out = [
            f"Estimate for {self.sentences:,} prompt(s) with {self.model} ({rates})",
            "",
            "Per prompt:",
            f"  Input:  {uncached:,} tokens x {per_million(self.input_rate)} = "
            f"{plain_usd(self.input_usd, places=5)}",
        ]
        if self.cached_tokens:
            out.append(
                f"  Cached: {self.cached_tokens:,} tokens x {per_million(self.cache_read_rate)} "
                f"= {plain_usd(self.cache_usd, places=5)}"
            )
        out += [
            f"  Output: {self.output_tokens:,} tokens x {per_million(self.output_rate)} = "
            f"{plain_usd(self.output_usd, places=5)}",
            f"  Total:  {plain_usd(self.per_prompt_usd, places=5)} per prompt "
            f"({about(self.per_prompt_usd)})",
            "",
            f"For {self.sentences:,} prompt(s):",
            f"  API calls:     {self.sentences:,}",
            f"  Input tokens:  {self.total_input_tokens:,}",
            f"  Output tokens: {self.total_output_tokens:,}",
            f"  Total tokens:  {self.total_tokens:,}",
            f"  Total cost:    {plain_usd(self.total_usd)} USD ({about(self.total_usd)})",
        ]
        return out

    def csv_rows(self) -> tuple[list[str], list[list[Cell]]]:
        data = self.to_json()
        headers = list(data)
        return headers, [[_cell(data[key]) for key in headers]]


def _cell(value: object) -> Cell:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, Decimal)) or value is None:
        return value
    return str(value)


def back_of_envelope(
    sentences: int,
    input_tokens: int,
    output_tokens: int,
    model: str,
    *,
    batch: bool = False,
    cached_tokens: int = 0,
) -> EnvelopeEstimate:
    """The design document's estimate: ``sentences`` prompts of the same size.

    >>> back_of_envelope(600, 550, 100, "claude-3-5-haiku-20241022").total_usd
    Decimal('0.504')
    """
    for name, value in (
        ("sentences", sentences),
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
        ("cached_tokens", cached_tokens),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
    if cached_tokens > input_tokens:
        raise ValueError(
            f"cached_tokens ({cached_tokens}) cannot be more than input_tokens ({input_tokens})"
        )
    price = model_price(model)
    tokens = BilledTokens(
        input_tokens - cached_tokens, output_tokens, cache_read_tokens=cached_tokens
    )
    rates, _ = price.rates_for(tokens.prompt_tokens)
    if batch:
        rates = rates.scaled(config.BATCH_MULTIPLIER)
    per_prompt = price_call(tokens, model, batch=batch).cost
    # The parts are shown at the whole prompt's tier: priced alone, a part could fall in
    # another long-context tier than the prompt it belongs to.
    with decimal.localcontext(_EXACT):
        input_usd = tidy_usd((rates.input * tokens.input_tokens).scaleb(-6))
        output_usd = tidy_usd((rates.output * output_tokens).scaleb(-6))
        cache_usd = tidy_usd((rates.cache_read * cached_tokens).scaleb(-6))
        total_usd = tidy_usd(per_prompt * sentences)
    return EnvelopeEstimate(
        model=model,
        sentences=sentences,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached_tokens,
        batch=batch,
        input_rate=rates.input,
        output_rate=rates.output,
        cache_read_rate=rates.cache_read,
        input_usd=input_usd,
        output_usd=output_usd,
        cache_usd=cache_usd,
        per_prompt_usd=per_prompt,
        total_usd=total_usd,
    )
