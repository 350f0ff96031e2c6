"""Server-side coordinator sessions: sign-out, account changes, idle timeout and absolute lifetime."""

from __future__ import annotations

import csv
import multiprocessing
import os
import re
import socket
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from flask_login.utils import encode_cookie
from markupsafe import escape

from mapapp import coordinators, create_app, sessions
from mapapp.cli import cli
from mapapp.config import ConfigError, load_settings
from mapapp.web.auth import PASSWORD_CHANGED, PASSWORDS_DIFFER, SEEN_KEY, SIGN_OUT_NOT_STORED
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, fill_disk, sign_in
from tests.serve_clients import HTTP_TIMEOUT, find_form
from tests.serve_clients import PASSWORD as SERVE_PASSWORD
from tests.servers import SECRET_KEY as SERVE_SECRET
from tests.servers import STARTUP_SECONDS, serving
from tests.test_serve_writes import worker_states

NEW_PASSWORD = "another long test passphrase"
START = datetime(2027, 2, 28, 9, 0, tzinfo=UTC)
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Clock:
    """The sessions module's clock, moved by the test."""

    def __init__(self) -> None:
        self.time = START

    def __call__(self) -> datetime:
        return self.time

    def advance(self, **delta: float) -> None:
        """Move the clock on."""
        self.time += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Replace the sessions module's clock with one the test moves."""
    clock = Clock()
    monkeypatch.setattr(sessions, "now", clock)
    return clock


@pytest.fixture
def account(app: Flask) -> coordinators.Coordinator:
    """Add the test coordinator's account."""
    with app.app_context():
        return coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)


def signed_in_client(app: Flask, password: str = COORDINATOR_PASSWORD) -> FlaskClient:
    """Return a new client (a browser of its own) signed in through the real form."""
    client = app.test_client()
    response = sign_in(client, COORDINATOR_NAME, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Return another client holding a copy of a client's session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def csrf_token(client: FlaskClient, path: str = "/admin/") -> str:
    """Return the CSRF token of a page's forms."""
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_out(client: FlaskClient) -> None:
    """Press Sign out."""
    response = client.post("/admin/sign-out", data={"csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/admin/sign-in"


def change_password(client: FlaskClient, current: str, new: str, repeated: str) -> Any:
    """Post the password form with the page's CSRF token and return the response."""
    form = {
        "csrf_token": csrf_token(client, "/admin/account/password"),
        "current": current,
        "new": new,
        "repeated": repeated,
    }
    return client.post("/admin/account/password", data=form)


def refused(client: FlaskClient, path: str = "/admin/") -> bool:
    """Return whether the client is sent to sign in."""
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 302 and response.headers["Location"].startswith("/admin/sign-in")


def session_token(app: Flask, client: FlaskClient) -> str:
    """Return the session token in a client's signed session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    token: str = serializer.loads(cookie.value)["_user_id"]
    return token


def stored_sessions(app: Flask) -> list[sessions.Session]:
    """Return the sessions in the data directory."""
    with app.app_context():
        return sessions.list_sessions()


# Signing out and copied cookies


@pytest.mark.usefixtures("account")
def test_a_cookie_copied_before_sign_out_is_refused_after_it(app: Flask) -> None:
    client = signed_in_client(app)
    thief = copy_of(app, client)
    assert thief.get("/admin/export?format=csv").status_code == 200  # the copy works, at first
    sign_out(client)
    assert refused(thief)
    assert refused(thief, "/admin/export?format=csv")
    assert refused(client)
    assert stored_sessions(app) == []


@pytest.mark.usefixtures("account")
def test_the_cookie_holds_a_session_token_kept_on_the_server_only_as_a_hash(
    app: Flask, data_dir: Path
) -> None:
    client = signed_in_client(app)
    token = session_token(app, client)
    assert token != COORDINATOR_NAME and len(token) >= 40
    stored = (data_dir / "sessions.csv").read_text(encoding="utf-8-sig")
    assert token not in stored
    [session] = stored_sessions(app)
    assert session.coordinator == COORDINATOR_NAME
    assert client.get_cookie("remember_token") is None


@pytest.mark.usefixtures("account")
def test_each_sign_in_is_a_session_of_its_own(app: Flask) -> None:
    first, second = signed_in_client(app), signed_in_client(app)
    assert len(stored_sessions(app)) == 2
    sign_out(first)
    assert refused(first)
    assert not refused(second)
    assert len(stored_sessions(app)) == 1


@pytest.mark.usefixtures("account")
def test_a_remember_cookie_alone_opens_nothing(app: Flask) -> None:
    """Flask-Login's remember-me cookie, never set, is refused even naming a live session."""
    token = session_token(app, signed_in_client(app))
    stranger = app.test_client()
    with app.app_context():
        stranger.set_cookie("remember_token", encode_cookie(token))
    assert refused(stranger)


# Account changes


@pytest.mark.usefixtures("account")
def test_removing_and_re_adding_an_account_refuses_the_old_cookie(app: Flask) -> None:
    client = signed_in_client(app)
    thief = copy_of(app, client)
    with app.app_context():
        coordinators.remove_coordinator(COORDINATOR_NAME)
        coordinators.add_coordinator(COORDINATOR_NAME, NEW_PASSWORD)
    assert refused(thief)
    assert refused(client)
    assert stored_sessions(app) == []
    assert not refused(signed_in_client(app, NEW_PASSWORD))


@pytest.mark.usefixtures("account")
def test_an_account_re_created_behind_the_apps_back_refuses_the_old_cookie(
    app: Flask, data_dir: Path
) -> None:
    """A session record left behind (the file edited by hand) no longer matches the account."""
    client = signed_in_client(app)
    with app.app_context():
        coordinators._table().delete([COORDINATOR_NAME])  # as a hand edit would, sessions kept
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)  # even the same one
    assert len(stored_sessions(app)) == 1
    assert refused(client)
    assert stored_sessions(app) == []


@pytest.mark.usefixtures("account")
def test_changing_the_password_keeps_this_session_and_ends_every_other(app: Flask) -> None:
    client, other = signed_in_client(app), signed_in_client(app)
    thief = copy_of(app, client)
    response = change_password(client, COORDINATOR_PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/account/password"
    assert PASSWORD_CHANGED in client.get("/admin/account/password").get_data(as_text=True)
    assert not refused(client)
    assert refused(other)
    assert refused(thief)  # the session was re-issued: the copied token is gone
    assert len(stored_sessions(app)) == 1
    assert sign_in(app.test_client(), COORDINATOR_NAME, COORDINATOR_PASSWORD).status_code == 401
    assert not refused(signed_in_client(app, NEW_PASSWORD))


@pytest.mark.usefixtures("account")
@pytest.mark.parametrize(
    ("current", "new", "repeated", "message"),
    [
        ("not my password", NEW_PASSWORD, NEW_PASSWORD, coordinators.WRONG_CURRENT_PASSWORD),
        (COORDINATOR_PASSWORD, "short", "short", "Password: use at least 10 characters"),
        (COORDINATOR_PASSWORD, "x" * 1025, "x" * 1025, "Password: keep it under 1024 characters."),
        (COORDINATOR_PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", PASSWORDS_DIFFER),
        (
            COORDINATOR_PASSWORD,
            COORDINATOR_PASSWORD,
            COORDINATOR_PASSWORD,
            coordinators.SAME_PASSWORD,
        ),
        (COORDINATOR_PASSWORD, "", "", "New password: This field is required."),
    ],
    ids=["wrong-current", "short", "long", "differ", "same", "empty"],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    app: Flask, data_dir: Path, current: str, new: str, repeated: str, message: str
) -> None:
    client, other = signed_in_client(app), signed_in_client(app)
    accounts = (data_dir / "coordinators.csv").read_bytes()
    stored = (data_dir / "sessions.csv").read_bytes()
    response = change_password(client, current, new, repeated)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert (data_dir / "coordinators.csv").read_bytes() == accounts
    assert (data_dir / "sessions.csv").read_bytes() == stored
    assert not refused(client) and not refused(other)


@pytest.mark.usefixtures("account")
def test_a_password_change_without_csrf_token_is_refused(app: Flask, data_dir: Path) -> None:
    client = signed_in_client(app)
    accounts = (data_dir / "coordinators.csv").read_bytes()
    form = {"current": COORDINATOR_PASSWORD, "new": NEW_PASSWORD, "repeated": NEW_PASSWORD}
    response = client.post("/admin/account/password", data=form)
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)
    assert (data_dir / "coordinators.csv").read_bytes() == accounts


def test_password_changes_are_rate_limited(app_config: dict[str, Any]) -> None:
    app_config["LOGIN_RATE_LIMIT"] = "2 per minute"
    app = create_app(app_config)
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    client = signed_in_client(app)
    statuses = [
        change_password(client, "not my password", NEW_PASSWORD, NEW_PASSWORD).status_code
        for _ in range(3)
    ]
    assert statuses == [422, 422, 429]


@pytest.mark.usefixtures("account")
def test_the_admin_layout_links_to_the_password_page(app: Flask) -> None:
    page = signed_in_client(app).get("/admin/").get_data(as_text=True)
    assert '<a href="/admin/account/password">Change password</a>' in page
    form = signed_in_client(app).get("/admin/account/password").get_data(as_text=True)
    assert 'autocomplete="current-password"' in form
    assert form.count('autocomplete="new-password"') == 2


# When the store cannot write


@pytest.mark.usefixtures("account")
def test_on_a_full_disk_sign_in_answers_503_and_writes_nothing(
    app: Flask, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (data_dir / "coordinators.csv").read_bytes()
    fill_disk(monkeypatch)
    client = app.test_client()
    response = sign_in(client, COORDINATOR_NAME, COORDINATOR_PASSWORD)
    assert response.status_code == 503
    assert refused(client)
    assert stored_sessions(app) == []
    assert (data_dir / "coordinators.csv").read_bytes() == before


@pytest.mark.usefixtures("account")
def test_on_a_full_disk_sign_out_says_the_session_stays_open(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in_client(app)
    thief = copy_of(app, client)
    token = csrf_token(client)
    fill_disk(monkeypatch)
    response = client.post("/admin/sign-out", data={"csrf_token": token})
    assert response.headers["Location"] == "/admin/sign-in"
    page = client.get("/admin/sign-in").get_data(as_text=True)
    assert str(escape(SIGN_OUT_NOT_STORED)) in page
    assert refused(client)
    assert not refused(thief)  # honestly: the record could not be removed
    assert len(stored_sessions(app)) == 1


@pytest.mark.usefixtures("account")
def test_on_a_full_disk_an_expired_session_is_still_refused(
    app: Flask, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in_client(app)
    fill_disk(monkeypatch)
    clock.advance(hours=13)
    assert refused(client)  # a redirect to sign in, not a 503
    assert len(stored_sessions(app)) == 1  # removed by a later write


@pytest.mark.usefixtures("account")
def test_on_a_full_disk_a_password_change_answers_503_and_keeps_the_old_one(
    app: Flask, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in_client(app)
    before = (data_dir / "coordinators.csv").read_bytes()
    form = {
        "csrf_token": csrf_token(client, "/admin/account/password"),
        "current": COORDINATOR_PASSWORD,
        "new": NEW_PASSWORD,
        "repeated": NEW_PASSWORD,
    }
    fill_disk(monkeypatch)
    assert client.post("/admin/account/password", data=form).status_code == 503
    assert (data_dir / "coordinators.csv").read_bytes() == before
    assert not refused(client)
    result = app.test_cli_runner().invoke(
        cli, args=["coordinator", "password", COORDINATOR_NAME], input=f"{NEW_PASSWORD}\n" * 2
    )
    assert result.exit_code == 1
    assert "The store cannot write (full)" in result.output
    assert (data_dir / "coordinators.csv").read_bytes() == before


# Idle timeout and absolute lifetime


@pytest.mark.usefixtures("account")
def test_a_session_ends_after_the_idle_timeout(app: Flask, clock: Clock) -> None:
    client = signed_in_client(app)
    clock.advance(minutes=119)
    assert not refused(client)  # each request moves the idle clock on
    clock.advance(minutes=119)
    assert not refused(client)
    clock.advance(minutes=121)
    assert refused(client)
    assert stored_sessions(app) == []


@pytest.mark.usefixtures("account")
def test_the_idle_clock_is_kept_to_the_minute(app: Flask, clock: Clock) -> None:
    client = signed_in_client(app)
    cookie = client.get_cookie("session")
    clock.advance(seconds=30)
    client.get("/admin/")
    assert client.get_cookie("session") == cookie  # no new cookie for every click
    clock.advance(seconds=31)
    client.get("/admin/")
    assert client.get_cookie("session") != cookie


@pytest.mark.usefixtures("account")
def test_a_session_without_an_idle_stamp_is_refused(app: Flask) -> None:
    client = signed_in_client(app)
    with client.session_transaction() as cookie_session:
        del cookie_session[SEEN_KEY]
    assert refused(client)


@pytest.mark.usefixtures("account")
def test_a_busy_session_ends_after_its_absolute_lifetime(app: Flask, clock: Clock) -> None:
    client = signed_in_client(app)
    for _ in range(12):
        clock.advance(minutes=59)
        assert not refused(client)
    clock.advance(minutes=13)  # 12 h 1 min after signing in
    assert refused(client)
    assert stored_sessions(app) == []


def test_session_durations_are_configurable(app_config: dict[str, Any], clock: Clock) -> None:
    app_config |= {"SESSION_IDLE_MINUTES": 5, "SESSION_MAX_HOURS": 1}
    app = create_app(app_config)
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    idle, busy = signed_in_client(app), signed_in_client(app)
    clock.advance(minutes=4)
    assert not refused(busy)
    clock.advance(minutes=2)
    assert not refused(busy)
    assert refused(idle)  # 6 minutes without a request
    for _ in range(13):
        clock.advance(minutes=4)
        assert not refused(busy)
    clock.advance(minutes=3)  # 61 minutes after signing in
    assert refused(busy)


@pytest.mark.usefixtures("account")
def test_expired_sessions_are_purged_by_a_later_sign_in(app: Flask, clock: Clock) -> None:
    signed_in_client(app)
    signed_in_client(app)
    clock.advance(hours=12, minutes=1)
    signed_in_client(app)
    [session] = stored_sessions(app)
    assert session.created_at == clock.time.replace(microsecond=0)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"MAPAPP_SESSION_IDLE_MINUTES": "two hours"},
            "MAPAPP_SESSION_IDLE_MINUTES must be a whole",
        ),
        (
            {"MAPAPP_SESSION_MAX_HOURS": "0"},
            "MAPAPP_SESSION_MAX_HOURS must be a whole number of at",
        ),
        (
            {"MAPAPP_SESSION_IDLE_MINUTES": "-5"},
            "MAPAPP_SESSION_IDLE_MINUTES must be a whole number of",
        ),
    ],
)
def test_bad_session_durations_are_refused_at_start(
    data_dir: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings = load_settings(environ, {"DATA_DIR": str(data_dir), "SECRET_KEY": "x"})
        create_app(settings)


# Through `mapapp serve --workers 3`: sessions are a kind of write

WORKERS = 3
ACCOUNTS = [f"coordinator-{number}" for number in range(3)]
CHURNERS = 4  # client processes that sign in, use admin pages and sign out, over and over
ROUNDS = 3
STEADY = 2  # client processes that stay signed in throughout, on accounts the churners share
ADMIN_PAGES = ("/admin/", "/admin/events", "/admin/audit", "/admin/export?format=csv")
REPLAYS = 6  # requests with a signed-out cookie right after the sign-out, on new connections
MAX_HELD = (
    90  # half-sent requests held open until every worker holds one (gthread spreads them unevenly)
)
HOLD_SECONDS = 30


def sign_in_over_http(http: requests.Session, base_url: str, name: str) -> str:
    """Sign in through the real form and return the session cookie."""
    page = http.get(base_url + "/admin/sign-in", timeout=HTTP_TIMEOUT).text
    form = find_form(page)
    assert form is not None, f"{name}: no sign-in form"
    data = {**form.values(), "name": name, "password": SERVE_PASSWORD}
    response = http.post(
        base_url + "/admin/sign-in", data=data, timeout=HTTP_TIMEOUT, allow_redirects=False
    )
    assert response.status_code == 302, (name, response.status_code)
    cookie = http.cookies.get("session")
    assert cookie, f"{name}: no session cookie"
    return str(cookie)


def answer_to(base_url: str, cookie: str, path: str) -> tuple[int, str]:
    """Return the status and Location of a GET with only this cookie, on a new connection."""
    response = requests.get(
        base_url + path,
        cookies={"session": cookie},
        headers={"Accept": "text/html", "Connection": "close"},
        timeout=HTTP_TIMEOUT,
        allow_redirects=False,
    )
    return response.status_code, response.headers.get("Location", "")


def churn(base_url: str, name: str, start: Any, results: Any) -> None:
    """Sign in, use the admin pages, sign out and replay the old cookie, ROUNDS times."""
    report: dict[str, Any] = {"name": name, "anomalies": [], "signed_out": []}
    try:
        start.wait(timeout=STARTUP_SECONDS)
        for _ in range(ROUNDS):
            with requests.Session() as http:
                cookie = sign_in_over_http(http, base_url, name)
                for path in ADMIN_PAGES:
                    got = http.get(base_url + path, timeout=HTTP_TIMEOUT, allow_redirects=False)
                    if got.status_code != 200:
                        report["anomalies"].append(f"{name} GET {path}: {got.status_code}")
                page = http.get(base_url + "/admin/", timeout=HTTP_TIMEOUT).text
                form = find_form(page, "/admin/sign-out")
                assert form is not None, f"{name}: no sign-out form"
                out = http.post(
                    base_url + "/admin/sign-out",
                    data=form.values(),
                    timeout=HTTP_TIMEOUT,
                    allow_redirects=False,
                )
                if (out.status_code, out.headers.get("Location")) != (302, "/admin/sign-in"):
                    report["anomalies"].append(f"{name} sign-out: {out.status_code}")
            for _ in range(REPLAYS):
                status, location = answer_to(base_url, cookie, "/admin/export?format=csv")
                if status != 302 or not location.startswith("/admin/sign-in"):
                    report["anomalies"].append(f"{name} signed-out cookie: {status} {location}")
            report["signed_out"].append(cookie)
    except BaseException:
        report["error"] = traceback.format_exc()
    results.put(report)


def stay(base_url: str, name: str, start: Any, stop: Any, results: Any) -> None:
    """Stay signed in, using the admin pages until told to stop; every answer must be 200."""
    report: dict[str, Any] = {"name": name, "anomalies": [], "requests": 0}
    try:
        with requests.Session() as http:
            report["cookie"] = sign_in_over_http(http, base_url, name)
            start.wait(timeout=STARTUP_SECONDS)
            while not stop.is_set():
                for path in ADMIN_PAGES[:3]:
                    got = http.get(base_url + path, timeout=HTTP_TIMEOUT, allow_redirects=False)
                    report["requests"] += 1
                    if got.status_code != 200:
                        report["anomalies"].append(f"{name} GET {path}: {got.status_code}")
    except BaseException:
        report["error"] = traceback.format_exc()
    results.put(report)


def holder_of(connection: socket.socket, port: int, workers: set[int]) -> int | None:
    """Return the worker that accepted a connection to the server's port, if one has yet."""
    client_port = connection.getsockname()[1]
    inode = ""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.rsplit(":", 1)[1], 16) == port and int(remote.rsplit(":", 1)[1], 16) == (
            client_port
        ):
            inode = fields[9]
    if inode in ("", "0"):
        return None
    target = f"socket:[{inode}]"
    for pid in workers:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) == target:
                    return pid
            except OSError:
                continue
    return None


def answers_of_every_worker(
    port: int, master: int, cookies: list[str], path: str = "/admin/"
) -> list[tuple[int, str, int, str]]:
    """GET a path with each cookie, every worker answering at least once; return the answers.

    Requests are sent but for their last line, each held by the worker that accepted it (found
    in /proc), the cookies taken in turn, until every cookie was sent and every worker holds one;
    then all are finished and read. Each answer is (worker, cookie, status, Location).
    """
    workers = set(worker_states(master))
    held: list[tuple[socket.socket, int, str]] = []
    try:
        while len(held) < len(cookies) or {pid for _, pid, _ in held} != workers:
            assert len(held) < MAX_HELD + len(cookies), f"not every worker took one: {held}"
            cookie = cookies[len(held) % len(cookies)]
            connection = socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT)
            connection.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/html\r\n"
                # the clients' own User-Agent: strong session protection drops a moved session
                f"User-Agent: {requests.utils.default_user_agent()}\r\n"
                f"Cookie: session={cookie}\r\nConnection: close\r\n".encode()
            )
            deadline = time.monotonic() + HOLD_SECONDS
            pid = holder_of(connection, port, workers)
            while pid is None and time.monotonic() < deadline:
                time.sleep(0.02)
                pid = holder_of(connection, port, workers)
            assert pid is not None, "no worker accepted a connection"
            held.append((connection, pid, cookie))
        for connection, _, _ in held:  # finish every request before reading any answer: a
            connection.sendall(b"\r\n")  # gthread worker's threads may be waiting on held ones
        return [(pid, cookie, *read_answer(connection)) for connection, pid, cookie in held]
    finally:
        for connection, _, _ in held:
            connection.close()


def read_answer(connection: socket.socket) -> tuple[int, str]:
    """Read a whole HTTP response off a connection; return its status and Location."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    head = b"".join(chunks).split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    location = next(
        (line.split(":", 1)[1].strip() for line in head if line.lower().startswith("location:")),
        "",
    )
    return int(head[0].split()[1]), location


@pytest.mark.slow
def test_sessions_hold_across_workers_while_clients_sign_in_and_out(
    tmp_path: Path, server_port: int
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app = create_app({"ENV": "testing", "DATA_DIR": str(data_dir), "SECRET_KEY": SERVE_SECRET})
    with app.app_context():
        for name in ACCOUNTS:
            coordinators.add_coordinator(name, SERVE_PASSWORD)
    app.extensions["mapapp.store"].close()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    start = context.Barrier(CHURNERS + STEADY + 1)
    stop = context.Event()
    results = context.Queue()
    with serving(data_dir, tmp_path / "serve.log", server_port, WORKERS) as (base_url, server):
        processes = [
            context.Process(
                target=churn, args=(base_url, ACCOUNTS[n % len(ACCOUNTS)], start, results)
            )
            for n in range(CHURNERS)
        ]
        processes += [
            context.Process(target=stay, args=(base_url, ACCOUNTS[n], start, stop, results))
            for n in range(STEADY)
        ]
        reports: list[dict[str, Any]] = []
        try:
            for process in processes:
                process.start()
            start.wait(timeout=STARTUP_SECONDS)
            reports += [results.get(timeout=240) for _ in range(CHURNERS)]
            stop.set()
            reports += [results.get(timeout=60) for _ in range(STEADY)]
        finally:
            stop.set()
            for process in processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=10)
            results.close()
            results.join_thread()
        failed = [report["error"] for report in reports if "error" in report]
        assert not failed, "\n".join(failed)
        anomalies = [anomaly for report in reports for anomaly in report["anomalies"]]
        assert anomalies == []
        steady = [report for report in reports if "cookie" in report]
        assert len(steady) == STEADY and all(report["requests"] > 0 for report in steady)
        signed_out = [cookie for report in reports for cookie in report.get("signed_out", [])]
        assert len(signed_out) == CHURNERS * ROUNDS

        # Every worker still opens each steady session, and refuses every signed-out cookie.
        steady_cookies = [report["cookie"] for report in steady]
        answers = answers_of_every_worker(server_port, server.pid, steady_cookies)
        assert {pid for pid, *_ in answers} == set(worker_states(server.pid))
        assert {(cookie, status) for _, cookie, status, _ in answers} == {
            (cookie, 200) for cookie in steady_cookies
        }
        answers = answers_of_every_worker(server_port, server.pid, signed_out)
        assert len({pid for pid, *_ in answers}) == WORKERS
        assert {cookie for _, cookie, _, _ in answers} == set(signed_out)
        assert {(status, location) for *_, status, location in answers} == {
            (302, "/admin/sign-in?next=/admin/")
        }

    # No record lost, none duplicated: exactly the steady sessions are left, once each.
    with (data_dir / "sessions.csv").open(encoding="utf-8-sig", newline="") as stored:
        rows = list(csv.DictReader(stored))
    assert sorted(row["coordinator"] for row in rows) == ACCOUNTS[:STEADY]
    assert len({row["id"] for row in rows}) == STEADY
