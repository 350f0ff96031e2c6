"""The time zone select in chromium: the chosen country's zones, the browser's zone preselected."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mapapp import timezones
from mapapp.storage import EventStore
from tests.conftest import make_submission

pytestmark = pytest.mark.browser


@pytest.fixture
def page_in_zone(browser: Any) -> Iterator[Callable[[str], Any]]:
    """Return a function that opens a page in a browser whose clock is in a given zone."""
    contexts: list[Any] = []

    def open_page(zone: str) -> Any:
        context = browser.new_context(timezone_id=zone, locale="en-US")
        contexts.append(context)
        page = context.new_page()
        page.page_errors = []
        page.on("pageerror", lambda error: page.page_errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()


def zone_options(page: Any) -> list[str]:
    """Return the values of the time zone select's options, the empty prompt left out."""
    values: list[str] = page.eval_on_selector_all(
        "#timezone option", "options => options.map(option => option.value)"
    )
    return [value for value in values if value]


@pytest.mark.parametrize(
    ("browser_zone", "expected"),
    [
        # The browser's zone is one of the country's: preselected; a single zone: preselected.
        ("America/Chicago", {"US": "America/Chicago", "KE": "Africa/Nairobi", "ES": ""}),
        # Not one of the country's: nothing preselected where the country has several zones.
        ("Asia/Tokyo", {"US": "", "JP": "Asia/Tokyo", "MT": "Europe/Malta"}),
        # Chromium names India's zone Asia/Calcutta, an alias of zone.tab's Asia/Kolkata.
        ("Asia/Kolkata", {"IN": "Asia/Kolkata", "AU": ""}),
        ("Atlantic/Canary", {"ES": "Atlantic/Canary", "FR": "Europe/Paris"}),
    ],
)
def test_the_form_lists_the_country_zones_and_preselects_the_browser_zone(
    page_in_zone: Callable[[str], Any],
    live_server: str,
    browser_zone: str,
    expected: dict[str, str],
) -> None:
    page = page_in_zone(browser_zone)
    page.goto(f"{live_server}/submit")
    assert page.eval_on_selector("#timezone", "select => select.value") == ""
    assert page.locator("#timezone option").first.text_content() == "Choose the country first"
    for country, zone in expected.items():
        page.select_option("#country", country)
        assert zone_options(page) == list(timezones.zones_of(country))
        assert page.eval_on_selector("#timezone", "select => select.value") == zone, country
    assert page.page_errors == []


def test_the_preview_preselects_the_browser_zone_and_it_is_stored(
    page_in_zone: Callable[[str], Any], live_server: str, store: EventStore
) -> None:
    page = page_in_zone("America/Chicago")
    page.goto(f"{live_server}/submit")
    submission = make_submission()
    for name in ("title", "organiser", "contact_email"):
        page.fill(f"#{name}", submission[name])
    page.select_option("#category", "talk")
    assert page.text_content('label[for="country"]') == "Country (required)"
    page.check("#format-1")  # online
    assert (
        page.text_content('label[for="country"]')
        == "The country your organisation is based in (required)"
    )
    page.fill("#starts_at", f"{submission['starts_at'][:10]}T15:00")
    page.select_option("#country", "US")
    page.select_option("#timezone", "")  # as if the organiser left it for the next page
    page.check("#consent")
    page.click("button[type=submit]")
    page.wait_for_selector("#confirm-form")
    assert zone_options(page) == list(timezones.zones_of("US"))
    assert page.eval_on_selector("#timezone", "select => select.value") == "America/Chicago"
    # On a phone the zone choice fits the screen: no sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("#confirm-form button[type=submit]")
    page.wait_for_selector("#edit-url")
    # An online event needs no place: the thank-you page does not say it could not be placed.
    assert "We could not place the event" not in page.content()
    [event] = store.frame().to_dict("records")
    assert (event["format"], event["country"], event["timezone"]) == (
        "online",
        "US",
        "America/Chicago",
    )
    assert page.page_errors == []


def test_picking_another_place_takes_its_zone(
    page_in_zone: Callable[[str], Any], live_server: str, store: EventStore
) -> None:
    page = page_in_zone("Europe/Paris")
    page.goto(f"{live_server}/submit")
    submission = make_submission()
    for name in ("title", "organiser", "contact_email"):
        page.fill(f"#{name}", submission[name])
    page.select_option("#category", "sport")
    page.check("#format-0")  # in person
    page.fill("#starts_at", f"{submission['starts_at'][:10]}T15:00")
    page.fill("#city", "Portland")
    page.select_option("#country", "US")
    page.check("#consent")
    page.click("button[type=submit]")
    page.wait_for_selector("#confirm-form")
    assert page.input_value("#timezone") == "America/Los_Angeles"
    page.check("#place-1")  # Portland, Maine
    assert page.input_value("#timezone") == "America/New_York"
    page.click("#confirm-form button[type=submit]")
    page.wait_for_selector("#edit-url")
    [event] = store.frame().to_dict("records")
    assert event["timezone"] == "America/New_York"
    assert page.page_errors == []
