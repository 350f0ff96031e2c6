"""One public address: every absolute URL from MAPAPP_PUBLIC_URL; other hosts refused in production."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import create_app
from mapapp.storage import get_store_of
from tests.conftest import add_valid_event, make_submission

PUBLIC = "https://events.example.org"
EVIL = "evil.example"


def _app(data_dir: Path, env: str, **settings: Any) -> Flask:
    return create_app(
        {
            "ENV": env,
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": "k" * 64,
            "SUBMIT_RATE_LIMIT": "off",
            "LOGIN_RATE_LIMIT": "off",
            "EDIT_RATE_LIMIT": "off",
            "SUBMIT_MIN_SECONDS": 0.0,
            **settings,
        }
    )


def _on(url: str, origin: str) -> bool:
    """Return whether a URL is the origin or a page of it."""
    return url == origin or url.startswith(origin + "/")


def _absolute_urls(client: FlaskClient, event_id: str, host: str) -> dict[str, str]:
    """Return every absolute URL the site builds, asked for with this Host header."""
    headers = {"Host": host}
    index = client.get("/", headers=headers).get_data(as_text=True)
    page = client.get(f"/events/{event_id}", headers=headers).get_data(as_text=True)
    ics = client.get(f"/events/{event_id}.ics", headers=headers).get_data(as_text=True)
    openapi = client.get("/api/openapi.json", headers=headers).get_json()
    created = client.post(
        "/api/events", json={**make_submission(), "consent": True}, headers=headers
    )
    canonical = re.search(r'<link rel="canonical" href="([^"]+)"', index)
    og_url = re.search(r'<meta property="og:url" content="([^"]+)"', index)
    event_canonical = re.search(r'<link rel="canonical" href="([^"]+)"', page)
    embed = re.search(r'&#34;embedUrl&#34;: &#34;([^&]+)&#34;|"embedUrl": ?"([^"]+)"', index)
    ics_url = re.search(r"^URL:(\S+)", ics, re.MULTILINE)
    assert canonical and og_url and event_canonical and ics_url, "a URL is missing from a page"
    assert created.status_code == 201, created.get_data(as_text=True)
    urls = {
        "canonical": canonical.group(1),
        "og:url": og_url.group(1),
        "event canonical": event_canonical.group(1),
        "ics URL": ics_url.group(1),
        "openapi servers": openapi["servers"][0]["url"],
        "edit_url": created.get_json()["edit_url"],
    }
    if embed:
        urls["embed"] = embed.group(1) or embed.group(2)
    return urls


@pytest.mark.parametrize("env", ["production", "testing"])
def test_every_absolute_url_names_the_public_address(tmp_path: Path, env: str) -> None:
    app = _app(tmp_path, env, PUBLIC_URL=PUBLIC)
    event_id = add_valid_event(get_store_of(app))["id"]
    client = app.test_client()

    urls = _absolute_urls(client, event_id, "events.example.org")

    for name, url in urls.items():
        assert _on(url, PUBLIC), f"{name}: {url}"
    assert urls["event canonical"] == f"{PUBLIC}/events/{event_id}"


def test_outside_production_a_foreign_host_still_gets_the_public_address(tmp_path: Path) -> None:
    app = _app(tmp_path, "testing", PUBLIC_URL=PUBLIC)
    event_id = add_valid_event(get_store_of(app))["id"]

    urls = _absolute_urls(app.test_client(), event_id, EVIL)

    assert all(_on(url, PUBLIC) for url in urls.values()), urls


def test_without_a_public_address_urls_follow_the_request(tmp_path: Path) -> None:
    app = _app(tmp_path, "testing")
    event_id = add_valid_event(get_store_of(app))["id"]

    urls = _absolute_urls(app.test_client(), event_id, "map.test:8080")

    assert all(_on(url, "http://map.test:8080") for url in urls.values()), urls


@pytest.mark.parametrize(
    "path", ["/", "/embed", "/api/map-data.json", "/events.ics", "/admin/sign-in", "/nowhere"]
)
def test_production_refuses_a_request_for_another_host(tmp_path: Path, path: str) -> None:
    app = _app(tmp_path, "production", PUBLIC_URL=PUBLIC)
    client = app.test_client()

    response = client.get(path, headers={"Host": EVIL})
    page = client.get(path, headers={"Host": EVIL, "Accept": "text/html"})

    assert response.status_code == 400
    assert f"This site answers at {PUBLIC} only" in page.get_data(as_text=True)
    assert EVIL not in response.headers.get("Location", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "host", ["events.example.org", "EVENTS.example.org", "events.example.org:443"]
)
def test_production_serves_its_own_host(tmp_path: Path, host: str) -> None:
    app = _app(tmp_path, "production", PUBLIC_URL=PUBLIC)

    response = app.test_client().get("/", headers={"Host": host})

    assert response.status_code == 200


def test_the_health_check_answers_at_any_address(tmp_path: Path) -> None:
    app = _app(tmp_path, "production", PUBLIC_URL=PUBLIC)

    response = app.test_client().get("/healthz", headers={"Host": "10.0.0.7:8000"})

    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_a_forwarded_host_is_checked_after_the_proxy(tmp_path: Path) -> None:
    app = _app(tmp_path, "production", PUBLIC_URL=PUBLIC, PROXY_COUNT=1)
    client = app.test_client()

    through_proxy = client.get(
        "/", headers={"Host": "127.0.0.1:8000", "X-Forwarded-Host": "events.example.org"}
    )
    forged = client.get("/", headers={"Host": "127.0.0.1:8000", "X-Forwarded-Host": EVIL})

    assert through_proxy.status_code == 200
    assert forged.status_code == 400
