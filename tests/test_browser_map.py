"""The map in a real browser: clusters, popups, filters, the list, embed, safety, accessibility."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from mapapp import PROJECT_ROOT
from mapapp.storage import EventStore
from tests.conftest import add_valid_event, make_event

pytestmark = pytest.mark.browser

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
HOSTILE = (
    "<img src=x onerror=\"window.pwned=1;alert('img')\"> ${alert('template')} "
    "`${window.pwned=2}` </script><script>alert('script')</script>"
)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Serve the map without tiles: tests never reach the internet."""
    return {**app_config, "TILES": "none"}


@pytest.fixture
def events(store: EventStore) -> dict[str, dict[str, str]]:
    """Store a cluster around Paris, one event in Tokyo, one online and one hostile one."""
    store.add_many(
        make_event(title=f"Paris event {n}", latitude=f"{48.80 + n / 200:.6f}") for n in range(12)
    )
    return {
        "tokyo": add_valid_event(
            store,
            title="Tokyo talk",
            category="talk",
            city="Tokyo",
            country="JP",
            timezone="Asia/Tokyo",
            latitude="35.689487",
            longitude="139.691706",
            language="ja",
        ),
        "hybrid": add_valid_event(
            store,
            title="Hybrid talk",
            category="talk",
            format="hybrid",
            city="São Paulo",
            country="BR",
            timezone="America/Sao_Paulo",
            latitude="-23.550520",
            longitude="-46.633308",
            language="pt",
        ),
        "online": add_valid_event(
            store,
            title="Webinar for everyone",
            category="online",
            format="online",
            country="",
            city="",
            venue="",
            latitude="",
            longitude="",
            location_precision="none",
            timezone="UTC",
        ),
        "hostile": add_valid_event(
            store,
            title=HOSTILE,
            organiser=HOSTILE,
            venue="${alert(1)}",
            city="Sydney",
            country="AU",
            timezone="Australia/Sydney",
            latitude="-33.868820",
            longitude="151.209296",
        ),
    }


def open_map(page: Any, url: str) -> None:
    """Open a map page and wait until its events are drawn and listed."""
    page.goto(url)
    page.wait_for_selector("body[data-map-ready]")
    page.wait_for_function(
        "() => document.querySelectorAll('.event-marker, .cluster-icon').length > 0"
    )


def plain(text: str) -> str:
    """Return text with Intl's thin and narrow no-break spaces as plain spaces."""
    return re.sub(r"[\u2009\u202f\u00a0]", " ", text)


def choose(page: Any, name: str, codes: list[str]) -> None:
    """Tick exactly these boxes of a several-value filter (country, category), as a visitor would."""
    details = page.locator(f"#filter-{name}")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    for box in details.locator(f'input[name="{name}"]').all():
        if (box.get_attribute("value") in codes) != box.is_checked():
            box.click()
    details.locator("summary").click()


def show_world(page: Any) -> None:
    """Zoom out until the whole world (and so every event) is in view."""
    page.evaluate("window.mapapp.map.setView([0, 0], 1, {animate: false})")


def test_clusters_markers_and_a_popup_with_the_event(
    page: Any, live_server: str, events: dict[str, dict[str, str]]
) -> None:
    open_map(page, live_server + "/")
    assert page.locator(".cluster-icon").count() >= 1
    assert page.locator(".cluster-icon span").first.text_content() == "12"
    page.locator('.event-marker[title^="Tokyo talk"]').click()
    popup = page.locator(".leaflet-popup .event-popup")
    popup.locator(".popup-title").wait_for()
    assert popup.locator(".popup-title").text_content() == "Tokyo talk"
    assert popup.locator(".popup-kind").text_content() == "Talk or conference · In person"
    assert plain(popup.locator(".popup-when").text_content()) == (
        "Sunday, 28 February 2027, 18:00–22:00 (Asia/Tokyo)"
    )
    assert popup.locator(".popup-place").text_content() == "Hôtel de Ville, Tokyo, Japan"
    event_id = events["tokyo"]["id"]
    assert popup.locator(".popup-ics").get_attribute("href") == f"/events/{event_id}.ics"
    assert popup.locator(".popup-page").get_attribute("href") == f"/events/{event_id}"
    assert popup.locator(".popup-website").get_attribute("href") == "https://example.org/event"
    page.evaluate("window.mapapp.map.closePopup()")
    page.locator('.event-marker[title^="Hybrid talk"]').click()
    page.locator(".event-popup .popup-visitor-time").wait_for()
    visitor_time = page.locator(".event-popup .popup-visitor-time").text_content()
    # 18:00 in São Paulo (UTC-3) is 21:00 for this browser, which runs in UTC
    assert re.search(r"(21[:.]00|9[:.]00\sPM) your time$", visitor_time), visitor_time
    page.evaluate("window.mapapp.map.closePopup()")  # it may cover the cluster
    page.locator(".cluster-icon").first.click()
    page.wait_for_function("() => window.mapapp.map.getZoom() > 2")
    assert page.page_errors == []


def test_a_filter_changes_the_count_the_address_and_the_list(
    page: Any, live_server: str, events: dict[str, dict[str, str]]
) -> None:
    open_map(page, live_server + "/")
    assert page.locator("#summary").text_content() == "16 events in 4 countries"
    show_world(page)
    page.wait_for_function("() => document.querySelectorAll('#event-list li').length === 16")
    assert page.locator("#event-list li").count() == 16
    choose(page, "country", ["JP"])
    expect(page.locator("#summary")).to_have_text("1 event in 1 country")
    assert page.url == live_server + "/?country=JP"
    page.wait_for_function("() => document.querySelectorAll('#event-list li').length === 1")
    assert page.locator("#event-list li a").text_content() == "Tokyo talk"
    assert "embed?country=JP" in page.locator("#embed-code").input_value()
    page.fill("#filter-q", "webinar")
    choose(page, "country", [])
    expect(page.locator("#summary")).to_have_text("1 event in 0 countries")
    assert "q=webinar" in page.url
    assert page.locator("#event-list li a").text_content() == "Webinar for everyone"
    page.goto(live_server + "/?category=talk&format=in_person")
    page.wait_for_selector("body[data-map-ready]")
    assert page.locator("#summary").text_content() == "1 event in 1 country"


def test_the_list_follows_the_visible_area_and_keeps_online_events(
    page: Any, live_server: str, events: dict[str, dict[str, str]]
) -> None:
    open_map(page, live_server + "/")
    page.wait_for_selector("#event-list li")
    page.evaluate("window.mapapp.map.setView([35.68, 139.69], 9)")
    page.wait_for_function("() => document.querySelectorAll('#event-list li').length === 2")
    titles = page.locator("#event-list li a").all_text_contents()
    assert sorted(titles) == ["Tokyo talk", "Webinar for everyone"]
    assert "Showing 2 of 2 events" in page.locator("#list-status").text_content()


def test_hostile_text_is_shown_literally_and_runs_nothing(
    page: Any, live_server: str, events: dict[str, dict[str, str]]
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_map(page, live_server + "/")
    show_world(page)
    page.wait_for_function("() => document.querySelectorAll('#event-list li').length === 16")
    assert HOSTILE in page.locator("#event-list li a").all_text_contents()
    page.evaluate("window.mapapp.map.setView([-33.86, 151.2], 9)")
    page.locator(".event-marker").first.click()
    page.locator(".event-popup .popup-title").wait_for()
    assert page.locator(".event-popup .popup-title").text_content() == HOSTILE
    assert page.locator(".event-popup .popup-organiser").text_content() == "By " + HOSTILE
    assert page.locator(".event-popup img").count() == 0
    page.goto(f"{live_server}/events/{events['hostile']['id']}")
    assert page.locator("h1").text_content() == HOSTILE
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None
    assert dialogs == []
    assert page.page_errors == []


def test_the_page_asks_no_host_but_the_app_except_tiles(
    browser: Any, app_config: dict[str, Any], events: dict[str, dict[str, str]]
) -> None:
    import threading

    from werkzeug.serving import make_server

    from mapapp import create_app

    app = create_app({**app_config, "TILES": "OpenStreetMap"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    context = browser.new_context()
    try:
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.route("https://tile.openstreetmap.org/**", lambda route: route.abort())
        page.goto(base + "/")
        page.wait_for_selector("body[data-map-ready]")
        page.locator('.event-marker[title^="Tokyo talk"]').click()
        page.locator(".event-popup .popup-title").wait_for()
        elsewhere = [url for url in requested if not url.startswith(base + "/")]
        assert elsewhere, "the tiles should be asked for"
        assert all(url.startswith("https://tile.openstreetmap.org/") for url in elsewhere)
        assert any("/vendor/leaflet/dist/leaflet.js" in url for url in requested)
        attribution = page.locator(".leaflet-control-attribution").text_content()
        assert "OpenStreetMap contributors" in attribution
    finally:
        context.close()
        server.shutdown()


def test_embed_uses_the_address_filters_and_has_no_site_chrome(
    page: Any, live_server: str, events: dict[str, dict[str, str]]
) -> None:
    open_map(page, live_server + "/embed?country=JP")
    assert page.locator("#summary").text_content() == "1 event in 1 country"
    assert page.locator(".site-header").count() == 0
    assert (
        page.locator("#embed-full").get_attribute("href")
        == "http://127.0.0.1:" + live_server.rsplit(":", 1)[1] + "/?country=JP"
    )
    assert page.page_errors == []


def test_country_outlines_draw_russia_and_fiji_without_crossing_the_map(
    page: Any, live_server: str, events: dict[str, dict[str, str]]
) -> None:
    open_map(page, live_server + "/")
    page.wait_for_function("() => window.mapapp.countries !== undefined")
    spans = page.evaluate(
        """() => {
          const spans = {};
          window.mapapp.countries.eachLayer((layer) => {
            const b = layer.getBounds();
            spans[layer.feature.id] = b.getEast() - b.getWest();
          });
          return spans;
        }"""
    )
    assert len(spans) > 150
    assert 150 < spans["643"] < 200  # Russia: about 170 degrees, not the whole world
    assert spans["242"] < 10  # Fiji
    assert page.locator(".countries-pane path").count() > 150


@pytest.mark.parametrize("path", ["/", "/events/ID"])
def test_axe_finds_no_serious_violation(
    browser: Any, live_server: str, events: dict[str, dict[str, str]], path: str
) -> None:
    context = browser.new_context(bypass_csp=True)  # axe is injected as an inline script
    try:
        page = context.new_page()
        page.goto(live_server + path.replace("ID", events["tokyo"]["id"]))
        if path == "/":
            page.wait_for_selector("#event-list li")
        else:
            page.wait_for_selector(".small-map .leaflet-marker-icon")
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(
            "async () => (await axe.run()).violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact))"
            ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
        )
        assert violations == []
    finally:
        context.close()


def test_the_events_are_preloaded_once_and_drawn_before_the_outlines(
    page: Any, live_server: str, events: dict[str, dict[str, str]]
) -> None:
    map_data_requests: list[str] = []
    page.on("request", lambda request: map_data_requests.append(request.url))

    open_map(page, live_server + "/")
    page.wait_for_function("() => window.mapapp.countries !== undefined")

    assert sum("/api/map-data.json" in url for url in map_data_requests) == 1
    order = page.evaluate(
        """() => performance.getEntriesByType('resource')
             .filter(e => /map-data|countries-110m/.test(e.name))
             .sort((a, b) => a.startTime - b.startTime)
             .map(e => e.name.includes('map-data') ? 'events' : 'outlines')"""
    )
    assert order == ["events", "outlines"]
