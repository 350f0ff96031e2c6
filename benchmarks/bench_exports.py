"""Time cold and warm exports of 50,000 events, against today's code path in the same run.

Cold renders, each format: ours against a baseline run in the same process. For Excel, the
labelled, typed sheet written by xlsxwriter (constant_memory, what the app uses) against the same
sheet written by openpyxl's write-only mode, and against the sheet of text cells that the app
wrote before issue 10 (openpyxl write-only, kept here as `text_sheet_xlsx`). For iCalendar the
first export after a start (it builds each time zone's VTIMEZONE) and a second one, against
icalendar's own component objects timed on the first 5,000 events and scaled. CSV, JSON and
GeoJSON against pandas. Peak memory is the rise of the process's peak RSS during the render
(Linux: /proc/self/clear_refs resets the peak before each). Times are CPU seconds of this
process (`time.process_time`), so other work on the machine does not inflate them.

Warm: what a visitor gets once an export is kept: the app's answer through its test client from
the disk cache, and the cost of the public version the caches are keyed on.

`--before CHECKOUT` adds a row to the cold table: the XLSX rendered by the code of a checkout (e.g.
a `git worktree` of main) on the same events, in a fresh process of its own, in the same run.
`--only xlsx` (a comma-separated list of rows' formats) leaves the other rows and the warm answers
out, for a quick before/after of one format.

`--flood CHECKOUT` measures through `mapapp serve` instead: the cache flood (80 GETs of
/api/events.geojson with distinct filters, each worker's RSS before and after) and the export
flood (8 concurrent /events.xlsx?year=all, then /healthz), with the code of a checkout (e.g. a
`git worktree` of an older commit) on a copy of the generated events.

    .venv/bin/python benchmarks/bench_exports.py                      # 50,000 events
    .venv/bin/python benchmarks/bench_exports.py --events 200 --repeat 1
    .venv/bin/python benchmarks/bench_exports.py --before /tmp/base --only xlsx
    .venv/bin/python benchmarks/bench_exports.py --flood /tmp/base --workers 2
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import io
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import requests
from icalendar import Calendar, Event
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for scripts.make_sample_data, run from anywhere

from mapapp import create_app  # noqa: E402
from mapapp.events import FIELDS, PUBLIC_FIELDS  # noqa: E402
from mapapp.excel import COORDINATE_NUMBER_FORMAT, DATETIME_NUMBER_FORMAT, xlsx_sheet  # noqa: E402
from mapapp.exports import render_export, spreadsheet_rows  # noqa: E402
from mapapp.publication import public_version  # noqa: E402
from scripts.make_sample_data import generate_events, write_events  # noqa: E402

DEFAULT_EVENTS = 50_000
DEFAULT_REPEAT = 3
ICS_BASELINE_EVENTS = 5_000
BASE_URL = "https://map.example/"
OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
FLOOD_FILTERS = 80
EXPORT_FLOOD = 8
FLOOD_TIMEOUT_SECONDS = 600
HEALTH_TIMEOUT_SECONDS = 60
STARTUP_SECONDS = 300
# Below this many events the peak memory column is left out: each measure is a fresh process.
PEAK_MIN_EVENTS = 1000

# Run with a checkout's code (--before, and this tree's for comparison): times the XLSX render of the
# events file in argv[1], median of argv[2] runs, after a first render the peak RSS rise is taken of.
BEFORE_SCRIPT = """
import gc, statistics, sys, time
from pathlib import Path
import pandas as pd
from mapapp.exports import render_export
frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
def status_mb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0
gc.collect()
Path("/proc/self/clear_refs").write_text("5")
start = status_mb("VmRSS")
body = render_export("xlsx", frame, base_url="")[0]
peak = status_mb("VmHWM") - start
samples = []
for _ in range(int(sys.argv[2])):
    started = time.process_time()
    body = render_export("xlsx", frame, base_url="")[0]
    samples.append(time.process_time() - started)
print(statistics.median(samples), len(body), peak)
"""

Measure = tuple[float, int, float]  # CPU seconds, bytes, peak MB
Row = tuple[str, Measure | None, str, Measure | None]  # None: as the row above


def peak_rss_reset() -> float:
    """Reset this process's peak RSS (Linux) and return the RSS now, in MB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status_mb("VmRSS")


def _status_mb(field: str, pid: int | str = "self") -> float:
    """Return a memory field of /proc/<pid>/status in MB (0 where there is none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def timed(operation: Callable[[], bytes | str], repeat: int) -> tuple[float, int]:
    """Return the median CPU seconds of an operation and its output's size."""
    samples, size = [], 0
    for _ in range(repeat):
        started = time.process_time()
        result = operation()
        samples.append(time.process_time() - started)
        size = len(result.encode() if isinstance(result, str) else result)
    return statistics.median(samples), size


def peak_mb(renderer: str, events: int) -> float:
    """Return how far one render raises the peak RSS of a fresh process, in MB (0: not measured)."""
    if events < PEAK_MIN_EVENTS:
        return 0.0
    command = [sys.executable, __file__, "--events", str(events), "--peak", renderer]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    return float(result.stdout.split()[-1])


def measure_peak(renderer: str, frame: pd.DataFrame) -> float:
    """Render once in this (fresh) process and return the rise of its peak RSS, in MB."""
    gc.collect()
    try:  # hand the freed heap back to the system, so that the render's own memory shows
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    start = peak_rss_reset()
    RENDERERS[renderer](frame)
    return _status_mb("VmHWM") - start


def text_sheet_xlsx(frame: pd.DataFrame) -> bytes:
    """Return the workbook the app wrote before issue 10: raw names, every cell text."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Events")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in frame.columns:
        cell = WriteOnlyCell(sheet, value=str(name))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in spreadsheet_rows(frame):
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
            cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def openpyxl_sheet_xlsx(frame: pd.DataFrame) -> bytes:
    """Return the app's labelled, typed sheet written by openpyxl's write-only mode instead."""
    columns, rows = xlsx_sheet(frame)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Events")
    for position, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(position)].width = column.width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column.label)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    kinds = [column.kind for column in columns]
    for row in rows:
        cells: list[Any] = []
        for value, kind in zip(row, kinds, strict=True):
            if value is None:
                cells.append(None)
                continue
            cell = WriteOnlyCell(sheet, value=value)
            if kind == "text":
                cell.data_type = "s"
            elif kind == "datetime":
                cell.number_format = DATETIME_NUMBER_FORMAT
            elif kind == "number":
                cell.number_format = COORDINATE_NUMBER_FORMAT
            cells.append(cell)
        sheet.append(cells)
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(frame) + 1}"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def icalendar_objects(frame: pd.DataFrame) -> bytes:
    """Return the events as iCalendar built from icalendar's component objects."""
    calendar = Calendar()
    calendar.add("prodid", "-//bench//EN")
    calendar.add("version", "2.0")
    for record in frame.to_dict(orient="records"):
        event = Event()
        tz = ZoneInfo(str(record["timezone"]) or "UTC")
        event.add("uid", f"{record['id']}@bench")
        event.add("dtstamp", datetime.now(ZoneInfo("UTC")))
        event.add("dtstart", datetime.fromisoformat(str(record["starts_at"])).replace(tzinfo=tz))
        event.add("summary", record["title"])
        event.add("description", record["description"])
        event.add("location", f"{record['venue']}, {record['city']}")
        calendar.add_component(event)
    years = frame["starts_at"].str.slice(0, 4).astype(int)
    # The same span of years as ours, so the baseline does not pay for 1970-2038.
    calendar.add_missing_timezones(date(years.min() - 1, 1, 1), date(years.max() + 2, 1, 1))
    return calendar.to_ical()


def print_table(title: str, count: int, rows: list[Row]) -> None:
    """Print one table of renders against their baselines."""
    print(title)
    print(
        "| format | ours (s) | size (MB) | peak (MB) | events/s | baseline "
        "| baseline (s) | size (MB) | peak (MB) |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for fmt, ours, baseline, base in rows:
        base_cells = (
            f"{base[0]:.2f} | {base[1] / 1e6:.1f} | {f'{base[2]:.0f}' if base[2] else '—'}"
            if base
            else "— | — | —"
        )
        if ours:
            seconds, size, peak = ours
            rate = f"{count / seconds:,.0f}" if seconds else "—"
            ours_cells = (
                f"{seconds:.2f} | {size / 1e6:.1f} | {f'{peak:.0f}' if peak else '—'} | {rate}"
            )
        else:  # a second baseline of the row above
            ours_cells = "〃 | | |"
        print(f"| {fmt or '〃'} | {ours_cells} | {baseline or '—'} | {base_cells} |")
    print()


def cold_renders(
    frame: pd.DataFrame,
    repeat: int,
    only: frozenset[str] = frozenset(),
    before: Measure | None = None,
    checkout: Path | None = None,
) -> list[Row]:
    """Return the cold render rows: each format against its baseline (only: these formats)."""
    count = len(frame)
    rows: list[Row] = []

    def run(name: str, times: int = repeat) -> Measure:
        return (*timed(lambda: RENDERERS[name](frame), times), peak_mb(name, count))

    if not only or "xlsx" in only:
        rows.append(
            (
                "xlsx (xlsxwriter, typed sheet)",
                run("xlsx"),
                "issue 10: openpyxl write-only, text cells",
                run("xlsx-today"),
            )
        )
        if before is not None:
            rows.append(("", None, f"the typed sheet of {checkout}", before))
        rows.append(("", None, "openpyxl write-only, same typed sheet", run("xlsx-openpyxl", 1)))
    if not only or "ics" in only:
        scale = count / min(count, ICS_BASELINE_EVENTS)
        ics_base = timed(lambda: RENDERERS["icalendar"](frame.head(ICS_BASELINE_EVENTS)), 1)
        ics_first = run("ics", 1)  # the first in this process: every VTIMEZONE is built
        rows += [
            (
                "ics, first after a start",
                ics_first,
                f"icalendar objects (scaled from {min(count, ICS_BASELINE_EVENTS):,})",
                (ics_base[0] * scale, int(ics_base[1] * scale), 0.0),
            ),
            (
                "ics, second",
                (*timed(lambda: RENDERERS["ics"](frame), repeat), ics_first[2]),
                "",
                None,
            ),
        ]
    for fmt, baseline, base in (
        ("csv", "DataFrame.to_csv", "pandas-csv"),
        ("json", "DataFrame.to_json(orient=records)", "pandas-json"),
        ("geojson", "", ""),
    ):
        if not only or fmt in only:
            rows.append((fmt, run(fmt), baseline, run(base) if base else None))
    return rows  # fmt: skip


def before_and_after_xlsx(
    checkout: Path, events: list[dict[str, str]], repeat: int
) -> tuple[Measure, Measure]:
    """Return the XLSX render of a checkout's code and of this tree's, in fresh processes.

    The two alternate, one render each time, so that both meet the same load; medians of repeat.
    """
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    samples: dict[Path, list[Measure]] = {checkout: [], PROJECT_ROOT: []}
    with tempfile.TemporaryDirectory(prefix="before-", dir=OUT_DIR) as name:
        events_file = write_events(Path(name) / "data", events)
        for _ in range(repeat):
            for tree in samples:
                result = subprocess.run(
                    [sys.executable, "-c", BEFORE_SCRIPT, str(events_file), "1"],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=tree,
                    env={**os.environ, "PYTHONPATH": str(tree)},
                )
                seconds, size, peak = result.stdout.split()
                samples[tree].append((float(seconds), int(size), float(peak)))

    def median(measures: list[Measure]) -> Measure:
        return (
            statistics.median(measure[0] for measure in measures),
            measures[-1][1],
            statistics.median(measure[2] for measure in measures),
        )

    return median(samples[checkout]), median(samples[PROJECT_ROOT])


def warm_answers(events: list[dict[str, str]], repeat: int) -> list[tuple[str, float, float]]:
    """Return (what, cold seconds, warm seconds) of answers through the app, and the version."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="exports-", dir=OUT_DIR) as name:
        data_dir = Path(name) / "data"
        write_events(data_dir, events)
        app = create_app(
            {
                "ENV": "testing",
                "DATA_DIR": str(data_dir),
                "SECRET_KEY": "bench",
                "EXPORT_RATE_LIMIT": "off",
            }
        )
        client = app.test_client()
        frame = app.extensions["mapapp.store"].frame()
        started = time.perf_counter()
        public_version(frame.copy())  # a new frame object: computed, not remembered
        rows.append(("public version of the store", 0.0, time.perf_counter() - started))
        for url in ("/events.xlsx?year=all", "/events.csv", "/api/events.geojson"):
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            cold = time.perf_counter() - started
            samples = []
            for _ in range(max(repeat, 3)):
                started = time.perf_counter()
                response = client.get(url, headers={"Accept-Encoding": "gzip"})
                assert response.status_code == 200
                samples.append(time.perf_counter() - started)
            rows.append((url, cold, statistics.median(samples)))
    return rows


def ours(fmt: str) -> Callable[[pd.DataFrame], bytes]:
    """Return the app's renderer of a format, on a store frame."""
    return lambda frame: render_export(fmt, frame, base_url=BASE_URL)[0]


# What the table times: the app's renderers and the baselines, each on the store's frame.
RENDERERS: dict[str, Callable[[pd.DataFrame], bytes | str]] = {
    **{fmt: ours(fmt) for fmt in ("xlsx", "ics", "csv", "json", "geojson")},
    "xlsx-today": lambda frame: text_sheet_xlsx(frame[list(PUBLIC_FIELDS)]),
    "xlsx-openpyxl": lambda frame: openpyxl_sheet_xlsx(frame[list(PUBLIC_FIELDS)]),
    "icalendar": lambda frame: icalendar_objects(frame[list(PUBLIC_FIELDS)]),
    "pandas-csv": lambda frame: frame[list(PUBLIC_FIELDS)].to_csv(index=False),
    "pandas-json": lambda frame: frame[list(PUBLIC_FIELDS)].to_json(
        orient="records", force_ascii=False
    ),
}


def main() -> int:
    """Export the generated events in every format and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="Runs per format.")
    parser.add_argument(
        "--flood", type=Path, metavar="CHECKOUT", help="Measure floods through mapapp serve."
    )
    parser.add_argument("--workers", type=int, default=2, help="Workers of mapapp serve.")
    parser.add_argument(
        "--before", type=Path, metavar="CHECKOUT", help="Also time the XLSX of a checkout's code."
    )
    parser.add_argument(
        "--only", default="", help="Rows of these formats only (csv,xlsx,...), no warm answers."
    )
    parser.add_argument("--peak", choices=sorted(RENDERERS), help=argparse.SUPPRESS)
    options = parser.parse_args()
    events = generate_events(options.events)
    if options.peak:  # one render in this fresh process, for the peak memory column
        frame = pd.DataFrame([{name: event.get(name, "") for name in FIELDS} for event in events])
        del events
        print(f"{measure_peak(options.peak, frame):.1f}")
        return 0
    print(f"Python {platform.python_version()} on {platform.machine()}, load {load()}\n")
    if options.flood:
        return flood(options.flood.resolve(), events, options.workers)
    only = frozenset(name for name in options.only.split(",") if name)
    before = None
    if options.before:
        before, after = before_and_after_xlsx(options.before.resolve(), events, options.repeat)
        print(
            f"# XLSX of {len(events):,} events, fresh processes taking turns (CPU s, median of "
            f"{options.repeat}; peak: the rise of RSS during a first render, after the frame)"
        )
        print("| code | CPU s | size (MB) | peak (MB) |")
        print("|---|---:|---:|---:|")
        for what, (seconds, size, peak) in ((options.before, before), ("this tree", after)):
            print(f"| {what} | {seconds:.2f} | {size / 1e6:.1f} | {peak:.0f} |")
        print(f"\nload {load()}\n")
    frame = pd.DataFrame([{name: event.get(name, "") for name in FIELDS} for event in events])
    print_table(
        f"# Cold export of {len(frame):,} events (public fields, CPU s, median of "
        f"{options.repeat})",
        len(frame),
        cold_renders(frame, options.repeat, only, before, options.before),
    )
    if only:
        print(f"load {load()}")
        return 0
    print(f"# Answers through the app at {len(frame):,} events (wall s)")
    print("| what | first (s) | kept (s) |")
    print("|---|---:|---:|")
    for what, cold, warm in warm_answers(events, options.repeat):
        print(f"| {what} | {f'{cold:.2f}' if cold else '—'} | {warm:.3f} |")
    print(f"\nload {load()}")
    return 0


def load() -> str:
    """Return the load averages, for the figures' context."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def flood(checkout: Path, events: list[dict[str, str]], workers: int) -> int:
    """Run mapapp serve from a checkout and print the cache flood and export flood figures."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flood-", dir=OUT_DIR) as name:
        data_dir = Path(name) / "data"
        write_events(data_dir, events)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(checkout),
            "MAPAPP_DATA_DIR": str(data_dir),
            "MAPAPP_SECRET_KEY": "bench",
            "MAPAPP_ENV": "testing",
            "MAPAPP_EXPORT_RATE_LIMIT": "off",
        }
        command = [sys.executable, "-c", "from mapapp.cli import cli; cli()", "serve"]
        command += ["--port", str(port), "--workers", str(workers)]
        with open(data_dir.parent / "serve.log", "wb") as log:
            server = subprocess.Popen(
                command, cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            _wait_until_up(base, server)
            _print_floods(base, server.pid, workers, len(events), checkout)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    """Wait until the server answers its health check."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(base + "/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError("mapapp serve did not start")


def _workers_of(master: int) -> list[int]:
    """Return the process ids of a gunicorn master's workers."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            pids.append(int(entry))
    return sorted(pids)


def _print_floods(base: str, master: int, workers: int, count: int, checkout: Path) -> None:
    """Print each worker's RSS around the cache flood, then the export flood's health check."""
    with requests.Session() as http:
        for _ in range(workers * 3):  # every worker reads the store once
            http.get(base + "/api/map-data.json", timeout=FLOOD_TIMEOUT_SECONDS)
    pids = _workers_of(master)
    before = {pid: _status_mb("VmRSS", pid) for pid in pids}
    started = time.perf_counter()
    with requests.Session() as http:
        for day in range(FLOOD_FILTERS):
            query = f"from=2008-01-{day % 28 + 1:02d}&to=2100-{day // 28 + 1:02d}-01"
            answer = http.get(f"{base}/api/events.geojson?{query}", timeout=FLOOD_TIMEOUT_SECONDS)
            answer.raise_for_status()
    flood_seconds = time.perf_counter() - started
    after = {pid: _status_mb("VmRSS", pid) for pid in pids}
    print(f"# Floods through mapapp serve --workers {workers}, {count:,} events, {checkout}")
    print(f"cache flood: {FLOOD_FILTERS} distinct-filter GETs in {flood_seconds:.0f} s")
    print("| worker | RSS before (MB) | RSS after (MB) |")
    print("|---|---:|---:|")
    for pid in pids:
        print(f"| {pid} | {before[pid]:.0f} | {after[pid]:.0f} |")
    answers: list[tuple[int, float]] = []

    def fetch() -> None:
        started = time.perf_counter()
        try:
            code = requests.get(base + "/events.xlsx?year=all", timeout=FLOOD_TIMEOUT_SECONDS)
            answers.append((code.status_code, time.perf_counter() - started))
        except requests.RequestException:
            answers.append((0, time.perf_counter() - started))

    threads = [threading.Thread(target=fetch) for _ in range(EXPORT_FLOOD)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    started = time.perf_counter()
    try:
        health = str(requests.get(base + "/healthz", timeout=HEALTH_TIMEOUT_SECONDS).status_code)
    except requests.RequestException as exc:
        health = type(exc).__name__
    print(
        f"export flood: {EXPORT_FLOOD} concurrent /events.xlsx?year=all, then /healthz: "
        f"{health} after {time.perf_counter() - started:.1f} s"
    )
    for thread in threads:
        thread.join()
    print(
        "xlsx answers (status, s): "
        + ", ".join(f"{code} {seconds:.1f}" for code, seconds in sorted(answers))
    )
    print(f"load {load()}")


if __name__ == "__main__":
    raise SystemExit(main())
