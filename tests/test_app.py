"""The application factory, health check and error pages."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import TEMPLATES_DIR, create_app
from mapapp.storage import EventStore
from tests.conftest import make_event, make_submission


def test_templates_come_from_the_top_level_folder(app: Flask) -> None:
    assert app.template_folder == str(TEMPLATES_DIR)
    assert TEMPLATES_DIR.name == "templates"


def test_health_check_counts_stored_events(client: FlaskClient, store: EventStore) -> None:
    store.add_many([make_event(), make_event(status="pending")])

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "events": 2}


def test_unknown_page_gets_a_page_for_people(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert b"Back to the map" in response.data


def test_unknown_api_path_gets_json(client: FlaskClient) -> None:
    response = client.get("/api/no-such-thing")

    assert response.status_code == 404
    assert response.get_json()["error"] == "Not Found"


PROXIED = {
    "X-Forwarded-For": "203.0.113.5",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "events.example.org",
}


def post_event(client: FlaskClient, **headers: str) -> Any:
    """Post a valid event to the partners' API with these headers."""
    return client.post("/api/events", json={**make_submission(), "consent": True}, headers=headers)


@pytest.mark.parametrize(
    ("proxy_count", "edit_prefix"),
    [(0, "http://localhost/"), (1, "https://events.example.org/")],
)
def test_forwarded_headers_are_trusted_only_when_configured(
    app_config: dict[str, Any], proxy_count: int, edit_prefix: str
) -> None:
    client = create_app({**app_config, "PROXY_COUNT": proxy_count}).test_client()

    response = post_event(client, **PROXIED)

    assert response.status_code == 201
    assert response.get_json()["edit_url"].startswith(edit_prefix)


def test_behind_a_proxy_each_client_has_its_own_rate_limit(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "PROXY_COUNT": 1, "SUBMIT_RATE_LIMIT": "1 per hour"})
    client = app.test_client()

    first = post_event(client, **{**PROXIED, "X-Forwarded-For": "203.0.113.5"})
    again = post_event(client, **{**PROXIED, "X-Forwarded-For": "203.0.113.5"})
    other = post_event(client, **{**PROXIED, "X-Forwarded-For": "198.51.100.7"})

    assert (first.status_code, again.status_code, other.status_code) == (201, 429, 201)
