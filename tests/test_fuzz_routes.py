"""No input gives a 5xx: the inputs that once did get a 400 or 422 that says why, then a fuzz.

The fuzz walks every rule of the app's url_map with hypothesis, anonymously and signed in as a
coordinator, with arbitrary path values, query strings and form bodies (the API's JSON is fuzzed by
schemathesis in test_fuzz_api.py).
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp.filters import YEAR_MESSAGE, parse_filter
from mapapp.storage import EventStore
from mapapp.web.admin import PAGE_MESSAGE
from mapapp.web.submit import PLACE_MESSAGE
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, add_valid_event
from tests.test_submit import hidden, post_details

# Digits that str.isdigit() accepts and int() refuses ("²"), or that int() reads but nobody means
# as a year ("٢٠٢٧"), and more digits than int() converts (4,300).
NOT_ASCII_NUMBERS = ["²", "٢٠٢٧", "２０２７", "9" * 5000]
FILTERED_PAGES = [
    "/",
    "/embed",
    "/api/search.json",
    "/api/events.geojson",
    "/events.csv",
    "/events.xlsx",
    "/events.json",
    "/events.geojson",
    "/events.ics",
]
ADMIN_LISTS = ["/admin/", "/admin/events", "/admin/audit"]
HEADER_SPLITS = ["/admin/\r\nSet-Cookie: stolen=1", "/admin/\nX: 1", "/admin/\x00", "/admin/\x85"]


def csrf_token(page: str) -> str:
    """Return the CSRF token of the first form in a page."""
    match = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


# The inputs that gave a 500


@pytest.mark.parametrize(
    ("path", "year"),
    [(path, "²") for path in FILTERED_PAGES]
    + [("/api/events.geojson", year) for year in NOT_ASCII_NUMBERS[1:]],
)
def test_a_year_in_other_digits_is_refused_with_the_field_named(
    client: FlaskClient, path: str, year: str
) -> None:
    response = client.get(path, query_string={"year": year})
    assert response.status_code == 400
    assert YEAR_MESSAGE in response.get_data(as_text=True)


def test_the_coordinators_export_refuses_a_year_in_other_digits(
    coordinator_client: FlaskClient,
) -> None:
    response = coordinator_client.get("/admin/export", query_string={"year": "²"})
    assert response.status_code == 400
    assert YEAR_MESSAGE in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "page"),
    [(path, "²") for path in ADMIN_LISTS]
    + [("/admin/events", page) for page in [*NOT_ASCII_NUMBERS[1:], "0", "-1", "two", "1000000"]],
)
def test_a_page_number_that_is_not_one_is_refused_with_the_field_named(
    coordinator_client: FlaskClient, path: str, page: str
) -> None:
    response = coordinator_client.get(path, query_string={"page": page})
    assert response.status_code == 400
    assert PAGE_MESSAGE in response.get_data(as_text=True)


def test_a_page_past_the_last_is_still_a_page(coordinator_client: FlaskClient) -> None:
    statuses = [
        coordinator_client.get(path, query_string={"page": "999999"}).status_code
        for path in ADMIN_LISTS
    ]
    assert statuses == [200, 200, 200]


def test_a_lone_surrogate_in_a_filter_is_refused_by_name() -> None:
    # Werkzeug never decodes a query string to one (invalid UTF-8 stays percent-encoded), so this
    # asks the parser every route uses directly: it must not hand one on to a page or a cache key.
    event_filter = parse_filter({"q": "walk \ud800", "year": "2027"})
    assert event_filter.errors == {
        "q": "Search: this text holds a broken character (a lone surrogate) that cannot be "
        "stored; type it again."
    }


@pytest.mark.parametrize("target", HEADER_SPLITS, ids=["crlf", "lf", "nul", "c1"])
def test_sign_in_with_a_control_character_in_next_lands_on_the_queue(
    app: Flask, client: FlaskClient, target: str
) -> None:
    from mapapp import coordinators

    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    page = client.get("/admin/sign-in", query_string={"next": target}).get_data(as_text=True)
    form = {
        "csrf_token": csrf_token(page),
        "name": COORDINATOR_NAME,
        "password": COORDINATOR_PASSWORD,
    }
    response = client.post("/admin/sign-in", query_string={"next": target}, data=form)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert "stolen" not in response.headers.get("Set-Cookie", "")
    # Already signed in, the sign-in page sends the coordinator on: to the queue, too.
    again = client.get("/admin/sign-in", query_string={"next": target})
    assert (again.status_code, again.headers["Location"]) == (302, "/admin/")


def test_an_admin_action_with_a_control_character_in_next_lands_on_the_queue(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(store, status="pending")
    token = csrf_token(coordinator_client.get("/admin/").get_data(as_text=True))
    form = {"csrf_token": token, "version": event["version"], "next": HEADER_SPLITS[0]}
    response = coordinator_client.post(f"/admin/events/{event['id']}/approve", data=form)
    assert (response.status_code, response.headers["Location"]) == (303, "/admin/")
    assert store.get(event["id"])["status"] == "approved"


@pytest.mark.parametrize("place", ["²", "first", "9" * 5000])
def test_a_place_choice_that_is_not_a_number_is_refused_and_nothing_stored(
    client: FlaskClient, store: EventStore, place: str
) -> None:
    preview = post_details(client)
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "draft": hidden(page, "draft")}
    response = client.post("/submit/confirm", data={**data, "place": place})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert PLACE_MESSAGE in body
    assert 'name="draft"' in body  # the preview again, so the organiser can choose and confirm
    assert len(store) == 0
    confirmed = client.post("/submit/confirm", data={**data, "place": "0"})
    assert confirmed.status_code == 303 and len(store) == 1
