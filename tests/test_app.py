"""The application factory, health check and error pages."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from mapapp import TEMPLATES_DIR
from mapapp.storage import EventStore
from tests.conftest import make_event


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
