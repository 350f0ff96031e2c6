"""The partners' API: POST /api/events and its OpenAPI description (checked by schemathesis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from mapapp import create_app
from mapapp.events import current_edition, edition_date
from mapapp.storage import EventStore
from mapapp.web.api_submit import describe_api

DAY = edition_date(current_edition()).isoformat()


def api_event(**fields: Any) -> dict[str, Any]:
    """Return a valid event as a partner posts it, with fields overridden."""
    data: dict[str, Any] = {
        "title": "Rare disease run",
        "category": "sport",
        "format": "in_person",
        "starts_at": f"{DAY}T10:00",
        "ends_at": f"{DAY}T12:00",
        "city": "Lyon",
        "country": "FR",
        "organiser": "Partner association",
        "contact_email": "contact@partner.example",
        "consent": True,
    }
    data.update(fields)
    return data


def test_a_valid_event_is_created_pending(client: FlaskClient, store: EventStore) -> None:
    response = client.post("/api/events", json=api_event(status="approved", id="mine123"))
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "status", "location_precision", "timezone", "edit_url"}
    assert body["timezone"] == "Europe/Paris"
    assert body["status"] == "pending"
    assert body["location_precision"] == "city"
    assert body["edit_url"].startswith("http://localhost/edit/")
    assert response.headers["Location"] == body["edit_url"]
    stored = store.get(body["id"])
    assert stored is not None
    assert stored["status"] == "pending"
    assert stored["timezone"] == "Europe/Paris"
    assert abs(float(stored["latitude"]) - 45.76) < 0.1
    # The edit link opens the event's edit page.
    assert client.get(body["edit_url"].removeprefix("http://localhost")).status_code == 200


def test_given_coordinates_are_used_as_placed_by_hand(
    client: FlaskClient, store: EventStore
) -> None:
    response = client.post("/api/events", json=api_event(latitude=45.5, longitude="4.9"))
    assert response.status_code == 201
    stored = store.get(response.get_json()["id"])
    assert stored is not None
    assert (stored["latitude"], stored["longitude"]) == ("45.500000", "4.900000")
    assert stored["location_precision"] == "manual"
    assert stored["location_source"] == "partner"


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"title": ""}, {"title": "Title: give the event a name."}),
        (
            {"consent": False},
            {"consent": "Consent: tick the box to let us publish the event once approved."},
        ),
        (
            {"consent": "yes"},
            {"consent": "Consent: give true to let us publish the event once approved."},
        ),
        ({"title": ["list"]}, {"title": "Title: give text."}),
        (
            {"ends_at": f"{DAY}T09:00"},
            {"ends_at": "End: the event cannot end before it starts."},
        ),
        (
            {"latitude": 100, "longitude": 0},
            {"latitude": "Latitude: give a number between -90 and 90."},
        ),
        (
            {"latitude": {"a": 1}, "longitude": 0},
            {"latitude": "Location: give latitude and longitude as numbers."},
        ),
        (
            {"website": "data:text/html,hi"},
            {"website": "Website: give a full address starting with https:// or http://."},
        ),
    ],
)
def test_invalid_fields_get_422_and_nothing_is_written(
    client: FlaskClient, store: EventStore, fields: dict[str, Any], errors: dict[str, str]
) -> None:
    store.frame()
    before = store.path.read_bytes()
    response = client.post("/api/events", json=api_event(**fields))
    assert response.status_code == 422
    assert response.get_json() == {"errors": errors}
    assert store.path.read_bytes() == before


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null"])
def test_a_body_that_is_not_an_object_gets_422(client: FlaskClient, body: str) -> None:
    response = client.post("/api/events", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.get_json() == {
        "errors": {"body": "Send one JSON object with the event's fields."}
    }


def test_broken_json_gets_400(client: FlaskClient) -> None:
    response = client.post("/api/events", data="{", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["message"] == "The body is not valid JSON."


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
def test_only_json_is_accepted(client: FlaskClient, store: EventStore, content_type: str) -> None:
    response = client.post("/api/events", data=json.dumps(api_event()), content_type=content_type)
    assert response.status_code == 415
    assert "application/json" in response.get_json()["message"]
    assert len(store) == 0


def test_a_huge_body_gets_413(client: FlaskClient, store: EventStore) -> None:
    response = client.post("/api/events", json=api_event(description="x" * 100_000))
    assert response.status_code == 413
    assert len(store) == 0


def test_the_api_is_rate_limited_with_the_form(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "SUBMIT_RATE_LIMIT": "2 per hour"})
    client = app.test_client()
    online = api_event(format="online", city="", country="KE")
    statuses = [client.post("/api/events", json=online).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert "message" in client.post("/api/events", json=online).get_json()
    assert len(app.extensions["mapapp.store"]) == 2


@pytest.mark.parametrize("value", ["often", "10 per fortnight"])
def test_a_bad_limit_setting_is_explained(app_config: dict[str, Any], value: str) -> None:
    from mapapp.config import ConfigError

    with pytest.raises(ConfigError, match="MAPAPP_SUBMIT_RATE_LIMIT must be a limit"):
        create_app({**app_config, "SUBMIT_RATE_LIMIT": value})


def test_openapi_describes_both_operations(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {"/api/events", "/api/events.geojson"}
    parameters = [p["name"] for p in spec["paths"]["/api/events.geojson"]["get"]["parameters"]]
    assert parameters == ["country", "category", "format", "year", "from", "to", "q"]
    post = spec["paths"]["/api/events"]["post"]
    assert "consent" in post["requestBody"]["content"]["application/json"]["schema"]["required"]
    assert set(post["responses"]) >= {"201", "415", "422", "429"}


# Schemathesis: every documented operation, in-process, conforms and never answers 500.


# Schema-violating bodies are rejected with 400, 415 or 422, or with 413 when they are larger than
# MAX_CONTENT_LENGTH (long strings of escaped characters are), as the description documents.
REJECTION_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429"]
schema = schemathesis.openapi.from_dict(
    describe_api("http://localhost"),
    config=schemathesis.Config.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": REJECTION_STATUSES}}}
    ),
)


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_conforms_to_its_description(case: Any, app: Flask) -> None:
    # Rules OpenAPI cannot state (a city for in-person events, dates near an edition, real
    # countries and e-mail domains) reject some schema-valid bodies, so that check is left out.
    case.call_and_validate(app=app, excluded_checks=[positive_data_acceptance])


def test_an_ended_event_is_refused_by_the_api(client: FlaskClient, store: EventStore) -> None:
    past = edition_date(current_edition() - 1)  # always over: the edition changes the day after
    response = client.post(
        "/api/events",
        json=api_event(starts_at=f"{past}T10:00", ends_at=f"{past}T12:00"),
    )
    assert response.status_code == 422
    assert response.get_json() == {
        "errors": {
            "ends_at": f"This event ended on {past.day} {past:%B %Y}: the map shows coming and "
            "current events. If its dates are wrong, correct them and send it again."
        }
    }
    assert len(store) == 0


def test_a_limited_api_client_is_told_when_to_try_again(app_config: dict[str, Any]) -> None:
    client = create_app({**app_config, "SUBMIT_RATE_LIMIT": "1 per hour"}).test_client()
    online = api_event(format="online", city="", country="KE")
    assert client.post("/api/events", json=online).status_code == 201
    response = client.post("/api/events", json=online)
    assert response.status_code == 429
    body = response.get_json()
    assert 3500 <= body["retry_after"] <= 3601
    # The header is counted again as the response leaves, a moment later.
    assert abs(int(response.headers["Retry-After"]) - body["retry_after"]) <= 1
    assert body == {
        "error": "Too Many Requests",
        "message": f"You have sent many requests in a short time: please try again in "
        f"{-(-body['retry_after'] // 60)} minutes.",
        "retry_after": body["retry_after"],
    }


def test_an_api_submission_queues_the_received_message(app: Flask, client: FlaskClient) -> None:
    from mapapp import mail

    body = client.post("/api/events", json=api_event()).get_json()

    with app.app_context():
        [row] = mail.queued()
    assert (row["kind"], row["to"], row["event_id"]) == (
        "submission_received",
        "contact@partner.example",
        body["id"],
    )
    assert row["context"]["edit_url"] == body["edit_url"]
    assert row["context"]["reference"] == body["id"]
    assert row["message_id"].startswith("<") and row["status"] == "queued"
