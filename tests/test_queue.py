"""The review queue and the events list: filters, search by country names, sort, paging, scope,
the in-place (JSON) answers of the moderation routes, the way back after a full post, bulk reject."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import access, event_text, filters, review_queue
from mapapp.access import NATIONAL, VIEWER, Scope
from mapapp.events import FIELDS
from mapapp.storage import EventStore
from tests.conftest import change, make_event

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
JSON = {"Accept": "application/json"}

SPAIN = {"country": "ES", "city": "Sevilla", "timezone": "Europe/Madrid", "venue": "Giralda"}
MALAYSIA = {
    "country": "MY",
    "city": "Sandakan",
    "venue": "",
    "timezone": "Asia/Kuching",
    "format": "online",
    "latitude": "",
    "longitude": "",
    "location_precision": "none",
}


def frame_of(*rows: dict[str, str]) -> pd.DataFrame:
    """Return a store-like frame of events."""
    return pd.DataFrame([[row.get(name, "") for name in FIELDS] for row in rows], columns=FIELDS)


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = [
        make_event(id="paris001", title="Light up Paris", status="pending",
                   created_at="2027-01-10T09:00:00Z"),
        make_event(id="sevilla1", title="Caminata por las enfermedades raras", status="pending",
                   category="sport", created_at="2027-01-05T09:00:00Z",
                   starts_at="2027-02-27T10:00", ends_at="", **SPAIN),
        make_event(id="madrid01", title="Charla", status="pending", category="talk",
                   created_at="2027-01-20T09:00:00Z", starts_at="2027-02-26T18:00", ends_at="",
                   country="ES", city="Madrid", timezone="Europe/Madrid"),
        make_event(id="essen001", title="Essen walk", status="pending", country="DE",
                   city="Essen", description="Lesen, essen und Spaß", timezone="Europe/Berlin",
                   created_at="2027-01-15T09:00:00Z"),
        make_event(id="sandakan", title="Webinar from Borneo", status="pending",
                   created_at="2027-01-12T09:00:00Z", category="online", **MALAYSIA),
        make_event(id="approved", title="Published Spanish walk", country="ES",
                   created_at="2027-01-01T09:00:00Z"),
    ]  # fmt: skip
    return frame_of(*rows)


def queue_ids(frame: pd.DataFrame, args: dict[str, Any]) -> list[str]:
    query = review_queue.parse_query(args)
    assert query.errors == {}
    return list(review_queue.pending_events(frame, query)["id"])


# Search by country names, codes, towns and organisers (mapapp.filters)


@pytest.mark.parametrize(
    "words",
    ["Spain", "spain", "Espagne", "España", "espana", "Spanien", "Spagna", "Hiszpania",
     "إسبانيا", "西班牙", "Reino de España", "ES", "es", "ESP"],
)  # fmt: skip
def test_search_finds_a_countrys_events_by_its_names_in_many_languages(
    frame: pd.DataFrame, words: str
) -> None:
    assert queue_ids(frame, {"q": words}) == ["sevilla1", "madrid01"]


def test_an_iso_code_finds_that_country_only_not_every_text_holding_its_letters(
    frame: pd.DataFrame,
) -> None:
    # "Essen", "Lesen, essen" and "Light up the town hall" hold "es"; "DE" is Germany only.
    assert queue_ids(frame, {"q": "es"}) == ["sevilla1", "madrid01"]
    assert queue_ids(frame, {"q": "DE"}) == ["essen001"]
    assert queue_ids(frame, {"q": "UK"}) == []
    assert queue_ids(frame, {"q": "essen"}) == ["essen001"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("Sandakan", ["sandakan"]),  # a town
        ("Sandakan Malaysia", ["sandakan"]),  # a town and its country
        ("Malaisie", ["sandakan"]),
        ("Sevilla Francia", []),  # every word must match
        ("Test organiser", ["sevilla1", "paris001", "sandakan", "essen001", "madrid01"]),
        ("Deutschland", ["essen001"]),
        ("Allemagne", ["essen001"]),
        ("spass", ["essen001"]),  # case folding writes ß as ss
        ("SPASS", ["essen001"]),
    ],
)
def test_search_combines_towns_organisers_and_countries(
    frame: pd.DataFrame, words: str, expected: list[str]
) -> None:
    assert queue_ids(frame, {"q": words}) == expected


def test_country_names_are_built_once_per_process() -> None:
    assert filters.country_names() is filters.country_names()
    assert filters.countries_named("Espagne") == frozenset({"ES"})
    assert filters.countries_named("guinea") == frozenset({"GN", "GQ", "GW", "PG"})
    # Three letters must be a whole word of a name ("tea" is not the Irish "An Téalainn").
    assert filters.countries_named("tea") == frozenset()


# Filters, sort, paging


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, ["sevilla1", "paris001", "sandakan", "essen001", "madrid01"]),  # oldest first
        ({"country": ["ES", "DE"]}, ["sevilla1", "essen001", "madrid01"]),  # a multiple choice
        ({"country": "es,de"}, ["sevilla1", "essen001", "madrid01"]),  # as paging links write it
        ({"category": "sport"}, ["sevilla1"]),
        ({"format": "online"}, ["sandakan"]),
        ({"year": "2027"}, ["sevilla1", "paris001", "sandakan", "essen001", "madrid01"]),
        ({"year": "2026"}, []),
        ({"submitted_from": "2027-01-11"}, ["sandakan", "essen001", "madrid01"]),
        ({"submitted_to": "2027-01-10"}, ["sevilla1", "paris001"]),
        ({"submitted_from": "2027-01-11", "submitted_to": "2027-01-15"}, ["sandakan", "essen001"]),
        ({"sort": "newest"}, ["madrid01", "essen001", "sandakan", "paris001", "sevilla1"]),
        ({"sort": "start"}, ["madrid01", "sevilla1", "essen001", "paris001", "sandakan"]),
        ({"sort": "country"}, ["paris001", "essen001", "sandakan", "sevilla1", "madrid01"]),
        ({"sort": "title"}, ["sevilla1", "madrid01", "essen001", "paris001", "sandakan"]),
    ],
)
def test_queue_filters_and_sorts(frame: pd.DataFrame, args: dict, expected: list[str]) -> None:
    assert queue_ids(frame, args) == expected


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"submitted_from": "10/01/2027"}, "submitted_from",
         "Submitted from: write the date as YYYY-MM-DD."),
        ({"submitted_from": "2027-01-11", "submitted_to": "2027-01-10"}, "submitted_to",
         "Submitted until: this day is before the first day you chose."),
        ({"sort": "random"}, "sort", "Sort: choose one of the orders in the list."),
        ({"country": "XX"}, "country", "Country: unknown value XX."),
    ],
)  # fmt: skip
def test_bad_queue_parameters_are_named(args: dict, field: str, message: str) -> None:
    assert review_queue.parse_query(args).errors == {field: message}


def test_the_query_round_trips_through_the_url() -> None:
    args = {
        "country": ["ES", "DE"],
        "category": "sport",
        "year": "2027",
        "q": "Espagne",
        "submitted_from": "2027-01-02",
        "sort": "newest",
    }
    query = review_queue.parse_query(args)
    assert query.to_args() == {**args, "country": "ES,DE"}
    assert review_queue.parse_query(query.to_args()) == query
    assert review_queue.parse_query({}).to_args() == {}  # the default order is not written


def test_each_card_returns_to_the_next_one_or_the_previous_for_the_last(
    frame: pd.DataFrame,
) -> None:
    ordered = review_queue.pending_events(frame, review_queue.parse_query({}))
    first = review_queue.paginate(ordered, 1, per_page=2)
    assert [row["id"] for row in first.rows] == ["sevilla1", "paris001"]
    assert first.following == {"sevilla1": "event-paris001", "paris001": "event-sandakan"}
    last = review_queue.paginate(ordered, 9, per_page=2)  # past the end: the last page
    assert (last.number, last.pages, last.total) == (3, 3, 5)
    assert last.following == {"madrid01": "event-essen001"}
    alone = review_queue.paginate(ordered.iloc[:1], 1)
    assert alone.following == {"sevilla1": "queue-title"}


def test_cards_read_as_words_not_codes(frame: pd.DataFrame) -> None:
    by_id = {row["id"]: row for row in frame.to_dict("records")}
    paris = review_queue.card(by_id["paris001"])
    assert paris.when == "Sun 28 Feb 2027, 18:00–22:00 (Paris time)"
    assert paris.place == "Hôtel de Ville, Paris, France · In person"
    assert paris.category == "Light up for Rare"
    assert paris.submitted == "Sun 10 Jan 2027, 09:00 UTC"
    assert paris.status == "Pending review"
    borneo = review_queue.card(by_id["sandakan"])
    assert borneo.place == "Sandakan, Malaysia · Online"
    assert borneo.when == "Sun 28 Feb 2027, 18:00–22:00 (Kuching time)"
    overnight = {"starts_at": "2027-02-27T22:00", "ends_at": "2027-02-28T02:00", "timezone": ""}
    assert event_text.when_line(overnight) == (
        "Sat 27 Feb 2027, 22:00 – Sun 28 Feb 2027, 02:00 (time zone not given)"
    )
    assert event_text.zone_words("UTC") == "UTC"
    assert event_text.zone_words("America/Argentina/Buenos_Aires") == "Buenos Aires time"


def test_menus_offer_the_countries_and_editions_of_the_events(frame: pd.DataFrame) -> None:
    assert review_queue.country_choices(frame) == [
        ("FR", "France"),
        ("DE", "Germany"),
        ("MY", "Malaysia"),
        ("ES", "Spain"),
    ]
    assert 2027 in review_queue.editions(frame)


def test_a_national_coordinators_queue_holds_their_countries_only(
    app: Flask, store: EventStore
) -> None:
    store.add_many(
        [
            make_event(status="pending", title="En Sevilla", **SPAIN),
            make_event(status="pending", title="À Paris"),
        ]
    )
    with app.app_context():
        scoped = access.events(Scope("nat", NATIONAL, frozenset({"ES"}))).frame()
        query = review_queue.parse_query({"q": "France"})
        assert list(review_queue.pending_events(scoped, query)["title"]) == []
        query = review_queue.parse_query({})
        assert list(review_queue.pending_events(scoped, query)["title"]) == ["En Sevilla"]
        assert review_queue.country_choices(scoped) == [("ES", "Spain")]


# The pages


def token(client: FlaskClient, url: str = "/admin/") -> str:
    """Return the CSRF token from a signed-in page."""
    match = CSRF.search(client.get(url).get_data(as_text=True))
    assert match
    return match.group(1)


def pending(store: EventStore, **fields: str) -> dict[str, str]:
    return store.add(make_event(status="pending", **fields))


def card_titles(page: str) -> list[str]:
    """Return the titles of the queue's event cards, in order."""
    return re.findall(r'<h2 id="event-[^"]+-title" tabindex="-1"><a [^>]+>([^<]+)</a>', page)


def test_queue_page_filters_labels_and_mailto(coordinator_client: FlaskClient, store: EventStore):
    pending(store, title="Giralda lit", contact_email="sevilla@example.org", **SPAIN)
    pending(store, title="Borneo webinar", **MALAYSIA)
    page = coordinator_client.get("/admin/?q=Espagne").get_data(as_text=True)
    assert card_titles(page) == ["Giralda lit"]
    assert 'data-queue-count="1"' in page
    assert '<a href="mailto:sevilla@example.org">sevilla@example.org</a>' in page
    assert "Giralda, Sevilla, Spain · In person" in page
    assert "Sun 28 Feb 2027, 18:00–22:00 (Madrid time)" in page
    assert "Light up for Rare" in page and "illumination<" not in page
    # The filters are kept in the page's forms and its way back.
    assert 'name="next" value="/admin/?q=Espagne#queue-title"' in page
    online = coordinator_client.get("/admin/?format=online").get_data(as_text=True)
    assert card_titles(online) == ["Borneo webinar"]
    assert "Sandakan, Malaysia · Online" in online
    assert '<option value="online" selected>Online</option>' in online


def test_queue_pages_keep_the_filters_in_their_links(
    coordinator_client: FlaskClient, store: EventStore
):
    store.add_many(
        make_event(status="pending", title=f"Walk {n:02d}", created_at=f"2027-01-{n + 1:02d}T08:00:00Z", **SPAIN)
        for n in range(27)
    )  # fmt: skip
    pending(store, title="Paris walk")
    page = coordinator_client.get("/admin/?country=ES&sort=newest").get_data(as_text=True)
    assert card_titles(page)[:2] == ["Walk 26", "Walk 25"] and len(card_titles(page)) == 25
    assert 'href="/admin/?page=2&amp;country=ES&amp;sort=newest"' in page
    second = coordinator_client.get("/admin/?country=ES&sort=newest&page=2").get_data(as_text=True)
    assert card_titles(second) == ["Walk 01", "Walk 00"]
    assert 'name="next" value="/admin/?country=ES&amp;sort=newest&amp;page=2#event-' in second


def test_bad_filters_answer_400_with_the_message(coordinator_client: FlaskClient):
    response = coordinator_client.get("/admin/?submitted_from=yesterday&sort=random")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Submitted from: write the date as YYYY-MM-DD." in page
    assert "Sort: choose one of the orders in the list." in page


def test_the_waiting_changes_show_old_and_new_values(
    coordinator_client: FlaskClient, store: EventStore
):
    from mapapp import pending_changes

    event = store.add(make_event(title="Published", category="illumination"))
    proposal = pending_changes.encode(
        {"title": "Renamed", "category": "sport"}, based_on=event["version"]
    )
    change(store, event["id"], {"pending_change": proposal})
    page = coordinator_client.get("/admin/").get_data(as_text=True)
    section = page[page.index('id="waiting-changes"') :]
    rows = re.findall(
        r'<tr data-field="(\w+)"><th scope="row">([^<]+)</th><td class="before" dir="auto">([^<]+)'
        r'</td><td class="after" dir="auto">([^<]+)</td>',
        section,
    )
    assert rows == [
        ("title", "Title", "Published", "Renamed"),
        ("category", "Category", "Light up for Rare", "Sport or walk"),
    ]
    assert card_titles(page) == []
    assert (
        coordinator_client.get("/admin/?country=DE")
        .get_data(as_text=True)
        .count('data-queue-card="change"')
        == 0
    )


def post_json(client: FlaskClient, url: str, data: dict[str, str]) -> Any:
    return client.post(url, data={"csrf_token": token(client), **data}, headers=JSON)


def test_in_place_approve_answers_json_and_leaves_the_list(
    coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    response = post_json(
        coordinator_client,
        f"/admin/events/{event['id']}/approve",
        {"version": event["version"], "next": "/admin/#queue-title"},
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "ok": True,
        "message": "Approved the event.",
        "event_id": event["id"],
        "status": "approved",
        "removed": True,
        "html": "",
    }
    assert store.get(event["id"])["status"] == "approved"
    # Nothing is flashed for the next page: the script has said it already.
    assert "Approved the event." not in coordinator_client.get("/admin/").get_data(as_text=True)


def test_in_place_place_answers_the_card_as_it_is_now(
    coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store, latitude="", longitude="", location_precision="none", timezone="")
    response = post_json(
        coordinator_client,
        f"/admin/events/{event['id']}/place",
        {
            "version": event["version"],
            "latitude": "45.764",
            "longitude": "4.8357",
            "next": "/admin/?q=Paris#event-other123",
        },
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["removed"] is False
    assert body["message"] == "Placed the event on the map: its times are in Europe/Paris."
    assert body["html"].startswith(f'<li class="queue-item" id="event-{event["id"]}"')
    assert 'data-lat="45.764000"' in body["html"]
    assert 'name="next" value="/admin/?q=Paris#event-other123"' in body["html"]


@pytest.mark.parametrize(
    ("action", "data", "status", "message"),
    [
        ("reject", {"reason": "  "}, 422, "Reason: say why the event is rejected."),
        ("place", {"latitude": "91", "longitude": "0"}, 422,
         "Location: click on the map to choose a place."),
        ("approve", {"version": ""}, 400,
         "This form does not say which version of the event you saw, so nothing was saved. "
         "Reload the page and try again."),
    ],
)  # fmt: skip
def test_in_place_refusals_answer_json_and_write_nothing(
    coordinator_client: FlaskClient,
    store: EventStore,
    action: str,
    data: dict[str, str],
    status: int,
    message: str,
):
    event = pending(store)
    response = post_json(
        coordinator_client, f"/admin/events/{event['id']}/{action}", {"version": event["version"], **data}
    )  # fmt: skip
    assert response.status_code == status
    assert response.get_json()["message"] == message
    assert store.get(event["id"]) == event


def test_in_place_without_a_csrf_token_is_400(coordinator_client: FlaskClient, store: EventStore):
    event = pending(store)
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/approve", data={"version": event["version"]}, headers=JSON
    )
    assert response.status_code == 400
    assert response.get_json()["message"] == (
        "The form expired: reload the page and try again. Nothing was saved."
    )
    assert store.get(event["id"]) == event


def test_in_place_unknown_event_is_404_in_json(coordinator_client: FlaskClient):
    response = post_json(coordinator_client, "/admin/events/nosuchid/approve", {"version": "1"})
    assert response.status_code == 404
    assert response.get_json()["message"] == "There is no event with the id 'nosuchid'."


def test_in_place_lost_race_is_409_with_the_event_as_it_is_now(
    coordinator_client: FlaskClient, store: EventStore
):
    event = pending(store)
    change(store, event["id"], {"title": "Swapped-in content"})
    response = post_json(
        coordinator_client,
        f"/admin/events/{event['id']}/reject",
        {"version": event["version"], "reason": "Spam", "next": "/admin/"},
    )
    assert response.status_code == 409
    body = response.get_json()
    assert body["message"].startswith("Nothing was saved: someone changed this event")
    assert "Swapped-in content" in body["html"] and body["message"] in body["html"]
    assert store.get(event["id"])["status"] == "pending"


def test_in_place_change_review_leaves_the_list(coordinator_client: FlaskClient, store: EventStore):
    from mapapp import pending_changes

    event = store.add(make_event(title="Published"))
    proposal = pending_changes.encode({"title": "Renamed"}, based_on=event["version"])
    waiting = change(store, event["id"], {"pending_change": proposal})
    response = post_json(
        coordinator_client,
        f"/admin/events/{event['id']}/approve-change",
        {"version": waiting["version"]},
    )
    assert response.status_code == 200
    assert response.get_json()["removed"] is True
    assert store.get(event["id"])["title"] == "Renamed"


def test_a_full_post_returns_to_the_next_card_with_the_filters(
    coordinator_client: FlaskClient, store: EventStore
):
    first = pending(store, title="First", created_at="2027-01-01T08:00:00Z", **SPAIN)
    second = pending(store, title="Second", created_at="2027-01-02T08:00:00Z", **SPAIN)
    page = coordinator_client.get("/admin/?country=ES").get_data(as_text=True)
    form = page[page.index(f'action="/admin/events/{first["id"]}/approve"') :]
    next_url = re.search(r'name="next" value="([^"]+)"', form).group(1).replace("&amp;", "&")
    assert next_url == f"/admin/?country=ES#event-{second['id']}"
    response = coordinator_client.post(
        f"/admin/events/{first['id']}/approve",
        data={"csrf_token": token(coordinator_client), "version": first["version"], "next": next_url},
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/?country=ES#event-{second['id']}"
    # A way back that leaves the site, or an anchor that is not one, is not followed.
    for next_url in ("//elsewhere.example/", "/admin/#<b>"):
        other = pending(store)
        response = coordinator_client.post(
            f"/admin/events/{other['id']}/approve",
            data={
                "csrf_token": token(coordinator_client),
                "version": other["version"],
                "next": next_url,
            },
        )
        assert response.headers["Location"] == "/admin/"


def outbox(app: Flask) -> list[dict]:
    from mapapp import mail

    with app.app_context():
        return mail.queued()


def test_bulk_reject_tells_each_organiser_with_their_own_link(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    first = pending(store, title="First", contact_email="first@example.org")
    second = pending(store, title="Second", contact_email="second@example.org")
    kept = pending(store, title="Kept")
    response = coordinator_client.post(
        "/admin/reject",
        data={
            "csrf_token": token(coordinator_client),
            "ids": [first["id"], second["id"]],
            f"version-{first['id']}": first["version"],
            f"version-{second['id']}": second["version"],
            "reason": "Not a Rare Disease Day event.",
            "next": "/admin/?q=First#queue-title",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/?q=First#queue-title"
    assert "Rejected 2 events." in coordinator_client.get("/admin/").get_data(as_text=True)
    for event in (first, second):
        stored = store.get(event["id"])
        assert (stored["status"], stored["moderation_note"]) == (
            "rejected",
            "Not a Rare Disease Day event.",
        )
    assert store.get(kept["id"])["status"] == "pending"
    messages = {row["event_id"]: row for row in outbox(app)}
    assert set(messages) == {first["id"], second["id"]}
    links = {row["context"]["edit_url"] for row in messages.values()}
    assert len(links) == 2
    coordinator_client.post("/admin/sign-out")
    for event_id, row in messages.items():
        assert row["kind"] == "rejected"
        assert row["context"]["reason"] == "Not a Rare Disease Day event."
        page = coordinator_client.get(row["context"]["edit_url"].removeprefix("http://localhost"))
        assert page.status_code == 200 and store.get(event_id)["title"] in page.get_data(
            as_text=True
        )


def test_bulk_reject_skips_the_changed_and_needs_a_reason(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
):
    fresh, stale = pending(store, title="Fresh"), pending(store, title="Stale")
    change(store, stale["id"], {"description": "Changed meanwhile."})
    form = {
        "csrf_token": token(coordinator_client),
        "ids": [fresh["id"], stale["id"]],
        f"version-{fresh['id']}": fresh["version"],
        f"version-{stale['id']}": stale["version"],
    }
    page = coordinator_client.post(
        "/admin/reject", data={**form, "reason": " "}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Reason: say why the event is rejected." in page
    assert store.get(fresh["id"])["status"] == "pending" and outbox(app) == []
    page = coordinator_client.post(
        "/admin/reject", data={**form, "reason": "Duplicate."}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Rejected 1 event." in page
    assert "Not rejected, because they changed since you loaded the page: “Stale”." in page
    assert store.get(stale["id"])["status"] == "pending"
    assert [row["event_id"] for row in outbox(app)] == [fresh["id"]]


def test_bulk_reject_keeps_to_the_scope(client_as: Callable[..., FlaskClient], store: EventStore):
    spanish = pending(store, title="Spanish", **SPAIN)
    client = client_as(NATIONAL, {"FR"})
    response = client.post(
        "/admin/reject",
        data={
            "csrf_token": token(client, "/admin/account/password"),
            "ids": spanish["id"],
            f"version-{spanish['id']}": spanish["version"],
            "reason": "Not yours.",
        },
    )
    assert response.status_code == 404
    assert store.get(spanish["id"]) == spanish
    viewer = client_as(VIEWER)
    response = viewer.post(
        "/admin/reject",
        data={
            "csrf_token": token(viewer, "/admin/account/password"),
            "ids": spanish["id"],
            f"version-{spanish['id']}": spanish["version"],
            "reason": "Not yours.",
        },
    )
    assert response.status_code == 403
    assert store.get(spanish["id"]) == spanish


def test_events_list_has_the_same_filters_and_labels(
    coordinator_client: FlaskClient, store: EventStore
):
    store.add_many(
        [
            make_event(title="Sevilla published", category="sport", **SPAIN),
            make_event(title="Sevilla rejected", status="rejected", **SPAIN),
            make_event(title="Paris published"),
        ]
    )
    page = coordinator_client.get("/admin/events?q=Espagne").get_data(as_text=True)
    assert "Sevilla published" in page and "Sevilla rejected" in page
    assert "Paris published" not in page
    assert "<td>Giralda, Sevilla, Spain · In person</td>" in page
    assert "<td>Sport or walk</td>" in page
    assert '<td class="status status-rejected">Rejected</td>' in page
    only = coordinator_client.get("/admin/events?q=ES&status=approved&category=sport")
    text = only.get_data(as_text=True)
    assert "Sevilla published" in text and "Sevilla rejected" not in text
    assert "format=xlsx&amp;category=sport&amp;q=ES&amp;status=approved" in text
    online = coordinator_client.get("/admin/events?format=online").get_data(as_text=True)
    export = re.search(r'href="(/admin/export[^"]*format=csv[^"]*)"', online).group(1)
    assert export.replace("&amp;", "&") == "/admin/export?format=csv&event_format=online"
    assert coordinator_client.get(export.replace("&amp;", "&")).status_code == 200
