"""The map pages (map, embed, event page, calendar file), their assets and mapview's pieces."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import PROJECT_ROOT, create_app, mapview
from mapapp.events import country_name, current_edition
from mapapp.storage import EventStore
from mapapp.web import assets
from mapapp.web.headers import NOT_A_PAGE_POLICY
from tests.conftest import add_valid_event, make_event

HOSTILE = "</script><script>alert(1)</script> ${alert(2)} `x` <b>bold</b>"


def scripts_of(html: str) -> list[str]:
    """Return the src of every script tag, and 'INLINE' for each executable inline script."""
    found = []
    for attributes, _body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        if "src=" in attributes:
            found.append(re.search(r'src="([^"]+)"', attributes).group(1))  # type: ignore[union-attr]
        elif 'type="application/json"' not in attributes and "ld+json" not in attributes:
            found.append("INLINE")
    return found


# The map page and the embed


def test_map_page_loads_only_local_scripts_and_no_inline_script(
    client: FlaskClient, store: EventStore
) -> None:
    add_valid_event(store)
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    scripts = scripts_of(html)
    assert scripts == [
        "/static/js/calendar-links.js",  # the calendar block's, under the map
        "/vendor/leaflet/dist/leaflet.js?v=1.9.4",
        "/static/js/leaflet-language.js",
        "/vendor/supercluster/dist/supercluster.min.js?v=8.0.1",
        "/vendor/topojson-client/dist/topojson-client.min.js?v=3.1.0",
        "/map-setup.js",
        "/static/js/map-clusters.js",  # the clusters, here without a worker, and in the worker
        "/static/js/map.js",
    ]
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', html) == [
        "/static/css/site.css",
        "/vendor/leaflet/dist/leaflet.css?v=1.9.4",
        "/static/css/map.css",
    ]
    assert "https://" not in " ".join(scripts)


def test_map_page_html_does_not_grow_with_the_events(
    client: FlaskClient, store: EventStore
) -> None:
    add_valid_event(store)
    small = len(client.get("/").data)
    store.add_many([make_event(title=f"Event {n}", city=f"Town {n}") for n in range(2000)])
    large = len(client.get("/").data)

    # Only the numbers in the page's counts get longer: a few digits, never a byte per event.
    assert 0 <= large - small < 40


def test_map_page_config_is_a_json_data_block(client: FlaskClient, store: EventStore) -> None:
    add_valid_event(store, country="FR")
    html = client.get("/").get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="map-config">(.*?)</script>', html, re.S)
    assert block is not None
    config = json.loads(block.group(1))
    assert config["dataUrl"] == "/api/map-data.json"
    assert config["eventApiUrl"] == "/api/events/EVENT_ID.json"
    assert config["countries"] == {"FR": "France"}
    assert config["categories"]["talk"] == {
        "label": "Talk or conference",
        "colour": "#0072b2",
        "symbol": mapview.CATEGORY_SYMBOLS["talk"],
    }
    assert config["lang"] == "en-GB"  # Intl writes dates as British English does
    assert config["distanceUnit"] == "mile"
    assert config["placesUrl"] == "/api/places.json"
    assert config["messages"]["Show on map"] == "Show on map"
    assert config["messages"]["%(num)s event in view"] == {
        "one": "%(num)s event in view",
        "other": "%(num)s events in view",
    }


def test_map_page_config_speaks_the_page_language(client: FlaskClient, store: EventStore) -> None:
    add_valid_event(store, country="DE", city="Berlin", timezone="Europe/Berlin")
    add_valid_event(store, country="FR")
    html = client.get("/fr/").get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="map-config">(.*?)</script>', html, re.S)
    assert block is not None
    config = json.loads(block.group(1))
    assert config["lang"] == "fr"
    assert config["distanceUnit"] == "kilometer"
    assert config["countries"] == {"DE": "Allemagne", "FR": "France"}
    assert list(config["messages"]["%(num)s event in view"]) == ["one", "many", "other"] or set(
        config["messages"]["%(num)s event in view"]
    ) >= {"one", "other"}


def test_every_string_of_map_js_is_in_its_catalog() -> None:
    from mapapp import js_messages

    script = (PROJECT_ROOT / "mapapp" / "static" / "js" / "map.js").read_text(encoding="utf-8")
    messages = set(re.findall(r'\bt\("([^"]+)"', script))
    plurals = set(re.findall(r'\btn\([^,()]+(?:\([^()]*\))?, "([^"]+)"', script))
    assert messages and plurals
    assert messages <= set(js_messages.MESSAGES), messages - set(js_messages.MESSAGES)
    singulars = {singular for singular, _plural in js_messages.PLURALS}
    assert plurals <= singulars, plurals - singulars
    assert "WEEKDAYS" not in script and "MONTHS" not in script
    assert '"en"' not in script and "'en-GB'" not in script


def checked_boxes(html: str, name: str) -> list[str]:
    """Return the values of the checked checkboxes of a filter."""
    return re.findall(rf'name="{name}" value="([^"]+)" checked', html)


def test_filters_are_prefilled_from_the_address(client: FlaskClient, store: EventStore) -> None:
    add_valid_event(store, country="FR")
    add_valid_event(
        store,
        country="DE",
        city="Berlin",
        timezone="Europe/Berlin",
        starts_at="2026-02-28T18:00",
        ends_at="",
    )
    html = client.get("/?country=DE&category=talk&year=2026&q=rare").get_data(as_text=True)
    assert checked_boxes(html, "country") == ["DE"]
    assert checked_boxes(html, "category") == ["talk"]
    assert 'value="DE" checked> Germany</label>' in html
    assert '<option value="2026" selected>2026</option>' in html
    assert 'value="rare"' in html


@pytest.mark.parametrize(
    "query",
    ["country=FR,DE&category=talk,sport", "country=FR&country=DE&category=talk&category=sport"],
)
def test_several_countries_and_categories_are_prefilled(
    client: FlaskClient, store: EventStore, query: str
) -> None:
    add_valid_event(store, country="FR")
    add_valid_event(store, country="DE", city="Berlin", timezone="Europe/Berlin")
    add_valid_event(store, country="JP", city="Tokyo", timezone="Asia/Tokyo")
    response = client.get("/?" + query)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert checked_boxes(html, "country") == ["FR", "DE"]  # in the order of their names
    assert checked_boxes(html, "category") == ["talk", "sport"]
    assert '<span id="filter-country-summary" class="multi-chosen">Countries (2)</span>' in html
    assert "/api/events.geojson?country=FR,DE&amp;category=talk,sport" in html


def test_map_page_in_french_has_french_interface_text(
    client: FlaskClient, store: EventStore
) -> None:
    add_valid_event(store)
    html = client.get("/fr/").get_data(as_text=True)
    assert '<html lang="fr" dir="ltr" data-formats="fr">' in html
    numbers = html[html.index('class="edition-numbers"') :]
    assert "<strong>1</strong>" in numbers


@pytest.mark.parametrize("path", ["/", "/embed"])
def test_pages_send_a_csp_without_inline_scripts(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "img-src 'self' data: https://tile.openstreetmap.org;" in policy
    assert "INLINE" not in scripts_of(response.get_data(as_text=True))
    assert "worker-src 'self';" in policy
    assert "blob:" not in policy


def test_the_clusters_worker_may_load_our_scripts_and_nothing_else(client: FlaskClient) -> None:
    # A worker runs under its own script's policy: the static files' "default-src 'none'" would
    # stop it loading Supercluster, so its script alone gets one that allows our scripts.
    with client.get("/static/js/map-worker.js") as worker:  # closes the file
        assert worker.status_code == 200
        policy = worker.headers["Content-Security-Policy"]
        assert policy == "default-src 'none'; script-src 'self'"
        assert worker.headers["X-Content-Type-Options"] == "nosniff"
    with client.get("/static/js/map-clusters.js") as other:
        assert other.headers["Content-Security-Policy"] == NOT_A_PAGE_POLICY
    config = json.loads(
        client.get("/").get_data(as_text=True).split('id="map-config">')[1].split("</script>")[0]
    )
    assert config["clusterWorkerUrl"] == "/static/js/map-worker.js"
    assert config["clusterScripts"] == [
        "/vendor/supercluster/dist/supercluster.min.js?v=8.0.1",
        "/static/js/map-clusters.js",
    ]


def test_only_the_embed_may_be_framed_elsewhere(client: FlaskClient) -> None:
    embed = client.get("/embed?country=FR")
    assert embed.status_code == 200
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in embed.headers
    assert 'class="site-header"' not in embed.get_data(as_text=True)
    assert "frame-ancestors 'self'" in client.get("/").headers["Content-Security-Policy"]


def test_map_page_offers_an_embed_snippet(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "&lt;iframe src=&#34;http://localhost/embed&#34;" in html or (
        '&lt;iframe src="http://localhost/embed"' in html
    )


# Tiles


@pytest.mark.parametrize(
    ("settings", "url", "attribution", "hosts"),
    [
        (
            {"TILES": "OpenStreetMap"},
            mapview.OSM_TILES,
            mapview.OSM_ATTRIBUTION,
            ["https://tile.openstreetmap.org"],
        ),
        ({"TILES": "none"}, None, "", []),
        (
            {"TILES": "https://{s}.tiles.example.org/{z}/{x}/{y}.png", "TILES_ATTRIBUTION": "© Ex"},
            "https://{s}.tiles.example.org/{z}/{x}/{y}.png",
            "© Ex",
            ["https://*.tiles.example.org"],
        ),
        (
            {"TILES": "http://127.0.0.1:8080/{z}/{x}/{y}.png", "TILES_ATTRIBUTION": "Local"},
            "http://127.0.0.1:8080/{z}/{x}/{y}.png",
            "Local",
            ["http://127.0.0.1:8080"],
        ),
    ],
)
def test_tile_settings(
    settings: dict[str, str], url: str | None, attribution: str, hosts: list[str]
) -> None:
    assert mapview.tile_source(settings) == (url, attribution)
    assert mapview.tile_hosts(settings) == hosts


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"TILES": "tiles.example.org"}, "MAPAPP_TILES must be OpenStreetMap, none, or a tile URL"),
        ({"TILES": "https://t.example.org/{z}/{x}/{y}.png"}, "MAPAPP_TILES_ATTRIBUTION is empty"),
    ],
)
def test_bad_tile_settings_say_how_to_fix_them(settings: dict[str, str], message: str) -> None:
    with pytest.raises(mapview.MapConfigError, match=re.escape(message)):
        mapview.tile_source(settings)


def test_the_app_does_not_start_with_bad_tile_settings(app_config: dict[str, Any]) -> None:
    from mapapp import create_app

    with pytest.raises(mapview.MapConfigError, match="MAPAPP_TILES_ATTRIBUTION is empty"):
        create_app({**app_config, "TILES": "https://t.example.org/{z}/{x}/{y}.png"})


def test_setup_script_is_folium_with_the_configured_tiles(app_config: dict[str, Any]) -> None:
    from mapapp import create_app

    osm = create_app(app_config).test_client().get("/map-setup.js")
    assert osm.mimetype == "text/javascript"
    script = osm.get_data(as_text=True)
    assert "var map_main = L.map(" in script
    assert (
        'L.tileLayer(\n                "https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in script
    )
    assert "OpenStreetMap" in script and "contributors" in script
    bare = create_app({**app_config, "TILES": "none"}).test_client().get("/map-setup.js")
    assert "L.tileLayer" not in bare.get_data(as_text=True)
    again = (
        create_app(app_config)
        .test_client()
        .get("/map-setup.js", headers={"If-None-Match": osm.headers["ETag"]})
    )
    assert again.status_code == 304


def test_vendor_map_keeps_folium_class_lists_untouched() -> None:
    import folium

    before = list(folium.Map.default_js)
    assert mapview.VendorMap.default_js == [("leaflet", "leaflet/dist/leaflet.js")]
    assert mapview.VendorMap.default_js is not folium.Map.default_js
    mapview._setup_script.cache_clear()
    mapview._setup_script(None, "")
    assert folium.Map.default_js == before


# Assets


def test_vendor_serves_declared_packages_with_long_cache(client: FlaskClient) -> None:
    with client.get("/vendor/leaflet/dist/leaflet.js?v=1.9.4") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert "immutable" in response.headers["Cache-Control"]
        assert b"Leaflet" in response.data[:400]


@pytest.mark.parametrize(
    "path",
    [
        "/vendor/commander/package.json",  # installed, but not a dependency of ours
        "/vendor/leaflet/../commander/package.json",
        "/vendor/leaflet/%2e%2e/%2e%2e/pyproject.toml",
        "/vendor/leaflet/dist/nope.js",
        "/vendor/leaflet",
    ],
)
def test_vendor_serves_nothing_else(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_vendor_url_points_at_the_cdn_when_asked(app_config: dict[str, Any]) -> None:
    from mapapp import create_app

    app = create_app({**app_config, "ASSETS": "cdn"})
    with app.test_request_context():
        assert assets.vendor_url("leaflet/dist/leaflet.css") == (
            "https://unpkg.com/leaflet@1.9.4/dist/leaflet.css"
        )
    policy = app.test_client().get("/").headers["Content-Security-Policy"]
    assert "script-src 'self' https://unpkg.com;" in policy
    with app.test_client().get("/static/js/map-worker.js") as worker:  # closes the file
        assert worker.headers["Content-Security-Policy"] == (
            "default-src 'none'; script-src 'self' https://unpkg.com"
        )


def test_missing_node_modules_say_to_run_make_install(tmp_path: Any) -> None:
    with pytest.raises(assets.AssetsMissingError, match="Run `make install`"):
        assets.installed_version("leaflet", tmp_path)


def test_small_map_parts_need_no_inline_script(app: Flask) -> None:
    with app.test_request_context():
        parts = mapview.small_map_parts("48.8566", "2.3522", zoom=11, draggable=True)
    assert 'data-lat="48.856600"' in parts["html"]
    assert 'data-draggable="true"' in parts["html"]
    assert 'data-tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in parts["html"]
    assert scripts_of(parts["scripts"])[-1] == "/static/js/small-map.js"
    assert "INLINE" not in scripts_of(parts["scripts"])
    assert "/vendor/leaflet/dist/leaflet.css" in parts["head"]


def test_every_category_has_its_colour_in_the_style_sheet() -> None:
    text = (PROJECT_ROOT / "mapapp" / "static" / "css" / "map.css").read_text(encoding="utf-8")
    for code, colour in mapview.CATEGORY_COLOURS.items():
        assert f".cat-{code} {{ --cat: {colour};" in text


# The event page and its calendar file


def test_event_page_is_shareable_and_described_for_search_engines(
    client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(store, format="hybrid")
    response = client.get(f"/events/{event['id']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    url = f"http://localhost/events/{event['id']}"
    assert f'<link rel="canonical" href="{url}">' in html
    assert '<meta property="og:title" content="Light up the town hall">' in html
    # British English, as CLDR writes it (the interface's own English).
    assert "Sunday, 28 February 2027, 18:00–22:00 (Paris time, UTC+01:00)" in html
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert data["@type"] == "Event"
    assert data["startDate"] == "2027-02-28T18:00:00+01:00"
    assert data["eventAttendanceMode"] == "https://schema.org/MixedEventAttendanceMode"
    assert [place["@type"] for place in data["location"]] == ["Place", "VirtualLocation"]
    assert 'class="small-map"' in html
    assert f'href="/events/{event["id"]}.ics"' in html
    assert "INLINE" not in scripts_of(html)
    assert "organiser@example.org" not in html


def test_event_page_shows_hostile_text_as_text(client: FlaskClient, store: EventStore) -> None:
    event = add_valid_event(store, title=HOSTILE, description=HOSTILE)
    html = client.get(f"/events/{event['id']}").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert block is not None and json.loads(block.group(1))["name"] == HOSTILE


def test_online_event_page_has_a_virtual_location_and_no_map(
    client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(
        store,
        format="online",
        country="",
        venue="",
        city="",
        latitude="",
        longitude="",
        location_precision="none",
    )
    html = client.get(f"/events/{event['id']}").get_data(as_text=True)
    data = json.loads(
        re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1)
    )  # type: ignore[union-attr]
    assert data["location"] == {"@type": "VirtualLocation", "url": "https://example.org/event"}
    assert 'class="small-map"' not in html
    assert 'data-start="2027-02-28T18:00:00+01:00"' in html


@pytest.mark.parametrize("status", ["pending", "rejected", "withdrawn"])
def test_unpublished_events_have_no_page_nor_calendar(
    client: FlaskClient, store: EventStore, status: str
) -> None:
    event = add_valid_event(store, status=status)
    assert client.get(f"/events/{event['id']}").status_code == 404
    assert client.get(f"/events/{event['id']}.ics").status_code == 404
    assert client.get("/events/unknown1").status_code == 404


def test_event_calendar_file_comes_from_the_exports_renderer(
    client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(store)
    add_valid_event(store, title="Another event")
    response = client.get(f"/events/{event['id']}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="rare-disease-day-{event["id"]}.ics"'
    )
    text = response.get_data(as_text=True)
    assert text.count("BEGIN:VEVENT") == 1
    assert "SUMMARY:Light up the town hall" in text
    assert "DTSTART;TZID=Europe/Paris:20270228T180000" in text


# Mapview's pure pieces


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"starts_at": "2027-02-28T18:00", "ends_at": "", "timezone": "Asia/Tokyo"},
            "Sunday 28 February 2027, 18:00 (Asia/Tokyo, UTC+09:00)",
        ),
        (
            {
                "starts_at": "2027-02-27T20:00",
                "ends_at": "2027-02-28T02:00",
                "timezone": "America/New_York",
            },
            "Saturday 27 February 2027, 20:00 to Sunday 28 February 2027, 02:00 (America/New_York, UTC-05:00)",
        ),
        (
            {"starts_at": "2027-02-28T09:00", "ends_at": "2027-02-28T10:30", "timezone": ""},
            "Sunday 28 February 2027, 09:00–10:30 (UTC, UTC+00:00)",
        ),
        ({"starts_at": "", "timezone": ""}, ""),
    ],
)
def test_describe_when(event: dict[str, str], expected: str) -> None:
    assert mapview.describe_when(event) == expected


def test_public_event_drops_private_fields_and_unsafe_websites() -> None:
    event = make_event(website="javascript:alert(1)", edit_token_hash="x", moderation_note="y")
    public = mapview.public_event(event)
    assert public["website"] == ""
    assert "contact_email" not in public and "edit_token_hash" not in public
    assert "moderation_note" not in public


def test_filter_choices_list_countries_by_name_and_editions(app: Flask) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        [
            make_event(country="DE", status="approved", starts_at="2026-02-28T10:00", id="a"),
            make_event(country="AT", status="approved", id="b"),
            make_event(country="CH", status="pending", id="c"),
        ]
    )
    choices = mapview.filter_choices(frame, 2027)
    assert choices["countries"] == ["AT", "DE"]  # named and sorted by the page, in its language
    assert choices["years"] == [2027, 2026]


def test_map_page_shows_the_edition_in_numbers_from_the_store(sample_data_dir: Path) -> None:
    app = create_app({"ENV": "testing", "SECRET_KEY": "x", "DATA_DIR": str(sample_data_dir)})
    frame = pd.read_csv(
        sample_data_dir / "events.csv", dtype=str, keep_default_na=False, na_filter=False
    )
    edition = current_edition()
    shown = frame[(frame["status"] == "approved") & frame["starts_at"].str.startswith(str(edition))]
    top_code, top_count = next(
        iter(shown.loc[shown["country"] != "", "country"].value_counts().items())
    )

    page = app.test_client().get("/").get_data(as_text=True)

    section = page[page.index('class="edition-numbers"') :]
    total = f"<strong>{len(shown):,}</strong> events in"
    assert total in section
    countries = shown.loc[shown["country"] != "", "country"].nunique()
    assert f"<strong>{countries}</strong> countries so far." in section
    assert (
        f'?country={top_code}">{country_name(top_code)}</a></td><td>{top_count:,}</td>' in section
    )
    online = int((shown["format"] == "online").sum())
    assert f"<td>Online</td><td>{online}</td>" in section
