"""Moderation through the admin pages: approve, reject, edit, place, bulk approve, lists, audit log."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import audit, moderation
from mapapp.storage import Audit, EventStore
from tests.conftest import COORDINATOR_NAME, change, make_event

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def token(client: FlaskClient, url: str = "/admin/") -> str:
    """Return the CSRF token from a signed-in page."""
    match = CSRF.search(client.get(url).get_data(as_text=True))
    assert match
    return match.group(1)


def pending(store: EventStore, **fields: str) -> dict[str, str]:
    """Store a pending event and return it."""
    return store.add(make_event(status="pending", **fields))


def entries(app: Flask) -> list[audit.Entry]:
    """Return every audit entry of a person's change, newest first (not the events' creation)."""
    with app.app_context():
        return [entry for entry in audit.page(1, 1000).entries if entry.who != "system"]


def test_queue_lists_pending_events_only(coordinator_client: FlaskClient, store: EventStore):
    waiting = pending(store, title="Waiting walk")
    store.add(make_event(title="Already approved"))
    page = coordinator_client.get("/admin/").get_data(as_text=True)
    assert "Waiting walk" in page
    assert "Already approved" not in page
    assert f'data-event-id="{waiting["id"]}"' in page
    assert 'Pending events <span class="count" data-queue-count="1">(1)</span>' in page


def test_queue_escapes_hostile_text(coordinator_client: FlaskClient, store: EventStore):
    pending(store, title="<script>alert(1)</script>", description='"><img src=x onerror=alert(1)>')
    page = coordinator_client.get("/admin/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page


def test_approve(app: Flask, coordinator_client: FlaskClient, store: EventStore):
    event = pending(store)
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/approve",
        data={
            "csrf_token": token(coordinator_client),
            "next": "/admin/",
            "version": event["version"],
        },
        follow_redirects=True,
    )
    assert "Approved the event." in response.get_data(as_text=True)
    assert store.get(event["id"])["status"] == "approved"
    assert f'data-event-id="{event["id"]}"' not in response.get_data(as_text=True)
    [entry] = entries(app)
    assert (entry.who, entry.event_id, entry.action) == (COORDINATOR_NAME, event["id"], "approve")
    assert entry.changes == {"status": ["pending", "approved"]}


def test_approve_without_csrf_changes_nothing(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/approve", data={"version": event["version"]}
    )
    assert response.status_code == 303
    assert store.get(event["id"])["status"] == "pending"
    assert entries(app) == []


def test_approve_unknown_event_is_404(coordinator_client: FlaskClient):
    response = coordinator_client.post(
        "/admin/events/nosuchid/approve",
        data={"csrf_token": token(coordinator_client), "version": "1"},
    )
    assert response.status_code == 404
    assert "There is no event with the id &#39;nosuchid&#39;." in response.get_data(as_text=True)


def test_approve_refuses_an_invalid_event(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    # An event stored before a validation rule tightened: approving it must not publish it.
    event = pending(store, website="javascript:alert(1)")
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/approve",
        data={"csrf_token": token(coordinator_client), "version": event["version"]},
        follow_redirects=True,
    )
    assert "Website: give a full address starting with https://" in response.get_data(as_text=True)
    assert store.get(event["id"])["status"] == "pending"
    assert entries(app) == []


def test_reject_with_reason(app: Flask, coordinator_client: FlaskClient, store: EventStore):
    event = pending(store)
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/reject",
        data={
            "csrf_token": token(coordinator_client),
            "reason": "  Duplicate of another event ",
            "version": event["version"],
        },
        follow_redirects=True,
    )
    assert "Rejected the event." in response.get_data(as_text=True)
    stored = store.get(event["id"])
    assert (stored["status"], stored["moderation_note"]) == (
        "rejected",
        "Duplicate of another event",
    )
    [entry] = entries(app)
    assert entry.action == "reject"
    # The same change adds a fresh edit link for the rejection's message (its hash only).
    # The audit page shows how many links were valid, never their hashes.
    before, after = entry.changes.pop("edit_token_hash")
    assert (before, after) == ("0 valid", "1 valid")
    assert len(stored["edit_token_hash"].split()) == 1
    assert entry.changes == {
        "status": ["pending", "rejected"],
        "moderation_note": ["", "Duplicate of another event"],
    }


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
def test_reject_needs_a_reason(
    app: Flask, coordinator_client: FlaskClient, store: EventStore, reason: str
):
    event = pending(store)
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/reject",
        data={
            "csrf_token": token(coordinator_client),
            "reason": reason,
            "version": event["version"],
        },
        follow_redirects=True,
    )
    assert "Reason:" in response.get_data(as_text=True)
    assert store.get(event["id"])["status"] == "pending"
    assert entries(app) == []


def _edit_form(client: FlaskClient, event_id: str) -> dict[str, str]:
    """Return the edit form's fields as the page fills them."""
    return _edit_form_from(client.get(f"/admin/events/{event_id}/edit").get_data(as_text=True))


def versions(*events: dict[str, str]) -> dict[str, str]:
    """Return the bulk-approve form's version fields for these events."""
    return {f"version-{event['id']}": event["version"] for event in events}


def _edit_form_from(page: str) -> dict[str, str]:
    """Return the edit form's fields as a page fills them."""
    page = page[page.index('class="edit-form"') :]
    page = page[: page.index("</form>")]
    form = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    form.update(re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', page))
    for name, options in re.findall(r'<select[^>]*name="([^"]+)">(.*?)</select>', page, re.S):
        selected = re.search(r'<option value="([^"]*)" selected>', options)
        form[name] = selected.group(1) if selected else ""
    return {name: value.replace("&amp;", "&") for name, value in form.items()}


def test_edit_form_has_every_field_but_system_ones(
    coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    form = _edit_form(coordinator_client, event["id"])
    # Start and end go as a date and a time; the location source and sample flag are read-only.
    in_parts = {"starts_at", "ends_at"}
    read_only = {"location_source", "is_sample"}
    assert set(moderation.EDITABLE_FIELDS) - in_parts - read_only <= set(form)
    assert {"starts_at_date", "starts_at_time", "ends_at_date", "ends_at_time"} <= set(form)
    assert not {"id", "created_at", "edit_token_hash"} & set(form)
    assert not (in_parts | read_only) & set(form)
    assert form["title"] == event["title"]


def test_edit_saves_changes_and_records_them(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    form = _edit_form(coordinator_client, event["id"])
    form.update(title="Light up the old bridge", city="Lyon", id="hijacked", created_at="x")
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/edit", data=form, follow_redirects=True
    )
    assert "Saved the event." in response.get_data(as_text=True)
    stored = store.get(event["id"])
    assert (stored["title"], stored["city"]) == ("Light up the old bridge", "Lyon")
    assert stored["created_at"] == event["created_at"]
    assert store.get("hijacked") is None
    [entry] = entries(app)
    assert entry.action == "edit"
    assert entry.changes == {
        "title": ["Light up the town hall", "Light up the old bridge"],
        "city": ["Paris", "Lyon"],
    }


def test_edit_refuses_invalid_values_and_keeps_them_in_the_form(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    form = _edit_form(coordinator_client, event["id"])
    form.update(title="New name", ends_at_date="2027-02-27", ends_at_time="10:00")
    response = coordinator_client.post(f"/admin/events/{event['id']}/edit", data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "End: the event cannot end before it starts." in page
    assert 'value="New name"' in page
    assert store.get(event["id"])["title"] == event["title"]
    assert entries(app) == []


def test_edit_refuses_when_someone_else_changed_the_event(
    coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    form = _edit_form(coordinator_client, event["id"])
    change(store, event["id"], {"city": "Marseille"})  # another coordinator, the same second
    form["title"] = "Stale edit"
    response = coordinator_client.post(f"/admin/events/{event['id']}/edit", data=form)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Someone changed this event while you were looking at it." in page
    assert store.get(event["id"])["title"] == event["title"]
    assert store.get(event["id"])["city"] == "Marseille"
    # What the person typed is kept in the form, the event as it is now shown beside it.
    assert 'value="Stale edit"' in page
    assert '<td dir="auto">Marseille</td><td dir="auto">Paris</td>' in page
    assert '<td dir="auto">Light up the town hall</td><td dir="auto">Stale edit</td>' in page
    # Saving the same form again (now carrying the new version) keeps the person's version.
    again = _edit_form_from(page)
    assert again["version"] == store.get(event["id"])["version"]
    saved = coordinator_client.post(f"/admin/events/{event['id']}/edit", data=again)
    assert saved.status_code == 303
    assert (store.get(event["id"])["title"], store.get(event["id"])["city"]) == (
        "Stale edit",
        "Paris",
    )


def test_an_edit_with_a_year_before_1000_is_refused_and_the_file_stays_valid(
    coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    form = _edit_form(coordinator_client, event["id"])
    form.update(starts_at_date="0999-02-28", ends_at_date="0999-02-28")
    response = coordinator_client.post(f"/admin/events/{event['id']}/edit", data=form)
    assert response.status_code == 400
    assert (
        "Start: “0999-02-28” is not a date we can read; give a date such as 28/02/2027."
        in response.get_data(as_text=True)
    )
    assert EventStore(store.data_dir).problems() == [] or all(
        not problem.damage for problem in EventStore(store.data_dir).problems()
    )


@pytest.mark.parametrize("action", ["approve", "reject", "place"])
def test_an_action_without_a_version_is_400(
    coordinator_client: FlaskClient, store: EventStore, action: str
):
    event = pending(store)
    data = {
        "csrf_token": token(coordinator_client),
        "reason": "Spam",
        "latitude": "1",
        "longitude": "1",
    }
    response = coordinator_client.post(f"/admin/events/{event['id']}/{action}", data=data)
    assert response.status_code == 400
    assert "does not say which version" in response.get_data(as_text=True)
    assert store.get(event["id"])["status"] == "pending"


def test_edit_without_a_version_is_refused(coordinator_client: FlaskClient, store: EventStore):
    event = pending(store)
    form = _edit_form(coordinator_client, event["id"])
    del form["version"]
    form["title"] = "No version"
    response = coordinator_client.post(f"/admin/events/{event['id']}/edit", data=form)
    assert response.status_code == 400
    assert "does not say which version of the event you saw" in response.get_data(as_text=True)
    assert store.get(event["id"])["title"] == event["title"]


@pytest.mark.parametrize("action", ["approve", "reject", "place"])
def test_an_action_on_an_event_changed_meanwhile_is_409(
    app: Flask, coordinator_client: FlaskClient, store: EventStore, action: str
):
    # The organiser swapped the content in after the coordinator loaded the queue.
    event = pending(store)
    change(store, event["id"], {"title": "Swapped-in content"})
    data = {
        "csrf_token": token(coordinator_client),
        "version": event["version"],
        "reason": "Spam",
        "latitude": "45.764",
        "longitude": "4.8357",
        "next": "/admin/",
    }
    response = coordinator_client.post(f"/admin/events/{event['id']}/{action}", data=data)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Swapped-in content" in page and "Nothing was saved." in page
    stored = store.get(event["id"])
    assert (stored["status"], stored["latitude"]) == ("pending", event["latitude"])
    assert entries(app) == [] or all(e.action == "edit" and e.who == "test" for e in entries(app))
    if action == "reject":
        assert ">Spam</textarea>" in page  # the typed reason is kept


def test_place_an_unplaced_event(app: Flask, coordinator_client: FlaskClient, store: EventStore):
    event = pending(
        store, latitude="", longitude="", location_precision="none", timezone="", city=""
    )
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/place",
        data={
            "csrf_token": token(coordinator_client),
            "latitude": "45.764",
            "longitude": "4.8357",
            "version": event["version"],
        },
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "Placed the event on the map: its times are in Europe/Paris." in page
    stored = store.get(event["id"])
    assert (stored["latitude"], stored["longitude"]) == ("45.764000", "4.835700")
    assert (stored["location_precision"], stored["location_source"]) == ("manual", "coordinator")
    assert stored["timezone"] == "Europe/Paris"
    [entry] = entries(app)
    assert entry.action == "place"
    assert entry.changes["latitude"] == ["", "45.764000"]
    assert entry.changes["location_precision"] == ["none", "manual"]


@pytest.mark.parametrize(("latitude", "longitude"), [("", ""), ("91", "0"), ("0", "abc")])
def test_place_refuses_a_point_off_the_map(
    coordinator_client: FlaskClient, store: EventStore, latitude: str, longitude: str
):
    event = pending(store, latitude="", longitude="", location_precision="none")
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/place",
        data={
            "csrf_token": token(coordinator_client),
            "latitude": latitude,
            "longitude": longitude,
            "version": event["version"],
        },
        follow_redirects=True,
    )
    assert "Location: click on the map to choose a place." in response.get_data(as_text=True)
    assert store.get(event["id"])["latitude"] == ""


def test_bulk_approve(app: Flask, coordinator_client: FlaskClient, store: EventStore):
    first, second, third = (pending(store, title=f"Event {n}") for n in range(3))
    response = coordinator_client.post(
        "/admin/approve",
        data={
            "csrf_token": token(coordinator_client),
            "ids": [first["id"], second["id"]],
            **versions(first, second),
        },
        follow_redirects=True,
    )
    assert "Approved 2 events." in response.get_data(as_text=True)
    statuses = [store.get(event["id"])["status"] for event in (first, second, third)]
    assert statuses == ["approved", "approved", "pending"]
    assert {entry.event_id for entry in entries(app)} == {first["id"], second["id"]}


def test_bulk_approve_is_all_or_nothing(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    good = pending(store, title="Good")
    bad = pending(store, title="Bad", website="not a url")
    response = coordinator_client.post(
        "/admin/approve",
        data={
            "csrf_token": token(coordinator_client),
            "ids": [good["id"], bad["id"]],
            **versions(good, bad),
        },
        follow_redirects=True,
    )
    assert "Bad: Website: give a full address" in response.get_data(as_text=True)
    assert store.get(good["id"])["status"] == "pending"
    assert entries(app) == []


def test_bulk_approve_applies_the_fresh_and_lists_the_stale(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    fresh, stale = pending(store, title="Fresh"), pending(store, title="Stale")
    change(store, stale["id"], {"description": "Changed after the queue was loaded."})
    response = coordinator_client.post(
        "/admin/approve",
        data={
            "csrf_token": token(coordinator_client),
            "ids": [fresh["id"], stale["id"]],
            **versions(fresh, stale),
        },
    )
    assert response.status_code == 303
    page = coordinator_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Approved 1 event." in page
    assert "Not approved, because they changed since you loaded the page: “Stale”." in page
    assert store.get(fresh["id"])["status"] == "approved"
    assert store.get(stale["id"])["status"] == "pending"


def test_bulk_approve_needs_a_tick(coordinator_client: FlaskClient):
    response = coordinator_client.post(
        "/admin/approve", data={"csrf_token": token(coordinator_client)}, follow_redirects=True
    )
    assert "Tick at least one event to approve." in response.get_data(as_text=True)


def test_events_list_filters_by_status_and_search(
    coordinator_client: FlaskClient, store: EventStore
):
    store.add_many(
        [
            make_event(title="Approved walk in Zürich", city="Zürich", country="CH"),
            make_event(title="Pending walk", status="pending"),
            make_event(title="Rejected talk", status="rejected", category="talk"),
        ]
    )
    everything = coordinator_client.get("/admin/events").get_data(as_text=True)
    assert all(t in everything for t in ("Approved walk", "Pending walk", "Rejected talk"))
    walks = coordinator_client.get("/admin/events?q=walk").get_data(as_text=True)
    assert "Rejected talk" not in walks and "Pending walk" in walks
    pending_only = coordinator_client.get("/admin/events?status=pending").get_data(as_text=True)
    assert "Pending walk" in pending_only and "Approved walk" not in pending_only
    accent = coordinator_client.get("/admin/events?q=zurich").get_data(as_text=True)
    assert "Approved walk in Zürich" in accent and "Pending walk" not in accent
    bad = coordinator_client.get("/admin/events?status=lost").get_data(as_text=True)
    assert "Status: unknown value lost." in bad


def test_events_list_is_paged(coordinator_client: FlaskClient, store: EventStore):
    store.add_many(
        make_event(title=f"Event {n:02d}", starts_at=f"2027-02-{1 + n % 28:02d}T10:00")
        for n in range(30)
    )
    first = coordinator_client.get("/admin/events").get_data(as_text=True)
    second = coordinator_client.get("/admin/events?page=2").get_data(as_text=True)
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    titles = re.findall(r">(Event \d\d)</a>", first) + re.findall(r">(Event \d\d)</a>", second)
    assert sorted(titles) == [f"Event {n:02d}" for n in range(30)]


def test_audit_page_is_newest_first_and_paged(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    for n in range(55):
        current = store.get(event["id"])
        store.update(
            event["id"],
            {"title": f"new {n}"},
            expected=current["version"],
            audit=Audit("ana", "edit"),
        )
    first = coordinator_client.get("/admin/audit").get_data(as_text=True)
    assert first.index("“new 53” → “new 54”") < first.index("“new 52” → “new 53”")
    assert first.count("<li><time>") == 50 or "Page 1 of 2" in first
    second = coordinator_client.get("/admin/audit?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second
    assert "“Light up the town hall” → “new 0”" in second


def test_audit_log_lives_in_the_data_directory(app: Flask, coordinator_client, store, data_dir):
    event = pending(store)
    coordinator_client.post(
        f"/admin/events/{event['id']}/approve",
        data={"csrf_token": token(coordinator_client), "version": event["version"]},
    )
    text = (data_dir / "audit.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "id,time,who,event_id,action,changes,version,batch"
    assert f"{COORDINATOR_NAME},{event['id']},approve" in text


def test_a_coordinator_may_keep_an_ended_event_with_a_warning(
    coordinator_client: FlaskClient, store: EventStore
):
    from mapapp.events import current_edition, edition_date

    past = edition_date(current_edition() - 1)
    event = pending(store)
    form = _edit_form(coordinator_client, event["id"])
    form.update(
        starts_at_date=f"{past}",
        starts_at_time="10:00",
        ends_at_date=f"{past}",
        ends_at_time="12:00",
    )
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/edit", data=form, follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert "Saved the event." in page
    assert (
        f"This event ended on {past.day} {past:%B %Y}: it is kept, as coordinators may add the "
        "past events of a recent edition."
    ) in page
    assert store.get(event["id"])["starts_at"] == f"{past}T10:00"


def outbox(app: Flask) -> list[dict]:
    """Return the messages queued for organisers."""
    from mapapp import mail

    with app.app_context():
        return mail.queued()


def test_approving_queues_the_approved_message_once(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    for _ in range(2):  # the second approval changes nothing and tells nobody
        current = store.get(event["id"])
        coordinator_client.post(
            f"/admin/events/{event['id']}/approve",
            data={"csrf_token": token(coordinator_client), "version": current["version"]},
        )

    [row] = outbox(app)
    assert (row["kind"], row["to"], row["event_id"]) == (
        "approved",
        "organiser@example.org",
        event["id"],
    )
    assert row["context"]["event_url"] == f"http://localhost/events/{event['id']}"
    assert coordinator_client.get(f"/events/{event['id']}").status_code == 200


def test_bulk_approval_tells_the_organisers_of_the_events_it_approved(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    fresh = pending(store, title="Fresh", contact_email="fresh@example.org")
    stale = pending(store, title="Stale", contact_email="stale@example.org")
    change(store, stale["id"], {"description": "Changed after the queue was loaded."})
    coordinator_client.post(
        "/admin/approve",
        data={
            "csrf_token": token(coordinator_client),
            "ids": [fresh["id"], stale["id"]],
            **versions(fresh, stale),
        },
    )

    assert [(row["kind"], row["to"]) for row in outbox(app)] == [("approved", "fresh@example.org")]


def test_an_event_without_a_contact_address_is_approved_without_a_message(
    app: Flask, coordinator_client: FlaskClient, store: EventStore, caplog
):
    event = pending(store, contact_email="")  # imported from a list without addresses
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/approve",
        data={"csrf_token": token(coordinator_client), "version": event["version"]},
    )

    assert response.status_code == 303
    assert store.get(event["id"])["status"] == "approved"
    assert outbox(app) == []
    assert "could not be queued" not in caplog.text


def test_rejecting_sends_the_reason_and_an_edit_link_that_works(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    coordinator_client.post(
        f"/admin/events/{event['id']}/reject",
        data={
            "csrf_token": token(coordinator_client),
            "reason": "Please give the venue's address.",
            "version": event["version"],
        },
    )

    [row] = outbox(app)
    assert (row["kind"], row["event_id"]) == ("rejected", event["id"])
    assert row["context"]["reason"] == "Please give the venue's address."
    link = row["context"]["edit_url"]
    assert link.startswith("http://localhost/edit/")
    coordinator_client.post("/admin/sign-out")
    page = coordinator_client.get(link.removeprefix("http://localhost"))
    assert page.status_code == 200
    assert "Light up the town hall" in page.get_data(as_text=True)


def test_a_stale_rejection_stores_no_link_and_sends_nothing(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    changed = change(store, event["id"], {"description": "Changed meanwhile."})
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/reject",
        data={
            "csrf_token": token(coordinator_client),
            "reason": "Duplicate.",
            "version": event["version"],
        },
    )

    assert response.status_code == 409
    assert store.get(event["id"]) == changed
    assert outbox(app) == []
