"""Character sheets: the three accepted shapes, name matching, and every way a file can be wrong."""

from __future__ import annotations

import json
import unicodedata
from importlib import resources
from pathlib import Path

import pytest

from scenewright import config
from scenewright.characters import CharacterSheet, characters_mentioned, load_characters
from scenewright.errors import CharacterSheetError

MARA = "a young woman with short copper-red hair and freckles"
TOBIAS = "a broad-shouldered fisherman with a grey beard"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- reading ----------------------------------------------------------------------


def test_bundled_sample_sheet_loads() -> None:
    path = Path(str(resources.files("scenewright") / "data" / "sample_characters.yaml"))
    sheet = load_characters(path)
    assert list(sheet) == ["Mara Quill", "Tobias Fenn"]
    assert "copper-red hair" in sheet["Mara Quill"]


SHAPES = {
    "plain.yaml": f"Mara Quill: {MARA}\nTobias Fenn: {TOBIAS}\n",
    "detailed.yaml": (
        f"Mara Quill:\n  description: {MARA}\n  aliases: [Miss Q]\n"
        f"Tobias Fenn:\n  description: {TOBIAS}\n"
    ),
    "list.yaml": (
        f"- name: Mara Quill\n  description: {MARA}\n  aliases: Miss Q\n"
        f"- name: Tobias Fenn\n  description: {TOBIAS}\n"
    ),
    "plain.json": json.dumps({"Mara Quill": MARA, "Tobias Fenn": TOBIAS}),
    "list.json": json.dumps(
        [
            {"name": "Mara Quill", "description": MARA, "aliases": ["Miss Q"]},
            {"name": "Tobias Fenn", "description": TOBIAS},
        ]
    ),
    "no-suffix": f"Mara Quill: {MARA}\nTobias Fenn: {TOBIAS}\n",
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_shape_gives_the_same_names_and_descriptions(tmp_path: Path, name: str) -> None:
    sheet = load_characters(write(tmp_path, name, SHAPES[name]))
    assert dict(sheet) == {"Mara Quill": MARA, "Tobias Fenn": TOBIAS}
    assert str(tmp_path / name) in repr(sheet)


def test_aliases_are_names_too(tmp_path: Path) -> None:
    sheet = load_characters(write(tmp_path, "s.yaml", SHAPES["detailed.yaml"]))
    assert sheet["miss q"] == MARA
    assert "MISS Q" in sheet
    assert sheet.mentioned_in("Miss Q waved.") == {"Mara Quill": MARA}


def test_byte_order_mark_from_windows_notepad_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.yaml", "\ufeffMara Quill: " + MARA + "\n")
    assert dict(load_characters(path)) == {"Mara Quill": MARA}


def test_descriptions_are_tidied(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", "Mara: >\n  a young woman\n   with   red hair\n")
    assert load_characters(path)["Mara"] == "a young woman with red hair"


# --- matching ---------------------------------------------------------------------


@pytest.fixture
def sheet() -> CharacterSheet:
    return CharacterSheet.from_data(
        {
            "Mara Quill": {"description": MARA, "aliases": ["Miss Q"]},
            "Tobias Fenn": TOBIAS,
            "Zoë": "a girl with a blue scarf",
            "李雷": "a tall boy in a school uniform",
            "Rose Hill": "an old woman with a walking stick",
            "Mr. Darcy": "a proud gentleman in a dark coat",
        }
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mara Quill climbed the stairs.", ["Mara Quill"]),
        ("MARA QUILL climbed the stairs.", ["Mara Quill"]),
        ("Mara\nQuill climbed.", ["Mara Quill"]),
        ("Mara's lantern swung.", ["Mara Quill"]),  # a capitalised part of a full name
        ("Quill looked up.", ["Mara Quill"]),
        ("mara looked up.", []),  # a part of a name keeps its capital
        ("Maradona scored.", []),  # whole words only
        ("Tobias Fenn and Mara sailed.", ["Tobias Fenn", "Mara Quill"]),  # first mention first
        ("Zoë smiled.", ["Zoë"]),
        (unicodedata.normalize("NFD", "ZOË smiled."), ["Zoë"]),  # composed or not
        ("李雷走进了图书馆。", ["李雷"]),  # no spaces in Chinese: matched inside the run
        ("A hill rose behind the town.", []),  # not Rose Hill: case counts for parts
        ("Hill waved her stick.", ["Rose Hill"]),
        ("Mr. Darcy bowed.", ["Mr. Darcy"]),
        ("Darcy bowed.", ["Mr. Darcy"]),
        ("Mr. Bingley laughed.", []),  # a title alone names no one
        ("", []),
        ("🐉🔥", []),
    ],
)
def test_mentioned_in(sheet: CharacterSheet, text: str, expected: list[str]) -> None:
    found = sheet.mentioned_in(text)
    assert list(found) == expected
    assert all(found[name] == sheet[name] for name in found)


def test_a_shared_surname_names_neither_character() -> None:
    sheet = CharacterSheet.from_data({"Jane Bennet": "a", "Elizabeth Bennet": "b"})
    assert sheet.mentioned_in("Bennet sighed.") == {}
    assert sheet.mentioned_in("Elizabeth sighed.") == {"Elizabeth Bennet": "b"}


def test_describe_resolves_names_aliases_and_parts(sheet: CharacterSheet) -> None:
    assert sheet.describe(["miss q", "Fenn", "nobody"]) == {
        "Mara Quill": MARA,
        "Tobias Fenn": TOBIAS,
    }


def test_a_plain_dict_works_where_a_sheet_does() -> None:
    characters = {"Mara": MARA, "": "ignored", "mara": "a case-only duplicate, ignored"}
    assert characters_mentioned("Then MARA ran.", characters) == {"Mara": MARA}
    assert characters_mentioned("Then Mara ran.", None) == {}


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.yaml", "", "is empty"),
        ("blank.yaml", "  \n# only a comment\n", "is empty"),
        ("empty.json", "", "is empty"),
        ("empty-map.json", "{}", "is empty"),
        ("empty-list.yaml", "[]", "is empty"),
        ("text.yaml", "Mara is a young woman", "plain text"),
        ("number.yaml", "42", "single int"),
        ("strings.yaml", "- Mara\n- Tobias\n", "list entry 1 must have a 'name'"),
        ("nameless.yaml", f"- description: {MARA}\n", "list entry 1 must have a 'name'"),
        ("numeric.yaml", "Mara: 42\n", "must be text (got 42; put it in double quotes)"),
        ("yes.yaml", "yes: a woman\n", "got True; put it in double quotes"),
        ("null.yaml", "Mara:\n", "got None"),
        ("blank-desc.yaml", 'Mara: "  "\n', "is empty"),
        ("nested.yaml", "Mara:\n  - a\n  - b\n", "got a list"),
        ("unknown-field.yaml", "Mara:\n  description: x\n  age: 20\n", "unknown field(s) age"),
        ("no-desc.yaml", "Mara:\n  aliases: [M]\n", "has no 'description'"),
        ("bad-aliases.yaml", "Mara:\n  description: x\n  aliases: {a: b}\n", "list of names"),
        ("colon.yaml", "Mara: a woman: tall\n", "not valid YAML: mapping values"),
        ("tab.yaml", "Mara:\n\tdescription: x\n", "not valid YAML"),
        ("bad.json", '{"Mara": "x",}', "not valid JSON"),
        ("dup.yaml", "Mara: a\nTobias: b\nMara: c\n", "names 'Mara' twice (line 3)"),
        ("dup.json", '{"Mara": "a", "Mara": "b"}', "names 'Mara' twice"),
        ("dup-case.yaml", "Mara: a\nMARA: b\n", "the name 'MARA' is used"),
        ("alias-clash.yaml", "Mara:\n  description: a\n  aliases: [Tobias]\nTobias: b\n", "too"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_unusable_sheets_name_the_file_and_the_fix(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(CharacterSheetError) as caught:
        load_characters(path)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message
    assert "Traceback" not in message


def test_yaml_errors_give_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", f"Mara Quill: {MARA}\nTobias: a man: with a beard\n")
    with pytest.raises(CharacterSheetError, match=r"line 2, column \d+"):
        load_characters(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(CharacterSheetError, match="does not exist") as caught:
        load_characters(path)
    assert "--characters" in str(caught.value)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(CharacterSheetError, match="is a folder"):
        load_characters(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.yaml", "Zoë: a girl\n".encode("latin-1"))
    with pytest.raises(CharacterSheetError, match=r"not UTF-8 .*Save it as UTF-8"):
        load_characters(path)


def test_huge_file(tmp_path: Path) -> None:
    line = f"Name: {MARA}\n"
    repeats = config.CHARACTER_SHEET_MAX_BYTES // len(line) + 1
    path = write(tmp_path, "huge.yaml", line * repeats)
    with pytest.raises(CharacterSheetError, match="the limit is") as caught:
        load_characters(path)
    assert f"{config.CHARACTER_SHEET_MAX_BYTES:,}" in str(caught.value)


def test_yaml_anchors_cannot_blow_up(tmp_path: Path) -> None:
    # A "billion laughs" file: shared references must be refused, not expanded.
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        lines.append(f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    path = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    with pytest.raises(CharacterSheetError, match="got a list"):
        load_characters(path)
