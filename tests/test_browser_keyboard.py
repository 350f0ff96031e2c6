"""The map for every visitor, in a real browser: keyboard only, events at one place, popups in
view, several countries at once, on a phone, near me, the legend, the first view, right to left.

One server per dataset for the whole module (the pages only read), so the walks stay fast.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from mapapp import create_app, mapview
from mapapp.events import CATEGORIES
from tests.conftest import make_event, serving_in_thread

pytestmark = pytest.mark.browser

LYON = ("45.764043", "4.835659")  # five events geocoded to the town: one exact point
LONG_TEXT = "A long title that wraps over several lines of the popup " * 4
MANY = 320
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
READY = "body[data-map-ready]"
MARKERS = "() => document.querySelectorAll('.event-marker, .cluster-icon').length > 0"


def small_events() -> list[dict[str, str]]:
    """Return the small dataset: Paris, five at one point in Lyon, and the far corners."""
    events = [
        make_event(title=f"Paris event {n}", latitude=f"{48.80 + n / 200:.6f}") for n in range(6)
    ]
    events += [
        make_event(title=f"Lyon event {n}", city="Lyon", latitude=LYON[0], longitude=LYON[1])
        for n in range(5)
    ]
    far = [
        ("Tokyo talk", "talk", "Tokyo", "JP", "Asia/Tokyo", "35.689487", "139.691706"),
        ("Berlin walk", "sport", "Berlin", "DE", "Europe/Berlin", "52.520008", "13.404954"),
        ("München stall", "awareness", "München", "DE", "Europe/Berlin", "48.137154", "11.576124"),
        (
            "Sydney lights",
            "illumination",
            "Sydney",
            "AU",
            "Australia/Sydney",
            "-33.86882",
            "151.2093",
        ),
        ("Auckland talk", "talk", "Auckland", "NZ", "Pacific/Auckland", "-36.848461", "174.763336"),
        ("Lima gathering", "social", "Lima", "PE", "America/Lima", "-12.046374", "-77.042793"),
    ]
    for title, category, city, country, zone, lat, lon in far:
        events.append(
            make_event(
                title=title,
                category=category,
                city=city,
                country=country,
                timezone=zone,
                latitude=lat,
                longitude=lon,
            )
        )
    events.append(
        make_event(
            title=LONG_TEXT,
            organiser=LONG_TEXT,
            venue="Harbour",
            city="Reykjavik",
            country="IS",
            timezone="Atlantic/Reykjavik",
            latitude="64.146582",
            longitude="-21.942635",
        )
    )
    return events


def many_events() -> list[dict[str, str]]:
    """Return MANY events spread over the world (a fixed seed)."""
    rng = random.Random(13)
    return [
        make_event(
            title=f"Event {n}",
            latitude=f"{rng.uniform(-45, 65):.5f}",
            longitude=f"{rng.uniform(-170, 175):.5f}",
        )
        for n in range(MANY)
    ]


def serve(tmp: Path, events: list[dict[str, str]]) -> Iterator[str]:
    """Serve an app holding these events, without tiles, and yield its base URL."""
    data = tmp / "data"
    data.mkdir()
    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "x",
            "DATA_DIR": str(data),
            "TILES": "none",
        }
    )
    app.extensions["mapapp.store"].add_many(events)
    with serving_in_thread(app) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Return the base URL of the small dataset's server."""
    yield from serve(tmp_path_factory.mktemp("small"), small_events())


@pytest.fixture(scope="module")
def crowded_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Return the base URL of a server holding MANY events."""
    yield from serve(tmp_path_factory.mktemp("many"), many_events())


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """Return a maker of pages in new contexts (viewport, geolocation...), closed after the test."""
    contexts: list[Any] = []

    def make(url: str, **options: Any) -> Any:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.page_errors = []
        page.on("pageerror", lambda error: page.page_errors.append(str(error)))
        page.goto(url)
        page.wait_for_selector(READY)
        page.wait_for_function(MARKERS)
        return page

    yield make
    for context in contexts:
        context.close()


def focused(page: Any) -> dict[str, Any]:
    """Describe the element that has focus."""
    return page.evaluate(
        """() => {
          const e = document.activeElement;
          return {tag: e.tagName, id: e.id, cls: String(e.className.baseVal ?? e.className),
                  title: e.getAttribute('title') || '', text: (e.textContent || '').trim(),
                  inPopup: !!e.closest('.leaflet-popup'), inList: !!e.closest('.event-list'),
                  marker: e.classList.contains('leaflet-marker-icon')};
        }"""
    )


def plain(text: str) -> str:
    """Return text with Intl's thin and narrow no-break spaces as plain spaces."""
    return re.sub(r"[\u2009\u202f\u00a0]", " ", text)


def set_view(page: Any, lat: float, lon: float, zoom: int) -> None:
    """Move the map without animation and wait for the redraw."""
    page.evaluate(f"window.mapapp.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
    page.wait_for_timeout(50)


def tab_until(page: Any, test: str, limit: int) -> int:
    """Press Tab until `test` (JS over `e`, the focused element) holds; return the presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        state = focused(page)
        assert state["tag"] != "BODY", f"focus fell to <body> after {presses} presses"
        if page.evaluate(f"() => {{ const e = document.activeElement; return !!({test}); }}"):
            return presses
    raise AssertionError(f"not reached in {limit} presses; last focus {focused(page)}")


def popup_inside_map(page: Any, map_selector: str = "#map_main") -> bool:
    """Tell whether the open popup's box lies inside the map's box."""
    return bool(
        page.evaluate(
            """(selector) => {
              const popup = document.querySelector('.leaflet-popup');
              if (!popup) return false;
              const p = popup.getBoundingClientRect();
              const m = document.querySelector(selector).getBoundingClientRect();
              return p.top >= m.top - 1 && p.left >= m.left - 1 &&
                     p.bottom <= m.bottom + 1 && p.right <= m.right + 1;
            }""",
            map_selector,
        )
    )


# Keyboard only


def test_skip_link_jumps_past_the_map_to_the_list(open_page: Any, site: str) -> None:
    page = open_page(site + "/")
    page.locator("#filters-reset").focus()
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip the map: go to the list"
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "list-heading"
    page.keyboard.press("Tab")
    assert focused(page)["inList"]


def test_keyboard_walk_zooms_a_cluster_opens_a_popup_and_escape_gives_focus_back(
    open_page: Any, site: str
) -> None:
    page = open_page(site + "/")
    page.locator(".skip-map").focus()
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "map_main"
    tab_until(page, "e.classList.contains('cluster-icon')", 40)
    zoom = page.evaluate("window.mapapp.map.getZoom()")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => window.mapapp.map.getZoom() > {zoom}")
    page.wait_for_function("() => document.activeElement.classList.contains('leaflet-marker-icon')")
    expect(page.locator("#map-announce")).to_have_text(
        re.compile(r"^Zoomed in: \d+ events? in view$")
    )

    set_view(page, 35.68, 139.69, 6)
    page.locator("#filters-reset").focus()
    page.locator(".skip-map").focus()
    page.keyboard.press("Tab")
    tab_until(page, "(e.getAttribute('title') || '').startsWith('Tokyo talk')", 10)
    page.keyboard.press("Enter")
    page.locator(".leaflet-popup .popup-title").wait_for()
    assert focused(page)["inPopup"]
    assert page.locator(".popup-title").text_content() == "Tokyo talk"
    page.keyboard.press("Escape")
    expect(page.locator(".leaflet-popup")).to_have_count(0)
    assert focused(page)["title"] == "Tokyo talk (Talk or conference)"
    page.keyboard.press(" ")  # Space opens it too
    page.locator(".leaflet-popup .popup-title").wait_for()
    assert page.locator(".popup-title").text_content() == "Tokyo talk"
    assert page.page_errors == []


def test_tab_leaves_a_crowded_map_for_the_list(open_page: Any, crowded_site: str) -> None:
    page = open_page(crowded_site + "/")
    page.wait_for_selector("#event-list li")
    markers = page.locator(".leaflet-marker-icon").count()
    assert markers > 20
    page.locator(".skip-map").focus()
    seen = 0
    for _ in range(markers + 20):
        page.keyboard.press("Tab")
        state = focused(page)
        assert state["tag"] != "BODY", f"focus fell to <body> after {seen} markers"
        if state["inList"]:
            break
        if state["marker"]:
            seen += 1
            visits, inside = page.evaluate(
                """() => {
                  const e = document.activeElement;
                  e.dataset.visits = String(Number(e.dataset.visits || 0) + 1);
                  const r = e.getBoundingClientRect();
                  const m = document.querySelector('#map_main').getBoundingClientRect();
                  const x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
                  return [Number(e.dataset.visits), x >= m.left && x <= m.right && y >= m.top && y <= m.bottom];
                }"""
            )
            assert visits == 1 and inside, state
    else:
        raise AssertionError(f"the list was not reached in {markers + 20} presses")
    assert seen == markers  # every marker in view once, none twice


# Events at one place


def test_events_at_one_point_are_listed_and_each_opens(open_page: Any, site: str) -> None:
    page = open_page(site + "/")
    set_view(page, 45.76, 4.83, 12)
    cluster = page.locator(".cluster-icon", has_text="5")
    assert cluster.get_attribute("title") == "5 events at this place: select to list them"
    cluster.click()
    popup = page.locator(".leaflet-popup .place-popup")
    expect(popup.locator(".popup-title")).to_have_text("5 events at this place")
    expect(page.locator("#map-announce")).to_have_text("Showing 5 events at this place")
    titles = popup.locator(".place-event").all_text_contents()
    assert sorted(titles) == [f"Lyon event {n}" for n in range(5)]
    for title in titles:  # every one by mouse
        popup.locator(".place-event", has_text=title).click()
        expect(popup.locator("h3.popup-title")).to_have_text(title)
        popup.locator(".place-back").click()
    page.keyboard.press("Escape")
    expect(page.locator(".leaflet-popup")).to_have_count(0)

    cluster.focus()  # and by keyboard
    page.keyboard.press("Enter")
    expect(popup.locator(".popup-title")).to_have_text("5 events at this place")
    assert focused(page)["inPopup"]
    page.keyboard.press("Tab")
    assert focused(page)["text"] == titles[0]
    page.keyboard.press("Enter")
    expect(popup.locator("h3.popup-title")).to_have_text(titles[0])
    assert focused(page)["text"] == "Back to the 5 events at this place"
    page.keyboard.press("Enter")
    assert focused(page)["text"] == titles[0]
    page.keyboard.press("Escape")
    assert focused(page)["title"] == "5 events at this place: select to list them"


# Popups in view


@pytest.mark.parametrize(
    ("path", "viewport"),
    [("/", DESKTOP), ("/", PHONE), ("/embed", {"width": 480, "height": 360})],
    ids=["desktop", "phone", "embed"],
)
def test_a_popup_pans_into_view_once_its_content_loads(
    open_page: Any, site: str, path: str, viewport: dict[str, int]
) -> None:
    page = open_page(site + path, viewport=viewport)
    set_view(page, 64.14, -21.94, 8)
    # The marker at the map's top edge: the popup opens above it, out of the map.
    page.evaluate(
        """() => {
          const map = window.mapapp.map;
          const p = map.latLngToContainerPoint([64.146582, -21.942635]);
          map.panBy([0, p.y - 16], {animate: false});
        }"""
    )
    page.wait_for_timeout(50)
    page.locator(".event-marker").first.click()
    page.locator(".leaflet-popup .popup-title").wait_for()
    page.wait_for_function(
        """() => {
          const p = document.querySelector('.leaflet-popup').getBoundingClientRect();
          const m = document.querySelector('#map_main').getBoundingClientRect();
          return p.top >= m.top - 1 && p.bottom <= m.bottom + 1 && p.left >= m.left - 1 && p.right <= m.right + 1;
        }""",
        timeout=3000,
    )
    assert popup_inside_map(page)
    assert page.page_errors == []


def test_show_on_map_scrolls_to_the_map_and_puts_focus_in_the_popup(
    open_page: Any, site: str
) -> None:
    page = open_page(site + "/", viewport=PHONE)
    page.wait_for_selector("#event-list li")
    item = page.locator("#event-list li", has_text="Tokyo talk")
    item.scroll_into_view_if_needed()
    assert page.evaluate("document.querySelector('#map_main').getBoundingClientRect().bottom") < 0
    item.get_by_role("button", name="Show on map: Tokyo talk").click()
    page.locator(".leaflet-popup .popup-title").wait_for()
    expect(page.locator(".popup-title")).to_be_focused()
    box = page.locator("#map_main").bounding_box()
    assert box["y"] >= -1 and box["y"] + box["height"] <= PHONE["height"] + 1
    page.wait_for_function("() => true")
    assert popup_inside_map(page)


# Several countries and categories


def test_several_countries_from_the_address(open_page: Any, site: str) -> None:
    page = open_page(site + "/?country=FR,DE")
    expect(page.locator("#summary")).to_have_text("13 events in 2 countries")
    assert page.url == site + "/?country=FR,DE"
    checked = page.locator('input[name="country"]:checked')
    assert [box.get_attribute("value") for box in checked.all()] == ["FR", "DE"]
    assert page.locator("#filter-country-summary").text_content() == "Countries (2)"
    page.evaluate("window.mapapp.map.setView([0, 0], 1, {animate: false})")
    page.wait_for_function("() => document.querySelectorAll('#event-list li').length === 13")
    titles = page.locator("#event-list li a").all_text_contents()
    assert "Berlin walk" in titles and "Tokyo talk" not in titles
    assert "embed?country=FR,DE" in page.locator("#embed-code").input_value()

    page.locator("#filter-country summary").click()  # and from the controls
    page.get_by_label("Japan").check()
    expect(page.locator("#summary")).to_have_text("14 events in 3 countries")
    assert page.url == site + "/?country=FR,DE,JP"
    assert page.locator("#filter-country-summary").text_content() == "Countries (3)"
    page.get_by_label("France").uncheck()
    expect(page.locator("#summary")).to_have_text("3 events in 2 countries")
    assert page.url == site + "/?country=DE,JP"


def test_several_categories_in_the_page_and_the_embed(open_page: Any, site: str) -> None:
    page = open_page(site + "/?category=talk,sport")
    expect(page.locator("#summary")).to_have_text("3 events in 3 countries")
    assert page.url == site + "/?category=talk,sport"
    embed = open_page(site + "/embed?country=DE,JP&category=talk,sport")
    expect(embed.locator("#summary")).to_have_text("2 events in 2 countries")
    assert embed.url == site + "/embed?country=DE,JP&category=talk,sport"


def test_the_filter_form_works_without_javascript(browser: Any, site: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(site + "/")
        page.locator("#filter-country summary").click()
        page.get_by_label("France").check()
        page.get_by_label("Germany").check()
        page.get_by_role("button", name="Apply").click()
        page.wait_for_load_state()
        assert "country=FR&country=DE" in page.url
        assert [b.get_attribute("value") for b in page.locator("input:checked").all()] == [
            "FR",
            "DE",
        ]
    finally:
        context.close()


# On a phone


def test_on_a_phone_the_map_comes_first_and_the_filters_fold(open_page: Any, site: str) -> None:
    page = open_page(site + "/?country=FR,DE&category=illumination", viewport=PHONE)
    toggle = page.locator("#filters-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_text("Filters (2)")
    assert toggle.get_attribute("aria-expanded") == "false"
    expect(page.locator("#filter-q")).to_be_hidden()
    box = page.locator("#map_main").bounding_box()
    assert box["y"] < PHONE["height"] * 0.6  # the map starts on the first screen, mostly seen
    toggle.click()
    expect(page.locator("#filter-q")).to_be_visible()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert page.evaluate("getComputedStyle(document.querySelector('.event-list')).overflowY") == (
        "visible"
    )
    desktop = open_page(site + "/")
    expect(desktop.locator("#filters-toggle")).to_be_hidden()
    expect(desktop.locator("#filter-q")).to_be_visible()


# Near me, near a place


@pytest.mark.parametrize(("prefix", "unit"), [("", " mi"), ("/fr", " km")])
def test_near_me_sorts_the_list_by_distance_in_the_locale_unit(
    open_page: Any, site: str, prefix: str, unit: str
) -> None:
    page = open_page(
        site + prefix + "/",
        geolocation={"latitude": 45.75, "longitude": 4.85},
        permissions=["geolocation"],
    )
    page.locator("#near-me").click()
    page.wait_for_function("() => document.querySelector('.event-item-distance') !== null")
    first = page.locator("#event-list li").first
    assert first.locator("a").text_content().startswith("Lyon event")
    distances = page.locator(".event-item-distance").all_text_contents()
    assert all(
        plain(text).split(unit)[0][-1].isdigit() and unit in plain(text) for text in distances
    )
    assert page.evaluate("window.mapapp.map.getBounds().contains([45.75, 4.85])")
    center = page.evaluate("window.mapapp.map.getCenter()")
    assert abs(center["lat"] - 45.75) < 0.5 and abs(center["lng"] - 4.85) < 0.5
    if not prefix:
        assert page.locator("#near-status").text_content() == (
            "The list shows the events nearest to you first."
        )


def test_near_me_refused_says_so(open_page: Any, site: str) -> None:
    page = open_page(site + "/", geolocation={"latitude": 1, "longitude": 1}, permissions=[])
    page.locator("#near-me").click()
    expect(page.locator("#near-status")).to_have_text(
        "Your browser did not share your location. You can type a town instead."
    )
    assert page.locator("#near-status").get_attribute("role") == "status"


def test_near_a_place_uses_the_app_place_search(open_page: Any, site: str) -> None:
    page = open_page(site + "/")
    asked: list[str] = []

    def answer(route: Any) -> None:
        asked.append(route.request.url)
        places = []
        if "nchen" in route.request.url:
            places = [
                {
                    "name": "München",
                    "country": "DE",
                    "label": "München, Germany",
                    "lat": 48.137,
                    "lon": 11.575,
                },
                {
                    "name": "Munchen",
                    "country": "AT",
                    "label": "Munchen, Austria",
                    "lat": 47.1,
                    "lon": 13.0,
                },
            ]
        route.fulfill(content_type="application/json", body=json.dumps({"places": places}))

    page.route("**/api/places.json?*", answer)
    page.fill("#near-place-text", "München")
    page.keyboard.press("Enter")
    expect(page.locator("#near-status")).to_have_text(
        "The list shows the events nearest to München, Germany first."
    )
    assert "q=M%C3%BCnchen" in asked[0]
    expect(page.locator("#event-list li").first.locator("a")).to_have_text("München stall")
    assert page.locator(".near-choice").all_text_contents() == ["Munchen, Austria"]
    page.fill("#near-place-text", "Atlantis")
    page.keyboard.press("Enter")
    expect(page.locator("#near-status")).to_have_text(
        "We could not find Atlantis. Check the spelling, or try a larger town nearby."
    )
    page.locator("#near-clear").click()
    expect(page.locator(".event-item-distance")).to_have_count(0)


# The legend and the first view


def test_every_category_has_its_own_symbol_in_the_legend_and_on_markers(
    open_page: Any, site: str
) -> None:
    page = open_page(site + "/")
    shapes = page.locator(".map-legend .legend-category path").evaluate_all(
        "paths => paths.map(p => p.getAttribute('d'))"
    )
    assert len(shapes) == len(CATEGORIES) == len(set(shapes))
    assert shapes == [mapview.CATEGORY_SYMBOLS[code] for code in CATEGORIES]
    marker = page.locator('.event-marker[title^="Tokyo talk"] path')
    assert marker.get_attribute("d") == mapview.CATEGORY_SYMBOLS["talk"]
    page.locator(".map-legend summary").click()
    expect(page.locator(".legend-clusters li")).to_have_text(
        ["Fewer than 10 events", "10 to 99 events", "100 events or more"]
    )


def test_the_first_view_holds_every_event(open_page: Any, site: str) -> None:
    page = open_page(site + "/")
    for lat, lon in [
        (-36.848461, 174.763336),
        (-33.86882, 151.2093),
        (64.146582, -21.942635),
        (-12.05, -77.04),
    ]:
        assert page.evaluate(
            f"""() => {{
              const map = window.mapapp.map;
              const p = map.latLngToContainerPoint([{lat}, {lon}]);
              const size = map.getSize();
              return p.x >= 0 && p.y >= 0 && p.x <= size.x && p.y <= size.y;
            }}"""
        ), (lat, lon)


# Languages


def test_the_popup_and_list_speak_french(open_page: Any, site: str) -> None:
    page = open_page(site + "/fr/")
    set_view(page, 35.68, 139.69, 6)
    page.wait_for_selector("#event-list li")
    meta = page.locator("#event-list li", has_text="Tokyo talk").locator(".event-item-meta")
    assert plain(meta.text_content()).startswith("28 févr. 2027 · Tokyo, Japon")
    page.locator('.event-marker[title^="Tokyo talk"]').click()
    page.locator(".popup-title").wait_for()
    assert plain(page.locator(".popup-when").text_content()).startswith("dimanche 28 février 2027")


def test_right_to_left_mirrors_the_filters_and_the_list(open_page: Any, site: str) -> None:
    page = open_page(site + "/ar/")
    page.wait_for_selector("#event-list li")
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.map-filters')).direction") == "rtl"
    )
    item = page.evaluate(
        """() => { const s = getComputedStyle(document.querySelector('.event-item'));
                   return [s.borderRightWidth, s.borderLeftWidth, s.textAlign]; }"""
    )
    assert item[0] == "4px" and item[1] == "0px"
    legend = page.locator(".map-legend").bounding_box()
    frame = page.locator(".map-frame").bounding_box()
    assert legend["x"] - frame["x"] < 20  # at the start (left) of the map in Arabic
    layout = page.locator(".event-list").bounding_box()
    assert layout["x"] < frame["x"]  # the list beside the map, on its left
