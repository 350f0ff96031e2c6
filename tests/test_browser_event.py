"""The event page's sharing and the map page's calendar links in a real browser."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, render_template_string, request
from playwright.sync_api import expect

from mapapp import PROJECT_ROOT, create_app
from mapapp.filters import parse_filter
from mapapp.storage import EventStore
from tests.conftest import add_valid_event

pytestmark = pytest.mark.browser

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"

CALENDAR_PAGE = (
    '{% extends "base.html" %}{% block main %}{% include "_calendar_links.html" %}{% endblock %}'
)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Serve the pages without tiles: tests never reach the internet."""
    return {**app_config, "TILES": "none"}


@pytest.fixture
def app(app_config: dict[str, Any]) -> Flask:
    """Return the app with a page holding the map page's calendar block alone."""
    app = create_app(app_config)

    def calendar_block() -> str:
        return render_template_string(CALENDAR_PAGE, selected=parse_filter(request.args))

    app.add_url_rule("/calendar-block", "calendar_block", calendar_block)
    return app


@pytest.fixture
def event(store: EventStore) -> dict[str, str]:
    """Store an upcoming hybrid event."""
    return add_valid_event(store, format="hybrid")


def _watch(context: Any) -> Any:
    page = context.new_page()
    page.page_errors = []
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    return page


def test_copy_button_puts_the_link_on_the_clipboard_and_says_so(
    browser: Any, live_server: str, event: dict[str, str]
) -> None:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = _watch(context)
        page.goto(f"{live_server}/events/{event['id']}")
        copy = page.get_by_role("button", name="Copy link")
        expect(copy).to_be_visible()
        copy.click()
        status = page.locator(".share-status")
        expect(status).to_have_text("Link copied")
        expect(status).to_have_attribute("role", "status")
        assert page.evaluate("navigator.clipboard.readText()") == (
            f"{live_server}/events/{event['id']}"
        )
        # Said again on a second copy (the region is emptied first).
        copy.click()
        expect(status).to_have_text("Link copied")
        assert page.page_errors == []
    finally:
        context.close()


def test_copy_without_the_clipboard_api_selects_the_link(
    browser: Any, live_server: str, event: dict[str, str]
) -> None:
    context = browser.new_context()
    context.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined});")
    try:
        page = _watch(context)
        page.goto(f"{live_server}/events/{event['id']}")
        page.get_by_role("button", name="Copy link").click()
        expect(page.locator(".share-status")).not_to_be_empty()
        assert page.evaluate("String(window.getSelection())") == (
            f"{live_server}/events/{event['id']}"
        )
        assert page.page_errors == []
    finally:
        context.close()


def test_share_button_is_hidden_without_the_web_share_api(
    browser: Any, live_server: str, event: dict[str, str]
) -> None:
    context = browser.new_context()
    context.add_init_script("delete Navigator.prototype.share; delete navigator.share;")
    try:
        page = _watch(context)
        page.goto(f"{live_server}/events/{event['id']}")
        assert page.evaluate("typeof navigator.share") == "undefined"
        expect(page.get_by_role("button", name="Copy link")).to_be_visible()
        expect(page.locator(".share-native")).to_be_hidden()
        expect(page.get_by_role("link", name="Share by e-mail")).to_be_visible()
        assert page.page_errors == []
    finally:
        context.close()


def test_share_button_uses_the_web_share_api_where_there_is_one(
    browser: Any, live_server: str, event: dict[str, str]
) -> None:
    context = browser.new_context()
    context.add_init_script(
        "window.shared = [];"
        "Object.defineProperty(navigator, 'share', {configurable: true,"
        " value: function (data) { window.shared.push(data); return Promise.resolve(); }});"
    )
    try:
        page = _watch(context)
        page.goto(f"{live_server}/events/{event['id']}")
        share = page.get_by_role("button", name="Share…")
        expect(share).to_be_visible()
        share.click()
        assert page.evaluate("window.shared") == [
            {"title": "Light up the town hall", "url": f"{live_server}/events/{event['id']}"}
        ]
        assert page.page_errors == []
    finally:
        context.close()


def test_visitor_sees_an_online_events_start_in_their_own_time(
    browser: Any, live_server: str, event: dict[str, str]
) -> None:
    context = browser.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    try:
        page = _watch(context)
        page.goto(f"{live_server}/events/{event['id']}")
        # 18:00 in Paris (UTC+1) is 02:00 the next day in Tokyo (UTC+9).
        expect(page.locator(".visitor-time")).to_have_text(
            "It starts Monday, 1 March 2027 at 02:00 your time."
        )
    finally:
        context.close()


def test_map_calendar_links_follow_the_filters(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/calendar-block?year=2027")
    subscribe = page.get_by_role("link", name="Subscribe in your calendar")
    host = live_server.partition("://")[2]
    expect(subscribe).to_have_attribute("href", f"webcal://{host}/events.ics?year=2027")
    page.evaluate(
        """() => {
          const params = new URLSearchParams({country: "FR,DE", category: "talk", q: ""});
          document.dispatchEvent(new CustomEvent("mapapp:filters", {detail: params.toString()}));
        }"""
    )
    query = "country=FR%2CDE&category=talk"
    expect(subscribe).to_have_attribute("href", f"webcal://{host}/events.ics?{query}")
    expect(page.get_by_role("link", name="Download (.ics)")).to_have_attribute(
        "href", f"{live_server}/events.ics?{query}"
    )
    expect(page.locator("a[data-export=csv]")).to_have_attribute(
        "href", f"{live_server}/events.csv?{query}"
    )
    page.evaluate("document.dispatchEvent(new CustomEvent('mapapp:filters', {detail: ''}))")
    expect(subscribe).to_have_attribute("href", f"webcal://{host}/events.ics")
    assert page.page_errors == []


@pytest.mark.parametrize(
    "path", ["/events/UPCOMING", "/events/PAST", "/ar/events/PAST", "/calendar-block"]
)
def test_axe_finds_no_serious_violation(
    browser: Any, live_server: str, store: EventStore, event: dict[str, str], path: str
) -> None:
    past = add_valid_event(store, starts_at="2020-02-28T18:00", ends_at="2020-02-28T20:00")
    context = browser.new_context(bypass_csp=True)  # axe is injected as an inline script
    try:
        page = context.new_page()
        page.goto(live_server + path.replace("UPCOMING", event["id"]).replace("PAST", past["id"]))
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(
            "async () => (await axe.run()).violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact))"
            ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
        )
        assert violations == []
    finally:
        context.close()
