"""Character sheets: how each named character should look in every image.

A sheet is a UTF-8 YAML or JSON file (``.json`` is read as JSON, anything else as
YAML). Three shapes are accepted, and may not be mixed within one file::

    # 1. name -> description
    Mara Quill: a young woman with short copper-red hair and freckles

    # 2. name -> description and aliases (other names the novel uses)
    Mara Quill:
      description: a young woman with short copper-red hair and freckles
      aliases: [Mara, Miss Quill]

    # 3. a list of entries, each with a name, a description and optional aliases
    - name: Mara Quill
      description: a young woman with short copper-red hair and freckles
      aliases: [Mara]

Names and aliases are matched in text as whole words, ignoring case (``Mara
Quill``, ``MARA QUILL``, ``Mara Quill's``, but not ``Mara Quillon``). Each capitalised
word of a multi-word name also counts on its own (``Mara``, ``Quill``), matched with
its capital so that ``Rose Hill`` is not found in "a hill", unless another character
shares that word or it is a title such as ``Mr`` or ``Captain``. Names written in
scripts without spaces between words (Chinese, Japanese, Korean, Thai, ...) are
matched wherever they appear, since those scripts have no word boundary to look for.

A sheet that cannot be used raises ``CharacterSheetError`` naming the file, what is
wrong and where, and how to fix it.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scenewright import config
from scenewright.errors import CharacterSheetError

__all__ = [
    "Character",
    "CharacterSheet",
    "characters_mentioned",
    "load_characters",
]

_EXAMPLE = "Mara Quill: a young woman with short copper-red hair and freckles"

# Unicode character-name prefixes of scripts written without spaces between words;
# a word boundary test would never match a name written in them.
_UNSPACED_SCRIPTS = (
    "CJK",
    "HIRAGANA",
    "KATAKANA",
    "HALFWIDTH KATAKANA",
    "HANGUL",
    "THAI",
    "LAO",
    "KHMER",
    "MYANMAR",
    "TIBETAN",
    "BOPOMOFO",
    "YI ",
)


@dataclass(frozen=True)
class Character:
    """One entry of a sheet."""

    name: str
    description: str
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


# Words of a full name that never identify one character on their own.
# fmt: off
_TITLES = frozenset((
    "mr", "mrs", "ms", "miss", "mx", "dr", "doctor", "sir", "dame", "lady", "lord", "madam",
    "madame", "monsieur", "mademoiselle", "captain", "capt", "colonel", "major", "general",
    "sergeant", "lieutenant", "admiral", "commander", "inspector", "detective", "officer",
    "professor", "prof", "father", "mother", "brother", "sister", "uncle", "aunt", "saint",
    "st", "king", "queen", "prince", "princess", "duke", "duchess", "count", "countess",
    "baron", "baroness", "the", "of", "and", "von", "van", "der", "den", "de", "del", "della",
    "di", "da", "du", "la", "le", "las", "los", "el", "al", "bin", "ibn", "jr", "sr", "junior",
    "senior",
))
# fmt: on


def _normalise(text: str) -> str:
    # NFC so that "Zoë" typed with a combining diaeresis still matches "Zoë" in the sheet.
    return unicodedata.normalize("NFC", text)


def _is_unspaced(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(_UNSPACED_SCRIPTS)


def _name_pattern(names: Iterable[str], *, ignore_case: bool) -> re.Pattern[str]:
    alternatives = []
    # Longest first, so "Mara Quill" wins over "Mara" when both are names.
    for name in sorted(names, key=len, reverse=True):
        words = name.split()
        body = r"\s+".join(re.escape(word) for word in words)
        left = "" if _is_unspaced(name[0]) else r"(?<!\w)"
        right = "" if _is_unspaced(name[-1]) else r"(?!\w)"
        alternatives.append(f"{left}{body}{right}")
    return re.compile("|".join(alternatives), re.IGNORECASE if ignore_case else 0)


class CharacterSheet(Mapping[str, str]):
    """A read-only mapping of character name -> visual description, with aliases.

    Use it wherever a ``Mapping[str, str]`` of characters is expected; lookups accept
    a name or an alias in any case.
    """

    def __init__(self, characters: Iterable[Character], *, source: str = "<data>") -> None:
        self.source = source
        self.characters: tuple[Character, ...] = tuple(characters)
        self._by_key: dict[str, Character] = {}
        for character in self.characters:
            for name in character.names:
                key = _normalise(name).casefold()
                other = self._by_key.get(key)
                if other is not None:
                    where = "twice" if other is character else f"for {other.name!r} too"
                    raise CharacterSheetError(
                        f"Character sheet {source}: the name {name!r} is used {where}. "
                        "Give every character and alias a different name."
                    )
                self._by_key[key] = character
        short = self._short_names()
        self._patterns: list[tuple[Character, re.Pattern[str], re.Pattern[str] | None]] = [
            (
                character,
                _name_pattern((_normalise(n) for n in character.names), ignore_case=True),
                _name_pattern(short[character], ignore_case=False) if short[character] else None,
            )
            for character in self.characters
        ]
        for character, names in short.items():
            for name in names:
                self._by_key.setdefault(name.casefold(), character)

    def _short_names(self) -> dict[Character, list[str]]:
        """The capitalised words of each multi-word name that stand for one character only."""
        owners: dict[str, set[Character]] = {}
        for character in self.characters:
            for name in character.names:
                for word in _normalise(name).split():
                    owners.setdefault(word.casefold().strip(".,"), set()).add(character)
        short: dict[Character, list[str]] = {}
        for character in self.characters:
            words = _normalise(character.name).split()
            short[character] = [
                word
                for word in words
                if len(words) > 1
                and word[0].isupper()
                and len(word) >= 3
                and word.casefold().strip(".,") not in _TITLES
                and owners[word.casefold().strip(".,")] == {character}
                and word.casefold() not in self._by_key
            ]
        return short

    @classmethod
    def from_data(cls, data: Any, *, source: str = "<data>") -> CharacterSheet:
        """Build a sheet from parsed YAML/JSON data in any of the accepted shapes."""
        return cls(_parse_entries(data, source), source=source)

    def __getitem__(self, name: str) -> str:
        return self._by_key[_normalise(name).casefold()].description

    def __iter__(self) -> Iterator[str]:
        return (character.name for character in self.characters)

    def __len__(self) -> int:
        return len(self.characters)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _normalise(name).casefold() in self._by_key

    def __repr__(self) -> str:
        return f"CharacterSheet({len(self)} characters from {self.source})"

    def describe(self, names: Iterable[str]) -> dict[str, str]:
        """Canonical name -> description for each name, alias or single-word name in ``names``."""
        found: dict[str, str] = {}
        for name in names:
            character = self._by_key.get(_normalise(name).casefold())
            if character is not None:
                found[character.name] = character.description
        return found

    def mentioned_in(self, text: str) -> dict[str, str]:
        """Canonical name -> description for every character ``text`` names.

        Ordered by first mention, so the first character named leads a prompt.
        """
        text = _normalise(text)
        hits: list[tuple[int, int, Character]] = []
        for order, (character, *patterns) in enumerate(self._patterns):
            starts = [m.start() for p in patterns if p and (m := p.search(text)) is not None]
            if starts:
                hits.append((min(starts), order, character))
        return {character.name: character.description for _, _, character in sorted(hits)}


def characters_mentioned(text: str, characters: Mapping[str, str] | None) -> dict[str, str]:
    """The characters of ``characters`` that ``text`` names, for any mapping of name -> description.

    A ``CharacterSheet`` also matches aliases; a plain dict matches its keys only.
    """
    if not characters:
        return {}
    if isinstance(characters, CharacterSheet):
        return characters.mentioned_in(text)
    # A plain mapping was never validated: skip blank names and case-only duplicates
    # rather than fail in the middle of a run.
    entries: dict[str, Character] = {}
    for name, description in characters.items():
        key = _normalise(name).casefold().strip()
        if key and key not in entries:
            entries[key] = Character(name.strip(), description)
    return CharacterSheet(entries.values(), source="<mapping>").mentioned_in(text)


def load_characters(path: str | os.PathLike[str]) -> CharacterSheet:
    """Read the character sheet at ``path``; see the module docstring for the format."""
    path = Path(path)
    shown = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CharacterSheetError(
            f"Character sheet {shown} does not exist. Check the path given to --characters, "
            "or leave --characters out to illustrate without one."
        ) from None
    except OSError as exc:
        raise CharacterSheetError(
            f"Character sheet {shown} cannot be read ({exc.strerror or exc}). "
            "Check the path and its permissions."
        ) from None
    if path.is_dir():
        raise CharacterSheetError(
            f"Character sheet {shown} is a folder. Give the path of a .yaml or .json file."
        )
    if size > config.CHARACTER_SHEET_MAX_BYTES:
        raise CharacterSheetError(
            f"Character sheet {shown} is {size:,} bytes; the limit is "
            f"{config.CHARACTER_SHEET_MAX_BYTES:,}. A sheet needs one short description "
            "per character: check that this is the right file."
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CharacterSheetError(
            f"Character sheet {shown} cannot be read ({exc.strerror or exc}). "
            "Check the path and its permissions."
        ) from None
    try:
        # utf-8-sig: Windows Notepad may save UTF-8 with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CharacterSheetError(
            f"Character sheet {shown} is not UTF-8 text (bad byte at position {exc.start}). "
            "Save it as UTF-8 in your editor and try again."
        ) from None
    parse = _parse_json if path.suffix.lower() == ".json" else _parse_yaml
    return CharacterSheet.from_data(parse(text, shown), source=shown)


# --- Parsing --------------------------------------------------------------------


class _DuplicateKeyError(ValueError):
    def __init__(self, key: object, line: int | None) -> None:
        super().__init__(key)
        self.key = key
        self.line = line


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        # json keeps the last of two equal keys; a sheet would silently lose a character.
        if key in result:
            raise _DuplicateKeyError(key, None)
        result[key] = value
    return result


def _parse_json(text: str, shown: str) -> Any:
    if not text.strip():
        raise _empty(shown)
    try:
        return json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise CharacterSheetError(
            f"Character sheet {shown} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}. Fix the file, or write it as YAML, e.g. {_EXAMPLE!r}."
        ) from None
    except _DuplicateKeyError as exc:
        raise _duplicate(shown, exc) from None
    except RecursionError:
        raise _too_deep(shown) from None


class _SheetLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which PyYAML would silently overwrite."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Resolve "<<" merge keys first, as the base class does, so they are not keys here.
        self.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if duplicate:
                raise _DuplicateKeyError(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, shown: str) -> Any:
    try:
        data = yaml.load(text, Loader=_SheetLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise CharacterSheetError(
            f"Character sheet {shown} is not valid YAML: {problem}{where}. Write one "
            f"character per line as 'Name: description', e.g. {_EXAMPLE!r}; put a "
            "description that contains ': ' or starts with a quote in double quotes."
        ) from None
    except yaml.YAMLError as exc:
        raise CharacterSheetError(
            f"Character sheet {shown} is not valid YAML ({exc}). Write one character "
            f"per line as 'Name: description', e.g. {_EXAMPLE!r}."
        ) from None
    except _DuplicateKeyError as exc:
        raise _duplicate(shown, exc) from None
    except RecursionError:
        raise _too_deep(shown) from None
    if data is None:
        raise _empty(shown)
    return data


def _empty(shown: str) -> CharacterSheetError:
    return CharacterSheetError(
        f"Character sheet {shown} is empty. Add one line per character, e.g. {_EXAMPLE!r}, "
        "or leave --characters out."
    )


def _duplicate(shown: str, exc: _DuplicateKeyError) -> CharacterSheetError:
    where = f" (line {exc.line})" if exc.line else ""
    return CharacterSheetError(
        f"Character sheet {shown} names {exc.key!r} twice{where}. "
        "Keep one entry per character and merge the descriptions."
    )


def _too_deep(shown: str) -> CharacterSheetError:
    return CharacterSheetError(
        f"Character sheet {shown} is nested too deeply to be a character sheet. "
        f"Write one character per line, e.g. {_EXAMPLE!r}."
    )


def _wrong_shape(shown: str, problem: str) -> CharacterSheetError:
    return CharacterSheetError(
        f"Character sheet {shown}: {problem}. Write one character per line as "
        f"'Name: description', e.g. {_EXAMPLE!r} (see `scenewright illustrate --help`)."
    )


def _text(value: Any, shown: str, what: str) -> str:
    if not isinstance(value, str):
        if isinstance(value, (bool, int, float)) or value is None:
            hint = f"got {value!r}; put it in double quotes"
        else:
            hint = f"got a {type(value).__name__}"
        raise _wrong_shape(shown, f"{what} must be text ({hint})")
    text = " ".join(_normalise(value).split())
    if not text:
        raise _wrong_shape(shown, f"{what} is empty")
    return text


def _aliases(value: Any, shown: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _wrong_shape(shown, f"the aliases of {name!r} must be a list of names")
    return tuple(_text(alias, shown, f"an alias of {name!r}") for alias in value)


def _entry(name: str, value: Any, shown: str) -> Character:
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in ("description", "aliases"))
        if unknown:
            raise _wrong_shape(
                shown,
                f"the entry for {name!r} has unknown field(s) {', '.join(unknown)}; "
                "only 'description' and 'aliases' are read",
            )
        if "description" not in value:
            raise _wrong_shape(shown, f"the entry for {name!r} has no 'description'")
        description = _text(value["description"], shown, f"the description of {name!r}")
        return Character(name, description, _aliases(value.get("aliases"), shown, name))
    return Character(name, _text(value, shown, f"the description of {name!r}"))


def _parse_entries(data: Any, shown: str) -> list[Character]:
    if isinstance(data, Mapping):
        if not data:
            raise _empty(shown)
        return [
            _entry(_text(key, shown, f"the character name {key!r}"), value, shown)
            for key, value in data.items()
        ]
    if isinstance(data, list):
        if not data:
            raise _empty(shown)
        characters = []
        for number, item in enumerate(data, start=1):
            if not isinstance(item, Mapping) or "name" not in item:
                raise _wrong_shape(
                    shown, f"list entry {number} must have a 'name' and a 'description'"
                )
            name = _text(item["name"], shown, f"the name in list entry {number}")
            rest = {key: value for key, value in item.items() if key != "name"}
            characters.append(_entry(name, rest, shown))
        return characters
    if isinstance(data, str) and data.strip():
        raise _wrong_shape(shown, "it holds plain text, not names with descriptions")
    if isinstance(data, (str, bytes)) or data is None:
        raise _empty(shown)
    raise _wrong_shape(
        shown, f"it holds a single {type(data).__name__}, not names with descriptions"
    )
