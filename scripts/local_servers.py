"""The local servers tests and benchmarks start: stop one, make a TLS certificate, run
PostgreSQL and Redis from Debian's packages on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OPENSSL = Path("/usr/bin/openssl")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server process (SIGTERM, then SIGKILL after 30 s) and wait for it."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """Make a self-signed EC certificate for 127.0.0.1, offline, and return (cert, key)."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [str(OPENSSL), "req", "-x509", "-newkey", "ec", "-pkeyopt"]
        + ["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out"]
        + [str(certificate)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return certificate, key


# PostgreSQL and Redis from Debian's packages, started on loopback in a folder of their own.

POSTGRES_USER = "postgres"  # PostgreSQL refuses to run as root; Debian's package makes this user
POSTGRES_STARTUP_SECONDS = 60
REDIS_STARTUP_SECONDS = 30


def postgres_bin() -> Path | None:
    """Return the folder of Debian's newest PostgreSQL server programs, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    """Return a command run as the postgres user when we are root (runuser), else as it is."""
    if os.geteuid() == 0:
        return ["runuser", "-u", POSTGRES_USER, "--", *command]
    return command


@contextmanager
def postgres_server(port: int, *, settings: dict[str, str] | None = None) -> Iterator[str]:
    """Run a new PostgreSQL cluster on 127.0.0.1:port in a temporary folder; yield its URL.

    The cluster (initdb, trust authentication for the local user `mapapp`, database `mapapp`)
    lives in a folder under /tmp owned by the postgres user, and is stopped (fast, then
    immediate) and removed afterwards.
    """
    binaries = postgres_bin()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL is missing: install Debian's postgresql.")
    folder = Path(tempfile.mkdtemp(prefix="mapapp-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, POSTGRES_USER, POSTGRES_USER)
    cluster, log = folder / "cluster", folder / "server.log"
    options = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(folder),
        "max_connections": "300",
        "shared_buffers": "128MB",
        **(settings or {}),
    }
    subprocess.run(
        _as_postgres([str(binaries / "initdb"), "-D", str(cluster), "-U", "mapapp"])
        + ["--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    flags = " ".join(f"-c {name}={value}" for name, value in options.items())
    subprocess.run(
        _as_postgres([str(binaries / "pg_ctl"), "-D", str(cluster), "-l", str(log)])
        + ["-o", flags, "-w", "-t", str(POSTGRES_STARTUP_SECONDS), "start"],
        check=True,
        capture_output=True,
        timeout=POSTGRES_STARTUP_SECONDS + 30,
    )
    try:
        subprocess.run(
            _as_postgres([str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port)])
            + ["-U", "mapapp", "mapapp"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield f"postgresql://mapapp@127.0.0.1:{port}/mapapp"
    finally:
        for mode in ("fast", "immediate"):
            stopped = subprocess.run(
                _as_postgres([str(binaries / "pg_ctl"), "-D", str(cluster), "-m", mode])
                + ["-w", "-t", "30", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
            if stopped.returncode == 0:
                break
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def redis_server(port: int) -> Iterator[str]:
    """Run Debian's redis-server on 127.0.0.1:port in a temporary folder, unsaved; yield its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is missing: install Debian's redis-server.")
    import redis

    folder = Path(tempfile.mkdtemp(prefix="mapapp-redis-"))
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    command += ["--save", "", "--appendonly", "no"]
    with open(folder / "redis.log", "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        with redis.Redis.from_url(url, socket_timeout=2) as client:
            for _ in range(REDIS_STARTUP_SECONDS * 10):
                try:
                    if client.ping():
                        break
                except redis.ConnectionError:
                    if process.poll() is not None:
                        raise RuntimeError((folder / "redis.log").read_text()) from None
                    time.sleep(0.1)
            else:
                raise RuntimeError("redis-server did not start in time")
        yield url
    finally:
        stop(process)
        shutil.rmtree(folder, ignore_errors=True)
