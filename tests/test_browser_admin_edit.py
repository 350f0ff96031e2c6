"""The coordinators' edit form in chromium: the zone menu follows the country, the map sets the point."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from mapapp import coordinators, timezones
from mapapp.storage import EventStore
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, make_event
from tests.test_browser_admin import _sign_in
from tests.test_browser_submit import keyboard_page, serious_violations  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Serve the maps without tiles (country outlines only): tests never reach the internet."""
    return {**app_config, "TILES": "none"}


@pytest.fixture
def edit_page(app: Flask, store: EventStore, live_server: str, keyboard_page: Any) -> Any:  # noqa: F811
    """Return a signed-in page on the edit form of a stored event in Paris (page.event)."""
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    event = store.add(make_event(status="pending", location_source="gazetteer"))
    page = keyboard_page
    _sign_in(page, live_server)
    page.goto(f"{live_server}/admin/events/{event['id']}/edit")
    page.event = event
    return page


def zone_options(page: Any) -> list[str]:
    """Return the values of the time zone menu's options, the empty prompt left out."""
    values: list[str] = page.eval_on_selector_all(
        "#field-timezone option", "options => options.map(option => option.value)"
    )
    return [value for value in values if value]


def zone_value(page: Any) -> str:
    """Return the zone chosen in the menu."""
    value: str = page.eval_on_selector("#field-timezone", "select => select.value")
    return value


def test_choosing_another_country_shows_only_its_zones(edit_page: Any) -> None:
    page = edit_page
    assert zone_options(page) == list(timezones.zones_of("FR"))
    assert zone_value(page) == "Europe/Paris"
    page.select_option("#field-country", "ES")  # three zones: none is chosen for the person
    assert zone_options(page) == list(timezones.zones_of("ES"))
    assert zone_value(page) == ""
    page.select_option("#field-country", "JP")  # one zone: chosen
    assert zone_options(page) == ["Asia/Tokyo"]
    assert zone_value(page) == "Asia/Tokyo"
    page.select_option("#field-country", "")  # no country: every zone
    every = zone_options(page)
    assert {"Europe/Paris", "Asia/Tokyo", "America/Chicago", "UTC"} <= set(every)
    assert len(every) > 300
    page.select_option("#field-country", "FR")
    assert zone_options(page) == list(timezones.zones_of("FR"))
    assert page.page_errors == []


def test_a_click_on_the_map_sets_the_point_which_is_saved(
    edit_page: Any, store: EventStore
) -> None:
    page = edit_page
    event = page.event
    assert page.input_value("#field-latitude") == event["latitude"]
    edit_map = page.locator("[data-edit-map]")
    edit_map.locator("svg path").first.wait_for(state="attached")
    box = edit_map.bounding_box()
    edit_map.click(position={"x": box["width"] / 2 + 60, "y": box["height"] / 2 - 40})
    latitude, longitude = page.input_value("#field-latitude"), page.input_value("#field-longitude")
    assert (latitude, longitude) != (event["latitude"], event["longitude"])
    assert float(latitude) > float(event["latitude"]) and float(longitude) > float(
        event["longitude"]
    )
    assert "The pin is now at" in page.locator("#edit-map-hint").inner_text()
    assert edit_map.locator(".leaflet-marker-icon").count() == 1
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Saved the event.").wait_for()
    stored = store.get(event["id"])
    assert (stored["latitude"], stored["longitude"]) == (latitude, longitude)
    assert (stored["location_precision"], stored["location_source"]) == ("manual", "coordinator")
    assert stored["timezone"] == "Europe/Paris"
    assert page.input_value("#field-latitude") == latitude  # the page shows what was saved
    assert page.page_errors == []


def test_typing_a_point_moves_the_pin(edit_page: Any) -> None:
    page = edit_page
    edit_map = page.locator("[data-edit-map]")
    edit_map.locator(".leaflet-marker-icon").wait_for()
    before = edit_map.locator(".leaflet-marker-icon").bounding_box()
    page.fill("#field-latitude", "48.8")
    page.fill("#field-longitude", "2.4")
    page.press("#field-longitude", "Tab")  # a change event, as a person leaving the field
    page.wait_for_function(
        "() => { const m = document.querySelector('[data-edit-map]').placeMap;"
        " let found = null; m.eachLayer(l => { if (l.getLatLng) found = l.getLatLng(); });"
        " return found && Math.abs(found.lat - 48.8) < 1e-6 && Math.abs(found.lng - 2.4) < 1e-6; }"
    )
    assert edit_map.locator(".leaflet-marker-icon").bounding_box() != before


def test_the_edit_form_passes_axe(edit_page: Any) -> None:
    page = edit_page
    page.locator("[data-edit-map] svg path").first.wait_for(state="attached")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Save changes").click()  # unchanged: saved, no error
    page.get_by_text("Saved the event.").wait_for()
    page.fill("#field-starts_at_date", "")
    page.get_by_role("button", name="Save changes").click()
    page.locator("#error-summary").wait_for()
    assert page.locator("#error-starts_at").inner_text() == "Start: give a date such as 28/02/2027."
    assert serious_violations(page) == []
    assert page.page_errors == []
