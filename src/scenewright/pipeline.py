"""The main job: a novel in; prompts, images and a storyboard out.

Stages hand each other files in the output folder (see ``scenewright.manifest``), so a
run can be interrupted at any point and started again without paying twice.

``llm="compare"`` writes every sentence's prompt by every method (``METHODS``) and the
comparison page (``scenewright.comparison``). A method that cannot run here is left out
and reported, and one that fails for a sentence leaves that cell empty; the other
methods go on. A method that stops working in the middle of the run (``METHOD_DOWN``:
its server stopped, its model or key went away) is left out from that sentence on, with
a warning. A run that ends with empty cells has the status ``complete_with_gaps``
(``RunResult.empty_cells`` says how many). A run of one method stops at its first error
instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock

from scenewright import __version__, config, pricing
from scenewright.budget import BudgetLimits, SessionBudget
from scenewright.characters import load_characters
from scenewright.cost_tracker import CostTracker
from scenewright.errors import (
    AuthenticationError,
    BudgetError,
    ConfigError,
    ModelNotFoundError,
    PromptError,
    ScenewrightError,
    ScenewrightWarning,
    ServiceUnavailableError,
)
from scenewright.estimate import (
    Estimate,
    PlannedPrompt,
    approximate_request_tokens,
    estimate_plan,
)
from scenewright.fileio import atomic_write_json, read_json
from scenewright.ledger import Ledger, fold_orphaned_journals
from scenewright.manifest import (
    CACHE_FILENAME,
    RUN_FILENAME,
    SENTENCES_FILENAME,
    CachedPrompt,
    PromptCache,
    PromptEntry,
    PromptFailure,
    entries_from_json,
    prompt_key,
    read_manifest,
    write_manifest,
)
from scenewright.novel import Chapter, Novel, read_novel, select_chapters
from scenewright.prompt_generator import (
    INSTRUCTIONS_VERSION,
    METHODS,
    SYSTEM_INSTRUCTIONS,
    PromptResult,
    build_haiku_request,
    build_user_message,
    check_method,
    generate_prompt,
    ollama_model_name,
)
from scenewright.render import RenderProgress, RenderReport, RenderSettings
from scenewright.render import prepare as prepare_render
from scenewright.scenes import Scene, build_scenes
from scenewright.usage import format_usd

if TYPE_CHECKING:
    # Importing the SDK takes seconds; only the Haiku method pays for it, when it runs.
    import anthropic

# Held for the whole of a run, so that two runs never write to one output folder at once.
RUN_LOCK_FILENAME = ".scenewright.lock"

# Methods whose prompts cost money or time, and are therefore cached in the output folder.
CACHED_METHODS = frozenset({"haiku", "ollama"})

# The --llm value that runs every method for every sentence and compares them.
COMPARE = "compare"
# Every value --llm takes.
LLM_CHOICES = (*METHODS, COMPARE)

# Errors after which every further call of a method would fail the same way (its server is
# not running or cannot be reached, its model or key is refused, its account has no
# credit): a compare run leaves the method out from that sentence on. Any other failure (a
# 400 for one request, a 500 after retries, an empty or refused reply) empties one cell.
METHOD_DOWN: tuple[type[PromptError], ...] = (
    ServiceUnavailableError,
    ModelNotFoundError,
    AuthenticationError,
)

# run.json's status for a run that went through every sentence but left cells empty.
COMPLETE_WITH_GAPS = "complete_with_gaps"


@dataclass(frozen=True)
class IllustrateOptions:
    """What ``scenewright illustrate`` was asked to do."""

    chapters: str | None = None  # "1,3-5"; None means every chapter
    llm: str = "keyword"  # one of prompt_generator.METHODS, or "compare" for all of them
    model: str | None = None  # Claude model id; None means config.DEFAULT_HAIKU_MODEL
    characters: Path | None = None  # YAML or JSON character sheet
    out_dir: Path | None = None  # None means scenewright-out/<novel file stem>
    dry_run: bool = True  # prompts only; False renders them too (the images extra)
    # How images are rendered when not dry_run (--sdxl-model, --steps, ...).
    render: RenderSettings = field(default_factory=RenderSettings)
    ollama_model: str | None = None  # None means config.DEFAULT_OLLAMA_MODEL
    # --budget and --max-total (scenewright.budget); the CLI fills in the defaults.
    limits: BudgetLimits = field(default_factory=BudgetLimits)


@dataclass
class RunResult:
    """What a run produced, for the CLI and for scripts."""

    out_dir: Path
    session_name: str
    entries: list[PromptEntry] = field(default_factory=list)
    complete: bool = False
    methods: tuple[str, ...] = ()  # the methods asked for, in column order
    unavailable: dict[str, str] = field(default_factory=dict)  # method -> why it did not run
    failures: list[PromptFailure] = field(default_factory=list)  # compare: cells left empty
    # compare: method -> (the sentence it was left out from, the cells after it not tried)
    left_out: dict[str, tuple[str, int]] = field(default_factory=dict)
    status: str = "running"  # run.json's status once the prompts are written
    comparison: Path | None = None  # comparison.html, for --llm compare
    images: RenderReport | None = None  # the render stage's report, unless dry_run
    storyboard: Path | None = None  # storyboard.html

    @property
    def generated(self) -> int:
        return sum(1 for e in self.entries if not e.reused)

    @property
    def reused(self) -> int:
        return sum(1 for e in self.entries if e.reused)

    @property
    def empty_cells(self) -> int:
        """Cells of a compare run with no prompt: the sentences a method failed, and those
        after a method was left out. Methods that could not run at all are not counted.
        """
        return len(self.failures) + sum(after for _, after in self.left_out.values())


def session_name_for(chapters: tuple[Chapter, ...], novel: Novel) -> str:
    """The design document's session name: ``generate_images_chapters_1``."""
    if len(chapters) == len(novel.chapters):
        return "generate_images_all_chapters"
    return "generate_images_chapters_" + "_".join(str(c.number) for c in chapters)


def default_out_dir(novel_path: Path) -> Path:
    """``scenewright-out/<file stem>``, with the stem made safe for every file system."""
    stem = re.sub(r"[^\w.-]+", "-", novel_path.stem, flags=re.UNICODE).strip("-.") or "novel"
    return Path(config.DEFAULT_OUTPUT_DIR) / stem


class IllustrationRun:
    """A prepared run: the novel is read and the scenes are known; nothing is spent yet.

    ``execute()`` generates (or reuses) one prompt per scene and writes the artifacts.
    """

    def __init__(
        self,
        novel_path: str | os.PathLike[str],
        options: IllustrateOptions | None = None,
        *,
        cost_tracker: CostTracker | None = None,
        client: anthropic.Anthropic | None = None,
    ) -> None:
        self.options = options or IllustrateOptions()
        if self.options.llm not in LLM_CHOICES:
            raise ConfigError(
                f"Unknown prompt method {self.options.llm!r}. Use one of: {', '.join(LLM_CHOICES)}."
            )
        self.compare = self.options.llm == COMPARE
        self.methods: tuple[str, ...] = METHODS if self.compare else (self.options.llm,)
        # Rendering is checked before anything is spent: its settings, the images extra,
        # and that the model can be had.
        self.render_settings: RenderSettings | None = (
            None if self.options.dry_run else prepare_render(self.options.render)
        )
        # Progress callbacks for the render stage; the CLI sets its bars here.
        self.render_progress: RenderProgress | None = None
        self.novel_path = Path(novel_path)
        self.model: str | None = None
        if "haiku" in self.methods:
            requested = self.options.model
            # Refuse a model we cannot price (an empty --model too) before a token is spent;
            # check_model strips stray spaces, so the cache key and run.json use the clean id.
            self.model = pricing.check_model(
                config.DEFAULT_HAIKU_MODEL if requested is None else requested
            )
        elif self.options.model is not None:
            warnings.warn(
                f"--model {self.options.model!r} is ignored: it chooses the Claude model, and "
                f"this run uses --llm {self.options.llm}. Add --llm haiku to use it.",
                ScenewrightWarning,
                stacklevel=2,
            )
        self.ollama_model: str | None = None
        if "ollama" in self.methods:
            # Only a missing --ollama-model means the default; an empty one is an error.
            self.ollama_model = ollama_model_name(self.options.ollama_model)
        self.novel = read_novel(self.novel_path)
        self.chapters = select_chapters(self.novel, self.options.chapters)
        self.characters: Mapping[str, str] = (
            load_characters(self.options.characters) if self.options.characters else {}
        )
        self.scenes: list[Scene] = build_scenes(self.chapters)
        self.out_dir = self.options.out_dir or default_out_dir(self.novel_path)
        self.session_name = session_name_for(self.chapters, self.novel)
        self._external_tracker = cost_tracker
        self._client = client
        # The tracker used by the last execute(), so a caller can print its summary.
        self.tracker: CostTracker | None = None
        # Methods that cannot run here, with the reason and its fix; filled by execute().
        self.unavailable: dict[str, str] = {}
        self._checked = False  # check_methods() ran for the next execute()
        # The estimate of the last execute()'s Claude prompts (offline), and its budget.
        self.estimate_result: Estimate | None = None
        self._budget: SessionBudget | None = None

    def model_for(self, method: str) -> str | None:
        """The model ``method`` uses in this run: a Claude id, an Ollama name, or None."""
        return {"haiku": self.model, "ollama": self.ollama_model}.get(method)

    def haiku_plan(self, cache: PromptCache | None = None) -> list[PlannedPrompt]:
        """The Claude requests this run would send, one per scene, each marked ``reused``
        when its prompt is in the output folder's cache or repeats an earlier scene's.
        Empty when the run does not use Claude.
        """
        if self.model is None:
            return []
        if cache is None:
            # Quietly: the run itself warns about an unreadable cache line, once.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ScenewrightWarning)
                cache = PromptCache(self.out_dir / CACHE_FILENAME)
        seen: set[str] = set()
        plan: list[PlannedPrompt] = []
        for scene in self.scenes:
            key = self._key(scene, "haiku")
            plan.append(
                PlannedPrompt(
                    chapter=scene.chapter,
                    chapter_title=scene.chapter_title,
                    index=scene.index,
                    request=build_haiku_request(
                        scene.sentence, scene.context, self.characters, self.model
                    ),
                    reused=key in seen or cache.get(key) is not None,
                )
            )
            seen.add(key)
        return plan

    def estimate(
        self, *, offline: bool = True, on_counted: Callable[[], None] | None = None
    ) -> Estimate | None:
        """What this run's Claude prompts will cost (see ``scenewright.estimate``); None
        when it uses no Claude. ``offline`` sends nothing; otherwise Anthropic's free
        token-counting endpoint counts the input tokens when a key is set.
        """
        if self.model is None:
            return None
        return estimate_plan(self.haiku_plan(), self.model, offline=offline, on_counted=on_counted)

    def _check_budget(self, active: list[str]) -> None:
        """Before anything is written or spent: estimate the Claude prompts, and refuse a
        run whose estimate does not fit its --budget or --max-total.
        """
        self.estimate_result = None
        self._budget = None
        if "haiku" not in active or self.model is None:
            return
        # Offline, so that a run starts at once; `scenewright estimate` counts exactly.
        estimate = self.estimate_result = self.estimate()
        limits = self.options.limits
        if estimate is None or not limits.active:
            return
        external = self._external_tracker
        costs_dir = external.costs_dir if external is not None else None
        # Journals of killed runs are money spent: fold them in before reading the total.
        for folded in fold_orphaned_journals(costs_dir):
            if folded.added_calls:
                warnings.warn(
                    f"An earlier session, {folded.session_name!r} (started "
                    f"{folded.timestamp}), ended without saving its costs. Its "
                    f"{folded.added_calls} unsaved API call(s), "
                    f"{format_usd(folded.added_cost_usd)} USD, are now in the ledger.",
                    ScenewrightWarning,
                    stacklevel=3,
                )
        spent = external.session_cost if external is not None else Decimal(0)
        budget = SessionBudget(
            limits,
            self.model,
            ledger_total=Decimal(Ledger(costs_dir).read()["total_cost_usd"]),
            spent_at_start=spent,
        )
        budget.check_start(
            estimate.cost(),
            prompts=estimate.total.prompts,
            spent=spent,
            fewer="illustrate fewer chapters with --chapters",
        )
        self._budget = budget

    def _new_tracker(self) -> CostTracker:
        """This run's own tracker, which shows the estimate and budget in its summary."""
        tracker = CostTracker(self.session_name, model=self.model)
        if self.estimate_result is not None:
            tracker.estimate_usd = self.estimate_result.cost()
        if self.options.limits.budget is not None:
            tracker.budget_usd = self.options.limits.budget.amount
        return tracker

    def _check_call(self, scene: Scene, method: str, tracker: CostTracker | None) -> int:
        """Before a paid call: raise ``BudgetError`` if it could take the run past a limit.
        Returns the request's approximate input tokens, for ``_after_call``.
        """
        if method != "haiku" or self._budget is None or tracker is None:
            return 0
        request = build_haiku_request(scene.sentence, scene.context, self.characters, self.model)
        approximate = approximate_request_tokens(request)
        self._budget.check_call(
            spent=tracker.session_cost,
            input_tokens=self._budget.request_bound(request),
            max_output_tokens=request.max_tokens,
            where=f"sentence {scene.ref}",
        )
        return approximate

    def _after_call(
        self, method: str, approximate: int, result: PromptResult, tracker: CostTracker | None
    ) -> None:
        if method != "haiku" or self._budget is None or tracker is None:
            return
        usage = result.usage
        prompt_tokens = (
            usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
        )
        self._budget.observe(approximate, prompt_tokens)
        self._budget.after_call(tracker.session_cost)

    def _key(self, scene: Scene, method: str) -> str:
        message = build_user_message(scene.sentence, scene.context, self.characters)
        return prompt_key(
            method, self.model_for(method), INSTRUCTIONS_VERSION, SYSTEM_INSTRUCTIONS, message
        )

    def check_methods(self) -> dict[str, str]:
        """Check, before anything is spent, that each method can run here.

        A single-method run raises the method's error, with its fix. A compare run
        records each method that cannot run (method -> reason) and returns them.
        """
        self.unavailable = {}
        for method in self.methods:
            try:
                check_method(
                    method,
                    model=self.model_for(method),
                    client=self._client if method == "haiku" else None,
                )
            except ScenewrightError as error:
                if not self.compare:
                    raise
                self.unavailable[method] = str(error)
        self._checked = True
        return dict(self.unavailable)

    def _settings(self) -> dict[str, Any]:
        settings = asdict(self.options)
        settings["characters"] = str(self.options.characters) if self.options.characters else None
        settings["out_dir"] = str(self.out_dir)
        settings["render"] = asdict(self.render_settings) if self.render_settings else None
        return {
            "scenewright_version": __version__,
            "novel": str(self.novel_path),
            "novel_title": self.novel.title,
            "novel_author": self.novel.author,
            "session_name": self.session_name,
            "model": self.model,
            "ollama_model": self.ollama_model,
            "methods": list(self.methods),
            "instructions_version": INSTRUCTIONS_VERSION,
            "price_table_version": config.PRICE_TABLE_VERSION,
            "settings": settings,
        }

    def execute(self, on_entry: Callable[[Scene, PromptEntry], None] | None = None) -> RunResult:
        """Generate or reuse a prompt for every scene; always leave consistent files behind.

        Whatever happens (an API error, Ctrl+C), the prompts already paid for are in the
        cache, the manifest lists the finished entries, and the Haiku session is saved.
        """
        if not self._checked:
            self.check_methods()
        self._checked = False  # a later execute() checks again: a server may have stopped
        active = [m for m in self.methods if m not in self.unavailable]
        self._check_budget(active)
        with self._output_folder_lock():
            return self._execute(active, on_entry)

    @contextlib.contextmanager
    def _output_folder_lock(self) -> Iterator[None]:
        """One run at a time per output folder, so two runs never pay for the same prompts."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            lock = filelock.FileLock(str(self.out_dir / RUN_LOCK_FILENAME), timeout=0)
            lock.acquire()
        except filelock.Timeout:
            raise ConfigError(
                f"Another scenewright run is already writing to {self.out_dir}. Wait for it "
                "to finish, or give this run its own folder with --out."
            ) from None
        except OSError as error:
            raise ConfigError(
                f"Cannot write to the output folder {self.out_dir}: "
                f"{error.strerror or error}. Choose a folder you can write to with --out."
            ) from error
        try:
            yield
        finally:
            lock.release()

    def _execute(
        self, active: list[str], on_entry: Callable[[Scene, PromptEntry], None] | None
    ) -> RunResult:
        # The tracker first: it refuses an unwritable cost folder before anything is spent.
        owns_tracker = self._external_tracker is None and "haiku" in active
        tracker = self._new_tracker() if owns_tracker else self._external_tracker
        self.tracker = tracker
        earlier = self._earlier_entries()
        run_info = self._settings()
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        atomic_write_json(
            self.out_dir / SENTENCES_FILENAME,
            {
                "novel": str(self.novel_path),
                "title": self.novel.title,
                "author": self.novel.author,
                "encoding": self.novel.encoding,
                "chapters": [
                    {"number": c.number, "label": c.label, "title": c.title} for c in self.chapters
                ],
                "sentences": [s.to_json() for s in self.scenes],
            },
        )
        atomic_write_json(
            self.out_dir / RUN_FILENAME, {**run_info, "started": started, "status": "running"}
        )

        cache = PromptCache(self.out_dir / CACHE_FILENAME)
        result = RunResult(
            out_dir=self.out_dir,
            session_name=self.session_name,
            methods=self.methods,
            unavailable=self.unavailable,
        )
        status = "failed"
        try:
            for position, scene in enumerate(self.scenes):
                for method in list(active):
                    try:
                        entry = self._prompt_for(scene, method, cache, tracker)
                    except PromptError as error:
                        if not self.compare:
                            raise
                        after = len(self.scenes) - position - 1
                        self._failed(scene, method, error, result, active, after)
                        continue
                    result.entries.append(entry)
                    if on_entry is not None:
                        on_entry(scene, entry)
            result.complete = True
            status = COMPLETE_WITH_GAPS if result.empty_cells else "complete"
        except BudgetError:
            status = "stopped_at_budget"
            raise
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            result.status = status
            with _interrupts_deferred():
                if (
                    owns_tracker
                    and tracker is not None
                    and tracker.get_session_stats()["api_calls"]
                ):
                    # Saves the session and files its journal under .costs/calls/.
                    tracker.close(status=status)
                write_manifest(
                    self.out_dir,
                    [*earlier, *result.entries],
                    run=run_info,
                    complete=result.complete,
                    failures=result.failures,
                    unavailable=self.unavailable,
                )
                if self.compare:
                    result.comparison = self._write_comparison(result, run_info)
                atomic_write_json(
                    self.out_dir / RUN_FILENAME,
                    {
                        **run_info,
                        "started": started,
                        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "status": status,
                        "prompts": len(result.entries),
                        "generated": result.generated,
                        "reused": result.reused,
                        "empty_cells": result.empty_cells,
                    },
                )
        if self.render_settings is not None:
            self._render(result, self.render_settings)
        else:
            result.storyboard = self._write_storyboard()
        return result

    def _render(self, result: RunResult, settings: RenderSettings) -> None:
        """The render stage: an image for each of this run's prompts (``scenewright.render``).

        ``run.json`` gets the stage's settings and every sentence's seed, and the storyboard
        is written, however the stage ends.
        """
        # Imported here: the storyboard is only written once prompts exist.
        from scenewright.render import read_images_manifest, render_images, run_record

        status = "failed"
        try:
            result.images = render_images(
                self.out_dir,
                settings,
                only={entry.key for entry in result.entries},
                progress=self.render_progress,
            )
            status = "complete" if result.images.complete else "incomplete"
            if status == "complete" and result.status == COMPLETE_WITH_GAPS:
                status = COMPLETE_WITH_GAPS  # every image, but not every prompt
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            result.status = status
            with _interrupts_deferred():
                record = read_json(self.out_dir / RUN_FILENAME)
                record["status"] = status
                record["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                record["render"] = run_record(read_images_manifest(self.out_dir))
                atomic_write_json(self.out_dir / RUN_FILENAME, record)
                result.storyboard = self._write_storyboard()

    def _write_storyboard(self) -> Path:
        from scenewright.storyboard import write_storyboard

        return write_storyboard(self.out_dir)

    def _earlier_entries(self) -> list[PromptEntry]:
        """Entries of this novel's other chapters from earlier runs into the same folder.

        Illustrating chapter 2 after chapter 1 keeps chapter 1 in ``prompts.json``; the
        chapters of this run are written afresh.
        """
        try:
            manifest = read_manifest(self.out_dir)
            if manifest.get("run", {}).get("novel") != str(self.novel_path):
                return []
            entries = entries_from_json(manifest.get("entries", []))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return []  # no manifest yet, or one we cannot read: it is rewritten below
        ours = {c.number for c in self.chapters}
        return [e for e in entries if e.chapter not in ours and e.method in self.methods]

    def _failed(
        self,
        scene: Scene,
        method: str,
        error: PromptError,
        result: RunResult,
        active: list[str],
        after: int,
    ) -> None:
        """Record a compare run's failed cell. A failure for this sentence (a 400, a 500
        after retries, an empty or refused reply) empties this cell only. A method that
        cannot work at all any more (``METHOD_DOWN``) is left out for the rest of the run,
        as every further call would fail the same way, and some take minutes to: a warning
        says from which sentence on, and how many cells that leaves empty.
        """
        model = self.model_for(method)
        result.failures.append(
            PromptFailure(scene.chapter, scene.index, scene.sentence, method, model, str(error))
        )
        if not isinstance(error, METHOD_DOWN):
            return
        active.remove(method)
        result.left_out[method] = (scene.ref, after)
        self.unavailable[method] = f"left out from sentence {scene.ref} on: {error}"
        warnings.warn(
            f"{method} stopped working at sentence {scene.ref}, so it is left out of the rest "
            f"of this run: its cells from sentence {scene.ref} on ({after + 1}) are empty. "
            f"{error}",
            ScenewrightWarning,
            stacklevel=4,
        )

    def _write_comparison(self, result: RunResult, run_info: dict[str, Any]) -> Path:
        # Imported here: only compare runs need it.
        from scenewright.comparison import build_rows, write_comparison

        models = {method: self.model_for(method) for method in self.methods}
        rows = build_rows(
            self.scenes,
            self.methods,
            result.entries,
            failures=result.failures,
            unavailable=self.unavailable,
            models=models,
        )
        html_path, _ = write_comparison(
            self.out_dir,
            rows,
            self.methods,
            run=run_info,
            models=models,
            unavailable=self.unavailable,
            complete=result.complete,
        )
        return html_path

    def _prompt_for(
        self, scene: Scene, method: str, cache: PromptCache, tracker: CostTracker | None
    ) -> PromptEntry:
        key = self._key(scene, method)
        cached = cache.get(key) if method in CACHED_METHODS else None
        if cached is None:
            approximate = self._check_call(scene, method, tracker)
            started = time.perf_counter()
            result = generate_prompt(
                scene.sentence,
                method=method,
                context=scene.context,
                characters=self.characters,
                model=self.model_for(method),
                cost_tracker=tracker,
                client=self._client,
            )
            self._after_call(method, approximate, result, tracker)
            cached = CachedPrompt(
                key=key,
                method=method,
                model=result.model,
                prompt=result.prompt,
                input_tokens=result.usage.input_tokens,
                output_tokens=result.usage.output_tokens,
                cost_usd=result.cost_usd,
                duration_s=round(result.duration_s or time.perf_counter() - started, 4),
                response_id=result.response_id,
            )
            if method in CACHED_METHODS:
                cache.add(cached)
            reused = False
        else:
            reused = True
        return PromptEntry(
            chapter=scene.chapter,
            chapter_title=scene.chapter_title,
            index=scene.index,
            sentence=scene.sentence,
            method=method,
            model=cached.model,
            prompt=cached.prompt,
            input_tokens=cached.input_tokens,
            output_tokens=cached.output_tokens,
            cost_usd=cached.cost_usd,
            duration_s=cached.duration_s,
            response_id=cached.response_id,
            reused=reused,
            key=key,
        )


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold back Ctrl+C while the run's records are written, then deliver it.

    A second Ctrl+C during the final writes would otherwise leave the ledger unsaved and
    the manifest behind the cache. Only the main thread can install signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        pending.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def illustrate(
    novel_path: str | os.PathLike[str],
    options: IllustrateOptions | None = None,
    *,
    cost_tracker: CostTracker | None = None,
    client: anthropic.Anthropic | None = None,
    on_entry: Callable[[Scene, PromptEntry], None] | None = None,
) -> RunResult:
    """Read ``novel_path`` and write one prompt per selected sentence; see ``IllustrationRun``."""
    run = IllustrationRun(novel_path, options, cost_tracker=cost_tracker, client=client)
    return run.execute(on_entry)
