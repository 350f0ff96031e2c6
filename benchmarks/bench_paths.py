"""Time the server paths that should not scan every event (issue 14, part 4), before and after.

The baseline is the code before issue 14's part 4 (`BASELINE_COMMIT`, unpacked from git into a
temporary directory), run in the same way in the same run. Four tables:

1. **update**: after one write by another process (an edit of a title, a withdrawal, an erase),
   what a worker spends bringing what `/` and the map data derive from the frame up to date:
   ours, `map_data.Tracker` (the store's `changed_since`, the index's update, both gzipped
   bodies, the page's counts and filter choices); before, a full rebuild (mapview's map data and
   labels, gzip, their digests, `public_version`, `stats.public_summary`, the filter choices).
   The store's own re-read of the rewritten file (the same either way) is its own column.
2. **event page**: wrk against `mapapp serve` (gunicorn, 2 workers) for one event's page, its
   `.ics` and its JSON, at a small and a large store; the ratio is the large rate over the small.
3. **GET /**: wrk against `mapapp serve` and against `python -m http.server` serving the same
   bytes, in the same run.
4. **first map after a restart**: chromium (headless, a new context per load) loads `/` right
   after the server answers its health check (cold), then again (warm); ready as bench_map.py
   measures it (`<body data-map-ready="true">` with markers drawn, from navigation).

    .venv/bin/python benchmarks/bench_paths.py                  # 1k/50k, 1k/200k, 50k, 200k
    .venv/bin/python benchmarks/bench_paths.py --update-sizes 200 --event-sizes 200,400 \\
        --root-size 200 --cold-size 200 --duration 1 --runs 1
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import map_pages
from bench_map import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from bench_map_languages import READY_SCRIPT, free_port
from playwright.sync_api import Browser, sync_playwright

from mapapp import PROJECT_ROOT, map_data, mapview, stats
from mapapp.events import current_edition
from mapapp.publication import public_version
from mapapp.storage import Audit, EventStore

BASELINE_COMMIT = "8dc042d"  # main before issue 14's part 4
WRK = "/usr/bin/wrk"
WORKERS = 2
CONNECTIONS = 8
STARTUP_SECONDS = 300.0
PAGE_TIMEOUT_SECONDS = 90.0
GZIP_LEVEL = 6
UPDATE_FLOOR_MS = 20.0  # at 50,000 events
EVENT_RATE_FLOOR = 0.8  # the large store's rate over the small one's
ROOT_FLOOR = 1.0  # GET / against http.server
COLD_FLOOR = 1.5  # cold first map over warm
IDLE_CPU_SECONDS = 0.05  # a server using less than this in a second has finished starting
ACTIONS = ("edit", "withdraw", "erase")


def compact(data: object) -> bytes:
    """Return data as the API writes it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def unpack_baseline(target: Path) -> Path:
    """Unpack the baseline commit from git into target; return its root."""
    archive = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "archive", "--format=tar", BASELINE_COMMIT],
        check=True,
        capture_output=True,
    ).stdout
    root = target / "baseline"
    root.mkdir()
    with tempfile.TemporaryFile() as buffer:
        buffer.write(archive)
        buffer.seek(0)
        with tarfile.open(fileobj=buffer) as tar:
            tar.extractall(root, filter="data")
    (root / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    return root


def data_dir(work: Path, count: int) -> Path:
    """Return a data directory of `count` map events (written once per run)."""
    directory = work / f"data-{count}"
    if not directory.exists():
        map_pages.write_data_dir(directory, map_pages.map_events(count))
    return directory


def fresh_copy(work: Path, count: int, name: str) -> Path:
    """Return a copy of a data directory a run may change."""
    target = work / f"{name}-{count}"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(data_dir(work, count), target)
    return target


def milliseconds(run: Callable[[], object]) -> float:
    """Return how long a call took, in ms."""
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


# 1. Bringing the map data up to date after a write


def full_rebuild(frame: object) -> None:
    """Do what every worker did after a write before: rebuild every body and count."""
    edition = current_edition()
    for body in (compact(mapview.map_data(frame)), compact(mapview.map_labels(frame))):  # type: ignore[arg-type]
        hashlib.blake2b(body, digest_size=10).hexdigest()
        gzip.compress(body, GZIP_LEVEL, mtime=0)
    public_version(frame)  # type: ignore[arg-type]
    stats.public_summary(frame, edition)  # type: ignore[arg-type]
    mapview.filter_choices(frame, edition)  # type: ignore[arg-type]


def write(writer: EventStore, action: str, rng: random.Random) -> None:
    """Make one write of a kind on a random approved event, as another process would."""
    frame = writer.frame()
    approved = frame[frame["status"] == "approved"]
    row = approved.iloc[rng.randrange(len(approved))]
    event_id, version = str(row["id"]), str(row["version"])
    if action == "erase":
        writer.erase(event_id, who="bench")
        return
    changes = {"title": f"Edited {rng.random():.6f}"} if action == "edit" else {}
    if action == "withdraw":
        changes = {"status": "withdrawn"}
    writer.update(event_id, changes, expected=version, audit=Audit("bench", action))


def bench_update(work: Path, count: int, repeats: int) -> list[list[str]]:
    """Return the update table's rows of one size."""
    directory = fresh_copy(work, count, "update")
    store, writer = EventStore(directory), EventStore(directory)
    tracker = map_data.Tracker(store)
    warm = tracker.current()  # as a serving worker holds it
    warm.map_data()
    warm.map_labels()
    rng = random.Random(14)
    edition = current_edition()
    rows = []
    for action in ACTIONS:
        reread, listed, ours, before = [], [], [], []
        for _ in range(repeats):
            seen = store.version
            write(writer, action, rng)
            reread.append(milliseconds(lambda: (store.frame(), store.version)))
            # The store's part of ours, timed alone (the tracker asks the same again).
            listed.append(milliseconds(lambda: store.changed_since(seen)))  # noqa: B023

            def incremental() -> None:
                index = tracker.current()
                index.map_data()
                index.map_labels()
                index.summary(edition)
                index.filter_choices(edition)

            ours.append(milliseconds(incremental))
            before.append(milliseconds(lambda: full_rebuild(store.frame())))
        mine, theirs = statistics.median(ours), statistics.median(before)
        rows.append(
            [
                f"{count:,}",
                action,
                f"{statistics.median(reread):.1f}",
                f"{statistics.median(listed):.1f}",
                f"{mine:.1f}",
                f"{max(ours):.1f}",
                f"{theirs:.1f}",
                f"{theirs / mine:.0f}x",
            ]
        )
    return rows


# Servers


@contextmanager
def serving(tree: Path, directory: Path) -> Iterator[tuple[str, float]]:
    """Run `mapapp serve` of a source tree on a data directory; yield its URL and startup s."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "MAPAPP_DATA_DIR": str(directory),
        "MAPAPP_SECRET_KEY": "bench-paths",
        "MAPAPP_ENV": "testing",
        "MAPAPP_TILES": "none",
    }
    command = [sys.executable, "-c", "import sys; from mapapp.cli import cli; sys.exit(cli())"]
    command += ["serve", "--port", str(port), "--workers", str(WORKERS)]
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=5).read()
                break
            except OSError:
                if time.monotonic() - started > STARTUP_SECONDS or process.poll() is not None:
                    raise RuntimeError(f"mapapp serve of {tree} did not start") from None
                time.sleep(0.1)
        settle(process.pid)
        yield base, time.monotonic() - started
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(root: int) -> float:
    """Return the CPU seconds a process and its children (gunicorn's workers) used so far."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid = int(stat.parent.name)
        if pid == root or int(fields[1]) == root:  # fields[1] is the parent's pid
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def settle(root: int) -> None:
    """Wait until a server's start is over: its processes idle (under 5% of a core) for 1 s.

    The same rule for both versions: a restart is over when the server has finished what it
    does before its first visitor (ours reads the events and builds the map data in every
    worker; the baseline does that at the first request).
    """
    deadline = time.monotonic() + STARTUP_SECONDS
    before = cpu_seconds(root)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_seconds(root)
        if now - before < IDLE_CPU_SECONDS:
            return
        before = now
    raise RuntimeError("the server never settled")


@contextmanager
def http_server(directory: Path) -> Iterator[str]:
    """Run `python -m http.server` on a directory; yield its URL."""
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--directory", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("python -m http.server did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def wrk_rate(url: str, duration: int) -> float:
    """Return wrk's requests per second for a URL (after a short warm-up)."""
    for seconds in (1, duration):
        result = subprocess.run(
            [WRK, "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", url],
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if found is None or "Non-2xx" in result.stdout:
        raise RuntimeError(f"wrk on {url}: {result.stdout}")
    return float(found.group(1))


def first_event_id(base: str) -> str:
    """Return the id of an event the server publishes."""
    with urllib.request.urlopen(base + "/api/map-data.json", timeout=PAGE_TIMEOUT_SECONDS) as r:
        return str(json.loads(r.read())["id"][0])


# 2. Event pages at two sizes


def bench_events(
    trees: dict[str, Path], work: Path, sizes: list[int], duration: int
) -> list[list[str]]:
    """Return the event page table: rates at each size and the large over the small."""
    rates: dict[tuple[str, str, int], float] = {}
    paths = {"page": "/events/{id}", "ics": "/events/{id}.ics", "json": "/api/events/{id}.json"}
    for version, tree in trees.items():
        for count in sizes:
            with serving(tree, data_dir(work, count)) as (base, _startup):
                event_id = first_event_id(base)
                for name, path in paths.items():
                    url = base + path.format(id=event_id)
                    rates[(version, name, count)] = wrk_rate(url, duration)
    rows = []
    small, large = sizes[0], sizes[-1]
    for version in trees:
        for name in paths:
            low, high = rates[(version, name, small)], rates[(version, name, large)]
            rows.append([version, name, f"{low:,.0f}", f"{high:,.0f}", f"{high / low:.2f}x"])
    return rows


# 3. GET / against http.server


def bench_root(trees: dict[str, Path], work: Path, count: int, duration: int) -> list[list[str]]:
    """Return the GET / table: each version against http.server serving its bytes."""
    rows = []
    for version, tree in trees.items():
        with serving(tree, data_dir(work, count)) as (base, _startup):
            with urllib.request.urlopen(base + "/", timeout=PAGE_TIMEOUT_SECONDS) as response:
                page = response.read()
            ours = wrk_rate(base + "/", duration)
        site = work / f"site-{version}"
        site.mkdir(exist_ok=True)
        (site / "index.html").write_bytes(page)
        with http_server(site) as static:
            theirs = wrk_rate(static + "/index.html", duration)
        rows.append([version, f"{len(page):,}", f"{ours:,.0f}", f"{theirs:,.0f}"])
        rows[-1].append(f"{ours / theirs:.2f}x")
    return rows


# 4. The first map after a restart


def ready_seconds(browser: Browser, url: str) -> float:
    """Load the map in a new context; return seconds from navigation to ready."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.add_init_script(READY_SCRIPT)
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_SECONDS * 1000)
        page.wait_for_function(
            "() => window.__benchReadyAt !== undefined",
            timeout=PAGE_TIMEOUT_SECONDS * 1000,
            polling=50,
        )
        return float(page.evaluate("window.__benchReadyAt")) / 1000
    finally:
        context.close()


def bench_cold(
    browser: Browser, trees: dict[str, Path], work: Path, count: int, runs: int
) -> list[list[str]]:
    """Return the restart table: startup, the cold first map and the warm one, per version."""
    rows = []
    for version, tree in trees.items():
        with serving(tree, data_dir(work, count)) as (base, startup):
            cold = ready_seconds(browser, base + "/")
            warm = statistics.median(ready_seconds(browser, base + "/") for _ in range(runs))
        rows.append(
            [version, f"{startup:.1f}", f"{cold:.2f}", f"{warm:.2f}", f"{cold / warm:.2f}x"]
        )
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    """Return a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the sizes, durations and runs."""

    def sizes(text: str) -> list[int]:
        return [int(part) for part in text.split(",")]

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-sizes", type=sizes, default=[1_000, 50_000])
    parser.add_argument("--repeats", type=int, default=7, help="writes per kind and size")
    parser.add_argument("--event-sizes", type=sizes, default=[1_000, 200_000])
    parser.add_argument("--root-size", type=int, default=50_000)
    parser.add_argument("--cold-size", type=int, default=200_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk row")
    parser.add_argument("--runs", type=int, default=3, help="warm map loads")
    tables = "update,events,root,cold"
    parser.add_argument("--tables", default=tables, help=f"which of {tables} to run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the tables asked for and print each with the load average."""
    args = parse_args(argv)
    tables = set(args.tables.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-paths-") as folder:
        work = Path(folder)
        trees = {"before": unpack_baseline(work), "ours": PROJECT_ROOT}
        if "update" in tables:
            rows = [row for n in args.update_sizes for row in bench_update(work, n, args.repeats)]
            print("\nAfter one write by another process (ms, median; ours max too; ours includes")
            print("changed_since, the store's part, also timed alone):\n")
            header = ["events", "write", "store re-read", "changed_since", "ours", "ours max"]
            print(table([*header, "full rebuild", "speed-up"], rows), flush=True)
            print(f"\nload average: {os.getloadavg()}", flush=True)
        if "events" in tables:
            rows = bench_events(trees, work, args.event_sizes, args.duration)
            small, large = args.event_sizes[0], args.event_sizes[-1]
            print(f"\nOne event, wrk {CONNECTIONS} connections, {WORKERS} workers (req/s):\n")
            header = ["version", "path", f"{small:,} events", f"{large:,} events", "ratio"]
            print(table(header, rows), flush=True)
            print(f"\nload average: {os.getloadavg()}", flush=True)
        if "root" in tables:
            rows = bench_root(trees, work, args.root_size, args.duration)
            print(f"\nGET / at {args.root_size:,} events (req/s), against python -m http.server:\n")
            header = ["version", "page bytes", "mapapp serve", "http.server", "ratio"]
            print(table(header, rows), flush=True)
            print(f"\nload average: {os.getloadavg()}", flush=True)
        if "cold" in tables:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    rows = bench_cold(browser, trees, work, args.cold_size, args.runs)
                finally:
                    browser.close()
            print(f"\nFirst map after a restart at {args.cold_size:,} events (s):\n")
            header = ["version", "start to idle", "cold first map", "warm", "cold / warm"]
            print(table(header, rows), flush=True)
            print(f"\nload average: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
