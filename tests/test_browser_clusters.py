"""The map's clusters by category in a real browser: in the Web Worker and without one."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from mapapp.storage import EventStore
from tests.conftest import make_event
from tests.test_browser_map import choose

pytestmark = pytest.mark.browser

PARIS = ("48.856613", "2.352222")
TOKYO = ("35.689487", "139.691706")
NEW_YORK = ("40.712776", "-74.005974")
# How the page clusters: the worker; no Worker in this browser; a worker whose script never loads.
PATHS = {
    "worker": ("worker", None, False),
    "no worker": ("page", "Object.defineProperty(window, 'Worker', {value: undefined});", False),
    "worker script fails": ("page", None, True),
}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Serve the map without tiles: tests never reach the internet."""
    return {**app_config, "TILES": "none"}


@pytest.fixture
def events(store: EventStore) -> None:
    """Store 5 talks and 3 sports events at one point of Paris, 2 talks in Tokyo, 1 in New York."""
    placed = [("talk", PARIS, "FR")] * 5 + [("sport", PARIS, "FR")] * 3
    placed += [("talk", TOKYO, "JP")] * 2 + [("sport", NEW_YORK, "US")]
    store.add_many(
        make_event(
            title=f"{category} {country} {n}",
            category=category,
            country=country,
            timezone={"FR": "Europe/Paris", "JP": "Asia/Tokyo", "US": "America/New_York"}[country],
            latitude=where[0],
            longitude=where[1],
        )
        for n, (category, where, country) in enumerate(placed)
    )


@pytest.fixture(params=list(PATHS))
def clustered(request: Any, page: Any, live_server: str, events: None) -> Any:
    """Open the map on one clustering path, the whole world in view; check the path taken."""
    expected, init_script, block_worker = PATHS[request.param]
    if init_script:
        page.add_init_script(init_script)
    if block_worker:
        page.route("**/static/js/map-worker.js", lambda route: route.abort())
    page.goto(live_server + "/")
    page.wait_for_selector("body[data-map-ready]")
    page.wait_for_selector(f"body[data-clusters='{expected}']")
    page.evaluate("window.mapapp.map.setView([20, 0], 1, {animate: false})")
    expect(page.locator("#list-status")).to_contain_text("of 11 events")
    return page


def drawn(page: Any) -> list[str]:
    """Return what the map draws: cluster counts and single events' titles, sorted."""
    counts = page.locator(".cluster-icon span").all_text_contents()
    singles = [
        title.split(" (")[0]
        for title in page.locator(".event-marker").evaluate_all(
            "(icons) => icons.map((icon) => icon.getAttribute('title'))"
        )
    ]
    return sorted(counts + singles)


def switch(page: Any, codes: list[str], summary: str, expected: list[str]) -> None:
    """Choose categories and wait for the summary and the clusters they give."""
    choose(page, "category", codes)
    expect(page.locator("#summary")).to_have_text(summary)
    page.wait_for_function(
        "(expected) => { const s = [...document.querySelectorAll('.cluster-icon span')]"
        ".map((n) => n.textContent); const e = [...document.querySelectorAll('.event-marker')]"
        ".map((n) => n.getAttribute('title').split(' (')[0]);"
        " return JSON.stringify(s.concat(e).sort()) === JSON.stringify(expected); }",
        arg=expected,
    )
    assert drawn(page) == expected


def test_switching_categories_shows_their_clusters_counts_and_list(clustered: Any) -> None:
    page = clustered
    assert drawn(page) == ["2", "8", "sport US 10"]
    switch(page, ["talk"], "7 events in 2 countries", ["2", "5"])
    expect(page.locator("#list-status")).to_contain_text("Showing 7 of 7 events")
    assert page.locator("#event-list li").count() == 7
    # Two categories at one place: their clusters become one, with both counts.
    switch(page, ["talk", "sport"], "11 events in 3 countries", ["2", "8", "sport US 10"])
    switch(page, ["sport"], "4 events in 2 countries", ["3", "sport US 10"])
    expect(page.locator("#list-status")).to_contain_text("Showing 4 of 4 events")
    assert sorted(page.locator("#event-list li a").all_text_contents()) == [
        "sport FR 5",
        "sport FR 6",
        "sport FR 7",
        "sport US 10",
    ]
    switch(page, [], "11 events in 3 countries", ["2", "8", "sport US 10"])
    assert "category=" not in page.url
    assert page.page_errors == []


def test_a_cluster_of_two_categories_lists_its_events_by_keyboard(clustered: Any) -> None:
    page = clustered
    switch(page, ["talk", "sport"], "11 events in 3 countries", ["2", "8", "sport US 10"])
    cluster = page.locator(".cluster-icon", has_text="8")
    assert "8 events at this place" in (cluster.get_attribute("aria-label") or "")
    cluster.focus()
    page.keyboard.press("Enter")
    popup = page.locator(".leaflet-popup .place-popup")
    expect(popup.locator(".popup-title")).to_have_text("8 events at this place")
    titles = popup.locator(".place-event").all_text_contents()
    expected = [f"talk FR {n}" for n in range(5)] + [f"sport FR {n}" for n in range(5, 8)]
    assert sorted(titles) == sorted(expected)
    page.keyboard.press("Escape")
    expect(popup).to_have_count(0)
    assert page.page_errors == []


SAMPLE_SIZE = 400
CHOICES = [["talk"], ["talk", "sport"], ["awareness", "illumination", "online"], []]
COUNTED = """
() => {
  const counts = [...document.querySelectorAll('.cluster-icon span')].map((n) => +n.textContent);
  return counts.reduce((a, b) => a + b, 0) + document.querySelectorAll('.event-marker').length;
}
"""


@pytest.mark.parametrize("path", ["worker", "no worker"])
def test_every_placed_event_of_the_categories_is_in_one_cluster(
    page: Any, live_server: str, store: EventStore, path: str
) -> None:
    from mapapp.events import current_edition
    from scripts.make_sample_data import generate_events

    sample = generate_events(SAMPLE_SIZE, seed=14)
    store.add_many(sample)
    shown = [
        event
        for event in sample
        if event["status"] == "approved"
        and event["starts_at"].startswith(str(current_edition()))
        and event["latitude"]
    ]
    expected_kind, init_script, _ = PATHS[path]
    if init_script:
        page.add_init_script(init_script)
    page.goto(live_server + "/")
    page.wait_for_selector(f"body[data-clusters='{expected_kind}'][data-map-ready]")
    page.evaluate("window.mapapp.map.setView([20, 0], 1, {animate: false})")
    for codes in CHOICES:
        choose(page, "category", codes)
        placed = sum(1 for event in shown if not codes or event["category"] in codes)
        try:
            page.wait_for_function(f"() => ({COUNTED})() === {placed}", timeout=10_000)
        except PlaywrightTimeoutError:
            assert page.evaluate(COUNTED) == placed, codes
    assert page.page_errors == []
