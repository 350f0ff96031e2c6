"""Time the public search (/api/search.json) for town names in other languages, at 50,000 events.

The events come from the sample generator (real towns, by population), stored in a real
events.csv in a temporary directory and read once, as in a running app. Each query is answered
with the API's body cache emptied, so every run filters the 50,000 rows again; the town index
(which gazetteer towns the events are in) is built once per store change, and its cost is the
first row. An ordinary word of the texts is the baseline every query is compared with.

    .venv/bin/python benchmarks/bench_search.py                  # 50,000 events
    .venv/bin/python benchmarks/bench_search.py --events 1000 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from mapapp import create_app  # noqa: E402
from mapapp.filters import town_index  # noqa: E402
from mapapp.geocoding.towns import current_gazetteer  # noqa: E402
from mapapp.storage import EventStore, get_store  # noqa: E402
from scripts.make_sample_data import generate_events  # noqa: E402

# (query, what it is): the baseline first.
QUERIES = (
    ("light", "an ordinary word of the texts (baseline)"),
    ("Munich", "a town's main name"),
    ("München", "its German name (an alternate)"),
    ("Den Haag", "an alternate of two words"),
    ("北京", "an alternate in another script"),
    ("Santa Maria", "an alias of 35 towns"),
    ("Deutschland", "a country's name"),
    ("München light", "a town's name and a word"),
)
CACHE_KEY = "mapapp.api_cache"


def timed_search(app: Flask, client: FlaskClient, query: str, runs: int) -> tuple[float, int]:
    """Return the median milliseconds of a search with the body cache emptied, and its count."""
    times = []
    found = 0
    for _ in range(runs):
        app.extensions.pop(CACHE_KEY, None)
        start = time.perf_counter()
        response = client.get("/api/search.json", query_string={"q": query})
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
        found = len(response.get_json()["ids"])
    return statistics.median(times), found


def index_build_ms(app: Flask, runs: int) -> float:
    """Return the median milliseconds of building the town index of the store's frame afresh."""
    times = []
    with app.app_context():
        frame = get_store().frame()
        gazetteer = current_gazetteer()
        for _ in range(runs):
            copy = frame.copy()  # a new frame object: nothing remembered
            start = time.perf_counter()
            town_index(copy, gazetteer)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        EventStore(Path(directory)).replace_all(generate_events(args.events))
        app = create_app({"DATA_DIR": directory, "TESTING": True})
        client = app.test_client()
        timed_search(app, client, "warm up", 1)  # the gazetteer, the search text, the index
        build = index_build_ms(app, args.runs)
        results = [
            (query, what, *timed_search(app, client, query, args.runs)) for query, what in QUERIES
        ]
    baseline = results[0][2]
    print(f"Search at {args.events:,} events, median of {args.runs} runs, body cache emptied")
    print()
    print("| query | what | events found | ms | vs baseline |")
    print("|---|---|---:|---:|---:|")
    print(f"| (town index) | built once per store change | | {build:.1f} | |")
    for query, what, milliseconds, found in results:
        print(
            f"| {query} | {what} | {found:,} | {milliseconds:.1f} | {milliseconds / baseline:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
