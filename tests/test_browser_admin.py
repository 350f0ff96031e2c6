"""The coordinators' pages in chromium: sign in, approve, reject, place by clicking, dashboard map."""

from __future__ import annotations

from pathlib import Path
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


PHONE = {"width": 390, "height": 844}
AXE_SCRIPT = "node_modules/axe-core/axe.min.js"


def test_on_a_phone_no_page_is_wider_than_the_screen_and_the_queue_passes_axe(
    app: Flask, store: EventStore, live_server: str, page: Any
) -> None:
    """At 390 px the wide tables scroll in their own region, never the whole page sideways.

    A queue card's long description is shown in full: a scroll box of its own would be a region
    a keyboard cannot reach (axe's scrollable-region-focusable, serious).
    """
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    long_text = " ".join(["A long description of the event, line after line."] * 40)
    store.add(make_event(status="pending", title="Long description", description=long_text))
    store.add(make_event(status="approved", title="Approved already"))
    page.set_viewport_size(PHONE)
    _sign_in(page, live_server)
    for path in ("/admin/", "/admin/events", "/admin/accounts", "/admin/audit", "/admin/stats"):
        page.goto(f"{live_server}{path}")
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], (path, widths)
    wide = page.locator(".wide-table")
    page.goto(f"{live_server}/admin/events")
    assert wide.get_attribute("role") == "region" and wide.get_attribute("tabindex") == "0"
    page.goto(f"{live_server}/admin/")
    axe = (Path(__file__).resolve().parent.parent / AXE_SCRIPT).read_text(encoding="utf-8")
    # Evaluated rather than added as a script tag, so the page's strict CSP stays in force.
    page.evaluate("() => {" + axe + "\n;window.axe = axe;}")
    found = page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)"
    )
    assert found == []
    assert page.page_errors == []
