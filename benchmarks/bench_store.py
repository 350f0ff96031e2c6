"""Time the event store's reads, appends and edits at 1,000, 10,000 and 50,000 events.

Every store starts from the same generated sample events, in a temporary directory under
benchmarks/out/ (the repository's file system, so fsync costs what it costs for data/). Three
tables per size, each against a baseline measured in the same run:

1. Against a naive store, what one writes first: `pandas.read_csv` of the whole file for every
   read and `DataFrame.to_csv` of the whole file for every append or edit (no lock, no fsync, no
   cache). Its "update" row is the store's longer-title edit of table 2.
2. One edit: `store.update` of one event's title, with a value of the same length and with a
   longer one, p50/p95. The baseline is today's rewrite, the previous store's edit
   (git show 9ad826e:mapapp/storage.py): encode the whole frame with `csv.writer` from column
   lists, then write a temporary file, fsync, `os.replace`, fsync the directory (`rewrite_frame`;
   it leaves out the old store's `frame.copy()`, which flatters it a little). The split of an
   edit's time is measured, not profiled:
   - "edit" is the wall time of the `store.update` call (locks, the audit entry appended and
     fsynced, the row re-encoded, the whole file written atomically);
   - "CPU" is `time.process_time()` across the same call: user and system CPU, but not the time
     spent waiting for the disk. The system part includes copying the file's bytes into the
     page cache, which is why "file write + fsync alone" has a CPU figure too;
   - "file write + fsync alone" writes a payload of the events file's size the same atomic way
     (temporary file, fsync, os.replace, directory fsync) with nothing else: the floor of any
     rewrite; "audit append + fsync alone" is the floor of the audit entry each edit appends.
   What an edit costs beyond its CPU is waiting: for the disk, and on a busy machine (load
   average above the CPU count) for a CPU too, so compare CPU figures between loaded runs.
3. Change detection, what a read costs in a warm process: `frame()` when nothing changed (one
   `os.stat`, timed alone as the floor), after another process appended one event (a tail read:
   only the new line is parsed) and after another process edited one event (the file was
   replaced, so it is read again and checked: what every other gunicorn worker pays once after
   an edit). A cold read (a new store) is the baseline for the last.

    .venv/bin/python benchmarks/bench_store.py                 # 1,000 / 10,000 / 50,000 events
    .venv/bin/python benchmarks/bench_store.py --sizes 1000 --appends 50
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for scripts.make_sample_data, run from anywhere

from mapapp.storage import EVENTS_FILE, VERSION_FIELD, Audit, EventStore  # noqa: E402
from scripts.make_sample_data import generate_events  # noqa: E402

DEFAULT_SIZES = (1_000, 10_000, 50_000)
OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
NAIVE_FILE = "naive.csv"
BASELINE_FILE = "rewrite-baseline.csv"
ALONE_FILE = "write-alone.csv"
APPEND_FILE = "append-alone.csv"
DEFAULT_APPENDS = 200
MIN_SIZE = 100
LARGE_STORE = 10_000  # from this size on, whole-file operations take long: repeat them less
EDIT = Audit("bench", "edit")
LONGER = " (edited)"
# The previous store's CSV dialect: a byte-order mark for Excel, RFC 4180 line ends.
UTF8_BOM = b"\xef\xbb\xbf"
LINE_TERMINATOR = "\r\n"
# The floor for one edit at 50,000 events, in seconds.
EDIT_FLOOR_P50 = 0.100
EDIT_FLOOR_P95 = 0.200


@dataclass(frozen=True)
class Plan:
    """How many times to repeat each operation."""

    cold_reads: int
    cached_reads: int
    tail_reads: int
    naive_writes: int  # appends, updates and appends before a tail read by the naive store
    edits: int  # of each kind, and of the baseline and the floors beside them
    edit_reads: int  # reads after another process edited


SMALL_PLAN = Plan(
    cold_reads=10, cached_reads=1000, tail_reads=20, naive_writes=20, edits=30, edit_reads=20
)
LARGE_PLAN = Plan(
    cold_reads=5, cached_reads=1000, tail_reads=20, naive_writes=5, edits=30, edit_reads=10
)


@dataclass
class Timing:
    """Seconds taken by repetitions of one operation, wall clock and CPU."""

    samples: list[float]
    cpu: list[float]

    @property
    def p50(self) -> float:
        """Return the median wall time."""
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        """Return the 95th percentile wall time (the largest sample when there are few)."""
        return percentile(self.samples, 0.95)

    @property
    def cpu_p50(self) -> float:
        """Return the median CPU time."""
        return statistics.median(self.cpu)

    @property
    def cpu_p95(self) -> float:
        """Return the 95th percentile CPU time."""
        return percentile(self.cpu, 0.95)


def percentile(samples: list[float], fraction: float) -> float:
    """Return a percentile by nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(operation: Callable[[], object], repeats: int) -> Timing:
    """Run an operation repeatedly and return how long each run took."""
    timing = Timing([], [])
    for _ in range(repeats):
        cpu_started = time.process_time()
        started = time.perf_counter()
        operation()
        timing.samples.append(time.perf_counter() - started)
        timing.cpu.append(time.process_time() - cpu_started)
    return timing


def write_durably(path: Path, payload: bytes) -> None:
    """Put payload at path as a store rewrite does: temporary file, fsync, rename, fsync dir."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    descriptor = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def append_durably(path: Path, payload: bytes) -> None:
    """Append payload to path and fsync it, as the store appends an audit entry."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, payload)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def rewrite_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a whole frame as today's rewrite did on every edit: encode it all, replace the file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_TERMINATOR)
    writer.writerow([str(name) for name in frame.columns])
    writer.writerows(zip(*(frame[name].tolist() for name in frame.columns), strict=True))
    write_durably(path, UTF8_BOM + buffer.getvalue().encode("utf-8"))


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


def other_process(connection: Connection) -> None:
    """Change the named store as asked, in this separate process, and say done after each.

    Messages are (kind, directory, payload): "append" an event to the EventStore, "naive" append
    an event to the naive store, "edit" the title of the event whose id is payload.
    """
    stores: dict[str, EventStore] = {}
    while (message := connection.recv()) is not None:
        kind, directory, payload = message
        if directory not in stores:
            stores[directory] = EventStore(directory)
        store = stores[directory]
        if kind == "append":
            store.add(payload)
        elif kind == "naive":
            NaiveStore(Path(directory) / NAIVE_FILE).add(payload)
        else:
            row = store.get(payload)
            assert row is not None, payload
            title = row["title"]
            store.update(payload, {"title": title + "!"}, expected=row[VERSION_FIELD], audit=EDIT)
        connection.send("done")


@dataclass
class Results:
    """Every timing of one store size."""

    size: int
    file_bytes: int
    cold: Timing
    cached: Timing
    append: Timing
    tail: Timing
    naive_cold: Timing
    naive_append: Timing
    naive_update: Timing
    naive_tail: Timing
    edit_same: Timing
    edit_longer: Timing
    rewrite: Timing
    write_alone: Timing
    append_alone: Timing
    stat_alone: Timing
    warm: Timing
    after_edit: Timing


def same_length(title: str) -> str:
    """Return a different title of the same length (its last ASCII letter's case swapped)."""
    for position in range(len(title) - 1, -1, -1):
        if title[position].isascii() and title[position].isalpha():
            return title[:position] + title[position].swapcase() + title[position + 1 :]
    raise ValueError(f"No ASCII letter in {title!r}")


class Editor:
    """Edit events' titles through the store, keeping each one's current version."""

    def __init__(self, store: EventStore, ids: list[str]) -> None:
        self.store = store
        frame = store.frame()
        titles = dict(zip(frame["id"].tolist(), frame["title"].tolist(), strict=True))
        versions = dict(zip(frame["id"].tolist(), frame[VERSION_FIELD].tolist(), strict=True))
        self.rows = {event_id: (titles[event_id], versions[event_id]) for event_id in ids}
        self.ids: Iterator[str] = itertools.cycle(ids)

    def edit(self, new_title: Callable[[str], str]) -> None:
        """Change the next event's title to new_title(its title), if still at its version."""
        event_id = next(self.ids)
        title, version = self.rows[event_id]
        row = self.store.update(event_id, {"title": new_title(title)}, expected=version, audit=EDIT)
        self.rows[event_id] = (row["title"], row[VERSION_FIELD])


def measure(size: int, appends: int, connection: Connection, base: Path) -> Results:
    """Return every timing for a store of this many events."""
    plan = LARGE_PLAN if size >= LARGE_STORE else SMALL_PLAN
    events = generate_events(size)
    extra = iter(generate_events(appends + plan.tail_reads + 3 * plan.naive_writes, seed=size + 1))
    with tempfile.TemporaryDirectory(prefix=f"store-{size}-", dir=base) as directory:
        data_dir = Path(directory)
        EventStore(data_dir).replace_all(events)
        naive = NaiveStore(data_dir / NAIVE_FILE)
        pd.DataFrame(events).to_csv(naive.path, index=False)

        cold = timed(lambda: EventStore(data_dir).frame(), plan.cold_reads)
        naive_cold = timed(naive.frame, plan.cold_reads)

        store = EventStore(data_dir)
        store.frame()
        cached = timed(store.frame, plan.cached_reads)
        append = timed(lambda: store.add(next(extra)), appends)
        naive_append = timed(lambda: naive.add(next(extra)), plan.naive_writes)

        # One edit of each kind, each on its own events so that neither follows the other's.
        frame = store.frame()
        editable = [
            event_id
            for event_id, title in zip(frame["id"].tolist(), frame["title"].tolist(), strict=True)
            if any(letter.isascii() and letter.isalpha() for letter in title)
        ]
        same = Editor(store, editable[: plan.edits])
        longer = Editor(store, editable[plan.edits : 2 * plan.edits])
        ids = itertools.cycle(editable[: plan.naive_writes])
        naive_update = timed(
            lambda: naive.update(next(ids), {"title": "Updated"}), plan.naive_writes
        )

        # Today's rewrite and the floors write files of the events file's size beside it. They
        # take turns with the edits, each round starting one further along, so that no
        # operation always follows the same one.
        frame = store.frame()
        payload = store.path.read_bytes()
        audit_line = store.audit.path.read_bytes().splitlines(keepends=True)[-1]
        operations: list[Callable[[], object]] = [
            lambda: same.edit(same_length),
            lambda: longer.edit(lambda title: title + LONGER),
            lambda: rewrite_frame(frame, data_dir / BASELINE_FILE),
            lambda: write_durably(data_dir / ALONE_FILE, payload),
            lambda: append_durably(data_dir / APPEND_FILE, audit_line),
        ]
        rounds: list[list[Timing]] = []
        for number in range(plan.edits):
            order = [(number + step) % len(operations) for step in range(len(operations))]
            timings = {position: timed(operations[position], 1) for position in order}
            rounds.append([timings[position] for position in range(len(operations))])
        edit_same, edit_longer, rewrite, write_alone, append_alone = (
            Timing(
                [sample for one in column for sample in one.samples],
                [sample for one in column for sample in one.cpu],
            )
            for column in zip(*rounds, strict=True)
        )

        def after_other_process(
            kind: str, payloads: Iterator[object], read: Callable[[], object], repeats: int
        ) -> Timing:
            """Time a read right after the other process made one change."""
            timing = Timing([], [])
            for _ in range(repeats):
                connection.send((kind, str(data_dir), next(payloads)))
                connection.recv()
                one = timed(read, 1)
                timing.samples.extend(one.samples)
                timing.cpu.extend(one.cpu)
            return timing

        store.frame()
        stat_alone = timed(lambda: os.stat(store.path), plan.cached_reads)
        warm = timed(store.frame, plan.cached_reads)
        tail = after_other_process("append", extra, store.frame, plan.tail_reads)
        naive_tail = after_other_process("naive", extra, naive.frame, plan.naive_writes)
        edited = itertools.cycle(editable[2 * plan.edits : 2 * plan.edits + plan.edit_reads])
        after_edit = after_other_process("edit", edited, store.frame, plan.edit_reads)
        assert store.frame().equals(EventStore(data_dir).frame())
        return Results(
            size=size,
            file_bytes=len(payload),
            cold=cold,
            cached=cached,
            append=append,
            tail=tail,
            naive_cold=naive_cold,
            naive_append=naive_append,
            naive_update=naive_update,
            naive_tail=naive_tail,
            edit_same=edit_same,
            edit_longer=edit_longer,
            rewrite=rewrite,
            write_alone=write_alone,
            append_alone=append_alone,
            stat_alone=stat_alone,
            warm=warm,
            after_edit=after_edit,
        )


def milliseconds(seconds: float) -> str:
    """Return a duration in ms with sensible precision."""
    value = seconds * 1000
    return f"{value:.3f}" if value < 1 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def duration(seconds: float) -> str:
    """Return a duration in µs below a millisecond, else in ms."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.1f} µs"
    return f"{milliseconds(seconds)} ms"


def ratio(baseline: float, ours: float) -> str:
    """Return how many times faster ours is than the baseline."""
    return f"{baseline / ours:,.1f}x" if ours else "inf"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Print a Markdown table with aligned columns, the first left and the others right."""
    widths = [max(len(row[n]) for row in [headers, *rows]) for n in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [
            cell.ljust(width) if n == 0 else cell.rjust(width)
            for n, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    print(line(headers))
    rules = ["-" * (widths[0] + 2)] + ["-" * (width + 1) + ":" for width in widths[1:]]
    print("|" + "|".join(rules) + "|")
    for row in rows:
        print(line(row))


def print_results(results: Results) -> None:
    """Print one size's three tables."""
    r = results
    print(f"\n### {r.size:,} events (load average {os.getloadavg()[0]:.1f} after measuring)\n")
    print(f"Against the naive pandas store, ms ({EVENTS_FILE}: {r.file_bytes / 1e6:.1f} MB)\n")
    print_table(
        ["Operation", "EventStore p50", "p95", "n", "naive p50", "p95", "n", "speed-up"],
        [
            [
                name,
                milliseconds(ours.p50),
                milliseconds(ours.p95),
                str(len(ours.samples)),
                milliseconds(naive.p50),
                milliseconds(naive.p95),
                str(len(naive.samples)),
                ratio(naive.p50, ours.p50),
            ]
            for name, ours, naive in [
                ("cold read (new store, frame())", r.cold, r.naive_cold),
                ("cached read (frame() again)", r.cached, r.naive_cold),
                ("append one event", r.append, r.naive_append),
                ("update one event's title", r.edit_longer, r.naive_update),
                ("tail read after another process appended", r.tail, r.naive_tail),
            ]
        ],
    )
    print("\nOne edit against today's whole-frame rewrite, ms (wall; CPU = process_time)\n")
    print_table(
        ["Operation", "p50", "p95", "CPU p50", "CPU p95", "n", "vs today's rewrite"],
        [
            [
                name,
                milliseconds(timing.p50),
                milliseconds(timing.p95),
                milliseconds(timing.cpu_p50),
                milliseconds(timing.cpu_p95),
                str(len(timing.samples)),
                ratio(r.rewrite.p50, timing.p50) if compare else "",
            ]
            for name, timing, compare in [
                ("edit: update(), same-length title", r.edit_same, True),
                ("edit: update(), longer title", r.edit_longer, True),
                ("baseline: today's rewrite (encode all, write)", r.rewrite, True),
                (f"file write + fsync alone ({r.file_bytes / 1e6:.1f} MB)", r.write_alone, False),
                ("audit append + fsync alone (one line)", r.append_alone, False),
            ]
        ],
    )
    for name, edit in [("same-length", r.edit_same), ("longer", r.edit_longer)]:
        floors = edit.p50 < EDIT_FLOOR_P50 and edit.p95 < EDIT_FLOOR_P95
        print(
            f"\n- Edit, {name} title, p50: total {milliseconds(edit.p50)} ms = CPU under the lock "
            f"apart from fsync {milliseconds(edit.cpu_p50)} ms + waiting (disk, or a CPU) "
            f"{milliseconds(max(edit.p50 - edit.cpu_p50, 0))} ms (file write + fsync alone: "
            f"{milliseconds(r.write_alone.p50)} ms wall, {milliseconds(r.write_alone.cpu_p50)} ms "
            f"CPU; audit append alone {milliseconds(r.append_alone.p50)} ms). Floor p50 < "
            f"{EDIT_FLOOR_P50 * 1000:.0f} ms, p95 < {EDIT_FLOOR_P95 * 1000:.0f} ms: "
            f"{'met' if floors else 'NOT met'} (p95 {milliseconds(edit.p95)} ms)."
        )
    print("\nChange detection: one frame() in a warm process\n")
    print_table(
        ["Read", "p50", "p95", "n"],
        [
            [name, duration(timing.p50), duration(timing.p95), str(len(timing.samples))]
            for name, timing in [
                ("floor: os.stat alone", r.stat_alone),
                ("nothing changed", r.warm),
                ("after another process appended one event (tail)", r.tail),
                ("after another process edited one event (whole)", r.after_edit),
                ("baseline: cold read (new store)", r.cold),
            ]
        ],
    )


def main() -> int:
    """Measure each store size and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in DEFAULT_SIZES),
        help="comma-separated store sizes (default: %(default)s)",
    )
    parser.add_argument("--appends", type=int, default=DEFAULT_APPENDS, help="appends to time")
    args = parser.parse_args()
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size]
    if min(sizes) < MIN_SIZE:
        parser.error(f"--sizes: at least {MIN_SIZE} events (each edit kind has its own events)")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    print(
        f"# Event store: Python {platform.python_version()}, pandas {pd.__version__}, "
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}), "
        f"{time.strftime('%Y-%m-%d %H:%M')}, data in {OUT_DIR} "
        f"({EVENTS_FILE} fsynced on every write by EventStore)"
    )
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    worker = context.Process(target=other_process, args=(theirs,), daemon=True)
    worker.start()
    try:
        for size in sizes:
            print_results(measure(size, args.appends, ours, OUT_DIR))
            sys.stdout.flush()
    finally:
        ours.send(None)
        worker.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
