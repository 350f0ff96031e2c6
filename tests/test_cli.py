"""The mapapp command: help, the development server and the production server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

MAPAPP = Path(sys.executable).with_name("mapapp")


def wait_for(url: str, seconds: float = 30) -> requests.Response:
    """Return the first successful answer from a server that is starting."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_help_lists_the_commands_with_one_line_each() -> None:
    result = subprocess.run([MAPAPP, "--help"], capture_output=True, text=True, check=True)

    assert "run " in result.stdout
    assert "serve " in result.stdout
    assert "Serve the app for production with gunicorn" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "serve"])
def test_servers_answer_on_the_given_port(tmp_path: Path, command: str, server_port: int) -> None:
    extra = ["--workers", "2"] if command == "serve" else []
    environ = {**os.environ, "MAPAPP_DATA_DIR": str(tmp_path), "MAPAPP_SECRET_KEY": "cli-test"}
    with subprocess.Popen(
        [MAPAPP, command, "--host", "127.0.0.1", "--port", str(server_port), *extra],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as server:
        try:
            response = wait_for(f"http://127.0.0.1:{server_port}/healthz")
        finally:
            server.terminate()
            server.wait(timeout=30)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_serve_allows_long_exports_by_default() -> None:
    result = subprocess.run([MAPAPP, "serve", "--help"], capture_output=True, text=True, check=True)

    assert "--timeout INTEGER" in result.stdout
    assert "[default: 120]" in result.stdout
