"""Time the visitors' map against folium's pages for 1,000 / 10,000 / 50,000 events in chromium.

For each size the same events are drawn by three pages: ours (`/` of the app, data loaded from the
API), folium's one-Marker-per-event page in a MarkerCluster, and folium's FastMarkerCluster page.
Each measurement is a cold browser cache (a new context), timed from navigation to the first frame
painted after every point is clustered and drawn: markers or clusters exist in Leaflet's marker pane
and the page says it is done (ours: `<body data-map-ready="true">`, set by map.js after clustering
and drawing; folium's: parsing finished, as their inline scripts add every marker). Folium's CDN
assets are served locally (a few npm packages are installed in a cache directory for them).

    .venv/bin/python benchmarks/bench_map.py                      # 1,000 / 10,000 / 50,000
    .venv/bin/python benchmarks/bench_map.py --sizes 1000,10000 --runs 1
"""

from __future__ import annotations

import argparse
import functools
import gzip
import logging
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import map_pages
from playwright.sync_api import Browser, Response, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from werkzeug.serving import make_server

from mapapp import create_app
from mapapp.storage import Audit, EventStore

# The app's request log would drown the tables.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}
DEFAULT_SIZES = (1_000, 10_000, 50_000)
# Issue 4's floors: seconds to ready by size, and gzipped map data bytes per event.
READY_FLOORS = {10_000: 0.5, 50_000: 1.0}
BYTES_PER_EVENT_FLOOR = 30
# A load slower than this is measured once, not `runs` times (folium's Marker page at 10k+).
REPEAT_ONLY_UNDER_SECONDS = 10.0
GZIP_LEVEL = 6
SETTLE_SECONDS = 10
MAP_DATA_PATH = "/api/map-data.json"
OUR_PAGE = "ours (/)"
PAGE_KEYS = {"ours": OUR_PAGE, "fast": "folium FastMarkerCluster", "marker": "folium Marker"}
# Where the events reach the browser: our page fetches them from the API, folium inlines them.
OUR_EVENT_DATA_PREFIX = "/api/"

# Runs in every page before its own scripts: note the first frame painted once markers or clusters
# exist in Leaflet's marker pane and the page's own condition (below) holds.
READY_SCRIPT = """
(() => {
  window.__mapBenchLongTasks = [];
  new PerformanceObserver((list) => {
    for (const task of list.getEntries()) {
      window.__mapBenchLongTasks.push([task.startTime, task.duration]);
    }
  }).observe({ type: 'longtask', buffered: true });
  const drawn = () => document.querySelector('.leaflet-marker-pane > *') !== null;
  const watch = () => {
    if (drawn() && (CONDITION)) {
      requestAnimationFrame(() => { window.__mapBenchReadyAt = performance.now(); });
    } else {
      requestAnimationFrame(watch);
    }
  };
  requestAnimationFrame(watch);
})();
"""
# Our map data is columns of integers (lat, lon, scale); index it as map.js does, warm, 3 times.
CLUSTERING_SCRIPT = """
async (path) => {
  const data = await (await fetch(path)).json();
  const points = [];
  for (let i = 0; i < data.lat.length; i++) {
    if (data.lat[i] === null) continue;
    const coordinates = [data.lon[i] / data.scale, data.lat[i] / data.scale];
    points.push({ type: 'Feature', properties: { i }, geometry: { type: 'Point', coordinates } });
  }
  const costs = [];
  for (const maxZoom of [16, 14, 12]) {
    const times = [];
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      new Supercluster({ radius: 60, maxZoom }).load(points);
      times.push(performance.now() - started);
    }
    costs.push([maxZoom, times.sort((a, b) => a - b)[1]]);
  }
  return costs;
}
"""
# Our map.js marks the body once the data is loaded, clustered and drawn.
OUR_READY = "document.body.getAttribute('data-map-ready') === 'true'"
# Folium's pages add every marker in inline scripts, all run by the end of parsing.
FOLIUM_READY = "document.readyState !== 'loading'"
PHASES_SCRIPT = """
(prefix) => {
  const nav = performance.getEntriesByType('navigation')[0];
  // Event data may be fetched by a script or preloaded by a <link>: find it by its path.
  const isData = e => new URL(e.name).pathname.startsWith(prefix);
  const resources = performance.getEntriesByType('resource');
  const first = resources.filter(e => isData(e) || e.initiatorType === 'fetch')
    .sort((a, b) => a.startTime - b.startTime).find(isData);
  const code = resources
    .filter(e => !isData(e) && (e.initiatorType === 'script' || e.initiatorType === 'link'));
  return {
    long_tasks: window.__mapBenchLongTasks,
    summary: document.getElementById('summary')?.textContent ?? null,
    html: nav.responseEnd,
    scripts: code.length ? Math.max(...code.map(e => e.responseEnd)) : null,
    dom: nav.domContentLoadedEventEnd,
    asked: first ? first.startTime : null,
    first_byte: first ? first.responseStart : null,
    data: first ? first.responseEnd : null,
  };
}
"""


@dataclass
class Load:
    """What one cold page load cost."""

    ready: float
    html: list[bytes] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)
    event_data: list[bytes] = field(default_factory=list)
    assets: list[bytes] = field(default_factory=list)
    data_urls: list[tuple[str, bytes]] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    phases: dict[str, float | None] = field(default_factory=dict)
    long_tasks: list[float] = field(default_factory=list)
    summary: str | None = None
    heap: float = 0.0


@dataclass
class Result:
    """The loads of one page at one size."""

    page: str
    url: str
    build_seconds: float | None
    loads: list[Load] = field(default_factory=list)
    timed_out: bool = False
    note: str = ""


def _ours_event_data(response: Response) -> bool:
    """Tell whether a response of our page carries events (the API), not assets or outlines."""
    return urlsplit(response.url).path.startswith(OUR_EVENT_DATA_PREFIX)


def _folium_event_data(response: Response) -> bool:
    """Tell whether a response of a folium page carries events: its HTML, where they are inlined."""
    return response.request.resource_type == "document"


@dataclass(frozen=True)
class PageRules:
    """How to tell that a page is ready and which of its responses carry events."""

    condition: str
    is_event_data: Callable[[Response], bool]


OUR_RULES = PageRules(OUR_READY, _ours_event_data)
FOLIUM_RULES = PageRules(FOLIUM_READY, _folium_event_data)


def gz(bodies: list[bytes]) -> int:
    """Return the gzipped size of each body, summed."""
    return sum(len(gzip.compress(body, GZIP_LEVEL)) for body in bodies)


def raw(bodies: list[bytes]) -> int:
    """Return the size of the bodies, summed."""
    return sum(len(body) for body in bodies)


def measure(browser: Browser, url: str, timeout: float, rules: PageRules) -> Load | None:
    """Load a page in a fresh context and return what it cost, or None past the timeout."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.add_init_script(READY_SCRIPT.replace("CONDITION", rules.condition))
    page = context.new_page()
    responses: list[Response] = []
    errors: list[str] = []
    page.on("response", lambda response: responses.append(response))
    page.on("pageerror", lambda error: errors.append(str(error)))
    cdp = context.new_cdp_session(page)
    started = time.monotonic()
    try:
        page.goto(url, wait_until="commit", timeout=timeout * 1000)
        left = max(timeout - (time.monotonic() - started), 0.1)
        page.wait_for_function(
            "() => window.__mapBenchReadyAt !== undefined", timeout=left * 1000, polling=50
        )
        load = Load(ready=page.evaluate("window.__mapBenchReadyAt") / 1000, errors=errors)
        timings = page.evaluate(PHASES_SCRIPT, OUR_EVENT_DATA_PREFIX)
        # Only the main thread's long tasks (> 50 ms) that began before the ready frame.
        load.long_tasks = [
            duration / 1000
            for start, duration in timings.pop("long_tasks")
            if start < load.ready * 1000
        ]
        load.summary = timings.pop("summary")
        load.phases = {k: None if v is None else v / 1000 for k, v in timings.items()}
        # Count what the page fetched once it settles (our list's labels come after the map).
        with suppress(PlaywrightTimeoutError):
            page.wait_for_load_state("networkidle", timeout=SETTLE_SECONDS * 1000)
        cdp.send("HeapProfiler.collectGarbage")
        load.heap = cdp.send("Runtime.getHeapUsage")["usedSize"]
        for response in responses:
            _sort_response(load, response, url, rules.is_event_data)
        return load
    except PlaywrightTimeoutError:
        return None
    finally:
        context.close()


def _sort_response(
    load: Load, response: Response, page_url: str, is_event_data: Callable[[Response], bool]
) -> None:
    """Count a response's body as HTML, data or assets, and note requests to other hosts."""
    if urlsplit(response.url).netloc != urlsplit(page_url).netloc:
        load.offsite.append(response.url)
        return
    try:
        body = response.body()
    except Exception:  # chromium drops very large bodies (folium's 40 MB page): fetch it again
        if response.request.method != "GET" or response.status != 200:
            return
        with urllib.request.urlopen(response.url, timeout=60) as again:
            body = again.read()
    kind = response.request.resource_type
    if kind == "document":
        load.html.append(body)
    elif kind in ("fetch", "xhr") or is_event_data(response):  # a preloaded fetch counts too
        load.data.append(body)
        load.data_urls.append((urlsplit(response.url).path, body))
    else:
        load.assets.append(body)
    if is_event_data(response):
        load.event_data.append(body)


def run_page(
    browser: Browser,
    result: Result,
    runs: int,
    timeout: float,
    rules: PageRules,
) -> Result:
    """Measure one page up to `runs` times, once only when a load is slow."""
    for _ in range(runs):
        load = measure(browser, result.url, timeout, rules)
        if load is None:
            result.timed_out = True
            break
        result.loads.append(load)
        if load.ready > REPEAT_ONLY_UNDER_SECONDS:
            break
    return result


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve a directory over HTTP on 127.0.0.1 and yield its base URL."""

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Keep the benchmark's output to its tables."""

    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            """Ignore the browser hanging up: a context closes while images still load."""
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    handler = functools.partial(QuietHandler, directory=str(directory))
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_app(data_dir: Path) -> Iterator[str]:
    """Serve the app on a data directory on 127.0.0.1 and yield its base URL."""
    app = create_app(
        {"DATA_DIR": str(data_dir), "ENV": "testing", "SECRET_KEY": "x", "TILES": "none"}
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def bench_size(
    browser: Browser, work: Path, count: int, pages: list[str], runs: int, timeout: float
) -> tuple[int, list[Result]]:
    """Measure every page for `count` events and return the events drawn and the results."""
    events = map_pages.map_events(count)
    label = str(count)
    results: list[Result] = []
    if OUR_PAGE in pages:
        data_dir = work / f"data-{label}"
        map_pages.write_data_dir(data_dir, events)
        with serve_app(data_dir) as base:
            ours = Result(OUR_PAGE, base + "/", None)
            # A first load, not counted, warms the server's caches (built once per store version).
            first = measure(browser, ours.url, timeout, OUR_RULES)
            results.append(run_page(browser, ours, runs, timeout, OUR_RULES))
            first_note = (
                f"first load after start (server caches cold) ready in {first.ready:.2f} s"
                if first
                else "first load after start timed out"
            )
            checks = [
                clustering_costs(browser, ours.url),
                map_data_rebuild(base, data_dir, events[0]),
            ]
            ours.note = "; ".join([first_note, *checks])
    folium_names = [name for name in pages if name != OUR_PAGE]
    if folium_names:
        site = work / "site"
        built = map_pages.build_folium_pages(site, events, label, folium_names)
        with serve_directory(site) as base:
            for page in built:
                result = Result(page.name, f"{base}/pages/{page.path.name}", page.build_seconds)
                if page.stripped:
                    result.note = "dropped unused CDN files: " + ", ".join(
                        url.rsplit("/", 1)[-1] for url in page.stripped
                    )
                results.append(run_page(browser, result, runs, timeout, FOLIUM_RULES))
                page.path.unlink()
    return len(events), results


def map_data_rebuild(base: str, data_dir: Path, event: dict[str, str]) -> str:
    """Time the map data request warm, then again after one event changes in the store."""

    def timed_get() -> float:
        request = urllib.request.Request(base + MAP_DATA_PATH, headers={"Accept-Encoding": "gzip"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
        return time.perf_counter() - started

    warm = timed_get()
    store = EventStore(data_dir)
    current = store.get(event["id"])
    assert current is not None
    store.update(
        event["id"],
        {"title": event["title"] + " (changed)"},
        expected=current["version"],
        audit=Audit("bench", "edit"),
    )
    changed = timed_get()
    return f"{MAP_DATA_PATH} answers in {warm * 1000:.0f} ms, {changed * 1000:.0f} ms after an edit"


def clustering_costs(browser: Browser, url: str) -> str:
    """Time Supercluster's index of the page's own points at a few maxZoom settings."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-map-ready=true]", timeout=60_000)
        costs = page.evaluate(CLUSTERING_SCRIPT, MAP_DATA_PATH)
    except Exception as exc:  # the page or its data format changed: say so, keep the tables
        return f"clustering check failed: {exc}".splitlines()[0]
    finally:
        context.close()
    return "Supercluster.load of these points: " + ", ".join(
        f"maxZoom {zoom} {ms:.0f} ms" for zoom, ms in costs
    )


def human_bytes(size: float) -> str:
    """Return a byte count as B, kB or MB."""
    if size < 1000:
        return f"{size:.0f} B"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.2f} MB"


def median_of(loads: list[Load], value: Callable[[Load], float | None]) -> float | None:
    """Return the median of a value over loads, ignoring missing ones."""
    values = [v for v in (value(load) for load in loads) if v is not None]
    return statistics.median(values) if values else None


def seconds(value: float | None) -> str:
    """Return seconds with two decimals, or a dash."""
    return "–" if value is None else f"{value:.2f}"


def print_tables(count: int, results: list[Result], timeout: float) -> None:
    """Print the size's main table and its phases table, as Markdown."""
    print(f"\n### {count:,} events\n")
    print(
        "| page | ready s (median) | vs FastMarkerCluster | runs | HTML raw / gzip "
        "| data raw / gzip | event data B/event gzip | assets gzip | JS heap MB | Python build s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    baseline = next((r for r in results if r.page == PAGE_KEYS["fast"] and r.loads), None)
    base_ready = median_of(baseline.loads, lambda load: load.ready) if baseline else None
    for result in results:
        build = seconds(result.build_seconds)
        if not result.loads:
            print(f"| {result.page} | > {timeout:.0f} | – | 0 | – | – | – | – | – | {build} |")
            continue
        first = result.loads[0]
        ready = median_of(result.loads, lambda load: load.ready)
        heap = median_of(result.loads, lambda load: load.heap) or 0.0
        runs = f"{len(result.loads)}" + (" (+1 > timeout)" if result.timed_out else "")
        per_event = gz(first.event_data) / count
        print(
            f"| {result.page} | {seconds(ready)} "
            f"| {f'{ready / base_ready:.2f}x' if ready and base_ready else '–'} | {runs} "
            f"| {human_bytes(raw(first.html))} / {human_bytes(gz(first.html))} "
            f"| {human_bytes(raw(first.data))} / {human_bytes(gz(first.data))} "
            f"| {per_event:.1f} | {human_bytes(gz(first.assets))} "
            f"| {heap / 1e6:.1f} | {build} |"
        )
    print(
        "\n| page | HTML received s | scripts, CSS received s | DOMContentLoaded s "
        "| event data asked s | its first byte s | its last byte s | ready s "
        "| long tasks s (count) | longest task s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        if not result.loads:
            continue

        def phase(name: str, loads: list[Load] = result.loads) -> str:
            return seconds(median_of(loads, lambda load: load.phases.get(name)))

        tasks = median_of(result.loads, lambda load: sum(load.long_tasks))
        task_count = median_of(result.loads, lambda load: len(load.long_tasks)) or 0
        longest = median_of(result.loads, lambda load: max(load.long_tasks, default=0.0))
        print(
            f"| {result.page} | {phase('html')} | {phase('scripts')} | {phase('dom')} "
            f"| {phase('asked')} "
            f"| {phase('first_byte')} | {phase('data')} "
            f"| {seconds(median_of(result.loads, lambda load: load.ready))} "
            f"| {seconds(tasks)} ({task_count:.0f}) | {seconds(longest)} |"
        )
    for result in results:
        notes = [result.note] if result.note else []
        if result.loads:
            first = result.loads[0]
            if first.data_urls:
                notes.append(
                    "data requests (raw / gzip): "
                    + ", ".join(
                        f"{path} {human_bytes(len(body))} / {human_bytes(gz([body]))}"
                        + (
                            f" = {gz([body]) / count:.1f} B/event"
                            if path.startswith(OUR_EVENT_DATA_PREFIX)
                            else ""
                        )
                        for path, body in first.data_urls
                    )
                )
            if first.summary:
                notes.append(f"the page says {first.summary.strip()!r}")
            if first.offsite:
                notes.append(f"{len(first.offsite)} requests to other hosts: {first.offsite[:3]}")
            if first.errors:
                notes.append(f"page errors: {first.errors[:3]}")
        if notes:
            print(f"\n- {result.page}: " + "; ".join(notes))


def print_floors(summary: dict[int, list[Result]]) -> None:
    """Print whether our page meets issue 4's floors."""
    print("\n### Floors (our page)\n")
    for count, results in summary.items():
        ours = next((r for r in results if r.page == OUR_PAGE), None)
        if ours is None:
            continue
        if not ours.loads:
            print(f"- {count:,} events: our page never became ready")
            continue
        ready = median_of(ours.loads, lambda load: load.ready) or 0.0
        if count in READY_FLOORS:
            floor = READY_FLOORS[count]
            verdict = "meets" if ready < floor else f"MISSES by {ready - floor:.2f} s"
            print(f"- {count:,} events ready in {ready:.2f} s (floor {floor} s): {verdict}")
        per_event = gz(ours.loads[0].event_data) / count
        verdict = "meets" if per_event < BYTES_PER_EVENT_FLOOR else "MISSES"
        print(
            f"- {count:,} events: {per_event:.1f} B/event of event data gzipped "
            f"(floor {BYTES_PER_EVENT_FLOOR}): {verdict}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in DEFAULT_SIZES),
        help="comma-separated event counts (default: %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=3, help="loads per page, median reported")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per page load")
    parser.add_argument(
        "--pages",
        default=",".join(PAGE_KEYS),
        help="which pages, of: " + ", ".join(PAGE_KEYS) + " (default: all)",
    )
    parser.add_argument(
        "--npm-cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "mapapp-bench-npm",
        help="where folium's extra front-end packages are installed with npm",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    args = parse_args(argv)
    try:
        sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size]
        pages = [PAGE_KEYS[key.strip()] for key in args.pages.split(",") if key.strip()]
    except (ValueError, KeyError) as exc:
        sys.exit(f"--sizes takes counts like 1000,10000; --pages some of ours,fast,marker ({exc})")
    started = time.perf_counter()
    print(
        f"# Map benchmark: chromium headless, cold browser cache per load, "
        f"median of up to {args.runs} loads, timeout {args.timeout:.0f} s\n"
    )
    summary: dict[int, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="mapapp-bench-map-") as tmp, sync_playwright() as pw:
        work = Path(tmp)
        map_pages.prepare_site(work / "site", map_pages.ensure_folium_assets(args.npm_cache))
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for count in sizes:
                drawn, results = bench_size(browser, work, count, pages, args.runs, args.timeout)
                summary[drawn] = results
                print_tables(drawn, results, args.timeout)
                sys.stdout.flush()
        finally:
            browser.close()
    print_floors(summary)
    print(f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
