"""The organisers' pages: form, preview, confirmation, edit link; spam checks and limits."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp.events import current_edition, edition_date
from mapapp.storage import EventStore
from tests.conftest import change, make_event, make_submission
from tests.nominatim_stub import (  # noqa: F401  (fixtures)
    NominatimStub,
    nominatim_config,
    nominatim_stub,
    refused_url,
)

EDITION = edition_date(current_edition())
DAY = EDITION.isoformat()


def hidden(page: str, name: str) -> str:
    """Return the value of a hidden input in a page."""
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


def version_of(page: str) -> str:
    """Return the event version an edit page carries in its forms."""
    match = re.search(r'name="version" value="([^"]*)"', page)
    assert match, "no version field"
    return match.group(1)


def edit_data(page: str, event: dict[str, str], **fields: str) -> dict[str, str]:
    """Return what the edit page posts for an event kept in place, with fields changed."""
    return {
        "csrf_token": hidden(page, "csrf_token"),
        **form_data(**fields),
        "latitude": event["latitude"],
        "longitude": event["longitude"],
        "version": version_of(page),
    }


def form_data(**fields: str) -> dict[str, str]:
    """Return a valid in-person submission as the form posts it, with fields overridden."""
    data: dict[str, str | None] = {**make_submission(), "consent": "y", "homepage": "", **fields}
    return {name: value for name, value in data.items() if value is not None}


def post_details(client: FlaskClient, **fields: str) -> Any:
    """Fetch the form and post it with its CSRF token and signed start time."""
    page = client.get("/submit").get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "started": hidden(page, "started")}
    data.update(form_data(**fields))
    return client.post("/submit", data=data)


def confirm(client: FlaskClient, preview_page: str, **fields: str) -> Any:
    """Post the preview's confirm form."""
    data = {
        "csrf_token": hidden(preview_page, "csrf_token"),
        "draft": hidden(preview_page, "draft"),
        "place": "0",
        **fields,
    }
    # The zone the preview states, as the browser sends it back.
    zone = re.search(r'type="hidden" id="timezone" name="timezone" value="([^"]*)"', preview_page)
    if zone and "timezone" not in fields:
        data["timezone"] = zone.group(1)
    return client.post("/submit/confirm", data=data)


def submit_event(client: FlaskClient, **fields: str) -> tuple[Any, str]:
    """Go through form, preview and confirmation; return the thanks page and the edit URL."""
    preview = post_details(client, **fields)
    assert preview.status_code == 200, preview.get_data(as_text=True)
    response = confirm(client, preview.get_data(as_text=True))
    assert response.status_code == 303
    thanks = client.get(response.headers["Location"])
    match = re.search(r'id="edit-url" href="([^"]+)"', thanks.get_data(as_text=True))
    assert match
    return thanks, html.unescape(match.group(1))


def test_the_form_has_every_field_labelled(client: FlaskClient) -> None:
    response = client.get("/submit")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for name in (
        "title",
        "category",
        "starts_at",
        "ends_at",
        "venue",
        "address",
        "city",
        "region",
        "country",
        "website",
        "organiser",
        "contact_email",
        "description",
        "language",
        "consent",
    ):
        assert f'<label for="{name}">' in page, name
    assert "Private: only coordinators see it" in page
    assert '<option value="FR">France</option>' in page
    assert 'maxlength="200"' in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_valid_form_shows_the_preview_and_writes_nothing(
    client: FlaskClient, store: EventStore
) -> None:
    response = post_details(client)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "We placed it at" in page
    assert 'id="preview-map"' in page
    assert len(store) == 0


def test_confirming_stores_a_pending_event_with_an_edit_link(
    client: FlaskClient, store: EventStore
) -> None:
    thanks, edit_url = submit_event(client, title="Purple walk")
    assert "is waiting for review" in thanks.get_data(as_text=True)
    [event] = store.frame().to_dict("records")
    assert event["status"] == "pending"
    assert event["title"] == "Purple walk"
    assert event["location_precision"] in {"city", "address"}
    assert event["timezone"] == "Europe/Paris"
    assert abs(float(event["latitude"]) - 48.85) < 0.2
    token = edit_url.rsplit("/", 1)[1]
    assert token not in store.path.read_text(encoding="utf-8")
    # A reload in the same browser shows the link again; another browser is sent to the form.
    again = client.get("/submit/thanks")
    assert again.status_code == 200
    assert edit_url in html.unescape(again.get_data(as_text=True))
    assert client.application.test_client().get("/submit/thanks").status_code == 302


def test_posted_status_is_ignored(client: FlaskClient, store: EventStore) -> None:
    submit_event(client, status="approved", id="mine123", edit_token_hash="x")
    [event] = store.frame().to_dict("records")
    assert event["status"] == "pending"
    assert event["id"] != "mine123"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": ""}, "title", "Title: give the event a name."),
        ({"ends_at": f"{DAY}T10:00"}, "ends_at", "End: the event cannot end before it starts."),
        (
            {"website": "javascript:alert(1)"},
            "website",
            "Website: give a full address starting with https:// or http://.",
        ),
        (
            {"consent": ""},
            "consent",
            "Consent: tick the box to let us publish the event once approved.",
        ),
        (
            {"starts_at": f"{EDITION + timedelta(days=45)}T10:00", "ends_at": ""},
            "starts_at",
            "Start: Rare Disease Day events take place around the last day of February",
        ),
    ],
)
def test_an_invalid_field_is_marked_and_other_input_kept(
    client: FlaskClient, store: EventStore, fields: dict[str, str], field: str, message: str
) -> None:
    store.frame()  # creates the file with its header
    before = store.path.read_bytes()
    response = post_details(client, organiser="Kept organiser <b>", **fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="error-summary"' in page
    assert f'<a href="#{field}">' in page
    assert f'id="{field}-error">' + html.escape(message) in page
    assert 'aria-invalid="true"' in page
    assert 'value="Kept organiser &lt;b&gt;"' in page  # kept, and escaped
    assert store.path.read_bytes() == before
    assert len(store) == 0


def test_the_honeypot_turns_bots_away(client: FlaskClient, store: EventStore) -> None:
    response = post_details(client, homepage="http://spam.example")
    assert response.status_code == 422
    assert "We could not accept this form" in response.get_data(as_text=True)
    assert len(store) == 0


@pytest.mark.parametrize("min_seconds", [30.0])
def test_a_form_filled_too_fast_is_refused(
    app_config: dict[str, Any], data_dir: Path, min_seconds: float
) -> None:
    from mapapp import create_app

    app = create_app({**app_config, "SUBMIT_MIN_SECONDS": min_seconds})
    client = app.test_client()
    response = post_details(client)
    assert response.status_code == 422
    assert "quicker than a person can fill the form" in response.get_data(as_text=True)
    assert not (data_dir / "events.csv").exists() or len(app.extensions["mapapp.store"]) == 0


def test_a_missing_csrf_token_is_refused(client: FlaskClient, store: EventStore) -> None:
    response = client.post("/submit", data=form_data())
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert len(store) == 0


def test_a_tampered_draft_is_refused(client: FlaskClient, store: EventStore) -> None:
    preview = post_details(client).get_data(as_text=True)
    response = client.post(
        "/submit/confirm",
        data={"csrf_token": hidden(preview, "csrf_token"), "draft": "eyJ0YW1wZXJlZCI6MX0.x.y"},
    )
    assert response.status_code == 400
    assert "This preview cannot be read" in response.get_data(as_text=True)
    assert len(store) == 0


def test_typed_coordinates_place_the_event_by_hand(client: FlaskClient, store: EventStore) -> None:
    preview = post_details(client).get_data(as_text=True)
    response = confirm(client, preview, latitude="48.8", longitude="2.5")
    assert response.status_code == 303
    [event] = store.frame().to_dict("records")
    assert (event["latitude"], event["longitude"]) == ("48.800000", "2.500000")
    assert event["location_precision"] == "manual"
    assert event["timezone"] == "Europe/Paris"


def test_an_ambiguous_name_offers_candidates_to_pick_from(
    client: FlaskClient, store: EventStore
) -> None:
    preview = post_details(client, city="Springfield", country="US", language="en")
    page = preview.get_data(as_text=True)
    labels = re.findall(r'<label for="place-(\d+)">([^<]+)</label>', page)
    assert len(labels) >= 3
    assert "Springfield, Illinois, United States" in page
    chosen = next(index for index, label in labels if label.startswith("Springfield, Illinois"))
    assert confirm(client, page, place=chosen).status_code == 303
    [event] = store.frame().to_dict("records")
    assert abs(float(event["latitude"]) - 39.80) < 0.05
    assert event["timezone"] == "America/Chicago"
    assert event["location_precision"] == "city"


def test_bad_coordinates_keep_the_preview_with_an_error(
    client: FlaskClient, store: EventStore
) -> None:
    preview = post_details(client).get_data(as_text=True)
    response = confirm(client, preview, latitude="123", longitude="2.5")
    assert response.status_code == 422
    assert "Latitude: give a number between -90 and 90." in response.get_data(as_text=True)
    assert len(store) == 0


def test_a_likely_duplicate_is_shown_and_can_be_submitted_anyway(
    client: FlaskClient, store: EventStore
) -> None:
    store.add(make_event(title="Light up the Town Hall", starts_at=f"{DAY}T19:00"))
    preview = post_details(client).get_data(as_text=True)
    assert "Is your event already on the map?" in preview
    refused = confirm(client, preview)
    assert refused.status_code == 422
    assert "tick the box to submit it anyway" in refused.get_data(as_text=True)
    assert len(store) == 1
    accepted = confirm(client, preview, submit_anyway="y")
    assert accepted.status_code == 303
    assert len(store) == 2


def test_going_back_keeps_the_details(client: FlaskClient) -> None:
    preview = post_details(client, title="Kept title").get_data(as_text=True)
    response = client.post(
        "/submit/back",
        data={"csrf_token": hidden(preview, "csrf_token"), "draft": hidden(preview, "draft")},
    )
    assert response.status_code == 200
    assert 'value="Kept title"' in response.get_data(as_text=True)


def test_an_online_event_needs_no_place(client: FlaskClient, store: EventStore) -> None:
    preview = post_details(client, format="online", city="", country="KE", venue="")
    assert "This is an online event" in preview.get_data(as_text=True)
    assert confirm(client, preview.get_data(as_text=True)).status_code == 303
    [event] = store.frame().to_dict("records")
    assert event["location_precision"] == "none"
    assert event["timezone"] == "Africa/Nairobi"


def test_an_unknown_place_is_kept_for_a_coordinator(client: FlaskClient, store: EventStore) -> None:
    preview = post_details(client, city="Qwxzyvillezzz", address="")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "You can still send the event" in page
    response = confirm(client, page)
    assert response.status_code == 303
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "a coordinator will place it for you" in thanks
    [event] = store.frame().to_dict("records")
    assert event["location_precision"] == "none"
    assert event["latitude"] == ""


# The edit link


def test_the_edit_link_edits_a_rejected_event_and_sends_it_back_to_review(
    client: FlaskClient, store: EventStore
) -> None:
    # An approved event's change waits for review instead: see tests/test_pending_changes.py.
    _, edit_url = submit_event(client)
    path = edit_url.split("localhost", 1)[1]
    [event] = store.frame().to_dict("records")
    change(store, event["id"], {"status": "rejected", "moderation_note": "Give a real title."})
    page = client.get(path).get_data(as_text=True)
    assert "not published" in page
    assert "<blockquote>Give a real title.</blockquote>" in page
    data = edit_data(page, event, title="A better title")
    response = client.post(path, data=data)
    assert response.status_code == 303
    edited = store.get(event["id"])
    assert edited is not None
    assert edited["title"] == "A better title"
    assert edited["status"] == "pending"
    assert edited["latitude"] == event["latitude"]
    assert "A coordinator will review the event again" in client.get(path).get_data(as_text=True)


def test_an_invalid_edit_writes_nothing(client: FlaskClient, store: EventStore) -> None:
    _, edit_url = submit_event(client)
    path = edit_url.split("localhost", 1)[1]
    page = client.get(path).get_data(as_text=True)
    before = store.path.read_bytes()
    response = client.post(
        path,
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "version": version_of(page),
            **form_data(title=""),
        },
    )
    assert response.status_code == 422
    assert "Title: give the event a name." in response.get_data(as_text=True)
    assert store.path.read_bytes() == before


def test_the_edit_link_withdraws(client: FlaskClient, store: EventStore) -> None:
    _, edit_url = submit_event(client)
    path = edit_url.split("localhost", 1)[1]
    page = client.get(path).get_data(as_text=True)
    response = client.post(
        path + "/withdraw",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "confirm": "y",
            "version": version_of(page),
        },
    )
    assert response.status_code == 303
    [event] = store.frame().to_dict("records")
    assert event["status"] == "withdrawn"
    assert "You withdrew this event" in client.get(path).get_data(as_text=True)


def test_an_edit_of_an_event_changed_meanwhile_is_409_and_keeps_the_typing(
    client: FlaskClient, store: EventStore
) -> None:
    _, edit_url = submit_event(client)
    path = edit_url.split("localhost", 1)[1]
    page = client.get(path).get_data(as_text=True)
    [event] = store.frame().to_dict("records")
    change(store, event["id"], {"status": "approved"})  # a coordinator approved it meanwhile
    data = edit_data(page, event, title="My own better title")
    response = client.post(path, data=data)
    assert response.status_code == 409
    answer = response.get_data(as_text=True)
    assert "Your event changed since you opened this page" in answer
    assert 'value="My own better title"' in answer
    assert '<td dir="auto">Light up the town hall</td><td dir="auto">My own better title</td>' in (
        answer
    )
    assert store.get(event["id"])["title"] == event["title"]
    assert store.get(event["id"])["status"] == "approved"
    # The page now carries the new version: sending it again saves the organiser's text, as a
    # change waiting for review since the event is published now.
    data["version"] = version_of(answer)
    assert client.post(path, data=data).status_code == 303
    stored = store.get(event["id"])
    assert (stored["title"], stored["status"]) == (event["title"], "approved")
    assert json.loads(stored["pending_change"])["fields"] == {"title": "My own better title"}


@pytest.mark.parametrize("version", ["", "stale"])
def test_a_withdrawal_needs_the_current_version(
    client: FlaskClient, store: EventStore, version: str
) -> None:
    _, edit_url = submit_event(client)
    path = edit_url.split("localhost", 1)[1]
    page = client.get(path).get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "confirm": "y", "version": version}
    response = client.post(path + "/withdraw", data=data)
    assert response.status_code == (400 if not version else 409)
    [event] = store.frame().to_dict("records")
    assert event["status"] == "pending"


@pytest.mark.parametrize("token", ["nonsense", "WyJhYmMiLCJ4Il0.forged"])
def test_a_bad_edit_link_is_not_found(client: FlaskClient, token: str) -> None:
    response = client.get(f"/edit/{token}")
    assert response.status_code == 404
    assert "This edit link is not valid" in response.get_data(as_text=True)


# Limits


def test_the_request_size_is_capped(client: FlaskClient, store: EventStore) -> None:
    page = client.get("/submit").get_data(as_text=True)
    response = client.post(
        "/submit",
        data={"csrf_token": hidden(page, "csrf_token"), **form_data(description="x" * 70_000)},
    )
    assert response.status_code == 413
    assert len(store) == 0


def test_submissions_are_rate_limited(app_config: dict[str, Any]) -> None:
    from mapapp import create_app

    app: Flask = create_app({**app_config, "SUBMIT_RATE_LIMIT": "2 per hour"})
    client = app.test_client()
    statuses = []
    for _ in range(3):
        preview = post_details(client, format="online", city="", country="KE", title="Webinar")
        statuses.append(
            confirm(client, preview.get_data(as_text=True), submit_anyway="y").status_code
        )
    assert statuses == [303, 303, 429]
    assert len(app.extensions["mapapp.store"]) == 2


def test_changes_through_edit_links_are_rate_limited_per_link(app_config: dict[str, Any]) -> None:
    from mapapp import create_app

    app: Flask = create_app({**app_config, "EDIT_RATE_LIMIT": "3 per hour"})
    client = app.test_client()
    _, edit_url = submit_event(client)
    path = edit_url.split("localhost", 1)[1]
    statuses = []
    for number in range(4):
        page = client.get(path).get_data(as_text=True)
        data = {
            "csrf_token": hidden(page, "csrf_token"),
            **form_data(title=f"Title number {number}"),
            "version": version_of(page),
        }
        statuses.append(client.post(path, data=data).status_code)
    assert statuses == [303, 303, 303, 429]
    assert client.get(path).status_code == 200  # reading the event stays open
    [event] = app.extensions["mapapp.store"].frame().to_dict("records")
    assert event["title"] == "Title number 2"


# The geocoder is down: the organiser can still submit.


def test_when_the_geocoder_is_down_the_event_is_kept_unplaced(
    app_config: dict[str, Any],
    nominatim_stub: NominatimStub,  # noqa: F811  (the fixture)
    nominatim_config: dict[str, Any],  # noqa: F811
) -> None:
    from mapapp import create_app

    app = create_app({**app_config, **nominatim_config, "GEOCODER": "nominatim"})
    nominatim_stub.fail_with(503, times=10)
    client = app.test_client()
    preview = post_details(client, address="1 Rue de Rivoli")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "We cannot reach the map search service right now" in page
    assert "You can still send the event" in page
    assert nominatim_stub.search_requests()  # it really asked the (failing) service
    response = confirm(client, page)
    assert response.status_code == 303
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "a coordinator will place it for you" in thanks
    [event] = app.extensions["mapapp.store"].frame().to_dict("records")
    assert event["status"] == "pending"
    assert event["location_precision"] == "none"


def test_when_the_geocoder_is_unreachable_the_api_still_accepts(
    app_config: dict[str, Any],
    nominatim_config: dict[str, Any],  # noqa: F811  (the fixture)
    refused_url: str,  # noqa: F811  (the fixture)
) -> None:
    from mapapp import create_app

    app = create_app(
        {
            **app_config,
            **nominatim_config,
            "GEOCODER": "nominatim",
            "NOMINATIM_URL": refused_url,
        }
    )
    response = app.test_client().post(
        "/api/events",
        json={
            **{k: v for k, v in form_data().items() if k not in {"consent", "homepage"}},
            "consent": True,
        },
    )
    assert response.status_code == 201
    assert response.get_json()["location_precision"] == "none"


# Events that have already ended

# The last edition's day has always passed: the current edition changes the day after it.
PAST = edition_date(current_edition() - 1)
PAST_DAY = PAST.isoformat()
ENDED_MESSAGE = (
    f"This event ended on {PAST.day} {PAST:%B %Y}: the map shows coming and current events. "
    "If its dates are wrong, correct them and send it again."
)


def test_an_ended_event_is_refused_at_the_form(client: FlaskClient, store: EventStore) -> None:
    response = post_details(client, starts_at=f"{PAST_DAY}T18:00", ends_at=f"{PAST_DAY}T22:00")
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert ENDED_MESSAGE in page
    assert f'value="{PAST_DAY}T18:00"' in page  # what was typed stays
    assert len(store) == 0


def test_a_draft_whose_event_ended_meanwhile_is_refused_at_confirmation(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    from mapapp import submissions

    page = post_details(client).get_data(as_text=True)
    preview = submissions.load_draft("test-secret-key", hidden(page, "draft"))
    # The draft's event as it would be had it been previewed before it ended.
    preview.event.update(starts_at=f"{PAST_DAY}T18:00", ends_at="")
    draft = submissions.sign_draft("test-secret-key", preview)
    response = client.post(
        "/submit/confirm",
        data={"csrf_token": hidden(page, "csrf_token"), "draft": draft, "place": "0"},
    )
    assert response.status_code == 422
    assert ENDED_MESSAGE in response.get_data(as_text=True)
    assert len(store) == 0


def test_an_organiser_may_still_correct_a_past_event(
    client: FlaskClient, store: EventStore
) -> None:
    _, edit_url = submit_event(client)
    path = edit_url.split("localhost", 1)[1]
    [event] = store.frame().to_dict("records")
    change(store, event["id"], {"starts_at": f"{PAST_DAY}T18:00", "ends_at": f"{PAST_DAY}T22:00"})
    page = client.get(path).get_data(as_text=True)
    data = edit_data(
        page,
        event,
        title="Light up the town hall, corrected",
        starts_at=f"{PAST_DAY}T18:00",
        ends_at=f"{PAST_DAY}T22:00",
    )
    response = client.post(path, data=data)
    assert response.status_code == 303
    assert store.get(event["id"])["title"] == "Light up the town hall, corrected"


# The duplicate warning names published events only


WAITING = "A similar event is waiting for review."


def test_a_similar_pending_event_is_not_named_to_anyone(
    client: FlaskClient, store: EventStore
) -> None:
    for organiser in ("Secret group", "Other secret group"):
        store.add(
            make_event(
                status="pending",
                title="Light up the Town Hall",
                organiser=organiser,
                starts_at=f"{DAY}T19:00",
            )
        )
    preview = post_details(client).get_data(as_text=True)
    assert "Is your event already on the map?" in preview
    assert preview.count(WAITING) == 1
    assert "Secret group" not in preview and "Light up the Town Hall" not in preview
    refused = confirm(client, preview)
    assert refused.status_code == 422
    assert (
        "A similar event is waiting for review: if it is a different event, tick the box to "
        "submit it anyway."
    ) in refused.get_data(as_text=True)
    assert "Secret group" not in refused.get_data(as_text=True)
    assert confirm(client, preview, submit_anyway="y").status_code == 303
    assert len(store) == 3


def test_a_published_duplicate_is_named_with_its_link_and_a_pending_one_is_not(
    client: FlaskClient, store: EventStore
) -> None:
    published = store.add(
        make_event(title="Light up the Town Hall", organiser="Open group", starts_at=f"{DAY}T19:00")
    )
    store.add(
        make_event(
            status="pending",
            title="Light up the town hall tonight",
            organiser="Secret group",
            starts_at=f"{DAY}T19:00",
        )
    )
    preview = post_details(client).get_data(as_text=True)
    assert (
        f'<a href="/events/{published["id"]}"><strong dir="auto" lang="fr">Light up the Town Hall'
        "</strong></a>"
    ) in preview
    assert 'by <span dir="auto">Open group</span>' in preview
    assert preview.count(WAITING) == 1
    assert "Secret group" not in preview and "tonight" not in preview
    refused = confirm(client, preview).get_data(as_text=True)
    assert "This looks like an event already on the map: if it is a different event" in refused


@pytest.mark.parametrize("status", ["rejected", "withdrawn"])
def test_rejected_and_withdrawn_events_do_not_count_as_duplicates(
    client: FlaskClient, store: EventStore, status: str
) -> None:
    store.add(make_event(status=status, title="Light up the Town Hall", starts_at=f"{DAY}T19:00"))
    preview = post_details(client).get_data(as_text=True)
    assert "Is your event already on the map?" not in preview
    assert WAITING not in preview
    assert confirm(client, preview).status_code == 303


# A rate limit keeps what was typed and says when to try again

KEPT = re.compile(
    r"You have sent many forms in a short time: please try again in (60|61) minutes; what you "
    r"typed is kept below\."
)


def limited_app(app_config: dict[str, Any], setting: str) -> Flask:
    """Return an app whose one limit lets a single request through per hour."""
    from mapapp import create_app

    return create_app({**app_config, setting: "1 per hour"})


def assert_told_when(response: Any) -> str:
    """Check a 429 says when to try again, in the page and the header; return the page."""
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert KEPT.search(page), page
    assert 3500 <= int(response.headers["Retry-After"]) <= 3601
    return page


def test_a_limited_form_comes_back_as_typed(app_config: dict[str, Any]) -> None:
    client = limited_app(app_config, "PREVIEW_RATE_LIMIT").test_client()
    assert post_details(client).status_code == 200
    response = post_details(
        client, title="Kept title", city="Lyon", description="Every word I typed."
    )
    page = assert_told_when(response)
    assert 'value="Kept title"' in page and 'value="Lyon"' in page
    assert "Every word I typed." in page
    assert '<input checked id="consent" name="consent" type="checkbox" value="y">' in page


def test_a_limited_confirmation_keeps_the_draft_and_confirms_later(
    app_config: dict[str, Any],
) -> None:
    from mapapp.web.limits import limiter

    app = limited_app(app_config, "SUBMIT_RATE_LIMIT")
    client = app.test_client()
    submit_event(client)
    app.extensions["mapapp.store"].add(
        make_event(
            title="Second event", starts_at=f"{DAY}T18:00", latitude="45.75", longitude="4.85"
        )
    )
    preview = post_details(client, title="Second event").get_data(as_text=True)
    response = confirm(client, preview, latitude="45.75", longitude="4.85", submit_anyway="y")
    page = assert_told_when(response)
    assert "Check where “Second event” goes on the map" in re.sub(r"<[^>]+>", "", page)
    assert 'value="45.75"' in page and 'value="4.85"' in page
    assert (
        '<input checked id="submit_anyway" name="submit_anyway" type="checkbox" value="y">' in page
    )
    assert len(app.extensions["mapapp.store"]) == 2
    with app.app_context():
        limiter.reset()  # the hour has passed
    later = confirm(client, page, latitude="45.75", longitude="4.85", submit_anyway="y")
    assert later.status_code == 303
    titles = sorted(app.extensions["mapapp.store"].frame()["title"])
    assert titles == ["Light up the town hall", "Second event", "Second event"]


def test_a_limited_edit_keeps_the_changes_as_typed(app_config: dict[str, Any]) -> None:
    app = limited_app(app_config, "EDIT_RATE_LIMIT")
    client = app.test_client()
    _, edit_url = submit_event(client)
    path = edit_url.split("localhost", 1)[1]
    [event] = app.extensions["mapapp.store"].frame().to_dict("records")
    page = client.get(path).get_data(as_text=True)
    assert client.post(path, data=edit_data(page, event, title="First change")).status_code == 303
    page = client.get(path).get_data(as_text=True)
    response = client.post(path, data=edit_data(page, event, title="Typed but limited"))
    page = assert_told_when(response)
    assert 'value="Typed but limited"' in page
    assert app.extensions["mapapp.store"].get(event["id"])["title"] == "First change"


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        (1, "please try again in a minute; what"),
        (60, "please try again in a minute; what"),
        (61, "please try again in 2 minutes; what"),
        (12 * 60, "please try again in 12 minutes; what"),
        (90 * 60, "please try again in 90 minutes; what"),
        (90 * 60 + 1, "please try again in 2 hours; what"),
        (23 * 3600 + 5, "please try again in 24 hours; what"),
    ],
)
def test_the_wait_is_said_rounded_up(seconds: int, message: str) -> None:
    from mapapp.web.limits import wait_message

    said = wait_message(seconds, form_kept=True)
    assert said == f"You have sent many forms in a short time: {message} you typed is kept below."
    assert wait_message(seconds, form_kept=False) == (
        f"You have sent many requests in a short time: {message.removesuffix('; what')}."
    )


# What the preview says about a place it could not find


@pytest.mark.parametrize(
    ("city", "region", "said"),
    [
        (
            "Pardes",
            "",
            "We could not find 'Pardes' in Spain. Did you mean Parres, Ares or Paradas?",
        ),
        (
            "Pardes",
            "Catalonia",
            "We could not find 'Pardes' in Spain. Please check the spelling, or give a nearby "
            "larger town.",
        ),
        (
            "Bercelona",
            "Catalonia",
            "We could not find 'Bercelona' in Spain. Did you mean Barcelona?",
        ),
    ],
)
def test_the_preview_offers_each_suggestion_once(
    client: FlaskClient, city: str, region: str, said: str
) -> None:
    page = post_details(client, city=city, region=region, country="ES").get_data(as_text=True)
    match = re.search(
        r'<p class="place-missing" role="status" id="place-missing">([^<]*)</p>', page
    )
    assert match, page
    assert html.unescape(match.group(1)) == (
        f"{said} You can still send the event: a coordinator will place it on the map, or you "
        "can type its coordinates below."
    )


def outbox(app: Flask) -> list[dict[str, Any]]:
    """Return the messages queued for organisers."""
    from mapapp import mail

    with app.app_context():
        return mail.queued()


def test_confirming_queues_the_received_message_with_the_edit_link(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    thanks, edit_url = submit_event(client, title="Purple walk")

    [event] = store.frame().to_dict("records")
    [row] = outbox(app)
    assert (row["kind"], row["to"], row["event_id"]) == (
        "submission_received",
        "organiser@example.org",
        event["id"],
    )
    assert row["context"]["edit_url"] == edit_url
    assert (row["context"]["reference"], row["context"]["title"]) == (event["id"], "Purple walk")
    assert "We have also sent it to organiser@example.org, with the event's reference." in (
        thanks.get_data(as_text=True)
    )


def test_withdrawing_queues_the_withdrawn_message_once(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    _, edit_url = submit_event(client)
    path = edit_url.split("localhost", 1)[1]
    page = client.get(path).get_data(as_text=True)
    csrf = hidden(page, "csrf_token")
    for _ in range(2):  # a second withdrawal (a replay) tells nobody again
        version = store.frame()["version"].item()
        response = client.post(
            path + "/withdraw", data={"csrf_token": csrf, "confirm": "y", "version": version}
        )
        assert response.status_code == 303

    assert [row["kind"] for row in outbox(app)] == ["submission_received", "withdrawn"]
    assert outbox(app)[1]["event_id"] == store.frame()["id"].item()


def test_an_outbox_that_cannot_be_written_never_loses_the_submission(
    app: Flask, client: FlaskClient, store: EventStore, data_dir: Path, caplog: Any
) -> None:
    (data_dir / "outbox.csv").write_text("not,the,outbox\r\n1,2,3\r\n", encoding="utf-8")

    thanks, edit_url = submit_event(client, title="Purple walk")

    assert "is waiting for review" in thanks.get_data(as_text=True)
    [event] = store.frame().to_dict("records")
    assert event["title"] == "Purple walk"
    assert client.get(edit_url.split("localhost", 1)[1]).status_code == 200
    assert (
        f"Event {event['id']}: the submission_received message could not be queued "
        "(the change itself is stored)"
    ) in caplog.text
