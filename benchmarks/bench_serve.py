"""Measure gunicorn's worker types for `mapapp serve`, directly and behind nginx, with wrk.

For each worker type (sync, gthread, and gevent when it can be imported: it is not a dependency,
so `--gevent-path` may point at a folder where `pip install --target` put it), the app runs in
production mode on a store of generated events, with Debian's nginx in front of it terminating
TLS with a self-signed certificate (the site `mapapp deploy nginx` writes). wrk then asks for
`/`, `/api/map-data.json` and `/healthz`, first directly from gunicorn, then through nginx; each
of those once as it is and once while IDLE_CONNECTIONS idle half-open connections (a request
line and part of the headers, then nothing) are held against the server being measured. Through
nginx, once more while WAITING_WRITERS submissions wait for the store's lock, held by this script
for the whole run (as a long import, a bulk approval at 50,000 events or `mapapp restore` holds
it): what is left for readers while writers wait. Every row gives requests per second, latency
p50 and p99, and wrk's errors (timeouts, socket errors, non-2xx answers). The baseline in the
same run is today's server: sync workers, directly.

gunicorn is started as `mapapp serve` starts it (bind, workers, threads, timeout, access log).

    .venv/bin/python benchmarks/bench_serve.py
    .venv/bin/python benchmarks/bench_serve.py --events 200 --duration 1 --classes sync
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from filelock import FileLock

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for scripts.make_sample_data, run from anywhere

from mapapp.events import current_edition, edition_date  # noqa: E402
from mapapp.storage import EVENTS_FILE, EventStore  # noqa: E402
from scripts.local_servers import OPENSSL, self_signed_certificate, stop  # noqa: E402
from scripts.make_sample_data import generate_events  # noqa: E402

OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
MAPAPP = Path(sys.executable).with_name("mapapp")
NGINX = Path("/usr/sbin/nginx")
WRK = Path("/usr/bin/wrk")
PATHS = ("/", "/api/map-data.json", "/healthz")
IDLE_CONNECTIONS = 50
WAITING_WRITERS = 8
WORKERS = 4
THREADS = 4
TIMEOUT_SECONDS = 120
WRK_CONNECTIONS = 16
WRK_THREADS = 2
WRK_TIMEOUT = "5s"
STARTUP_SECONDS = 90
SECRET_KEY = "bench-serve-secret-key"
# wrk's latency lines: "50.000%  12.34ms"; its summary lines.
PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s+([\d.]+)")
ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Result:
    """One wrk run."""

    rps: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], host: str, certificate: Path) -> None:
    """Wait until a server answers its health check."""
    deadline = time.monotonic() + STARTUP_SECONDS
    with requests.Session() as http:
        http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        http.verify = str(certificate)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                if http.get(url, timeout=2, headers={"Host": host}).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in time")


def nginx_conf(folder: Path, site: Path) -> Path:
    """Write a main nginx.conf around the site, with every path in the folder."""
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
        f"    sendfile on;\n    access_log off;\n{temp}    include {site};\n}}\n"
    )
    return conf


@contextmanager
def production(
    folder: Path, data_dir: Path, worker_class: str, gevent_path: str
) -> Iterator[tuple[str, str, str]]:
    """Run gunicorn with the app and nginx in front; yield (direct URL, nginx URL, host)."""
    app_port, https_port, http_port = free_port(), free_port(), free_port()
    host = f"127.0.0.1:{https_port}"
    env = {
        **os.environ,
        "MAPAPP_ENV": "production",
        "MAPAPP_SECRET_KEY": SECRET_KEY,
        "MAPAPP_PUBLIC_URL": f"https://{host}",
        "MAPAPP_PROXY_COUNT": "1",
        "MAPAPP_DATA_DIR": str(data_dir),
        "MAPAPP_SUBMIT_RATE_LIMIT": "off",
        "MAPAPP_LOGIN_RATE_LIMIT": "off",
    }
    if worker_class == "gevent" and gevent_path:
        env["PYTHONPATH"] = os.pathsep.join([gevent_path, env.get("PYTHONPATH", "")])
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
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{app_port}",
        "--workers",
        str(WORKERS),
        "--worker-class",
        worker_class,
        "--threads",
        str(THREADS if worker_class == "gthread" else 1),
        "--timeout",
        str(TIMEOUT_SECONDS),
        "--access-logfile",
        str(folder / "access.log"),
        "mapapp:create_app()",
    ]
    with ExitStack() as stack:
        log = stack.enter_context(open(folder / "gunicorn.log", "wb"))
        server = subprocess.Popen(gunicorn, env=env, stdout=log, stderr=subprocess.STDOUT)
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
        yield f"http://127.0.0.1:{app_port}", f"https://{host}", host


@contextmanager
def idle_connections(url: str, count: int) -> Iterator[None]:
    """Hold count connections that send part of a request's headers, then nothing."""
    scheme, rest = url.split("://", 1)
    address, port = rest.rsplit(":", 1)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            connection = socket.create_connection((address, int(port)), timeout=30)
            if scheme == "https":
                connection = context.wrap_socket(connection, server_hostname=address)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: " + rest.encode() + b"\r\nX-: ")
            sockets.append(connection)
        time.sleep(0.5)  # let sync workers pick them up
        yield
    finally:
        for connection in sockets:
            connection.close()


@contextmanager
def waiting_writers(data_dir: Path, url: str, certificate: Path, count: int) -> Iterator[None]:
    """Hold the events' write lock while count submissions wait for it, then let them in."""
    lock = FileLock(str(data_dir / EVENTS_FILE) + ".lock")
    body = {
        "title": "Submitted while the store was locked",
        "category": "online",
        "format": "online",
        "starts_at": f"{edition_date(current_edition()).isoformat()}T10:00",
        "organiser": "Benchmark",
        "contact_email": "bench@example.org",
        "language": "en",
        "consent": True,
    }

    def submit() -> None:
        with requests.Session() as http:
            http.trust_env = False
            http.verify = str(certificate)
            http.post(url + "/api/events", json=body, timeout=TIMEOUT_SECONDS)

    with lock, ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(submit) for _ in range(count)]
        time.sleep(1.0)  # until they are all inside a worker, waiting
        yield
        lock.release()
        for future in futures:
            future.result()


def run_wrk(url: str, host: str, duration: int) -> Result:
    """Run wrk against one URL and return its figures."""
    output = subprocess.run(
        [str(WRK), "-t", str(WRK_THREADS), "-c", str(WRK_CONNECTIONS), "-d", f"{duration}s"]
        + ["--timeout", WRK_TIMEOUT, "--latency", "-H", f"Host: {host}"]
        + ["-H", "Accept-Encoding: gzip", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    percentiles = {
        int(number): float(value) * UNITS[unit]
        for number, value, unit in PERCENTILE.findall(output)
    }
    rps = REQUESTS_PER_SECOND.search(output)
    errors = ERRORS.search(output)
    non_2xx = NON_2XX.search(output)
    count = sum(map(int, errors.groups())) if errors else 0
    count += int(non_2xx.group(1)) if non_2xx else 0
    return Result(
        rps=float(rps.group(1)) if rps else 0.0,
        p50_ms=percentiles.get(50) if rps and float(rps.group(1)) else None,
        p99_ms=percentiles.get(99) if rps and float(rps.group(1)) else None,
        errors=count,
    )


def milliseconds(value: float | None) -> str:
    """Format a latency."""
    return "—" if value is None else f"{value:,.1f}"


def main() -> None:
    """Measure and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=5, help="Seconds per wrk run.")
    parser.add_argument("--classes", default="sync,gthread,gevent")
    parser.add_argument("--gevent-path", default="", help="A folder holding gevent, if any.")
    args = parser.parse_args()
    for binary in (NGINX, OPENSSL, WRK):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: apt-get install nginx openssl wrk")
    classes = args.classes.split(",")
    if "gevent" in classes:
        probe = subprocess.run(
            [sys.executable, "-c", "import gevent"],
            env={**os.environ, "PYTHONPATH": args.gevent_path},
            capture_output=True,
        )
        if probe.returncode:
            print("gevent is not installed: left out (see --gevent-path).", file=sys.stderr)
            classes.remove("gevent")
    OUT_DIR.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-serve-", dir=OUT_DIR))
    rows: list[tuple[str, str, str, str, Result]] = []
    try:
        base = work / "data"
        base.mkdir()
        store = EventStore(base)
        store.replace_all(generate_events(args.events))
        store.close()
        for worker_class in classes:
            folder = work / worker_class
            folder.mkdir()
            data_dir = folder / "data"
            shutil.copytree(base, data_dir)
            with production(folder, data_dir, worker_class, args.gevent_path) as (
                direct,
                proxied,
                host,
            ):
                for via, url in (("direct", direct), ("nginx", proxied)):
                    for idle in (0, IDLE_CONNECTIONS):
                        with idle_connections(url, idle):
                            for path in PATHS:
                                result = run_wrk(url + path, host, args.duration)
                                load = f"{idle} idle connections" if idle else "—"
                                rows.append((worker_class, via, load, path, result))
                load = f"{WAITING_WRITERS} writes waiting for the lock"
                for path in PATHS:
                    with waiting_writers(data_dir, proxied, folder / "cert.pem", WAITING_WRITERS):
                        result = run_wrk(proxied + path, host, args.duration)
                    rows.append((worker_class, "nginx", load, path, result))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    loadavg = os.getloadavg()
    print(
        f"{args.events:,} events; {WORKERS} workers ({THREADS} threads each for gthread); wrk "
        f"{WRK_THREADS} threads, {WRK_CONNECTIONS} connections, {args.duration} s per row, "
        f"timeout {WRK_TIMEOUT}; {platform.python_version()}, {os.cpu_count()} CPUs, load "
        f"average {loadavg[0]:.2f} {loadavg[1]:.2f} {loadavg[2]:.2f} at the end.\n"
    )
    baseline = {
        (held, path): result.rps
        for worker_class, via, held, path, result in rows
        if worker_class == "sync" and via == "direct"
    }
    print("| server | via | load | path | req/s | p50 ms | p99 ms | errors | vs sync direct |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for worker_class, via, held, path, result in rows:
        reference = baseline.get((held, path))
        ratio = f"{result.rps / reference:.2f}x" if reference else "—"
        rps = f"{result.rps:,.0f}" if result.rps else "0 (no answer)"
        print(
            f"| {worker_class} | {via} | {held} | `{path}` | {rps} | "
            f"{milliseconds(result.p50_ms)} | {milliseconds(result.p99_ms)} | {result.errors:,} "
            f"| {ratio} |"
        )


if __name__ == "__main__":
    main()
