"""The spend chart: Claude spend per day or month as bars, and the running total as a line.

matplotlib is the optional extra ``scenewright[charts]``. It is imported only here, and only
when a chart is drawn, so that the command starts fast and works without it; it draws with
the Agg backend into memory, so no display, GUI toolkit or pyplot state is involved.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from scenewright.errors import ConfigError, MissingDependencyError
from scenewright.fileio import fsync_dir, replace_file
from scenewright.reports import NO_DATE, Group

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["PNG_SIGNATURE", "chart_periods", "write_spend_chart"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Inches at 100 dots per inch: 1000 x 500 pixels, readable on a laptop screen.
_SIZE = (10.0, 5.0)
_DPI = 100
_BAR_COLOUR = "#8fb8de"
_LINE_COLOUR = "#c0392b"


def chart_periods(groups: Sequence[Group], by: str) -> tuple[Decimal, list[tuple[date, Decimal]]]:
    """What the chart draws from ``group_sessions(rows, by)``: the spend with no date (the
    running total starts from it), and each dated period's first day and spend, in order.
    """
    if by not in ("day", "month"):
        raise ConfigError(f"The chart shows spend over time: use --by day or --by month, not {by}.")
    undated = Decimal(0)
    periods: list[tuple[date, Decimal]] = []
    for group in groups:
        if group.key == NO_DATE:
            undated += group.totals.cost_usd
            continue
        key = group.key if by == "day" else f"{group.key}-01"
        periods.append((date.fromisoformat(key), group.totals.cost_usd))
    return undated, periods


def _places(largest: float) -> int:
    # A hobbyist's spend is often a fraction of a cent: show enough decimals to tell bars apart.
    if largest >= 1:
        return 2
    if largest >= 0.01:
        return 4
    return 6


def _money_axis(axes: Axes, largest: float) -> None:
    from matplotlib.ticker import FuncFormatter

    places = _places(largest)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"${value:,.{places}f}"))


def _draw(groups: Sequence[Group], by: str, title: str) -> bytes:
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "Drawing the chart needs matplotlib, which is not installed. Install it with "
            '`pip install "scenewright[charts]"` (or `pip install matplotlib`), then run the '
            "same command again. The reports (`scenewright costs report`) need nothing extra."
        ) from None
    del matplotlib  # imported above only to say clearly when it is missing
    # The Agg canvas directly, never pyplot: no display, no GUI toolkit, no global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure

    undated, periods = chart_periods(groups, by)
    figure = Figure(figsize=_SIZE, dpi=_DPI)
    FigureCanvasAgg(figure)
    bars = figure.add_subplot()
    bars.set_title(title)
    if not periods:
        bars.set_axis_off()
        bars.text(
            0.5,
            0.5,
            "No Claude spend recorded yet",
            ha="center",
            va="center",
            fontsize=14,
            transform=bars.transAxes,
        )
    else:
        first_days = [datetime.combine(start, datetime.min.time()) for start, _ in periods]
        spend = [float(amount) for _, amount in periods]
        running: list[float] = []
        total = undated
        for _, amount in periods:
            total += amount
            running.append(float(total))
        # A bar spans its period; the running total is reached at each period's end.
        # matplotlib's date numbers count days, so widths are in days.
        if by == "day":
            width = 0.8
            last_days = [start + timedelta(days=1) for start in first_days]
        else:
            width = 26.0
            last_days = [
                datetime(start.year + start.month // 12, start.month % 12 + 1, 1)
                for start in first_days
            ]
        starts = [float(day) for day in date2num(first_days)]  # type: ignore[no-untyped-call]
        ends = [float(day) for day in date2num(last_days)]  # type: ignore[no-untyped-call]
        bars.bar(starts, spend, width=width, align="edge", color=_BAR_COLOUR, label=f"per {by}")
        bars.set_ylabel(f"USD per {by}")
        _money_axis(bars, max(spend))
        line = bars.twinx()
        # A step: the total holds between periods and rises at the end of each one.
        line.plot(
            [starts[0], *ends],
            [float(undated), *running],
            drawstyle="steps-post",
            color=_LINE_COLOUR,
            marker="o" if len(ends) <= 60 else None,
            markersize=3,
            linewidth=2,
            label="cumulative",
        )
        line.set_ylabel("Cumulative USD")
        line.set_ylim(bottom=0)
        bars.set_ylim(bottom=0)
        _money_axis(line, max(running))
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        bars.xaxis.set_major_locator(locator)
        bars.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        handles = bars.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
        bars.legend(handles=handles, loc="upper left")
        bars.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def write_spend_chart(groups: Sequence[Group], by: str, path: Path, *, title: str) -> Path:
    """Draw the chart of ``groups`` (by ``day`` or ``month``) into the PNG file ``path``.

    The file is replaced atomically, so an existing chart is never left half-written.
    """
    if path.suffix.lower() != ".png":
        raise ConfigError(f"The chart is a PNG image: give a file name ending in .png, not {path}.")
    data = _draw(groups, by, title)
    folder = path.parent if str(path.parent) else Path()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            replace_file(Path(temporary), path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            raise
    except OSError as error:
        raise ConfigError(
            f"Cannot write the chart to {path}: {error.strerror or error}. Choose a folder you "
            "can write to with -o."
        ) from error
    fsync_dir(folder)
    return path
