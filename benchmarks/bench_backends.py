"""Time submits, edits and approvals on the CSV store and on PostgreSQL, side by side, same run.

Both stores start from the same generated sample events (default 50,000): the CSV store in a
temporary data directory under benchmarks/out/ (the repository's file system, so fsync costs
what it costs for data/), PostgreSQL in a cluster of its own started from Debian's packages on
loopback (scripts/local_servers.py, default settings: fsync and synchronous_commit on). Each
operation is timed one call at a time, p50 and p95 over --writes calls:

- submit: `store.add` of one new event (with its audit entry);
- edit: `store.update` of one event's title with the version it was read at;
- approval: `store.update` of a pending event's status to approved, with its version (the
  issue's target on PostgreSQL: p95 under 5 ms at 50,000 events);
- next read on another host: `frame()` of a second store object (another process's cache)
  right after one edit through the first: what the next request on any other worker pays;
- read, nothing changed: `frame()` when nothing changed (CSV: one stat; PostgreSQL: one SELECT);
- durable commit alone (floor): what any acknowledged write waits for at least, measured the
  same way: CSV, one line appended to a file and fsynced; PostgreSQL, one autocommit INSERT of
  one row into a table of its own (the WAL flushed). On a machine whose disk other processes
  keep busy, this floor sets the p95 of every write.

The cold read (a new store's first `frame()`: the CSV file parsed and validated, or COPY) is
timed once per backend.

    .venv/bin/python benchmarks/bench_backends.py                      # 50,000 events
    .venv/bin/python benchmarks/bench_backends.py --events 1000 --writes 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for scripts.*, run from anywhere

from mapapp.storage import VERSION_FIELD, Audit, EventStore, Store  # noqa: E402
from scripts.local_servers import postgres_server  # noqa: E402
from scripts.make_sample_data import generate_events  # noqa: E402

DEFAULT_EVENTS = 50_000
DEFAULT_WRITES = 300
OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
EDIT = Audit("bench", "edit")
APPROVE = Audit("bench", "approve")
APPROVAL_P95_TARGET_MS = 5.0
FLOOR = "durable commit alone (floor)"
OPERATIONS = (
    "submit",
    "edit",
    "approval",
    FLOOR,
    "next read on another host",
    "read, nothing changed",
)


# A backend's store, a maker of other hosts' stores on the same storage, its durable floor.
Stores = tuple[Store, Callable[[], Store], Callable[[], object]]


def percentile(samples: list[float], fraction: float) -> float:
    """Return a percentile of timings in milliseconds (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))] * 1000


def timed(call: Callable[[], object]) -> float:
    """Return how long one call takes, in seconds."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


@contextmanager
def csv_stores(events: list[dict[str, str]]) -> Iterator[Stores]:
    """Yield a CSV store holding the events, a maker of other hosts' stores, the floor."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-backends-", dir=OUT_DIR))
    try:
        store = EventStore(folder)
        store.replace_all(events)
        yield store, lambda: EventStore(folder), csv_floor(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_stores(events: list[dict[str, str]]) -> Iterator[Stores]:
    """Yield a PostgreSQL store holding the events, a maker of other hosts' stores, the floor."""
    from mapapp.storage.database import close_pools
    from mapapp.storage.pg_events import PgEventStore

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    scratch = Path(tempfile.mkdtemp(prefix="bench-backends-pg-"))
    try:
        with postgres_server(port) as url:
            store = PgEventStore(url, scratch)
            store.create_missing()
            store.replace_all(events)
            try:
                yield store, lambda: PgEventStore(url, scratch), postgres_floor(url)
            finally:
                close_pools()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def rows_of(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Return a frame's rows as dicts of strings."""
    return [{str(name): str(value) for name, value in row.items()} for _, row in frame.iterrows()]


def measure(
    store: Store,
    other_host: Callable[[], Store],
    extra: list[dict[str, str]],
    writes: int,
    floor: Callable[[], object],
) -> tuple[dict[str, list[float]], float]:
    """Return the timings of each operation on one backend, and its cold read."""
    cold_store = other_host()
    cold = timed(cold_store.frame)
    reader = other_host()
    reader.frame()
    frame = store.frame()
    pending = rows_of(frame[frame["status"] == "pending"].head(writes))
    others = rows_of(frame[frame["status"] != "pending"].head(writes))
    samples: dict[str, list[float]] = {name: [] for name in OPERATIONS}
    for new in extra[:writes]:
        samples["submit"].append(timed(lambda new=new: store.add(new)))  # type: ignore[misc]
    for event in others:
        samples["edit"].append(
            timed(
                lambda event=event: store.update(  # type: ignore[misc]
                    event["id"],
                    {"title": event["title"] + " (edited)"},
                    expected=event[VERSION_FIELD],
                    audit=EDIT,
                )
            )
        )
        samples["next read on another host"].append(timed(reader.frame))
        samples["read, nothing changed"].append(timed(reader.frame))
    for event in pending:
        samples["approval"].append(
            timed(
                lambda event=event: store.update(  # type: ignore[misc]
                    event["id"],
                    {"status": "approved"},
                    expected=event[VERSION_FIELD],
                    audit=APPROVE,
                )
            )
        )
    samples[FLOOR] = [timed(floor) for _ in range(writes)]
    assert len(reader.frame()) == len(store.frame())
    return samples, cold


def csv_floor(folder: Path) -> Callable[[], object]:
    """Return one durable append of a line to a file of its own."""
    path = folder / "floor.csv"

    def append() -> None:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, b"one,line\r\n")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    return append


def postgres_floor(url: str) -> Callable[[], object]:
    """Return one autocommit INSERT of one row into a table of its own."""
    from mapapp.storage.database import pool

    with pool(url).connection() as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS bench_floor (value text)")

    def insert() -> None:
        with pool(url).connection() as connection:
            connection.execute("INSERT INTO bench_floor VALUES ('one')")

    return insert


def main() -> None:
    """Measure both backends at one size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--writes", type=int, default=DEFAULT_WRITES, help="calls per operation")
    arguments = parser.parse_args()
    events = generate_events(arguments.events)
    extra = generate_events(arguments.writes, seed=arguments.events + 1)
    for event in extra:
        event["id"] = ""  # new events: the store gives the ids
    results: dict[str, tuple[dict[str, list[float]], float]] = {}
    with csv_stores(events) as (store, other, floor):
        results["CSV"] = measure(store, other, extra, arguments.writes, floor)
    with postgres_stores(events) as (store, other, floor):
        results["PostgreSQL"] = measure(store, other, extra, arguments.writes, floor)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"Store backends at {arguments.events:,} events, {arguments.writes} calls per operation; "
        f"{os.cpu_count()} CPUs, load average {load}\n"
    )
    print(
        "| operation | CSV p50 ms | CSV p95 ms | PostgreSQL p50 ms | PostgreSQL p95 ms | PG/CSV p95 |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in OPERATIONS:
        csv_samples, pg_samples = results["CSV"][0][name], results["PostgreSQL"][0][name]
        if not csv_samples or not pg_samples:
            continue
        csv_p95, pg_p95 = percentile(csv_samples, 0.95), percentile(pg_samples, 0.95)
        print(
            f"| {name} | {percentile(csv_samples, 0.5):.2f} | {csv_p95:.2f} | "
            f"{percentile(pg_samples, 0.5):.2f} | {pg_p95:.2f} | {pg_p95 / csv_p95:.2f}x |"
        )
    csv_cold, pg_cold = results["CSV"][1], results["PostgreSQL"][1]
    print(
        f"| cold read (first frame) | {csv_cold * 1000:.0f} | | {pg_cold * 1000:.0f} | | "
        f"{pg_cold / csv_cold:.2f}x |"
    )
    approval = percentile(results["PostgreSQL"][0]["approval"], 0.95)
    verdict = "met" if approval < APPROVAL_P95_TARGET_MS else "NOT met"
    print(
        f"\nApproval p95 on PostgreSQL: {approval:.2f} ms (target < {APPROVAL_P95_TARGET_MS} ms: {verdict})"
    )
    print(
        f"Median of all PostgreSQL approvals: {statistics.median(results['PostgreSQL'][0]['approval']) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
