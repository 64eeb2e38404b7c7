"""The storyboard: one static HTML page per run, one section per chapter.

Each sentence shows its image, the sentence, the prompt, the method, and the tokens and
cost where the prompt was paid for; a run comparing methods (``--llm compare``) shows one
column per method. The page is built from the run's manifests (``prompts.json``,
``images.json``, ``sentences.json``), so ``scenewright storyboard OUT_DIR`` can rebuild it
at any time.

It opens from the file system with no server: images are relative links, the styles are
inline, and there are no scripts and no remote assets (its Content-Security-Policy
forbids both). Everything that came from the novel or from a model is HTML-escaped, with
its control characters and terminal escapes dropped.
"""

from __future__ import annotations

import html
import posixpath
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from scenewright import __version__
from scenewright.errors import ConfigError, ScenewrightWarning
from scenewright.fileio import atomic_write_text, read_json
from scenewright.manifest import MANIFEST_FILENAME, RUN_FILENAME, SENTENCES_FILENAME, PromptEntry
from scenewright.prompt_generator import without_controls
from scenewright.render import IMAGES_MANIFEST_FILENAME
from scenewright.usage import format_usd

STORYBOARD_FILENAME = "storyboard.html"


def escape(text: object) -> str:
    """``text`` safe inside HTML elements and quoted attributes, without control
    characters or terminal escapes (tabs and line breaks are kept).
    """
    return html.escape(without_controls(str(text), keep_lines=True), quote=True)


@dataclass(frozen=True)
class Take:
    """One method's prompt for a sentence, and its image if there is one."""

    method: str
    entry: PromptEntry | None
    image: Mapping[str, Any] | None = None  # the images.json record
    image_exists: bool = False
    note: str | None = None  # why there is no prompt (compare runs)


@dataclass
class Row:
    """One sentence and its takes, one per method."""

    chapter: int
    chapter_title: str
    index: int
    sentence: str
    takes: dict[str, Take] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.chapter}.{self.index}"


@dataclass
class Storyboard:
    """What the page shows, read from an output folder."""

    out_dir: Path
    title: str
    author: str | None
    methods: list[str]
    chapters: list[tuple[int, str, list[Row]]]
    run: Mapping[str, Any]
    images: Mapping[str, Any] | None
    complete: bool

    @property
    def scenes(self) -> list[Row]:
        return [scene for _, _, scenes in self.chapters for scene in scenes]

    def counts(self) -> dict[str, int]:
        """Sentences, prompts and images the page shows."""
        takes: Sequence[Take] = [t for s in self.scenes for t in s.takes.values()]
        return {
            "sentences": len(self.scenes),
            "prompts": sum(1 for t in takes if t.entry is not None),
            "images": sum(1 for t in takes if t.image_exists),
        }


def _damaged(path: Path, problem: str) -> ConfigError:
    return ConfigError(
        f"{path} cannot be read ({problem}). Run `scenewright illustrate` again to rewrite it."
    )


def _read(path: Path) -> Any:
    try:
        return read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise _damaged(path, str(error)) from error


# The fields the page reads from each manifest item, and the types they must have.
_PROMPT_FIELDS: dict[str, tuple[type, ...]] = {
    "chapter": (int,),
    "index": (int,),
    "chapter_title": (str,),
    "sentence": (str,),
    "method": (str,),
    "prompt": (str,),
    "key": (str,),
    "model": (str, type(None)),
    "input_tokens": (int,),
    "output_tokens": (int,),
}
_SENTENCE_FIELDS: dict[str, tuple[type, ...]] = {
    "chapter": (int,),
    "index": (int,),
    "chapter_title": (str,),
    "sentence": (str,),
}
_FAILURE_FIELDS: dict[str, tuple[type, ...]] = {
    "chapter": (int,),
    "index": (int,),
    "method": (str,),
    "error": (str, type(None)),
}


def _items(
    path: Path, data: Mapping[str, Any], name: str, fields: Mapping[str, tuple[type, ...]]
) -> list[Mapping[str, Any]]:
    """``data[name]``: a list of objects with ``fields`` of the right types, or a clean error."""
    items = data.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        raise _damaged(path, f'its "{name}" is not a list')
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise _damaged(path, f'item {number} of its "{name}" is not an object')
        for key, types in fields.items():
            value = item.get(key)
            if key not in item and type(None) in types:
                continue
            if isinstance(value, bool) or not isinstance(value, types):
                problem = "is missing" if key not in item else f"is {value!r}"
                raise _damaged(path, f'item {number} of its "{name}": "{key}" {problem}')
    return items


def _object(path: Path, data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _damaged(path, "it is not a JSON object")
    return data


def _read_images(out_dir: Path) -> dict[str, Any] | None:
    """``images.json``, or None (with a warning when it is there but damaged)."""
    path = out_dir / IMAGES_MANIFEST_FILENAME
    try:
        data = read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        problem = str(error)
    else:
        if isinstance(data, dict) and isinstance(data.get("images") or [], list):
            return data
        problem = "it is not an images manifest"
    warnings.warn(
        f"{path} cannot be read ({problem}), so the storyboard shows no images. Run "
        "`scenewright illustrate` again to rewrite it (images already rendered are kept).",
        ScenewrightWarning,
        stacklevel=3,
    )
    return None


def _safe_relpath(path: object) -> str | None:
    """A manifest's image path, if it stays inside the output folder."""
    if not isinstance(path, str):
        return None
    text = path.replace("\\", "/")
    normal = posixpath.normpath(text)
    if not text or normal.startswith(("../", "/")) or normal == ".." or ":" in normal:
        return None
    return normal


def load_storyboard(out_dir: Path) -> Storyboard:
    """Gather the page's contents from ``out_dir``'s manifests."""
    if not out_dir.is_dir():
        what = "is not a folder" if out_dir.exists() else "no such folder"
        raise ConfigError(
            f"{out_dir}: {what}. Give the output folder of a `scenewright illustrate` run "
            "(its --out)."
        )
    manifest_path = out_dir / MANIFEST_FILENAME
    manifest = _read(manifest_path)
    if manifest is None:
        raise ConfigError(
            f"{out_dir} has no {MANIFEST_FILENAME}: give the output folder of a "
            "`scenewright illustrate` run (its --out), or run it first."
        )
    manifest = _object(manifest_path, manifest)
    try:
        entries = [
            PromptEntry.from_json(item)
            for item in _items(manifest_path, manifest, "entries", _PROMPT_FIELDS)
        ]
    except (TypeError, ValueError, ArithmeticError) as error:
        raise _damaged(manifest_path, str(error)) from error
    run_path = manifest_path if manifest.get("run") else out_dir / RUN_FILENAME
    run = _object(run_path, manifest.get("run") or _read(out_dir / RUN_FILENAME))
    methods_value = run.get("methods") or []
    if not isinstance(methods_value, list) or not all(isinstance(m, str) for m in methods_value):
        raise _damaged(run_path, 'its "methods" is not a list of names')
    sentences_path = out_dir / SENTENCES_FILENAME
    sentences = _object(sentences_path, _read(sentences_path))
    sentence_items = _items(sentences_path, sentences, "sentences", _SENTENCE_FIELDS)
    failures = _items(manifest_path, manifest, "failures", _FAILURE_FIELDS)
    unavailable = manifest.get("unavailable") or {}
    if not isinstance(unavailable, dict):
        raise _damaged(manifest_path, 'its "unavailable" is not an object')
    images = _read_images(out_dir)
    by_key: dict[str, Mapping[str, Any]] = {}
    for record in (images or {}).get("images") or ():
        if isinstance(record, Mapping) and record.get("prompt_key"):
            by_key[str(record["prompt_key"])] = record

    methods = list(methods_value)
    for entry in entries:
        if entry.method not in methods:
            methods.append(entry.method)
    scenes: dict[tuple[int, int], Row] = {}
    for item in sentence_items:
        key = (item["chapter"], item["index"])
        scenes[key] = Row(key[0], item["chapter_title"], key[1], item["sentence"])
    for entry in entries:
        key = (entry.chapter, entry.index)
        scene = scenes.setdefault(
            key, Row(entry.chapter, entry.chapter_title, entry.index, entry.sentence)
        )
        record = by_key.get(entry.key)
        relpath = _safe_relpath(record.get("path")) if record else None
        scene.takes[entry.method] = Take(
            method=entry.method,
            entry=entry,
            image=record if relpath else None,
            image_exists=bool(relpath and (out_dir / relpath).is_file()),
        )
    for failure in failures:
        key = (failure["chapter"], failure["index"])
        if key in scenes:
            method = failure["method"]
            scenes[key].takes.setdefault(
                method, Take(method=method, entry=None, note=str(failure.get("error") or ""))
            )
    # A sentence is shown once some method reached it; the rest of a stopped run is not.
    reached = [scene for _, scene in sorted(scenes.items()) if scene.takes]
    for scene in reached:
        for method in methods:
            if method not in scene.takes:
                reason = unavailable.get(method)
                note = f"Not available: {reason}" if reason else "No prompt: the run stopped."
                scene.takes[method] = Take(method=method, entry=None, note=note)
    chapters: list[tuple[int, str, list[Row]]] = []
    for scene in reached:
        if not chapters or chapters[-1][0] != scene.chapter:
            chapters.append((scene.chapter, scene.chapter_title, []))
        chapters[-1][2].append(scene)
    title = str(
        run.get("novel_title")
        or sentences.get("title")
        or Path(str(run.get("novel") or out_dir.name)).stem
    )
    author = run.get("novel_author") or sentences.get("author")
    return Storyboard(
        out_dir=out_dir,
        title=title,
        author=str(author) if author else None,
        methods=methods,
        chapters=chapters,
        run=run,
        images=images,
        complete=bool(manifest.get("complete", True))
        and bool((images or {}).get("complete", True)),
    )


_STYLE = """
:root { color-scheme: light dark; --muted: #5f6368; --line: #d8d8de; --card: #f7f7f9; }
@media (prefers-color-scheme: dark) {
  :root { --muted: #a0a4aa; --line: #3a3a40; --card: #1e1e22; }
}
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       line-height: 1.45; }
header, main, footer { max-width: 96rem; margin: 0 auto; padding: 1rem 1.5rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid var(--line); padding-bottom: 0.3rem;
     margin-top: 2.5rem; }
.byline, .meta, footer, .figures, .note { color: var(--muted); }
.meta { font-size: 0.9rem; }
nav ol { columns: 16rem; padding-left: 1.2rem; }
.scene { margin: 1.5rem 0; }
.sentence { font-family: Georgia, "Times New Roman", serif; font-size: 1.08rem;
            margin: 0 0 0.6rem; }
.ref { color: var(--muted); text-decoration: none; font-family: ui-monospace, monospace;
       font-size: 0.85rem; margin-right: 0.4rem; }
.takes { display: grid; gap: 1rem; grid-template-columns: repeat(var(--takes, 1), minmax(0, 1fr)); }
.takes.single { grid-template-columns: minmax(0, 64rem); }
.takes.single .take { display: grid; gap: 1rem; align-items: start;
                      grid-template-columns: minmax(0, 28rem) minmax(0, 1fr); }
.take { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 6px;
        padding: 0.6rem; }
.take img { display: block; width: 100%; height: auto; border-radius: 4px;
            background: var(--line); }
.placeholder { display: flex; align-items: center; justify-content: center; text-align: center;
               aspect-ratio: var(--ratio, 1); border: 1px dashed var(--line); border-radius: 4px;
               color: var(--muted); font-size: 0.9rem; padding: 0.5rem; }
.method { font-weight: 600; }
.model { color: var(--muted); font-size: 0.85rem; }
.prompt { margin: 0.4rem 0; }
.figures { font-size: 0.8rem; margin: 0; }
@media (max-width: 50rem) {
  .takes, .takes.single .take { grid-template-columns: minmax(0, 1fr); }
}
""".strip()

# No scripts, nothing remote: images from the page's folder, styles inline.
_CSP = "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'"


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return Decimal(0)


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is an object (images.json is read leniently), else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _take_html(take: Take, width: int | None, height: int | None) -> str:
    entry = take.entry
    ratio = f"{width} / {height}" if width and height else "1"
    if entry is None:
        return (
            f'<figure class="take"><div class="placeholder" style="--ratio: {escape(ratio)}">'
            f"{escape(take.note or 'No prompt.')}</div><figcaption>"
            f'<span class="method">{escape(take.method)}</span></figcaption></figure>'
        )
    record = take.image
    if record is not None and take.image_exists:
        src = quote(str(record["path"]), safe="/")
        size = _mapping(record.get("settings"))
        w, h = _positive_int(size.get("width")), _positive_int(size.get("height"))
        dims = f' width="{w}" height="{h}"' if w and h else ""
        picture = f'<img src="{src}"{dims} loading="lazy" alt="{escape(entry.prompt)}">'
    else:
        why = "Image file missing: " + str(record["path"]) if record else "No image rendered yet."
        picture = f'<div class="placeholder" style="--ratio: {escape(ratio)}">{escape(why)}</div>'
    figures = []
    if record is not None:
        figures.append(f"seed {record.get('seed')}")
    cost = _money(entry.cost_usd)
    if cost > 0 or entry.input_tokens or entry.output_tokens:
        figures.append(
            f"{entry.input_tokens:,} in + {entry.output_tokens:,} out tokens"
            + (f" · {format_usd(cost)}" if cost > 0 else "")
        )
    if entry.reused:
        figures.append("prompt reused")
    if record is not None and (_positive_int(record.get("chunks")) or 0) > 1:
        figures.append(
            f"{record.get('prompt_tokens')} CLIP tokens, encoded in {record.get('chunks')} windows"
        )
    model = f' <span class="model">{escape(entry.model)}</span>' if entry.model else ""
    return (
        f'<figure class="take">{picture}<figcaption>'
        f'<span class="method">{escape(entry.method)}</span>{model}'
        f'<p class="prompt">{escape(entry.prompt)}</p>'
        f'<p class="figures">{escape(" · ".join(figures))}</p>'
        "</figcaption></figure>"
    )


def _summary(board: Storyboard) -> str:
    parts = [f"{len(board.scenes)} sentence(s)", "method(s): " + ", ".join(board.methods)]
    images = board.images or {}
    settings = _mapping(images.get("settings"))
    model = _mapping(images.get("model")).get("spec")
    if model:
        parts.append(
            f"SDXL {model}, {settings.get('width')}x{settings.get('height')}, "
            f"{settings.get('steps')} steps, guidance {settings.get('guidance')}, "
            f"base seed {settings.get('seed')}"
        )
        if settings.get("negative_prompt"):
            parts.append(f"negative prompt: {settings['negative_prompt']}")
    total = sum(
        (
            _money(take.entry.cost_usd)
            for scene in board.scenes
            for take in scene.takes.values()
            if take.entry is not None
        ),
        Decimal(0),
    )
    if total > 0:
        parts.append(f"prompts cost {format_usd(total)}")
    if not board.complete:
        parts.append("the run has not finished: some sentences or images are missing")
    return " · ".join(parts)


def render_html(board: Storyboard) -> str:
    """The page, as text."""
    images = board.images or {}
    settings = _mapping(images.get("settings"))
    width, height = _positive_int(settings.get("width")), _positive_int(settings.get("height"))
    columns = len(board.methods)
    nav = "".join(
        f'<li><a href="#chapter-{number}">{escape(title)}</a></li>'
        for number, title, _ in board.chapters
    )
    sections = []
    for number, title, scenes in board.chapters:
        articles = []
        for scene in scenes:
            anchor = f"s-{scene.chapter}-{scene.index}"
            takes = "".join(
                _take_html(scene.takes[m], width, height) for m in board.methods if m in scene.takes
            )
            grid = "takes single" if columns == 1 else "takes"
            articles.append(
                f'<article class="scene" id="{anchor}">'
                f'<p class="sentence"><a class="ref" href="#{anchor}">{escape(scene.ref)}</a>'
                f"{escape(scene.sentence)}</p>"
                f'<div class="{grid}" style="--takes: {columns}">{takes}</div></article>'
            )
        sections.append(
            f'<section class="chapter" id="chapter-{number}"><h2>{escape(title)}</h2>'
            + "\n".join(articles)
            + "</section>"
        )
    byline = f'<p class="byline">by {escape(board.author)}</p>' if board.author else ""
    written = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Storyboard: {escape(board.title)}</title>",
            f"<style>\n{_STYLE}\n</style>",
            "</head>",
            "<body>",
            "<header>",
            f"<h1>{escape(board.title)}</h1>",
            byline,
            f'<p class="meta">{escape(_summary(board))}</p>',
            f'<nav aria-label="Chapters"><ol>{nav}</ol></nav>' if len(board.chapters) > 1 else "",
            "</header>",
            "<main>",
            *sections,
            "</main>",
            f"<footer>Written {escape(written)} by scenewright {escape(__version__)} from "
            f"{escape(MANIFEST_FILENAME)} and {escape(IMAGES_MANIFEST_FILENAME)}.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


def write_storyboard(out_dir: Path, board: Storyboard | None = None) -> Path:
    """Build ``out_dir/storyboard.html`` from the run's manifests and return its path."""
    board = board or load_storyboard(out_dir)
    path = out_dir / STORYBOARD_FILENAME
    # Owner-only, like every other artifact (fileio's default): the page holds the novel's
    # text and what each prompt cost.
    atomic_write_text(path, render_html(board))
    return path
