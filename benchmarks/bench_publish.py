"""Measure `mapapp publish`: its time, what it writes, and its files served by nginx against the app.

On a store of generated events (scripts/make_sample_data.py's generator), the script times a full
publish into an empty directory, a publish with nothing changed, and one after one event's title
changed (what it rewrites), and counts the files and bytes (the gzipped twins apart) and the search
index. Then it serves the same events twice: the published directory by Debian's nginx alone (the
site `mapapp deploy published-site` writes) and the app by `mapapp serve` with 2 workers, and
asks both with wrk (loopback, bounded runs) for the map page, the map data (gzip) and an event
page. The baseline in the same run is the app: each row gives nginx's rate as a ratio of it.

    .venv/bin/python benchmarks/bench_publish.py                # 50,000 events
    .venv/bin/python benchmarks/bench_publish.py --events 300 --duration 1
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for scripts.make_sample_data, run from anywhere

from mapapp import create_app  # noqa: E402
from mapapp.geocoding.towns import current_gazetteer  # noqa: E402
from mapapp.publish import SEARCH_INDEX, PublishReport, publish  # noqa: E402
from mapapp.site_deploy import PublishedSite, render_published_site  # noqa: E402
from mapapp.storage import Audit, EventStore, get_store  # noqa: E402
from mapapp.storage.site import SiteDirectory  # noqa: E402
from mapapp.web.site_pages import SitePages  # noqa: E402
from scripts.local_servers import stop  # noqa: E402
from scripts.make_sample_data import generate_events, write_events  # noqa: E402

OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
MAPAPP = Path(sys.executable).with_name("mapapp")
NGINX = Path("/usr/sbin/nginx")
WRK = Path("/usr/bin/wrk")
APP_WORKERS = 2
WRK_THREADS = 2
WRK_TIMEOUT = "5s"
STARTUP_SECONDS = 120
WARM_UP_REQUESTS = 4 * APP_WORKERS
SECRET_KEY = "bench-publish-secret-key"
REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s+([\d.]+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


def free_port() -> int:
    """Return a loopback port free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until a server answers 200 at a URL."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in time")


@contextmanager
def nginx_serving(folder: Path, site_dir: Path, port: int) -> Iterator[str]:
    """Serve a published directory with nginx alone; yield its URL."""
    site = PublishedSite(root=site_dir, port=port, address="127.0.0.1")
    app = create_app({"ENV": "testing", "SECRET_KEY": SECRET_KEY, "TILES": "none"})
    (folder / "site.conf").write_text(render_published_site(site, app.config))
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {folder / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'};\nevents {{ worker_connections 4096; }}\n"
        "http {\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"    sendfile on;\n    access_log off;\n{temp}    include {folder / 'site.conf'};\n}}\n"
    )
    process = subprocess.Popen(
        [str(NGINX), "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/", process)
        yield url
    finally:
        stop(process)


@contextmanager
def app_serving(data_dir: Path, port: int, log: Path) -> Iterator[str]:
    """Run `mapapp serve` with APP_WORKERS workers on a data directory; yield its URL."""
    environment = {
        **os.environ,
        "MAPAPP_DATA_DIR": str(data_dir),
        "MAPAPP_SECRET_KEY": SECRET_KEY,
        "MAPAPP_ENV": "testing",
        "MAPAPP_TILES": "none",
        "MAPAPP_GEOCODER": "offline",
    }
    command = [str(MAPAPP), "serve", "--port", str(port), "--workers", str(APP_WORKERS)]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, env=environment, stdout=output, stderr=output)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/healthz", process)
        yield url
    finally:
        stop(process)


def run_wrk(url: str, duration: int, connections: int) -> tuple[float, int]:
    """Run wrk against one URL (gzip accepted); return requests per second and non-2xx count."""
    output = subprocess.run(
        [str(WRK), "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{duration}s"]
        + ["--timeout", WRK_TIMEOUT, "-H", "Accept-Encoding: gzip", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    rate = REQUESTS_PER_SECOND.search(output)
    failed = NON_2XX.search(output)
    return (float(rate.group(1)) if rate else 0.0), (int(failed.group(1)) if failed else 0)


def timed_publish(app: Flask, site_dir: Path, site_url: str) -> PublishReport:
    """Publish the app's store into a directory, as `mapapp publish` does."""
    with app.app_context():
        return publish(
            SiteDirectory(site_dir),
            SitePages(app, site_url),
            get_store().frame(),
            current_gazetteer(),
        )


def sizes(site_dir: Path) -> tuple[int, int, int, int]:
    """Return (files, bytes) of the published files without and of their gzipped twins."""
    plain = [path for path in site_dir.rglob("*") if path.is_file() and path.suffix != ".gz"]
    zipped = [path for path in site_dir.rglob("*.gz") if path.is_file()]
    return (
        len(plain),
        sum(path.stat().st_size for path in plain),
        len(zipped),
        sum(path.stat().st_size for path in zipped),
    )


def megabytes(count: int) -> str:
    """Format a byte count in MB."""
    return f"{count / 1e6:,.1f} MB"


def main() -> None:
    """Measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--duration", type=int, default=5, help="Seconds per wrk run.")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    for binary in (NGINX, WRK):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: apt-get install nginx wrk")
    OUT_DIR.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-publish-", dir=OUT_DIR))
    try:
        data_dir = work / "data"
        write_events(data_dir, generate_events(args.events))
        site_dir = work / "site"
        nginx_port, app_port = free_port(), free_port()
        site_url = f"http://127.0.0.1:{nginx_port}/"
        app = create_app(
            {"ENV": "testing", "DATA_DIR": str(data_dir), "SECRET_KEY": SECRET_KEY, "TILES": "none"}
        )
        with app.app_context():
            current_gazetteer()  # loaded once, outside the timings (the CLI pays it at start)
        full = timed_publish(app, site_dir, site_url)
        again = timed_publish(app, site_dir, site_url)
        store = EventStore(data_dir)
        edited = store.frame()
        event = edited[edited["status"] == "approved"].iloc[-1].to_dict()
        store.update(
            event["id"],
            {"title": event["title"] + " (edited)"},
            expected=event["version"],
            audit=Audit("bench", "edit"),
        )
        one = timed_publish(app, site_dir, site_url)
        files, plain_bytes, gz_files, gz_bytes = sizes(site_dir)
        index = (site_dir / SEARCH_INDEX).stat().st_size
        index_gz = len(gzip.compress((site_dir / SEARCH_INDEX).read_bytes(), 9))
        rows = []
        with (
            nginx_serving(work, site_dir, nginx_port) as static_url,
            app_serving(data_dir, app_port, work / "serve.log") as app_url,
        ):
            event_id = event["id"]
            paths = [
                ("map page", "/", "/"),
                ("map data (gzip)", "/api/map-data.json", "/data/map-data.json"),
                ("event page", f"/events/{event_id}", f"/events/{event_id}.html"),
            ]
            for label, app_path, static_path in paths:
                # Every worker builds its caches (filters, summary, bodies) on its first
                # requests: warmed first, so that wrk measures the steady state of both.
                for _ in range(WARM_UP_REQUESTS):
                    requests.get(app_url + app_path, timeout=STARTUP_SECONDS)
                    requests.get(static_url + static_path, timeout=STARTUP_SECONDS)
                app_rate, app_failed = run_wrk(app_url + app_path, args.duration, args.connections)
                static_rate, static_failed = run_wrk(
                    static_url + static_path, args.duration, args.connections
                )
                rows.append((label, app_rate, static_rate, app_failed + static_failed))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(
        f"{args.events:,} events ({full.events:,} approved); {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the "
        "end.\n"
    )
    print("| publish | seconds | files written | events rendered | removed |")
    print("|---|---:|---:|---:|---:|")
    for label, report in (
        ("full, empty directory", full),
        ("again, nothing changed", again),
        ("after one title changed", one),
    ):
        print(
            f"| {label} | {report.seconds:,.2f} | {len(report.written):,} | "
            f"{report.events_rendered:,} | {len(report.removed):,} |"
        )
    print()
    print("| site | files | size |")
    print("|---|---:|---:|")
    print(f"| published files | {files:,} | {megabytes(plain_bytes)} |")
    print(f"| their gzipped twins (.gz) | {gz_files:,} | {megabytes(gz_bytes)} |")
    print(f"| search index | 1 | {megabytes(index)} ({megabytes(index_gz)} gzipped) |")
    print()
    print(
        f"wrk: {WRK_THREADS} threads, {args.connections} connections, {args.duration} s per row; "
        f"the app: mapapp serve, {APP_WORKERS} workers; nginx: the published directory alone.\n"
    )
    print("| path | app req/s | nginx req/s | nginx vs app | non-2xx |")
    print("|---|---:|---:|---:|---:|")
    for label, app_rate, static_rate, failed in rows:
        ratio = f"{static_rate / app_rate:,.1f}x" if app_rate else "—"
        print(f"| {label} | {app_rate:,.0f} | {static_rate:,.0f} | {ratio} | {failed} |")


if __name__ == "__main__":
    main()
