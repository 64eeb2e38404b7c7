"""Prompt methods side by side: one row per sentence, one column per method.

``illustrate --llm compare`` writes ``comparison.html`` for people and ``comparison.json``
for programs; ``scenewright compare`` prints the same cells for one sentence
(``run_method``, with ``context_from_passage`` for its ``--context``). Each cell
holds a method's prompt with its tokens, time and cost, or why there is none (the method
could not run here, or failed for that sentence).

Everything that came from the novel or a model (sentences, titles, prompts, errors) is
escaped with ``escape_html`` before it goes into the page, which also drops control
characters and terminal escapes.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from scenewright import __version__, config
from scenewright.errors import PromptError, ScenewrightError
from scenewright.fileio import atomic_write_json, atomic_write_text
from scenewright.manifest import PromptEntry, PromptFailure
from scenewright.prompt_generator import (
    CostTrackerLike,
    SceneContext,
    check_method,
    generate_prompt,
    without_controls,
)
from scenewright.scenes import Scene
from scenewright.usage import format_usd

__all__ = [
    "COMPARISON_FORMAT",
    "COMPARISON_HTML",
    "COMPARISON_JSON",
    "Cell",
    "Row",
    "build_rows",
    "cell_from_entry",
    "comparison_data",
    "context_from_passage",
    "describe_cost",
    "describe_tokens",
    "escape_html",
    "method_totals",
    "render_html",
    "run_method",
    "write_comparison",
]

COMPARISON_HTML = "comparison.html"
COMPARISON_JSON = "comparison.json"
# Bumped when comparison.json changes in a way readers must know about.
COMPARISON_FORMAT = 1

# A cell of a method that could not run; the reason is given once per method.
NOT_AVAILABLE = "Not available."
# What each method's cost means, in the page and in print.
_COST_NOTES = {"keyword": "free", "ollama": "local, free"}


def escape_html(text: object) -> str:
    """``text`` safe inside HTML elements and quoted attributes: ``& < > " '`` escaped,
    control characters and terminal escapes dropped (tabs and line breaks kept).
    """
    return html.escape(without_controls(str(text), keep_lines=True), quote=True)


@dataclass(frozen=True)
class Cell:
    """One method's prompt for one sentence, or why there is none (``error``)."""

    method: str
    model: str | None
    prompt: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    duration_s: float = 0.0
    cost_usd: Decimal = Decimal(0)
    reused: bool = False
    error: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "model": self.model,
            "prompt": self.prompt,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "duration_s": self.duration_s,
            "cost_usd": self.cost_usd,
            "reused": self.reused,
            "error": self.error,
        }


def cell_from_entry(entry: PromptEntry) -> Cell:
    return Cell(
        method=entry.method,
        model=entry.model,
        prompt=entry.prompt,
        input_tokens=entry.input_tokens,
        output_tokens=entry.output_tokens,
        duration_s=entry.duration_s,
        cost_usd=entry.cost_usd,
        reused=entry.reused,
    )


@dataclass(frozen=True)
class Row:
    """One sentence and its cells, in the order of the methods compared."""

    chapter: int
    chapter_title: str
    index: int
    sentence: str
    cells: tuple[Cell, ...] = field(default_factory=tuple)

    @property
    def ref(self) -> str:
        return f"{self.chapter}.{self.index}"

    def to_json(self) -> dict[str, Any]:
        return {
            "chapter": self.chapter,
            "chapter_title": self.chapter_title,
            "index": self.index,
            "sentence": self.sentence,
            "cells": {cell.method: cell.to_json() for cell in self.cells},
        }


def build_rows(
    scenes: Iterable[Scene],
    methods: Sequence[str],
    entries: Iterable[PromptEntry],
    *,
    failures: Iterable[PromptFailure] = (),
    unavailable: Mapping[str, str] | None = None,
    models: Mapping[str, str | None] | None = None,
) -> list[Row]:
    """A row for every scene some method reached, with one cell per method.

    A method with no entry for a reached scene shows its failure for that sentence, or
    that it could not run (the reason is said once, in ``comparison_data``'s methods), or
    that the run stopped before it got there.
    """
    unavailable = unavailable or {}
    models = models or {}
    found: dict[tuple[int, int, str], Cell] = {}
    for entry in entries:
        found[(entry.chapter, entry.index, entry.method)] = cell_from_entry(entry)
    for failure in failures:
        found[(failure.chapter, failure.index, failure.method)] = Cell(
            method=failure.method, model=failure.model, prompt=None, error=failure.error
        )
    rows: list[Row] = []
    for scene in scenes:
        keys = [(scene.chapter, scene.index, method) for method in methods]
        if not any(key in found for key in keys):
            continue  # the run stopped before this sentence
        cells = []
        for key in keys:
            method = key[2]
            cell = found.get(key)
            if cell is None:
                error = (
                    NOT_AVAILABLE if method in unavailable else "Not generated: the run stopped."
                )
                cell = Cell(method=method, model=models.get(method), prompt=None, error=error)
            cells.append(cell)
        rows.append(
            Row(scene.chapter, scene.chapter_title, scene.index, scene.sentence, tuple(cells))
        )
    return rows


def method_totals(rows: Iterable[Row], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per method: prompts written, failures, tokens, seconds and dollars over ``rows``."""
    totals: dict[str, dict[str, Any]] = {
        method: {
            "prompts": 0,
            "failed": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "total_tokens": 0,
            "duration_s": 0.0,
            "cost_usd": Decimal(0),
        }
        for method in methods
    }
    for row in rows:
        for cell in row.cells:
            total = totals[cell.method]
            if cell.prompt is None:
                total["failed"] += 1
                continue
            total["prompts"] += 1
            total["input_tokens"] += cell.input_tokens
            total["output_tokens"] += cell.output_tokens
            total["total_tokens"] += cell.total_tokens
            total["duration_s"] += cell.duration_s
            total["cost_usd"] += cell.cost_usd
    for total in totals.values():
        total["duration_s"] = round(total["duration_s"], 4)
    return totals


def comparison_data(
    rows: Sequence[Row],
    methods: Sequence[str],
    *,
    run: Mapping[str, Any] | None = None,
    models: Mapping[str, str | None] | None = None,
    unavailable: Mapping[str, str] | None = None,
    complete: bool = True,
) -> dict[str, Any]:
    """What ``comparison.json`` holds, and what ``render_html`` shows."""
    models = models or {}
    unavailable = unavailable or {}
    return {
        "format": COMPARISON_FORMAT,
        "scenewright_version": __version__,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "complete": complete,
        "run": dict(run or {}),
        "methods": [
            {
                "method": method,
                "model": models.get(method),
                "available": method not in unavailable,
                "unavailable_reason": unavailable.get(method),
            }
            for method in methods
        ],
        "totals": method_totals(rows, methods),
        "rows": [row.to_json() for row in rows],
    }


def describe_cost(method: str, cost: Decimal) -> str:
    """``$0.000123 USD`` for a paid method; ``$0.000000 USD (free)`` for a local one."""
    note = _COST_NOTES.get(method)
    return f"{format_usd(cost)} USD ({note})" if note else f"{format_usd(cost)} USD"


def describe_tokens(input_tokens: int, output_tokens: int) -> str:
    return f"{input_tokens:,} in + {output_tokens:,} out = {input_tokens + output_tokens:,}"


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem;
       color: #1d1d1f; background: #fff; }
h1 { font-size: 1.4rem; margin-bottom: 0.2rem; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { border: 1px solid #d0d0d5; padding: 0.5rem; vertical-align: top; text-align: left; }
thead th { background: #f2f2f5; position: sticky; top: 0; }
th.ref { width: 3.5rem; }
td.sentence { font-family: Georgia, serif; }
.prompt { margin: 0 0 0.4rem 0; }
.figures { color: #555; font-size: 0.85em; }
.error { color: #a11; }
.notes .reason { white-space: pre-wrap; }
tfoot td { background: #fafafc; font-weight: 600; }
""".strip()


def _cell_html(cell: Cell) -> str:
    if cell.prompt is None:
        return f'<td class="error">{escape_html(cell.error or "No prompt.")}</td>'
    reused = " &middot; reused" if cell.reused else ""
    figures = (
        f"{escape_html(describe_tokens(cell.input_tokens, cell.output_tokens))} tokens"
        f" &middot; {cell.duration_s:.3f} s"
        f" &middot; {escape_html(describe_cost(cell.method, cell.cost_usd))}{reused}"
    )
    return (
        f'<td><p class="prompt">{escape_html(cell.prompt)}</p>'
        f'<div class="figures">{figures}</div></td>'
    )


def render_html(data: Mapping[str, Any], rows: Sequence[Row]) -> str:
    """The comparison page: a self-contained HTML file with no scripts and no remote assets."""
    run = data.get("run") or {}
    title = run.get("novel_title") or Path(str(run.get("novel") or "novel")).name
    methods = data["methods"]
    head_cells = "".join(
        f"<th>{escape_html(m['method'])}"
        + (f"<br><small>{escape_html(m['model'])}</small>" if m.get("model") else "")
        + ("" if m["available"] else "<br><small>(not available)</small>")
        + "</th>"
        for m in methods
    )
    body_rows = []
    chapter = None
    for row in rows:
        if row.chapter != chapter:
            chapter = row.chapter
            body_rows.append(
                f'<tr><th colspan="{len(methods) + 2}">{escape_html(row.chapter_title)}</th></tr>'
            )
        cells = "".join(_cell_html(cell) for cell in row.cells)
        body_rows.append(
            f'<tr><th class="ref">{escape_html(row.ref)}</th>'
            f'<td class="sentence">{escape_html(row.sentence)}</td>{cells}</tr>'
        )
    totals = data["totals"]
    foot_cells = "".join(
        "<td>"
        + escape_html(
            f"{totals[m['method']]['prompts']} prompt(s), "
            f"{totals[m['method']]['total_tokens']:,} tokens, "
            f"{totals[m['method']]['duration_s']:.2f} s, "
            f"{describe_cost(m['method'], totals[m['method']]['cost_usd'])}"
        )
        + "</td>"
        for m in methods
    )
    notes = "".join(
        f"<li><strong>{escape_html(m['method'])}</strong> is not available: "
        f'<span class="reason">{escape_html(m["unavailable_reason"])}</span></li>'
        for m in methods
        if not m["available"]
    )
    state = "" if data.get("complete", True) else " The run stopped early: rows are missing."
    meta = (
        f"{len(rows)} sentence(s) &middot; written {escape_html(data['written'])} by "
        f"scenewright {escape_html(data['scenewright_version'])}.{escape_html(state)}"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Prompt comparison: {escape_html(title)}</title>",
            f"<style>\n{_STYLE}\n</style>",
            "</head>",
            "<body>",
            f"<h1>Prompt comparison: {escape_html(title)}</h1>",
            f'<p class="meta">{meta}</p>',
            f'<ul class="notes">{notes}</ul>' if notes else "",
            "<table>",
            f'<thead><tr><th class="ref">#</th><th>Sentence</th>{head_cells}</tr></thead>',
            "<tbody>",
            *body_rows,
            "</tbody>",
            f'<tfoot><tr><td colspan="2">Total</td>{foot_cells}</tr></tfoot>',
            "</table>",
            "</body>",
            "</html>",
            "",
        ]
    )


def write_comparison(
    out_dir: Path,
    rows: Sequence[Row],
    methods: Sequence[str],
    *,
    run: Mapping[str, Any] | None = None,
    models: Mapping[str, str | None] | None = None,
    unavailable: Mapping[str, str] | None = None,
    complete: bool = True,
) -> tuple[Path, Path]:
    """Write ``comparison.html`` and ``comparison.json`` into ``out_dir``; return their paths."""
    data = comparison_data(
        rows, methods, run=run, models=models, unavailable=unavailable, complete=complete
    )
    json_path = out_dir / COMPARISON_JSON
    html_path = out_dir / COMPARISON_HTML
    atomic_write_json(json_path, data)
    atomic_write_text(html_path, render_html(data, rows))
    return html_path, json_path


# --- One sentence, for `scenewright compare` ---------------------------------------------


def context_from_passage(
    sentence: str, passage: str | None = None, chapter_title: str = ""
) -> SceneContext:
    """The scene context of ``sentence`` taken from the passage around it, as ``illustrate``
    takes it from the novel: up to ``config.CONTEXT_SENTENCES_BEFORE`` sentences before it
    and ``config.CONTEXT_SENTENCES_AFTER`` after. When the sentence is not in the passage,
    the passage is what came before it.
    """
    if not passage or not passage.strip():
        return SceneContext(chapter_title=chapter_title.strip())
    # Imported here: syntok is only needed when a passage is given.
    from scenewright.novel import split_sentences

    sentences = split_sentences(passage)
    wanted = " ".join(sentence.split())
    position = next(
        (i for i, candidate in enumerate(sentences) if " ".join(candidate.split()) == wanted),
        None,
    )
    before_count = config.CONTEXT_SENTENCES_BEFORE
    if position is None:
        before = sentences[-before_count:] if before_count else []
        after: list[str] = []
    else:
        before = sentences[max(0, position - before_count) : position]
        after = sentences[position + 1 : position + 1 + config.CONTEXT_SENTENCES_AFTER]
    return SceneContext(
        chapter_title=chapter_title.strip(), before=tuple(before), after=tuple(after)
    )


def run_method(
    sentence: str,
    method: str,
    *,
    context: SceneContext | None = None,
    characters: Mapping[str, str] | None = None,
    model: str | None = None,
    cost_tracker: CostTrackerLike | None = None,
    strict: bool = False,
    checked: bool = False,
) -> Cell:
    """``method``'s prompt for ``sentence`` as a cell, checking first that it can run
    (unless ``checked`` says the caller has just done so with ``check_method``).

    With ``strict`` the method's error, with its fix, is raised; otherwise it becomes the
    cell's ``error`` (``"Not available: ..."`` when the method cannot run here at all).
    """
    if not checked:
        try:
            check_method(method, model=model)
        except ScenewrightError as error:
            if strict:
                raise
            return Cell(method=method, model=model, prompt=None, error=f"Not available: {error}")
    try:
        result = generate_prompt(
            sentence,
            method=method,
            context=context,
            characters=characters,
            model=model,
            cost_tracker=cost_tracker if method == "haiku" else None,
        )
    except PromptError as error:
        if strict:
            raise
        return Cell(method=method, model=model, prompt=None, error=str(error))
    return Cell(
        method=method,
        model=result.model,
        prompt=result.prompt,
        input_tokens=result.usage.input_tokens,
        output_tokens=result.usage.output_tokens,
        duration_s=round(result.duration_s, 4),
        cost_usd=result.cost_usd,
    )
