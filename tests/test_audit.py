"""The audit log (mapapp.audit, /admin/audit and /admin/audit.csv): titles, filters, export, scope."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp.access import ADMIN, NATIONAL, VIEWER
from mapapp.storage import Audit, EventStore
from tests.conftest import add_valid_event

TODAY = datetime.now(UTC).date()
HEADER = "When (UTC),Who,Event id,Event title,Action,What changed"


def change(store: EventStore, event_id: str, changes: dict[str, str], who: str, action: str):
    """Change an event at its current version, as a coordinator called who."""
    current = store.get(event_id)
    assert current is not None
    return store.update(event_id, changes, expected=current["version"], audit=Audit(who, action))


@pytest.fixture
def logged(app: Flask, store: EventStore) -> dict[str, dict[str, str]]:
    """Store a French and a German event and a few coordinators' changes to them."""
    with app.app_context():
        french = add_valid_event(store, status="pending", title="Lumière à Lyon", city="Lyon")
        german = add_valid_event(
            store,
            status="pending",
            title="Lichter in Berlin",
            city="Berlin",
            country="DE",
            timezone="Europe/Berlin",
            latitude="52.52",
            longitude="13.40",
        )
        change(store, french["id"], {"status": "approved"}, "ana", "approve")
        change(store, french["id"], {"title": "Lumière sur Lyon"}, "ana", "edit")
        change(store, german["id"], {"category": "talk"}, "bob", "edit")
    return {"french": french, "german": german}


def rows_of(response: Any) -> list[list[str]]:
    """Return the rows of a CSV download (without its byte order mark)."""
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))


def test_entries_show_titles_and_readable_changes(
    client_as: Callable[..., FlaskClient], logged: dict[str, dict[str, str]]
) -> None:
    page = client_as(ADMIN).get("/admin/audit").get_data(as_text=True)
    french_id = logged["french"]["id"]
    assert f'<a href="/admin/events/{french_id}/edit" dir="auto">Lumière sur Lyon</a>' in page
    assert "Lichter in Berlin" in page
    assert "<strong>Status</strong>: “Pending review” → “Approved”" in page
    assert "<strong>Title</strong>: “Lumière à Lyon” → “Lumière sur Lyon”" in page
    assert "<strong>Category</strong>: “Light up for Rare” → “Talk or conference”" in page
    assert "&#34;" not in page and "{&#" not in page and '{"' not in page  # never raw JSON


def test_an_erased_event_says_so(
    app: Flask,
    store: EventStore,
    client_as: Callable[..., FlaskClient],
    logged: dict[str, dict[str, str]],
) -> None:
    german_id = logged["german"]["id"]
    with app.app_context():
        store.erase(german_id, who="ana")
    admin = client_as(ADMIN)
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "<em>This event was erased with its personal data.</em>" in page
    assert f'href="/admin/events/{german_id}/edit"' not in page
    assert "Lichter in Berlin" not in page
    rows = rows_of(admin.get("/admin/audit.csv", query_string={"event": german_id}))
    assert [row[3:5] for row in rows[1:]] == [
        ["This event was erased with its personal data.", "Erased with its personal data"],
        ["This event was erased with its personal data.", "Edited"],
        ["This event was erased with its personal data.", "Submitted"],
    ]
    assert {row[5] for row in rows[1:]} == {"Values erased with the event."}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"who": "ana"}, [("ana", "edit"), ("ana", "approve")]),
        ({"who": "ANA", "action": "approve"}, [("ana", "approve")]),
        ({"action": "edit"}, [("bob", "edit"), ("ana", "edit")]),
        ({"event": "berlin"}, [("bob", "edit"), ("system", "submit")]),  # words of the title
        ({"event": "lichter in", "who": "bob"}, [("bob", "edit")]),
        ({"from": TODAY.isoformat(), "who": "bob"}, [("bob", "edit")]),
        ({"to": TODAY.isoformat(), "who": "bob"}, [("bob", "edit")]),
        ({"from": (TODAY + timedelta(days=1)).isoformat()}, []),
        ({"to": (TODAY - timedelta(days=1)).isoformat()}, []),
    ],
)
def test_each_filter_keeps_its_entries_in_the_page_and_the_csv(
    client_as: Callable[..., FlaskClient],
    logged: dict[str, dict[str, str]],
    query: dict[str, str],
    expected: list[tuple[str, str]],
) -> None:
    admin = client_as(ADMIN)
    page = admin.get("/admin/audit", query_string=query)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f'<span class="count">({len(expected)})</span>' in body
    if not expected:
        assert "No entry matches these filters." in body
    rows = rows_of(admin.get("/admin/audit.csv", query_string=query))
    actions = {"edit": "Edited", "approve": "Approved", "submit": "Submitted"}
    assert [(row[1], row[4]) for row in rows[1:]] == [
        (who, actions[action]) for who, action in expected
    ]


def test_the_event_filter_takes_an_id(
    client_as: Callable[..., FlaskClient], logged: dict[str, dict[str, str]]
) -> None:
    french_id = logged["french"]["id"]
    rows = rows_of(client_as(ADMIN).get("/admin/audit.csv", query_string={"event": french_id}))
    assert [row[2] for row in rows[1:]] == [french_id] * 3


def test_paging_links_and_the_export_link_keep_the_filters(
    store: EventStore, client_as: Callable[..., FlaskClient], logged: dict[str, dict[str, str]]
) -> None:
    for n in range(55):
        change(store, logged["french"]["id"], {"title": f"Lyon {n}"}, "ana", "edit")
    admin = client_as(ADMIN)
    first = admin.get("/admin/audit?who=ana&action=edit").get_data(as_text=True)
    assert "Page 1 of 2" in first
    assert 'href="/admin/audit?page=2&amp;who=ana&amp;action=edit"' in first
    assert 'href="/admin/audit.csv?who=ana&amp;action=edit"' in first
    second = admin.get("/admin/audit?page=2&who=ana&action=edit").get_data(as_text=True)
    assert "Page 2 of 2" in second
    assert "<strong>Title</strong>: “Lumière à Lyon” → “Lumière sur Lyon”" in second
    assert "Approved" not in second.split("<tbody>")[1]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "28/02/2027"}, "From: give a day as YYYY-MM-DD, such as 2027-02-01."),
        ({"to": "2027-02-30"}, "To: give a day as YYYY-MM-DD, such as 2027-02-28."),
        (
            {"from": "2027-03-01", "to": "2027-02-01"},
            "Dates: the first day comes after the last; swap them or change one.",
        ),
        ({"action": "delete"}, "Action: choose one of the actions in the list."),
        ({"event": "x" * 201}, "Event: keep it under 200 characters."),
    ],
)
def test_a_filter_that_cannot_be_used_gets_400_with_its_message(
    client_as: Callable[..., FlaskClient],
    logged: dict[str, dict[str, str]],
    query: dict[str, str],
    message: str,
) -> None:
    admin = client_as(ADMIN)
    page = admin.get("/admin/audit", query_string=query)
    assert page.status_code == 400
    assert f"<li>{message}</li>" in page.get_data(as_text=True)
    export = admin.get("/admin/audit.csv", query_string=query, headers={"Accept": "text/html"})
    assert export.status_code == 400
    assert message in export.get_data(as_text=True)


def test_the_csv_export_has_its_header_and_neutralised_cells(
    app: Flask, store: EventStore, client_as: Callable[..., FlaskClient]
) -> None:
    with app.app_context():
        event = add_valid_event(store, status="pending", title='=HYPERLINK("http://x")')
        change(store, event["id"], {"organiser": "@SUM(1+1)"}, "ana", "edit")
        change(store, event["id"], {"city": "Lille"}, "-bob", "edit")
    response = client_as(ADMIN).get("/admin/audit.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    day = TODAY.isoformat()
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=rare-disease-day-audit-{day}.csv"
    )
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff" + HEADER + "\r\n")
    rows = rows_of(response)
    assert rows[0] == HEADER.split(",")
    by_bob, edited, submitted = rows[1], rows[2], rows[3]
    assert by_bob[1:] == [
        "'-bob",
        event["id"],
        '\'=HYPERLINK("http://x")',
        "Edited",
        "City: “Paris” → “Lille”",
    ]
    assert edited[1:] == [
        "ana",
        event["id"],
        '\'=HYPERLINK("http://x")',
        "Edited",
        "Organiser: “Test organiser” → “@SUM(1+1)”",
    ]
    assert submitted[1:5] == ["system", event["id"], '\'=HYPERLINK("http://x")', "Submitted"]
    assert datetime.strptime(edited[0], "%Y-%m-%dT%H:%M:%SZ").date() == TODAY


def test_a_national_coordinator_sees_only_their_countries_entries(
    client_as: Callable[..., FlaskClient], logged: dict[str, dict[str, str]]
) -> None:
    national = client_as(NATIONAL, {"FR"})
    page = national.get("/admin/audit").get_data(as_text=True)
    assert "Lumière sur Lyon" in page
    assert "Lichter in Berlin" not in page and logged["german"]["id"] not in page
    assert '<option value="bob">' not in page  # who filter: only those in the scope
    rows = rows_of(national.get("/admin/audit.csv"))
    assert {row[2] for row in rows[1:]} == {logged["french"]["id"]}
    # Asking for the other country's event by id finds nothing.
    none = national.get("/admin/audit.csv", query_string={"event": logged["german"]["id"]})
    assert rows_of(none) == [HEADER.split(",")]


@pytest.mark.parametrize("url", ["/admin/audit", "/admin/audit.csv"])
def test_a_viewer_cannot_read_the_audit_log(
    client_as: Callable[..., FlaskClient], logged: dict[str, dict[str, str]], url: str
) -> None:
    response = client_as(VIEWER).get(url)
    assert response.status_code == 403
    assert "Your account cannot read the audit log." in response.get_data(as_text=True)
    assert logged["french"]["id"] not in response.get_data(as_text=True)
