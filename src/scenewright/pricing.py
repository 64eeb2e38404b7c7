"""What a Claude call costs, in exact Decimal dollars, from the prices in ``config``.

Prices are read from :mod:`scenewright.config` at every call, so a price edited there (or
patched in a test) applies to the next call and to no earlier one.

A call's cost is::

    input        x input rate
  + 5m writes    x input rate x 1.25      (cache_creation.ephemeral_5m_input_tokens)
  + 1h writes    x input rate x 2         (cache_creation.ephemeral_1h_input_tokens)
  + cache reads  x input rate x 0.1
  + output       x output rate

all per million tokens, with model-specific cache prices where ``config.CACHE_PRICES`` has
them, every rate halved for the Batch API, and every rate switched to the model's
long-context tier when the prompt (input + cache writes + cache reads) is over its threshold.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from scenewright import config
from scenewright.errors import UnknownModelError
from scenewright.usage import Usage

__all__ = [
    "BilledTokens",
    "ModelPrice",
    "PricedCall",
    "Rates",
    "billed_tokens",
    "check_model",
    "cost_of",
    "known_models",
    "model_price",
    "price_call",
    "price_for",
    "tidy_usd",
    "usd_sum",
]

_MILLION_EXPONENT = -6

# Token counts times prices need ~20 significant digits at most; a wide private context keeps
# every sum exact whatever decimal context the caller has installed.
_EXACT = decimal.Context(
    prec=60,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


@contextmanager
def _exact() -> Iterator[None]:
    with decimal.localcontext(_EXACT):
        yield


def tidy_usd(amount: Decimal) -> Decimal:
    """The same amount without trailing zeros and never in exponent form (0.00084, not 8.4E-4)."""
    with _exact():
        normal = amount.normalize()
        exponent = normal.as_tuple().exponent
        if isinstance(exponent, int) and exponent > 0:
            normal = normal.quantize(Decimal(1))
    return normal


def usd_sum(amounts: Iterable[Decimal]) -> Decimal:
    """Exact sum of dollar amounts."""
    with _exact():
        total = sum(amounts, Decimal(0))
    return tidy_usd(total)


@dataclass(frozen=True)
class Rates:
    """USD per million tokens for each kind of token in one pricing tier."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal

    def scaled(self, factor: Decimal) -> Rates:
        with _exact():
            return Rates(
                self.input * factor,
                self.output * factor,
                self.cache_write_5m * factor,
                self.cache_write_1h * factor,
                self.cache_read * factor,
            )


@dataclass(frozen=True)
class ModelPrice:
    """Everything needed to price one model's calls."""

    model: str
    standard: Rates
    checked: str
    long_context_threshold: int | None = None
    long_context: Rates | None = None

    def rates_for(self, prompt_tokens: int) -> tuple[Rates, bool]:
        """The tier that a prompt of this many tokens is billed at, and whether it is long."""
        if (
            self.long_context is not None
            and self.long_context_threshold is not None
            and prompt_tokens > self.long_context_threshold
        ):
            return self.long_context, True
        return self.standard, False


def known_models() -> list[str]:
    """Every model with a price, sorted."""
    return sorted(config.MODEL_PRICES)


def _unknown(model: object) -> UnknownModelError:
    return UnknownModelError(
        f"No price is known for model {model!r}, so its cost cannot be recorded "
        "(scenewright never counts a call as $0). Add the model to MODEL_PRICES in "
        "scenewright/config.py with its input and output prices per million tokens, "
        f"or use a priced model such as {config.DEFAULT_HAIKU_MODEL!r}."
    )


def model_price(model: str) -> ModelPrice:
    """The prices for ``model``; :class:`UnknownModelError` if it has none.

    Surrounding whitespace is ignored (``--model " claude-haiku-5-5 "`` from a shell script
    is the same model); an empty name is an error of its own.
    """
    if not isinstance(model, str):
        raise _unknown(model)
    model = model.strip()
    if not model:
        raise UnknownModelError(
            "The model name is empty. Leave out --model to use "
            f"{config.DEFAULT_HAIKU_MODEL!r}, or give a model id such as that one."
        )
    if model not in config.MODEL_PRICES:
        raise _unknown(model)
    input_rate, output_rate, checked = config.MODEL_PRICES[model]
    with _exact():
        if model in config.CACHE_PRICES:
            write_5m, write_1h, read = config.CACHE_PRICES[model]
        else:
            write_5m = input_rate * config.CACHE_WRITE_5M_MULTIPLIER
            write_1h = input_rate * config.CACHE_WRITE_1H_MULTIPLIER
            read = input_rate * config.CACHE_READ_MULTIPLIER
        standard = Rates(input_rate, output_rate, write_5m, write_1h, read)
        tier = config.LONG_CONTEXT_PRICES.get(model)
        if tier is None:
            return ModelPrice(model, standard, checked)
        threshold, long_input, long_output = tier
        # Cache prices follow the input price into the long tier.
        factor = long_input / input_rate if input_rate else Decimal(1)
        scaled = standard.scaled(factor)
        long_rates = Rates(
            long_input, long_output, scaled.cache_write_5m, scaled.cache_write_1h, scaled.cache_read
        )
    return ModelPrice(model, standard, checked, threshold, long_rates)


# The name the pipeline uses.
price_for = model_price


def check_model(model: str) -> str:
    """``model`` without surrounding whitespace if it has a price; else
    :class:`UnknownModelError` (also for an empty name).

    Call it before spending money, so an unpriced model fails before its first request.
    """
    return model_price(model).model


@dataclass(frozen=True)
class BilledTokens:
    """The token counts of one call, split the way they are billed."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    service_tier: str | None = None

    @property
    def cache_creation_input_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def prompt_tokens(self) -> int:
        """What the long-context threshold is compared with."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_tokens

    def as_usage(self) -> Usage:
        return Usage(
            self.input_tokens,
            self.output_tokens,
            self.cache_creation_input_tokens,
            self.cache_read_tokens,
        )


def _get(source: object, name: str) -> object:
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def _count(value: object, name: str, *, required: bool) -> int:
    if value is None:
        if required:
            raise ValueError(f"{name} is missing: the usage must give a whole number of tokens")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number of tokens, not {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value}")
    return value


def billed_tokens(usage: object) -> BilledTokens:
    """Read token counts from an anthropic ``Usage``, a dict with the API's field names, or
    a :class:`scenewright.usage.Usage`; :class:`ValueError` names any bad field.

    Cache writes are split by TTL when ``cache_creation`` gives the split; writes it does not
    account for are billed at the 5-minute rate, so the cost is never under-stated.
    """
    if isinstance(usage, BilledTokens):
        return usage
    if usage is None or isinstance(usage, (str, bytes, int, float)):
        raise ValueError(f"usage must be a Usage object or a dict, not {usage!r}")
    input_tokens = _count(_get(usage, "input_tokens"), "usage.input_tokens", required=True)
    output_tokens = _count(_get(usage, "output_tokens"), "usage.output_tokens", required=True)
    creation = _count(
        _get(usage, "cache_creation_input_tokens"),
        "usage.cache_creation_input_tokens",
        required=False,
    )
    read = _count(
        _get(usage, "cache_read_input_tokens"), "usage.cache_read_input_tokens", required=False
    )
    write_5m = write_1h = 0
    split = _get(usage, "cache_creation")
    if split is not None:
        write_5m = _count(
            _get(split, "ephemeral_5m_input_tokens"),
            "usage.cache_creation.ephemeral_5m_input_tokens",
            required=False,
        )
        write_1h = _count(
            _get(split, "ephemeral_1h_input_tokens"),
            "usage.cache_creation.ephemeral_1h_input_tokens",
            required=False,
        )
    write_5m += max(0, creation - write_5m - write_1h)
    tier = _get(usage, "service_tier")
    if tier is not None and not isinstance(tier, str):
        raise ValueError(f"usage.service_tier must be a string, not {tier!r}")
    return BilledTokens(input_tokens, output_tokens, write_5m, write_1h, read, tier)


@dataclass(frozen=True)
class PricedCall:
    """One call's tokens, the tier it was billed at, and its exact cost."""

    model: str
    tokens: BilledTokens
    batch: bool
    long_context: bool
    cost: Decimal
    price_table_version: str


def price_call(usage: object, model: str, *, batch: bool = False) -> PricedCall:
    """Price one call. ``batch`` or ``usage.service_tier == "batch"`` halves every rate."""
    if not isinstance(batch, bool):
        raise ValueError(f"batch must be True or False, not {batch!r}")
    tokens = billed_tokens(usage)
    price = model_price(model)
    is_batch = batch or tokens.service_tier == "batch"
    rates, long_context = price.rates_for(tokens.prompt_tokens)
    if is_batch:
        rates = rates.scaled(config.BATCH_MULTIPLIER)
    with _exact():
        per_million = (
            tokens.input_tokens * rates.input
            + tokens.cache_write_5m_tokens * rates.cache_write_5m
            + tokens.cache_write_1h_tokens * rates.cache_write_1h
            + tokens.cache_read_tokens * rates.cache_read
            + tokens.output_tokens * rates.output
        )
        cost = per_million.scaleb(_MILLION_EXPONENT)
    return PricedCall(
        price.model, tokens, is_batch, long_context, tidy_usd(cost), config.PRICE_TABLE_VERSION
    )


def cost_of(usage: object, model: str, *, batch: bool = False) -> Decimal:
    """Exact USD cost of one call; :class:`UnknownModelError` for an unpriced model.

    >>> cost_of({"input_tokens": 550, "output_tokens": 100}, "claude-3-5-haiku-20241022")
    Decimal('0.00084')
    """
    return price_call(usage, model, batch=batch).cost
