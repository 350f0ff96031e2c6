"""The server table: the app behind nginx against nginx serving the published files, with wrk, and
the CSV and PostgreSQL stores side by side for a submission's and an edit's p95.

Table 1. The app runs as in production: `mapapp serve` (2 workers) on the CSV store of generated
events, behind Debian's nginx with TLS (the site `mapapp deploy nginx` writes, a self-signed
certificate). Beside it nginx serves the files `mapapp publish DIR` writes, with TLS too. wrk
(loopback, bounded runs) asks both for `/`, the map data (gzip), an event page, and POSTs a
submission to the app's `/api/events` with a partner's API key (a Lua script, one new title per
request; the static site takes no POST: n/a), at 1, 4 and 16 connections. Each row gives
requests/s, p50 and p99 and wrk's errors (socket errors, non-2xx answers), and the ratio
static / app of the same run.

Table 2. For each store (CSV files; PostgreSQL with MAPAPP_DATABASE_URL, the same events loaded by
`mapapp db import-csv`), the same app behind nginx, and a Python client doing N sequential
requests over one keep-alive connection: a partner's submission (POST /api/events) and a
coordinator's edit of an event's title (the admin form, its page read first, untimed); p50 and p95
of each, and the ratio PostgreSQL / CSV.

The load average (os.getloadavg) is printed with the tables: the machine is shared.

    .venv/bin/python benchmarks/bench_hosts.py
    .venv/bin/python benchmarks/bench_hosts.py --events 200 --duration 1 --connections 1,4 --requests 10
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for scripts.*, run from anywhere

from bench_serve import (  # noqa: E402  (the serve benchmark's nginx and wrk)
    ERRORS,
    NGINX,
    NON_2XX,
    PERCENTILE,
    REQUESTS_PER_SECOND,
    UNITS,
    WRK,
    Result,
    free_port,
    milliseconds,
    nginx_conf,
    wait_for,
)

from mapapp import access, api_keys, coordinators, create_app  # noqa: E402
from mapapp.events import current_edition, edition_date  # noqa: E402
from mapapp.storage import EventStore, get_store_of  # noqa: E402
from scripts.local_servers import (  # noqa: E402
    OPENSSL,
    postgres_bin,
    postgres_server,
    self_signed_certificate,
    stop,
)
from scripts.make_sample_data import generate_events  # noqa: E402

OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
MAPAPP = Path(sys.executable).with_name("mapapp")
WORKERS = 2
SECRET_KEY = "bench-hosts-secret-key"
COORDINATOR = "bench-coordinator"
PASSWORD = "a long benchmark passphrase"
KEY_COUNTRY = "KE"  # the partner's key may post there; the submissions are online events there
WRK_TIMEOUT = "10s"
# Warming runs of a path, until one has no answer slower than WARM_MS (each worker has built
# what it keeps: at 50,000 events the map data takes a worker seconds on a loaded machine).
WARM_SECONDS = 2
WARM_RUNS = 5
WARM_MS = 1000.0
HTTP_TIMEOUT = 60
# (the app's path, the published site's, the row's name); EVENT stands for an approved event's id.
EVENT = "<id>"
GETS = (
    ("/", "/", "`/`"),
    ("/api/map-data.json", "/data/map-data.json", "map data (gzip)"),
    (f"/events/{EVENT}", f"/events/{EVENT}", "an event page"),
)
DAY = edition_date(current_edition()).isoformat()
# One new submission per request: wrk's threads each number their own (setup gives each an id).
POST_SCRIPT = """\
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("id", threads)
end
local counter = 0
function request()
    counter = counter + 1
    local body = string.format(
        '{"title": "Load test %%d-%%d", "category": "online", "format": "online", '
        .. '"country": "%(country)s", "starts_at": "%(day)sT10:00", "organiser": "Load test", '
        .. '"contact_email": "load@example.org", "language": "en", "consent": true}',
        id, counter)
    return wrk.format("POST", "/api/events", {
        ["Host"] = "%(host)s",
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer %(key)s",
    }, body)
end
"""


@dataclass(frozen=True)
class App:
    """The app behind nginx: its public URL and host, and what a benchmark asks it with."""

    url: str
    host: str
    certificate: Path
    api_key: str
    event_id: str  # an approved event, for the event page
    edit_ids: list[str]  # approved events the edits change, one each
    env: dict[str, str]  # mapapp's environment, for its other commands (publish)
    certificate_key: Path


@dataclass(frozen=True)
class Static:
    """nginx serving the published directory: its URL and host, and how long publish took."""

    url: str
    host: str
    publish_seconds: float


class _FormFields(HTMLParser):
    """Collect what a browser sends with the page's form that posts to the page itself.

    (tests/serve_clients.py reads every form; this is the little the benchmark needs.)
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, str] = {}
        self._inside = False  # in a form without an action: it posts to the page
        self._select = ""
        self._textarea = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._inside = "action" not in named and not self.fields
        if not self._inside or "form" in named:
            return
        name = named.get("name", "")
        if tag == "input" and name:
            kind = named.get("type", "text")
            if kind in {"submit", "button", "image", "reset", "file"}:
                return
            if kind in {"radio", "checkbox"} and "checked" not in named:
                return
            self.fields[name] = named.get("value", "on" if kind in {"radio", "checkbox"} else "")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select:
            if "selected" in named or self._select not in self.fields:
                self.fields[self._select] = named.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = ""
        elif tag == "textarea" and self._textarea:
            text = self.fields[self._textarea]
            self.fields[self._textarea] = text[2:] if text.startswith("\r\n") else text[1:]
            self._textarea = ""
        elif tag == "form":
            self._inside = False


def form_fields(page: str) -> dict[str, str]:
    """Return the fields a browser would send with the page's form posting to the page."""
    parser = _FormFields()
    parser.feed(page)
    return parser.fields


def prepare(data_dir: Path, settings: dict[str, str]) -> str:
    """Add the coordinator and a partner's key to a store; return the key's secret."""
    app = create_app(
        {"ENV": "testing", "DATA_DIR": str(data_dir), "SECRET_KEY": SECRET_KEY, **settings}
    )
    try:
        with app.app_context():
            coordinators.add_coordinator(COORDINATOR, PASSWORD)
            _key, secret = api_keys.create_key(
                access.Scope.system("benchmark"), "Load test", KEY_COUNTRY
            )
    finally:
        get_store_of(app).close()
    return secret


def load_postgres(events_dir: Path, env: dict[str, str]) -> None:
    """Create the PostgreSQL tables and load a data directory's CSV files into them."""
    for command in (["db", "init"], ["db", "import-csv", str(events_dir)]):
        done = subprocess.run(
            [str(MAPAPP), *command], env=env, capture_output=True, text=True, timeout=1800
        )
        if done.returncode:
            raise RuntimeError(f"mapapp {' '.join(command)}: {done.stderr[-2000:]}")


@contextmanager
def app_behind_nginx(
    folder: Path, data_dir: Path, database_url: str, event_id: str, edit_ids: list[str]
) -> Iterator[App]:
    """Run `mapapp serve` (production, 2 workers) on a store behind nginx with TLS; yield it."""
    folder.mkdir(parents=True, exist_ok=True)
    app_port, https_port, http_port = free_port(), free_port(), free_port()
    host = f"127.0.0.1:{https_port}"
    env = {
        **os.environ,
        "MAPAPP_ENV": "production",
        "MAPAPP_SECRET_KEY": SECRET_KEY,
        "MAPAPP_PUBLIC_URL": f"https://{host}",
        "MAPAPP_PROXY_COUNT": "1",
        "MAPAPP_DATA_DIR": str(data_dir),
        "MAPAPP_GEOCODER": "offline",
    }
    env.update(
        (f"MAPAPP_{name}_RATE_LIMIT", "off")
        for name in ("SUBMIT", "LOGIN", "EDIT", "PREVIEW", "EXPORT", "API_KEY")
    )
    settings: dict[str, str] = {}
    if database_url:
        env["MAPAPP_DATABASE_URL"] = database_url
        settings["DATABASE_URL"] = database_url
        load_postgres(data_dir, env)
    api_key = prepare(data_dir, settings)
    certificate, key = self_signed_certificate(folder)
    site = folder / "mapapp.conf"
    written = subprocess.run(
        [str(MAPAPP), "deploy", "nginx", "--upstream", f"127.0.0.1:{app_port}", "--address"]
        + ["127.0.0.1", "--http-port", str(http_port), "--certificate", str(certificate)]
        + ["--certificate-key", str(key)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    site.write_text(written.stdout)
    serve = [str(MAPAPP), "serve", "--port", str(app_port), "--workers", str(WORKERS)]
    with ExitStack() as stack:
        log = stack.enter_context(open(folder / "serve.log", "wb"))
        server = subprocess.Popen(serve, env=env, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(stop, server)
        wait_for(f"http://127.0.0.1:{app_port}/healthz", server, host, certificate)
        nginx = subprocess.Popen(
            [str(NGINX), "-p", str(folder), "-c", str(nginx_conf(folder, site))]
            + ["-e", str(folder / "error.log"), "-g", "daemon off;"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(stop, nginx)
        wait_for(f"https://{host}/healthz", nginx, host, certificate)
        yield App(f"https://{host}", host, certificate, api_key, event_id, edit_ids, env, key)


def has_command(name: str) -> bool:
    """Return whether this checkout's mapapp has a command (publish, db: other branches')."""
    from mapapp.cli import cli

    return name in getattr(cli, "commands", {})


@contextmanager
def published_site(app: App, folder: Path) -> Iterator[Static]:
    """Publish the app's store with `mapapp publish`, serve it by nginx alone (TLS); yield it."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    host = f"127.0.0.1:{port}"
    site_dir = folder / "site"
    started = time.perf_counter()
    subprocess.run(
        [str(MAPAPP), "publish", str(site_dir), "--site-url", f"https://{host}/", "--quiet"],
        env=app.env,
        capture_output=True,
        check=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - started
    written = subprocess.run(
        [str(MAPAPP), "deploy", "published-site", str(site_dir), "--port", str(port)]
        + ["--address", "127.0.0.1", "--certificate", str(app.certificate)]
        + ["--certificate-key", str(app.certificate_key)],
        env=app.env,
        capture_output=True,
        text=True,
        check=True,
    )
    site = folder / "published.conf"
    site.write_text(written.stdout)
    with open(folder / "nginx.log", "wb") as log:
        nginx = subprocess.Popen(
            [str(NGINX), "-p", str(folder), "-c", str(nginx_conf(folder, site))]
            + ["-e", str(folder / "error.log"), "-g", "daemon off;"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"https://{host}/", nginx, host, app.certificate)
        yield Static(f"https://{host}", host, seconds)
    finally:
        stop(nginx)


def run_wrk(url: str, host: str, connections: int, duration: int, script: Path | None) -> Result:
    """Run wrk against one URL (with a Lua script, if given) and return its figures."""
    threads = min(connections, 2)
    command = [str(WRK), "-t", str(threads), "-c", str(connections), "-d", f"{duration}s"]
    command += ["--timeout", WRK_TIMEOUT, "--latency", "-H", f"Host: {host}"]
    command += ["-H", "Accept-Encoding: gzip"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=duration + 60
    ).stdout
    percentiles = {
        int(number): float(value) * UNITS[unit]
        for number, value, unit in PERCENTILE.findall(output)
    }
    rps_match = REQUESTS_PER_SECOND.search(output)
    rps = float(rps_match.group(1)) if rps_match else 0.0
    errors = ERRORS.search(output)
    non_2xx = NON_2XX.search(output)
    count = sum(map(int, errors.groups())) if errors else 0
    count += int(non_2xx.group(1)) if non_2xx else 0
    return Result(
        rps=rps,
        p50_ms=percentiles.get(50) if rps else None,
        p99_ms=percentiles.get(99) if rps else None,
        errors=count,
    )


def http_session(app: App) -> requests.Session:
    """Return a keep-alive session trusting the app's certificate."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    session.verify = str(app.certificate)
    return session


def submission(number: int) -> dict[str, object]:
    """Return the number-th online submission a partner posts."""
    return {
        "title": f"Benchmark submission {number}",
        "category": "online",
        "format": "online",
        "country": KEY_COUNTRY,
        "starts_at": f"{DAY}T{8 + number % 12:02d}:00",
        "organiser": "Benchmark partner",
        "contact_email": "partner@example.org",
        "language": "en",
        "consent": True,
    }


def time_submissions(app: App, count: int) -> list[float]:
    """POST count submissions one after another; return each one's milliseconds."""
    times = []
    headers = {"Authorization": f"Bearer {app.api_key}"}
    with http_session(app) as http:
        for number in range(count):
            started = time.perf_counter()
            answer = http.post(
                app.url + "/api/events", json=submission(number), headers=headers, timeout=60
            )
            times.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 201:
                raise RuntimeError(f"POST /api/events: {answer.status_code} {answer.text[:500]}")
    return times


def time_edits(app: App, count: int) -> list[float]:
    """Sign in, then change count events' titles one after another; return each POST's ms."""
    times = []
    with http_session(app) as http:
        page = http.get(app.url + "/admin/sign-in", timeout=HTTP_TIMEOUT).text
        data = {**form_fields(page), "name": COORDINATOR, "password": PASSWORD}
        signed_in = http.post(
            app.url + "/admin/sign-in", data=data, timeout=HTTP_TIMEOUT, allow_redirects=False
        )
        if signed_in.status_code != 302:
            raise RuntimeError(f"sign-in: {signed_in.status_code}")
        for number in range(count):
            path = f"/admin/events/{app.edit_ids[number % len(app.edit_ids)]}/edit"
            fields = form_fields(http.get(app.url + path, timeout=HTTP_TIMEOUT).text)
            fields["title"] = f"Edited by the benchmark {number}"
            started = time.perf_counter()
            answer = http.post(
                app.url + path, data=fields, timeout=HTTP_TIMEOUT, allow_redirects=False
            )
            times.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 303:
                raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:500]}")
    return times


def percentile(times: list[float], fraction: float) -> float:
    """Return a percentile of the timings (nearest rank)."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def server_table(
    app: App, static: Static | None, connections: list[int], duration: int, folder: Path
) -> list[str]:
    """Measure table 1: each request of the app and, when published, of the static site."""
    script = folder / "post.lua"
    script.write_text(
        POST_SCRIPT % {"country": KEY_COUNTRY, "day": DAY, "host": app.host, "key": app.api_key}
    )
    rows = []
    for app_path, static_path, label in GETS:
        target = app_path.replace(EVENT, app.event_id)
        warm(app, target)
        for count in connections:
            result = run_wrk(app.url + target, app.host, count, duration, None)
            served = None
            if static is not None:
                url = static.url + static_path.replace(EVENT, app.event_id)
                served = run_wrk(url, static.host, count, duration, None)
            rows.append(table_row(label, count, result, served, "not yet"))
    for count in connections:  # last: every submission makes the workers rebuild the map data
        result = run_wrk(app.url + "/api/events", app.host, count, duration, script)
        rows.append(table_row("POST a submission (API key)", count, result, None, "n/a"))
    return rows


def warm(app: App, target: str) -> None:
    """Ask for a path until every worker answers it from what it keeps (WARM_RUNS at most)."""
    for _ in range(WARM_RUNS):
        result = run_wrk(app.url + target, app.host, 2 * WORKERS, WARM_SECONDS, None)
        if result.rps and result.p99_ms is not None and result.p99_ms < WARM_MS:
            return


def table_row(
    label: str, connections: int, app: Result, static: Result | None, missing: str
) -> str:
    """Return one row of table 1; missing fills the static columns when there is no static run."""
    cells = [label, str(connections), *result_cells(app)]
    if static is None:
        cells += [missing] * 5
    else:
        ratio = f"{static.rps / app.rps:.1f}x" if app.rps else "—"
        cells += [*result_cells(static), ratio]
    return "| " + " | ".join(cells) + " |"


def result_cells(result: Result) -> list[str]:
    """Return a wrk run's requests/s, p50, p99 and errors as table cells."""
    rps = f"{result.rps:,.0f}" if result.rps else "0 (no answer)"
    return [rps, milliseconds(result.p50_ms), milliseconds(result.p99_ms), f"{result.errors:,}"]


def main() -> None:
    """Measure and print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--duration", type=int, default=5, help="Seconds per wrk run.")
    parser.add_argument("--connections", default="1,4,16", help="wrk's connections per row.")
    parser.add_argument("--requests", type=int, default=200, help="Sequential ones, table 2.")
    args = parser.parse_args()
    for binary in (NGINX, OPENSSL, WRK):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: apt-get install nginx openssl wrk")
    connections = [int(count) for count in args.connections.split(",")]
    OUT_DIR.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-hosts-", dir=OUT_DIR))
    timings: dict[str, dict[str, list[float]]] = {}
    publish_seconds: float | None = None
    try:
        base = work / "base"
        base.mkdir()
        events = generate_events(args.events)
        store = EventStore(base)
        store.replace_all(events)
        store.close()
        approved = [event["id"] for event in events if event["status"] == "approved"]
        event_id, edit_ids = approved[len(approved) // 2], approved[: max(1, args.requests)]
        backends = [("CSV", "")]
        if postgres_bin() is not None and has_command("db"):
            backends.append(("PostgreSQL", "postgres"))
        rows: list[str] = []
        for name, kind in backends:
            data_dir = work / name / "data"
            shutil.copytree(base, data_dir)
            with ExitStack() as stack:
                database_url = ""
                if kind:
                    database_url = stack.enter_context(postgres_server(free_port()))
                app = stack.enter_context(
                    app_behind_nginx(work / name, data_dir, database_url, event_id, edit_ids)
                )
                timings[name] = {
                    "submit": time_submissions(app, args.requests),
                    "edit": time_edits(app, args.requests),
                }
                if not kind:
                    static = None
                    if has_command("publish"):
                        static = stack.enter_context(published_site(app, work / "published"))
                        publish_seconds = static.publish_seconds
                    rows = server_table(app, static, connections, args.duration, work / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(
        f"{args.events:,} events; mapapp serve {WORKERS} workers behind nginx (TLS); wrk "
        f"{args.duration} s per row, timeout {WRK_TIMEOUT}, loopback; {platform.python_version()},"
        f" {os.cpu_count()} CPUs; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the "
        "end.\n"
    )
    print(
        "| request | connections | app req/s | app p50 ms | app p99 ms | app errors "
        "| static req/s | static p50 ms | static p99 ms | static errors | static / app |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(row)
    if publish_seconds is None:
        print("\nStatic: nginx serving `mapapp publish DIR`'s files: not yet on this branch.")
    else:
        print(
            f"\nStatic: nginx alone (TLS) serving the files `mapapp publish` wrote in "
            f"{publish_seconds:.1f} s; static / app compares requests/s."
        )
    print(
        f"\n{args.requests} sequential requests per store, through nginx, one keep-alive "
        "connection.\n"
    )
    names = list(timings)
    header = " | ".join(f"{name} p50 ms | {name} p95 ms" for name in names)
    ratio = " | PostgreSQL / CSV (p95)" if len(names) > 1 else ""
    print(f"| operation | {header}{ratio} |")
    print("|---|" + "---:|" * (2 * len(names) + (1 if ratio else 0)))
    for operation in ("submit", "edit"):
        cells = []
        for name in names:
            times = timings[name][operation]
            cells += [f"{statistics.median(times):,.1f}", f"{percentile(times, 0.95):,.1f}"]
        if ratio:
            csv_p95 = percentile(timings["CSV"][operation], 0.95)
            cells.append(f"{percentile(timings['PostgreSQL'][operation], 0.95) / csv_p95:.2f}x")
        print(f"| {operation} | " + " | ".join(cells) + " |")
    if len(names) == 1:
        print("\nPostgreSQL: the store is not on this branch yet (or PostgreSQL is missing).")


if __name__ == "__main__":
    main()
