"""Time a valid submission through POST /api/events into a store of 10,000 events.

Server-side time per request through Flask's test client, with the offline geocoder and rate
limits off, p50 and p95 over 1,000 submissions; the baselines in the same run show where the time
goes: the store's durable append alone, the form rules alone, the offline geocoder plus time zone
alone, and the duplicate search (the HTML preview's extra step) alone.
The store lives in a temporary directory under benchmarks/out/ (the repository's file system, so
fsync costs what it costs for data/).

    .venv/bin/python benchmarks/bench_submit.py
    .venv/bin/python benchmarks/bench_submit.py --events 10000 --submissions 1000
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for scripts.make_sample_data, run from anywhere

from mapapp import create_app, submissions  # noqa: E402
from mapapp.events import current_edition, edition_date  # noqa: E402
from mapapp.storage import EVENTS_FILE, EventStore  # noqa: E402
from scripts.make_sample_data import generate_events  # noqa: E402

OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
FLOOR_P95_MS = 50.0
CITIES = [
    ("Paris", "FR"),
    ("Lyon", "FR"),
    ("Berlin", "DE"),
    ("Munich", "DE"),
    ("Madrid", "ES"),
    ("Barcelona", "ES"),
    ("Rome", "IT"),
    ("Milan", "IT"),
    ("Warsaw", "PL"),
    ("Lisbon", "PT"),
    ("Dublin", "IE"),
    ("Vienna", "AT"),
    ("Brussels", "BE"),
    ("Amsterdam", "NL"),
    ("Toronto", "CA"),
    ("Chicago", "US"),
    ("Sydney", "AU"),
    ("Tokyo", "JP"),
    ("Nairobi", "KE"),
    ("Lima", "PE"),
]


def submission(number: int) -> dict[str, Any]:
    """Return the number-th valid in-person submission as a partner posts it."""
    city, country = CITIES[number % len(CITIES)]
    day = edition_date(current_edition()).isoformat()
    return {
        "title": f"Benchmark walk number {number}",
        "category": "sport",
        "format": "in_person",
        "starts_at": f"{day}T{8 + number % 12:02d}:00",
        "ends_at": f"{day}T21:00",
        "city": city,
        "country": country,
        "organiser": f"Benchmark association {number}",
        "contact_email": f"organiser{number}@example.org",
        "description": "A walk for rare diseases.\nBring purple.",
        "language": "en",
        "consent": True,
    }


def timed(count: int, action: Callable[[int], object]) -> list[float]:
    """Run an action count times and return each run's milliseconds."""
    times = []
    for number in range(count):
        start = time.perf_counter()
        action(number)
        times.append((time.perf_counter() - start) * 1000)
    return times


def percentile(times: list[float], fraction: float) -> float:
    """Return a percentile of the timings (nearest rank)."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def fresh_copy(base: Path, name: str) -> Path:
    """Return a new data directory holding a copy of the base store."""
    directory = base.parent / name
    directory.mkdir()
    shutil.copy(base / EVENTS_FILE, directory / EVENTS_FILE)
    return directory


def app_on(data_dir: Path) -> Any:
    """Return an app on a data directory, offline geocoder, no rate limit."""
    return create_app(
        {
            "ENV": "testing",
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": "benchmark-secret",
            "GEOCODER": "offline",
            "SUBMIT_RATE_LIMIT": "off",
        }
    )


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="Events in the store.")
    parser.add_argument("--submissions", type=int, default=1_000, help="Submissions to time.")
    args = parser.parse_args()
    count = args.submissions
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(dir=OUT_DIR) as temporary:
        base = Path(temporary) / "base"
        EventStore(base).replace_all(generate_events(args.events))
        checked = [
            submissions.check_submission(submission(n), consent=True)[0] for n in range(count)
        ]
        assert all(checked), "the benchmark's submissions must be valid"
        events: list[dict[str, str]] = [event for event in checked if event is not None]
        rows: list[tuple[str, list[float]]] = []

        # Baseline: the store's durable append (lock, fsync) of an already checked event.
        store = EventStore(fresh_copy(base, "append"))
        store.frame()
        rows.append(("baseline: store append alone", timed(count, lambda n: store.add(events[n]))))

        # The rules alone: schema validation plus the form's extra rules.
        rows.append(
            (
                "validation alone (check_submission)",
                timed(count, lambda n: submissions.check_submission(submission(n), consent=True)),
            )
        )

        app = app_on(fresh_copy(base, "api"))
        with app.app_context():
            submissions.locate_event(events[0])  # load the gazetteer and time zones once

            def place(number: int) -> None:
                found = submissions.locate_event(events[number])
                submissions.place_event(events[number], found.candidates)

            rows.append(("geocoding + time zone alone (offline)", timed(count, place)))
            frame = app.extensions["mapapp.store"].frame()
            located = [
                submissions.place_event(e, submissions.locate_event(e).candidates)
                for e in events[:count]
            ]
            rows.append(
                (
                    "duplicate search alone (preview only)",
                    timed(count, lambda n: submissions.find_duplicates(frame, located[n])),
                )
            )

        client = app.test_client()

        def post(number: int) -> None:
            response = client.post("/api/events", json=submission(number))
            assert response.status_code == 201, response.get_data(as_text=True)

        rows.append((f"POST /api/events, full ({args.events:,} events)", timed(count, post)))
        stored = len(app.extensions["mapapp.store"])
        assert stored == args.events + count, "every submission must be stored"

    print(f"Python {platform.python_version()}, {platform.machine()}, {count:,} submissions each")
    print()
    print(f"| {'step':<42} | {'p50 ms':>7} | {'p95 ms':>7} | {'mean ms':>7} |")
    print(f"|{'-' * 44}|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|")
    for name, times in rows:
        print(
            f"| {name:<42} | {percentile(times, 0.5):7.2f} | {percentile(times, 0.95):7.2f} "
            f"| {statistics.fmean(times):7.2f} |"
        )
    full_p95 = percentile(rows[-1][1], 0.95)
    verdict = "meets" if full_p95 < FLOOR_P95_MS else "MISSES"
    print()
    print(f"Full submission p95 {full_p95:.1f} ms {verdict} the {FLOOR_P95_MS:.0f} ms floor.")


if __name__ == "__main__":
    main()
