"""Time what hosts share: kept exports from disk, Redis and PostgreSQL; API bodies from Redis.

One app on generated events (the CSV store, read once) answers through its test client; only its
caches change between rows, each backend on a real server this script starts on loopback
(Debian's redis-server and PostgreSQL). Exports: the median time of answering a kept export
(`Cache-Status: hit`), read whole, with the data directory's files as the baseline, the backends
taking turns within each run. API bodies:
the first answer of /api/events.geojson on a host whose own memory is empty, built from the
events (a host without Redis) against fetched from Redis (another host built it), and a hit in
the worker's memory.

    .venv/bin/python benchmarks/bench_shared.py                      # 50,000 events
    .venv/bin/python benchmarks/bench_shared.py --events 200 --runs 3
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from flask import Flask  # noqa: E402

from mapapp import create_app  # noqa: E402
from mapapp.storage import EventStore, database, shared  # noqa: E402
from mapapp.web.api import BodyCache  # noqa: E402
from scripts.local_servers import postgres_server, redis_server  # noqa: E402
from scripts.make_sample_data import generate_events  # noqa: E402

EXPORTS = ("/events.csv?year=all", "/events.xlsx?year=all")
BODY_URL = "/api/events.geojson?year=all"
BOUND = 1 << 30  # every backend keeps every export of the run
EXPORT_CACHE = "mapapp.export_cache"
API_CACHE = "mapapp.api_cache"


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def median_ms(runs: int, setup: Callable[[], None], request: Callable[[], Any]) -> float:
    """Return the median milliseconds of request(), each run after an untimed setup()."""
    times = []
    for _ in range(runs):
        setup()
        start = time.perf_counter()
        request()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def kept_exports_ms(
    app: Flask, backends: dict[str, dict[str, Any]], url: str, runs: int
) -> dict[str, tuple[float, int]]:
    """Return each backend's median ms of answering a kept export, and its size.

    The backends take turns within each run, so that the machine's load weighs on each alike.
    """
    caches = {name: shared.export_cache(settings) for name, settings in backends.items()}
    client = app.test_client()
    sizes = {}
    for name, cache in caches.items():
        app.extensions[EXPORT_CACHE] = cache
        first = client.get(url)  # rendered and kept
        assert first.status_code == 200, first.status_code
        sizes[name] = len(first.data)
    times: dict[str, list[float]] = {name: [] for name in caches}
    for _ in range(runs):
        for name, cache in caches.items():
            app.extensions[EXPORT_CACHE] = cache
            start = time.perf_counter()
            response = client.get(url)
            assert len(response.data) == sizes[name]
            times[name].append((time.perf_counter() - start) * 1000)
            assert response.headers["Cache-Status"] == "mapapp-exports; hit", response.headers
    return {name: (statistics.median(times[name]), sizes[name]) for name in caches}


def body_ms(app: Flask, redis_url: str, runs: int) -> dict[str, float]:
    """Return the median ms of a first API answer built, fetched from Redis, and in memory."""
    client = app.test_client()
    redis_settings = {"REDIS_URL": redis_url, "API_CACHE_BYTES": BOUND, "EXPORT_CACHE_BYTES": 0}

    def empty(shared_blobs: bool) -> Callable[[], None]:
        def setup() -> None:
            blobs = shared.body_store(redis_settings) if shared_blobs else None
            app.extensions[API_CACHE] = BodyCache(BOUND, blobs)

        return setup

    def get() -> None:
        assert client.get(BODY_URL, headers={"Accept-Encoding": "gzip"}).status_code == 200

    empty(True)()
    get()  # another host builds it and keeps it in Redis
    return {
        "built (no Redis)": median_ms(runs, empty(False), get),
        "from Redis": median_ms(runs, empty(True), get),
        "worker's memory": median_ms(runs, lambda: None, get),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory, ExitStack() as servers:
        redis_url = servers.enter_context(redis_server(free_port()))
        postgres_url = servers.enter_context(postgres_server(free_port()))
        servers.callback(database.close_pools)
        data_dir = Path(directory) / "data"
        EventStore(data_dir).replace_all(generate_events(args.events))
        app = create_app({"DATA_DIR": str(data_dir), "TESTING": True, "EXPORT_RATE_LIMIT": "off"})
        app.test_client().get("/api/search.json?q=warm")  # the frame and its public version
        base = {"DATA_DIR": str(data_dir), "EXPORT_CACHE_BYTES": BOUND}
        backends = {
            "files": {**base, "EXPORT_CACHE_DIR": str(Path(directory) / "exports")},
            "redis": {**base, "REDIS_URL": redis_url},
            "postgres": {**base, "DATABASE_URL": postgres_url},
        }
        exports = {
            (url, name): measured
            for url in EXPORTS
            for name, measured in kept_exports_ms(app, backends, url, args.runs).items()
        }
        bodies = body_ms(app, redis_url, args.runs)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"Shared caches at {args.events:,} events, median of {args.runs} runs (load average {load})"
    )
    print()
    print("| export (kept) | backend | size (KB) | ms | per s | vs files |")
    print("|---|---|---:|---:|---:|---:|")
    for (url, name), (milliseconds, size) in exports.items():
        baseline = exports[(url, "files")][0]
        print(
            f"| {url} | {name} | {size / 1024:,.0f} | {milliseconds:.2f} | "
            f"{1000 / milliseconds:,.0f} | {milliseconds / baseline:.2f}x |"
        )
    print()
    print("| API body | first answer on a host | ms | vs built |")
    print("|---|---|---:|---:|")
    for what, milliseconds in bodies.items():
        built = bodies["built (no Redis)"]
        print(f"| {BODY_URL} | {what} | {milliseconds:.2f} | {milliseconds / built:.3f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
