"""The ``scenewright`` command: a thin shell over the library.

Results go to stdout; progress, warnings and errors go to stderr. Every error a user
can cause is a ``click.ClickException`` with the fix in its text, never a traceback.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from scenewright import __version__, config, cost_tracker
from scenewright.errors import ScenewrightError
from scenewright.fileio import dumps_json
from scenewright.ledger import fold_orphaned_journals, repair_ledger
from scenewright.manifest import PromptEntry
from scenewright.pipeline import IllustrateOptions, IllustrationRun
from scenewright.prompt_generator import METHODS
from scenewright.scenes import Scene
from scenewright.usage import format_usd

F = TypeVar("F", bound=Callable[..., Any])

# Exit status for a run stopped with Ctrl+C, as shells report SIGINT.
EXIT_INTERRUPTED = 130


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    click.secho(f"Warning: {message}", fg="yellow", err=True)


def handle_errors(func: F) -> F:
    """Turn scenewright's own errors into clean messages, and Ctrl+C into a short note."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ScenewrightError as exc:
            raise click.ClickException(str(exc)) from exc
        except KeyboardInterrupt:
            click.echo(
                "\nInterrupted. Everything finished so far is saved; run the same command "
                "again to continue where it stopped.",
                err=True,
            )
            sys.exit(EXIT_INTERRUPTED)

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
    warnings.showwarning = _show_warning


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
    type=click.Choice(METHODS),
    default="keyword",
    show_default=True,
    help="How each prompt is written: keyword (local, free) or haiku (Claude, paid).",
)
@click.option("--dry-run", is_flag=True, help="Write and print the prompts only; render no images.")
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
@click.option("--quiet", "-q", is_flag=True, help="Do not print each prompt.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest summary as JSON.")
@handle_errors
def illustrate(
    novel: Path | None,
    sample: bool,
    chapters: str | None,
    llm: str,
    dry_run: bool,
    out_dir: Path | None,
    characters: Path | None,
    model: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Write one Stable Diffusion XL prompt per sentence of NOVEL.

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
    )
    run = IllustrationRun(novel, options)
    click.echo(
        f"{run.novel.title or novel.name}: {len(run.chapters)} chapter(s), "
        f"{len(run.scenes)} sentence(s), method {llm}" + (f" ({run.model})" if run.model else ""),
        err=True,
    )
    show_prompts = not quiet and not as_json

    def on_entry(scene: Scene, entry: PromptEntry) -> None:
        tick()
        if show_prompts:
            _echo_above_bar(f"[{scene.ref}] {entry.prompt}")

    bar_enabled = sys.stderr.isatty() and not as_json
    try:
        with _progress(len(run.scenes), bar_enabled) as tick:
            result = run.execute(on_entry)
    finally:
        if run.tracker is not None:
            # The design document's summary, also after an error: that money was spent.
            with _stdout_to(sys.stderr if as_json else sys.stdout):
                run.tracker.print_summary()
    click.echo(
        f"{len(result.entries)} prompt(s): {result.generated} new, {result.reused} reused. "
        f"Manifest: {result.out_dir / 'prompts.json'}",
        err=True,
    )
    if as_json:
        from scenewright.manifest import read_manifest

        manifest = read_manifest(result.out_dir)
        dump_json(
            {
                "out_dir": str(result.out_dir),
                "complete": manifest["complete"],
                "summary": manifest["summary"],
            }
        )


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


def _fold_journals() -> int:
    """Count sessions whose process was killed before showing any figure."""
    folded = fold_orphaned_journals()
    for session in folded:
        click.echo(
            f"Recovered interrupted session {session.session_name!r}: "
            f"{session.added_calls} call(s), {format_usd(session.added_cost_usd)} USD "
            "added to the ledger.",
            err=True,
        )
    return len(folded)


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the totals as JSON.")
@click.pass_context
@handle_errors
def costs(ctx: click.Context, as_json: bool) -> None:
    """Show the cumulative Claude spend recorded in .costs/haiku_usage.json."""
    if ctx.invoked_subcommand == "repair":
        return  # repair folds journals itself, once the ledger is readable again
    _fold_journals()
    if ctx.invoked_subcommand is not None:
        return
    total_input, total_output, total_cost = cost_tracker.get_total_cost()
    if as_json:
        dump_json(
            {
                "ledger": str(config.ledger_path()),
                "total_input_tokens": total_input,
                "total_output_tokens": total_output,
                "total_tokens": total_input + total_output,
                "total_cost_usd": total_cost,
            }
        )
        return
    rule = "=" * 80
    click.echo(rule)
    click.echo("HAIKU API COST SUMMARY")
    click.echo(rule)
    click.echo("")
    click.echo("Cumulative Total (All Time):")
    click.echo(f"  Total Input Tokens: {total_input:,}")
    click.echo(f"  Total Output Tokens: {total_output:,}")
    click.echo(f"  Total Tokens: {total_input + total_output:,}")
    click.echo(f"  Total Cost: {format_usd(total_cost)} USD")
    click.echo("")
    click.echo(rule)
    click.echo(f"Ledger: {config.ledger_path()}", err=True)


@costs.command("history")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many recent sessions to show.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
@handle_errors
def costs_history(limit: int, as_json: bool) -> None:
    """List the most recent sessions, newest last (the document's print_cost_history)."""
    if as_json:
        dump_json(cost_tracker.load_sessions()[-limit:])
        return
    cost_tracker.print_cost_history(limit=limit)


@costs.command("repair")
@click.option(
    "--reset-corrupt",
    is_flag=True,
    help="Move unreadable parts aside into a dated backup and keep the rest.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was repaired as JSON.")
@handle_errors
def costs_repair(reset_corrupt: bool, as_json: bool) -> None:
    """Rebuild the ledger's totals from its sessions, and fold in interrupted sessions.

    The ledger is backed up before it is changed. Without --reset-corrupt, a file that
    cannot be read is left exactly as it is.
    """
    report = repair_ledger(reset_corrupt=reset_corrupt)
    recovered = _fold_journals()
    totals = cost_tracker.get_total_cost() if recovered else report.new_totals
    if as_json:
        dump_json(
            {
                "ledger": str(report.path),
                "existed": report.existed,
                "changed": report.changed,
                "sessions": report.sessions_kept,
                "sessions_set_aside": report.sessions_set_aside,
                "backup": str(report.backup) if report.backup else None,
                "recovered_sessions": recovered,
                "total_input_tokens": totals[0],
                "total_output_tokens": totals[1],
                "total_cost_usd": totals[2],
            }
        )
        return
    for line in report.lines():
        click.echo(line)
    if recovered:
        click.echo(
            f"Totals with the recovered sessions: {totals[0]:,} input tokens, "
            f"{totals[1]:,} output tokens, {format_usd(totals[2])} USD"
        )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="scenewright")
