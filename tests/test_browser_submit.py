"""An organiser submits an event with the keyboard only, in chromium; axe checks the pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mapapp import PROJECT_ROOT
from mapapp.events import current_edition, edition_date
from mapapp.storage import EventStore
from tests.conftest import change

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
EDITION = edition_date(current_edition())
MAX_TABS = 60

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Serve the preview map without tiles (country outlines only): no test reaches the internet."""
    return {**app_config, "TILES": "none"}


@pytest.fixture
def keyboard_page(browser: Any) -> Iterator[Any]:
    """Return a page that may inject axe-core despite the site's CSP, and records errors."""
    context = browser.new_context(bypass_csp=True, locale="en-US")
    page = context.new_page()
    page.page_errors = []
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    yield page
    context.close()


def tab_to(page: Any, element_id: str) -> None:
    """Press Tab until the element has focus; fail if the focus order never reaches it."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    pytest.fail(f"Tab never reached #{element_id}")


def type_into(page: Any, element_id: str, text: str) -> None:
    """Tab to a field and type into it."""
    tab_to(page, element_id)
    page.keyboard.type(text)


def type_local_time(page: Any, element_id: str, time_keys: str) -> None:
    """Type the edition day and a time into a datetime-local input, part by part (en-US order)."""
    tab_to(page, element_id)
    page.keyboard.type(f"{EDITION:%m%d%Y}")
    page.keyboard.press("ArrowRight")  # the year part takes up to six digits: move on by hand
    page.keyboard.type(time_keys)


def serious_violations(page: Any) -> list[str]:
    """Run axe-core on the page and return its serious and critical violations."""
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{violation['id']}: {violation['help']}"
        for violation in violations
        if violation["impact"] in {"serious", "critical"}
    ]


def test_an_organiser_submits_by_keyboard_and_the_event_reaches_the_map(
    keyboard_page: Any, live_server: str, store: EventStore
) -> None:
    page = keyboard_page
    page.goto(live_server + "/submit")
    assert serious_violations(page) == []

    type_into(page, "title", "Keyboard walk for rare diseases")
    type_into(page, "category", "Sport")  # typing picks the option on a focused select
    tab_to(page, "format-0")
    page.keyboard.press("Space")
    type_local_time(page, "starts_at", "0600P")
    type_local_time(page, "ends_at", "0800P")
    type_into(page, "description", "A walk.\nBring purple.")
    type_into(page, "city", "Lyon")
    type_into(page, "country", "France")
    type_into(page, "organiser", "Keyboard club")
    type_into(page, "contact_email", "club@example.org")
    tab_to(page, "consent")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    with page.expect_navigation():
        page.keyboard.press("Enter")

    heading = page.locator("h1").inner_text()
    assert heading.startswith("Check where"), page.locator("main").inner_text()
    assert "Lyon" in page.locator("#place-name").inner_text()
    assert page.locator("#preview-map .leaflet-marker-icon").count() == 1
    assert serious_violations(page) == []
    assert len(store) == 0

    tab_to(page, "place-0")
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Send the event for review":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert "is waiting for review" in page.locator("h1").inner_text()
    assert page.locator("#edit-url").inner_text().startswith(live_server + "/edit/")
    [event] = store.frame().to_dict("records")
    assert event["status"] == "pending"
    assert event["title"] == "Keyboard walk for rare diseases"
    assert event["starts_at"] == f"{EDITION}T18:00"
    assert event["timezone"] == "Europe/Paris"
    assert event["description"] == "A walk.\nBring purple."

    page.goto(live_server + "/api/events.geojson")
    assert "Keyboard walk for rare diseases" not in page.content()  # not before approval
    change(store, event["id"], {"status": "approved"})
    page.goto(live_server + "/api/events.geojson")
    assert "Keyboard walk for rare diseases" in page.content()
    assert page.page_errors == []


def test_errors_are_summarised_and_focused(keyboard_page: Any, live_server: str) -> None:
    page = keyboard_page
    page.goto(live_server + "/submit")
    type_into(page, "title", "Only a title")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.locator("#title").input_value() == "Only a title"
    assert page.locator("#organiser").get_attribute("aria-invalid") == "true"
    assert (
        page.locator("#organiser").get_attribute("aria-describedby")
        == "organiser-hint organiser-error"
    )
    # The summary's first link moves focus to its field.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#category"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "category"
    assert serious_violations(page) == []
    assert page.page_errors == []
