"""Time the visitors' map before and after issue 13 (languages, keyboard, spiderfy, multi-select).

The same events are served by two apps in one run: the code as it was before issue 13 (the commit
`BASELINE_COMMIT`, unpacked from git into a temporary directory) and the checkout's code, each in
its own process on 127.0.0.1 with no tiles. For each size, chromium loads each page with a cold
cache (a new context) and the table gives the median of the runs:

- ready: from navigation to the first frame painted with the events clustered and drawn
  (`<body data-map-ready="true">`, set by map.js in both versions);
- redraw: a zoom to western Europe, from `setView` to two frames after Leaflet's `moveend`, when
  map.js has redrawn the markers (the focusable markers and spiderfy's work is here);
- HTML: the page's bytes (the catalog handed to the page is in them).

Pages: `/` before and after; `/fr/` after (the catalog, French labels); a filtered view, which is
`?country=FR&category=talk` before (single-select) and `?country=FR,DE&category=talk,sport` after.

    .venv/bin/python benchmarks/bench_map_languages.py                  # 10,000 and 50,000
    .venv/bin/python benchmarks/bench_map_languages.py --sizes 1000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import map_pages
from bench_map import CHROMIUM, CHROMIUM_ARGS, VIEWPORT  # the map benchmark's browser
from playwright.sync_api import Browser, sync_playwright

from mapapp import PROJECT_ROOT

BASELINE_COMMIT = "16c30bccd1ab2de452bedd3ecb5b19e63a327fc3"  # main before issue 13
DEFAULT_SIZES = (10_000, 50_000)
TIMEOUT_SECONDS = 60.0
# Runs the app of one source tree: its own package first on the path, no tiles, port from argv.
SERVER_SCRIPT = """
import logging, sys
from werkzeug.serving import make_server
from mapapp import create_app
logging.getLogger("werkzeug").setLevel(logging.ERROR)
app = create_app({"DATA_DIR": sys.argv[1], "ENV": "testing", "SECRET_KEY": "x", "TILES": "none"})
make_server("127.0.0.1", int(sys.argv[2]), app, threaded=True).serve_forever()
"""
# Writes events (JSON on stdin) as a data directory with one tree's own store, so each version reads
# a file of its own schema (the one before issue 13 has no interface_language column).
WRITER_SCRIPT = """
import json, sys
from mapapp.events import FIELDS
from mapapp.storage import EventStore
events = [{k: v for k, v in e.items() if k in FIELDS} for e in json.load(sys.stdin)]
EventStore(sys.argv[1]).replace_all(events)
"""
READY_SCRIPT = """
(() => {
  const watch = () => {
    if (document.body && document.body.getAttribute('data-map-ready') === 'true'
        && document.querySelector('.leaflet-marker-pane > *')) {
      requestAnimationFrame(() => { window.__benchReadyAt = performance.now(); });
    } else {
      requestAnimationFrame(watch);
    }
  };
  requestAnimationFrame(watch);
})();
"""
REDRAW_SCRIPT = """
() => new Promise((resolve) => {
  const map = window.map_main;
  const started = performance.now();
  map.once('moveend', () => requestAnimationFrame(() => requestAnimationFrame(() =>
    resolve(performance.now() - started))));
  map.setView([48.5, 5.0], 6, {animate: false});
})
"""


@dataclass
class Row:
    """One page of one version at one size: medians of the runs."""

    page: str
    version: str
    ready: float | None
    redraw: float | None
    html_bytes: int


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unpack_baseline(target: Path) -> Path:
    """Unpack the code before issue 13 from git into target; return its root."""
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


def write_data_dir(tree: Path, directory: Path, events: list[dict[str, str]]) -> None:
    """Store the events as a data directory with the store of the given source tree."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", WRITER_SCRIPT, str(directory)],
        input=json.dumps(events).encode(),
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        check=True,
    )


@contextmanager
def serve(tree: Path, data_dir: Path) -> Iterator[str]:
    """Run the app of a source tree on the data directory; yield its base URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, str(data_dir), str(port)],
        env=env,
        cwd=tree,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the app of {tree} did not start") from None
                time.sleep(0.2)
        # Warm the server's caches (map data, labels) as a running app has them.
        for path in ("/", "/api/map-data.json", "/api/map-labels.json"):
            urllib.request.urlopen(base + path, timeout=TIMEOUT_SECONDS).read()
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(browser: Browser, url: str) -> tuple[float, float, int]:
    """Load the page in a fresh context; return seconds to ready, redraw ms and HTML bytes."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.add_init_script(READY_SCRIPT)
    page = context.new_page()
    try:
        response = page.goto(url, wait_until="commit", timeout=TIMEOUT_SECONDS * 1000)
        page.wait_for_function(
            "() => window.__benchReadyAt !== undefined",
            timeout=TIMEOUT_SECONDS * 1000,
            polling=50,
        )
        ready = float(page.evaluate("window.__benchReadyAt")) / 1000
        redraw = float(page.evaluate(REDRAW_SCRIPT))
        html_bytes = len(response.body()) if response else 0
        return ready, redraw, html_bytes
    finally:
        context.close()


def median(values: list[float]) -> float | None:
    """Return the median, or None for no values."""
    return statistics.median(values) if values else None


def bench_size(browser: Browser, count: int, runs: int, baseline: Path, work: Path) -> list[Row]:
    """Measure every page of both versions on `count` events."""
    events = map_pages.map_events(count)
    pages = [
        ("map /", "/", "/"),
        ("map in French", None, "/fr/"),
        ("filtered", "/?country=FR&category=talk", "/?country=FR,DE&category=talk,sport"),
    ]
    rows: list[Row] = []
    for version, tree in (("before", baseline), ("after", PROJECT_ROOT)):
        data_dir = work / f"data-{count}-{version}"
        write_data_dir(tree, data_dir, events)
        with serve(tree, data_dir) as base:
            for name, before_path, after_path in pages:
                path = before_path if version == "before" else after_path
                if path is None:
                    continue
                readies, redraws, size = [], [], 0
                for _ in range(runs):
                    ready, redraw, size = measure(browser, base + path)
                    readies.append(ready)
                    redraws.append(redraw)
                rows.append(Row(name, version, median(readies), median(redraws), size))
    return rows


def print_table(count: int, rows: list[Row]) -> None:
    """Print one size's table, after against before."""
    print(f"\n{count:,} events")
    print("| page | version | ready s (median) | vs before | redraw ms | vs before | HTML KB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    before = {row.page: row for row in rows if row.version == "before"}
    reference = before["map /"]
    for row in rows:
        base = before.get(row.page, reference)
        ready_ratio = (
            f"{row.ready / base.ready:.2f}x" if row.ready and base.ready and row is not base else ""
        )
        redraw_ratio = (
            f"{row.redraw / base.redraw:.2f}x"
            if row.redraw and base.redraw and row is not base
            else ""
        )
        print(
            f"| {row.page} | {row.version} | {row.ready or 0:.3f} | {ready_ratio} "
            f"| {row.redraw or 0:.1f} | {redraw_ratio} | {row.html_bytes / 1024:.1f} |"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(size) for size in text.split(",")],
        default=list(DEFAULT_SIZES),
    )
    parser.add_argument("--runs", type=int, default=5)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    args = parse_args(argv)
    if not Path(CHROMIUM).exists() or shutil.which("git") is None:
        print("needs /usr/bin/chromium and git", file=sys.stderr)
        return 1
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(f"before: {BASELINE_COMMIT[:10]} (main before issue 13); after: this checkout")
    with tempfile.TemporaryDirectory() as temporary, sync_playwright() as playwright:
        work = Path(temporary)
        baseline = unpack_baseline(work)
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            for count in args.sizes:
                print_table(count, bench_size(browser, count, args.runs, baseline, work))
        finally:
            browser.close()
    print(f"\nload average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
