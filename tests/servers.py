"""Starting `mapapp serve` for a test, waiting until it answers, and stopping it.

The server runs with MAPAPP_ENV=testing and a fixed secret key, not production: production marks
the session cookie Secure, and a client (requests, like a browser) never sends a Secure cookie over
plain http, so neither sign-in nor any CSRF-protected form would work against http://127.0.0.1.
The environment changes nothing else (see mapapp/web/auth.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

from scripts.local_servers import self_signed_certificate as self_signed_certificate
from scripts.local_servers import stop as stop

MAPAPP = Path(sys.executable).with_name("mapapp")
SECRET_KEY = "serve-writes-test-secret"
WORKERS = 4
STARTUP_SECONDS = 90
# What a cut-off request looks like: the worker serving it was killed.
CUT_OFF = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout)


def server_env(data_dir: Path) -> dict[str, str]:
    """Return the environment of `mapapp serve` and `mapapp import` on a data directory."""
    return {
        **os.environ,
        "MAPAPP_DATA_DIR": str(data_dir),
        "MAPAPP_SECRET_KEY": SECRET_KEY,
        "MAPAPP_ENV": "testing",  # see the module docstring
        "MAPAPP_SUBMIT_RATE_LIMIT": "off",
        "MAPAPP_LOGIN_RATE_LIMIT": "off",
        "MAPAPP_EDIT_RATE_LIMIT": "off",
        "MAPAPP_PREVIEW_RATE_LIMIT": "off",
        "MAPAPP_EXPORT_RATE_LIMIT": "off",
        "MAPAPP_GEOCODER": "offline",
    }


@contextmanager
def held_port() -> Iterator[int]:
    """Yield a free loopback port, kept bound (not listening) until the block ends (see conftest)."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


@contextmanager
def serving(
    data_dir: Path,
    log_path: Path,
    port: int,
    workers: int = WORKERS,
    env: Mapping[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `mapapp serve --workers N` on a port until the block ends; yield its URL and process.

    env is the whole environment (server_env(data_dir) when None); prefix goes before the
    command (setpriv, to run as another user). The output goes to log_path.
    """
    base_url = f"http://127.0.0.1:{port}"
    command = [*prefix, str(MAPAPP), "serve", "--port", str(port), "--workers", str(workers)]
    environment = server_env(data_dir) if env is None else env
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(base_url, process)
        yield base_url, process
    finally:
        stop(process)


def wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until the server answers its health check."""
    deadline = time.monotonic() + STARTUP_SECONDS
    with requests.Session() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"mapapp serve exited with {process.returncode}")
            try:
                if http.get(base_url + "/healthz", timeout=2).status_code == 200:
                    return
            except CUT_OFF:
                pass
            time.sleep(0.2)
    raise RuntimeError("mapapp serve did not start in time")


@contextmanager
def read_only_data_dir(prefix: str, prepare: Callable[[Path], None]) -> Iterator[Path]:
    """Yield a copy of the sample data owned by root that the user nobody can read, not write.

    prepare(data_dir) adds what the test needs (accounts, say) while it is still writable.
    """
    from tests.conftest import SAMPLE_EVENTS

    top = Path(tempfile.mkdtemp(prefix=prefix))  # not under /tmp/pytest-of-root, which is 0700
    top.chmod(0o755)
    data_dir = top / "data"
    data_dir.mkdir()
    shutil.copy(SAMPLE_EVENTS, data_dir / "events.csv")
    prepare(data_dir)
    for path in [data_dir, *data_dir.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    cache = top / "cache"
    cache.mkdir()
    cache.chmod(0o777)  # the gazetteer's index cache, nothing of the store
    try:
        yield data_dir
    finally:
        shutil.rmtree(top, ignore_errors=True)
