"""The dashboard in chromium: the choropleth unwrapped at 180°, small countries, links, axe, Tab."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from mapapp import PROJECT_ROOT, coordinators
from mapapp.events import current_edition
from mapapp.storage import EventStore
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, make_event

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
MAX_TABS = 80
YEAR = current_edition()
# Events in countries crossing 180° (Russia, Fiji, the United States with the Aleutians), small
# countries the 110m map leaves out (Singapore, Malta, Bahrain) and France.
PLACES = {
    "RU": ("Moscow", "Europe/Moscow", "55.7558", "37.6173"),
    "FJ": ("Suva", "Pacific/Fiji", "-18.1248", "178.4501"),
    "US": ("Anchorage", "America/Anchorage", "61.2181", "-149.9003"),
    "SG": ("Singapore", "Asia/Singapore", "1.2834", "103.8607"),
    "MT": ("Valletta", "Europe/Malta", "35.8989", "14.5146"),
    "BH": ("Manama", "Asia/Bahrain", "26.2285", "50.5860"),
    "FR": ("Paris", "Europe/Paris", "48.856613", "2.352222"),
}

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Serve the maps without tiles: tests never reach the internet."""
    return {**app_config, "TILES": "none"}


@pytest.fixture
def axe_page(browser: Any) -> Iterator[Any]:
    """Return a page that may inject axe-core despite the site's CSP, and records errors."""
    context = browser.new_context(bypass_csp=True, locale="en-GB")
    page = context.new_page()
    page.page_errors = []
    page.requested_urls = []
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    page.on("request", lambda request: page.requested_urls.append(request.url))
    yield page
    context.close()


@pytest.fixture
def signed_in(app: Flask, store: EventStore, live_server: str, axe_page: Any) -> Any:
    """Store an event per place of the current edition (two in France, one last edition); sign in."""
    this_year = {"starts_at": f"{YEAR}-02-28T18:00", "ends_at": f"{YEAR}-02-28T22:00"}
    events = []
    for code, (city, zone, latitude, longitude) in PLACES.items():
        place = {"country": code, "city": city, "timezone": zone}
        events.append(make_event(**place, latitude=latitude, longitude=longitude, **this_year))
    events.append(make_event(category="talk", **this_year))
    events.append(
        make_event(starts_at=f"{YEAR - 1}-02-27T18:00", ends_at=f"{YEAR - 1}-02-27T20:00")
    )
    store.add_many(events)
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    page = axe_page
    page.goto(f"{live_server}/admin/")
    page.get_by_label("Name").fill(COORDINATOR_NAME)
    page.get_by_label("Password").fill(COORDINATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/admin/")
    return page


def open_dashboard(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/admin/stats")
    page.locator("#choropleth[data-ready='true']").wait_for()


def serious_violations(page: Any) -> list[str]:
    """Run axe-core on the page and return its serious and critical violations."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(  # type: ignore[no-any-return]
        "async () => (await axe.run(document)).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )


def tab_to(page: Any, element_id: str) -> None:
    """Press Tab until the element has focus; fail if the focus order never reaches it."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    pytest.fail(f"Tab never reached #{element_id}")


def test_the_choropleth_is_unwrapped_at_180_degrees(signed_in: Any, live_server: str) -> None:
    page = signed_in
    open_dashboard(page, live_server)
    measured = page.evaluate(
        """() => {
          const { map, countries } = window.mapapp.dashboard;
          const world = 256 * Math.pow(2, map.getZoom());
          const paths = [...document.querySelectorAll('#choropleth svg path')];
          const widths = {};
          for (const path of paths) {
            const code = [...path.classList].find(c => c.startsWith('country-'));
            if (code) widths[code.slice(8)] = path.getBBox().width;
          }
          const spans = {};
          countries.eachLayer((layer) => {
            const b = layer.getBounds();
            spans[layer.feature.id] = b.getEast() - b.getWest();
          });
          return {
            world: world,
            count: paths.length,
            widest: Math.max(...paths.map(p => p.getBBox().width)),
            widths: widths,
            spans: spans,
          };
        }"""
    )
    assert measured["count"] > 150
    # Antarctica rings the pole, exactly one world wide; nothing is wider.
    assert measured["widest"] <= measured["world"] + 1
    world = measured["world"]
    assert measured["widths"]["RU"] < 0.55 * world  # about 170°, not a band across the map
    assert measured["widths"]["FJ"] < 0.05 * world
    assert measured["widths"]["US"] < 0.45 * world  # the Aleutians beside Alaska
    assert 150 < measured["spans"]["643"] < 200  # Russia, in degrees
    assert measured["spans"]["242"] < 10  # Fiji
    assert measured["spans"]["840"] < 160  # the United States
    assert page.page_errors == []
    assert all(url.startswith(live_server) for url in page.requested_urls)


def test_small_countries_are_points_and_the_legend_gives_the_ranges(
    signed_in: Any, live_server: str
) -> None:
    page = signed_in
    open_dashboard(page, live_server)
    circles = page.locator("#choropleth path.small-country")
    assert circles.count() == 3
    for code in ("SG", "MT", "BH"):
        assert page.locator(f"#choropleth path.small-country-{code}").count() == 1
    assert page.locator("#choropleth path.small-country-FR").count() == 0
    legend = page.locator("#choropleth-legend li")
    assert legend.all_inner_texts() == ["No events", "1 event", "2 events", "A small country"]
    # France (2 events) has the darkest shade, Russia (1) the one before; no events: the lightest.
    assert page.locator("#choropleth path.country-FR").first.get_attribute("fill") == "#6a1b9a"
    assert page.locator("#choropleth path.country-RU").get_attribute("fill") == "#8f57b5"
    assert page.locator("#choropleth path.country-IT").get_attribute("fill") == "#f7f7f7"
    description = page.locator("#choropleth-description").inner_text()
    assert f"in the {YEAR} edition: 7 countries have events, the most France with 2." in description
    page.locator("#choropleth path.small-country-MT").hover()
    tooltip = page.locator("#choropleth .leaflet-tooltip")
    assert tooltip.inner_text() == "Malta: 1 approved event. Select the country to open its page."


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("#choropleth path.small-country-SG", "SG"),
        ("#choropleth path.country-RU", "RU"),
        ("link:Malta", "MT"),
    ],
)
def test_countries_link_to_their_pages(
    signed_in: Any, live_server: str, target: str, code: str
) -> None:
    page = signed_in
    open_dashboard(page, live_server)
    if target.startswith("link:"):
        page.locator("#by-country").get_by_role("link", name=target[5:]).click()
    else:
        page.locator(target).click()
    page.wait_for_url(f"{live_server}/admin/stats/{code}")
    assert urlsplit(page.url).path == f"/admin/stats/{code}"
    assert page.locator("#per-edition tbody tr").count() >= 1
    assert page.page_errors == []


def test_axe_finds_nothing_serious_on_both_pages(signed_in: Any, live_server: str) -> None:
    page = signed_in
    open_dashboard(page, live_server)
    assert serious_violations(page) == []
    page.goto(f"{live_server}/admin/stats/FR")
    assert page.locator("#per-edition tbody tr").count() == 2
    assert serious_violations(page) == []


def test_tab_reaches_every_table(signed_in: Any, live_server: str) -> None:
    # Within MAX_TABS: the map's shapes stay out of the Tab order (the table rows link instead).
    page = signed_in
    open_dashboard(page, live_server)
    for region in ("by-country-region", "by-day-region"):
        tab_to(page, region)
        label = page.evaluate("document.activeElement.getAttribute('aria-label')")
        assert page.evaluate("document.activeElement.getAttribute('role')") == "region"
        assert label
    page.goto(f"{live_server}/admin/stats/FR")
    for region in ("per-edition-region", "per-category-region"):
        tab_to(page, region)
