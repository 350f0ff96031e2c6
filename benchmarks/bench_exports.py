"""Time the export of 50,000 events in each format, against a plain baseline in the same run.

The events are generated sample events (public fields, every status, so every row is exported).
Baselines: pandas `DataFrame.to_csv`, `to_excel` (openpyxl) and `to_json`, which do no formula
neutralisation; for iCalendar, icalendar's own component objects (Calendar, Event, VTIMEZONE via
`add_missing_timezones`), timed on the first 5,000 events and scaled to the full count, because
the full run takes minutes (its VTIMEZONEs are scaled too, which flatters ours a little). "ics, cold" includes building each time zone's VTIMEZONE once per
process; "ics" is every later export.

    .venv/bin/python benchmarks/bench_exports.py                 # 50,000 events
    .venv/bin/python benchmarks/bench_exports.py --events 5000 --repeat 1
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from icalendar import Calendar, Event

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for scripts.make_sample_data, run from anywhere

from mapapp.events import FIELDS, PUBLIC_FIELDS  # noqa: E402
from mapapp.exports import render_export  # noqa: E402
from scripts.make_sample_data import generate_events  # noqa: E402

DEFAULT_EVENTS = 50_000
DEFAULT_REPEAT = 3
ICS_BASELINE_EVENTS = 5_000
BASE_URL = "https://map.example/"


def timed(operation: Callable[[], bytes | str], repeat: int) -> tuple[float, int]:
    """Return the median seconds of an operation and the size of what it produced."""
    samples, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        result = operation()
        samples.append(time.perf_counter() - started)
        size = len(result.encode() if isinstance(result, str) else result)
    return statistics.median(samples), size


def to_excel(frame: pd.DataFrame) -> bytes:
    """Return the frame as a workbook written by pandas."""
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, engine="openpyxl")
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


def main() -> int:
    """Export the generated events in every format and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="Runs per format.")
    options = parser.parse_args()
    events = generate_events(options.events)
    frame = pd.DataFrame([{name: event.get(name, "") for name in FIELDS} for event in events])
    public = frame[list(PUBLIC_FIELDS)]
    print(f"# Export of {len(frame):,} events (public fields, median of {options.repeat} runs)")
    print(f"Python {platform.python_version()} on {platform.machine()}\n")

    def ours(fmt: str) -> Callable[[], bytes]:
        return lambda: render_export(fmt, frame, base_url=BASE_URL)[0]

    scale = len(frame) / min(len(frame), ICS_BASELINE_EVENTS)
    ics_sample = public.head(ICS_BASELINE_EVENTS)
    ics_baseline_seconds, ics_baseline_size = timed(lambda: icalendar_objects(ics_sample), 1)
    rows: list[tuple[str, tuple[float, int], str, tuple[float, int] | None]] = [
        ("ics, cold", timed(ours("ics"), 1), "", None),
        ("ics", timed(ours("ics"), options.repeat), f"icalendar objects (scaled from {len(ics_sample):,})",
         (ics_baseline_seconds * scale, int(ics_baseline_size * scale))),
        ("csv", timed(ours("csv"), options.repeat), "DataFrame.to_csv",
         timed(lambda: public.to_csv(index=False), options.repeat)),
        ("xlsx", timed(ours("xlsx"), options.repeat), "DataFrame.to_excel (openpyxl)",
         timed(lambda: to_excel(public), 1)),
        ("json", timed(ours("json"), options.repeat), "DataFrame.to_json(orient=records)",
         timed(lambda: public.to_json(orient="records", force_ascii=False), options.repeat)),
        ("geojson", timed(ours("geojson"), options.repeat), "", None),
    ]  # fmt: skip
    print("| format | ours (s) | size (MB) | events/s | baseline | baseline (s) | size (MB) |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for fmt, (seconds, size), baseline, base in rows:
        base_cells = f"{base[0]:.2f} | {base[1] / 1e6:.1f}" if base else "— | —"
        print(
            f"| {fmt} | {seconds:.2f} | {size / 1e6:.1f} | {len(frame) / seconds:,.0f} "
            f"| {baseline or '—'} | {base_cells} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
