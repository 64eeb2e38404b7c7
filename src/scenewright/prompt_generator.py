"""One Stable Diffusion XL prompt per sentence, by any method: the shared pieces.

``generate_prompt(sentence, method=...)`` is the one entry point; it returns a
``PromptResult`` that says what the prompt cost. Methods:

* ``keyword``: local and free; see ``scenewright.keyword_prompt``.
* ``ollama``: a local model served by Ollama, free but slow; see ``scenewright.ollama_prompt``.
* ``haiku``: Claude Haiku through the Anthropic API; see ``scenewright.haiku_prompt``.

``check_method`` says, before anything is generated, whether a method can run here.

``SYSTEM_INSTRUCTIONS`` and ``build_user_message`` are what a language model is told;
any change to either changes ``INSTRUCTIONS_VERSION``, so cached prompts written
under the old wording are not reused.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from xml.sax.saxutils import escape as _xml_escape

from scenewright import config
from scenewright.characters import characters_mentioned
from scenewright.errors import ConfigError
from scenewright.usage import Usage

if TYPE_CHECKING:
    import anthropic
    import anthropic.types
    import ollama

__all__ = [
    "INSTRUCTIONS_VERSION",
    "METHODS",
    "SYSTEM_INSTRUCTIONS",
    "CostTrackerLike",
    "HaikuRequest",
    "PromptResult",
    "SceneContext",
    "build_haiku_request",
    "build_user_message",
    "check_method",
    "clean_reply",
    "generate_prompt",
    "generate_prompt_with_haiku",
    "haiku_model_name",
    "ollama_model_name",
    "relevant_characters",
    "without_controls",
]

# Every method, cheapest first: the order of the columns when methods are compared.
METHODS = ("keyword", "ollama", "haiku")


@dataclass(frozen=True)
class SceneContext:
    """Where a sentence sits: its chapter and its neighbours."""

    chapter_title: str = ""
    before: tuple[str, ...] = ()  # preceding sentences in the chapter
    after: tuple[str, ...] = ()  # following sentences


@dataclass(frozen=True)
class PromptResult:
    """One generated prompt and what it cost."""

    prompt: str
    method: str  # "keyword" | "ollama" | "haiku"
    model: str | None  # None for keyword
    usage: Usage  # zeros for keyword; Ollama's prompt_eval_count and eval_count for ollama
    cost_usd: Decimal  # 0 for keyword and ollama: local tokens cost nothing
    duration_s: float
    response_id: str | None = None


class CostTrackerLike(Protocol):
    """What prompt generation needs from ``scenewright.cost_tracker.CostTracker``."""

    def add_api_call(
        self,
        *,
        model: str | None = ...,
        response_id: str | None = ...,
        usage: anthropic.types.Usage | None = ...,
    ) -> Decimal: ...


SYSTEM_INSTRUCTIONS = f"""\
You write prompts for Stable Diffusion XL that illustrate one sentence of a novel.

You receive the sentence in <sentence> tags. You may also receive the chapter title, \
the sentences just before and after it, and how the characters in the scene look, in \
<character> tags. Write one prompt that shows what a reader pictures at this moment \
of the story.

Rules:
- Reply with the prompt only: no introduction, no label, no quotation marks, no notes.
- Write short comma-separated phrases in English, most important first: the subjects \
and what they do, then the setting, the light, the mood and the framing.
- Stay under 50 words, so that the prompt fits the 77-token window of the image \
model's text encoder.
- Describe people by how they look, never by name: the image model does not know \
these characters. For every character in the scene, use the look given in their \
<character> tag, shortened if need be.
- Use the context only to understand the sentence (who "she" is, where the scene \
is); illustrate the sentence itself.
- If the sentence shows nothing (dialogue, a thought), picture the speaker or the \
place the context implies.
- If the sentence is not in English, still write the prompt in English.
- End with these style tags: {", ".join(config.PROMPT_STYLE_TAGS)}."""

# The parts of the user message, in order; a part is left out when it has nothing.
_CHAPTER_PART = "<chapter>{title}</chapter>"
_CHARACTERS_PART = "<characters>\n{characters}\n</characters>"
_CHARACTER_LINE = '<character name="{name}">{description}</character>'
_BEFORE_PART = "<before>\n{sentences}\n</before>"
_SENTENCE_PART = "<sentence>{sentence}</sentence>"
_AFTER_PART = "<after>\n{sentences}\n</after>"
# How the texts put between the tags are written: control characters dropped, then &, < and
# > escaped (and " too in an attribute), so that no sentence, title or description can close
# or open a tag. Part of the version, as the same sentence makes another message under
# another scheme.
_ESCAPING = 'controls dropped; xml-escaped: & < > in text; & < > " in attributes'
_USER_MESSAGE_PARTS = (
    _CHAPTER_PART,
    _CHARACTERS_PART,
    _CHARACTER_LINE,
    _BEFORE_PART,
    _SENTENCE_PART,
    _AFTER_PART,
    _ESCAPING,
)

INSTRUCTIONS_VERSION = hashlib.sha256(
    "\x00".join((SYSTEM_INSTRUCTIONS, *_USER_MESSAGE_PARTS)).encode("utf-8")
).hexdigest()[:12]


# A terminal escape sequence, whole (CSI such as "\x1b[31m", OSC such as a window title
# "\x1b]0;...\x07", or a two-character one), so that no "[31m" is left behind.
_TERMINAL_ESCAPE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~]?)"
)
# C0 controls, DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Controls that break a line: kept as line breaks when lines are kept.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85")


def without_controls(text: str, *, keep_lines: bool = False) -> str:
    """``text`` without terminal escape sequences and control characters.

    A control that is white space (a tab, a line break) becomes a space, or a line break
    when ``keep_lines`` and it breaks a line; every other one (NUL, BEL, ESC, DEL, C1
    controls) is dropped. A model's reply or a novel can hold them, and printed raw they
    would drive the terminal (clear it, retitle it, recolour it) or corrupt a page.
    """

    def replace(match: re.Match[str]) -> str:
        char = match.group()
        if not char.isspace():
            return ""
        return "\n" if keep_lines and char in _LINE_BREAKS else " "

    return _CONTROL.sub(replace, _TERMINAL_ESCAPE.sub("", text))


def _text(value: str) -> str:
    """``value`` safe between the message's tags: controls dropped, ``& < >`` escaped."""
    return _xml_escape(without_controls(value, keep_lines=True))


def _attribute(value: str) -> str:
    """``value`` safe inside a double-quoted attribute of the message."""
    return _xml_escape(without_controls(value), {'"': "&quot;"})


def relevant_characters(
    sentence: str, context: SceneContext | None, characters: Mapping[str, str] | None
) -> dict[str, str]:
    """The characters named in the sentence, then those named only in its context.

    The context counts because "she" in the sentence is usually named just before.
    """
    if not characters:
        return {}
    found = characters_mentioned(sentence, characters)
    if context is not None:
        around = "\n".join((context.chapter_title, *context.before, *context.after))
        for name, description in characters_mentioned(around, characters).items():
            found.setdefault(name, description)
    return found


def build_user_message(
    sentence: str,
    context: SceneContext | None = None,
    characters: Mapping[str, str] | None = None,
) -> str:
    """The user turn sent with ``SYSTEM_INSTRUCTIONS``; deterministic, so usable as a cache key.

    ``characters`` may be the whole sheet: only the characters named in the sentence
    or its context go in, since every description sent is paid for. Every text put
    between the tags is escaped (``&amp;``, ``&lt;``, ``&gt;``), so a sentence holding
    ``</sentence>`` cannot end its tag early.
    """
    context = context or SceneContext()
    parts: list[str] = []
    if context.chapter_title.strip():
        parts.append(_CHAPTER_PART.format(title=_text(context.chapter_title.strip())))
    present = relevant_characters(sentence, context, characters)
    if present:
        lines = "\n".join(
            _CHARACTER_LINE.format(name=_attribute(name), description=_text(description))
            for name, description in present.items()
        )
        parts.append(_CHARACTERS_PART.format(characters=lines))
    before = [_text(s.strip()) for s in context.before if s.strip()]
    if before:
        parts.append(_BEFORE_PART.format(sentences="\n".join(before)))
    parts.append(_SENTENCE_PART.format(sentence=_text(sentence.strip())))
    after = [_text(s.strip()) for s in context.after if s.strip()]
    if after:
        parts.append(_AFTER_PART.format(sentences="\n".join(after)))
    return "\n".join(parts)


@dataclass(frozen=True)
class HaikuRequest:
    """The Messages API request the ``haiku`` method sends for one sentence.

    ``scenewright estimate`` counts and prices these very requests, so an estimate is of
    what a run sends, not of a look-alike.
    """

    model: str
    max_tokens: int
    system: str
    user_message: str

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.user_message}]

    def to_json(self) -> dict[str, Any]:
        """The request body's fields, as the API receives them."""
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": self.system,
            "messages": self.messages,
        }


def build_haiku_request(
    sentence: str,
    context: SceneContext | None = None,
    characters: Mapping[str, str] | None = None,
    model: str | None = None,
) -> HaikuRequest:
    """The request for ``sentence``; ``model`` defaults to ``config.DEFAULT_HAIKU_MODEL``."""
    return HaikuRequest(
        model=config.DEFAULT_HAIKU_MODEL if model is None else model,
        max_tokens=config.HAIKU_MAX_OUTPUT_TOKENS,
        system=SYSTEM_INSTRUCTIONS,
        user_message=build_user_message(sentence, context, characters),
    )


# A label the model may put before the prompt despite being told not to.
_LABEL = re.compile(
    r"^\s*(?:[*_#>]+\s*)*"
    r"(?:(?:here(?:'s| is)\s+(?:the|a|your)\s+)?(?:sdxl\s+|stable\s+diffusion\s+|image\s+)?"
    r"prompt(?:\s+for\s+[^:\n]{1,60})?|positive(?:\s+prompt)?)"
    r"\s*[*_]*\s*[:\-\u2013\u2014]\s*[*_]*\s*",
    re.IGNORECASE,
)
_FENCE = re.compile(r"^```[\w-]*\s*|\s*```$")
_QUOTE_PAIRS = {
    '"': '"',
    "'": "'",
    "\u201c": "\u201d",
    "\u2018": "\u2019",
    "`": "`",
    "\u00ab": "\u00bb",
}


def clean_reply(text: str) -> str:
    """The prompt in a model's reply: terminal escapes and control characters, labels,
    code fences, wrapping quotes and line breaks removed. ``""`` if nothing is left.
    """
    text = without_controls(text, keep_lines=True)
    text = _FENCE.sub("", text.strip()).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # "Here is a prompt for this scene:" on a line of its own introduces the prompt.
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    text = " ".join(lines)
    while True:
        before = text
        text = _LABEL.sub("", text, count=1).strip()
        if len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
            text = text[1:-1].strip()
        if text == before:
            break
    return " ".join(text.split()).strip(" ,")


def haiku_model_name(model: str | None) -> str:
    """The Claude model a run uses: ``model`` without surrounding spaces, or
    ``config.DEFAULT_HAIKU_MODEL`` when none is given. Only leaving ``--model`` out means
    the default: an empty name is an error.
    """
    if model is None:
        return config.DEFAULT_HAIKU_MODEL
    name = model.strip()
    if not name:
        raise ConfigError(
            f"The model name is empty. Leave out --model to use {config.DEFAULT_HAIKU_MODEL!r}, "
            "or give a model id such as that one."
        )
    return name


def ollama_model_name(model: str | None) -> str:
    """The Ollama model a run uses: ``model`` without surrounding spaces, or
    ``config.DEFAULT_OLLAMA_MODEL`` when none is given. Only leaving ``--ollama-model``
    out means the default: an empty name is an error.
    """
    if model is None:
        return config.DEFAULT_OLLAMA_MODEL
    name = model.strip()
    if not name:
        raise ConfigError(
            "The Ollama model name is empty. Leave out --ollama-model to use "
            f"{config.DEFAULT_OLLAMA_MODEL!r}, or name a model Ollama has (`ollama list`)."
        )
    return name


def generate_prompt(
    sentence: str,
    *,
    method: str,
    context: SceneContext | None = None,
    characters: Mapping[str, str] | None = None,
    model: str | None = None,
    cost_tracker: CostTrackerLike | None = None,
    client: anthropic.Anthropic | None = None,
    ollama_client: ollama.Client | None = None,
) -> PromptResult:
    """Write the SDXL prompt for ``sentence`` with ``method`` (one of ``METHODS``).

    ``model`` is the Claude model id for ``haiku`` (default ``config.DEFAULT_HAIKU_MODEL``)
    and the Ollama model for ``ollama`` (default ``config.DEFAULT_OLLAMA_MODEL``).
    ``cost_tracker`` and ``client`` matter to ``haiku`` only: the tracker that records the
    call's usage, and an ``anthropic.Anthropic`` client to reuse across calls. Without a
    tracker a ``haiku`` call is still recorded, in the per-process ledger session
    ``"generate_prompt_with_haiku"`` (``haiku_prompt.default_cost_tracker``), which is saved
    after each call and closed at exit. A closed tracker (``ValueError``), an object that is
    not one (``TypeError``) and a cost folder that cannot be written (``LedgerError``) are
    refused before anything is sent.
    ``ollama_client`` is an ``ollama.Client`` for ``ollama``; local calls are never
    recorded in the Claude ledger.
    """
    chosen = method.strip().lower() if isinstance(method, str) else method
    if chosen == "keyword":
        from scenewright.keyword_prompt import keyword_prompt

        started = time.perf_counter()
        # A terminal escape in the novel would otherwise leave words such as "31mrobot".
        prompt = keyword_prompt(without_controls(sentence), context=context, characters=characters)
        return PromptResult(
            prompt=prompt,
            method="keyword",
            model=None,
            usage=Usage(),
            cost_usd=Decimal(0),
            duration_s=time.perf_counter() - started,
        )
    if chosen == "ollama":
        # Imported here, like the anthropic SDK below: the ollama client and pydantic
        # take most of a second to import, and the other methods never need them.
        from scenewright.ollama_prompt import generate_ollama_prompt

        return generate_ollama_prompt(
            sentence, context=context, characters=characters, model=model, client=ollama_client
        )
    if chosen == "haiku":
        # Imported here: the anthropic SDK takes seconds to import, and the
        # keyword method never needs it.
        from scenewright.haiku_prompt import generate_haiku_prompt

        return generate_haiku_prompt(
            sentence,
            context=context,
            characters=characters,
            model=model,
            cost_tracker=cost_tracker,
            client=client,
        )
    raise ConfigError(f"Unknown prompt method {method!r}. Use one of: {', '.join(METHODS)}.")


def check_method(
    method: str,
    *,
    model: str | None = None,
    client: anthropic.Anthropic | None = None,
    ollama_client: ollama.Client | None = None,
) -> None:
    """Raise the error, with its fix, that keeps ``method`` from running here; else nothing.

    Nothing is generated or paid for: ``haiku`` checks the key and the price of ``model``,
    ``ollama`` asks the server which models it has (a free local request).
    """
    chosen = method.strip().lower() if isinstance(method, str) else method
    if chosen == "keyword":
        return
    if chosen == "ollama":
        from scenewright.ollama_prompt import check_ollama

        check_ollama(model, client=ollama_client)
        return
    if chosen == "haiku":
        from scenewright import pricing
        from scenewright.api_key import check_api_key, check_base_url

        if client is None:
            check_api_key()
            check_base_url()
        pricing.check_model(haiku_model_name(model))
        return
    raise ConfigError(f"Unknown prompt method {method!r}. Use one of: {', '.join(METHODS)}.")


def generate_prompt_with_haiku(
    sentence: str,
    cost_tracker: CostTrackerLike | None = None,
    *,
    context: SceneContext | None = None,
    characters: Mapping[str, str] | None = None,
    model: str | None = None,
    client: anthropic.Anthropic | None = None,
) -> tuple[str, int, int]:
    """The design document's function: ``(prompt, input_tokens, output_tokens)``.

    Records the call in ``cost_tracker`` when one is given. Without one the call is recorded
    all the same, in the ledger session ``"generate_prompt_with_haiku"``: one per process,
    made on the first such call, saved after every call and closed when Python exits, so
    money spent through this function is never missing from ``scenewright costs``.
    See ``generate_prompt`` for what is refused before the request.
    """
    result = generate_prompt(
        sentence,
        method="haiku",
        context=context,
        characters=characters,
        model=model,
        cost_tracker=cost_tracker,
        client=client,
    )
    return result.prompt, result.usage.input_tokens, result.usage.output_tokens
