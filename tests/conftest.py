"""Fixtures: an app on a temporary data directory, its client and CLI runner, a live server, a browser."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.serving import make_server

from mapapp import PROJECT_ROOT, create_app
from mapapp.events import current_edition, edition_date, validate_event
from mapapp.geocoding import get_geocoder
from mapapp.storage import Audit, EventStore
from scripts.local_servers import postgres_bin, postgres_server, redis_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SAMPLE_EVENTS = PROJECT_ROOT / "data" / "events.csv"


def make_event(**fields: str) -> dict[str, str]:
    """Return a valid approved in-person event, with any field overridden."""
    event = {
        "status": "approved",
        "title": "Light up the town hall",
        "category": "illumination",
        "format": "in_person",
        "starts_at": "2027-02-28T18:00",
        "ends_at": "2027-02-28T22:00",
        "timezone": "Europe/Paris",
        "venue": "Hôtel de Ville",
        "city": "Paris",
        "country": "FR",
        "latitude": "48.856613",
        "longitude": "2.352222",
        "location_precision": "city",
        "organiser": "Test organiser",
        "website": "https://example.org/event",
        "contact_email": "organiser@example.org",
        "description": "A test event.",
        "language": "fr",
    }
    event.update(fields)
    return event


def add_valid_event(store: EventStore, **fields: str) -> dict[str, str]:
    """Store a validated event built by make_event and return it as stored."""
    event, errors = validate_event(make_event(**fields))
    assert event is not None, errors
    return store.add(event)


def change(store: EventStore, event_id: str, changes: dict[str, str]) -> dict[str, str]:
    """Change an event as a system writer would: at the version it has now."""
    current = store.get(event_id)
    assert current is not None, event_id
    return store.update(event_id, changes, expected=current["version"], audit=Audit("test", "edit"))


def fill_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every store write fail with ENOSPC after writing half of its bytes."""
    import mapapp.storage.csv as csv_backend

    real_write_all = csv_backend._write_all

    def half_then_full(descriptor: int, parts: Any) -> None:
        data = b"".join(parts)
        real_write_all(descriptor, [data[: len(data) // 2]])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(csv_backend, "_write_all", half_then_full)


def catalog_of(*tables: Mapping[Any, Any], language: str = "fr") -> Catalog:
    """Return a catalog of a language holding {English: translation} (plurals: tuple: tuple)."""
    catalog = Catalog(locale=language)
    for table in tables:
        for english, translated in table.items():
            catalog.add(english, translated)
    return catalog


def write_catalog(translations: Path, catalog: Catalog) -> Path:
    """Compile a catalog where the app reads it under `translations`; return `translations`."""
    folder = translations / str(catalog.locale) / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as file:
        write_mo(file, catalog)
    return translations


def make_submission(**fields: str) -> dict[str, str]:
    """Return what an organiser posts for a valid in-person event, with any field overridden."""
    day = edition_date(current_edition()).isoformat()
    submission = {
        "title": "Light up the town hall",
        "category": "illumination",
        "format": "in_person",
        "starts_at": f"{day}T18:00",
        "ends_at": f"{day}T22:00",
        "venue": "Hôtel de Ville",
        "address": "",
        "city": "Paris",
        "region": "",
        "country": "FR",
        "website": "https://example.org/event",
        "organiser": "Test organiser",
        "contact_email": "organiser@example.org",
        "description": "A test event.",
        "language": "fr",
    }
    submission.update(fields)
    return submission


@pytest.fixture
def server_port() -> Iterator[int]:
    """Return a free local port for a server process the test starts, held until the test ends.

    The port stays bound (SO_REUSEADDR, not listening), so no test running alongside under xdist
    is handed it while the server starts; servers that set SO_REUSEADDR, as werkzeug and gunicorn
    do, still bind it.
    """
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


def missing(message: str) -> None:
    """Skip a test whose program is missing, or fail it in CI (CI=true), where it must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """Return a loopback port free now (for a server this session starts at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[str]:
    """Run one real PostgreSQL server per test process (xdist worker); yield its URL."""
    if postgres_bin() is None:
        missing("PostgreSQL is missing: install Debian's postgresql.")
    with postgres_server(free_port()) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_cluster: str) -> Iterator[str]:
    """Return the URL of an empty schema of the test's own on the session's PostgreSQL.

    The schema is the connection's search_path (an `options` parameter of the URL), so every
    connection the app opens with this URL sees only this test's tables; dropped afterwards.
    """
    import psycopg

    schema = f"test_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_cluster, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{postgres_cluster}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(postgres_cluster, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Start a real redis-server of the test's own on loopback (nothing saved); yield its URL."""
    if shutil.which("redis-server") is None:
        missing("redis-server is missing: install Debian's redis-server.")
    with redis_server(free_port()) as url:
        yield url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Return an empty data directory of the test's own."""
    directory = tmp_path / "data"
    directory.mkdir()
    return directory


@pytest.fixture
def sample_data_dir(tmp_path: Path) -> Path:
    """Return a data directory holding a copy of the bundled sample events."""
    directory = tmp_path / "sample-data"
    directory.mkdir()
    shutil.copy(SAMPLE_EVENTS, directory / "events.csv")
    return directory


@pytest.fixture
def app_config(data_dir: Path) -> dict[str, Any]:
    """Return the settings of a test app; tests may change them before using `app`."""
    return {
        "ENV": "testing",
        "TESTING": True,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret-key",
        "SUBMIT_RATE_LIMIT": "off",
        "LOGIN_RATE_LIMIT": "off",
        "RESET_RATE_LIMIT": "off",
        "EDIT_RATE_LIMIT": "off",
        "PREVIEW_RATE_LIMIT": "off",
        "EXPORT_RATE_LIMIT": "off",
        "SUBMIT_MIN_SECONDS": 0.0,
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Flask:
    """Return an app on the test's own data directory."""
    return create_app(app_config)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client of the app."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Return a CLI runner of the app."""
    return app.test_cli_runner()


@pytest.fixture
def store(app: Flask) -> EventStore:
    """Return the app's event store."""
    store: EventStore = app.extensions["mapapp.store"]
    return store


@contextmanager
def serving_in_thread(app: Flask) -> Iterator[str]:
    """Serve an app on a free local port in a thread and yield its base URL."""
    with app.app_context():
        # Load the gazetteer before a browser's timeouts run: under xdist a browser test can be
        # its worker's first to geocode, and a cold load takes seconds (more while every worker
        # builds the index at once), which serially an earlier test module paid for.
        _ = get_geocoder().gazetteer
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """Serve the app on a free local port in a thread and return its base URL."""
    with serving_in_thread(app) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Return Debian's chromium driven by Playwright; in CI a missing browser fails the run."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """Return a fresh browser page that records requests and page errors."""
    context = browser.new_context()
    page = context.new_page()
    page.requested_urls = []
    page.page_errors = []
    page.on("request", lambda request: page.requested_urls.append(request.url))
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    yield page
    context.close()


COORDINATOR_NAME = "coordinator"
COORDINATOR_PASSWORD = "a long test passphrase"  # only ever in a test's own data directory


def sign_in(client: FlaskClient, name: str, password: str) -> Any:
    """Post the real sign-in form, with the CSRF token from the page, and return the response."""
    import re

    page = client.get("/admin/sign-in").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "the sign-in page has no CSRF token"
    form = {"csrf_token": match.group(1), "name": name, "password": password}
    return client.post("/admin/sign-in", data=form)


@pytest.fixture
def coordinator_client(app: Flask, client: FlaskClient) -> FlaskClient:
    """Return the test client signed in as a coordinator through the real sign-in form."""
    from mapapp import coordinators

    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    response = sign_in(client, COORDINATOR_NAME, COORDINATOR_PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def client_as(app: Flask) -> Callable[..., FlaskClient]:
    """Return a maker of test clients, each signed in to a new account of a role and countries.

    client_as("national", {"FR"}) signs in as a national coordinator for France, through the real
    sign-in form; each call makes its own account (named after the role unless named).
    """
    from mapapp import coordinators

    made: list[str] = []

    def make(
        role: str = "admin", countries: Iterable[str] = (), name: str = "", email: str = ""
    ) -> FlaskClient:
        account = name or f"{role}-{len(made) + 1}"
        made.append(account)
        with app.app_context():
            coordinators.add_coordinator(
                account, COORDINATOR_PASSWORD, role=role, countries=set(countries), email=email
            )
        client = app.test_client()
        response = sign_in(client, account, COORDINATOR_PASSWORD)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return make
