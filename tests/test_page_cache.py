"""Map pages answered from kept copies: the same bytes and headers, fresh after any write."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from mapapp import create_app
from mapapp.storage import EventStore
from mapapp.web.page_cache import PageCache
from tests.conftest import add_valid_event, change
from tests.servers import held_port, serving

# Headers every answer of a page carries (web/headers.py), kept copies included.
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "X-Frame-Options",
    "Cross-Origin-Opener-Policy",
)


def page_cache(app: Flask) -> PageCache:
    """Return the app's page cache (the outermost WSGI layer)."""
    layer = app.wsgi_app
    assert isinstance(layer, PageCache)
    return layer


def summary_count(html: str) -> int:
    """Return the number of events the map page's summary says (the first bold number)."""
    found = re.search(r"<strong>([\d\s ,.]+)</strong>", html)
    assert found, html[-2000:]
    return int(re.sub(r"\D", "", found.group(1)))


@pytest.mark.parametrize("path", ["/", "/embed", "/fr/", "/de/embed", "/?country=FR"])
def test_a_kept_page_is_the_rendered_page_with_its_headers(
    app: Flask, client: FlaskClient, store: EventStore, path: str
) -> None:
    add_valid_event(store)
    first = client.get(path)
    assert first.status_code == 200
    assert len(page_cache(app)._pages) == 1
    again = client.get(path)
    assert again.data == first.data
    assert dict(again.headers) == dict(first.headers)
    for name in SECURITY_HEADERS:
        # The embed is framed by other sites: it sends neither of these.
        if not (
            path.endswith("embed") and name in {"X-Frame-Options", "Cross-Origin-Opener-Policy"}
        ):
            assert again.headers[name], name
    assert again.headers["ETag"] and again.headers["Cache-Control"] == "no-cache"


def test_a_client_holding_the_page_gets_a_304_with_the_headers(
    client: FlaskClient, store: EventStore
) -> None:
    add_valid_event(store)
    etag = client.get("/").headers["ETag"]
    response = client.get("/", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag
    for name in SECURITY_HEADERS:
        assert response.headers[name], name
    assert client.get("/", headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_write_renews_the_page(client: FlaskClient, store: EventStore) -> None:
    event = add_valid_event(store)
    before = client.get("/")
    assert summary_count(before.text) == 1
    add_valid_event(store, title="Second")
    after = client.get("/", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert summary_count(after.text) == 2
    change(store, event["id"], {"status": "withdrawn"})
    assert summary_count(client.get("/").text) == 1


def test_a_pending_submission_keeps_the_page(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    add_valid_event(store)
    etag = client.get("/").headers["ETag"]
    add_valid_event(store, status="pending")
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304


def test_each_language_and_query_has_its_own_page(app: Flask, client: FlaskClient) -> None:
    pages = {path: client.get(path) for path in ("/", "/fr/", "/de/", "/?category=talk")}
    assert len({page.data for page in pages.values()}) == 4
    assert '<html lang="fr"' in pages["/fr/"].text
    assert len(page_cache(app)._pages) == 4
    for path, page in pages.items():
        assert client.get(path).data == page.data


def test_what_is_not_a_plain_200_is_never_kept(app: Flask, client: FlaskClient) -> None:
    redirected = client.get("/", headers={"Accept-Language": "fr"})
    assert redirected.status_code == 302
    assert client.get("/?year=12x").status_code == 400
    assert client.head("/").status_code == 200
    assert page_cache(app)._pages == {}
    assert client.get("/", headers={"Accept-Language": "fr"}).status_code == 302


def test_other_pages_are_not_kept(app: Flask, client: FlaskClient) -> None:
    for path in ("/privacy", "/submit", "/api/map-data.json", "/healthz"):
        client.get(path)
    assert page_cache(app)._pages == {}


def test_the_kept_pages_stay_within_their_bound(app_config: dict[str, Any]) -> None:
    app = create_app(app_config)
    cache = page_cache(app)
    client = app.test_client()
    size = len(client.get("/").data)
    cache.max_bytes = 3 * size + 3 * 2048  # room for three pages
    for number in range(12):
        assert client.get(f"/?q=town{number}").status_code == 200
        assert cache.nbytes <= cache.max_bytes
    assert 2 <= len(cache._pages) <= 3  # the query makes some pages a few bytes longer
    assert client.get("/?q=town11").data == client.get("/?q=town11").data


@pytest.mark.slow
def test_every_worker_of_mapapp_serve_answers_fresh_after_a_write(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = EventStore(data_dir)
    add_valid_event(store)
    with (
        held_port() as port,
        serving(data_dir, tmp_path / "serve.log", port, workers=2) as (
            base_url,
            _process,
        ),
    ):
        # New connections each time, so both workers render and keep their copies.
        for _ in range(12):
            assert summary_count(requests.get(base_url + "/", timeout=30).text) == 1
            assert requests.get(base_url + "/api/map-data.json", timeout=30).json()["count"] == 1
        add_valid_event(store, title="Written by another process")
        for _ in range(12):
            assert summary_count(requests.get(base_url + "/", timeout=30).text) == 2
            data = requests.get(base_url + "/api/map-data.json", timeout=30).json()
            assert data["count"] == 2
            labels = requests.get(base_url + "/api/map-labels.json", timeout=30).json()
            assert "Written by another process" in labels["title"]
