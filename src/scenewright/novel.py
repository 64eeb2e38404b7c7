"""Reading a novel and splitting it into chapters and sentences.

A novel is a plain-text file, usually a Project Gutenberg edition. Reading it
takes four steps:

1. decode it (UTF-8 with or without a BOM; Windows-1252 as a fallback, and stray
   Windows-1252 bytes in UTF-8 text, each with a warning that says where) and unify
   line endings;
2. cut away the Project Gutenberg header, footer and license, keeping the
   ``Title:`` and ``Author:`` of the header;
3. find the chapter headings (``I.``, ``Chapter 12``, ``CHAPTER XII.``,
   ``Letter 3``, ``ACT ONE``, ``Epilogue``...), each with an optional title
   line under it, and drop what is not a chapter: the front matter before the
   first heading, a table of contents (headings with nothing under them, or
   repeated later with far more), and what follows ``THE END`` or
   ``CURTAIN`` up to the next heading;
4. join hard-wrapped lines into paragraphs and split each paragraph into
   sentences with syntok.

syntok is used because it splits inside dialogue (``"You must follow me. I
shall..."`` gives two sentences, which is what one picture per sentence
needs), where sentencex and pysbd keep a whole quoted speech as one sentence.
A few of its habits are patched afterwards; see ``_segment``.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from syntok import segmenter as _syntok  # type: ignore[import-untyped]
from syntok.tokenizer import Tokenizer as _Tokenizer  # type: ignore[import-untyped]

from scenewright.config import DUPLICATE_HEADING_MAX_SHARE, MAX_NOVEL_BYTES
from scenewright.errors import ChapterSelectionError, NovelError, ScenewrightWarning

__all__ = [
    "MAX_SENTENCE_CHARS",
    "Chapter",
    "Novel",
    "parse_novel",
    "read_novel",
    "select_chapters",
    "split_sentences",
]


@dataclass(frozen=True)
class Chapter:
    """One chapter: its heading, its optional title and its sentences."""

    number: int
    """1-based position in the book (not the number printed in the heading)."""
    label: str
    """The heading as printed, normalised: ``"I"``, ``"Chapter 12"``, ``"Letter 3"``."""
    title: str | None
    """The title line under the heading, e.g. ``"Introduction"``, if there is one."""
    sentences: tuple[str, ...]

    @property
    def display_title(self) -> str:
        """``"I. Introduction"``, or the bare label when there is no title."""
        return f"{self.label}. {self.title}" if self.title else self.label


@dataclass(frozen=True)
class Novel:
    """A novel split into chapters of sentences."""

    title: str | None
    author: str | None
    chapters: tuple[Chapter, ...]
    source: str
    """The path it was read from, or ``"<text>"``."""
    encoding: str
    """``"utf-8"``, ``"utf-8-sig"`` (UTF-8 with a BOM) or ``"cp1252"``."""


# --- Reading files ------------------------------------------------------------

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_SAVE_AS_TEXT = "Save or export the novel as plain text (.txt) in UTF-8 and try again."
_SAVE_AS_UTF8 = (
    "Open the file in a text editor, correct the character there (or paste the text into a "
    "new file), and save it as UTF-8; then try again."
)
# C0 controls other than tab, newlines and form feed do not occur in prose.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
# Share of control characters in the first part of a file above which it is not text.
_MAX_CONTROL_SHARE = 0.01
_CONTROL_SAMPLE_CHARS = 65536


def read_novel(path: str | os.PathLike[str]) -> Novel:
    """Read a plain-text novel from ``path`` and split it into chapters.

    Raises ``NovelError``, naming the file and what to do, when the file is
    missing, unreadable, too large, not text, or has no sentences. Warns with
    ``ScenewrightWarning``, naming the line and byte offset of the first byte that is not
    UTF-8, when the file is read as cp1252 or has stray cp1252 bytes in UTF-8 text.
    """
    name = os.fspath(path)
    data = _read_bytes(Path(name), name)
    text, encoding = _decode(data, name)
    return _parse(text, source=name, encoding=encoding)


def parse_novel(text: str, *, source: str = "<text>") -> Novel:
    """Split a novel already in memory; ``source`` names it in error messages.

    The returned ``Novel.encoding`` is ``"utf-8"``: the text was never bytes.
    """
    return _parse(text, source=source, encoding="utf-8")


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NovelError(
            f"{name}: no such file. Check the path; the novel must be a plain-text (.txt) file."
        ) from None
    except OSError as exc:
        raise NovelError(
            f"{name} cannot be read ({exc.strerror or exc}). Check the path."
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise NovelError(
            f"{name} is a directory, not a novel. Give the path of the plain-text (.txt) "
            "file inside it."
        )
    if not stat.S_ISREG(info.st_mode):
        raise NovelError(
            f"{name} is not a regular file (a device, pipe or socket). Give the path of a "
            "plain-text (.txt) file."
        )
    if info.st_size > MAX_NOVEL_BYTES:
        raise NovelError(_too_large(name, info.st_size))
    try:
        with path.open("rb") as handle:
            # One byte more than the limit tells a file that grew since stat().
            data = handle.read(MAX_NOVEL_BYTES + 1)
    except OSError as exc:
        raise NovelError(
            f"{name} cannot be read ({exc.strerror or exc}). Check that you may read it."
        ) from None
    if len(data) > MAX_NOVEL_BYTES:
        raise NovelError(_too_large(name, len(data)))
    return data


def _cp1252_for_bad_bytes(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 are read as Windows-1252."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    try:
        return bytes(bad).decode("cp1252"), error.end
    except UnicodeDecodeError as not_cp1252:
        # Offsets in the whole file, so that the message can say where.
        raise UnicodeDecodeError(
            "cp1252",
            error.object,
            error.start + not_cp1252.start,
            error.start + not_cp1252.end,
            "not UTF-8 and not Windows-1252",
        ) from None


_CP1252_FALLBACK = "scenewright-cp1252-fallback"
codecs.register_error(_CP1252_FALLBACK, _cp1252_for_bad_bytes)


def _decode_not_utf8(data: bytes, name: str, first_bad: int) -> tuple[str, str]:
    """Text and encoding of a file that is not valid UTF-8, with a warning that says where.

    A whole Windows-1252 file reads as cp1252. A UTF-8 file with stray Windows-1252 bytes
    (text pasted from an old program) keeps its UTF-8 and reads only those bytes as
    cp1252: reading it all as cp1252 would garble every UTF-8 letter ("Ã©" for "é"), or
    fail on the bytes of a UTF-8 closing quote that cp1252 does not have.
    """
    where = _where_byte(data, first_bad)
    try:
        mixed = data.decode("utf-8", errors=_CP1252_FALLBACK)
    except UnicodeDecodeError as neither:
        raise NovelError(
            f"{name} is neither UTF-8 nor Windows-1252 (cp1252) text: "
            f"{_where_byte(data, neither.start)} is not a character in either. "
            f"{_SAVE_AS_UTF8}"
        ) from None
    try:
        whole: str | None = data.decode("cp1252")
    except UnicodeDecodeError:
        whole = None
    fix = "To fix it, open the file in a text editor, correct that character, and save it as UTF-8."
    if whole == mixed:
        # No valid UTF-8 letter anywhere: a file saved as Windows-1252 (or "ANSI").
        warnings.warn(
            f"{name} is not UTF-8 (the first byte that is not UTF-8 is at {where}). Reading it "
            "as Windows-1252 (cp1252); if accented letters or quotes look wrong, open it in a "
            "text editor and save it as UTF-8.",
            ScenewrightWarning,
            stacklevel=4,
        )
        return mixed, "cp1252"
    shown = data[first_bad : first_bad + 1].decode("cp1252", errors="replace")
    warnings.warn(
        f"{name} is UTF-8 except for bytes such as the one at {where}, which are read as "
        f"Windows-1252 (this one as {shown!r}). {fix}",
        ScenewrightWarning,
        stacklevel=4,
    )
    return mixed, "utf-8"


def _where_byte(data: bytes, offset: int) -> str:
    """``"line 12 (byte offset 345, 0x92)"``: where a bad byte is, for a text editor."""
    newline = b"\n" if b"\n" in data else b"\r"  # old Mac files end lines with CR only
    line = data.count(newline, 0, offset) + 1
    return f"line {line} (byte offset {offset}, 0x{data[offset]:02x})"


def _too_large(name: str, size: int) -> str:
    mib = 1024 * 1024
    return (
        f"{name} is {size / mib:.1f} MB; scenewright reads novels of up to "
        f"{MAX_NOVEL_BYTES // mib} MB. Give it one novel at a time, or split the file "
        "into parts."
    )


def _decode(data: bytes, name: str) -> tuple[str, str]:
    if not data:
        raise NovelError(f"{name} is empty (0 bytes). Give a plain-text file with the novel in it.")
    if data.startswith(_UTF16_BOMS):
        raise NovelError(f"{name} is UTF-16 text, which scenewright does not read. {_SAVE_AS_TEXT}")
    if b"\x00" in data:
        raise NovelError(
            f"{name} contains NUL bytes: it is a binary file (a PDF, EPUB or Word document?), "
            f"not plain text. {_SAVE_AS_TEXT}"
        )
    if data.startswith(_UTF8_BOM):
        try:
            return data[len(_UTF8_BOM) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise NovelError(
                f"{name} starts with a UTF-8 byte-order mark but is not valid UTF-8: "
                f"{_where_byte(data, exc.start + len(_UTF8_BOM))}. {_SAVE_AS_UTF8}"
            ) from None
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as not_utf8:
        text, encoding = _decode_not_utf8(data, name, not_utf8.start)
    sample = text[:_CONTROL_SAMPLE_CHARS]
    if len(_CONTROL_CHARS.findall(sample)) > _MAX_CONTROL_SHARE * len(sample):
        raise NovelError(
            f"{name} is full of control characters: it is a binary file, not plain text. "
            f"{_SAVE_AS_TEXT}"
        )
    return text, encoding


# --- Project Gutenberg header and footer -------------------------------------

# The start marker ("*** START OF", then THE or THIS, then "PROJECT GUTENBERG EBOOK X
# ***"), and in the oldest files the line that closes the
# small print at the top, "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*...".
_PG_START = re.compile(
    r"^[ \t]*\*+[ \t]*START[ \t]+OF[ \t]+(?:THE|THIS)[ \t]+PROJECT[ \t]+GUTENBERG.*$"
    r"|^[ \t]*\*END\*[ \t]*THE[ \t]+SMALL[ \t]+PRINT.*$",
    re.IGNORECASE | re.MULTILINE,
)
# "*** END OF THE PROJECT GUTENBERG EBOOK X ***", and the line that often comes
# just before it, "End of the Project Gutenberg EBook of X" / "End of Project
# Gutenberg's X".
_PG_END = re.compile(
    r"^[ \t]*\**[ \t]*END[ \t]+OF[ \t]+(?:THE[ \t]+)?(?:THIS[ \t]+)?PROJECT[ \t]+GUTENBERG.*$",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_FIELD = re.compile(r"(Title|Author):[ \t]*(.*)", re.IGNORECASE)
# Credits Project Gutenberg puts at the top of the text proper.
_CREDIT = re.compile(
    r"(?:produced by|e-?text prepared by|transcribed (?:by|from)|this e-?(?:text|book) was)\b",
    re.IGNORECASE,
)


def _strip_gutenberg(text: str) -> tuple[str | None, str | None, str]:
    """Split off the Gutenberg header and footer: (title, author, body)."""
    ends = [m.start() for m in _PG_END.finditer(text)]
    first_end = ends[0] if ends else len(text)
    start = None
    for match in _PG_START.finditer(text, 0, first_end):
        # The last start marker before the footer: old files have both the
        # START line and, after the small print, the *END*THE SMALL PRINT line.
        start = match
    if start is None:
        return None, None, text[:first_end]
    title, author = _header_fields(text[: start.start()])
    body_end = next((end for end in ends if end > start.end()), len(text))
    return title, author, text[start.end() : body_end]


def _header_fields(header: str) -> tuple[str | None, str | None]:
    fields: dict[str, str] = {}
    current: str | None = None
    for line in header.split("\n"):
        match = _HEADER_FIELD.match(line)
        if match:
            current = match.group(1).lower()
            fields.setdefault(current, match.group(2).strip())
        elif current and line[:1].isspace() and line.strip():
            # An indented line under "Title:" is a subtitle ("or The Modern
            # Prometheus"); the title is the first line, as on the cover.
            if not fields[current]:
                fields[current] = line.strip()
        else:
            current = None
    return fields.get("title") or None, fields.get("author") or None


# --- Headings -----------------------------------------------------------------

_ROMAN = r"(?=[MDCLXVI])M{0,4}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_UNITS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen"]
_TEENS += ["seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_VALUES: dict[str, int] = {word: i + 1 for i, word in enumerate(_UNITS)}
_WORD_VALUES.update({word: i + 10 for i, word in enumerate(_TEENS)})
for _i, _ten in enumerate(_TENS):
    _WORD_VALUES[_ten] = 20 + 10 * _i
    for _j, _unit in enumerate(_UNITS):
        _WORD_VALUES[f"{_ten}-{_unit}"] = 20 + 10 * _i + _j + 1
_WORD_NUMBER = "|".join(sorted(_WORD_VALUES, key=len, reverse=True))
_ROMAN_VALUES = {"M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1}

# What may stand between a heading and a title on the same line: "CHAPTER I.
# THE PERIOD", "Chapter 3: Home", "Letter 2 — Home".
_TITLE_SEPARATOR = r"(?:[ \t]*[.:\u2014\u2013-]+[ \t]*|[ \t]{2,})"
_KEYWORD_HEADING = re.compile(
    rf"(?P<kw>chapter|letter|act|stave|book|part|volume)[ \t]+"
    rf"(?P<num>\d{{1,4}}|{_WORD_NUMBER}|{_ROMAN})(?![\w'\u2019-])\.?"
    rf"(?:{_TITLE_SEPARATOR}(?P<title>\S.*))?",
    re.IGNORECASE,
)
_NAMED_HEADING = re.compile(
    rf"(?P<kw>prologue|epilogue)(?![\w'\u2019-])\.?(?:{_TITLE_SEPARATOR}(?P<title>\S.*))?",
    re.IGNORECASE,
)
# A numeral alone, "I." or "12"; case-sensitive, so that "i." is not a chapter,
# and at most three digits, so that a year on its own line is not one either.
# A same-line title only after a roman numeral and a full stop: "IV. THE SUN".
_BARE_HEADING = re.compile(
    rf"(?P<num>{_ROMAN}|\d{{1,3}})\.?|(?P<rnum>{_ROMAN})\.[ \t]+(?P<title>\S.*)"
)
# "THE END", "FINIS", and the "CURTAIN" that closes each act of a play: what
# follows, up to the next heading, is back matter.
_TERMINATOR = re.compile(
    r"(?:the[ \t]+end|finis|(?:the[ \t]+)?curtain(?:[ \t]+falls(?:[ \t]+[a-z]+ly)?)?)\.?",
    re.IGNORECASE,
)
# Book, part and volume headings divide chapters; they are chapters themselves
# only in a book that has no chapter headings.
_PART_KINDS = {"book", "part", "volume"}
# Longest title on the line under a heading, and on its own after a blank line.
_MAX_TITLE_CHARS = 100
_MAX_LONE_TITLE_CHARS = 60
# A lone line after a heading that ends like a sentence is text, not a title.
_SENTENCE_END = ".,;:!?\"'\u201d\u2019)\u2014-"


@dataclass(frozen=True)
class _Heading:
    kind: str
    number: int
    label: str
    title: str | None
    bare: bool = False


def _roman_value(numeral: str) -> int:
    total = 0
    values = [_ROMAN_VALUES[c] for c in numeral.upper()]
    for value, following in zip(values, [*values[1:], 0], strict=True):
        total += -value if value < following else value
    return total


def _number(printed: str) -> tuple[int, str]:
    """The value of a printed number and its normalised spelling."""
    if printed.isdigit():
        return int(printed), printed
    lowered = printed.lower()
    if lowered in _WORD_VALUES:
        return _WORD_VALUES[lowered], printed.title()
    return _roman_value(printed), printed.upper()


def _clean_line(line: str) -> str:
    return " ".join(_strip_italics(line).split())


def _clean_title(title: str | None) -> str | None:
    if title is None:
        return None
    cleaned = _clean_line(title).rstrip(".").strip()
    return cleaned or None


def _match_heading(line: str) -> _Heading | None:
    if not line or line[0].islower():
        return None
    match = _KEYWORD_HEADING.fullmatch(line)
    if match and len(match.group("title") or "") <= _MAX_TITLE_CHARS:
        value, number = _number(match.group("num"))
        keyword = match.group("kw").lower()
        label = f"{keyword.capitalize()} {number}"
        return _Heading(keyword, value, label, _clean_title(match.group("title")))
    match = _NAMED_HEADING.fullmatch(line)
    if match and len(match.group("title") or "") <= _MAX_TITLE_CHARS:
        keyword = match.group("kw").lower()
        return _Heading(keyword, 0, keyword.capitalize(), _clean_title(match.group("title")))
    match = _BARE_HEADING.fullmatch(line)
    if match:
        printed = match.group("num") or match.group("rnum")
        title = match.group("title")
        if title is not None and len(title) > _MAX_LONE_TITLE_CHARS:
            return None
        value, number = _number(printed)
        return _Heading("chapter", value, number, _clean_title(title), bare=True)
    return None


def _is_title_line(line: str, limit: int) -> bool:
    return (
        len(line) <= limit
        and _WORD_CHAR.search(line) is not None
        and _match_heading(line) is None
        and _TERMINATOR.fullmatch(line) is None
    )


# --- Sections -----------------------------------------------------------------


@dataclass
class _LongSentences:
    """How many sentences were over ``MAX_SENTENCE_CHARS``, and the longest's length."""

    count: int = 0
    longest: int = 0


@dataclass
class _Section:
    heading: _Heading | None
    part: int | None = None
    paragraphs: list[str] = field(default_factory=list)
    closed: bool = False
    sentences: list[str] = field(default_factory=list)
    long: _LongSentences = field(default_factory=_LongSentences)


def _blocks(text: str) -> Iterator[list[str]]:
    """Runs of non-blank lines, each line stripped."""
    block: list[str] = []
    for raw in text.split("\n"):
        line = _LONE_BRACE.sub("", raw).strip() if "}" in raw or "{" in raw else raw.strip()
        if line:
            block.append(line)
        elif block:
            yield block
            block = []
    if block:
        yield block


def _sections(body: str) -> list[_Section]:
    """Cut the body at its headings; the first section is the front matter."""
    sections = [_Section(heading=None)]
    pending_title = False
    for block in _blocks(body):
        first = _clean_line(block[0])
        heading = _match_heading(first)
        if heading is not None:
            rest = block[1:]
            if (
                len(rest) == 1
                and heading.title is None
                and _is_title_line(rest[0], _MAX_TITLE_CHARS)
            ):
                heading = replace(heading, title=_clean_title(rest[0]))
                rest = rest[1:]
            section = _Section(heading=heading)
            sections.append(section)
            if rest:
                section.paragraphs.append("\n".join(rest))
            pending_title = heading.title is None and not rest
            continue
        section = sections[-1]
        if (
            pending_title
            and section.heading is not None
            and len(block) == 1
            and _is_title_line(first, _MAX_LONE_TITLE_CHARS)
            and not first.endswith(tuple(_SENTENCE_END))
            and first[:1].isupper()
        ):
            # "CHAPTER I." / blank line / "THE PERIOD": a title on its own.
            section.heading = replace(section.heading, title=_clean_title(first))
            pending_title = False
            continue
        pending_title = False
        if len(block) == 1 and _TERMINATOR.fullmatch(first) and first[:1].isupper():
            section.closed = True
            continue
        if not section.closed:
            section.paragraphs.append("\n".join(block))
    return sections


def _word_count(section: _Section) -> int:
    return sum(len(sentence.split()) for sentence in section.sentences)


def _chapters(sections: list[_Section]) -> list[_Section]:
    """The sections that are chapters, in book order."""
    front, headed = sections[0], sections[1:]
    has_chapters = any(s.heading and s.heading.kind not in _PART_KINDS for s in headed)
    chapters: list[_Section] = []
    part: int | None = None
    for section in headed:
        assert section.heading is not None
        if has_chapters and section.heading.kind in _PART_KINDS:
            part = section.heading.number
            continue
        section.part = part
        section.sentences = _sentences(section.paragraphs, section.long)
        if section.sentences:
            chapters.append(section)
    if not chapters:
        # No headings, or only headings with nothing under them: the text
        # before them is the whole book.
        front.sentences = _sentences(_drop_credits(front.paragraphs), front.long)
        return [front] if front.sentences else []
    # A heading that comes again is a table-of-contents entry, a cast list or
    # an appendix (R.U.R.'s property list repeats "ACT ONE"): keep the longest
    # of the twins and drop those far shorter than it. Twins of similar length
    # are kept, as in a book that numbers its chapters afresh in each part.
    longest: dict[tuple[int | None, str, int], int] = {}
    for section in chapters:
        key = _key(section)
        longest[key] = max(longest.get(key, 0), _word_count(section))
    return [s for s in chapters if _word_count(s) >= DUPLICATE_HEADING_MAX_SHARE * longest[_key(s)]]


def _sentences(paragraphs: Iterable[str], long: _LongSentences) -> list[str]:
    return [sentence for paragraph in paragraphs for sentence in _split(paragraph, long)]


def _key(section: _Section) -> tuple[int | None, str, int]:
    assert section.heading is not None
    return section.part, section.heading.kind, section.heading.number


def _drop_credits(paragraphs: Iterable[str]) -> Iterator[str]:
    leading = True
    for paragraph in paragraphs:
        if leading and _CREDIT.match(paragraph):
            continue
        leading = False
        yield paragraph


# --- Parsing ------------------------------------------------------------------

# Braces standing alone bracket lines spoken together in a play; they are layout.
_LONE_BRACE = re.compile(r"(?<!\S)[{}](?!\S)")

# "[Illustration]" and "[Illustration: caption]", bounded so that an unclosed
# bracket cannot make the search quadratic.
_ILLUSTRATION = re.compile(r"\[Illustration(?::[^\]]{0,2000})?\]", re.IGNORECASE)


def _parse(text: str, *, source: str, encoding: str) -> Novel:
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise NovelError(
            f"{source} is empty or only whitespace. Give a plain-text file with the novel in it."
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    title, author, body = _strip_gutenberg(text)
    body = _ILLUSTRATION.sub("", body)
    chapters = _chapters(_sections(body))
    if title is None:
        title = _leading_title(
            body, chapters[0].heading.label if chapters and chapters[0].heading else None
        )
    if not chapters:
        raise NovelError(
            f"{source} has no sentences to illustrate (only headings, punctuation or a "
            "Project Gutenberg license). Check that it is the novel's text."
        )
    long = _LongSentences()
    for section in chapters:
        long.count += section.long.count
        long.longest = max(long.longest, section.long.longest)
    _warn_long(long, source, stacklevel=3)  # the caller of read_novel or parse_novel
    built = []
    for number, section in enumerate(chapters, start=1):
        heading = section.heading
        built.append(
            Chapter(
                number=number,
                label=heading.label if heading else "Chapter 1",
                title=heading.title if heading else None,
                sentences=tuple(section.sentences),
            )
        )
    return Novel(
        title=title, author=author, chapters=tuple(built), source=source, encoding=encoding
    )


def _leading_title(body: str, first_heading: str | None) -> str | None:
    """A plain text's title: a short first line on its own, before the first heading.

    Only a text without a Project Gutenberg header needs this, such as a writer's own
    manuscript that begins with its title.
    """
    paragraphs = [p.strip() for p in _BLANK_LINE.split(body.strip(), maxsplit=1)]
    if len(paragraphs) < 2 or "\n" in paragraphs[0]:
        return None
    line = paragraphs[0]
    if len(line) > _MAX_TITLE_CHARS or line[-1] in '.!?:;,\u201d"' or line == first_heading:
        return None
    if first_heading is None:
        return None  # without headings the first line may well be the story's first
    return line


# --- Sentences ----------------------------------------------------------------

# Longest first line taken as a plain text's title.
_MAX_TITLE_CHARS = 100
# Keeps "don't" as it is: by default syntok rewrites it as "do not".
_TOKENIZER = _Tokenizer(replace_not_contraction=False)
_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")
# Underscores that open or close an italic run, "_nil_" or "(_Rises_)", but not
# those inside a word (snake_case) or in a blank for a name ("Lord ____").
_ITALIC_MARK = re.compile(r"(?<!\w)_(?=[^\s_])|(?<=[^\s_])_(?!\w)")
_WORD_CHAR = re.compile(r"[^\W_]")
# A line ending in a word and a hyphen, or in an em dash, runs on into the next
# line without a space: "after-" / "dinner", "blank—" / "is".
_RUNS_ON = re.compile(r"(?:[^\W\d_]-|\u2014)\Z")
# Closing quotes and brackets syntok leaves at the start of the next sentence.
_LEADING_CLOSERS = re.compile(r"[\u201d\u2019\u00bb)\]]+(?=\s|\Z)")
# A sentence ending like this is unfinished: syntok splits "lamp; “that...”".
_UNFINISHED = (",", ";", ":", "\u2014", "\u2013", "-")
# A speaker's name in a play, "DOMIN." or "DR. GALL.", which syntok makes a
# sentence of its own; it belongs with the speech after it.
_SPEAKER = re.compile(r"[A-Z][A-Z'\u2019-]*\.(?: [A-Z][A-Z'\u2019-]*\.?){0,3}")
# Abbreviations syntok takes for the end of a sentence: "DR. GALL" in a play's
# capitals, and dates such as "Dec. 11th" or "No. 4".
_TITLE_END = re.compile(r"(?<![^\W\d_])(?:Mr|Mrs|Ms|Dr|Messrs)\.\Z", re.IGNORECASE)
_NUMBERED_END = re.compile(
    r"(?<![^\W\d_])(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec|No|Nos|Vol|Ch|pp?)\.\Z"
)
# Where syntok misses a sentence end: after the full stops of Chinese and
# Japanese; after an emoji that it glues to the full stop ("pizza 🍕. It");
# after English words that are abbreviations in its German and Spanish lists
# ("the lamps were lit. Mara"); and after "said I." before a new sentence.
_FOREIGN_ABBREVIATIONS = "lit|art|Art|cap|figs?|gal|gen|mag|max|min|mar|tab|alt|ave|Do|So"
_SPEECH_VERBS = (
    "said|says|cried|asked|replied|answered|exclaimed|shouted|whispered|murmured|"
    "muttered|continued|began|added|repeated|returned|interrupted|screamed|called|"
    "remarked|observed|suggested|demanded|inquired|enquired|rejoined|sobbed|gasped|"
    "insisted|declared|retorted|protested|pleaded|shrieked|roared|resumed|thought"
)
_MISSED_END = re.compile(
    r"(?:(?<=[\u3002\uff01\uff1f])|(?<=[\u3002\uff01\uff1f][\u300d\u300f\u201d\u2019\uff09]))"
    r"(?![\u3002\uff01\uff1f\u300d\u300f\u201d\u2019\uff09])"
    r"|(?<=[\u2190-\u2bff\U0001f000-\U0001faff][.!?])\s+(?=[\"'\u201c\u2018]?[A-Z])"
    rf"|(?<![^\W\d_])(?:{_FOREIGN_ABBREVIATIONS}|(?:{_SPEECH_VERBS}) I)\."
    r"(?P<gap>\s+)(?=[\"'\u201c\u2018]?[A-Z])"
)
# "“Hallo!” I said." is one sentence; syntok splits it at the capital I.
_QUOTE_END = re.compile(r"[!?,\u2014\u2013-][\"'\u201d\u2019]\Z")
_SPEECH_TAG = re.compile(
    rf"(?:I|He|She|They|We|[A-Z][a-z]+(?: [A-Z][a-z]+){{0,2}})[ \t]+(?:{_SPEECH_VERBS})\b"
)


def split_sentences(paragraph: str) -> list[str]:
    """Split one paragraph into sentences.

    Hard-wrapped lines are joined, ``_italic_`` underscores dropped and
    whitespace collapsed; no sentence is empty or only punctuation. Text with
    blank lines in it is split at them first: sentences never span paragraphs.
    A sentence longer than ``MAX_SENTENCE_CHARS`` is cut into pieces no longer
    than that, at punctuation or spaces, with a ``ScenewrightWarning``.
    """
    long = _LongSentences()
    sentences = _split(paragraph, long)
    _warn_long(long, "the text", stacklevel=2)  # the caller of split_sentences
    return sentences


# The longest sentence that becomes one prompt, in characters; longer ones are cut into
# pieces. Real sentences stay far below it (a long one in Dickens is 600 characters), so
# only text without full stops reaches it, and sent whole it would cost a long-context
# Claude request and minutes of keyword work for one prompt that shows a few words of it.
MAX_SENTENCE_CHARS = 1_000

# Where an over-long sentence is best cut: after sentence or clause punctuation (and any
# closing quotes) before a space, after a dash, or after CJK punctuation, which takes none.
_CLAUSE_END = re.compile(
    r"[.!?;:,\u2026][\"'\u201d\u2019)\]]*(?= )"
    r"|[\u2014\u2013]"
    r"|[\u3001\u3002\uff0c\uff1b\uff1a\uff01\uff1f]"
)


def _split(paragraph: str, long: _LongSentences) -> list[str]:
    if "\r" in paragraph:
        paragraph = paragraph.replace("\r\n", "\n").replace("\r", "\n")
    sentences: list[str] = []
    for part in _BLANK_LINE.split(paragraph):
        text = _join_lines(part)
        if _WORD_CHAR.search(text) or _has_symbol(text):
            for sentence in _segment(text):
                if len(sentence) <= MAX_SENTENCE_CHARS:
                    sentences.append(sentence)
                    continue
                long.count += 1
                long.longest = max(long.longest, len(sentence))
                sentences.extend(_cut_long(sentence))
    return sentences


def _cut_long(sentence: str) -> list[str]:
    """``sentence`` in pieces of at most ``MAX_SENTENCE_CHARS``; linear in its length."""
    pieces: list[str] = []
    start, size = 0, len(sentence)
    while size - start > MAX_SENTENCE_CHARS:
        cut = _cut_point(sentence, start)
        pieces.append(sentence[start:cut].strip())
        start = cut
        while start < size and sentence[start].isspace():
            start += 1
    pieces.append(sentence[start:].strip())
    return [p for p in pieces if _WORD_CHAR.search(p) or _has_symbol(p)]


def _cut_point(text: str, start: int) -> int:
    """Where the piece that starts at ``start`` ends: the last punctuation in the second
    half of its room, else the last space there, else the last either anywhere, else a
    hard cut (1,000 characters without a space or a comma).
    """
    end = start + MAX_SENTENCE_CHARS
    half = start + MAX_SENTENCE_CHARS // 2
    clause = -1
    # One character past the room, so that a comma right at its end still sees its space.
    for match in _CLAUSE_END.finditer(text, start, end + 1):
        if match.end() <= end:
            clause = match.end()
    space = text.rfind(" ", start + 1, end + 1)
    if clause >= half:
        return clause
    if space >= half:
        return space
    best = max(clause, space)
    return best if best > start else end


def _warn_long(long: _LongSentences, source: str, *, stacklevel: int) -> None:
    if not long.count:
        return
    sentences = "1 sentence" if long.count == 1 else f"{long.count:,} sentences"
    warnings.warn(
        f"{source}: {sentences} longer than {MAX_SENTENCE_CHARS:,} characters (the longest "
        f"{long.longest:,}) were cut into pieces at commas or spaces, one prompt each. Text "
        "that long without a full stop has usually lost its punctuation; check the file if "
        "the prompts look wrong.",
        ScenewrightWarning,
        stacklevel=stacklevel + 1,
    )


def _strip_italics(text: str) -> str:
    return _ITALIC_MARK.sub("", text) if "_" in text else text


def _join_lines(text: str) -> str:
    pieces: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if pieces and not _RUNS_ON.search(pieces[-1]):
            pieces.append(" ")
        pieces.append(line)
    return " ".join(_strip_italics("".join(pieces)).split())


def _segment(text: str) -> list[str]:
    """Sentences of one whitespace-normalised paragraph."""
    spans: list[tuple[int, int]] = []
    for sentence in _syntok.segment(_TOKENIZER.tokenize(text)):
        start = sentence[0].offset
        end = sentence[-1].offset + len(sentence[-1].value)
        for cut in _MISSED_END.finditer(text, start, end):
            gap = cut.span("gap") if cut.group("gap") is not None else cut.span()
            if gap[0] > start:
                spans.append((start, gap[0]))
                start = gap[1]
        if end > start:
            spans.append((start, end))
    # [start, end, has a letter or digit]; the sentence so far is never sliced
    # whole, so that a paragraph syntok cuts into many pieces stays linear.
    merged: list[tuple[int, int, bool]] = []
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        if merged:
            closers = _LEADING_CLOSERS.match(text, start, end)
            if closers:
                merged[-1] = (merged[-1][0], closers.end(), merged[-1][2])
                start = closers.end()
            while start < end and text[start].isspace():
                start += 1
            if start >= end:
                continue
            first, last, has_word = merged[-1]
            current = text[start:end]
            current_has_word = _WORD_CHAR.search(current) is not None
            if _continues(text[max(first, last - _TAIL) : last], has_word, current):
                merged[-1] = (first, end, has_word or current_has_word)
                continue
            merged.append((start, end, current_has_word))
        else:
            merged.append((start, end, _WORD_CHAR.search(text, start, end) is not None))
    sentences = [text[start:end].strip() for start, end, _ in merged]
    return [s for s in sentences if _WORD_CHAR.search(s) or _has_symbol(s)]


# Enough of a sentence's end for every test in _continues.
_TAIL = 64


def _continues(previous: str, previous_has_word: bool, current: str) -> bool:
    """Whether syntok's segment ``current`` belongs to the sentence before it.

    ``previous`` is the end of that sentence, at most ``_TAIL`` characters.
    """
    return bool(
        previous.endswith(_UNFINISHED)
        or not previous_has_word
        or not _WORD_CHAR.search(current)
        or (len(previous) < _TAIL and _SPEAKER.fullmatch(previous))
        or (_TITLE_END.search(previous) and current[:1].isupper())
        or (_NUMBERED_END.search(previous) and current[:1].isdigit())
        or (_QUOTE_END.search(previous) and _SPEECH_TAG.match(current) is not None)
    )


def _has_symbol(text: str) -> bool:
    # Emoji and other pictographs are content; punctuation alone is not.
    return any(unicodedata.category(c) == "So" for c in text)


# --- Selecting chapters -------------------------------------------------------

_SELECTION_ITEM = re.compile(r"(\d+)(?:[ \t]*(-)[ \t]*(\d*))?")


def select_chapters(novel: Novel, spec: str | None) -> tuple[Chapter, ...]:
    """The chapters a selection such as ``"1"``, ``"1,3-5"`` or ``"2-"`` names.

    Numbers are ``Chapter.number``, positions counted from 1. ``None`` or
    ``"all"`` selects every chapter. The result is in book order, each chapter
    once. A malformed selection, or one naming a chapter the novel does not
    have, raises ``ChapterSelectionError``.
    """
    count = len(novel.chapters)
    if spec is None or spec.strip().lower() == "all":
        return novel.chapters
    chosen: set[int] = set()
    items = spec.split(",")
    for item in items:
        match = _SELECTION_ITEM.fullmatch(item.strip())
        if not match:
            raise ChapterSelectionError(_selection_message(novel, spec, "is not a selection"))
        first = int(match.group(1))
        last = first if not match.group(2) else int(match.group(3) or max(first, count))
        for number in (first, last):
            if not 1 <= number <= count:
                raise ChapterSelectionError(
                    _selection_message(novel, spec, f"names chapter {number}, which does not exist")
                )
        if last < first:
            raise ChapterSelectionError(
                _selection_message(novel, spec, f"has a backwards range {item.strip()!r}")
            )
        chosen.update(range(first, last + 1))
    return tuple(chapter for chapter in novel.chapters if chapter.number in chosen)


def _selection_message(novel: Novel, spec: str, problem: str) -> str:
    count = len(novel.chapters)
    name = novel.title or novel.source
    chapters = "1 chapter (1)" if count == 1 else f"{count} chapters (1-{count})"
    return (
        f"Chapter selection {spec!r} {problem}: {name} has {chapters}. Select chapters "
        "by position, like '3', '1,3-5' or '2-' (chapter 2 to the end), or 'all'."
    )
