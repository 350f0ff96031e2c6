"""Edits keep the published version: an organiser's change of an approved event waits for review."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from mapapp import mail, pending_changes, stats, submissions
from mapapp.events import validate_event
from mapapp.publication import finish_renders
from mapapp.storage import EventStore
from mapapp.storage.event_store import FIELDS_BEFORE_CHANGES, STORED_FIELDS
from tests.conftest import change, make_event, make_submission

SECRET = "test-secret-key"  # conftest's app_config
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
WAITING_LINE = "Your change is waiting for review; the map shows the approved version until then."
APPROVED_TITLE = "Light up the town hall"
NEW_TITLE = "Light up the town hall in green"


@dataclass
class Published:
    """An approved event and its organiser's edit page."""

    id: str
    edit_path: str


@pytest.fixture
def published(store: EventStore) -> Published:
    """Store an approved event with an edit link, as if submitted and then approved."""
    event, errors = validate_event(make_event(status="pending", title=APPROVED_TITLE))
    assert event is not None, errors
    stored, token = submissions.create_event(store, event, SECRET)
    change(store, stored["id"], {"status": "approved"})
    return Published(stored["id"], f"/edit/{token}")


def hidden(page: str, name: str) -> str:
    """Return the value of a hidden input of a page."""
    match = re.search(rf'name="{name}"(?: type="hidden")? value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


def csrf(page: str) -> str:
    """Return the first CSRF token of a page."""
    match = CSRF.search(page)
    assert match, "no CSRF token"
    return match.group(1)


def edit(client: FlaskClient, path: str, **fields: str) -> Any:
    """Post the organiser's edit form as the page fills it, with some fields changed."""
    page = client.get(path).get_data(as_text=True)
    form = {
        name: html.unescape(match)
        for name in (*make_submission(), "latitude", "longitude")
        if (match := _value(page, name)) is not None
    }
    data = {
        **form,
        "consent": "y",
        "csrf_token": csrf(page),
        "version": hidden(page, "version"),
        **fields,
    }
    return client.post(path, data=data)


def _value(page: str, name: str) -> str | None:
    """Return what the edit form shows in a field: an input's value, a selected option, a text."""
    if match := re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page):
        return match.group(1)
    if match := re.search(rf'<input[^>]*value="([^"]*)"[^>]*name="{name}"', page):
        return match.group(1)
    if match := re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.DOTALL):
        chosen = re.search(r'<option (?:selected )?value="([^"]*)" selected', match.group(0))
        chosen = chosen or re.search(r'<option selected value="([^"]*)"', match.group(0))
        return chosen.group(1) if chosen else ""
    if match := re.search(rf'<textarea[^>]*name="{name}"[^>]*>\r?\n?(.*?)</textarea>', page, re.S):
        return match.group(1)
    checked = re.search(rf'<input[^>]*checked[^>]*name="{name}"[^>]*value="([^"]*)"', page)
    checked = checked or re.search(
        rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"[^>]*checked', page
    )
    return checked.group(1) if checked else None


def review(client: FlaskClient, event_id: str, action: str, **fields: str) -> Any:
    """Press "Approve change" or "Reject change" in the queue, with the version it shows."""
    page = client.get("/admin/").get_data(as_text=True)
    item = re.search(rf'<li [^>]*id="change-{event_id}".*?</li>', page, re.DOTALL)
    assert item, "the change is not in the queue"
    data = {
        "csrf_token": csrf(item.group(0)),
        "version": hidden(item.group(0), "version"),
        "next": "/admin/",
        **fields,
    }
    return client.post(f"/admin/events/{event_id}/{action}", data=data)


def public_texts(client: FlaskClient, event_id: str) -> dict[str, str]:
    """Return what visitors get of the event: page, map data, .ics, event JSON, exports."""
    paths = {
        "page": f"/events/{event_id}",
        "map": "/api/map-labels.json",
        "ics": f"/events/{event_id}.ics",
        "json": f"/api/events/{event_id}.json",
        "csv": "/events.csv",
        "export-json": "/events.json",
        "geojson": "/api/events.geojson",
    }
    texts = {}
    for path in paths.values():  # a public export after a change is rendered in the background
        client.get(path)
    finish_renders()
    for name, path in paths.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        texts[name] = response.get_data(as_text=True)
    return texts


def messages(app: Flask, event_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Return the (kind, to, context) of every message queued about an event."""
    with app.app_context():
        return [(row["kind"], row["to"], row["context"]) for row in mail.queued(event_id)]


def proposal(store: EventStore, event_id: str) -> dict[str, str]:
    """Return the fields of an event's waiting change ({} when none waits)."""
    waiting = pending_changes.proposal_of(store.get(event_id) or {})
    return waiting.fields if waiting else {}


# The organiser's side


def test_a_change_waits_and_the_published_version_stays_everywhere_until_approved(
    app: Flask,
    client: FlaskClient,
    coordinator_client: FlaskClient,
    store: EventStore,
    published: Published,
) -> None:
    before = store.get(published.id)
    seen = public_texts(client, published.id)
    response = edit(client, published.edit_path, title=NEW_TITLE, description="Now in green.")
    assert response.status_code == 303
    page = client.get(published.edit_path).get_data(as_text=True)
    assert WAITING_LINE in page
    assert "Your change is saved and waits for a coordinator&#39;s review" in page
    assert f'value="{NEW_TITLE}"' in page  # the form shows the organiser's proposal
    assert "Now in green." in page

    stored = store.get(published.id)
    assert stored is not None and before is not None
    assert {name: stored[name] for name in ("status", "title", "description")} == {
        "status": "approved",
        "title": APPROVED_TITLE,
        "description": "A test event.",
    }
    assert proposal(store, published.id) == {"title": NEW_TITLE, "description": "Now in green."}
    assert stored["updated_at"] == before["updated_at"]  # the .ics says nothing was revised
    assert public_texts(client, published.id) == seen  # byte for byte
    assert APPROVED_TITLE in seen["ics"] and APPROVED_TITLE in seen["csv"]
    assert client.get("/api/search.json", query_string={"q": "green"}).json == {"ids": []}

    response = review(coordinator_client, published.id, "approve-change")
    assert response.status_code == 303
    assert "Published the organiser&#39;s change." in coordinator_client.get("/admin/").text
    stored = store.get(published.id)
    assert stored is not None
    assert (stored["title"], stored["description"], stored["status"]) == (
        NEW_TITLE,
        "Now in green.",
        "approved",
    )
    assert stored["pending_change"] == ""
    for name, text in public_texts(client, published.id).items():
        assert NEW_TITLE in text, name
    search = client.get("/api/search.json", query_string={"q": "green"}).json
    assert search == {"ids": [published.id]}
    page = client.get(published.edit_path).get_data(as_text=True)
    assert WAITING_LINE not in page
    assert [(kind, to) for kind, to, _ in messages(app, published.id)] == [
        ("change_received", "organiser@example.org"),
        ("change_approved", "organiser@example.org"),
    ]


def test_the_change_is_stored_in_one_audited_update(
    client: FlaskClient, store: EventStore, published: Published
) -> None:
    entries_before = len(store.audit.frame())
    version = store.get(published.id)["version"]  # type: ignore[index]
    edit(client, published.edit_path, title=NEW_TITLE)
    [entry] = store.audit.frame().iloc[entries_before:].to_dict("records")
    assert (entry["event_id"], entry["who"], entry["action"]) == (
        published.id,
        "organiser",
        "change-request",
    )
    changes = json.loads(entry["changes"])
    assert set(changes) == {"pending_change"}
    recorded = json.loads(changes["pending_change"][1])
    assert recorded["fields"] == {"title": NEW_TITLE}
    assert recorded["based_on"] == version


def test_a_second_change_replaces_the_first_as_a_diff_against_the_approved_version(
    client: FlaskClient, store: EventStore, published: Published
) -> None:
    edit(client, published.edit_path, title=NEW_TITLE, venue="Town square")
    assert proposal(store, published.id) == {"title": NEW_TITLE, "venue": "Town square"}
    # The form now shows the proposal: the organiser puts the venue back and changes the start.
    edit(client, published.edit_path, venue="Hôtel de Ville", description="Bring a torch.")
    assert proposal(store, published.id) == {"title": NEW_TITLE, "description": "Bring a torch."}
    assert store.get(published.id)["title"] == APPROVED_TITLE  # type: ignore[index]


def test_a_change_back_to_the_approved_version_cancels_the_waiting_change(
    client: FlaskClient, store: EventStore, published: Published
) -> None:
    edit(client, published.edit_path, title=NEW_TITLE)
    response = edit(client, published.edit_path, title=APPROVED_TITLE)
    assert response.status_code == 303
    page = client.get(published.edit_path).get_data(as_text=True)
    assert "the change that was waiting is cancelled" in page
    assert WAITING_LINE not in page
    assert store.get(published.id)["pending_change"] == ""  # type: ignore[index]
    assert store.audit.frame()["action"].tolist()[-1] == "change-cancel"
    # Sending the approved version again changes nothing at all.
    before = store.path.read_bytes()
    edit(client, published.edit_path)
    assert store.path.read_bytes() == before
    assert "Nothing changed." in client.get(published.edit_path).get_data(as_text=True)


def test_a_withdrawal_cancels_the_waiting_change(
    client: FlaskClient, store: EventStore, published: Published
) -> None:
    edit(client, published.edit_path, title=NEW_TITLE)
    page = client.get(published.edit_path).get_data(as_text=True)
    form = {"csrf_token": csrf(page), "confirm": "y", "version": hidden(page, "version")}
    assert client.post(published.edit_path + "/withdraw", data=form).status_code == 303
    stored = store.get(published.id)
    assert stored is not None
    assert (stored["status"], stored["pending_change"], stored["title"]) == (
        "withdrawn",
        "",
        APPROVED_TITLE,
    )
    assert client.get(f"/events/{published.id}").status_code == 404


def test_a_move_waits_too_and_is_placed_when_the_organiser_sends_it(
    client: FlaskClient, store: EventStore, published: Published
) -> None:
    edit(client, published.edit_path, city="Lyon")
    waiting = proposal(store, published.id)
    assert waiting["city"] == "Lyon"
    assert abs(float(waiting["latitude"]) - 45.76) < 0.1  # the gazetteer's Lyon
    stored = store.get(published.id)
    assert stored is not None and (stored["city"], stored["latitude"]) == ("Paris", "48.856613")


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_an_edit_of_an_unpublished_event_applies_at_once(
    client: FlaskClient, store: EventStore, published: Published, status: str
) -> None:
    change(store, published.id, {"status": status})
    edit(client, published.edit_path, title=NEW_TITLE)
    stored = store.get(published.id)
    assert stored is not None
    assert (stored["title"], stored["status"], stored["pending_change"]) == (
        NEW_TITLE,
        "pending",
        "",
    )


# What the edit page says


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("pending", "waiting for review"),
        ("approved", "published on the map"),
        ("rejected", "not published"),
        ("withdrawn", "withdrawn"),
    ],
)
def test_the_edit_page_says_the_status_in_words(
    client: FlaskClient, store: EventStore, published: Published, status: str, words: str
) -> None:
    change(store, published.id, {"status": status})
    page = client.get(published.edit_path).get_data(as_text=True)
    assert f'Status: <strong id="event-status">{words}</strong>.' in page


def test_the_edit_page_shows_a_rejected_events_reason(
    client: FlaskClient, store: EventStore, published: Published
) -> None:
    change(store, published.id, {"status": "rejected", "moderation_note": "No date <yet>."})
    page = client.get(published.edit_path).get_data(as_text=True)
    assert "A coordinator did not publish the event, for this reason:" in page
    assert "<blockquote>No date &lt;yet&gt;.</blockquote>" in page


def test_the_edit_page_hides_a_published_events_note(
    client: FlaskClient, store: EventStore, published: Published
) -> None:
    change(store, published.id, {"moderation_note": "Checked by phone."})
    assert "Checked by phone." not in client.get(published.edit_path).get_data(as_text=True)


# The coordinator's side


def test_the_queue_lists_waiting_changes_apart_as_a_readable_diff(
    client: FlaskClient, coordinator_client: FlaskClient, store: EventStore, published: Published
) -> None:
    store.add(make_event(status="pending", title="A new submission"))
    edit(client, published.edit_path, title=NEW_TITLE, category="talk", country="BE", city="Liège")
    page = coordinator_client.get("/admin/").get_data(as_text=True)
    assert 'Pending events <span class="count" data-queue-count="1">(1)</span>' in page
    assert 'Changes to published events <span class="count">(1)</span>' in page
    item = re.search(rf'<li [^>]*id="change-{published.id}".*?</li>', page, re.DOTALL)
    assert item is not None
    rows = re.findall(
        r'<tr data-field="(\w+)"><th scope="row">([^<]+)</th><td class="before" dir="auto">(.*?)'
        r'</td><td class="after" dir="auto">(.*?)</td></tr>',
        item.group(0),
    )
    shown = {name: (label, before, after) for name, label, before, after in rows}
    assert shown["title"] == ("Title", APPROVED_TITLE, NEW_TITLE)
    assert shown["category"] == ("Category", "Light up for Rare", "Talk or conference")
    assert shown["country"] == ("Country", "France", "Belgium")
    assert shown["city"] == ("City", "Paris", "Liège")
    assert "description" not in shown  # only changed fields
    assert "Approve change" in item.group(0) and "Reject change" in item.group(0)
    assert "A new submission" not in item.group(0)


def test_rejecting_a_change_keeps_the_published_version_and_shows_the_reason(
    app: Flask,
    client: FlaskClient,
    coordinator_client: FlaskClient,
    store: EventStore,
    published: Published,
) -> None:
    edit(client, published.edit_path, title=NEW_TITLE, contact_email="new@example.org")
    response = review(
        coordinator_client, published.id, "reject-change", reason="Keep the official name."
    )
    assert response.status_code == 303
    stored = store.get(published.id)
    assert stored is not None
    assert (stored["title"], stored["status"], stored["pending_change"]) == (
        APPROVED_TITLE,
        "approved",
        "",
    )
    assert stored["change_note"] == "Keep the official name."
    assert stored["contact_email"] == "organiser@example.org"
    page = client.get(published.edit_path).get_data(as_text=True)  # the old link still works
    assert "A coordinator did not accept your last change, for this reason:" in page
    assert "<blockquote>Keep the official name.</blockquote>" in page
    assert APPROVED_TITLE in public_texts(client, published.id)["page"]

    sent = messages(app, published.id)
    assert [(kind, to) for kind, to, _ in sent] == [
        ("change_received", "organiser@example.org"),
        ("contact_changed", "organiser@example.org"),
        ("change_rejected", "organiser@example.org"),
    ]
    assert sent[1][2]["new_address"] == "new@example.org"
    assert sent[1][2]["waiting"] == "yes"
    rejected = sent[2][2]
    assert rejected["reason"] == "Keep the official name."
    fresh = client.get(rejected["edit_url"].removeprefix("http://localhost"))
    assert fresh.status_code == 200 and "Keep the official name." in fresh.text
    # A new change clears the reason.
    edit(client, published.edit_path, description="Another try.")
    assert store.get(published.id)["change_note"] == ""  # type: ignore[index]


def test_a_change_of_a_pending_events_contact_tells_the_old_address(
    app: Flask, client: FlaskClient, store: EventStore, published: Published
) -> None:
    change(store, published.id, {"status": "pending"})
    edit(client, published.edit_path, contact_email="new@example.org")
    assert store.get(published.id)["contact_email"] == "new@example.org"  # type: ignore[index]
    [(kind, to, context)] = messages(app, published.id)
    assert (kind, to, context["new_address"], context["waiting"]) == (
        "contact_changed",
        "organiser@example.org",
        "new@example.org",
        "",
    )


def test_approving_a_change_of_contact_writes_to_the_new_address(
    app: Flask,
    client: FlaskClient,
    coordinator_client: FlaskClient,
    store: EventStore,
    published: Published,
) -> None:
    edit(client, published.edit_path, contact_email="new@example.org")
    edit(client, published.edit_path, contact_email="new@example.org", title=NEW_TITLE)
    review(coordinator_client, published.id, "approve-change")
    assert [(kind, to) for kind, to, _ in messages(app, published.id)] == [
        ("change_received", "organiser@example.org"),
        ("contact_changed", "organiser@example.org"),  # once for one new address
        ("change_received", "organiser@example.org"),
        ("change_approved", "new@example.org"),
    ]


def test_a_stale_review_gets_the_conflict_page_and_changes_nothing(
    client: FlaskClient, coordinator_client: FlaskClient, store: EventStore, published: Published
) -> None:
    edit(client, published.edit_path, title=NEW_TITLE)
    page = coordinator_client.get("/admin/").get_data(as_text=True)
    item = re.search(rf'<li [^>]*id="change-{published.id}".*?</li>', page, re.DOTALL)
    assert item is not None
    seen = {"csrf_token": csrf(item.group(0)), "version": hidden(item.group(0), "version")}
    edit(client, published.edit_path, title="A third title")  # the organiser changes it again
    before = store.path.read_bytes()
    for action, extra in [("approve-change", {}), ("reject-change", {"reason": "No."})]:
        response = coordinator_client.post(
            f"/admin/events/{published.id}/{action}", data={**seen, "next": "/admin/", **extra}
        )
        assert response.status_code == 409
        text = response.get_data(as_text=True)
        assert "changed since you loaded the page" in text
        assert "A third title" in text  # the change waiting now, to review again
    assert store.path.read_bytes() == before


def test_a_review_needs_a_reason_to_reject_and_a_change_to_review(
    coordinator_client: FlaskClient, store: EventStore, published: Published, client: FlaskClient
) -> None:
    edit(client, published.edit_path, title=NEW_TITLE)
    before = store.path.read_bytes()
    review(coordinator_client, published.id, "reject-change", reason="  ")
    assert "Reason: say why the change is not accepted." in coordinator_client.get("/admin/").text
    assert store.path.read_bytes() == before
    change(store, published.id, {"pending_change": ""})  # cancelled, as if by the organiser
    before = store.path.read_bytes()
    version = store.get(published.id)["version"]  # type: ignore[index]
    page = coordinator_client.get("/admin/").get_data(as_text=True)
    response = coordinator_client.post(
        f"/admin/events/{published.id}/approve-change",
        data={"csrf_token": csrf(page), "version": version, "next": "/admin/"},
    )
    assert response.status_code == 303
    assert "No change of this event is waiting for review" in coordinator_client.get("/admin/").text
    assert store.path.read_bytes() == before


def test_approving_a_move_not_placed_by_the_organiser_places_it(
    coordinator_client: FlaskClient, store: EventStore, published: Published
) -> None:
    # As when the geocoder was down while the organiser moved the event to Lyon.
    fields = {"city": "Lyon", "latitude": "", "longitude": "", "location_precision": "none"}
    change(store, published.id, {"pending_change": pending_changes.encode(fields, based_on="1")})
    assert review(coordinator_client, published.id, "approve-change").status_code == 303
    stored = store.get(published.id)
    assert stored is not None
    assert stored["city"] == "Lyon" and abs(float(stored["latitude"]) - 45.76) < 0.1
    assert (stored["location_precision"], stored["timezone"]) == ("city", "Europe/Paris")


def test_bulk_approval_never_approves_a_waiting_change(
    client: FlaskClient, coordinator_client: FlaskClient, store: EventStore, published: Published
) -> None:
    edit(client, published.edit_path, title=NEW_TITLE)
    other = store.add(make_event(status="pending", title="Approve me"))
    event = store.get(published.id)
    assert event is not None
    page = coordinator_client.get("/admin/").get_data(as_text=True)
    data = MultiDict(
        [
            ("csrf_token", csrf(page)),
            ("next", "/admin/"),
            ("ids", other["id"]),
            (f"version-{other['id']}", other["version"]),
            ("ids", published.id),  # even when sent, as a crafted form would
            (f"version-{published.id}", event["version"]),
        ]
    )
    assert coordinator_client.post("/admin/approve", data=data).status_code == 303
    assert store.get(other["id"])["status"] == "approved"  # type: ignore[index]
    assert store.get(published.id)["title"] == APPROVED_TITLE  # type: ignore[index]
    assert proposal(store, published.id) == {"title": NEW_TITLE}


def test_an_event_with_a_waiting_change_counts_as_approved_and_is_marked(
    app: Flask,
    client: FlaskClient,
    coordinator_client: FlaskClient,
    store: EventStore,
    published: Published,
) -> None:
    edit(client, published.edit_path, title=NEW_TITLE)
    listing = coordinator_client.get("/admin/events", query_string={"status": "approved"}).text
    assert APPROVED_TITLE in listing
    assert '<span class="marker change-marker">change waiting</span>' in listing
    assert (
        "The organiser's change is waiting for review"
        in coordinator_client.get(f"/admin/events/{published.id}/edit").text
    )
    dashboard = stats.dashboard(store.frame())
    assert dashboard.total == 1  # counted as the approved event it is
    assert [(c.code, c.count) for c in dashboard.countries] == [("FR", 1)]
    frame = pd.read_csv(
        io.BytesIO(coordinator_client.get("/admin/export?format=csv").data),
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig",
    )
    assert "pending_change" not in frame.columns
    assert frame["title"].tolist() == [APPROVED_TITLE]


# The schema


def test_an_events_file_from_before_waiting_changes_is_upgraded_once_with_a_backup(
    data_dir: Path,
) -> None:
    header = (*FIELDS_BEFORE_CHANGES, "version")
    rows = [
        {**make_event(id=f"event{n:03d}", title=f"Event {n}"), "version": str(n + 1)}
        for n in range(3)
    ]
    with open(data_dir / "events.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header, extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    original = (data_dir / "events.csv").read_bytes()

    store = EventStore(data_dir)
    frame = store.frame()
    assert list(frame.columns) == list(STORED_FIELDS)
    for row, stored in zip(rows, frame.to_dict("records"), strict=True):
        assert {name: stored[name] for name in header} == {
            name: row.get(name, "") for name in header
        }
        assert (stored["pending_change"], stored["change_note"]) == ("", "")
    [backup] = (data_dir / "backups").iterdir()
    assert backup.read_bytes() == original
    with open(data_dir / "events.csv", encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle)) == list(STORED_FIELDS)
    store.close()
    EventStore(data_dir).frame()
    assert len(list((data_dir / "backups").iterdir())) == 1  # once


@pytest.mark.parametrize(
    "raw", ["not json", "[]", '{"fields": 3}', '{"at": "x"}', '{"fields": {"nope": "x"}}']
)
def test_a_waiting_change_that_cannot_be_read_is_ignored(raw: str) -> None:
    event = make_event(id="event001", pending_change=raw)
    waiting = pending_changes.proposal_of(event)
    assert waiting is None or waiting.fields == {}
    assert pending_changes.proposed(event)["title"] == event["title"]


# Concurrency: an organiser's change racing a coordinator's approval of the one before


SERVE_WORKERS = 3
RACE_TRIALS = 8


def seed_published(data_dir: Path) -> tuple[str, str]:
    """Store an approved event with an edit link and a coordinator; return its id and edit path."""
    from mapapp import coordinators, create_app
    from tests.serve_clients import PASSWORD
    from tests.servers import SECRET_KEY

    app = create_app({"ENV": "testing", "DATA_DIR": str(data_dir), "SECRET_KEY": SECRET_KEY})
    store: EventStore = app.extensions["mapapp.store"]
    event, errors = validate_event(make_event(status="pending", title=APPROVED_TITLE))
    assert event is not None, errors
    stored, token = submissions.create_event(store, event, SECRET_KEY)
    change(store, stored["id"], {"status": "approved"})
    with app.app_context():
        coordinators.add_coordinator("alice", PASSWORD)
    store.close()
    return stored["id"], f"/edit/{token}"


@pytest.mark.slow
def test_an_organisers_change_racing_an_approval_loses_nothing_acknowledged(
    tmp_path: Path, server_port: int
) -> None:
    from tests.serve_clients import Client, errors_in_log, find_form, read_store
    from tests.servers import serving
    from tests.test_serve_writes import race

    data_dir = tmp_path / "data"
    event_id, edit_path = seed_published(data_dir)
    approve_path = f"/admin/events/{event_id}/approve-change"
    acknowledged: list[tuple[str, str]] = []  # (action, title), in the order answered 303
    winners: list[str] = []
    log_path = tmp_path / "serve.log"
    with serving(data_dir, log_path, server_port, workers=SERVE_WORKERS) as (base_url, _server):
        alice, organiser = Client(base_url, "alice"), Client(base_url, "organiser")
        with alice.http, organiser.http:
            alice.sign_in()

            def organiser_post(title: str) -> Any:
                form = find_form(organiser.page(edit_path) or "")
                assert form is not None, organiser.anomalies
                data = {**form.values(), "title": title}
                return lambda: organiser.request("POST", edit_path, data=data)

            def approval() -> Any:
                form = find_form(alice.page("/admin/") or "", action=approve_path)
                assert form is not None, "no change waiting in the queue"
                return lambda: alice.request("POST", approve_path, data=form.values())

            first = organiser_post("Trial 0 first")()
            assert first is not None and first.status_code == 303
            acknowledged.append(("change-request", "Trial 0 first"))
            for trial in range(RACE_TRIALS):
                waiting_title = acknowledged[-1][1]
                title = f"Trial {trial} racing"
                answers = race(approval(), organiser_post(title))
                codes = [-1 if answer is None else answer.status_code for answer in answers]
                assert sorted(codes) == [303, 409], (trial, codes)
                if codes[0] == 303:  # the approval won: the organiser is shown the event now
                    winners.append("approval")
                    acknowledged.append(("approve-change", waiting_title))
                    assert html.escape(waiting_title) in answers[1].text  # type: ignore[union-attr]
                    again = organiser_post(title)()  # and sends their change again
                    assert again is not None and again.status_code == 303
                else:  # the organiser won: the coordinator sees the new change to review
                    winners.append("organiser")
                    assert html.escape(title) in answers[0].text  # type: ignore[union-attr]
                acknowledged.append(("change-request", title))
            last = approval()()
            assert last is not None and last.status_code == 303
            acknowledged.append(("approve-change", acknowledged[-1][1]))
    events, entries = read_store(data_dir)
    assert events[event_id]["title"] == f"Trial {RACE_TRIALS - 1} racing"
    assert events[event_id]["pending_change"] == ""
    assert events[event_id]["status"] == "approved"
    recorded = []
    for entry in entries:
        changes = json.loads(entry["changes"] or "{}")
        if entry["action"] == "change-request":
            recorded.append(
                ("change-request", json.loads(changes["pending_change"][1])["fields"]["title"])
            )
        elif entry["action"] == "approve-change":
            recorded.append(("approve-change", changes["title"][1]))
    assert recorded == acknowledged
    assert [code for code in alice.statuses + organiser.statuses if code >= 500] == []
    assert errors_in_log(log_path) == []
    print(f"\n{len(winners)} races: {dict(Counter(winners))}")


# In the browser


@pytest.mark.browser
def test_in_the_browser_a_change_waits_then_a_coordinator_publishes_it(
    app: Flask, store: EventStore, published: Published, live_server: str, page: Any
) -> None:
    from mapapp import coordinators
    from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD

    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    page.goto(live_server + published.edit_path)
    page.get_by_label("Event title").fill(NEW_TITLE)
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text(WAITING_LINE).wait_for()
    assert page.get_by_label("Event title").input_value() == NEW_TITLE
    public = page.context.new_page()
    public.goto(f"{live_server}/events/{published.id}")
    assert public.locator("h1").inner_text() == APPROVED_TITLE

    page.goto(f"{live_server}/admin/sign-in?next=/admin/")
    page.get_by_label("Name").fill(COORDINATOR_NAME)
    page.get_by_label("Password").fill(COORDINATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/admin/")
    card = page.locator(f"#change-{published.id}")
    assert card.locator('tr[data-field="title"] td.after').inner_text() == NEW_TITLE
    card.get_by_role("button", name="Approve change").click()
    page.get_by_text("Published the organiser's change.").wait_for()
    assert page.locator(f"#change-{published.id}").count() == 0
    public.reload()
    assert public.locator("h1").inner_text() == NEW_TITLE
    assert page.page_errors == []
