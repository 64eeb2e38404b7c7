"""The prompt manifest of a run, and the cache that keeps a prompt from being paid for twice.

An output folder holds::

    run.json            settings of the last run, its status and summary
    sentences.json      every selected sentence with its scene context
    prompts.json        the prompt manifest: one entry per sentence and method
    comparison.html     with --llm compare: the methods side by side (``scenewright.comparison``)
    comparison.json     the same, for programs
    prompt_cache.jsonl  every paid prompt ever generated here, appended and fsynced at once

The cache is append-only and written before anything else learns of a prompt, so an
interrupted run keeps every prompt it paid for, and the next run reuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from scenewright.errors import ScenewrightWarning
from scenewright.fileio import append_line, atomic_write_json, dumps_json, loads_json, read_json

RUN_FILENAME = "run.json"
SENTENCES_FILENAME = "sentences.json"
MANIFEST_FILENAME = "prompts.json"
CACHE_FILENAME = "prompt_cache.jsonl"

# Bumped when the manifest's layout changes in a way readers must know about.
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class PromptEntry:
    """One sentence's prompt by one method, as recorded in ``prompts.json``."""

    chapter: int
    chapter_title: str
    index: int
    sentence: str
    method: str
    model: str | None
    prompt: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    duration_s: float
    response_id: str | None
    reused: bool
    key: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromptEntry:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["cost_usd"] = Decimal(str(values.get("cost_usd", 0)))
        return cls(**values)


@dataclass(frozen=True)
class PromptFailure:
    """A sentence one method could not write a prompt for, in a run that went on without it.

    Only ``--llm compare`` goes on after a failure; a single-method run stops instead.
    """

    chapter: int
    index: int
    sentence: str
    method: str
    model: str | None
    error: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def prompt_key(*parts: object) -> str:
    """A stable hash of everything that decides a prompt: same inputs, same key."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedPrompt:
    """A prompt already paid for: what it said and what it cost when it was made."""

    key: str
    method: str
    model: str | None
    prompt: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    duration_s: float
    response_id: str | None


class PromptCache:
    """``prompt_cache.jsonl``: an append-only record of generated prompts, keyed by input hash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, CachedPrompt] = {}
        # True when the file ends mid-line (a crash during a write): the next entry must
        # start on a fresh line, or it would be glued to the fragment and lost too.
        self._torn_tail = False
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        with self.path.open("rb") as raw:
            if raw.seek(0, os.SEEK_END):
                raw.seek(-1, os.SEEK_END)
                self._torn_tail = raw.read(1) != b"\n"
        skipped = 0
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    data = loads_json(line)
                    entry = CachedPrompt(
                        key=str(data["key"]),
                        method=str(data["method"]),
                        model=data.get("model"),
                        prompt=str(data["prompt"]),
                        input_tokens=int(data.get("input_tokens", 0)),
                        output_tokens=int(data.get("output_tokens", 0)),
                        cost_usd=Decimal(str(data.get("cost_usd", 0))),
                        duration_s=float(data.get("duration_s", 0.0)),
                        response_id=data.get("response_id"),
                    )
                except (ValueError, KeyError, TypeError, InvalidOperation):
                    # A line cut short by a crash: the prompt it held is simply made again.
                    skipped += 1
                    continue
                if entry.prompt.strip():
                    self._entries[entry.key] = entry
        if skipped:
            warnings.warn(
                f"{self.path}: skipped {skipped} unreadable line(s); those prompts will be "
                "generated again.",
                ScenewrightWarning,
                stacklevel=2,
            )

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CachedPrompt | None:
        return self._entries.get(key)

    def add(self, entry: CachedPrompt) -> None:
        """Record ``entry`` durably (fsynced) before returning."""
        line = dumps_json(asdict(entry), pretty=False)
        if self._torn_tail:
            line = "\n" + line
            self._torn_tail = False
        append_line(self.path, line)
        self._entries[entry.key] = entry


def write_manifest(
    out_dir: Path,
    entries: Iterable[PromptEntry],
    *,
    run: Mapping[str, Any],
    complete: bool,
    failures: Iterable[PromptFailure] = (),
    unavailable: Mapping[str, str] | None = None,
) -> Path:
    """Write ``prompts.json`` atomically and return its path.

    ``failures`` and ``unavailable`` (method -> why it could not run) are written only
    when there are any: a run comparing methods goes on without those prompts.
    """
    entries = list(entries)
    data: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "complete": complete,
        "run": dict(run),
        "summary": summarize(entries),
        "entries": [e.to_json() for e in entries],
    }
    failures = list(failures)
    if failures:
        data["failures"] = [f.to_json() for f in failures]
    if unavailable:
        data["unavailable"] = dict(unavailable)
    path = out_dir / MANIFEST_FILENAME
    atomic_write_json(path, data)
    return path


def entries_from_json(items: Iterable[Mapping[str, Any]]) -> list[PromptEntry]:
    return [PromptEntry.from_json(item) for item in items]


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """Load ``prompts.json`` with exact Decimal costs."""
    data: dict[str, Any] = read_json(out_dir / MANIFEST_FILENAME)
    return data


def summarize(entries: Iterable[PromptEntry]) -> dict[str, Any]:
    """Totals over a run's entries, per method and overall."""
    by_method: dict[str, dict[str, Any]] = {}
    for e in entries:
        row = by_method.setdefault(
            e.method,
            {
                "prompts": 0,
                "generated": 0,
                "reused": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": Decimal(0),
                "new_cost_usd": Decimal(0),
            },
        )
        row["prompts"] += 1
        row["reused" if e.reused else "generated"] += 1
        row["input_tokens"] += e.input_tokens
        row["output_tokens"] += e.output_tokens
        row["cost_usd"] += e.cost_usd
        if not e.reused:
            row["new_cost_usd"] += e.cost_usd
    return {"by_method": by_method}
