"""Both placing maps in chromium, with tiles from a local tile server: tiles are asked for, the
place search moves the pin, and the out-of-country warning shows after a move outside (and not
for a point in Monaco for a Monaco event)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from mapapp import coordinators
from mapapp.events import current_edition, edition_date
from mapapp.storage import EventStore
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, add_valid_event

pytestmark = pytest.mark.browser

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
ALGIERS = (36.7538, 3.0588)
EDITION = edition_date(current_edition())


class TileServer:
    """A tiny tile server on 127.0.0.1: every /z/x/y.png is the same PNG; requests are counted."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                with server._lock:
                    server.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.http.server_address[1]}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.paths)


@pytest.fixture
def tile_server() -> Iterator[TileServer]:
    tiles = TileServer()
    thread = threading.Thread(target=tiles.http.serve_forever, daemon=True)
    thread.start()
    try:
        yield tiles
    finally:
        tiles.http.shutdown()
        tiles.http.server_close()
        thread.join(timeout=5)


@pytest.fixture
def app_config(app_config: dict[str, Any], tile_server: TileServer) -> dict[str, Any]:
    """Take the tiles from the local tile server."""
    return {
        **app_config,
        "TILES": tile_server.origin + "/{z}/{x}/{y}.png",
        "TILES_ATTRIBUTION": "Stub tiles",
    }


def wait_for_tiles(page: Any, tiles: TileServer) -> None:
    """Wait until the map has asked the tile server for tiles."""
    page.locator(".leaflet-tile-loaded").first.wait_for()
    assert tiles.count > 0


def screen_point(
    page: Any, selector: str, latitude: float, longitude: float
) -> tuple[float, float]:
    """Return where on the page a map shows a point."""
    x, y = page.evaluate(
        """([selector, lat, lon]) => {
            const box = document.querySelector(selector);
            const point = box.placeMap.latLngToContainerPoint([lat, lon]);
            const rect = box.getBoundingClientRect();
            return [rect.left + point.x, rect.top + point.y];
        }""",
        [selector, latitude, longitude],
    )
    return float(x), float(y)


def drag_marker_to(page: Any, scope: Any, selector: str, latitude: float, longitude: float) -> None:
    """Drag a map's pin with the mouse to where a point is shown."""
    page.evaluate(
        "([selector, lat, lon]) => document.querySelector(selector).placeMap.setView([lat, lon], 5, {animate: false})",
        [selector, latitude, longitude],
    )
    marker = scope.locator(".leaflet-marker-icon")
    box = marker.bounding_box()
    target = screen_point(page, selector, latitude, longitude)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 2)
    page.mouse.down()
    page.mouse.move(target[0], target[1] - 2, steps=12)  # the pin's tip is its point
    page.mouse.up()


def test_the_organisers_preview_map(
    page: Any, live_server: str, tile_server: TileServer, store: EventStore
) -> None:
    page.goto(live_server + "/submit")
    page.fill("#title", "Walk for rare diseases")
    page.select_option("#category", "sport")
    page.check("#format-0")
    page.fill("#starts_at", f"{EDITION}T18:00")
    page.fill("#city", "Madrid")
    page.select_option("#country", "ES")
    page.fill("#organiser", "Walkers")
    page.fill("#contact_email", "walkers@example.org")
    page.check("#consent")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue to the location preview").click()
    assert page.locator("h1").inner_text().startswith("Check where"), page.content()

    wait_for_tiles(page, tile_server)
    assert "Stub tiles" in page.locator("#preview-map .leaflet-control-attribution").inner_text()

    # The search, on the button: the pin moves and the coordinates are filled.
    page.get_by_label("Search for a place to move the pin").fill("Sevilla")
    page.get_by_role("button", name="Search", exact=True).click()
    page.locator(".place-result").first.click()
    assert float(page.locator("#latitude").input_value()) == pytest.approx(37.38, abs=0.05)
    assert float(page.locator("#longitude").input_value()) == pytest.approx(-5.98, abs=0.05)
    page.get_by_text("Time zone: Europe/Madrid").wait_for()
    assert page.locator("#preview-tools [data-place-warning]").inner_text() == ""

    # Enter searches too, without sending the form.
    page.get_by_label("Search for a place to move the pin").fill("Valencia")
    page.get_by_label("Search for a place to move the pin").press("Enter")
    page.locator(".place-result").first.wait_for()
    assert "Check where" in page.locator("h1").inner_text() and len(store) == 0

    # A drag to Algeria: the time zone there, and the warning.
    drag_marker_to(page, page.locator("#preview-map"), "#preview-map", *ALGIERS)
    warning = page.locator("#preview-tools [data-place-warning]")
    warning.filter(has_text="not Spain").wait_for()
    assert (
        warning.inner_text()
        == "This point is in Algeria, not Spain: drag the pin if that is wrong."
    )
    assert page.get_by_text("Time zone: Africa/Algiers").is_visible()
    assert float(page.locator("#latitude").input_value()) == pytest.approx(ALGIERS[0], abs=0.3)

    # Confirming shows the warning again; ticking the box keeps the point.
    with page.expect_navigation():
        page.get_by_role("button", name="Send the event for review").click()
    assert "If the pin is right, tick the box to keep it there." in page.content()
    assert len(store) == 0
    page.get_by_label("The pin is where the event takes place: keep it there").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Send the event for review").click()
    [event] = store.frame().to_dict("records")
    assert event["timezone"] == "Africa/Algiers"

    assert page.page_errors == []
    assert all(url.startswith((live_server, tile_server.origin)) for url in page.requested_urls)


def _sign_in(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/admin/")
    assert urlsplit(page.url).path == "/admin/sign-in"
    page.get_by_label("Name").fill(COORDINATOR_NAME)
    page.get_by_label("Password").fill(COORDINATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/admin/")


def test_the_coordinators_place_map(
    app: Flask, store: EventStore, live_server: str, page: Any, tile_server: TileServer
) -> None:
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    monaco = add_valid_event(
        store,
        status="pending",
        title="Monaco walk",
        city="Monaco",
        country="MC",
        latitude="43.7396",
        longitude="7.4276",
        timezone="Europe/Monaco",
    )
    spanish = add_valid_event(
        store,
        status="pending",
        title="Madrid talk",
        city="",
        country="ES",
        latitude="",
        longitude="",
        location_precision="none",
        timezone="Europe/Madrid",
    )
    _sign_in(page, live_server)
    wait_for_tiles(page, tile_server)

    # Monaco: a click inside Monaco gives its zone and no warning.
    card = page.locator(f"#event-{monaco['id']}")
    selector = f"#event-{monaco['id']} [data-mini-map]"
    x, y = screen_point(page, selector, 43.7384, 7.4246)
    page.mouse.click(x, y)
    card.get_by_text("Time zone: Europe/Monaco").wait_for()
    assert card.locator("[data-place-warning]").inner_text() == ""
    assert card.locator("[data-mini-map]").get_attribute("data-checked") == "1"

    # The Spanish event opens on Spain; the search moves its pin and fills the place form.
    card = page.locator(f"#event-{spanish['id']}")
    selector = f"#event-{spanish['id']} [data-mini-map]"
    centre = page.evaluate(f"document.querySelector('{selector}').placeMap.getCenter()")
    assert 36 < centre["lat"] < 44 and -9.5 < centre["lng"] < 4.5  # Spain, not the world
    zoom = page.evaluate(f"document.querySelector('{selector}').placeMap.getZoom()")
    assert zoom >= 3
    card.get_by_label("Search for a place to move the pin").fill("Paradas")
    card.get_by_role("button", name="Search", exact=True).click()
    card.locator(".place-result").first.click()
    form = card.locator("form.place-form")
    assert float(form.locator("input[name=latitude]").input_value()) == pytest.approx(
        37.29, abs=0.05
    )
    assert form.get_by_role("button", name="Place here").is_enabled()

    # A drag to Algeria warns; placing there is saved and the coordinator told again.
    drag_marker_to(page, card.locator("[data-mini-map]"), selector, *ALGIERS)
    card.locator("[data-place-warning]").filter(has_text="not Spain").wait_for()
    form.get_by_role("button", name="Place here").click()
    page.get_by_text("Placed the event on the map: its times are in Africa/Algiers.").wait_for()
    assert page.get_by_text("This point is in Algeria, not Spain").first.is_visible()
    placed = store.get(spanish["id"])
    assert float(placed["latitude"]) == pytest.approx(ALGIERS[0], abs=0.3)
    assert placed["timezone"] == "Africa/Algiers"

    assert page.page_errors == []
    assert all(url.startswith((live_server, tile_server.origin)) for url in page.requested_urls)
