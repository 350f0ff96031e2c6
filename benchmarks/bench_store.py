"""Time the event store against a naive pandas store for stores of 1,000 and 50,000 events.

Both stores start from the same generated sample events, in a temporary directory under
benchmarks/out/ (the repository's file system, so fsync costs what it costs for data/).
The naive store is what one writes first: `pandas.read_csv` the whole file for every read and
`DataFrame.to_csv` the whole file for every append or edit (no lock, no fsync, no cache).
"Tail read" is a read by a warm process right after another process appended one event.

    .venv/bin/python benchmarks/bench_store.py                 # 1,000 and 50,000 events
    .venv/bin/python benchmarks/bench_store.py --sizes 1000 --appends 50
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for scripts.make_sample_data, run from anywhere

from mapapp.storage import EVENTS_FILE, EventStore  # noqa: E402
from scripts.make_sample_data import generate_events  # noqa: E402

DEFAULT_SIZES = (1_000, 50_000)
OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
NAIVE_FILE = "naive.csv"
DEFAULT_APPENDS = 200
LARGE_STORE = 10_000  # from this size on, whole-file operations take long: repeat them less


@dataclass(frozen=True)
class Plan:
    """How many times to repeat each operation."""

    cold_reads: int
    cached_reads: int
    updates: int
    tail_reads: int
    naive_writes: int  # appends, updates and appends before a tail read by the naive store


SMALL_PLAN = Plan(cold_reads=10, cached_reads=200, updates=20, tail_reads=30, naive_writes=50)
LARGE_PLAN = Plan(cold_reads=5, cached_reads=200, updates=5, tail_reads=20, naive_writes=5)


@dataclass
class Timing:
    """Seconds taken by repetitions of one operation."""

    samples: list[float]

    @property
    def p50(self) -> float:
        """Return the median."""
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        """Return the 95th percentile (the largest sample when there are few)."""
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(operation: Callable[[], object], repeats: int) -> Timing:
    """Run an operation repeatedly and return how long each run took."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - started)
    return Timing(samples)


class NaiveStore:
    """A whole-file pandas store: read everything, write everything."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def frame(self) -> pd.DataFrame:
        """Read the whole file."""
        return pd.read_csv(self.path, dtype=str, keep_default_na=False, encoding="utf-8-sig")

    def add(self, event: dict[str, str]) -> None:
        """Read the whole file, add a row, write the whole file."""
        frame = pd.concat([self.frame(), pd.DataFrame([event])], ignore_index=True)
        frame.to_csv(self.path, index=False)

    def update(self, event_id: str, changes: dict[str, str]) -> None:
        """Read the whole file, change a row, write the whole file."""
        frame = self.frame()
        for name, value in changes.items():
            frame.loc[frame["id"] == event_id, name] = value
        frame.to_csv(self.path, index=False)


def appender(connection: Connection) -> None:
    """Append each event received to the named store, in this separate process, and say done."""
    stores: dict[str, EventStore] = {}
    while (message := connection.recv()) is not None:
        kind, directory, event = message
        if kind == "store":
            store = stores.setdefault(directory, EventStore(directory))
            store.add(event)
        else:
            NaiveStore(Path(directory) / NAIVE_FILE).add(event)
        connection.send("done")


def measure(
    size: int, appends: int, connection: Connection, base: Path
) -> list[tuple[str, Timing, Timing]]:
    """Return (operation, store timing, naive timing) rows for a store of this many events."""
    plan = LARGE_PLAN if size >= LARGE_STORE else SMALL_PLAN
    events = generate_events(size)
    extra = iter(generate_events(appends + plan.tail_reads + 3 * plan.naive_writes, seed=size + 1))
    with tempfile.TemporaryDirectory(prefix=f"store-{size}-", dir=base) as directory:
        data_dir = Path(directory)
        EventStore(data_dir).replace_all(events)
        naive = NaiveStore(data_dir / NAIVE_FILE)
        pd.DataFrame(events).to_csv(naive.path, index=False)
        rows = []

        cold = timed(lambda: EventStore(data_dir).frame(), plan.cold_reads)
        naive_cold = timed(naive.frame, plan.cold_reads)
        rows.append(("cold read (new store, frame())", cold, naive_cold))

        store = EventStore(data_dir)
        store.frame()
        cached = timed(store.frame, plan.cached_reads)
        rows.append(("cached read (frame() again)", cached, naive_cold))

        append = timed(lambda: store.add(next(extra)), appends)
        naive_append = timed(lambda: naive.add(next(extra)), plan.naive_writes)
        rows.append(("append one event", append, naive_append))

        ids = itertools.cycle(list(store.frame()["id"][: plan.updates]))
        update = timed(lambda: store.update(next(ids), {"title": "Updated"}), plan.updates)
        naive_update = timed(
            lambda: naive.update(next(ids), {"title": "Updated"}), plan.naive_writes
        )
        rows.append(("update one event (rewrite)", update, naive_update))

        def after_other_process(kind: str, read: Callable[[], object], repeats: int) -> Timing:
            """Time a read right after the other process appended one event."""
            samples = []
            for _ in range(repeats):
                connection.send((kind, str(data_dir), next(extra)))
                connection.recv()
                samples.extend(timed(read, 1).samples)
            return Timing(samples)

        store.frame()
        tail = after_other_process("store", store.frame, plan.tail_reads)
        naive_tail = after_other_process("naive", naive.frame, plan.naive_writes)
        rows.append(("tail read after another process appended", tail, naive_tail))
        assert len(store.frame()) == len(EventStore(data_dir).frame())
        return rows


def milliseconds(seconds: float) -> str:
    """Return a duration in ms with sensible precision."""
    value = seconds * 1000
    return f"{value:.3f}" if value < 1 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def print_table(size: int, rows: list[tuple[str, Timing, Timing]]) -> None:
    """Print one size's results as a Markdown table."""
    print(f"\n### {size:,} events\n")
    print(
        "| Operation | EventStore p50 ms | p95 ms | n | naive pandas p50 ms | p95 ms | n | speed-up |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, ours, naive in rows:
        speedup = naive.p50 / ours.p50 if ours.p50 else float("inf")
        print(
            f"| {name} | {milliseconds(ours.p50)} | {milliseconds(ours.p95)} | "
            f"{len(ours.samples)} | {milliseconds(naive.p50)} | {milliseconds(naive.p95)} | "
            f"{len(naive.samples)} | {speedup:,.1f}x |"
        )


def main() -> int:
    """Measure each store size and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in DEFAULT_SIZES),
        help="comma-separated store sizes (default: 1000,50000)",
    )
    parser.add_argument("--appends", type=int, default=DEFAULT_APPENDS, help="appends to time")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    print(
        f"Python {platform.python_version()}, pandas {pd.__version__}, {os.cpu_count()} CPUs "
        f"(load average {os.getloadavg()[0]:.1f}), data in {OUT_DIR} "
        f"({EVENTS_FILE} fsynced on every write by EventStore)"
    )
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    worker = context.Process(target=appender, args=(theirs,), daemon=True)
    worker.start()
    try:
        for size in sizes:
            print_table(size, measure(size, args.appends, ours, OUT_DIR))
    finally:
        ours.send(None)
        worker.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
