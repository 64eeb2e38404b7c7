"""``scenewright costs ...`` and ``scenewright estimate``: a thin click shell over
:mod:`scenewright.reports`, :mod:`scenewright.charts` and :mod:`scenewright.estimate`.

Results go to stdout (a table, or ``--json`` / ``--csv`` for scripts); notes go to stderr.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from scenewright import config

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["costs", "estimate"]


def _handled(func: F) -> F:
    """``scenewright.cli.handle_errors``, looked up when the command runs: cli imports this
    module to add its commands, so importing cli here at import time would be circular.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from scenewright.cli import handle_errors

        return handle_errors(func)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _dump_json(data: Any) -> None:
    from scenewright.fileio import dumps_json

    click.echo(dumps_json(data))


def _echo_csv(headers: list[str], rows: Any) -> None:
    from scenewright.tables import csv_text

    click.echo(csv_text(headers, rows), nl=False)


def _one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise click.UsageError("Choose one of --json and --csv.")


def _date_bound(*, end: bool) -> Callable[[click.Context, click.Parameter, Any], date | None]:
    """A click callback reading ``YYYY-MM-DD``, or ``YYYY-MM``: that month's first day
    (``--since``) or its last (``--until``).
    """

    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> date | None:
        if value is None or isinstance(value, date):
            return value
        from scenewright.errors import ConfigError
        from scenewright.reports import parse_date_bound

        try:
            return parse_date_bound(str(value), end=end, option=param.opts[0])
        except ConfigError as error:
            raise click.BadParameter(str(error), ctx=ctx, param=param) from None

    return convert


def _filter_options(func: F) -> F:
    """--name, --since and --until, shared by every report that lists sessions."""
    func = click.option(
        "--until",
        callback=_date_bound(end=True),
        metavar="DATE",
        help="Only sessions started on or before DATE (YYYY-MM-DD, or YYYY-MM for the end "
        "of a month).",
    )(func)
    func = click.option(
        "--since",
        callback=_date_bound(end=False),
        metavar="DATE",
        help="Only sessions started on or after DATE (YYYY-MM-DD, or YYYY-MM for the start "
        "of a month). Dates are local, as the ledger records them.",
    )(func)
    func = click.option(
        "--name",
        "pattern",
        metavar="PATTERN",
        help="Only sessions whose name matches PATTERN, a glob: * is any text, ? one "
        "character, [abc] one of those characters (write a literal [ as [[]). Case and accent "
        "encoding do not matter; use '*chapters_1*' to match part of a name.",
    )(func)
    return func


def _selected(pattern: str | None, since: date | None, until: date | None) -> Any:
    from scenewright.reports import SessionFilter

    return SessionFilter(pattern, since, until)


def _fold_journals() -> int:
    """Fold in sessions whose process was killed, before any figure is shown."""
    from scenewright.ledger import fold_orphaned_journals
    from scenewright.usage import format_usd

    folded = fold_orphaned_journals()
    for session in folded:
        click.echo(
            f"Recovered interrupted session {session.session_name!r}: "
            f"{session.added_calls} call(s), {format_usd(session.added_cost_usd)} USD "
            "added to the ledger.",
            err=True,
        )
    return len(folded)


# --- scenewright costs -------------------------------------------------------------------------


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the totals as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the totals as CSV.")
@click.pass_context
@_handled
def costs(ctx: click.Context, as_json: bool, as_csv: bool) -> None:
    """Show the cumulative Claude spend recorded in .costs/haiku_usage.json.

    The subcommands list the sessions (history), total them by day, month, model or
    name (report), draw the spend over time (chart) and repair the ledger (repair).
    """
    if ctx.invoked_subcommand == "repair":
        return  # repair folds journals itself, once the ledger is readable again
    _fold_journals()
    if ctx.invoked_subcommand is not None:
        return
    _one_format(as_json, as_csv)
    from scenewright.ledger import Ledger
    from scenewright.reports import Totals, all_time_lines, load_sessions

    rows = load_sessions()
    totals = sum((row.totals for row in rows), Totals())
    dates = sorted(row.when for row in rows if row.when is not None)
    ledger = str(Ledger().path)
    if as_json:
        _dump_json(
            {
                "ledger": ledger,
                "sessions": len(rows),
                "first_session": dates[0].isoformat() if dates else None,
                "last_session": dates[-1].isoformat() if dates else None,
                "total_api_calls": totals.api_calls,
                "total_input_tokens": totals.input_tokens,
                "total_output_tokens": totals.output_tokens,
                "total_cache_creation_input_tokens": totals.cache_creation_input_tokens,
                "total_cache_read_input_tokens": totals.cache_read_input_tokens,
                "total_tokens": totals.total_tokens,
                "total_cost_usd": totals.cost_usd,
            }
        )
        return
    if as_csv:
        _echo_csv(
            [
                "sessions",
                "api_calls",
                "input_tokens",
                "output_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "total_tokens",
                "cost_usd",
            ],
            [
                [
                    len(rows),
                    totals.api_calls,
                    totals.input_tokens,
                    totals.output_tokens,
                    totals.cache_creation_input_tokens,
                    totals.cache_read_input_tokens,
                    totals.total_tokens,
                    totals.cost_usd,
                ]
            ],
        )
        return
    rule = "=" * 80
    for line in (
        rule,
        "HAIKU API COST SUMMARY",
        rule,
        "",
        *all_time_lines(totals, sessions=len(rows)),
        "",
        rule,
    ):
        click.echo(line)
    click.echo(f"Ledger: {ledger}", err=True)


@costs.command("history")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many of the most recent matching sessions to show.",
)
@click.option("--all", "show_all", is_flag=True, help="Show every matching session.")
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the sessions as CSV.")
@_handled
def costs_history(
    limit: int,
    show_all: bool,
    pattern: str | None,
    since: date | None,
    until: date | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """List the most recent sessions, newest last (the document's print_cost_history).

    With --json, each session is printed as the ledger holds it.
    """
    _one_format(as_json, as_csv)
    from scenewright.ledger import Ledger
    from scenewright.reports import Totals, history_csv, history_lines, load_sessions

    rows = load_sessions()
    selection = _selected(pattern, since, until)
    matching = selection.apply(rows)
    shown = matching if show_all else matching[-limit:]
    if as_json:
        _dump_json([dict(row.entry) for row in shown])
        return
    if as_csv:
        _echo_csv(*history_csv(shown))
        return
    all_time = sum((row.totals for row in rows), Totals())
    for line in history_lines(
        shown,
        matching=len(matching),
        all_time=all_time,
        ledger=str(Ledger().path),
        where=selection.describe(),
    ):
        click.echo(line)


@costs.command("report")
@click.option(
    "--by",
    type=click.Choice(("day", "month", "model", "name")),
    default="day",
    show_default=True,
    help="Total the sessions per day or month they started, per model, or per session name.",
)
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the groups as CSV (no total row).")
@_handled
def costs_report(
    by: str,
    pattern: str | None,
    since: date | None,
    until: date | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Total Claude spend per day, month, model or session name.

    Each group shows its sessions, calls, tokens by kind (input, output, cache writes and
    reads) and cost; days and months also show the running total.
    """
    _one_format(as_json, as_csv)
    from scenewright.ledger import Ledger
    from scenewright.reports import (
        group_sessions,
        load_sessions,
        report_csv,
        report_json,
        report_lines,
    )

    selection = _selected(pattern, since, until)
    rows = selection.apply(load_sessions())
    groups = group_sessions(rows, by)
    ledger = str(Ledger().path)
    if as_json:
        _dump_json(
            report_json(groups, by, sessions=len(rows), session_filter=selection, ledger=ledger)
        )
        return
    if as_csv:
        _echo_csv(*report_csv(groups, by))
        return
    for line in report_lines(
        groups, by, sessions=len(rows), where=selection.describe(), ledger=ledger
    ):
        click.echo(line)


@costs.command("chart")
@click.option(
    "--by",
    type=click.Choice(("day", "month")),
    default="day",
    show_default=True,
    help="One bar per day or per month.",
)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.png",
    help="The PNG file to write (replaced if it exists).",
)
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Also print the periods drawn, as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Also print the periods drawn, as CSV.")
@_handled
def costs_chart(
    by: str,
    output: Path,
    pattern: str | None,
    since: date | None,
    until: date | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Draw Claude spend over time into a PNG: bars per period, the running total as a line.

    Needs matplotlib: pip install "scenewright[charts]".
    """
    _one_format(as_json, as_csv)
    if output.suffix.lower() != ".png":
        from scenewright.errors import ConfigError

        # click turns `-o ''` into Path(''), which is `.`: say that no name was given.
        given = "-o is empty" if str(output) in ("", ".") else f"{output} does not end in .png"
        raise ConfigError(
            f"The chart is a PNG image, and {given}. Give a file name ending in .png, "
            "e.g. -o spend.png"
        )
    from scenewright.charts import write_spend_chart
    from scenewright.reports import group_sessions, load_sessions, report_csv, report_json

    selection = _selected(pattern, since, until)
    rows = selection.apply(load_sessions())
    groups = group_sessions(rows, by)
    where = selection.describe()
    title = f"Claude spend per {by}" + (f", sessions {where}" if where else "")
    path = write_spend_chart(groups, by, output, title=title)
    if not rows:
        click.echo("No sessions to draw: the chart says so.", err=True)
    click.echo(f"Chart: {path}", err=True)
    if as_json:
        data = report_json(groups, by, sessions=len(rows), session_filter=selection, ledger="")
        data.pop("ledger")
        _dump_json({"chart": str(path), **data})
    elif as_csv:
        _echo_csv(*report_csv(groups, by))


@costs.command("repair")
@click.option(
    "--reset-corrupt",
    is_flag=True,
    help="Move unreadable parts aside into a dated backup and keep the rest.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was repaired as JSON.")
@_handled
def costs_repair(reset_corrupt: bool, as_json: bool) -> None:
    """Rebuild the ledger's totals from its sessions, and fold in interrupted sessions.

    The ledger is backed up before it is changed. Without --reset-corrupt, a file that
    cannot be read is left exactly as it is.
    """
    from scenewright import cost_tracker
    from scenewright.ledger import repair_ledger
    from scenewright.usage import format_usd

    report = repair_ledger(reset_corrupt=reset_corrupt)
    recovered = _fold_journals()
    totals = cost_tracker.get_total_cost() if recovered else report.new_totals
    if as_json:
        _dump_json(
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


# --- scenewright estimate ----------------------------------------------------------------------


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr while tokens are counted, when stderr is a terminal."""
    if not enabled or not total:
        yield lambda: None
        return
    from tqdm import tqdm

    with tqdm(
        total=total, unit="request", desc="Counting tokens", file=sys.stderr, leave=False
    ) as bar:

        def tick() -> None:
            bar.update(1)

        yield tick


@click.command()
@click.argument(
    "novel", required=False, type=click.Path(dir_okay=False, path_type=Path), metavar="NOVEL"
)
@click.option("--sample", is_flag=True, help="Estimate the bundled sample story.")
@click.option(
    "--chapters",
    metavar="SPEC",
    help="Chapters by position, as for illustrate: 1 or 1,3-5 or 2-. Default: all.",
)
@click.option(
    "--characters",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The character sheet illustrate would use: its descriptions are part of each request.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The output folder illustrate would use; prompts already in its cache cost nothing. "
    f"Default: {config.DEFAULT_OUTPUT_DIR}/<novel file name>.",
)
@click.option(
    "--model",
    metavar="ID",
    help=f"Claude model to price. Default: {config.DEFAULT_HAIKU_MODEL}.",
)
@click.option("--batch", is_flag=True, help="Give the estimate at Message Batches rates (50% off).")
@click.option(
    "--cache",
    is_flag=True,
    help="Give the estimate with the shared instructions read from the prompt cache.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Approximate input tokens here instead of asking Anthropic's token counter.",
)
@click.option(
    "--sentences",
    type=click.IntRange(min=0),
    metavar="N",
    help="The design document's arithmetic instead of a novel: N prompts of the same size.",
)
@click.option(
    "--input-tokens",
    type=click.IntRange(min=0),
    metavar="A",
    help=f"With --sentences: input tokens per prompt. "
    f"Default: {config.ESTIMATE_TYPICAL_INPUT_TOKENS}.",
)
@click.option(
    "--output-tokens",
    type=click.IntRange(min=0),
    metavar="B",
    help=f"With --sentences: output tokens per prompt. "
    f"Default: {config.HAIKU_TYPICAL_OUTPUT_TOKENS}.",
)
@click.option(
    "--cached-tokens",
    type=click.IntRange(min=0),
    metavar="C",
    help="With --sentences: of the input tokens, how many are read from the prompt cache.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the estimate as CSV.")
@_handled
def estimate(
    novel: Path | None,
    sample: bool,
    chapters: str | None,
    characters: Path | None,
    out_dir: Path | None,
    model: str | None,
    batch: bool,
    cache: bool,
    offline: bool,
    sentences: int | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cached_tokens: int | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Estimate what illustrating NOVEL with Claude (--llm haiku) will cost, before paying.

    It builds the very requests illustrate would send and counts their input tokens with
    Anthropic's free token-counting endpoint when ANTHROPIC_API_KEY is set, or approximates
    them offline. It prints prompts, tokens and cost at standard, batch and cached rates,
    per chapter and in all.

    With --sentences N (and --input-tokens, --output-tokens) it does the design document's
    arithmetic instead: `scenewright estimate --sentences 600 --model
    claude-3-5-haiku-20241022` gives the document's $0.504.
    """
    _one_format(as_json, as_csv)
    from scenewright import pricing

    chosen = (model or config.DEFAULT_HAIKU_MODEL).strip()
    pricing.check_model(chosen)
    if sentences is not None:
        novel_options = {
            "NOVEL": novel is not None,
            "--sample": sample,
            "--chapters": chapters is not None,
            "--characters": characters is not None,
            "--out": out_dir is not None,
            "--offline": offline,
        }
        clash = [name for name, given in novel_options.items() if given]
        if clash:
            raise click.UsageError(
                f"--sentences estimates N prompts of a given size, without a novel: leave out "
                f"{', '.join(clash)}, or leave out --sentences to estimate the novel itself."
            )
        if cache:
            raise click.UsageError(
                "With --sentences, say how many input tokens are read from the cache with "
                "--cached-tokens C instead of --cache."
            )
        _envelope(
            sentences,
            config.ESTIMATE_TYPICAL_INPUT_TOKENS if input_tokens is None else input_tokens,
            config.HAIKU_TYPICAL_OUTPUT_TOKENS if output_tokens is None else output_tokens,
            cached_tokens or 0,
            chosen,
            batch=batch,
            as_json=as_json,
            as_csv=as_csv,
        )
        return
    envelope_only = {
        "--input-tokens": input_tokens,
        "--output-tokens": output_tokens,
        "--cached-tokens": cached_tokens,
    }
    stray = [name for name, value in envelope_only.items() if value is not None]
    if stray:
        raise click.UsageError(f"{', '.join(stray)} go with --sentences N.")
    if sample == (novel is not None):
        raise click.UsageError(
            "Give a NOVEL file, or --sample for the bundled story (not both), or --sentences N "
            "for the design document's arithmetic."
        )
    from scenewright.cli import sample_paths
    from scenewright.pipeline import IllustrateOptions, IllustrationRun

    if sample:
        novel, sheet = sample_paths()
        characters = characters or sheet
        out_dir = out_dir or Path(config.DEFAULT_OUTPUT_DIR) / "sample"
    assert novel is not None
    run = IllustrationRun(
        novel,
        IllustrateOptions(
            chapters=chapters,
            llm="haiku",
            model=chosen,
            characters=characters,
            out_dir=out_dir,
            dry_run=True,
        ),
    )
    to_count = sum(1 for item in run.haiku_plan() if not item.reused)
    with _progress(to_count, sys.stderr.isatty() and not offline) as tick:
        result = run.estimate(offline=offline, on_counted=tick)
    assert result is not None
    if as_json:
        _dump_json(
            {
                "novel": str(novel),
                "title": run.novel.title,
                "chapters_selected": [c.number for c in run.chapters],
                "out_dir": str(run.out_dir),
                **result.to_json(batch=batch, cache=cache),
            }
        )
        return
    if as_csv:
        _echo_csv(*result.csv_rows())
        return
    numbers = ", ".join(str(chapter.number) for chapter in run.chapters)
    which = "all chapters" if chapters is None else f"chapter(s) {numbers}"
    title = f"Estimate for {run.novel.title or novel.name}, {which} ({len(run.scenes):,} sentences)"
    for line in result.lines(title=title, batch=batch, cache=cache):
        click.echo(line)


def _envelope(
    sentences: int,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int,
    model: str,
    *,
    batch: bool,
    as_json: bool,
    as_csv: bool,
) -> None:
    from scenewright.estimate import back_of_envelope

    if cached_tokens > input_tokens:
        raise click.UsageError(
            f"--cached-tokens {cached_tokens} is more than --input-tokens {input_tokens}: the "
            "cached tokens are part of the input."
        )
    result = back_of_envelope(
        sentences, input_tokens, output_tokens, model, batch=batch, cached_tokens=cached_tokens
    )
    if as_json:
        _dump_json(result.to_json())
    elif as_csv:
        _echo_csv(*result.csv_rows())
    else:
        for line in result.lines():
            click.echo(line)
