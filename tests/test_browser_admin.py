"""The coordinators' pages in chromium: sign in, approve, reject, place by clicking, dashboard map."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from mapapp import audit, coordinators
from mapapp.geocoding import timezone_at
from mapapp.storage import EventStore
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, make_event

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Serve the maps without tiles (country outlines only): tests never reach the internet."""
    return {**app_config, "TILES": "none"}


def _sign_in(page: Any, live_server: str) -> None:
    """Sign in through the real form, starting from a protected page."""
    page.goto(f"{live_server}/admin/")
    assert urlsplit(page.url).path == "/admin/sign-in"
    page.get_by_label("Name").fill(COORDINATOR_NAME)
    page.get_by_label("Password").fill(COORDINATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/admin/")


def test_moderation_flow(app: Flask, store: EventStore, live_server: str, page: Any) -> None:
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    to_approve = store.add(make_event(status="pending", title="Approve me"))
    to_reject = store.add(make_event(status="pending", title="Reject me"))
    to_place = store.add(
        make_event(
            status="pending",
            title="Place me",
            latitude="",
            longitude="",
            location_precision="none",
            timezone="",
        )
    )
    _sign_in(page, live_server)

    approve_card = page.locator(f"#event-{to_approve['id']}")
    approve_card.get_by_role("button", name="Approve").click()
    page.get_by_text("Approved the event.").wait_for()
    assert page.locator(f"#event-{to_approve['id']}").count() == 0
    assert store.get(to_approve["id"])["status"] == "approved"
    response = page.request.get(f"{live_server}/api/events.geojson")
    assert to_approve["id"] in response.text()

    reject_card = page.locator(f"#event-{to_reject['id']}")
    reject_card.get_by_label("Reason for rejecting").fill("Not a Rare Disease Day event")
    reject_card.get_by_role("button", name="Reject").click()
    page.get_by_text("Rejected the event.").wait_for()
    rejected = store.get(to_reject["id"])
    assert (rejected["status"], rejected["moderation_note"]) == (
        "rejected",
        "Not a Rare Disease Day event",
    )

    place_card = page.locator(f"#event-{to_place['id']}")
    button = place_card.get_by_role("button", name="Place here")
    assert button.is_disabled()
    mini_map = place_card.locator("[data-mini-map]")
    mini_map.locator("path.leaflet-interactive, svg path").first.wait_for(state="attached")
    box = mini_map.bounding_box()
    mini_map.click(position={"x": box["width"] / 2 + 20, "y": box["height"] / 2 - 10})
    assert place_card.locator(".leaflet-marker-icon").count() == 1
    assert "New place:" in place_card.locator(".place-hint").inner_text()
    button.click()
    page.get_by_text("Placed the event on the map: its times are in").wait_for()
    placed = store.get(to_place["id"])
    latitude, longitude = float(placed["latitude"]), float(placed["longitude"])
    # The map opened on the event's town (Paris), and the click was right of and above its centre.
    assert 48.85 < latitude < 49.0 and 2.35 < longitude < 2.6
    assert (placed["location_precision"], placed["location_source"]) == ("manual", "coordinator")
    assert placed["timezone"] == timezone_at(latitude, longitude) != ""

    with app.app_context():
        actions = [(e.event_id, e.action, e.who) for e in audit.page(1, 10).entries]
    # Newest first: the three coordinator actions, then the three events' creation.
    assert actions[:3] == [
        (to_place["id"], "place", COORDINATOR_NAME),
        (to_reject["id"], "reject", COORDINATOR_NAME),
        (to_approve["id"], "approve", COORDINATOR_NAME),
    ]
    assert sorted(actions[3:]) == sorted(
        (event["id"], "submit", "system") for event in (to_approve, to_reject, to_place)
    )
    page.goto(f"{live_server}/admin/audit")
    assert page.locator("table.audit tbody tr").count() == 6

    assert page.page_errors == []
    assert all(url.startswith(live_server) for url in page.requested_urls)


def test_bulk_approve_with_tick_all(
    app: Flask, store: EventStore, live_server: str, page: Any
) -> None:
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    events = store.add_many(make_event(status="pending", title=f"Event {n}") for n in range(3))
    _sign_in(page, live_server)
    page.get_by_label("Tick all on this page").check()
    page.get_by_role("button", name="Approve the ticked events").click()
    page.get_by_text("Approved 3 events.").wait_for()
    assert [store.get(event["id"])["status"] for event in events] == ["approved"] * 3
    assert page.get_by_text("No events are waiting for review.").is_visible()
    assert page.page_errors == []


def test_dashboard_draws_the_choropleth(
    app: Flask, store: EventStore, live_server: str, page: Any
) -> None:
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    store.add_many([make_event(), make_event(country="BR", city="Recife")])
    _sign_in(page, live_server)
    page.goto(f"{live_server}/admin/stats")
    page.locator("#choropleth[data-ready='true']").wait_for()
    shapes = page.locator("#choropleth path.leaflet-interactive")
    assert shapes.count() > 150
    shaded = page.locator("#choropleth path[fill='#6a1b9a']")
    assert shaded.count() >= 2  # France (and its overseas parts) and Brazil, the darkest shade
    assert page.locator("#by-country tbody tr").count() == 2
    assert page.page_errors == []
    assert all(url.startswith(live_server) for url in page.requested_urls)
