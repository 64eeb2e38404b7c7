"""The ``scenewright`` command: a thin shell over the library.

Results go to stdout; progress, warnings and errors go to stderr. Every error a user
can cause is a ``click.ClickException`` with the fix in its text, never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from scenewright import __version__, config, cost_tracker
from scenewright.budget import resolve_limits
from scenewright.cli_costs import costs, estimate
from scenewright.comparison import (
    Cell,
    context_from_passage,
    describe_cost,
    describe_tokens,
    run_method,
)
from scenewright.errors import ScenewrightError, ScenewrightWarning
from scenewright.fileio import dumps_json
from scenewright.manifest import PromptEntry
from scenewright.pipeline import LLM_CHOICES, IllustrateOptions, IllustrationRun, RunResult
from scenewright.prompt_generator import (
    METHODS,
    check_method,
    haiku_model_name,
    ollama_model_name,
    without_controls,
)
from scenewright.render import RenderReport, RenderSettings, TqdmRenderProgress
from scenewright.scenes import Scene

F = TypeVar("F", bound=Callable[..., Any])

# Exit status for a run stopped with Ctrl+C, as shells report SIGINT.
EXIT_INTERRUPTED = 130
# Exit status for a --llm compare run that went through but left cells empty.
EXIT_GAPS = 3
# What Ctrl+C leaves behind, said when it stops a command: illustrate (and the others)
# resume from their files; compare keeps nothing but the ledger's record of what it paid.
INTERRUPTED = (
    "Interrupted. Everything finished so far is saved; run the same command again to "
    "continue where it stopped."
)
COMPARE_INTERRUPTED = (
    "Interrupted. scenewright compare keeps no prompts: run the command again to start "
    "over. Any Claude call already made is recorded in the cost ledger (session "
    f"{config.COMPARE_SESSION_NAME!r})."
)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    text = click.style(f"Warning: {message}", fg="yellow")
    bars = sys.modules.get("tqdm")
    if bars is not None and getattr(bars.tqdm, "_instances", None):
        # A progress bar is on the screen (rendering warns mid-run): print above it.
        bars.tqdm.write(text, file=sys.stderr)
        return
    click.echo(text, err=True)


def handle_errors(func: F) -> F:
    """Turn scenewright's own errors into clean messages, and Ctrl+C into a short note."""
    return _handling_errors(func, INTERRUPTED)


def handle_errors_noting(interrupted: str) -> Callable[[F], F]:
    """``handle_errors``, with ``interrupted`` as the note after Ctrl+C."""

    def decorate(func: F) -> F:
        return _handling_errors(func, interrupted)

    return decorate


def _handling_errors(func: F, interrupted: str) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            # Warnings become one plain line on stderr for this command, and only for it.
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                warnings.simplefilter("always", ScenewrightWarning)
                return func(*args, **kwargs)
        except ScenewrightError as exc:
            raise click.ClickException(str(exc)) from exc
        except BrokenPipeError:
            # The reader went away (`scenewright costs history | head`): nothing to report.
            # What is still buffered for it would fail again at exit, so it goes nowhere.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except OSError as exc:
            # The file system said no somewhere we did not foresee: say where, not how.
            where = f" ({exc.filename})" if exc.filename else ""
            raise click.ClickException(
                f"{exc.strerror or exc}{where}. Check that the file or folder exists, is "
                "not in use by another program, and that you may write to it; or choose "
                "another place with --out or SCENEWRIGHT_COSTS_DIR."
            ) from exc
        except KeyboardInterrupt:
            click.echo(f"\n{interrupted}", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            # A bug of ours. Everything paid for is already on disk (ledger, journal and
            # cache are written as they go), so the user needs a sentence, not a traceback.
            if os.environ.get(config.DEBUG_ENV):
                raise
            raise click.ClickException(
                f"Unexpected error ({type(exc).__name__}: {exc}). What was done so far is "
                "saved, and running the same command again continues from there. This is a "
                "bug in scenewright: please report it with the command you ran; set "
                f"{config.DEBUG_ENV}=1 to see the details."
            ) from exc

    return wrapper  # type: ignore[return-value]


def dump_json(data: Any) -> None:
    click.echo(dumps_json(data))


def sample_paths() -> tuple[Path, Path]:
    """The bundled sample story and its character sheet."""
    base = resources.files("scenewright") / "data"
    return Path(str(base / "sample_story.txt")), Path(str(base / "sample_characters.yaml"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scenewright")
def cli() -> None:
    """Illustrate a novel scene by scene, and account for every token and cent spent.

    Start with `scenewright illustrate --sample --dry-run`.
    """


def _budget_options(func: F) -> F:
    """--budget and --max-total, for every command that can pay for Claude."""
    func = click.option(
        "--max-total",
        metavar="USD",
        help="Refuse to take the ledger's all-time Claude total past USD. Default: "
        f"${config.MAX_TOTAL_ENV} if set, else no limit; 'none' turns that off.",
    )(func)
    func = click.option(
        "--budget",
        metavar="USD",
        help="The most Claude may cost in this run, e.g. 0.50: a run estimated above it does "
        "not start, and a call that could pass it is not made. Default: "
        f"${config.BUDGET_ENV} if set, else no budget; 'none' turns that off.",
    )(func)
    return func


def _echo_estimate(run: IllustrationRun) -> None:
    """The estimate of a paid run, and its budget, before it starts."""
    if "haiku" not in run.methods or "haiku" in run.unavailable:
        return
    estimate = run.estimate()
    if estimate is None:
        return
    from scenewright.estimate import plain_usd

    limits = run.options.limits
    budget = f"; budget {limits.budget.describe()}" if limits.budget else ""
    # Every digit, as in the budget's messages: $0.0018005 is over a budget of $0.0018.
    click.echo(
        f"Estimated Claude cost: {plain_usd(estimate.cost(), places=6)} USD for "
        f"{estimate.total.prompts:,} new prompt(s), at most "
        f"{plain_usd(estimate.total.max_usd, places=6)} USD{budget}",
        err=True,
    )


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not enabled:
        yield lambda: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="sentence", file=sys.stderr, leave=False) as bar:

        def tick() -> None:
            bar.update(1)
            if bar.n >= total:
                bar.close()  # done: off the screen before the images' bars start

        yield tick


@cli.command()
@click.argument(
    "novel", required=False, type=click.Path(dir_okay=False, path_type=Path), metavar="NOVEL"
)
@click.option("--sample", is_flag=True, help="Use the bundled sample story and character sheet.")
@click.option(
    "--chapters",
    metavar="SPEC",
    help="Chapters to illustrate by position, e.g. 1 or 1,3-5 or 2-. Default: all.",
)
@click.option(
    "--llm",
    type=click.Choice(LLM_CHOICES),
    default="keyword",
    show_default=True,
    help="How each prompt is written: keyword (local, free), ollama (a local model, free), "
    "haiku (Claude, paid), or compare (all three side by side, with a comparison page).",
)
@click.option("--dry-run", is_flag=True, help="Write and print the prompts only; render no images.")
@click.option(
    "--sdxl-model",
    metavar="PATH|ID",
    default=config.DEFAULT_SDXL_MODEL,
    show_default=True,
    help="SDXL model to render with: a diffusers folder, a .safetensors file or a hub id.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=config.DEFAULT_SDXL_STEPS,
    show_default=True,
    help="Denoising steps per image, at most 1000 (20 to 60 is the useful range).",
)
@click.option(
    "--guidance",
    type=click.FloatRange(min=0),
    default=config.DEFAULT_SDXL_GUIDANCE,
    show_default=True,
    help="Guidance scale: how closely images follow their prompt.",
)
@click.option(
    "--width",
    type=int,
    default=config.DEFAULT_SDXL_WIDTH,
    show_default=True,
    help="Image width in pixels, a multiple of 8 up to 4096. SDXL's trained sizes frame best.",
)
@click.option(
    "--height",
    type=int,
    default=config.DEFAULT_SDXL_HEIGHT,
    show_default=True,
    help="Image height in pixels, a multiple of 8 up to 4096.",
)
@click.option(
    "--negative-prompt",
    metavar="TEXT",
    help="What no image should show, e.g. 'blurry, text, watermark'.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=config.DEFAULT_RENDER_SEED,
    show_default=True,
    help="Base seed: each image's seed comes from it, its chapter and its sentence.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=config.DEFAULT_RENDER_BATCH_SIZE,
    show_default=True,
    help="Images rendered at once; more is faster on a large GPU.",
)
@click.option(
    "--device",
    metavar="auto|cuda|mps|cpu",
    default="auto",
    show_default=True,
    help="Where to render: auto takes CUDA, then Apple's MPS, then the CPU.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Output folder. Default: {config.DEFAULT_OUTPUT_DIR}/<novel file name>.",
)
@click.option(
    "--characters",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML or JSON character sheet: name -> visual description.",
)
@click.option(
    "--model",
    metavar="ID",
    help=f"Claude model for --llm haiku. Default: {config.DEFAULT_HAIKU_MODEL}.",
)
@click.option(
    "--ollama-model",
    metavar="NAME",
    help=f"Ollama model for --llm ollama. Default: {config.DEFAULT_OLLAMA_MODEL}.",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not print each prompt.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest summary as JSON.")
@_budget_options
@handle_errors
def illustrate(
    novel: Path | None,
    sample: bool,
    chapters: str | None,
    llm: str,
    dry_run: bool,
    sdxl_model: str,
    steps: int,
    guidance: float,
    width: int,
    height: int,
    negative_prompt: str | None,
    seed: int,
    batch_size: int,
    device: str,
    out_dir: Path | None,
    characters: Path | None,
    model: str | None,
    ollama_model: str | None,
    quiet: bool,
    as_json: bool,
    budget: str | None,
    max_total: str | None,
) -> None:
    """Write one Stable Diffusion XL prompt per sentence of NOVEL, and render it.

    Images go to OUT/images, with images.json and a storyboard page (storyboard.html);
    rendering needs the images extra (pip install "scenewright[images]"). With --dry-run
    only the prompts are written.

    NOVEL is a plain-text file (UTF-8 or Windows-1252), such as a Project Gutenberg
    book. Prompts written by Claude (--llm haiku) are priced and recorded in
    .costs/haiku_usage.json, and reused instead of paid for again on the next run.
    """
    if sample == (novel is not None):
        raise click.UsageError("Give a NOVEL file, or --sample for the bundled story (not both).")
    if sample:
        novel, sheet = sample_paths()
        characters = characters or sheet
        out_dir = out_dir or Path(config.DEFAULT_OUTPUT_DIR) / "sample"
    assert novel is not None
    options = IllustrateOptions(
        chapters=chapters,
        llm=llm,
        model=model,
        characters=characters,
        out_dir=out_dir,
        dry_run=dry_run,
        render=RenderSettings(
            sdxl_model=sdxl_model,
            steps=steps,
            guidance=guidance,
            width=width,
            height=height,
            negative_prompt=negative_prompt,
            seed=seed,
            batch_size=batch_size,
            device=device,
        ),
        ollama_model=ollama_model,
        limits=resolve_limits(budget, max_total),
    )
    run = IllustrationRun(novel, options)
    used = ", ".join(
        f"{method} ({run.model_for(method)})" if run.model_for(method) else method
        for method in run.methods
    )
    click.echo(
        f"{run.novel.title or novel.name}: {len(run.chapters)} chapter(s), "
        f"{len(run.scenes)} sentence(s), method{'s' if run.compare else ''} {used}",
        err=True,
    )
    # Before anything is spent: one method alone fails here with its fix; compare reports
    # the methods that cannot run and goes on with the others.
    for method, reason in run.check_methods().items():
        click.secho(
            f"Warning: {method} is not available; the comparison goes on without it. {reason}",
            fg="yellow",
            err=True,
        )
    _echo_estimate(run)
    show_prompts = not quiet and not as_json

    def on_entry(scene: Scene, entry: PromptEntry) -> None:
        tick()
        if show_prompts:
            label = f"[{scene.ref}] {entry.method}: " if run.compare else f"[{scene.ref}] "
            _echo_above_bar(label + entry.prompt)

    bar_enabled = sys.stderr.isatty() and not as_json
    cells = len(run.scenes) * (len(run.methods) - len(run.unavailable))
    run.render_progress = TqdmRenderProgress(bars=bar_enabled, lines=show_prompts)
    finished = False
    try:
        with _progress(cells, bar_enabled) as tick:
            result = run.execute(on_entry)
        finished = True
    finally:
        tracker = run.tracker
        # The design document's summary, also after an error when money was spent; a run
        # that failed before its first paid call has nothing to sum up.
        if tracker is not None and (finished or tracker.get_session_stats()["api_calls"]):
            with _stdout_to(sys.stderr if as_json else sys.stdout):
                tracker.print_summary()
    click.echo(
        f"{len(result.entries)} prompt(s): {result.generated} new, {result.reused} reused. "
        f"Manifest: {result.out_dir / 'prompts.json'}",
        err=True,
    )
    for failure in result.failures:
        ref = f"{failure.chapter}.{failure.index}"
        # The sentence a method stopped working at: the cells after it are empty too.
        after = " or after" if result.left_out.get(failure.method, ("",))[0] == ref else ""
        click.secho(
            f"Warning: no {failure.method} prompt for sentence {ref}{after}. {failure.error}",
            fg="yellow",
            err=True,
        )
    if result.empty_cells:
        _echo_gaps(result)
    if result.comparison is not None:
        click.echo(f"Comparison: {result.comparison}", err=True)
    if result.images is not None:
        _echo_images(result.images)
    if result.storyboard is not None:
        click.echo(f"Storyboard: {result.storyboard}", err=True)
    if as_json:
        from scenewright.manifest import read_manifest

        manifest = read_manifest(result.out_dir)
        dump_json(
            {
                "out_dir": str(result.out_dir),
                "complete": manifest["complete"],
                "summary": manifest["summary"],
                "methods": list(result.methods),
                "unavailable": result.unavailable,
                "failures": [failure.to_json() for failure in result.failures],
                "comparison": str(result.comparison) if result.comparison else None,
                "images": result.images.summary() if result.images else None,
                "storyboard": str(result.storyboard) if result.storyboard else None,
                "status": result.status,
                "empty_cells": result.empty_cells,
            }
        )
    if result.empty_cells:
        sys.exit(EXIT_GAPS)


def _echo_gaps(result: RunResult) -> None:
    """How many cells of a compare run are empty, and why, method by method."""
    parts = []
    for method in result.methods:
        failed = sum(1 for failure in result.failures if failure.method == method)
        left_out = result.left_out.get(method)
        if left_out is not None:
            ref, after = left_out
            parts.append(f"{method}: {failed + after}, as it was left out from sentence {ref} on")
        elif failed:
            parts.append(f"{method}: {failed} failed sentence(s)")
    click.secho(
        f"Warning: {result.empty_cells} cell(s) of the comparison are empty "
        f"({'; '.join(parts)}): the run's status is {result.status}. Run the same command "
        "again to try them again: the prompts already written are reused.",
        fg="yellow",
        err=True,
    )


def _echo_images(report: RenderReport) -> None:
    missing = f", {report.missing} not rendered" if report.missing else ""
    click.echo(
        f"{report.total} image(s): {report.rendered} rendered, {report.skipped} already there"
        f"{missing}. Manifest: {report.manifest_path}",
        err=True,
    )
    if report.long_prompts:
        click.echo(
            f"{report.long_prompts} prompt(s) were longer than CLIP's "
            f"{config.CLIP_TOKEN_WINDOW}-token window; each was encoded in "
            f"{config.CLIP_TOKEN_WINDOW - 2}-token pieces, and nothing was cut.",
            err=True,
        )


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path), metavar="OUT_DIR")
@click.option("--json", "as_json", is_flag=True, help="Print what the page shows as JSON.")
@handle_errors
def storyboard(out_dir: Path, as_json: bool) -> None:
    """Rebuild OUT_DIR/storyboard.html from the run's manifests.

    OUT_DIR is the output folder of an illustrate run (its --out). The page opens in
    any browser from the file system: one section per chapter, each sentence with its
    image, prompt and method, and the tokens and cost of paid prompts.
    """
    from scenewright.storyboard import load_storyboard, write_storyboard

    board = load_storyboard(out_dir)
    path = write_storyboard(out_dir, board)
    counts = board.counts()
    if as_json:
        dump_json({"storyboard": str(path), **counts})
        return
    click.echo(
        f"{counts['sentences']} sentence(s), {counts['prompts']} prompt(s), "
        f"{counts['images']} image(s).",
        err=True,
    )
    click.echo(str(path))


def _echo_above_bar(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stdout)


@contextmanager
def _stdout_to(stream: TextIO) -> Iterator[None]:
    saved = sys.stdout
    sys.stdout = stream
    try:
        yield
    finally:
        sys.stdout = saved


@cli.command()
@click.argument("sentence", required=False, default=config.DEFAULT_COMPARE_SENTENCE)
@click.option(
    "--llm",
    type=click.Choice((*METHODS, "all")),
    default="all",
    show_default=True,
    help="The method to try, or all of them side by side.",
)
@click.option(
    "--characters",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML or JSON character sheet: name -> visual description.",
)
@click.option(
    "--context",
    "passage",
    metavar="TEXT",
    help="The passage SENTENCE comes from: the sentences just before and after it become "
    "its scene context, as illustrate takes them from the novel.",
)
@click.option("--chapter", "chapter_title", metavar="TITLE", default="", help="The chapter title.")
@click.option(
    "--model",
    metavar="ID",
    help=f"Claude model for haiku. Default: {config.DEFAULT_HAIKU_MODEL}.",
)
@click.option(
    "--ollama-model",
    metavar="NAME",
    help=f"Ollama model for ollama. Default: {config.DEFAULT_OLLAMA_MODEL}.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@_budget_options
@handle_errors_noting(COMPARE_INTERRUPTED)
def compare(
    sentence: str,
    llm: str,
    characters: Path | None,
    passage: str | None,
    chapter_title: str,
    model: str | None,
    ollama_model: str | None,
    as_json: bool,
    budget: str | None,
    max_total: str | None,
) -> None:
    """Write the prompt for one SENTENCE by each method, with its tokens, time and cost.

    SENTENCE defaults to "The robot stood in the factory.". Claude's cost is recorded
    in .costs/haiku_usage.json as the session test_prompt_comparison. With --llm all, a
    method that cannot run here is reported and the others still run.
    """
    if not sentence.strip():
        raise click.UsageError(
            "SENTENCE is empty. Give a sentence in quotes, or leave it out to use "
            f"{config.DEFAULT_COMPARE_SENTENCE!r}."
        )
    from scenewright.characters import load_characters

    methods = METHODS if llm == "all" else (llm,)
    strict = llm != "all"  # the method asked for alone must run, or the command fails
    sheet = load_characters(characters) if characters else {}
    context = context_from_passage(sentence, passage, chapter_title)
    # Only a missing --model or --ollama-model means the default; an empty one is an error.
    models = {
        "haiku": haiku_model_name(model) if "haiku" in methods else config.DEFAULT_HAIKU_MODEL,
        "ollama": ollama_model_name(ollama_model)
        if "ollama" in methods
        else config.DEFAULT_OLLAMA_MODEL,
    }
    unavailable: dict[str, str] = {}
    for method in methods:
        try:
            check_method(method, model=models.get(method))
        except ScenewrightError as error:
            if strict:
                raise
            unavailable[method] = str(error)
    if "haiku" in methods and "haiku" not in unavailable:
        # Before anything runs: one call whose estimate, or most, would pass a limit is refused.
        from scenewright.budget import check_single_request
        from scenewright.prompt_generator import build_haiku_request

        check_single_request(
            resolve_limits(budget, max_total),
            build_haiku_request(sentence, context, sheet, models["haiku"]),
            ledger_total=cost_tracker.get_total_cost()[2],
        )
    # Opened only when Claude will be called, so an unavailable Claude leaves no session.
    tracker = (
        cost_tracker.CostTracker(config.COMPARE_SESSION_NAME, model=models["haiku"])
        if "haiku" in methods and "haiku" not in unavailable
        else None
    )
    if not as_json:
        click.echo(f"Sentence: {without_controls(sentence)}")
    results: list[Cell] = []
    status = "failed"
    try:
        for method in methods:
            if method in unavailable:
                cell = Cell(
                    method, models.get(method), None, error=f"Not available: {unavailable[method]}"
                )
            else:
                cell = run_method(
                    sentence,
                    method,
                    context=context,
                    characters=sheet,
                    model=models.get(method),
                    cost_tracker=tracker,
                    strict=strict,
                    checked=True,
                )
            results.append(cell)
            if not as_json:
                _echo_cell(cell)
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if tracker is not None:
            if tracker.get_session_stats()["api_calls"]:
                tracker.close(status=status)
            # The design document's summary, also after an error: that money was spent.
            with _stdout_to(sys.stderr if as_json else sys.stdout):
                if not as_json:
                    click.echo("")
                tracker.print_summary()
    if as_json:
        dump_json(
            {
                "sentence": sentence,
                "context": {
                    "chapter_title": context.chapter_title,
                    "before": list(context.before),
                    "after": list(context.after),
                },
                "methods": list(methods),
                "results": [cell.to_json() for cell in results],
                "haiku_session": None
                if tracker is None
                else {
                    "session_name": tracker.session_name,
                    "api_calls": tracker.get_session_stats()["api_calls"],
                    "cost_usd": tracker.get_session_stats()["cost_usd"],
                },
            }
        )


def _echo_cell(cell: Cell) -> None:
    click.echo("")
    click.echo(cell.method + (f" ({cell.model})" if cell.model else ""))
    if cell.prompt is None:
        for line in (cell.error or "No prompt.").splitlines():
            click.echo(f"  {line}")
        return
    click.echo(f"  Prompt: {cell.prompt}")
    click.echo(f"  Tokens: {describe_tokens(cell.input_tokens, cell.output_tokens)}")
    click.echo(f"  Time:   {cell.duration_s:.3f} s")
    click.echo(f"  Cost:   {describe_cost(cell.method, cell.cost_usd)}")


# `scenewright costs ...` and `scenewright estimate` live in cli_costs.py.
cli.add_command(costs)
cli.add_command(estimate)


def main() -> None:
    """Console-script entry point."""
    # Output never crashes on encoding: a Windows console or a redirect in cp1252 (or any
    # PYTHONIOENCODING) shows a character it cannot encode as "?" instead of raising.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")
    cli(prog_name="scenewright")
