"""The storyboard page: built from the manifests, escaped, and checked in a real browser.

The browser test opens the page from the file system in headless Chromium (Debian's
``chromium`` package, which ``make test`` installs), takes a screenshot, and reads the
DOM Chromium built: the images must have loaded (their colours are on the screen, one
column per method) and the novel's markup must show as text, not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import require_images_extra
from scenewright.cli import cli
from scenewright.errors import ConfigError, ScenewrightWarning
from scenewright.manifest import PromptEntry, write_manifest
from scenewright.render import Encoding, RenderSettings, render_images
from scenewright.storyboard import (
    STORYBOARD_FILENAME,
    load_storyboard,
    render_html,
    write_storyboard,
)

METHODS = ("keyword", "haiku", "ollama")
# One pure colour per method, so the screenshot shows which image landed where.
COLOURS = {"keyword": (255, 0, 255), "haiku": (0, 255, 255), "ollama": (255, 255, 0)}
EVIL_SENTENCE = "<script>document.title='pwned'</script>Tom & <b>Jerry</b> said \"hi\"."
EVIL_PROMPT = "<img src=x onerror=alert(1)> a cat & a dog"
EVIL_TITLE = "The <i>Clock</i> & Co"


def entry(chapter: int, index: int, method: str, prompt: str, sentence: str) -> PromptEntry:
    paid = method == "haiku"
    return PromptEntry(
        chapter=chapter,
        chapter_title=f"Chapter {chapter}: <Storm>",
        index=index,
        sentence=sentence,
        method=method,
        model="claude-haiku-5-5" if paid else None,
        prompt=prompt,
        input_tokens=512 if paid else 0,
        output_tokens=48 if paid else 0,
        cost_usd=Decimal("0.000075") if paid else Decimal(0),
        duration_s=0.1,
        response_id=None,
        reused=False,
        key=f"{method}-{chapter}-{index}",
    )


class ColourRenderer:
    """Paints each image in its method's colour (the prompt says which)."""

    device = "cuda"
    dtype = "float16"
    scheduler = "Fake"

    def encoding(self, prompt: str) -> Encoding:
        return Encoding(tokens=len(prompt.split()), chunks=1)

    def render(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        settings: RenderSettings,
        on_step: Callable[[int, int], None],
    ) -> list[Any]:
        from PIL import Image

        return [
            Image.new(
                "RGB",
                (settings.width, settings.height),
                next(c for m, c in COLOURS.items() if m in prompt),
            )
            for prompt in prompts
        ]


def make_run(out_dir: Path, methods: Sequence[str] = METHODS, render: bool = True) -> Path:
    """An output folder as a compare run leaves it: prompts, images, and the novel's text."""
    entries = [entry(1, 1, m, f"{m} prompt: {EVIL_PROMPT}", EVIL_SENTENCE) for m in methods] + [
        entry(2, 1, m, f"{m} prompt: a calm sea", "The sea was flat.") for m in methods
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    run = {"methods": list(methods), "novel_title": EVIL_TITLE, "novel_author": "A. <Writer>"}
    write_manifest(out_dir, entries, run=run, complete=True)
    if render:
        require_images_extra()
        pytest.importorskip("PIL", reason='the images extra: pip install -e ".[images]"')
        settings = RenderSettings(steps=1, width=64, height=64)
        render_images(out_dir, settings, load=lambda *_: ColourRenderer())
    return write_storyboard(out_dir)


def test_page_escapes_the_novel_and_the_prompts(tmp_path: Path) -> None:
    page = make_run(tmp_path, render=False).read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "Tom &amp; &lt;b&gt;Jerry&lt;/b&gt; said &quot;hi&quot;." in page
    assert "&lt;img src=x onerror=alert(1)&gt; a cat &amp; a dog" in page
    assert "<title>Storyboard: The &lt;i&gt;Clock&lt;/i&gt; &amp; Co</title>" in page
    assert "by A. &lt;Writer&gt;" in page
    assert "Chapter 1: &lt;Storm&gt;" in page
    assert "<img" not in page  # nothing rendered yet
    assert page.count("No image rendered yet.") == 6


def test_page_drops_control_characters(tmp_path: Path) -> None:
    entries = [entry(1, 1, "keyword", "a robot\x1b[31m red\x00", "The\x07 robot\x7f stood.\x9b")]
    write_manifest(tmp_path, entries, run={"methods": ["keyword"], "novel_title": "T\x1b[2J"},
                   complete=True)  # fmt: skip
    page = write_storyboard(tmp_path).read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]", page)
    assert "a robot red" in page
    assert "The robot stood." in page


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_page_is_owner_only_like_every_other_artifact(tmp_path: Path) -> None:
    page = make_run(tmp_path, render=False)
    assert page.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "prompts.json").stat().st_mode & 0o777 == 0o600


def test_page_has_a_section_per_chapter_and_a_column_per_method(tmp_path: Path) -> None:
    page = make_run(tmp_path).read_text(encoding="utf-8")
    assert page.count('<section class="chapter"') == 2
    assert page.count('<article class="scene"') == 2
    assert page.count('style="--takes: 3"') == 2
    assert page.count("<img ") == 6
    # Paid prompts show their tokens and cost; free ones do not.
    assert page.count("512 in + 48 out tokens · $0.000075") == 2
    assert "prompts cost $0.000150" in page
    board = load_storyboard(tmp_path)
    assert board.methods == list(METHODS)
    assert board.counts() == {"sentences": 2, "prompts": 6, "images": 6}
    images = json.loads((tmp_path / "images.json").read_text(encoding="utf-8"))["images"]
    for record in images:
        assert f'src="{record["path"]}"' in page
        assert not Path(record["path"]).is_absolute()


def test_single_method_is_one_column(tmp_path: Path) -> None:
    page = make_run(tmp_path, methods=("keyword",)).read_text(encoding="utf-8")
    assert page.count('class="takes single" style="--takes: 1"') == 2


def test_a_deleted_image_shows_a_placeholder(tmp_path: Path) -> None:
    make_run(tmp_path)
    images = json.loads((tmp_path / "images.json").read_text(encoding="utf-8"))["images"]
    (tmp_path / images[0]["path"]).unlink()
    page = write_storyboard(tmp_path).read_text(encoding="utf-8")
    assert page.count("<img ") == 5
    assert f"Image file missing: {images[0]['path']}" in page


def test_an_image_path_outside_the_folder_is_not_linked(tmp_path: Path) -> None:
    make_run(tmp_path)
    path = tmp_path / "images.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["images"][0]["path"] = "../../etc/passwd"
    path.write_text(json.dumps(data), encoding="utf-8")
    page = write_storyboard(tmp_path).read_text(encoding="utf-8")
    assert "passwd" not in page
    assert page.count("<img ") == 5


def test_storyboard_command_rebuilds_the_page(tmp_path: Path) -> None:
    page = make_run(tmp_path)
    page.unlink()
    result = CliRunner().invoke(cli, ["storyboard", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "storyboard": str(tmp_path / STORYBOARD_FILENAME),
        "sentences": 2,
        "prompts": 6,
        "images": 6,
    }
    assert page.is_file()
    result = CliRunner().invoke(cli, ["storyboard", str(tmp_path)])
    assert result.exit_code == 0
    assert str(page) in result.output


def test_storyboard_of_a_folder_without_a_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="scenewright illustrate"):
        write_storyboard(tmp_path)
    result = CliRunner().invoke(cli, ["storyboard", str(tmp_path)])
    assert result.exit_code == 1
    assert "prompts.json" in result.output
    assert "Traceback" not in result.output


def _write_prompts(out_dir: Path, data: object) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "prompts.json").write_text(json.dumps(data), encoding="utf-8")


def _good_entry(**changes: object) -> dict[str, Any]:
    item = entry(1, 1, "keyword", "a cat", "The cat sat.").to_json()
    item["cost_usd"] = str(item["cost_usd"])
    item.update(changes)
    return item


@pytest.mark.parametrize(
    ("name", "data", "sentences"),
    [
        ("entry without fields", {"entries": [{"foo": 1}]}, None),
        ("entries not a list", {"entries": {"a": 1}}, None),
        ("entry not an object", {"entries": [1]}, None),
        ("chapter is text", {"entries": [_good_entry(chapter="one")]}, None),
        ("bad cost", {"entries": [_good_entry(cost_usd="lots")]}, None),
        ("failure without fields", {"entries": [], "failures": [{"x": 1}]}, None),
        ("methods not a list", {"entries": [], "run": {"methods": 3}}, None),
        ("unavailable not an object", {"entries": [], "unavailable": [1]}, None),
        ("sentence without chapter", {"entries": []}, {"sentences": [{"index": 1}]}),
        ("sentences not an object", {"entries": []}, [1, 2]),
    ],
)
def test_damaged_manifests_are_a_clear_error(
    tmp_path: Path, name: str, data: object, sentences: object
) -> None:
    _write_prompts(tmp_path, data)
    if sentences is not None:
        (tmp_path / "sentences.json").write_text(json.dumps(sentences), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cannot be read .*scenewright illustrate` again"):
        load_storyboard(tmp_path)
    result = CliRunner().invoke(cli, ["storyboard", str(tmp_path)])
    assert result.exit_code == 1, name
    assert "cannot be read" in result.output
    assert "Traceback" not in result.output


def test_prompts_that_are_not_an_object_say_so(tmp_path: Path) -> None:
    _write_prompts(tmp_path, [1, 2])
    with pytest.raises(ConfigError, match="not a JSON object") as caught:
        load_storyboard(tmp_path)
    assert "has no prompts.json" not in str(caught.value)


def test_a_missing_folder_is_not_a_missing_prompts_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such folder"):
        load_storyboard(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not a folder"):
        load_storyboard(tmp_path / "file")


@pytest.mark.parametrize("images", ["{not json", "[1]", '{"images": 5}'])
def test_a_damaged_images_json_is_a_warning(tmp_path: Path, images: str) -> None:
    _write_prompts(tmp_path, {"entries": [_good_entry()]})
    (tmp_path / "images.json").write_text(images, encoding="utf-8")
    with pytest.warns(ScenewrightWarning, match=r"images\.json cannot be read.*illustrate"):
        board = load_storyboard(tmp_path)
    assert board.counts() == {"sentences": 1, "prompts": 1, "images": 0}
    result = CliRunner().invoke(cli, ["storyboard", str(tmp_path)])
    assert result.exit_code == 0
    assert "images.json cannot be read" in result.output


def test_odd_image_records_do_not_break_the_page(tmp_path: Path) -> None:
    _write_prompts(tmp_path, {"entries": [_good_entry()]})
    (tmp_path / "a.png").write_bytes(b"")
    record = {"prompt_key": "keyword-1-1", "path": "a.png", "settings": "x", "chunks": "many"}
    images = {"settings": [1], "model": "m", "images": [record, 3, {"path": 7}]}
    (tmp_path / "images.json").write_text(json.dumps(images), encoding="utf-8")
    board = load_storyboard(tmp_path)
    assert board.counts()["images"] == 1
    assert 'src="a.png"' in render_html(board)


# --- In a real browser --------------------------------------------------------------------


def chromium() -> str:
    """Debian's chromium; skipped where it cannot be had, but never in CI."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = (
        "headless Chromium is not installed: `make test` installs Debian's chromium as "
        "root, or run `sudo apt-get install chromium`"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
        page.resolve().as_uri(),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL
    )


def colour_boxes(screenshot: Path) -> dict[str, tuple[int, int, int]]:
    """Per method colour: (pixel count, mean x, mean y) of its pixels on the screen."""
    import numpy as np
    from PIL import Image

    with Image.open(screenshot) as image:
        rgb = np.asarray(image.convert("RGB")).astype(int)
    found = {}
    for method, colour in COLOURS.items():
        mask = (np.abs(rgb - np.array(colour)).sum(axis=2) <= 6).nonzero()
        count = len(mask[0])
        found[method] = (
            count,
            int(mask[1].mean()) if count else -1,
            int(mask[0].mean()) if count else -1,
        )
    return found


def test_page_in_headless_chromium(tmp_path: Path) -> None:
    browser = chromium()
    out = tmp_path / "run with spaces"
    page = make_run(out)
    screenshot = tmp_path / "storyboard.png"
    shot = run_chromium(
        page, tmp_path / "profile-1", "--window-size=1400,1000", f"--screenshot={screenshot}"
    )
    assert screenshot.is_file(), f"{browser} wrote no screenshot:\n{shot.stderr[-2000:]}"
    boxes = colour_boxes(screenshot)
    # Each method's image loaded from the file system, large on the screen...
    for method, (count, _, _) in boxes.items():
        assert count > 2000, f"the {method} image did not show: {boxes}"
    # ...side by side, in the methods' order: three columns.
    xs = [boxes[m][1] for m in METHODS]
    ys = [boxes[m][2] for m in METHODS]
    assert xs == sorted(xs) and xs[1] - xs[0] > 200 and xs[2] - xs[1] > 200, boxes
    assert max(ys) - min(ys) < 50, boxes

    dom = run_chromium(page, tmp_path / "profile-2", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # The novel's markup is text in the DOM: no element made from it, no script run.
    assert "<title>Storyboard: The &lt;i&gt;Clock&lt;/i&gt; &amp; Co</title>" in html
    assert "pwned" not in html.split("</title>")[0]
    assert "<b>Jerry</b>" not in html and "&lt;b&gt;Jerry&lt;/b&gt;" in html
    assert "<img src=x" not in html and '<img src="x"' not in html
    assert html.count("<img ") == 6
