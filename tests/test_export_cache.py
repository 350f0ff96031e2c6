"""The public version, the disk cache of exports, single flight across workers, rate limits."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from mapapp import create_app
from mapapp.publication import finish_renders, public_version
from mapapp.storage import EventStore
from mapapp.storage.blobs import BlobStore
from scripts.make_sample_data import generate_events, write_events
from tests.conftest import add_valid_event, change, make_event
from tests.servers import serving

SERVE_WORKERS = 2
SERVE_EVENTS = 3000  # enough that a cold workbook takes a while to render
CHANGE_SECONDS = 120  # how long a background render may take to land (liveness, not speed)
HIT = "mapapp-exports; hit"
STALE = "mapapp-exports; hit; detail=stale-while-revalidate"
RENDERED = "mapapp-exports; fwd=miss; stored"
NEW_TITLE = "Approved through another process"


@pytest.fixture
def events(store: EventStore) -> dict[str, dict[str, str]]:
    """Store two approved events and a pending one."""
    return {
        "paris": add_valid_event(store, title="Paris lights"),
        "lyon": add_valid_event(store, title="Lyon run", city="Lyon"),
        "pending": add_valid_event(store, title="Not yet", status="pending"),
    }


def test_public_version_ignores_what_is_not_public(
    store: EventStore, events: dict[str, dict[str, str]]
) -> None:
    before = public_version(store.frame())
    add_valid_event(store, title="Another pending one", status="pending")
    change(store, events["pending"]["id"], {"moderation_note": "call them"})
    change(store, events["pending"]["id"], {"contact_email": "new@example.org"})
    assert public_version(store.frame()) == before
    change(store, events["pending"]["id"], {"status": "approved"})
    approved = public_version(store.frame())
    assert approved != before
    change(store, events["lyon"]["id"], {"title": "Lyon run, longer"})
    assert public_version(store.frame()) not in {before, approved}


@pytest.mark.parametrize(
    "url", ["/events.xlsx", "/events.ics", "/api/events.geojson", "/api/map-data.json"]
)
def test_a_pending_submission_keeps_every_public_etag(
    client: FlaskClient, store: EventStore, events: dict[str, dict[str, str]], url: str
) -> None:
    etag = client.get(url).headers["ETag"]
    add_valid_event(store, title="Pending in Berlin", status="pending", city="Berlin")
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    change(store, events["pending"]["id"], {"status": "approved"})
    client.get(url)  # an export answers the copy it has and renders the new one meanwhile
    finish_renders()
    assert client.get(url).headers["ETag"] != etag


def test_an_export_is_rendered_once_then_kept(
    client: FlaskClient, app: Flask, events: dict[str, dict[str, str]]
) -> None:
    first = client.get("/events.csv?country=FR")
    assert (first.status_code, first.headers["Cache-Status"]) == (200, RENDERED)
    again = client.get("/events.csv?country=fr&x=1")
    assert (again.headers["Cache-Status"], again.data) == (HIT, first.data)
    assert again.headers["ETag"] == first.headers["ETag"]
    kept = list((Path(app.config["DATA_DIR"]) / "exports").glob("csv-*.blob"))
    assert [path.read_bytes() for path in kept] == [first.data]


def test_an_old_copy_is_answered_while_the_new_one_renders(
    client: FlaskClient, store: EventStore, events: dict[str, dict[str, str]]
) -> None:
    first = client.get("/events.json")
    change(store, events["pending"]["id"], {"status": "approved"})
    stale = client.get("/events.json")
    assert (stale.headers["Cache-Status"], stale.data) == (STALE, first.data)
    finish_renders()
    fresh = client.get("/events.json")
    assert fresh.headers["Cache-Status"] == HIT
    assert b"Not yet" in fresh.data and b"Not yet" not in first.data


def test_renders_a_client_waits_for_are_rate_limited(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "EXPORT_RATE_LIMIT": "2 per hour"})
    add_valid_event(app.extensions["mapapp.store"], title="Lyon run", city="Lyon")
    client = app.test_client()
    assert client.get("/events.csv?country=FR").status_code == 200
    assert client.get("/events.csv?country=FR&city=x").status_code == 200  # the same: kept
    assert client.get("/events.csv?format=in_person").status_code == 200
    refused = client.get("/events.csv?q=lyon")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "too many new exports" in refused.get_data(as_text=True)
    assert client.get("/events.csv?country=FR").status_code == 200  # kept ones still answer


def test_private_exports_are_never_kept(
    coordinator_client: FlaskClient, app: Flask, events: dict[str, dict[str, str]]
) -> None:
    response = coordinator_client.get("/admin/export?format=xlsx&status=pending")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert "ETag" not in response.headers
    assert not list(Path(app.config["DATA_DIR"]).rglob("*.blob"))


def test_an_unwritable_cache_directory_still_answers(
    data_dir: Path, app_config: dict[str, Any]
) -> None:
    blocker = data_dir / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    app = create_app({**app_config, "EXPORT_CACHE_DIR": str(blocker / "exports")})
    add_valid_event(app.extensions["mapapp.store"], title="Still exported")
    for _ in range(2):
        response = app.test_client().get("/events.csv")
        assert response.status_code == 200 and b"Still exported" in response.data
        assert response.headers["Cache-Status"] == RENDERED


def test_blobs_stay_under_their_byte_bound(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs", max_bytes=1000)
    for number in range(8):
        blobs.put(f"family-{number}", "v1", bytes(300)).close()
        assert blobs.size() <= 1000
    kept = sorted(path.name for path in (tmp_path / "blobs").glob("*.blob"))
    assert kept == ["family-5--v1.blob", "family-6--v1.blob", "family-7--v1.blob"]
    blobs.put("family-7", "v2", b"newer").close()
    assert blobs.open("family-7", "v1") is None
    version, file = blobs.latest("family-7") or ("", None)
    assert file is not None
    with file:
        assert (version, file.read()) == ("v2", b"newer")
    too_big = blobs.put("huge", "v1", bytes(2000))
    assert too_big.read() == bytes(2000) and not blobs.exists("huge", "v1")


@pytest.mark.parametrize("name", ["../escape", "a/b", "", "dot.dot"])
def test_blob_names_cannot_leave_the_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="Not a blob name"):
        BlobStore(tmp_path, 1000).put(name, "v1", b"x")


# Through `mapapp serve --workers 2`.


@pytest.fixture
def big_data_dir(tmp_path: Path) -> Path:
    """Return a data directory holding a few thousand generated events."""
    data_dir = tmp_path / "data"
    write_events(data_dir, generate_events(SERVE_EVENTS))
    return data_dir


def titles(workbook: bytes) -> set[str]:
    """Return the titles in an Excel export."""
    sheet = openpyxl.load_workbook(io.BytesIO(workbook), read_only=True).active
    rows = sheet.iter_rows(values_only=True)  # type: ignore[union-attr]
    column = list(next(rows)).index("Title")
    return {str(row[column]) for row in rows}


def until_changed(http: requests.Session, url: str, etag: str) -> requests.Response:
    """Return the first answer for a URL whose ETag is not etag (the new render landed)."""
    deadline = time.monotonic() + CHANGE_SECONDS
    while time.monotonic() < deadline:
        response = http.get(url, timeout=CHANGE_SECONDS)
        if response.headers["ETag"] != etag:
            return response
        time.sleep(0.2)
    raise AssertionError(f"{url} still answers {etag} after {CHANGE_SECONDS} s")


@pytest.mark.slow
def test_two_workers_render_a_cold_export_once_and_serve_it_stale_while_renewing(
    big_data_dir: Path, server_port: int
) -> None:
    url = "/events.xlsx?year=all"
    serve_log = big_data_dir / "serve.log"
    with serving(big_data_dir, serve_log, server_port, SERVE_WORKERS) as (base_url, _server):
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: requests.get(base_url + url, timeout=120), range(4)))
        statuses = [(answer.status_code, answer.headers.get("Cache-Status")) for answer in answers]
        rendered = [answer for answer in answers if answer.headers.get("Cache-Status") == RENDERED]
        assert len(rendered) == 1, statuses
        for answer in answers:  # the others waited for nothing: a copy, or come back soon
            assert answer.status_code in {200, 503}, statuses
            if answer.status_code == 503:
                assert int(answer.headers["Retry-After"]) > 0
            else:
                assert answer.content == rendered[0].content
        etag = rendered[0].headers["ETag"]
        assert len(list((big_data_dir / "exports").glob("xlsx-*.blob"))) == 1

        store = EventStore(big_data_dir)
        pending = store.add(make_event(title=NEW_TITLE, status="pending"))
        with requests.Session() as http:
            same = http.get(base_url + url + "&x=1", headers={"If-None-Match": etag})
            assert (same.status_code, same.headers["ETag"]) == (304, etag)
            change(store, pending["id"], {"status": "approved"})
            stale = http.get(base_url + url, timeout=120)
            assert stale.headers["Cache-Status"] == STALE
            assert (stale.headers["ETag"], stale.content) == (etag, rendered[0].content)
            fresh = until_changed(http, base_url + url, etag)
            assert fresh.headers["Cache-Status"] == HIT
            assert NEW_TITLE in titles(fresh.content)
            assert NEW_TITLE not in titles(rendered[0].content)
            assert len(list((big_data_dir / "exports").glob("xlsx-*.blob"))) == 1
        store.close()
