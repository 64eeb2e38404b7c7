"""Reading novels and splitting them into chapters and sentences."""

from __future__ import annotations

import random
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenewright.errors import ChapterSelectionError, NovelError, ScenewrightWarning
from scenewright.novel import (
    MAX_SENTENCE_CHARS,
    Chapter,
    Novel,
    parse_novel,
    read_novel,
    select_chapters,
    split_sentences,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_novel(name: str) -> Path:
    """Path to a novel in ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is not present on this machine")
    return path


def _is_content(sentence: str) -> bool:
    return any(
        unicodedata.category(c)[0] in "LN" or unicodedata.category(c) == "So" for c in sentence
    )


def _assert_clean(sentences: tuple[str, ...] | list[str]) -> None:
    for index, sentence in enumerate(sentences):
        assert sentence == " ".join(sentence.split()), sentence
        assert _is_content(sentence), sentence
        if index:
            # A closing quote left over from the sentence before.
            assert not re.match(r"[\u201d\u2019\u00bb)\]](\s|$)", sentence), sentences


# --- split_sentences ----------------------------------------------------------


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        pytest.param("", [], id="empty"),
        pytest.param(" \n\t ", [], id="whitespace"),
        pytest.param("* * * * *", [], id="section-break"),
        pytest.param("\u201d", [], id="lone-quote"),
        pytest.param(
            "I love pizza \U0001f355. It is great!",
            ["I love pizza \U0001f355.", "It is great!"],
            id="emoji",
        ),
        pytest.param("\U0001f389\U0001f389", ["\U0001f389\U0001f389"], id="emoji-only"),
        pytest.param(
            "Party time! \U0001f389", ["Party time! \U0001f389"], id="emoji-after-sentence"
        ),
        pytest.param(
            "我爱你。你好吗\uff1f我很好\uff01",
            ["我爱你。", "你好吗\uff1f", "我很好\uff01"],
            id="cjk",
        ),
        pytest.param("「行こう。」彼は言った。", ["「行こう。」", "彼は言った。"], id="cjk-quotes"),
        pytest.param(
            "Mr. Smith met Dr. Jones and Mrs. Hale. They talked.",
            ["Mr. Smith met Dr. Jones and Mrs. Hale.", "They talked."],
            id="mr-dr",
        ),
        pytest.param(
            "He waited... and waited. Then\u2026 nothing.",
            ["He waited... and waited.", "Then\u2026 nothing."],
            id="ellipses",
        ),
        pytest.param(
            "\u201cThat,\u201d said he; \u201cthat . . . very clear indeed.\u201d",
            ["\u201cThat,\u201d said he; \u201cthat . . . very clear indeed.\u201d"],
            id="spaced-ellipsis-and-semicolon",
        ),
        pytest.param(
            "It was black and blank\u2014is a vast ignorance. Flowers\u2014shrivelled now.",
            ["It was black and blank\u2014is a vast ignorance.", "Flowers\u2014shrivelled now."],
            id="em-dashes",
        ),
        pytest.param(
            "\u201cYou must follow me carefully. I shall have to controvert one or two "
            "ideas.\u201d",
            [
                "\u201cYou must follow me carefully.",
                "I shall have to controvert one or two ideas.\u201d",
            ],
            id="dialogue-split-inside-quotes",
        ),
        pytest.param(
            "\u201cHallo!\u201d I said. \u201cAt last!\u201d",
            ["\u201cHallo!\u201d I said.", "\u201cAt last!\u201d"],
            id="dialogue-speech-tag",
        ),
        pytest.param(
            "\u201cOne word,\u201d said I. \u201cHave you been time travelling?\u201d",
            ["\u201cOne word,\u201d said I.", "\u201cHave you been time travelling?\u201d"],
            id="dialogue-said-i",
        ),
        pytest.param(
            "The lamps were lit. Mara climbed the stairs at max. Then art.",
            ["The lamps were lit.", "Mara climbed the stairs at max.", "Then art."],
            id="english-words-syntok-abbreviates",
        ),
        pytest.param(
            "\u201cStop!\u201d \u201cWhy?\u201d \u201cBecause.\u201d",
            ["\u201cStop!\u201d", "\u201cWhy?\u201d", "\u201cBecause.\u201d"],
            id="dialogue-closing-quotes",
        ),
        pytest.param(
            '"Hello there." He said it.', ['"Hello there."', "He said it."], id="straight-quotes"
        ),
        pytest.param(
            "A line of thickness _nil_, has no _real_ existence.",
            ["A line of thickness nil, has no real existence."],
            id="italic",
        ),
        pytest.param(
            "He rose (_slowly_). Lord ____ came in_side.",
            ["He rose (slowly).", "Lord ____ came in_side."],
            id="italic-keeps-blanks-and-inner-underscores",
        ),
        pytest.param(
            "that luxurious\nafter-\ndinner atmosphere,   when\nthought runs free.",
            ["that luxurious after-dinner atmosphere, when thought runs free."],
            id="hard-wrapped",
        ),
        pytest.param(
            "St. Petersburgh, Dec. 11th, 17\u2014.",
            ["St. Petersburgh, Dec. 11th, 17\u2014."],
            id="date",
        ),
        pytest.param("DR. GALL. No, thanks.", ["DR. GALL. No, thanks."], id="speaker-in-a-play"),
        pytest.param(
            "First paragraph\n\nSecond one.", ["First paragraph", "Second one."], id="paragraphs"
        ),
    ],
)
def test_split_sentences(paragraph: str, expected: list[str]) -> None:
    assert split_sentences(paragraph) == expected


_PROSE = st.lists(
    st.sampled_from(
        [
            *"abcdefgh ABCD 12 .!?,;:'\"()-\n",
            *["Mr.", "Dr.", " I ", "\u00e9", "\U0001f600", "\u3002", "\uff1f"],
            *["\u201c", "\u201d", "\u2018", "\u2019", "\u2014", "\u2026"],
        ]
    ),
    max_size=200,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(_PROSE)
def test_split_sentences_loses_nothing(paragraph: str) -> None:
    sentences = split_sentences(paragraph)
    _assert_clean(sentences)

    def squeeze(text: str) -> str:
        return re.sub(r"\s+", "", text)

    if any(_is_content(p) for p in re.split(r"\n\s*\n", paragraph)):
        # Only whitespace is lost, and only paragraphs of bare punctuation.
        kept = [p for p in re.split(r"\n\s*\n", paragraph) if _is_content(p)]
        assert squeeze("".join(sentences)) == squeeze("".join(kept))
    else:
        assert sentences == []


# --- parse_novel --------------------------------------------------------------

_BOOK = """\
The Project Gutenberg eBook of A Test

Title: A Test Book
       or, Another Subtitle

Author: Ann Author

*** START OF THE  PROJECT GUTENBERG EBOOK A TEST ***

A Test Book

CONTENTS

 I. Beginnings
 II. Endings

 I.
 Beginnings


It was a dark night. The rain fell
in torrents.

\u201cHallo!\u201d I said.


 II.
 Endings

Morning came at last.

*** END OF THE PROJECT GUTENBERG EBOOK A TEST ***

Section 1. General Terms of Use and Redistributing Project Gutenberg works.
"""


def test_parse_novel_reads_a_gutenberg_book() -> None:
    novel = parse_novel(_BOOK)
    assert novel == Novel(
        title="A Test Book",
        author="Ann Author",
        chapters=(
            Chapter(
                1,
                "I",
                "Beginnings",
                (
                    "It was a dark night.",
                    "The rain fell in torrents.",
                    "\u201cHallo!\u201d I said.",
                ),
            ),
            Chapter(2, "II", "Endings", ("Morning came at last.",)),
        ),
        source="<text>",
        encoding="utf-8",
    )
    assert [c.display_title for c in novel.chapters] == ["I. Beginnings", "II. Endings"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_BOOK.replace("\n", "\r\n"), id="crlf"),
        pytest.param(_BOOK.replace("\n", "\r"), id="lone-cr"),
        pytest.param("\ufeff" + _BOOK, id="bom"),
    ],
)
def test_parse_novel_line_endings_and_bom(text: str) -> None:
    assert parse_novel(text) == parse_novel(_BOOK)


def test_parse_novel_older_gutenberg_header() -> None:
    text = (
        "The Project Gutenberg Etext of Old Book\n\n"
        "**The Legal Small Print**\n\nlicense words here. Not part of the book.\n\n"
        "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\n"
        "Produced by Someone.\n\n"
        "It begins here. It ends here.\n\n"
        "End of The Project Gutenberg Etext of Old Book\n\nMore license.\n"
    )
    novel = parse_novel(text)
    assert [c.sentences for c in novel.chapters] == [("It begins here.", "It ends here.")]
    assert novel.chapters[0].label == "Chapter 1"
    assert novel.chapters[0].title is None
    assert novel.title is None


@pytest.mark.parametrize(
    ("heading", "label", "title"),
    [
        ("Chapter 12", "Chapter 12", None),
        ("CHAPTER XII.", "Chapter XII", None),
        ("CHAPTER XII.\nThe Trap", "Chapter XII", "The Trap"),
        ("CHAPTER I. THE PERIOD", "Chapter I", "THE PERIOD"),
        ("Chapter 3: Home", "Chapter 3", "Home"),
        ("CHAPTER IV.\n\nThe Sun", "Chapter IV", "The Sun"),
        ("Letter 3", "Letter 3", None),
        ("ACT ONE", "Act One", None),
        ("STAVE II.", "Stave II", None),
        ("Prologue", "Prologue", None),
        ("EPILOGUE", "Epilogue", None),
        ("XIV.\nThe Further Vision", "XIV", "The Further Vision"),
        ("7", "7", None),
    ],
)
def test_headings(heading: str, label: str, title: str | None) -> None:
    novel = parse_novel(f"Front matter.\n\n{heading}\n\nIt was late. She slept.\n")
    (chapter,) = novel.chapters
    assert (chapter.label, chapter.title) == (label, title)
    assert chapter.sentences == ("It was late.", "She slept.")


def test_headings_are_not_sentences_and_contents_are_skipped() -> None:
    text = (
        "CONTENTS\n\nChapter 1\n\nChapter 2\n\nEpilogue\n\n\n"
        "Chapter 1\n\nOne. Two.\n\nChapter 2\n\nThree.\n\nEpilogue\n\nFour.\n"
    )
    novel = parse_novel(text)
    assert [(c.number, c.label, c.sentences) for c in novel.chapters] == [
        (1, "Chapter 1", ("One.", "Two.")),
        (2, "Chapter 2", ("Three.",)),
        (3, "Epilogue", ("Four.",)),
    ]


def test_a_numeral_inside_a_paragraph_is_not_a_heading() -> None:
    novel = parse_novel("Who was it? It was\nI.\nAnd then we left.\n")
    assert novel.chapters[0].sentences == ("Who was it?", "It was I.", "And then we left.")


def test_the_end_cuts_off_back_matter() -> None:
    text = "Chapter 1\n\nThe story.\n\nTHE END\n\nAdvertisements for other books.\n"
    assert parse_novel(text).chapters[0].sentences == ("The story.",)


def test_parts_number_chapters_afresh() -> None:
    text = "BOOK I\n\nChapter 1\n\nA long first.\n\nBOOK II\n\nChapter 1\n\nA long second.\n"
    novel = parse_novel(text)
    assert [(c.label, c.sentences) for c in novel.chapters] == [
        ("Chapter 1", ("A long first.",)),
        ("Chapter 1", ("A long second.",)),
    ]


def test_parts_are_chapters_when_there_are_no_chapters() -> None:
    novel = parse_novel("PART ONE\n\nFirst.\n\nPART TWO\n\nSecond.\n")
    assert [c.label for c in novel.chapters] == ["Part One", "Part Two"]


def test_a_text_without_headings_is_one_chapter() -> None:
    novel = parse_novel("Once upon a time. The end came.", source="story.txt")
    assert novel.source == "story.txt"
    assert novel.chapters == (
        Chapter(1, "Chapter 1", None, ("Once upon a time.", "The end came.")),
    )


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t\n", "\ufeff", "* * *\n\n---\n", "Chapter 1\n\nChapter 2\n"],
    ids=["empty", "whitespace", "bom-only", "punctuation", "headings-only"],
)
def test_parse_novel_without_sentences(text: str) -> None:
    with pytest.raises(NovelError, match="<text>"):
        parse_novel(text)


# --- read_novel ---------------------------------------------------------------

_TEXT = "Chapter 1\n\n\u201cCaf\u00e9?\u201d she asked. He nodded.\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        pytest.param(_TEXT.encode("utf-8"), "utf-8", id="utf-8"),
        pytest.param(b"\xef\xbb\xbf" + _TEXT.encode("utf-8"), "utf-8-sig", id="bom"),
        pytest.param(_TEXT.replace("\n", "\r\n").encode("utf-8"), "utf-8", id="crlf"),
    ],
)
def test_read_novel_encodings(tmp_path: Path, data: bytes, encoding: str) -> None:
    path = tmp_path / "novel.txt"
    path.write_bytes(data)
    novel = read_novel(path)
    assert novel.encoding == encoding
    assert novel.source == str(path)
    assert novel.chapters[0].sentences == ("\u201cCaf\u00e9?\u201d she asked.", "He nodded.")


def test_read_novel_falls_back_to_cp1252_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes(_TEXT.encode("cp1252"))
    with pytest.warns(ScenewrightWarning, match="cp1252"):
        novel = read_novel(path)
    assert novel.encoding == "cp1252"
    assert novel.chapters[0].sentences[0] == "\u201cCaf\u00e9?\u201d she asked."


def test_a_stray_windows_byte_in_a_utf8_file_is_located_and_the_rest_kept(
    tmp_path: Path,
) -> None:
    # UTF-8 throughout, but for one apostrophe pasted from a Windows program (0x92). Read
    # wholly as cp1252, the UTF-8 closing quote's 0x9d byte would make it unreadable.
    data = _TEXT.encode("utf-8") + b"It was Mara\x92s lamp.\n"
    offset = data.index(b"\x92")
    path = tmp_path / "mixed.txt"
    path.write_bytes(data)
    with pytest.warns(ScenewrightWarning) as caught:
        novel = read_novel(path)
    [warning] = caught
    message = str(warning.message)
    assert f"line 4 (byte offset {offset}, 0x92)" in message
    assert "save it as UTF-8" in message
    assert novel.chapters[0].sentences == (
        "\u201cCaf\u00e9?\u201d she asked.",
        "He nodded.",
        "It was Mara\u2019s lamp.",
    )
    assert novel.encoding == "utf-8"


def test_a_plain_windows_file_warning_names_the_first_byte(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes(b"Chapter 1\r\n\r\nShe said \x93hello\x94.\r\n")
    with pytest.warns(ScenewrightWarning, match=r"line 3 \(byte offset 22, 0x93\)"):
        novel = read_novel(path)
    assert novel.encoding == "cp1252"
    assert novel.chapters[0].sentences == ("She said \u201chello\u201d.",)


@pytest.mark.parametrize(
    "data",
    [
        b"Chapter 1\n\nAll well.\nThen \x81 here.\n",  # 0x81: a character in neither
        "Chapter 1\n\n\u201cWell.\u201d\nThen \x81 here.\n".encode("utf-8").replace(
            b"\xc2\x81", b"\x81"
        ),
    ],
    ids=["ascii", "utf-8"],
)
def test_an_undecodable_file_says_where(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "broken.txt"
    path.write_bytes(data)
    with pytest.raises(NovelError) as caught:
        read_novel(path)
    message = str(caught.value)
    offset = data.index(b"\x81")
    assert "neither UTF-8 nor Windows-1252" in message
    assert f"line 4 (byte offset {offset}, 0x81)" in message
    assert "save it as UTF-8" in message


def test_a_bom_file_with_a_bad_byte_says_where(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfChapter 1\n\nBad \xff.\n")
    with pytest.raises(NovelError, match=r"line 3 \(byte offset 18, 0xff\)"):
        read_novel(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: None, "no such file", id="missing"),
        pytest.param(lambda p: p.mkdir(), "is a directory", id="directory"),
        pytest.param(lambda p: p.write_bytes(b""), "is empty", id="empty"),
        pytest.param(lambda p: p.write_bytes(b" \n\r\n\t "), "only whitespace", id="whitespace"),
        pytest.param(
            lambda p: p.write_bytes(b"%PDF-1.4\x00\x01\x02\xff" * 100), "binary", id="nul-bytes"
        ),
        pytest.param(
            lambda p: p.write_bytes(bytes(range(1, 32)) * 100), "binary", id="control-chars"
        ),
        pytest.param(lambda p: p.write_text("Hi.", encoding="utf-16"), "UTF-16", id="utf-16"),
        pytest.param(lambda p: p.write_bytes(b"\xc3 \x81 \x8d"), "neither", id="undecodable"),
        pytest.param(
            lambda p: p.write_bytes(b"Chapter 1\n\n* * *\n"), "no sentences", id="no-sentences"
        ),
    ],
)
def test_read_novel_hostile_input(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "novel.txt"
    assert callable(make)
    make(path)
    with pytest.raises(NovelError, match=message) as caught:
        read_novel(path)
    assert str(path) in str(caught.value)


def test_read_novel_refuses_a_huge_file_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, nothing on disk
    with pytest.raises(NovelError, match=r"50\.0 MB.*split the file") as caught:
        read_novel(path)
    assert str(path) in str(caught.value)


@pytest.mark.slow
def test_read_novel_a_large_file(tmp_path: Path) -> None:
    chapter = "It was a dark night. \u201cWho?\u201d she asked; he said\u2014nothing.\n" * 500
    path = tmp_path / "long.txt"
    path.write_text("".join(f"Chapter {i}\n\n{chapter}\n" for i in range(1, 31)), "utf-8")
    assert path.stat().st_size > 900_000
    novel = read_novel(path)
    assert len(novel.chapters) == 30
    assert all(len(c.sentences) == 1000 for c in novel.chapters)


# --- select_chapters ----------------------------------------------------------


def _novel(count: int) -> Novel:
    chapters = tuple(Chapter(i, str(i), None, (f"Sentence {i}.",)) for i in range(1, count + 1))
    return Novel("Five", None, chapters, "<text>", "utf-8")


@pytest.mark.parametrize(
    ("spec", "numbers"),
    [
        (None, [1, 2, 3, 4, 5]),
        ("all", [1, 2, 3, 4, 5]),
        (" ALL ", [1, 2, 3, 4, 5]),
        ("1", [1]),
        ("1,3-5", [1, 3, 4, 5]),
        ("2-", [2, 3, 4, 5]),
        ("5-", [5]),
        (" 4 , 1 - 2 ", [1, 2, 4]),
        ("3,1,3", [1, 3]),
    ],
)
def test_select_chapters(spec: str | None, numbers: list[int]) -> None:
    assert [c.number for c in select_chapters(_novel(5), spec)] == numbers


@pytest.mark.parametrize(
    "spec", ["", "0", "6", "2-9", "6-", "4-2", "x", "1,,2", "1-2-3", "-2", "1.5"]
)
def test_select_chapters_rejects(spec: str) -> None:
    with pytest.raises(ChapterSelectionError) as caught:
        select_chapters(_novel(5), spec)
    message = str(caught.value)
    assert "5 chapters (1-5)" in message
    assert "'1,3-5'" in message
    assert repr(spec) in message


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(1, n)))))
def test_select_chapters_round_trips(case: tuple[int, set[int]]) -> None:
    count, wanted = case
    # Write the selection as ranges, the way a user would: {1,2,3,7} -> "1-3,7".
    items, run = [], []
    for number in sorted(wanted):
        if run and number != run[-1] + 1:
            items.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(number)
    if run:
        last = "" if run[-1] == count and len(run) > 1 else str(run[-1])
        items.append(f"{run[0]}-{last}" if len(run) > 1 else str(run[0]))
    spec = ",".join(items) or None
    selected = select_chapters(_novel(count), spec)
    assert [c.number for c in selected] == (sorted(wanted) or list(range(1, count + 1)))


# --- The real novels ----------------------------------------------------------


@pytest.fixture(scope="module")
def time_machine() -> Novel:
    return read_novel(shared_novel("the-time-machine.txt"))


@pytest.fixture(scope="module")
def frankenstein() -> Novel:
    return read_novel(shared_novel("frankenstein.txt"))


@pytest.fixture(scope="module")
def rur() -> Novel:
    return read_novel(shared_novel("rur.txt"))


_TIME_MACHINE_TITLES = [
    "Introduction",
    "The Machine",
    "The Time Traveller Returns",
    "Time Travelling",
    "In the Golden Age",
    "The Sunset of Mankind",
    "A Sudden Shock",
    "Explanation",
    "The Morlocks",
    "When Night Came",
    "The Palace of Green Porcelain",
    "In the Darkness",
    "The Trap of the White Sphinx",
    "The Further Vision",
    "The Time Traveller\u2019s Return",
    "After the Story",
]
_ROMANS = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"]
_ROMANS += ["IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI"]


def test_time_machine_chapters(time_machine: Novel) -> None:
    assert (time_machine.title, time_machine.author) == ("The Time Machine", "H. G. Wells")
    assert time_machine.encoding == "utf-8"
    assert len(time_machine.chapters) == 17
    assert [c.number for c in time_machine.chapters] == list(range(1, 18))
    assert [c.label for c in time_machine.chapters] == [*_ROMANS, "Epilogue"]
    assert [c.title for c in time_machine.chapters] == [*_TIME_MACHINE_TITLES, None]
    assert time_machine.chapters[0].display_title == "I. Introduction"
    assert time_machine.chapters[-1].display_title == "Epilogue"


def test_time_machine_sentences(time_machine: Novel) -> None:
    first = time_machine.chapters[0].sentences
    # 118 when last checked by hand; a margin for segmenter updates.
    assert 105 <= len(first) <= 130
    assert first[:2] == (
        "The Time Traveller (for so it will be convenient to speak of him) was expounding "
        "a recondite matter to us.",
        "His pale grey eyes shone and twinkled, and his usually pale face was flushed and "
        "animated.",
    )
    assert (
        "And he put it to us in this way\u2014marking the points with a lean forefinger\u2014as "
        "we sat and lazily admired his earnestness over this new paradox (as we thought it) "
        "and his fecundity."
    ) in first
    assert "\u201cYou must follow me carefully." in first
    assert (
        "You know of course that a mathematical line, a line of thickness nil, has no real "
        "existence."
    ) in first
    assert (
        "\u201cThat,\u201d said a very young man, making spasmodic efforts to relight his cigar "
        "over the lamp; \u201cthat . . . very clear indeed.\u201d"
    ) in first
    assert "\u201cHallo!\u201d I said." in time_machine.chapters[2].sentences
    assert time_machine.chapters[-1].sentences[0] == "One cannot choose but wonder."
    assert time_machine.chapters[-1].sentences[-1].endswith("still lived on in the heart of man.")
    every = [s for c in time_machine.chapters for s in c.sentences]
    _assert_clean(every)
    assert not any("Gutenberg" in s or "_" in s or "CONTENTS" in s for s in every)
    assert "Introduction" not in every and "I." not in every


def test_frankenstein_chapters(frankenstein: Novel) -> None:
    assert frankenstein.encoding == "utf-8-sig"
    assert frankenstein.title == "Frankenstein"
    assert frankenstein.author == "Mary Wollstonecraft (Godwin) Shelley"
    labels = [c.label for c in frankenstein.chapters]
    assert labels == [f"Letter {i}" for i in range(1, 5)] + [f"Chapter {i}" for i in range(1, 25)]
    letter, chapter_1 = frankenstein.chapters[0], frankenstein.chapters[4]
    assert letter.sentences[:2] == (
        "To Mrs. Saville, England.",
        "St. Petersburgh, Dec. 11th, 17\u2014.",
    )
    assert chapter_1.sentences[0] == (
        "I am by birth a Genevese, and my family is one of the most distinguished of that republic."
    )
    assert frankenstein.chapters[-1].sentences[-1] == (
        "He was soon borne away by the waves and lost in darkness and distance."
    )
    _assert_clean([s for c in frankenstein.chapters for s in c.sentences])


def test_rur_acts(rur: Novel) -> None:
    assert rur.title == "R.U.R. (Rossum's Universal Robots)"
    assert [c.label for c in rur.chapters] == ["Act One", "Act Two", "Act Three", "Epilogue"]
    act_one = rur.chapters[0].sentences
    assert act_one[0] == "SCENE: Central office of the factory of Rossum\u2019s Universal Robots."
    assert "DOMIN. (Dictating) Ready?" in act_one
    assert rur.chapters[-1].sentences[-1] == "Adam--Eve."
    every = [s for c in rur.chapters for s in c.sentences]
    _assert_clean(every)
    # The cast list before the play and the property list after it are not acts.
    assert not any("PROPERTY LIST" in s or "Theatre Guild" in s or "}" in s for s in every)


# --- over-long sentences ------------------------------------------------------


def _run_on(words: int) -> str:
    rng = random.Random(3)
    vocab = ["lantern", "harbour", "grey", "storm", "copper", "the", "and", "she", "walked"]
    return " ".join(rng.choice(vocab) for _ in range(words))


def test_a_text_without_full_stops_is_cut_into_pieces_with_a_warning() -> None:
    text = _run_on(20_000)  # about 130,000 characters and no punctuation at all
    with pytest.warns(ScenewrightWarning) as caught:
        novel = parse_novel(text, source="runon.txt")
    [warning] = caught
    message = str(warning.message)
    assert message.startswith("runon.txt: 1 sentence longer than 1,000 characters")
    assert f"the longest {len(text):,}" in message
    sentences = novel.chapters[0].sentences
    assert all(len(s) <= MAX_SENTENCE_CHARS for s in sentences)
    assert len(sentences) <= 2 * len(text) // MAX_SENTENCE_CHARS + 1
    assert " ".join(sentences) == text  # cut at spaces: no word lost or split


def test_long_sentences_are_cut_after_commas_when_they_have_them() -> None:
    clause = "the rain fell on the grey harbour and the boats rocked at their moorings, "
    text = (clause * 60).strip().rstrip(",") + "."
    pieces = split_sentences_warned(text, count=1)
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert all(p.endswith((",", ".")) for p in pieces)
    assert " ".join(pieces) == text


def test_a_long_run_in_a_script_without_spaces_is_cut() -> None:
    text = ("\u732b\u304c\u6b69\u3044\u305f\u3001" * 400) + "\u3002"
    pieces = split_sentences_warned(text, count=1)
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert all(p.endswith(("\u3001", "\u3002")) for p in pieces)
    assert "".join(pieces) == text
    solid = "\u732b" * 2500  # not even punctuation: cut where the room ends
    assert [len(p) for p in split_sentences_warned(solid, count=1)] == [1000, 1000, 500]


def test_several_long_sentences_give_one_warning_for_the_book() -> None:
    chapters = "".join(f"Chapter {i}\n\n{_run_on(400)}\n\nShort one.\n\n" for i in range(1, 4))
    with pytest.warns(ScenewrightWarning, match="3 sentences longer than 1,000") as caught:
        novel = parse_novel(chapters)
    assert len(caught) == 1
    assert all(len(s) <= MAX_SENTENCE_CHARS for c in novel.chapters for s in c.sentences)


def test_sentences_at_the_limit_are_left_alone() -> None:
    sentence = ("word " * 250)[: MAX_SENTENCE_CHARS - 1].strip() + "."
    assert len(sentence) <= MAX_SENTENCE_CHARS
    assert split_sentences(sentence) == [sentence]  # and no warning (warnings are errors)


def split_sentences_warned(text: str, *, count: int) -> list[str]:
    with pytest.warns(ScenewrightWarning, match=f"{count} sentence"):
        return split_sentences(text)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("My Book\n\nChapter 1\n\nIt was dark. It rained.", "My Book"),
        ("My Book\n\nIt was dark. It rained.", None),  # no headings: maybe the first line
        ("It was dark.\n\nChapter 1\n\nIt rained.", None),  # a sentence, not a title
        ("Chapter 1\n\nIt was dark. It rained.", None),
    ],
)
def test_a_manuscript_title_is_its_short_first_line(text: str, title: str | None) -> None:
    assert parse_novel(text).title == title
