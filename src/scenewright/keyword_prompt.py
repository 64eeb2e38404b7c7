"""Keyword prompts: local, free, deterministic, no network.

A keyword prompt is built from three things, in this order:

1. how each character the sentence names looks, from the character sheet;
2. the sentence's content words, lower-cased, in the order they appear: every word
   that is not on a short English stop-word list (pronouns, auxiliaries, common
   non-visual verbs and adverbs). Words that stood next to each other stay together
   as one phrase ("iron stairs", "brass key"), since that is usually an adjective
   with its noun; symbols such as emoji are kept too;
3. ``config.PROMPT_STYLE_TAGS``.

When the sentence has no content word (a line of dialogue such as "Oh!", or "* * *"),
the content words of the sentences around it and the chapter title stand in.

**Length.** SDXL's CLIP text encoders read 77 tokens, two of which are the start and
end markers, and ignore the rest, which would cut off the style tags. The CLIP
tokenizer cannot be loaded here, so ``estimate_clip_tokens`` over-counts instead, and
prompts are kept within ``config.KEYWORD_PROMPT_TOKEN_BUDGET`` (60) estimated tokens.
The estimate follows CLIP's own splitting (runs of letters, single digits, runs of
other symbols) and counts

* a run of letters as one token per started six ASCII letters (common English words
  of up to six letters are one CLIP token; longer and rarer ones split into pieces)
  plus one per UTF-8 byte of every non-ASCII letter,
* each digit as one token, as CLIP splits numbers digit by digit,
* a run of punctuation or symbols as one token per UTF-8 byte.

Byte-level BPE never makes more tokens than bytes, so non-Latin scripts and emoji are
never under-counted; for English the estimate runs about a quarter high, and the 15
tokens between the budget and 75 are the margin for the odd rare word it under-counts.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping

from scenewright import config
from scenewright.characters import CharacterSheet
from scenewright.prompt_generator import SceneContext, relevant_characters

__all__ = ["content_phrases", "estimate_clip_tokens", "keyword_prompt"]

# The subject when neither the sentence nor its context has anything to show.
_FALLBACK_SUBJECT = "a quiet scene from a novel"

# Words that draw nothing: function words, non-visual verbs and adverbs, honorifics.
# Lower-case, with "'" for every apostrophe, as content_phrases compares them.
# fmt: off
_STOP_WORDS = frozenset((
    "a", "an", "the", "this", "that", "these", "those", "there", "here", "some", "any", "each",
    "every", "all", "both", "either", "neither", "no", "nor", "not", "such", "what", "which",
    "who", "whom", "whose", "whoever", "whatever", "whichever", "when", "where", "why", "how",
    "than", "then", "so", "too", "very", "i", "me", "my", "mine", "myself", "we", "us", "our",
    "ours", "ourselves", "you", "your", "yours", "yourself", "yourselves", "he", "him", "his",
    "himself", "she", "her", "hers", "herself", "it", "its", "itself", "they", "them", "their",
    "theirs", "themselves", "one", "ones", "someone", "somebody", "something", "anyone",
    "anybody", "anything", "everyone", "everybody", "everything", "nobody", "nothing", "none",
    "other", "others", "another", "same", "own", "and", "or", "but", "if", "because", "as",
    "until", "while", "although", "though", "unless", "since", "whether", "yet", "also", "of",
    "at", "by", "for", "with", "about", "against", "between", "into", "through", "during",
    "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off",
    "over", "under", "again", "further", "once", "upon", "onto", "toward", "towards", "within",
    "without", "among", "across", "along", "around", "behind", "beside", "besides", "beyond",
    "near", "inside", "outside", "like", "unto", "via", "per", "am", "is", "are", "was",
    "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did",
    "doing", "done", "shall", "will", "would", "should", "can", "could", "may", "might",
    "must", "ought", "said", "say", "says", "saying", "asked", "ask", "asks", "replied",
    "reply", "answered", "told", "tell", "tells", "thought", "think", "thinks", "knew", "know",
    "knows", "known", "seemed", "seem", "seems", "felt", "feel", "feels", "made", "make",
    "makes", "got", "get", "gets", "gotten", "went", "go", "goes", "gone", "going", "came",
    "come", "comes", "coming", "saw", "see", "sees", "seen", "looked", "look", "looks", "took",
    "take", "takes", "taken", "gave", "give", "gives", "given", "wanted", "want", "wants",
    "began", "begin", "begins", "begun", "kept", "keep", "keeps", "tried", "try", "tries",
    "became", "become", "becomes", "let", "lets", "put", "puts", "wondered", "wonder",
    "realised", "realized", "remembered", "remember", "decided", "decide", "continued",
    "continue", "meant", "mean", "means", "supposed", "suppose", "heard", "hear", "just",
    "only", "even", "still", "already", "always", "never", "ever", "often", "sometimes",
    "soon", "now", "again", "almost", "quite", "rather", "really", "perhaps", "maybe",
    "nearly", "simply", "suddenly", "slowly", "quickly", "finally", "certainly", "probably",
    "actually", "exactly", "merely", "barely", "hardly", "surely", "indeed", "anyway",
    "instead", "however", "therefore", "thus", "else", "yes", "oh", "ah", "well", "much",
    "many", "more", "most", "less", "least", "few", "several", "enough", "lot", "lots", "time",
    "times", "moment", "moments", "way", "ways", "thing", "things", "kind", "sort", "bit",
    "part", "fact", "mr", "mrs", "ms", "miss", "sir", "madam", "dr", "st", "don't", "didn't",
    "doesn't", "isn't", "wasn't", "weren't", "won't", "wouldn't", "couldn't", "shouldn't",
    "can't", "cannot", "i'm", "i've", "i'd", "i'll", "you're", "you've", "you'd", "you'll",
    "he's", "he'd", "he'll", "she's", "she'd", "she'll", "it's", "we're", "we've", "we'd",
    "we'll", "they're", "they've", "they'd", "they'll", "that's", "there's", "what's", "let's",
))
# fmt: on

# A word: letters and digits, with inner apostrophes or hyphens ("sou'wester", "copper-red").
_WORD = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")
# CLIP's pre-tokenizer: runs of letters, single digits, runs of anything else but space.
_CLIP_PIECE = re.compile(r"[^\W\d_]+|\d|[^\w\s]+|_+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2010": "-"})


def estimate_clip_tokens(text: str) -> int:
    """An over-estimate of the CLIP tokens in ``text``, without start and end markers.

    See the module docstring for the rule.
    """
    total = 0
    for piece in _CLIP_PIECE.findall(unicodedata.normalize("NFC", text)):
        if piece[0].isalpha():
            ascii_letters = sum(1 for c in piece if c.isascii())
            other_bytes = sum(len(c.encode("utf-8")) for c in piece if not c.isascii())
            total += math.ceil(ascii_letters / 6) + other_bytes
        else:
            total += len(piece.encode("utf-8"))
    return total


def _is_symbol(char: str) -> bool:
    # "So" is where emoji and pictographs live; they carry meaning for CLIP.
    return unicodedata.category(char) == "So"


def content_phrases(text: str, *, skip: Iterable[str] = ()) -> list[str]:
    """The content words of ``text`` as phrases of neighbouring words, lower-cased, in order.

    Words in ``skip`` (compared case-insensitively) are dropped like stop words. A
    phrase already said, alone or inside a longer phrase, is left out.
    """
    skipped = {word.casefold() for word in skip}
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    phrases: list[str] = []
    current: list[str] = []
    position = 0

    def close() -> None:
        if current:
            phrases.append(" ".join(current))
            current.clear()

    for match in _WORD.finditer(text):
        between = text[position : match.start()]
        position = match.end()
        symbols = [c for c in between if _is_symbol(c)]
        if between.strip():
            close()  # punctuation or a symbol ends a phrase
        phrases.extend(symbols)
        word = match.group().casefold()
        if word.endswith("'s"):
            word = word[:-2]  # "Mara's lantern" is about Mara and a lantern
        if word in _STOP_WORDS or word in skipped or word.isdigit() or len(word) < 2:
            close()
            continue
        current.append(word)
    close()
    phrases.extend(c for c in text[position:] if _is_symbol(c))
    return _without_repeats(phrases)


# Phrases of up to this many words are checked for repeats by set lookup; longer ones
# (that many content words in a row) only against the longer phrases that share their start.
_SHORT_PHRASE_WORDS = 4


def _without_repeats(phrases: Iterable[str]) -> list[str]:
    """``phrases`` without those already said, alone or inside a longer phrase before.

    "cat" after "cat basket" adds nothing but length. Every run of up to
    ``_SHORT_PHRASE_WORDS`` words of each kept phrase is indexed, so the check costs the
    same for the thousandth phrase as for the first: comparing each phrase with all the
    earlier ones made a long text quadratic (41 s for a 1.2 MB run-on sentence).
    """
    unique: list[str] = []
    said: set[tuple[str, ...]] = set()
    # The longer kept phrases, by each run of _SHORT_PHRASE_WORDS words in them: a longer
    # phrase said before is inside one of those holding its own first words.
    longer: dict[tuple[str, ...], list[str]] = {}
    for phrase in phrases:
        words = tuple(phrase.split())
        if len(words) <= _SHORT_PHRASE_WORDS:
            if words in said:
                continue
        elif any(
            f" {phrase} " in f" {earlier} "
            for earlier in longer.get(words[:_SHORT_PHRASE_WORDS], ())
        ):
            continue
        unique.append(phrase)
        for size in range(1, min(len(words), _SHORT_PHRASE_WORDS) + 1):
            said.update(words[i : i + size] for i in range(len(words) - size + 1))
        if len(words) > _SHORT_PHRASE_WORDS:
            starts = {
                words[i : i + _SHORT_PHRASE_WORDS]
                for i in range(len(words) - _SHORT_PHRASE_WORDS + 1)
            }
            for start in starts:
                longer.setdefault(start, []).append(phrase)
    return unique


def _look(description: str, budget: int) -> list[str]:
    """A character's description as phrases fitting ``budget``: whole if it fits, else its
    content phrases ("a man in his fifties with a grey beard" -> "man", "fifties", ...).
    """
    description = " ".join(description.split()).rstrip(" .;")
    if estimate_clip_tokens(description) <= budget:
        return [description] if description else []
    return _fit(content_phrases(description), budget)


def _prefix(phrase: str, budget: int) -> str:
    """The longest start of ``phrase`` that fits ``budget``: whole words, or characters of
    a script written without spaces; "" for a single word, which is never cut.
    """
    words = phrase.split()
    if len(words) > 1:
        # Word by word from the start: the estimate of words joined by spaces is the sum
        # of their estimates, and re-estimating the whole phrase after dropping each last
        # word was quadratic in its length.
        kept: list[str] = []
        used = 0
        for word in words:
            used += estimate_clip_tokens(word)
            if used > budget:
                break
            kept.append(word)
        return " ".join(kept)
    if phrase.isascii():
        return ""
    # Every character costs at least a sixth of a token, so no longer start can fit; the
    # loop below is then short however long the word (a novel in a script without spaces).
    phrase = phrase[: 6 * (max(budget, 0) + 1)]
    while phrase and estimate_clip_tokens(phrase) > budget:
        phrase = phrase[:-1]
    return phrase


def _fit(phrases: Iterable[str], budget: int) -> list[str]:
    """The phrases, in order, that fit ``budget`` when joined with ", ".

    A phrase too long for the room left is skipped; once the room is short of even
    the next phrase, the start of that phrase fills it and the list ends.
    """
    kept: list[str] = []
    used = 0
    for phrase in phrases:
        comma = 1 if kept else 0
        if used + comma >= budget:
            break  # no room for even one token: nothing after this could be added
        if used + comma + estimate_clip_tokens(phrase) <= budget:
            kept.append(phrase)
            used += comma + estimate_clip_tokens(phrase)
            continue
        head = _prefix(phrase, budget - used - comma)
        if head:
            kept.append(head)
            break
    return kept


def _name_words(present: Mapping[str, str], characters: Mapping[str, str] | None) -> set[str]:
    """Every word of every name and alias of the characters present."""
    names: list[str] = list(present)
    if isinstance(characters, CharacterSheet):
        for character in characters.characters:
            if character.name in present:
                names.extend(character.aliases)
    words: set[str] = set()
    for name in names:
        words.update(p for phrase in content_phrases(name) for p in phrase.split())
    return words


def _without_names(text: str, present: Mapping[str, str]) -> str:
    """``text`` with names in unspaced scripts cut out, since they are not separate words."""
    for name in present:
        if name and not name[0].isascii():
            text = re.sub(re.escape(name), " ", text, flags=re.IGNORECASE)
    return text


def keyword_prompt(
    sentence: str,
    *,
    context: SceneContext | None = None,
    characters: Mapping[str, str] | None = None,
    budget: int = config.KEYWORD_PROMPT_TOKEN_BUDGET,
) -> str:
    """The keyword SDXL prompt for ``sentence``; see the module docstring.

    The same arguments always give the same prompt.
    """
    style = list(config.PROMPT_STYLE_TAGS)
    room = budget - estimate_clip_tokens(", ".join(style)) - 1  # the comma before the tags
    present = relevant_characters(sentence, None, characters)
    phrases = content_phrases(
        _without_names(sentence, present), skip=_name_words(present, characters)
    )
    if not phrases and not present and context is not None:
        # Nothing to see in the sentence itself ("Oh!", "* * *"): show what is around it,
        # nearest sentences first, and whoever is there.
        around = "\n".join((*context.before[::-1], *context.after, context.chapter_title))
        present = relevant_characters(around, None, characters)
        phrases = content_phrases(
            _without_names(around, present), skip=_name_words(present, characters)
        )
    if not phrases and not present:
        phrases = [_FALLBACK_SUBJECT]

    looks: list[str] = []
    if present:
        # Characters get at most half the room, shared equally, so the scene still shows.
        share = (room // 2 if phrases else room) // len(present)
        for description in present.values():
            looks.extend(_look(description, share - (1 if looks else 0)))
    used = estimate_clip_tokens(", ".join(looks)) + (1 if looks else 0)
    scene = _fit(phrases, room - used)
    if not looks and not scene:
        scene = [_FALLBACK_SUBJECT]  # only an overlong single word was there
    return ", ".join([*looks, *scene, *style])
