"""The JSON API takes no input as a 5xx: deep nesting and broken text get a 400 or 422, then a fuzz.

The fuzz is schemathesis, reading the description the app serves at /api/openapi.json and calling
the app in-process through its WSGI support, against a store holding a few real events.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from mapapp import create_app
from mapapp.config import DEFAULTS
from mapapp.storage import EventStore
from mapapp.web.api_submit import DEEP_JSON_MESSAGE, MAX_JSON_DEPTH, json_depth
from tests.conftest import add_valid_event
from tests.test_api_submit import api_event

BROKEN_TEXT = "this text holds a broken character (a lone surrogate) that cannot be stored"


def post_json(client: FlaskClient, body: str | bytes) -> Any:
    """Post a body to the JSON API as application/json."""
    return client.post("/api/events", data=body, content_type="application/json")


# The inputs that gave a 500


@pytest.mark.parametrize("depth", [30_000, 1_000, MAX_JSON_DEPTH + 1])
def test_deeply_nested_json_gets_400_and_nothing_is_stored(
    client: FlaskClient, store: EventStore, depth: int
) -> None:
    response = post_json(client, "[" * depth + "]" * depth)
    assert response.status_code == 400
    assert response.get_json()["message"] == DEEP_JSON_MESSAGE % {"num": MAX_JSON_DEPTH}
    assert len(store) == 0


def test_nesting_inside_a_field_counts_too(client: FlaskClient, store: EventStore) -> None:
    nested: Any = "x"
    for _ in range(MAX_JSON_DEPTH):
        nested = {"a": nested}
    response = post_json(client, json.dumps(api_event(description=nested)))
    assert response.status_code == 400
    assert len(store) == 0


def test_nesting_up_to_the_limit_is_answered_field_by_field(
    client: FlaskClient, store: EventStore
) -> None:
    nested: Any = "x"
    for _ in range(MAX_JSON_DEPTH - 1):
        nested = [nested]
    response = post_json(client, json.dumps(api_event(description=nested)))
    assert response.status_code == 422
    assert response.get_json() == {"errors": {"description": "Description: give text."}}
    assert len(store) == 0


def test_brackets_inside_text_are_not_nesting(client: FlaskClient, store: EventStore) -> None:
    title = '[[[{{{"\\' * 20
    response = post_json(client, json.dumps(api_event(title=title)))
    assert response.status_code == 201, response.get_json()
    assert store.get(response.get_json()["id"])["title"] == title


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "]]]"}', 1),
        (b'{"a": "\\"[["}', 1),  # an escaped quote does not end the string
        (b'{"a": "\\\\", "b": [[1]]}', 3),  # an escaped backslash does not escape the quote
        (b'"[[[', 0),  # an unterminated string runs to the end
        (b"]]][[", 0),  # not JSON: closing first never counts; json.loads refuses it
    ],
)
def test_json_depth(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def test_json_depth_scans_an_unterminated_string_once() -> None:
    # Each `\"` is an escaped quote: a string-matching pattern retried at every quote would take
    # quadratic time; the single pass reads the string to the end once.
    assert json_depth(b'"' + b'\\"' * 30_000 + b"[") == 0


@pytest.mark.parametrize(
    "field", ["title", "description", "city", "organiser", "contact_email", "starts_at"]
)
def test_a_lone_surrogate_in_a_field_gets_422_naming_it(
    client: FlaskClient, store: EventStore, field: str
) -> None:
    body = json.dumps(api_event(**{field: "Walk \ud800 for rare"}))
    assert "\\ud800" in body  # json.dumps escapes it; the app's parser decodes it to a lone one
    response = post_json(client, body)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert BROKEN_TEXT in errors[field]
    assert len(store) == 0


def test_a_surrogate_pair_is_one_character_and_stored(
    client: FlaskClient, store: EventStore
) -> None:
    response = post_json(client, '{"title": "Run \\ud83c\\udfc3"}'[:-1] + _rest_of_event())
    assert response.status_code == 201, response.get_json()
    assert store.get(response.get_json()["id"])["title"] == "Run \U0001f3c3"


def _rest_of_event() -> str:
    """Return the other fields of a valid event as the tail of a JSON object."""
    rest = {name: value for name, value in api_event().items() if name != "title"}
    return ", " + json.dumps(rest)[1:]


# The fuzz

CI = os.environ.get("CI") == "true"
# Every limit off (submissions, sign-in, edits, previews, exports...), so each call is served.
NO_RATE_LIMITS = {name: "off" for name in DEFAULTS if name.endswith("_RATE_LIMIT")}
EXAMPLES_PER_OPERATION = 60


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """Return an app on a store with a few real events, limits off so every call is served."""
    data_dir = tmp_path_factory.mktemp("api-fuzz-data")
    app = create_app(
        {
            # As conftest's app_config, for the whole module.
            "ENV": "testing",
            "TESTING": True,
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": "api-fuzz-secret-key",
            **NO_RATE_LIMITS,
            "SUBMIT_MIN_SECONDS": 0.0,
        }
    )
    store: EventStore = app.extensions["mapapp.store"]
    add_valid_event(store)
    add_valid_event(store, title="Run for rare", category="sport", city="Lyon")
    add_valid_event(store, status="pending", title="Pending talk", category="talk")
    return app


def served_description() -> Any:
    """Return the API's description as an app serves it at /api/openapi.json, loaded over WSGI."""
    with tempfile.TemporaryDirectory() as directory:
        app = create_app({"ENV": "testing", "DATA_DIR": directory, "SECRET_KEY": "description"})
        return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


fuzzed_schema = served_description()


@fuzzed_schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=CI,
    suppress_health_check=list(HealthCheck),
)
def test_no_api_input_gives_a_server_error(case: Any, api_app: Flask) -> None:
    case.call_and_validate(app=api_app, checks=[not_a_server_error])
