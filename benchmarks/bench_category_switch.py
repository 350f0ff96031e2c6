"""Time switching category on the visitors' map, before and after the clusters' Web Worker.

The same events are served by two apps at once, page loads alternating between them: the map as of `BASELINE_COMMIT` (one
Supercluster of the kept events, rebuilt on the page's thread at every filter change; unpacked
from git into a temporary directory) and the checkout's (one index per category, built in a Web
Worker), each in its own process on 127.0.0.1 with no tiles, in Debian's chromium. For each size
and version the table gives:

- ready: from navigation to the first frame painted with the events clustered and drawn;
- switch: from a click on a category's checkbox to two frames after the map has drawn the new
  clusters, the list and the counts (median and p95 of `--switches` clicks: one category, two,
  back to one, to all, ...). The checkout's indexes are built in the background after the
  first map; the switches start once the page says they are (`data-clusters-built`);
- redraw: a zoom to western Europe, from `setView` to two frames after the map has drawn.

    .venv/bin/python benchmarks/bench_category_switch.py                 # 50,000 and 200,000
    .venv/bin/python benchmarks/bench_category_switch.py --sizes 1000 --runs 1 --switches 4
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import map_pages
from bench_map import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from bench_map_languages import READY_SCRIPT, serve
from playwright.sync_api import Browser, sync_playwright

from mapapp import PROJECT_ROOT

BASELINE_COMMIT = "8dc042d"  # main before the clusters' worker (issue 14)
DEFAULT_SIZES = (50_000, 200_000)
FLOOR_MS = 200.0  # issue 14: a category switch at 200,000 events
TIMEOUT_SECONDS = 120.0
# Each click toggles one box: talk, talk+sport, sport, all, awareness, all, and again.
CLICKS = ("talk", "sport", "talk", "sport", "awareness", "awareness")
# After a change, the checkout's map draws when the worker answers (data-map-draws counts the
# draws); the baseline's draws before its handler returns, so the attribute never appears there.
DRAWN_AFTER = """
(start, before, resolve) => {
  const wait = () => {
    const draws = document.body.getAttribute('data-map-draws');
    if (draws === null || draws !== before) {
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - start)));
    } else {
      setTimeout(wait, 0);
    }
  };
  wait();
}
"""
SWITCH_SCRIPT = (
    """
(code) => new Promise((resolve) => {
  const drawn = """
    + DRAWN_AFTER
    + """;
  const box = document.querySelector('input[name="category"][value="' + code + '"]');
  const before = document.body.getAttribute('data-map-draws');
  const start = performance.now();
  box.click();
  drawn(start, before, resolve);
})
"""
)
REDRAW_SCRIPT = (
    """
() => new Promise((resolve) => {
  const drawn = """
    + DRAWN_AFTER
    + """;
  const map = window.map_main;
  const before = document.body.getAttribute('data-map-draws');
  const start = performance.now();
  map.once('moveend', () => drawn(start, before, resolve));
  map.setView([48.5, 5.0], 6, {animate: false});
})
"""
)


@dataclass
class Row:
    """One version at one size: what its runs measured."""

    version: str
    ready: list[float] = field(default_factory=list)
    switches: list[float] = field(default_factory=list)
    redraws: list[float] = field(default_factory=list)


def unpack_baseline(target: Path) -> Path:
    """Unpack the map as of BASELINE_COMMIT from git into target; return its root."""
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


def measure(browser: Browser, url: str, switches: int, row: Row) -> None:
    """Load the map in a fresh context, switch categories and zoom; add the times to row."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.add_init_script(READY_SCRIPT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(url, wait_until="commit", timeout=TIMEOUT_SECONDS * 1000)
        page.wait_for_function(
            "() => window.__benchReadyAt !== undefined", timeout=TIMEOUT_SECONDS * 1000
        )
        row.ready.append(float(page.evaluate("window.__benchReadyAt")) / 1000)
        page.wait_for_function(
            "() => ['true', null].includes(document.body.getAttribute('data-clusters-built'))",
            timeout=TIMEOUT_SECONDS * 1000,
        )
        for k in range(switches):
            row.switches.append(float(page.evaluate(SWITCH_SCRIPT, CLICKS[k % len(CLICKS)])))
        row.redraws.append(float(page.evaluate(REDRAW_SCRIPT)))
        if errors:
            raise RuntimeError(f"{url}: {errors}")
    finally:
        context.close()


def p95(values: list[float]) -> float:
    """Return the 95th percentile (nearest rank) of the values."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def print_table(count: int, rows: list[Row]) -> None:
    """Print one size's table, the checkout against the baseline."""
    before = rows[0]
    print(f"\n{count:,} events")
    print(
        "| version | ready s | switch ms (median) | switch ms (p95) | vs before (median) "
        "| redraw ms | switches |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        switch = statistics.median(row.switches)
        ratio = "" if row is before else f"{switch / statistics.median(before.switches):.2f}x"
        print(
            f"| {row.version} | {statistics.median(row.ready):.2f} | {switch:.0f} "
            f"| {p95(row.switches):.0f} | {ratio} | {statistics.median(row.redraws):.0f} "
            f"| {len(row.switches)} |"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(size) for size in text.split(",")],
        default=list(DEFAULT_SIZES),
    )
    parser.add_argument("--runs", type=int, default=3, help="page loads per version and size")
    parser.add_argument("--switches", type=int, default=12, help="category clicks per load")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    args = parse_args(argv)
    if not Path(CHROMIUM).exists() or shutil.which("git") is None:
        print("needs /usr/bin/chromium and git", file=sys.stderr)
        return 1
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(f"before: {BASELINE_COMMIT} (one index, on the page's thread); after: this checkout")
    print(f"floor: a switch under {FLOOR_MS:.0f} ms at 200,000 events")
    with tempfile.TemporaryDirectory() as temporary, sync_playwright() as playwright:
        work = Path(temporary)
        baseline = unpack_baseline(work)
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            for count in args.sizes:
                data_dir = work / f"data-{count}"
                # Both versions read the same store format: one data directory serves both.
                map_pages.write_data_dir(data_dir, map_pages.map_events(count))
                rows = [Row("before"), Row("after")]
                with serve(baseline, data_dir) as before, serve(PROJECT_ROOT, data_dir) as after:
                    # Runs alternate between the versions, so that a change in the machine's
                    # load falls on both alike.
                    for _ in range(args.runs):
                        for row, base in zip(rows, (before, after), strict=True):
                            measure(browser, base + "/", args.switches, row)
                print_table(count, rows)
                shutil.rmtree(data_dir)
        finally:
            browser.close()
    print(f"\nload average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
