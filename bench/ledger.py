"""How fast is cost recording? ``python bench/ledger.py`` (or ``make bench``).

Measures, in a scratch folder (the real ``.costs`` is never touched):

* ``add_api_call``: pricing plus one fsynced journal line per call;
* ``save_session`` and a ledger read, as the ledger grows to many sessions;
* several processes saving sessions at once, through the ledger lock.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from scenewright.config import DEFAULT_HAIKU_MODEL, PRICE_TABLE_VERSION  # noqa: E402
from scenewright.cost_tracker import CostTracker  # noqa: E402
from scenewright.ledger import CallRecord, Ledger, build_session_entry, now_local  # noqa: E402

WORKER = textwrap.dedent(
    """
    import sys
    from scenewright.cost_tracker import CostTracker
    for n in range(int(sys.argv[1])):
        tracker = CostTracker(f"bench-{n}")
        tracker.add_api_call(550, 100)
        tracker.close()
    """
)


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float]) -> None:
    median = statistics.median(times) * 1000
    worst = max(times) * 1000
    print(f"{label:<44} median {median:8.2f} ms   max {worst:8.2f} ms   (n={len(times)})")


def bench_calls(folder: Path, calls: int) -> None:
    tracker = CostTracker("bench-calls", costs_dir=folder)
    report(
        "add_api_call (priced + fsynced journal)",
        timed(lambda: tracker.add_api_call(550, 100), calls),
    )
    tracker.close()


def fill(folder: Path, sessions: int) -> None:
    """Grow the ledger to ``sessions`` entries in one write; trackers would take O(n^2)."""
    ledger = Ledger(folder)
    with ledger.transaction() as txn:
        for n in range(len(txn.sessions), sessions):
            calls = [
                CallRecord(
                    seq=1,
                    timestamp=now_local(),
                    model=DEFAULT_HAIKU_MODEL,
                    response_id=f"msg_{n}",
                    input_tokens=550,
                    output_tokens=100,
                    cache_write_5m_tokens=0,
                    cache_write_1h_tokens=0,
                    cache_read_tokens=0,
                    batch=False,
                    long_context=False,
                    price_table_version=PRICE_TABLE_VERSION,
                    cost_usd=Decimal("0.000105"),
                )
            ]
            # Fresh ids cannot collide, so append instead of upsert's per-entry search,
            # which would make filling 100,000 sessions quadratic.
            txn.sessions.append(
                build_session_entry(
                    session_id=f"filler-{n}",
                    session_name=f"filler {n}",
                    timestamp=now_local(),
                    calls=calls,
                    status="complete",
                )
            )
        txn.commit()


def bench_growth(folder: Path, sizes: list[int]) -> None:
    for size in sizes:
        fill(folder, size)
        tracker = CostTracker("bench-save", costs_dir=folder)
        tracker.add_api_call(550, 100)
        report(f"save_session, ledger of {size:,} sessions", timed(tracker.save_session, 10))
        report(f"read ledger of {size:,} sessions", timed(Ledger(folder).read, 10))
        report(
            f"CostTracker() with {size:,} sessions",
            timed(lambda: CostTracker("x", costs_dir=folder), 5),
        )
        tracker.close()
        size_kib = (folder / "haiku_usage.json").stat().st_size / 1024
        print(f"{'':<44} ledger file {size_kib:,.1f} KiB")


def bench_parallel(folder: Path, processes: int, sessions: int) -> None:
    env = {**os.environ, "SCENEWRIGHT_COSTS_DIR": str(folder), "PYTHONPATH": str(SRC)}
    start = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(sessions)], env=env)
        for _ in range(processes)
    ]
    codes = [proc.wait() for proc in procs]
    elapsed = time.perf_counter() - start
    data = Ledger(folder).read()
    expected = processes * sessions
    print(
        f"{processes} processes x {sessions} sessions: {elapsed:.2f} s wall, "
        f"{len(data['sessions'])}/{expected} sessions recorded, exit codes {sorted(set(codes))}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls to time (default 200)")
    parser.add_argument(
        "--sizes",
        default="10,1000,100000",
        help="ledger sizes, in sessions, to time saving and reading at (default 10,1000,100000)",
    )
    parser.add_argument("--processes", type=int, default=8, help="parallel writers (default 8)")
    parser.add_argument("--sessions", type=int, default=50, help="sessions per writer (default 50)")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(",") if size.strip())
    with tempfile.TemporaryDirectory(prefix="scenewright-bench-") as scratch:
        root = Path(scratch)
        print(f"Scratch folder: {root}")
        bench_calls(root / "calls", args.calls)
        bench_growth(root / "growth", sizes)
        bench_parallel(root / "parallel", args.processes, args.sessions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
