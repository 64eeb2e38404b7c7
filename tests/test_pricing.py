from __future__ import annotations

from decimal import Decimal

import pytest
from anthropic.types import CacheCreation
from anthropic.types import Usage as SDKUsage
from hypothesis import given
from hypothesis import strategies as st

from scenewright import config
from scenewright.errors import UnknownModelError
from scenewright.pricing import (
    billed_tokens,
    check_model,
    cost_of,
    known_models,
    model_price,
    price_call,
    tidy_usd,
    usd_sum,
)
from scenewright.usage import Usage

HAIKU_35 = "claude-3-5-haiku-20241022"
HAIKU = config.DEFAULT_HAIKU_MODEL
THRESHOLD = config.HAIKU_LONG_CONTEXT_THRESHOLD_TOKENS

counts = st.integers(min_value=0, max_value=10**9)
# Two calls' prompts (input + cache writes + cache reads) stay within the standard tier.
small = st.integers(min_value=0, max_value=THRESHOLD // 8)


@st.composite
def prompt_split(draw: st.DrawFn, total: int) -> tuple[int, int, int, int]:
    """Input, 5m writes, 1h writes and reads that add up to exactly ``total``."""
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=3, max_size=3)))
    return cuts[0], cuts[1] - cuts[0], cuts[2] - cuts[1], total - cuts[2]


def usage(
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_5m: int = 0,
    cache_1h: int = 0,
    cache_read: int = 0,
    tier: str | None = None,
) -> dict[str, object]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache_5m + cache_1h,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache_5m,
            "ephemeral_1h_input_tokens": cache_1h,
        },
        "service_tier": tier,
    }


def test_design_document_worked_estimate_is_exact() -> None:
    assert cost_of({"input_tokens": 550, "output_tokens": 100}, HAIKU_35) == Decimal("0.00084")
    assert str(cost_of(Usage(550, 100), HAIKU_35)) == "0.00084"


def test_design_document_batch_and_cache_read_rates() -> None:
    assert cost_of(Usage(1_000_000, 0), HAIKU_35, batch=True) == Decimal("0.40")
    assert cost_of(Usage(0, 1_000_000), HAIKU_35, batch=True) == Decimal("2.00")
    assert cost_of(Usage(0, 0, 0, 1_000_000), HAIKU_35) == Decimal("0.08")


def test_default_model_uses_the_haiku_knobs() -> None:
    price = model_price(HAIKU)
    assert price.standard.input == config.HAIKU_INPUT_COST_PER_MILLION
    assert price.standard.output == config.HAIKU_OUTPUT_COST_PER_MILLION
    assert cost_of(Usage(THRESHOLD, 1_000_000), HAIKU) == Decimal("0.51")


def test_cache_rates_follow_the_multipliers() -> None:
    one_million = 1_000_000
    assert cost_of(usage(cache_5m=one_million), HAIKU_35) == Decimal("1")
    assert cost_of(usage(cache_1h=one_million), HAIKU_35) == Decimal("1.6")
    assert cost_of(usage(cache_read=one_million), HAIKU_35) == Decimal("0.08")


def test_models_with_their_own_cache_prices() -> None:
    assert cost_of(usage(cache_read=1_000_000), "claude-opus-5-5") == Decimal("0.20")
    assert cost_of(usage(cache_5m=1_000_000), "claude-3-haiku-20240307") == Decimal("0.30")


def test_cache_writes_without_ttl_split_are_billed_at_the_5m_rate() -> None:
    plain = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 1_000_000}
    assert cost_of(plain, HAIKU_35) == Decimal("1")
    # A split that accounts for only part of the writes: the rest is billed at 5m.
    partial = dict(plain, cache_creation={"ephemeral_1h_input_tokens": 400_000})
    assert cost_of(partial, HAIKU_35) == Decimal("0.60") + Decimal("0.64")


def test_sdk_usage_dict_and_scenewright_usage_agree() -> None:
    sdk = SDKUsage(
        input_tokens=1200,
        output_tokens=90,
        cache_creation_input_tokens=3000,
        cache_read_input_tokens=7000,
        cache_creation=CacheCreation(
            ephemeral_5m_input_tokens=1000, ephemeral_1h_input_tokens=2000
        ),
    )
    as_dict = sdk.model_dump()
    expected = (
        Decimal(1200) * Decimal("0.10")
        + Decimal(1000) * Decimal("0.125")
        + Decimal(2000) * Decimal("0.20")
        + Decimal(7000) * Decimal("0.01")
        + Decimal(90) * Decimal("0.50")
    ) / 1_000_000
    assert cost_of(sdk, HAIKU) == expected
    assert cost_of(as_dict, HAIKU) == expected
    # scenewright's Usage has no TTL split: all writes at 5m.
    flat = cost_of(Usage(1200, 90, 3000, 7000), HAIKU)
    assert flat == expected - Decimal(2000) * (Decimal("0.20") - Decimal("0.125")) / 1_000_000


def test_service_tier_batch_means_batch_pricing() -> None:
    sdk = SDKUsage(input_tokens=1000, output_tokens=1000, service_tier="batch")
    assert cost_of(sdk, HAIKU) == cost_of(Usage(1000, 1000), HAIKU) / 2
    assert price_call(sdk, HAIKU).batch is True


@given(
    a=st.tuples(small, small, small, small, small), b=st.tuples(small, small, small, small, small)
)
def test_cost_is_additive_within_a_tier(
    a: tuple[int, int, int, int, int], b: tuple[int, int, int, int, int]
) -> None:
    both = tuple(x + y for x, y in zip(a, b, strict=True))
    for model in (HAIKU, HAIKU_35, "claude-opus-5-5"):
        assert cost_of(usage(*a), model) + cost_of(usage(*b), model) == cost_of(usage(*both), model)


@given(
    tokens=st.tuples(counts, counts, counts, counts, counts),
    model=st.sampled_from(sorted(config.MODEL_PRICES)),
)
def test_batch_is_exactly_half(tokens: tuple[int, int, int, int, int], model: str) -> None:
    assert cost_of(usage(*tokens), model, batch=True) * 2 == cost_of(usage(*tokens), model)
    assert cost_of(usage(*tokens, tier="batch"), model) * 2 == cost_of(usage(*tokens), model)


@given(tokens=st.tuples(counts, counts, counts, counts, counts))
def test_cost_is_never_negative_and_zero_only_without_tokens(
    tokens: tuple[int, int, int, int, int],
) -> None:
    cost = cost_of(usage(*tokens), HAIKU)
    assert cost >= 0
    assert (cost == 0) == (sum(tokens) == 0)


@given(
    split=prompt_split(THRESHOLD),
    output=st.integers(min_value=0, max_value=10_000),
)
def test_long_context_tier_starts_above_the_threshold(
    split: tuple[int, int, int, int], output: int
) -> None:
    inp, w5, w1, rd = split
    at = price_call(usage(inp, output, w5, w1, rd), HAIKU)
    over = price_call(usage(inp + 1, output, w5, w1, rd), HAIKU)
    assert not at.long_context
    assert over.long_context
    # Over the threshold every token is billed at 5x. Sonnet 5 costs exactly 20x Haiku 5.5's
    # standard rates, cache included, so it gives the standard-rate cost above the threshold.
    assert over.cost == 5 * cost_of(usage(inp + 1, output, w5, w1, rd), "claude-sonnet-5") / 20


def test_long_context_rates_for_the_default_model() -> None:
    over = Usage(THRESHOLD + 1, 1_000_000)
    expected = (Decimal(THRESHOLD + 1) * Decimal("0.50") + Decimal(1_000_000) * Decimal("2.50")) / (
        1_000_000
    )
    assert cost_of(over, HAIKU) == expected
    cached = Usage(1, 0, 0, THRESHOLD)
    assert cost_of(cached, HAIKU) == (Decimal("0.50") + THRESHOLD * Decimal("0.05")) / 1_000_000
    assert cost_of(over, HAIKU, batch=True) == expected / 2


def test_sonnet_long_context_tier() -> None:
    assert cost_of(Usage(200_000, 0), "claude-sonnet-4-5") == Decimal("0.6")
    assert cost_of(Usage(200_001, 0), "claude-sonnet-4-5") == Decimal("1.200006")


def test_unknown_model_is_an_error_never_zero() -> None:
    with pytest.raises(UnknownModelError) as caught:
        cost_of(Usage(1, 1), "claude-imaginary-9")
    message = str(caught.value)
    assert "'claude-imaginary-9'" in message
    assert "MODEL_PRICES" in message
    assert "scenewright/config.py" in message
    with pytest.raises(UnknownModelError):
        check_model("")
    assert check_model(HAIKU) == HAIKU
    assert HAIKU in known_models()


def test_prices_are_read_when_the_call_is_priced(monkeypatch: pytest.MonkeyPatch) -> None:
    before = cost_of(Usage(1_000_000, 0), HAIKU_35)
    monkeypatch.setitem(
        config.MODEL_PRICES, HAIKU_35, (Decimal("1.60"), Decimal("4.00"), "2099-01-01")
    )
    assert cost_of(Usage(1_000_000, 0), HAIKU_35) == 2 * before


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"output_tokens": 1}, "usage.input_tokens"),
        ({"input_tokens": -1, "output_tokens": 1}, "usage.input_tokens"),
        ({"input_tokens": 1.0, "output_tokens": 1}, "usage.input_tokens"),
        ({"input_tokens": True, "output_tokens": 1}, "usage.input_tokens"),
        ({"input_tokens": "5", "output_tokens": 1}, "usage.input_tokens"),
        ({"input_tokens": 1, "output_tokens": None}, "usage.output_tokens"),
        (
            {"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": -3},
            "usage.cache_read_input_tokens",
        ),
        (
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_creation": {"ephemeral_1h_input_tokens": "x"},
            },
            "usage.cache_creation.ephemeral_1h_input_tokens",
        ),
        ({"input_tokens": 1, "output_tokens": 1, "service_tier": 3}, "usage.service_tier"),
    ],
)
def test_bad_usage_names_the_field(bad: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        cost_of(bad, HAIKU)


@pytest.mark.parametrize("bad", [None, "550", 550, 5.5])
def test_usage_must_be_an_object_or_dict(bad: object) -> None:
    with pytest.raises(ValueError, match="usage"):
        billed_tokens(bad)


def test_batch_flag_must_be_bool() -> None:
    with pytest.raises(ValueError, match="batch"):
        cost_of(Usage(1, 1), HAIKU, batch="yes")  # type: ignore[arg-type]


def test_every_price_entry_is_well_formed() -> None:
    for model, (inp, out, checked) in config.MODEL_PRICES.items():
        assert inp > 0
        assert out > 0, model
        assert len(checked) == 10
        assert checked[4] == "-"
    for model in config.CACHE_PRICES:
        assert model in config.MODEL_PRICES
    for model, (threshold, inp, out) in config.LONG_CONTEXT_PRICES.items():
        assert model in config.MODEL_PRICES
        assert threshold > 0
        assert inp >= config.MODEL_PRICES[model][0]
        assert out >= config.MODEL_PRICES[model][1]


def test_price_call_records_the_price_table_version() -> None:
    priced = price_call(Usage(10, 10), HAIKU)
    assert priced.price_table_version == config.PRICE_TABLE_VERSION
    assert priced.model == HAIKU
    assert priced.tokens.as_usage() == Usage(10, 10)


def test_tidy_and_sum() -> None:
    assert str(tidy_usd(Decimal("0.00084000"))) == "0.00084"
    assert str(tidy_usd(Decimal("1E+1"))) == "10"
    assert usd_sum([Decimal("0.1")] * 10) == Decimal(1)
    assert usd_sum([]) == 0
