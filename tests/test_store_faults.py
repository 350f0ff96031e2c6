"""What people see when the store cannot write or its file is damaged: 503s, health, mapapp check.

The read-only case runs the real server as an unprivileged user on a directory it cannot write
(root ignores file modes, so running as root would prove nothing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from mapapp import create_app
from mapapp.cli import cli
from mapapp.storage import EventStore
from tests.conftest import (
    COORDINATOR_NAME,
    COORDINATOR_PASSWORD,
    SAMPLE_EVENTS,
    fill_disk,
    make_submission,
)
from tests.servers import read_only_data_dir, serving

UNAVAILABLE = "We cannot store events right now; nothing was saved."
NEEDS_ATTENTION = "The events data file needs attention"


def api_event() -> dict[str, Any]:
    """Return a valid event as a partner's system posts it."""
    return {**make_submission(format="online", city="", country="KE"), "consent": True}


def test_a_full_disk_answers_503_writes_nothing_and_reads_go_on(
    client: FlaskClient, store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    print("variant: fault injected at the write call")
    shutil.copy(SAMPLE_EVENTS, store.path)
    before = store.path.read_bytes()
    audit_before = store.audit.path.read_bytes()
    fill_disk(monkeypatch)

    response = client.post("/api/events", json=api_event())

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "120"
    problem = response.get_json()
    assert (problem["status"], problem["reason"]) == (503, "full")
    assert UNAVAILABLE in problem["detail"]
    page = client.post("/api/events", json=api_event(), headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert (store.path.read_bytes(), store.audit.path.read_bytes()) == (before, audit_before)
    assert not list(store.data_dir.glob("recovered/*"))
    assert client.get("/").status_code == 200
    assert client.get("/api/map-data.json").status_code == 200
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()["status"]) == (200, "read-only")
    monkeypatch.undo()
    assert client.post("/api/events", json=api_event()).status_code == 201
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_a_damaged_file_with_no_good_copy_shows_a_503_page(app_config: dict[str, Any]) -> None:
    data_dir = Path(app_config["DATA_DIR"])
    original = SAMPLE_EVENTS.read_bytes().replace(b"starts_at", b"Start", 1)
    (data_dir / "events.csv").write_bytes(original)
    client = create_app(app_config).test_client()

    page = client.get("/")
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert NEEDS_ATTENTION in text and "Traceback" not in text
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()) == (503, {"status": "degraded"})
    assert client.post("/api/events", json=api_event()).status_code == 503
    assert (data_dir / "events.csv").read_bytes() == original  # never rewritten


def test_a_worker_with_a_good_copy_keeps_serving_it_and_refuses_writes(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    shutil.copy(SAMPLE_EVENTS, store.path)
    assert client.get("/").status_code == 200
    damaged = store.path.read_bytes().replace(b"\r\n", b"\r\nbroken,row\r\n", 1)
    store.path.write_bytes(damaged)

    assert client.get("/").status_code == 200
    assert client.get("/api/map-data.json").status_code == 200
    assert client.get("/healthz").status_code == 503
    response = client.post("/api/events", json=api_event())
    assert (response.status_code, response.get_json()["reason"]) == (503, "damaged")
    assert store.path.read_bytes() == damaged


# mapapp check: each hand edit is named with its line, and check --fix undoes what it safely can.

HAND_EDITS: list[tuple[str, Any, str, bool]] = [
    # (name, how the file is changed, what check says, whether --fix brings the original back)
    (
        "excel dates",
        lambda data: data.replace(b",2027-02-28T19:00,", b",28/02/2027 19:00,", 1),
        "line 2: starts_at is '28/02/2027 19:00'",
        True,
    ),
    (
        "semicolons and windows-1252",
        lambda data: data.decode("utf-8-sig").replace(",", ";").encode("cp1252", errors="replace"),
        "",
        False,
    ),
    (
        "renamed header",
        lambda data: data.replace(b"starts_at", b"Start", 1),
        "no column starts_at",
        False,
    ),
    (
        "a row with an extra field",
        lambda data: data.replace(b",true,", b",true,extra,", 1),
        "line 2",
        False,
    ),
    (
        "a duplicated id",
        lambda data: data + data.split(b"\r\n", 2)[1] + b"\r\n",
        "5g2bex77",
        False,
    ),
    ("no byte order mark", lambda data: data[3:], "byte order mark", True),
    (
        "spreadsheet booleans",
        lambda data: data.replace(b",true,", b",TRUE,"),
        "is_sample is 'TRUE'",
        True,
    ),
]


@pytest.mark.parametrize(
    ("edit", "said", "restored"),
    [case[1:] for case in HAND_EDITS],
    ids=[case[0] for case in HAND_EDITS],
)
def test_mapapp_check_names_each_hand_edit_and_fixes_what_is_safe(
    app: Flask, store: EventStore, edit: Any, said: str, restored: bool
) -> None:
    original = SAMPLE_EVENTS.read_bytes()
    edited = edit(original)
    store.path.write_bytes(edited)
    runner: FlaskCliRunner = app.test_cli_runner()

    checked = runner.invoke(cli, args=["check"])

    assert said in checked.output
    assert "events.csv" in checked.output
    fixed = runner.invoke(cli, args=["check", "--fix"])
    if restored:
        assert checked.exit_code == (0 if said == "byte order mark" else 1)
        assert fixed.exit_code == 0, fixed.output
        assert store.path.read_bytes() == original
        [backup] = (store.data_dir / "backups").iterdir()
        assert backup.read_bytes() == edited
    elif said:
        assert checked.exit_code == 1
        assert fixed.exit_code == 1
        assert store.path.read_bytes() == edited  # what is not safely fixable is left alone


def test_check_fix_turns_a_semicolon_windows_file_back_into_the_store(
    app: Flask, store: EventStore
) -> None:
    original = SAMPLE_EVENTS.read_bytes().decode("utf-8-sig")
    if any(
        character not in original.encode("cp1252", errors="ignore").decode("cp1252")
        for character in original
    ):
        # Keep only rows cp1252 can hold, as a Windows spreadsheet would have to.
        lines = original.split("\r\n")
        original = "\r\n".join(line for line in lines if _fits_cp1252(line))
    store.path.write_bytes(("\ufeff" + original).encode("utf-8"))
    expected = EventStore(store.data_dir).frame()
    semicolons = _semicolon_file(expected).encode("cp1252")
    store.path.write_bytes(semicolons)
    runner: FlaskCliRunner = app.test_cli_runner()

    assert runner.invoke(cli, args=["check"]).exit_code == 1
    fixed = runner.invoke(cli, args=["check", "--fix"])

    assert fixed.exit_code == 0, fixed.output
    assert "Windows-1252" in fixed.output and "separator" in fixed.output
    assert EventStore(store.data_dir).frame().equals(expected)


def _fits_cp1252(text: str) -> bool:
    """Return whether Windows-1252 can hold a text."""
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _semicolon_file(frame: Any) -> str:
    """Return a frame as a European spreadsheet saves CSV: ';' separators, no BOM."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(frame.columns)
    writer.writerows(frame.itertuples(index=False))
    return buffer.getvalue()


# A read-only data directory, through the real server run as an unprivileged user.


@pytest.fixture
def read_only_data() -> Iterator[Path]:
    """Return a data directory owned by root that the user nobody can read but not write."""

    def with_a_coordinator(data_dir: Path) -> None:
        app = create_app(
            {"DATA_DIR": str(data_dir), "SECRET_KEY": "read-only-test", "ENV": "testing"}
        )
        with app.app_context():
            from mapapp import coordinators

            coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
        app.extensions["mapapp.store"].frame()

    with read_only_data_dir("mapapp-read-only-", with_a_coordinator) as data_dir:
        yield data_dir


def test_a_read_only_data_directory_serves_reads_and_answers_503_to_writes(
    read_only_data: Path, server_port: int
) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("needs root and setpriv to run the server as nobody")
        pytest.skip("needs root and setpriv to run the server as nobody")
    before = {path.name: path.read_bytes() for path in read_only_data.iterdir() if path.is_file()}
    port = server_port
    env = {
        **os.environ,
        "MAPAPP_DATA_DIR": str(read_only_data),
        "MAPAPP_SECRET_KEY": "read-only-test",
        "MAPAPP_ENV": "testing",
        "MAPAPP_SUBMIT_RATE_LIMIT": "off",
        "MAPAPP_LOGIN_RATE_LIMIT": "off",
        "MAPAPP_GAZETTEER_CACHE_DIR": str(read_only_data.parent / "cache"),
        "HOME": str(read_only_data.parent / "cache"),
    }
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    log = read_only_data.parent / "server.log"
    with serving(read_only_data, log, port, 2, env, prefix) as (base, _server):
        assert get(base + "/")[0] == 200
        event_id = EventStore(read_only_data).frame().query("status == 'approved'")["id"].iloc[0]
        assert get(f"{base}/events/{event_id}")[0] == 200
        assert get(base + "/events.csv")[0] == 200
        status, body = get(base + "/healthz")
        assert (status, json.loads(body)) == (200, {"events": 470, "status": "read-only"})
        status, body = post_json(base + "/api/events", api_event())
        assert status == 503
        assert json.loads(body)["reason"] == "read-only"
        status, page = signed_in_approve(base, read_only_data)
        assert status == 503 and UNAVAILABLE in page
    after = {path.name: path.read_bytes() for path in read_only_data.iterdir() if path.is_file()}
    assert after == before
    assert b"Traceback" not in log.read_bytes()


def get(url: str) -> tuple[int, str]:
    """Return the status and body of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def post_json(url: str, body: dict[str, Any]) -> tuple[int, str]:
    """Return the status and body of a JSON POST."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def signed_in_approve(base: str, data_dir: Path) -> tuple[int, str]:
    """Sign in as the coordinator and approve the first pending event; return the first refusal."""
    import requests

    session = requests.Session()
    page = session.get(base + "/admin/sign-in", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token
    signed = session.post(
        base + "/admin/sign-in",
        data={
            "csrf_token": token.group(1),
            "name": COORDINATOR_NAME,
            "password": COORDINATOR_PASSWORD,
        },
        timeout=30,
    )
    if signed.status_code == 503:  # signing in stores a session: refused as any write
        return signed.status_code, signed.text
    assert signed.status_code == 200 and "Pending events" in signed.text, signed.text[:500]
    event = EventStore(data_dir).frame().query("status == 'pending'").iloc[0]
    queue = session.get(base + "/admin/", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', queue)
    assert token
    answer = session.post(
        f"{base}/admin/events/{event['id']}/approve",
        data={"csrf_token": token.group(1), "version": event["version"], "next": "/admin/"},
        allow_redirects=False,
        timeout=30,
    )
    return answer.status_code, answer.text


def test_serve_refuses_to_start_on_a_damaged_store(app: Flask, store: EventStore) -> None:
    damaged = SAMPLE_EVENTS.read_bytes().replace(b"starts_at", b"Start", 1)
    store.path.write_bytes(damaged)

    result = app.test_cli_runner().invoke(cli, args=["serve", "--port", "1"])

    assert result.exit_code == 1
    assert "The data files need attention before the app can start" in result.output
    assert "starts_at" in result.output and "Start" in result.output
    assert store.path.read_bytes() == damaged
