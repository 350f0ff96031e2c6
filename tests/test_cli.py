"""The mapapp command: help, the development server, the production server and exports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskCliRunner

from mapapp.cli import cli
from mapapp.storage import EventStore
from tests.conftest import make_event

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
    extra = ["--workers", "2", "--dev"] if command == "serve" else []
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


@pytest.mark.parametrize("fmt", ["csv", "json", "geojson", "ics", "xlsx"])
def test_export_of_a_status_alone_carries_public_fields_only(
    runner: FlaskCliRunner, store: EventStore, fmt: str
) -> None:
    store.add(make_event(title="Approved in Paris"))
    store.add(
        make_event(
            status="pending",
            title="Pending in Berlin",
            contact_email="berlin@example.org",
            moderation_note="call back",
        )
    )

    result = runner.invoke(cli, ["export", "--format", fmt, "--status", "pending"])

    assert result.exit_code == 0, result.output
    assert result.exception is None
    body = result.stdout_bytes
    if fmt == "xlsx":
        body = _xlsx_text(body)
    assert b"Pending in Berlin" in body
    assert b"Approved in Paris" not in body
    assert b"berlin@example.org" not in body
    assert b"call back" not in body


def test_export_of_a_status_with_private_carries_the_e_mails(
    runner: FlaskCliRunner, store: EventStore
) -> None:
    store.add(make_event(status="pending", title="Pending", contact_email="berlin@example.org"))

    result = runner.invoke(cli, ["export", "--format", "csv", "--status", "pending", "--private"])

    assert result.exit_code == 0, result.output
    assert b"berlin@example.org" in result.stdout_bytes


def _xlsx_text(body: bytes) -> bytes:
    """Return every cell of a workbook's first sheet as one UTF-8 text."""
    import io

    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    return "\n".join(str(cell.value) for row in sheet.iter_rows() for cell in row).encode()


def _clean_environ(**settings: str) -> dict[str, str]:
    """Return the environment without any MAPAPP_ setting but the given ones."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("MAPAPP_")}
    return {**environ, **settings}


def test_help_writes_nothing_wherever_it_runs(tmp_path: Path) -> None:
    for args in (["--help"], ["serve", "--help"], ["export", "--help"]):
        subprocess.run(
            [MAPAPP, *args], cwd=tmp_path, env=_clean_environ(), capture_output=True, check=True
        )

    assert list(tmp_path.iterdir()) == []


def test_serve_refuses_development_mode_without_dev(tmp_path: Path) -> None:
    result = subprocess.run(
        [MAPAPP, "serve", "--port", "1"],
        env=_clean_environ(MAPAPP_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "MAPAPP_ENV is 'development'" in result.stderr
    assert "MAPAPP_ENV=production, MAPAPP_SECRET_KEY, MAPAPP_PUBLIC_URL" in result.stderr
    assert "pass --dev" in result.stderr


def test_an_installed_copy_without_a_data_directory_refuses(tmp_path: Path) -> None:
    # Run the code as if installed: outside its checkout, with no MAPAPP_DATA_DIR.
    script = (
        "import sys; from pathlib import Path; import mapapp.config as c; "
        "c.CHECKOUT_ROOT = Path(sys.argv[1]); from mapapp.cli import cli; "
        "cli(['export', '--q', 'x'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "site-packages")],
        cwd=tmp_path,
        env=_clean_environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "MAPAPP_DATA_DIR is not set" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_serve_says_which_data_directory_it_serves(tmp_path: Path, server_port: int) -> None:
    environ = _clean_environ(
        MAPAPP_DATA_DIR=str(tmp_path), MAPAPP_SECRET_KEY="cli-test", MAPAPP_ENV="testing"
    )
    with subprocess.Popen(
        [MAPAPP, "serve", "--port", str(server_port), "--workers", "1"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            wait_for(f"http://127.0.0.1:{server_port}/healthz")
        finally:
            server.terminate()
            _, errors = server.communicate(timeout=30)

    assert f"mapapp: serving 0 events from {tmp_path} (testing mode)" in errors
