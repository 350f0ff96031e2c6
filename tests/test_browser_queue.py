"""The queue in chromium: filters narrow it; approve and reject in place, by mouse and by keyboard,
keep the coordinator's place (no reload, focus on the next card); a lost race shows the event now."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from mapapp import coordinators
from mapapp.storage import EventStore
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, change, make_event

pytestmark = pytest.mark.browser

SPAIN = {"country": "ES", "city": "Sevilla", "timezone": "Europe/Madrid", "venue": "Giralda"}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Serve the maps without tiles (country outlines only): tests never reach the internet."""
    return {**app_config, "TILES": "none"}


@pytest.fixture
def three(app: Flask, store: EventStore) -> list[dict[str, str]]:
    """Store three pending events, submitted a day apart (the queue's order), and a coordinator."""
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    return store.add_many(
        make_event(status="pending", title=title, created_at=f"2027-01-0{n + 1}T09:00:00Z", **extra)
        for n, (title, extra) in enumerate(
            [("Giralda lit", SPAIN), ("Paris talk", {}), ("Lyon walk", {"city": "Lyon"})]
        )
    )  # fmt: skip


def sign_in(page: Any, live_server: str, path: str = "/admin/") -> None:
    """Sign in through the real form, starting from a page of the queue."""
    page.goto(f"{live_server}{path}")
    assert urlsplit(page.url).path == "/admin/sign-in"
    page.get_by_label("Name").fill(COORDINATOR_NAME)
    page.get_by_label("Password").fill(COORDINATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}{path}")


def titles(page: Any) -> list[str]:
    """Return the titles of the event cards shown, in order."""
    return page.locator("[data-queue-card='event'] h2").all_inner_texts()


def announced(page: Any, message: str) -> None:
    """Wait until the live region says exactly this."""
    page.locator("#queue-status").filter(has_text=message).wait_for()
    assert page.locator("#queue-status").inner_text() == message


def focused_id(page: Any) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_filters_narrow_the_queue_and_stay_in_the_url(
    three: list[dict[str, str]], live_server: str, page: Any
) -> None:
    sign_in(page, live_server)
    assert titles(page) == ["Giralda lit", "Paris talk", "Lyon walk"]
    page.get_by_label("Search titles, towns, organisers and countries").fill("Espagne")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/admin/?q=Espagne**")
    assert titles(page) == ["Giralda lit"]
    assert page.locator("#queue-title").inner_text() == "Pending events (1)"
    page.get_by_label("Search titles, towns, organisers and countries").fill("")
    page.get_by_label("Countries", exact=True).select_option(["FR"])
    page.get_by_label("Order").select_option("newest")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**country=FR**")
    assert titles(page) == ["Lyon walk", "Paris talk"]
    assert page.get_by_label("Order").input_value() == "newest"
    page.get_by_role("link", name="Clear the filters").click()
    page.wait_for_url(f"{live_server}/admin/")
    assert len(titles(page)) == 3
    assert page.page_errors == []


def test_approving_in_place_removes_the_card_without_a_reload(
    three: list[dict[str, str]], store: EventStore, live_server: str, page: Any
) -> None:
    first, second, third = three
    sign_in(page, live_server)
    page.evaluate("window.marker = 1")
    page.locator(f"#event-{first['id']}").get_by_role("button", name="Approve").click()
    page.locator(f"#event-{first['id']}").wait_for(state="detached")
    assert page.evaluate("window.marker") == 1  # the same page: no reload
    assert focused_id(page) == f"event-{second['id']}-title"
    announced(page, "Approved the event.")
    assert page.locator("#queue-title").inner_text() == "Pending events (2)"
    assert store.get(first["id"])["status"] == "approved"

    # The last card of the list: focus goes back to the one before it, then to the heading.
    page.locator(f"#event-{third['id']}").get_by_role("button", name="Approve").click()
    page.locator(f"#event-{third['id']}").wait_for(state="detached")
    assert focused_id(page) == f"event-{second['id']}-title"
    page.locator(f"#event-{second['id']}").get_by_role("button", name="Approve").click()
    page.locator(f"#event-{second['id']}").wait_for(state="detached")
    assert focused_id(page) == "queue-title"
    assert page.get_by_text("No more events on this page.").is_visible()
    assert page.evaluate("window.marker") == 1
    assert page.page_errors == []
    assert all(url.startswith(live_server) for url in page.requested_urls)


def test_approving_with_the_keyboard_only(
    three: list[dict[str, str]], store: EventStore, live_server: str, page: Any
) -> None:
    first, second, _ = three
    sign_in(page, live_server)
    page.evaluate("window.marker = 1")
    page.locator(f"#event-{first['id']}-title a").focus()
    for _ in range(10):  # Tab from the title to the card's Approve button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Approve":
            break
    assert page.evaluate("document.activeElement.closest('li').id") == f"event-{first['id']}"
    page.keyboard.press("Enter")
    page.locator(f"#event-{first['id']}").wait_for(state="detached")
    assert focused_id(page) == f"event-{second['id']}-title"
    assert page.evaluate("window.marker") == 1
    assert store.get(first["id"])["status"] == "approved"
    # From the next card's heading, the keyboard goes on into that card.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('li').id") == f"event-{second['id']}"
    assert page.page_errors == []


def test_rejecting_in_place_with_a_reason(
    three: list[dict[str, str]], store: EventStore, live_server: str, page: Any
) -> None:
    first, second, _ = three
    sign_in(page, live_server)
    page.evaluate("window.marker = 1")
    card = page.locator(f"#event-{first['id']}")
    card.get_by_role("button", name="Reject").click()  # no reason: the browser asks for one
    assert store.get(first["id"])["status"] == "pending"
    card.get_by_label("Reason for rejecting").fill("Please give the venue's address.")
    card.get_by_role("button", name="Reject").click()
    card.wait_for(state="detached")
    announced(page, "Rejected the event.")
    assert focused_id(page) == f"event-{second['id']}-title"
    assert page.evaluate("window.marker") == 1
    stored = store.get(first["id"])
    assert (stored["status"], stored["moderation_note"]) == (
        "rejected",
        "Please give the venue's address.",
    )
    assert page.page_errors == []


def test_a_lost_race_shows_the_event_as_it_is_now_in_place(
    three: list[dict[str, str]], store: EventStore, live_server: str, page: Any
) -> None:
    first, _, _ = three
    sign_in(page, live_server)
    page.evaluate("window.marker = 1")
    change(store, first["id"], {"title": "Swapped-in content"})
    page.locator(f"#event-{first['id']}").get_by_role("button", name="Approve").click()
    page.get_by_role("heading", name="Swapped-in content").wait_for()
    card = page.locator(f"#event-{first['id']}")
    assert "someone changed this event" in card.locator(".card-notice").inner_text()
    # The live region says so as a failure, not in a success's green.
    assert page.locator("#queue-status").get_attribute("data-kind") == "error"
    assert focused_id(page) == f"event-{first['id']}-title"
    assert page.evaluate("window.marker") == 1
    assert store.get(first["id"])["status"] == "pending"
    # The card is the event as it is now: approving it again approves that.
    card.get_by_role("button", name="Approve").click()
    card.wait_for(state="detached")
    assert store.get(first["id"])["status"] == "approved"
    assert page.page_errors == []


def test_bulk_reject_with_one_reason(
    three: list[dict[str, str]], store: EventStore, live_server: str, page: Any
) -> None:
    first, second, third = three
    sign_in(page, live_server, "/admin/?country=FR")
    assert titles(page) == ["Paris talk", "Lyon walk"]
    page.get_by_label("Tick all on this page").check()
    page.get_by_label("Reason for rejecting the ticked events").fill("Duplicates.")
    page.get_by_role("button", name="Reject the ticked events").click()
    page.get_by_text("Rejected 2 events.").wait_for()
    assert urlsplit(page.url).query == "country=FR"
    assert [store.get(e["id"])["status"] for e in three] == ["pending", "rejected", "rejected"]
    assert page.page_errors == []
