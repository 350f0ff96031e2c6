"""Time the coordinators' counts and pages against a plain-Python baseline, for 1,000 and 50,000 events.

The events are generated, stored in a real events.csv in a temporary directory (10% pending), and
read once so the store's cache is warm, as in a running app. The baseline for the counts is what
one writes first: a loop over every event as a dict with collections.Counter. Pages are fetched
through Flask's test client by a signed-in coordinator; `/healthz` is the floor of a request.

    .venv/bin/python benchmarks/bench_admin.py                 # 1,000 and 50,000 events
    .venv/bin/python benchmarks/bench_admin.py --sizes 1000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable

import pandas as pd
from flask import Flask
from flask.testing import FlaskClient

from mapapp import coordinators, create_app, stats

COUNTRIES = ["FR", "DE", "BR", "US", "JP", "IN", "ZA", "CH", "IT", "ES", "CA", "AU", "MX", "NG"]
CATEGORIES = ["illumination", "awareness", "talk", "fundraiser", "sport", "social", "online"]
FORMATS = ["in_person", "online", "hybrid"]
PASSWORD = "benchmark passphrase"


def make_events(count: int, seed: int = 7) -> list[dict[str, str]]:
    """Return generated events: 90% approved, 10% pending, spread over a month."""
    rng = random.Random(seed)
    return [
        {
            "status": "pending" if n % 10 == 0 else "approved",
            "title": f"Walk for rare diseases {n}",
            "category": rng.choice(CATEGORIES),
            "format": rng.choice(FORMATS),
            "starts_at": f"2027-02-{rng.randint(1, 28):02d}T{rng.randint(8, 20):02d}:00",
            "timezone": "Europe/Paris",
            "city": "Somewhere",
            "country": rng.choice(COUNTRIES),
            "latitude": f"{rng.uniform(-60, 60):.6f}",
            "longitude": f"{rng.uniform(-170, 170):.6f}",
            "location_precision": "city",
            "organiser": "Benchmark",
            "description": "Generated for the benchmark.",
        }
        for n in range(count)
    ]


def baseline_summary(records: list[dict[str, str]]) -> dict[str, object]:
    """Count approved events per country, category and format with a Python loop."""
    approved = [record for record in records if record["status"] == "approved"]
    countries = Counter(record["country"] for record in approved if record["country"])
    return {
        "events": len(approved),
        "countries": len(countries),
        "by_country": dict(countries),
        "by_category": dict(Counter(record["category"] for record in approved)),
        "by_format": dict(Counter(record["format"] for record in approved)),
    }


def timed(function: Callable[[], object], runs: int) -> float:
    """Return the median wall time of a call in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def signed_in(app: Flask, name: str) -> FlaskClient:
    """Return a test client signed in through the real form."""
    client = app.test_client()
    page = client.get("/admin/sign-in").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match
    client.post(
        "/admin/sign-in",
        data={"csrf_token": match.group(1), "name": name, "password": PASSWORD},
    )
    return client


def bench(size: int, runs: int) -> list[tuple[str, float, str]]:
    """Return (what, milliseconds, note) rows for one store size."""
    with tempfile.TemporaryDirectory() as directory:
        app = create_app(
            {
                "ENV": "testing",
                "DATA_DIR": directory,
                "SECRET_KEY": "bench",
                "LOGIN_RATE_LIMIT": "off",
            }
        )
        store = app.extensions["mapapp.store"]
        store.add_many(make_events(size))
        frame = store.frame()
        records: list[dict[str, str]] = frame.to_dict("records")  # type: ignore[assignment]
        assert baseline_summary(records)["by_country"] == stats.public_summary(frame)["by_country"]

        with app.app_context():
            coordinators.add_coordinator("bench", PASSWORD)
            coordinators.add_coordinator("bench-fr", PASSWORD, role="national", countries={"FR"})
        client, national = signed_in(app, "bench"), signed_in(app, "bench-fr")

        def get(url: str, as_client: FlaskClient = client) -> Callable[[], object]:
            def fetch() -> object:
                response = as_client.get(url)
                assert response.status_code == 200, (url, response.status_code)
                return response

            return fetch

        return [
            ("counts: baseline Counter loop", timed(lambda: baseline_summary(records), runs), ""),
            (
                "counts: public_summary, cold",
                timed(lambda: stats._public_summary(frame, None), runs),
                "",
            ),
            (
                "counts: public_summary, same frame",
                timed(lambda: stats.public_summary(frame), runs),
                "cached",
            ),
            (
                "counts: stats.dashboard",
                timed(lambda: stats.dashboard(frame), runs),
                "all editions, once per frame",
            ),
            ("page: /healthz (floor)", timed(get("/healthz"), runs), ""),
            ("page: /admin/ (pending queue)", timed(get("/admin/"), runs), f"{size // 10} pending"),
            ("page: /admin/events?q=walk", timed(get("/admin/events?q=walk"), runs), "search"),
            ("page: /admin/stats", timed(get("/admin/stats"), runs), "current edition"),
            ("page: /admin/stats/FR", timed(get("/admin/stats/FR"), runs), "year on year"),
            (
                "page: /admin/events?q=Espagne",
                timed(get("/admin/events?q=Espagne"), runs),
                "country names",
            ),
            ("page: /admin/?q=ES", timed(get("/admin/?q=ES"), runs), "an ISO code"),
            (
                "page: /admin/?country=FR,DE&sort=country",
                timed(get("/admin/?country=FR,DE&sort=country"), runs),
                "filter, sort",
            ),
            (
                "page: /admin/ as national (FR)",
                timed(get("/admin/", national), runs),
                "scoped queue",
            ),
            ("page: /admin/audit", timed(get("/admin/audit"), runs), "an entry per event"),
        ]


def main() -> None:
    """Print a table per store size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,50000")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    print(
        f"Python {sys.version.split()[0]}, pandas {pd.__version__}, median of {options.runs} runs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for size in (int(value) for value in options.sizes.split(",")):
        rows = bench(size, options.runs)
        baseline = rows[0][1]
        print(f"\n{size:,} events")
        print(f"| {'what':<34} | {'ms':>9} | {'vs baseline':>11} | note |")
        print(f"|{'-' * 36}|{'-' * 11}|{'-' * 13}|------|")
        for what, milliseconds, note in rows:
            ratio = f"{milliseconds / baseline:.2f}x" if what.startswith("counts") else ""
            print(f"| {what:<34} | {milliseconds:>9.1f} | {ratio:>11} | {note} |")


if __name__ == "__main__":
    main()
