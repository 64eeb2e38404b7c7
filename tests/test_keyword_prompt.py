"""Keyword prompts: content words, character looks, style tags, inside CLIP's window."""

from __future__ import annotations

import random
import time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenewright import config
from scenewright.characters import CharacterSheet
from scenewright.errors import ConfigError
from scenewright.keyword_prompt import content_phrases, estimate_clip_tokens, keyword_prompt
from scenewright.prompt_generator import METHODS, SceneContext, generate_prompt
from scenewright.usage import Usage

STYLE = ", ".join(config.PROMPT_STYLE_TAGS)
BUDGET = config.KEYWORD_PROMPT_TOKEN_BUDGET

SHEET = CharacterSheet.from_data(
    {
        "Mara Quill": {
            "description": "a young woman of about twenty with short copper-red hair, "
            "freckles, a dark green oilskin coat and brass-buckled boots",
            "aliases": ["the keeper's girl"],
        },
        "Tobias Fenn": "a broad-shouldered fisherman in his fifties with a grey beard, "
        "a knitted navy sweater and a yellow sou'wester hat",
    }
)

LONG_SENTENCE = " ".join(
    [
        "Beyond the crooked harbour wall, past the rusting cranes and the nets hung",
        "out to dry, the old cathedral rose black against a sky of bruised violet clouds,",
    ]
    * 12
)


def test_content_words_in_order_grouped_as_phrases() -> None:
    sentence = "Mara climbed the iron stairs of the lighthouse with a lantern and a brass key."
    assert content_phrases(sentence) == [
        "mara climbed",
        "iron stairs",
        "lighthouse",
        "lantern",
        "brass key",
    ]


def test_stop_words_possessives_and_repeats_are_dropped() -> None:
    assert content_phrases("She said it was the cat's basket. The cat! A basket.") == ["cat basket"]


def test_prompt_is_scene_words_then_style_tags() -> None:
    prompt = keyword_prompt("Rain hammered the round windows like thrown gravel.")
    assert prompt == f"rain hammered, round windows, thrown gravel, {STYLE}"


def test_a_named_character_is_drawn_by_look_not_name() -> None:
    prompt = keyword_prompt("Tobias Fenn sold mackerel at the harbour market.", characters=SHEET)
    # Too long to fit whole beside the scene: shortened to its content words.
    assert prompt.startswith("broad-shouldered fisherman, fifties, grey beard")
    assert "tobias" not in prompt.lower() and "fenn" not in prompt.lower()
    assert "sold mackerel, harbour market" in prompt
    assert prompt.endswith(STYLE)


def test_an_alias_names_the_character() -> None:
    prompt = keyword_prompt("The keeper's girl ran down to the pier.", characters=SHEET)
    assert "copper-red hair" in prompt
    assert "keeper" not in prompt


def test_two_characters_share_the_room_and_the_scene_still_shows() -> None:
    sentence = "Mara knew the boat: it belonged to Tobias Fenn, who sold mackerel."
    prompt = keyword_prompt(sentence, characters=SHEET)
    assert "copper-red hair" in prompt
    assert "fisherman" in prompt
    assert "boat" in prompt and "sold mackerel" in prompt
    assert estimate_clip_tokens(prompt) <= BUDGET


def test_a_sentence_with_nothing_to_see_borrows_from_its_context() -> None:
    context = SceneContext(
        chapter_title="The Storm",
        before=("Mara climbed the iron stairs.", "The lamp room was cold."),
        after=("Waves broke on the rocks.",),
    )
    prompt = keyword_prompt('"Oh!"', context=context, characters=SHEET)
    # The nearest sentence first, and the character it names, drawn by her look.
    assert prompt.startswith("young woman, twenty, short copper-red hair")
    assert prompt.index("lamp room") < prompt.index("iron stairs") < prompt.index("waves")
    assert "storm" in prompt


def test_nothing_anywhere_gives_a_generic_scene() -> None:
    assert keyword_prompt("* * *") == f"a quiet scene from a novel, {STYLE}"


def test_same_input_same_prompt() -> None:
    other_sheet = CharacterSheet.from_data(dict(SHEET))
    first = keyword_prompt(LONG_SENTENCE + " Mara watched.", characters=SHEET)
    again = keyword_prompt(LONG_SENTENCE + " Mara watched.", characters=other_sheet)
    assert first == again


EDGE_INPUTS = {
    "empty": "",
    "spaces": " \t\n ",
    "punctuation": "...!?—",
    "emoji": "🐉🔥🏰",
    "emoji-and-words": "The dragon 🐉 burned the castle 🏰.",
    "chinese": "李雷走进了古老的图书馆\uff0c书架上落满了灰尘。",  # \uff0c: a full-width comma
    "japanese": "古い灯台の上で、少女はランプを掲げた。",
    "arabic": "وقفت الفتاة على صخرة قرب البحر.",
    "accents": "Zoë walked through the café in Zürich.",
    "numbers": "At 1984 Baker Street, 221 lamps burned.",
    "long": LONG_SENTENCE,
    "one-long-word": "a" * 500,
    "newlines": "The boat\nrocked\n\non the\r\nwaves.",
}


@pytest.mark.parametrize("name", sorted(EDGE_INPUTS))
def test_edge_inputs_give_a_usable_prompt(name: str) -> None:
    sentence = EDGE_INPUTS[name]
    prompt = keyword_prompt(sentence, characters=SHEET)
    assert prompt.endswith(STYLE)
    assert prompt != STYLE  # there is always a subject
    assert estimate_clip_tokens(prompt) <= BUDGET
    assert "\n" not in prompt and "\r" not in prompt
    assert ", ," not in prompt and not prompt.startswith(",")
    assert prompt == keyword_prompt(sentence, characters=SHEET)


def test_emoji_and_cjk_are_kept() -> None:
    assert keyword_prompt("🐉🔥").startswith("🐉, 🔥, ")
    assert keyword_prompt("李雷走进了图书馆。").startswith("李雷走进了图书馆, ")


def test_a_long_sentence_keeps_its_first_words() -> None:
    prompt = keyword_prompt(LONG_SENTENCE)
    assert prompt.startswith("crooked harbour wall, past, rusting cranes, nets hung")
    assert estimate_clip_tokens(prompt) <= BUDGET


def test_a_long_unspaced_run_is_cut_to_fit() -> None:
    prompt = keyword_prompt("图" * 200)
    assert prompt.startswith("图图") and prompt.endswith(STYLE)
    assert estimate_clip_tokens(prompt) <= BUDGET


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("cat", 1),
        ("lantern", 2),  # over six ASCII letters: counted as two pieces
        ("cinematic lighting", 4),
        ("1984", 4),  # CLIP splits numbers digit by digit
        (", ", 1),
        ("...", 3),
        ("café", 3),  # 3 ASCII letters, then é is 2 UTF-8 bytes
        ("图", 3),
        ("🐉", 4),
    ],
)
def test_estimate_clip_tokens(text: str, tokens: int) -> None:
    assert estimate_clip_tokens(text) == tokens


@settings(max_examples=150, deadline=None)
@given(
    sentence=st.text(max_size=400),
    before=st.lists(st.text(max_size=80), max_size=2),
)
def test_any_text_fits_the_budget(sentence: str, before: list[str]) -> None:
    prompt = keyword_prompt(sentence, context=SceneContext("", tuple(before)), characters=SHEET)
    assert estimate_clip_tokens(prompt) <= BUDGET
    assert prompt.endswith(STYLE)


# --- through generate_prompt ---------------------------------------------------------


def test_generate_prompt_keyword_costs_nothing() -> None:
    result = generate_prompt("The lamp flickered.", method="keyword", characters=SHEET)
    assert result.prompt == keyword_prompt("The lamp flickered.", characters=SHEET)
    assert result.method == "keyword"
    assert result.model is None
    assert result.usage == Usage()
    assert result.cost_usd == Decimal(0)
    assert result.response_id is None
    assert result.duration_s >= 0


def test_method_names_ignore_case_and_spaces() -> None:
    assert generate_prompt("A cat.", method=" Keyword ").method == "keyword"


def test_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        generate_prompt("A cat.", method="gpt")
    message = str(caught.value)
    assert "'gpt'" in message
    assert all(method in message for method in METHODS)


# --- long text: nothing quadratic ---------------------------------------------------------


def _said_before(phrases: list[str]) -> list[str]:
    """The definition of a repeat, compared with every earlier phrase (quadratic)."""
    unique: list[str] = []
    for phrase in phrases:
        if not any(f" {phrase} " in f" {earlier} " for earlier in unique):
            unique.append(phrase)
    return unique


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(["cat", "basket", "grey", "stone", "wall", "\U0001f355"]),
            min_size=1,
            max_size=7,
        ).map(" ".join),
        max_size=40,
    )
)
def test_repeats_are_dropped_as_by_comparing_with_every_earlier_phrase(
    phrases: list[str],
) -> None:
    from scenewright.keyword_prompt import _without_repeats

    assert _without_repeats(phrases) == _said_before(phrases)


@pytest.mark.slow
def test_a_run_on_sentence_of_a_megabyte_takes_seconds_not_minutes() -> None:
    # 1.2 MB with no full stop took 41 s: every phrase was compared with all before it.
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 11))) for _ in range(20000)]
    words += ["the", "and", "of", "she"] * 2000
    sentence = " ".join(rng.choice(words) for _ in range(180_000))
    assert len(sentence) > 1_200_000
    started = time.perf_counter()
    prompt = keyword_prompt(sentence)
    assert time.perf_counter() - started < 20
    assert estimate_clip_tokens(prompt) <= BUDGET
    assert prompt.endswith(STYLE)


def test_a_long_word_in_a_script_without_spaces_is_cut_quickly() -> None:
    prompt = keyword_prompt("\u732b" * 300_000)
    assert prompt.startswith("\u732b") and prompt.endswith(STYLE)
    assert estimate_clip_tokens(prompt) <= BUDGET
