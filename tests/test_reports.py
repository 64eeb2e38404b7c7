"""`scenewright costs`, `costs history`, `costs report` and `costs chart` against ledgers built
here: an empty one, the design document's original format, a mixed one, and a long one.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from click.testing import CliRunner, Result

from scenewright.cli import cli
from scenewright.fileio import dumps_json
from scenewright.reports import (
    NO_DATE,
    NO_MODEL,
    SessionFilter,
    SessionRow,
    parse_date_bound,
    parse_timestamp,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

DOCUMENT_LEDGER = {
    "total_input_tokens": 15000,
    "total_output_tokens": 3000,
    "total_cost_usd": Decimal("0.024"),
    "sessions": [
        {
            "timestamp": "2024-01-15T14:30:00",
            "session_name": "generate_images_chapters_1",
            "input_tokens": 5000,
            "output_tokens": 1000,
            "api_calls": 10,
            "cost_usd": Decimal("0.008"),
        }
    ],
}


def model_part(
    calls: int, tokens_in: int, tokens_out: int, cost: str, write: int = 0, read: int = 0
) -> dict[str, Any]:
    return {
        "api_calls": calls,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
        "cost_usd": Decimal(cost),
    }


def session(
    when: str,
    name: str,
    calls: int,
    tokens_in: int,
    tokens_out: int,
    cost: str,
    *,
    write: int = 0,
    read: int = 0,
    models: dict[str, Any] | None = None,
    sid: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "timestamp": when,
        "session_name": name,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "api_calls": calls,
        "cost_usd": Decimal(cost),
    }
    if sid is not None:
        entry.update(
            session_id=sid,
            status="complete",
            cache_creation_input_tokens=write,
            cache_read_input_tokens=read,
        )
    if models is not None:
        entry["models"] = models
    return entry


MIXED_SESSIONS = [
    session(
        "2026-01-05T09:00:00",
        "generate_images_chapters_1",
        2,
        1000,
        200,
        "0.0002",
        sid="s1",
        models={"claude-haiku-5-5": model_part(2, 1000, 200, "0.0002")},
    ),
    session(
        "2026-01-05T18:30:00",
        "test_prompt_comparison",
        1,
        500,
        100,
        "0.0008",
        sid="s2",
        models={"claude-3-5-haiku-20241022": model_part(1, 500, 100, "0.0008")},
    ),
    session(
        "2026-02-10T12:00:00",
        "generate_images_chapters_2",
        3,
        2000,
        300,
        "0.0101",
        write=100,
        read=400,
        sid="s3",
        models={
            "claude-haiku-5-5": model_part(2, 1500, 200, "0.0001", write=100, read=400),
            "claude-sonnet-5-5": model_part(1, 500, 100, "0.01"),
        },
    ),
    # The design document's format: no id, no status, no models.
    session("2026-02-11T08:00:00", "Generate_Images_All_Chapters", 10, 5000, 1000, "0.008"),
]


def write_ledger(costs_dir: Path, sessions: list[dict[str, Any]], **totals: Any) -> None:
    data = {
        "total_input_tokens": totals.get(
            "total_input_tokens", sum(s["input_tokens"] for s in sessions)
        ),
        "total_output_tokens": totals.get(
            "total_output_tokens", sum(s["output_tokens"] for s in sessions)
        ),
        "total_cost_usd": totals.get("total_cost_usd", sum(s["cost_usd"] for s in sessions)),
        "sessions": sessions,
    }
    (costs_dir / "haiku_usage.json").write_text(dumps_json(data), encoding="utf-8")


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


def ok(*args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout, parse_float=Decimal)


def as_csv(*args: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(ok(*args, "--csv").stdout)))


# --- Dates and timestamps ---------------------------------------------------------------------


def test_date_bounds_and_timestamps() -> None:
    assert str(parse_date_bound("2026-02", end=False)) == "2026-02-01"
    assert str(parse_date_bound("2026-02", end=True)) == "2026-02-28"
    assert str(parse_date_bound("2024-02", end=True)) == "2024-02-29"
    assert str(parse_date_bound(" 2026-03-15 ", end=True)) == "2026-03-15"
    for bad in ("2026-13-01", "2026-02-30", "15/03/2026", "2026", "yesterday", "2026-13"):
        with pytest.raises(Exception, match="YYYY-MM-DD"):
            parse_date_bound(bad, end=False)
    assert parse_timestamp("2024-01-15T14:30:00") is not None
    assert parse_timestamp("not a time") is None
    utc = parse_timestamp("2026-01-05T09:00:00Z")
    assert utc is not None and utc.tzinfo is None  # converted to local time, as the ledger's


# --- An empty ledger --------------------------------------------------------------------------


def test_every_report_on_an_empty_ledger(costs_dir: Path, tmp_path: Path) -> None:
    assert "Total Cost: $0.000000 USD" in ok("costs").stdout
    assert as_json("costs")["sessions"] == 0
    assert as_csv("costs") == [
        {
            "sessions": "0",
            "api_calls": "0",
            "input_tokens": "0",
            "output_tokens": "0",
            "cache_creation_input_tokens": "0",
            "cache_read_input_tokens": "0",
            "total_tokens": "0",
            "cost_usd": "0",
        }
    ]
    assert "No Claude API usage" in ok("costs", "history").stdout
    assert as_json("costs", "history") == []
    assert as_csv("costs", "history") == []
    for by in ("day", "month", "model", "name"):
        assert "No Claude API usage" in ok("costs", "report", "--by", by).stdout
        report = as_json("costs", "report", "--by", by)
        assert report["groups"] == [] and report["total"]["cost_usd"] == 0
        assert as_csv("costs", "report", "--by", by) == []
    pytest.importorskip("matplotlib", reason='the charts extra: pip install -e ".[charts]"')
    chart = tmp_path / "empty.png"
    result = ok("costs", "chart", "-o", str(chart))
    assert "No sessions" in result.stderr
    assert chart.read_bytes().startswith(PNG_SIGNATURE)


# --- The design document's own ledger ---------------------------------------------------------


def test_reports_on_the_design_documents_ledger(costs_dir: Path) -> None:
    (costs_dir / "haiku_usage.json").write_text(dumps_json(DOCUMENT_LEDGER), encoding="utf-8")
    totals = as_json("costs")
    assert (totals["total_input_tokens"], totals["total_output_tokens"]) == (15000, 3000)
    assert totals["total_cost_usd"] == Decimal("0.024")
    # Money its totals hold beyond the one session is kept as an earlier, unitemised session.
    assert totals["sessions"] == 2
    history = ok("costs", "history").stdout
    assert "generate_images_chapters_1" in history and "(earlier usage" in history
    assert "Total Cost: $0.024000 USD" in history
    by_model = as_json("costs", "report", "--by", "model")
    assert [(g["model"], g["cost_usd"]) for g in by_model["groups"]] == [
        (NO_MODEL, Decimal("0.024"))
    ]
    by_day = as_json("costs", "report", "--by", "day")
    assert [(g["day"], g["sessions"], g["cost_usd"]) for g in by_day["groups"]] == [
        ("2024-01-15", 2, Decimal("0.024"))
    ]
    rows = as_csv("costs", "report", "--by", "month")
    assert [(r["month"], r["input_tokens"], r["cost_usd"]) for r in rows] == [
        ("2024-01", "15000", "0.024")
    ]


# --- A mixed ledger ---------------------------------------------------------------------------


def test_history_is_a_table_with_filters(costs_dir: Path) -> None:
    write_ledger(costs_dir, MIXED_SESSIONS)
    text = ok("costs", "history").stdout
    header = next(line for line in text.splitlines() if line.startswith("Started"))
    for column in ("Session", "Status", "Calls", "Input", "Output", "Cache write", "Cost (USD)"):
        assert column in header
    assert "last 4 of 4 sessions" in text
    assert "2026-02-10 12:00:00  generate_images_chapters_2" in text
    assert "Shown (4)" in text and "$0.019100" in text

    # --name is a case-insensitive glob over the whole name.
    named = as_json("costs", "history", "--name", "generate_images_*")
    assert [s["session_name"] for s in named] == [
        "generate_images_chapters_1",
        "generate_images_chapters_2",
        "Generate_Images_All_Chapters",
    ]
    assert as_json("costs", "history", "--name", "chapters_1") == []
    assert len(as_json("costs", "history", "--name", "*CHAPTERS_1*")) == 1
    # Dates: inclusive, by day or whole month, local as recorded.
    assert len(as_json("costs", "history", "--since", "2026-02")) == 2
    assert len(as_json("costs", "history", "--until", "2026-01")) == 2
    between = as_json("costs", "history", "--since", "2026-01-06", "--until", "2026-02-10")
    assert [s["session_id"] for s in between] == ["s3"]
    # --limit keeps the most recent matching sessions, --all shows every one.
    assert [s["session_name"] for s in as_json("costs", "history", "--limit", "1")] == [
        "Generate_Images_All_Chapters"
    ]
    assert len(as_json("costs", "history", "--limit", "1", "--all")) == 4
    filtered = ok("costs", "history", "--since", "2026-02").stdout
    assert "last 2 of 2 sessions since 2026-02-01" in filtered
    # Whatever is shown, the all-time totals stay all-time.
    assert "Total Cost: $0.019100 USD" in filtered

    rows = as_csv("costs", "history", "--all")
    assert [r["session_name"] for r in rows][-1] == "Generate_Images_All_Chapters"
    third = rows[2]
    assert third["models"] == "claude-haiku-5-5;claude-sonnet-5-5"
    assert (third["cache_creation_input_tokens"], third["cache_read_input_tokens"]) == (
        "100",
        "400",
    )
    assert third["total_tokens"] == str(2000 + 300 + 100 + 400)
    assert third["cost_usd"] == "0.0101"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--since", "2026-13-01"], "is not a date"),
        (["--until", "last week"], "YYYY-MM-DD"),
        (["--since", "2026-03", "--until", "2026-02"], "is before --since"),
        (["--json", "--csv"], "Choose one of --json and --csv"),
    ],
)
def test_bad_report_options_are_clear_errors(
    costs_dir: Path, args: list[str], expected: str
) -> None:
    write_ledger(costs_dir, MIXED_SESSIONS)
    for command in (["costs", "history"], ["costs", "report"]):
        result = invoke(*command, *args)
        assert result.exit_code in (1, 2)
        assert expected in result.output


def test_report_by_day_month_model_and_name(costs_dir: Path) -> None:
    write_ledger(costs_dir, MIXED_SESSIONS)
    day = as_json("costs", "report", "--by", "day")
    assert [(g["day"], g["sessions"], g["api_calls"], g["cost_usd"]) for g in day["groups"]] == [
        ("2026-01-05", 2, 3, Decimal("0.001")),
        ("2026-02-10", 1, 3, Decimal("0.0101")),
        ("2026-02-11", 1, 10, Decimal("0.008")),
    ]
    assert [g["cumulative_cost_usd"] for g in day["groups"]] == [
        Decimal("0.001"),
        Decimal("0.0111"),
        Decimal("0.0191"),
    ]
    assert day["total"] == {
        "api_calls": 16,
        "input_tokens": 8500,
        "output_tokens": 1600,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 400,
        "total_tokens": 10600,
        "cost_usd": Decimal("0.0191"),
    }
    month = as_json("costs", "report", "--by", "month")
    assert [(g["month"], g["sessions"], g["input_tokens"]) for g in month["groups"]] == [
        ("2026-01", 2, 1500),
        ("2026-02", 2, 7000),
    ]
    model = as_json("costs", "report", "--by", "model")
    assert [
        (g["model"], g["sessions"], g["api_calls"], g["input_tokens"], g["cost_usd"])
        for g in model["groups"]
    ] == [
        ("claude-sonnet-5-5", 1, 1, 500, Decimal("0.01")),
        (NO_MODEL, 1, 10, 5000, Decimal("0.008")),
        ("claude-3-5-haiku-20241022", 1, 1, 500, Decimal("0.0008")),
        ("claude-haiku-5-5", 2, 4, 2500, Decimal("0.0003")),
    ]
    haiku = model["groups"][-1]
    assert (haiku["cache_creation_input_tokens"], haiku["cache_read_input_tokens"]) == (100, 400)
    name = as_json("costs", "report", "--by", "name", "--name", "*chapters*")
    assert [g["name"] for g in name["groups"]] == [
        "generate_images_chapters_2",
        "Generate_Images_All_Chapters",
        "generate_images_chapters_1",
    ]
    assert name["filter"] == {"name": "*chapters*", "since": None, "until": None}
    # Every grouping adds up to the ledger's own totals.
    for by in ("day", "month", "model", "name"):
        groups = as_json("costs", "report", "--by", by)["groups"]
        assert sum(g["cost_usd"] for g in groups) == as_json("costs")["total_cost_usd"]
        assert sum(g["total_tokens"] for g in groups) == 10600

    text = ok("costs", "report", "--by", "month").stdout.splitlines()
    assert text[0] == "Claude spend by month, 4 session(s)"
    header = text[2]
    for column in ("Month", "Sessions", "Calls", "Input", "Output", "Cache write", "Cache read"):
        assert column in header
    assert "Cumulative" in header
    assert text[-1].split()[:2] == ["Total", "4"] and text[-1].endswith("$0.019100")
    rows = as_csv("costs", "report", "--by", "day")
    assert list(rows[0]) == [
        "day",
        "sessions",
        "api_calls",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "total_tokens",
        "cost_usd",
        "cumulative_cost_usd",
    ]
    assert rows[-1]["cumulative_cost_usd"] == "0.0191"


def test_undated_sessions_and_hand_edited_models_still_add_up(costs_dir: Path) -> None:
    odd = session(
        "sometime in March",
        "odd \x1b[31mname",
        1,
        100,
        10,
        "0.5",
        sid="odd",
        # Claims more than the session holds: ignored rather than trusted.
        models={"claude-haiku-5-5": model_part(5, 1000, 100, "9")},
    )
    write_ledger(costs_dir, [*MIXED_SESSIONS, odd])
    day = as_json("costs", "report", "--by", "day")["groups"]
    assert day[0]["day"] == NO_DATE and day[0]["cost_usd"] == Decimal("0.5")
    assert day[-1]["cumulative_cost_usd"] == Decimal("0.5191")
    model = {g["model"]: g for g in as_json("costs", "report", "--by", "model")["groups"]}
    assert model[NO_MODEL]["cost_usd"] == Decimal("0.508")
    assert model[NO_MODEL]["sessions"] == 2
    # A date range leaves out a session with no date; terminal escapes never reach the screen.
    assert len(as_json("costs", "history", "--since", "2000-01-01", "--all")) == 4
    assert "\x1b" not in ok("costs", "history").stdout
    assert "\x1b" not in ok("costs", "report", "--by", "name").stdout


# --- The chart --------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_chart_is_a_valid_png(costs_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from PIL import Image

    write_ledger(costs_dir, MIXED_SESSIONS)
    for by in ("day", "month"):
        path = tmp_path / "charts" / f"spend-{by}.png"
        result = ok("costs", "chart", "--by", by, "-o", str(path))
        assert str(path) in result.stderr
        assert png_size(path) == (1000, 500)
        with Image.open(path) as image:
            image.verify()
    data = json.loads(
        ok("costs", "chart", "--by", "month", "-o", str(tmp_path / "m.png"), "--json").stdout,
        parse_float=Decimal,
    )
    assert [g["cumulative_cost_usd"] for g in data["groups"]] == [
        Decimal("0.001"),
        Decimal("0.0191"),
    ]
    bad = invoke("costs", "chart", "-o", str(tmp_path / "chart.jpg"))
    assert bad.exit_code == 1 and ".png" in bad.output
    wrong_by = invoke("costs", "chart", "--by", "model", "-o", str(tmp_path / "x.png"))
    assert wrong_by.exit_code == 2


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("STRASSE*", "straße chapters", True),
        ("*straße*", "STRASSE", True),
        ("caf\u00e9*", "cafe\u0301 run", True),  # precomposed pattern, decomposed name
        ("CAFE\u0301", "caf\u00c9", True),
        ("cafe*", "caf\u00e9", False),  # an accent still counts
        ("run [[]1]", "Run [1]", True),  # [[] is a literal [
        ("run [1]", "run [1]", False),  # [1] is one character, 1
        ("run [1]", "run 1", True),
        ("chapter_?", "CHAPTER_7", True),
    ],
)
def test_name_pattern_ignores_case_and_accent_encoding(
    pattern: str, name: str, matches: bool
) -> None:
    row = cast(SessionRow, SimpleNamespace(session_name=name, when=None))
    assert SessionFilter(name=pattern).matches(row) is matches


@pytest.mark.parametrize(
    ("given", "expected"),
    [("", "-o is empty"), ("spend.jpg", "spend.jpg does not end in .png")],
)
def test_chart_output_that_is_not_a_png_name(
    costs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_ledger(costs_dir, MIXED_SESSIONS)
    result = invoke("costs", "chart", "-o", given)
    assert result.exit_code == 1
    assert expected in result.output
    assert "Give a file name ending in .png, e.g. -o spend.png" in result.output
    assert "not ." not in result.output


def test_chart_without_matplotlib_says_how_to_get_it(
    costs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    write_ledger(costs_dir, MIXED_SESSIONS)
    result = invoke("costs", "chart", "-o", str(tmp_path / "c.png"))
    assert result.exit_code == 1
    assert 'pip install "scenewright[charts]"' in result.output
    assert not (tmp_path / "c.png").exists()


# --- A real-sized ledger ----------------------------------------------------------------------


def test_reports_and_chart_on_a_ledger_of_three_hundred_sessions(
    costs_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    sessions = []
    for n in range(300):
        day = 1 + n % 28
        month = 1 + (n // 28) % 12
        cost = Decimal(n + 1) / Decimal(100000)
        models = {"claude-haiku-5-5": model_part(n % 7 + 1, 500 * (n % 7 + 1), 90, str(cost))}
        sessions.append(
            session(
                f"2026-{month:02d}-{day:02d}T{n % 24:02d}:15:00",
                f"generate_images_chapters_{n % 12 + 1}",
                n % 7 + 1,
                500 * (n % 7 + 1),
                90,
                str(cost),
                sid=f"s{n}",
                models=models,
            )
        )
    write_ledger(costs_dir, sessions)
    started = time.perf_counter()
    total = as_json("costs")["total_cost_usd"]
    assert total == Decimal(300 * 301 // 2) / Decimal(100000)
    for by in ("day", "month", "model", "name"):
        report = as_json("costs", "report", "--by", by)
        assert report["total"]["cost_usd"] == total
        assert sum(g["sessions"] for g in report["groups"]) == 300
    assert len(as_json("costs", "report", "--by", "month")["groups"]) == 11
    assert len(as_csv("costs", "history", "--all")) == 300
    assert len(ok("costs", "history", "--limit", "25").stdout.splitlines()) > 25
    path = tmp_path / "year.png"
    ok("costs", "chart", "-o", str(path))
    assert png_size(path) == (1000, 500)
    assert time.perf_counter() - started < 15


def test_a_report_piped_into_a_reader_that_stops_early_ends_quietly(costs_dir: Path) -> None:
    import os
    import subprocess
    import sys

    write_ledger(costs_dir, MIXED_SESSIONS)
    env = {**os.environ, "SCENEWRIGHT_COSTS_DIR": str(costs_dir)}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    # As `scenewright costs history | head -0`: the reader is gone before anything is written.
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "wb") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "scenewright", "costs", "history"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=env,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr.decode() == ""


def test_csv_keeps_a_name_with_a_bare_cr_or_lf_in_one_row(costs_dir: Path) -> None:
    # (CliRunner's stdout turns "\r\n" into "\n", so that pair is not tried here.)
    names = ["one\rtwo", "three\nfour", "five\r", 'plain, "quoted"']
    write_ledger(
        costs_dir,
        [session(f"2026-12-0{i + 1}T10:00:00", n, 1, 10, 2, "0.001") for i, n in enumerate(names)],
    )
    rows = list(csv.reader(io.StringIO(ok("costs", "history", "--all", "--csv").stdout)))
    column = rows[0].index("session_name")
    assert sorted(row[column] for row in rows[1:]) == sorted(names)
    assert all(len(row) == len(rows[0]) for row in rows)
    # The report's groups, one row each, whatever their names hold.
    rows = list(csv.reader(io.StringIO(ok("costs", "report", "--by", "name", "--csv").stdout)))
    groups = as_json("costs", "report", "--by", "name")["groups"]
    assert len(rows) == 1 + len(groups) and all(len(row) == len(rows[0]) for row in rows)
