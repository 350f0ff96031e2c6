"""The placing maps' endpoints (/places/search, /places/at), the confirmation's and the
coordinator's out-of-country check, and the town-centre note of the preview."""

# The stub fixtures are imported, so each test parameter naming one "redefines" it:
# ruff: noqa: F811
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from mapapp import coordinators, create_app
from mapapp.storage import EventStore
from mapapp.web import places
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, add_valid_event, sign_in
from tests.nominatim_stub import (  # noqa: F401  (fixtures)
    NominatimStub,
    nominatim_config,
    nominatim_stub,
)
from tests.servers import server_env, serving
from tests.test_fuzz_routes import csrf_token
from tests.test_submit import confirm, post_details

ALGIERS = {"lat": "36.753800", "lon": "3.058800"}
ALGIERS_WARNING = "This point is in Algeria, not Spain: drag the pin if that is wrong."
NOT_A_PAGE_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"


# /places/at


def test_a_point_says_its_time_zone_and_warns_outside_the_country(client: FlaskClient) -> None:
    response = client.get("/places/at", query_string={**ALGIERS, "country": "es"})
    assert response.status_code == 200
    assert response.get_json() == {
        "zone": "Africa/Algiers",
        "zone_message": "Time zone: Africa/Algiers",
        "country": "DZ",
        "outside": True,
        "message": ALGIERS_WARNING,
    }
    assert response.headers["Content-Security-Policy"] == NOT_A_PAGE_POLICY


def test_a_point_in_monaco_for_a_monaco_event_is_not_warned_about(client: FlaskClient) -> None:
    response = client.get(
        "/places/at", query_string={"lat": "43.7396", "lon": "7.4276", "country": "MC"}
    )
    body = response.get_json()
    assert (body["zone_message"], body["outside"], body["message"]) == (
        "Time zone: Europe/Monaco",
        False,
        "",
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"lon": "3"}, "Latitude: give a number between -90 and 90."),
        ({"lat": "91", "lon": "3"}, "Latitude: give a number between -90 and 90."),
        ({"lat": "nan", "lon": "3"}, "Latitude: give a number between -90 and 90."),
        ({"lat": "١٢", "lon": "3"}, "Latitude: give a number between -90 and 90."),
        ({"lat": "1e309", "lon": "3"}, "Latitude: give a number between -90 and 90."),
        ({"lat": "36", "lon": "-180.5"}, "Longitude: give a number between -180 and 180."),
        ({"lat": "36", "lon": "3", "country": "Spain"}, places.COUNTRY_MESSAGE),
        ({"lat": "36", "lon": "3", "country": "ZZ"}, places.COUNTRY_MESSAGE),
    ],
)
def test_a_bad_point_is_refused_with_its_field_named(
    client: FlaskClient, query: dict[str, str], message: str
) -> None:
    response = client.get("/places/at", query_string=query)
    assert (response.status_code, response.get_json()) == (
        400,
        {"error": "Bad Request", "message": message},
    )


# /places/search


def test_the_search_finds_towns_in_the_events_country(client: FlaskClient) -> None:
    response = client.get("/places/search", query_string={"q": "Paradas", "country": "ES"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "found"
    first = body["places"][0]
    assert first["name"] == "Paradas, Spain" and first["zone"] == "Europe/Madrid"
    assert first["lat"] == pytest.approx(37.29, abs=0.02)
    assert first["precision"] == "city"
    texas = client.get("/places/search", query_string={"q": "Paris", "country": "US"}).get_json()
    assert texas["places"] and all(
        place["name"].endswith("United States") for place in texas["places"]
    )


def test_a_search_that_finds_nothing_says_so_with_suggestions(client: FlaskClient) -> None:
    response = client.get("/places/search", query_string={"q": "Zurch", "country": "CH"})
    assert response.get_json() == {
        "status": "not_found",
        "message": "We could not find 'Zurch' in Switzerland. Did you mean Zürich?",
        "places": [],
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({}, places.QUERY_MESSAGE),
        ({"q": "   "}, places.QUERY_MESSAGE),
        ({"q": "x" * 201}, "Search: keep it under 200 characters."),
        ({"q": "Paris\x00"}, places.CONTROL_MESSAGE),
        ({"q": "Paris", "country": "France"}, places.COUNTRY_MESSAGE),
    ],
)
def test_a_bad_search_is_refused_with_a_message(
    client: FlaskClient, query: dict[str, str], message: str
) -> None:
    response = client.get("/places/search", query_string=query)
    assert (response.status_code, response.get_json()["message"]) == (400, message)


def test_searches_are_rate_limited_per_client(app_config: dict[str, Any]) -> None:
    app_config["PLACE_SEARCH_RATE_LIMIT"] = "2 per minute"
    client = create_app(app_config).test_client()
    statuses = [
        client.get("/places/search", query_string={"q": "Lyon"}).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    refused = client.get("/places/search", query_string={"q": "Lyon"})
    body = refused.get_json()
    assert 0 < body["retry_after"] <= 60
    assert body["message"] == (
        "You have sent many requests in a short time: please try again in a minute."
    )
    assert int(refused.headers["Retry-After"]) > 0
    # Checking a point is not a search: it stays open.
    assert client.get("/places/at", query_string=ALGIERS).status_code == 200


def test_the_search_asks_nominatim_once_when_configured(
    app_config: dict[str, Any], nominatim_config: dict[str, Any], nominatim_stub: NominatimStub
) -> None:
    nominatim_stub.add(
        "Calle Real 5, Paradas",
        37.2911,
        -5.4952,
        "5, Calle Real, Paradas, Sevilla, Andalucía, España",
        address={"road": "Calle Real", "town": "Paradas", "country_code": "es"},
    )
    client = create_app({**app_config, **nominatim_config, "GEOCODER": "nominatim"}).test_client()
    query = {"q": "Calle Real 5, Paradas", "country": "ES"}
    body = client.get("/places/search", query_string=query).get_json()
    names = [(place["name"], place["precision"], place["source"]) for place in body["places"]]
    assert names == [
        ("5, Calle Real, Paradas, Sevilla, Andalucía, España", "address", "nominatim"),
        ("Paradas, Spain", "city", "gazetteer"),
    ]
    [request] = nominatim_stub.search_requests()
    assert request.params["countrycodes"] == "es"
    # The same search again comes from the cache: Nominatim is not asked twice.
    assert client.get("/places/search", query_string=query).get_json()["places"][0]["lat"] == (
        pytest.approx(37.2911)
    )
    assert len(nominatim_stub.search_requests()) == 1
    # A town the gazetteer knows is answered without Nominatim.
    town = client.get("/places/search", query_string={"q": "Paradas", "country": "ES"})
    assert [place["source"] for place in town.get_json()["places"]] == ["gazetteer"]
    assert len(nominatim_stub.search_requests()) == 1


def test_when_nominatim_is_down_the_gazetteer_still_answers(
    app_config: dict[str, Any], nominatim_config: dict[str, Any], nominatim_stub: NominatimStub
) -> None:
    nominatim_stub.fail_with(503)
    client = create_app({**app_config, **nominatim_config}).test_client()
    query = {"q": "Calle Real 5, Paradas", "country": "ES"}
    body = client.get("/places/search", query_string=query).get_json()
    assert [place["name"] for place in body["places"]] == ["Paradas, Spain"]
    assert "We could not reach the geocoding service just now" in body["message"]


# The pages


def test_both_placing_maps_get_the_configured_tiles(app_config: dict[str, Any]) -> None:
    tiles = "http://127.0.0.1:9/{z}/{x}/{y}.png"
    app = create_app({**app_config, "TILES": tiles, "TILES_ATTRIBUTION": "Stub tiles"})
    client = app.test_client()
    page = post_details(client, city="Paradas", country="ES", language="es")
    text = page.get_data(as_text=True)
    assert '"tiles": "http://127.0.0.1:9/{z}/{x}/{y}.png"' in text
    assert "img-src 'self' data: http://127.0.0.1:9;" in page.headers["Content-Security-Policy"]
    assert 'id="preview-query"' in text and "Search for a place to move the pin" in text
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    sign_in(client, COORDINATOR_NAME, COORDINATOR_PASSWORD)
    add_valid_event(app.extensions["mapapp.store"], status="pending")
    queue = client.get("/admin/")
    assert '"tiles": "http://127.0.0.1:9/{z}/{x}/{y}.png"' in queue.get_data(as_text=True)
    assert "img-src 'self' data: http://127.0.0.1:9;" in queue.headers["Content-Security-Policy"]


def test_the_queue_map_opens_on_the_events_country(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(
        store,
        status="pending",
        city="Nowhere-at-all",
        country="MT",
        latitude="",
        longitude="",
        location_precision="none",
        timezone="Europe/Malta",
    )
    page = coordinator_client.get("/admin/").get_data(as_text=True)
    match = re.search(r"data-view='([^']+)' data-country=\"MT\"", page)
    assert match, page
    assert '"bounds": [[35.8' in match.group(1)
    assert f'id="place-{event["id"]}-query"' in page


def test_a_typed_street_placed_at_the_town_invites_a_drag(client: FlaskClient) -> None:
    page = post_details(client, address="Calle Real 5", city="Paradas", country="ES")
    assert (
        "We placed the pin at the centre of Paradas: drag it to the exact place if you can."
        in page.get_data(as_text=True)
    )
    plain = post_details(client, address="", city="Paradas", country="ES")
    assert "We placed the pin at the centre" not in plain.get_data(as_text=True)


def test_confirming_a_pin_outside_the_country_shows_the_warning_again(
    client: FlaskClient, store: EventStore
) -> None:
    preview = post_details(client, city="Madrid", country="ES", language="es")
    page = preview.get_data(as_text=True)
    refused = confirm(client, page, latitude=ALGIERS["lat"], longitude=ALGIERS["lon"])
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert f"{ALGIERS_WARNING} If the pin is right, tick the box to keep it there." in body
    assert 'name="keep_point"' in body
    assert 'value="36.753800"' in body  # the typed point is kept, and the map shows it
    assert len(store) == 0
    # The answer also shows the zone of the point (Africa/Algiers) for confirmation.
    kept = confirm(client, body, latitude=ALGIERS["lat"], longitude=ALGIERS["lon"], keep_point="y")
    assert kept.status_code == 303
    [event] = store.frame().to_dict("records")
    assert (event["latitude"], event["timezone"]) == ("36.753800", "Africa/Algiers")


def test_confirming_a_pin_inside_the_country_needs_no_tick(
    client: FlaskClient, store: EventStore
) -> None:
    page = post_details(client, city="Barcelona", country="ES").get_data(as_text=True)
    offshore = confirm(client, page, latitude="41.360000", longitude="2.225000")
    assert offshore.status_code == 303 and len(store) == 1


def test_a_coordinator_placing_outside_the_country_is_told(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(
        store, status="pending", city="Madrid", country="ES", timezone="Europe/Madrid"
    )
    token = csrf_token(coordinator_client.get("/admin/").get_data(as_text=True))
    form = {"csrf_token": token, "version": event["version"], "latitude": "36.7538"}
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/place",
        data={**form, "longitude": "3.0588", "next": "/admin/"},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert ALGIERS_WARNING in page
    assert "Placed the event on the map: its times are in Africa/Algiers." in page
    assert store.get(event["id"])["timezone"] == "Africa/Algiers"
    moved = store.get(event["id"])
    inside = coordinator_client.post(
        f"/admin/events/{event['id']}/place",
        data={**form, "version": moved["version"], "latitude": "40.4", "longitude": "-3.7"},
        follow_redirects=True,
    )
    assert "not Spain" not in inside.get_data(as_text=True)


@pytest.mark.slow
def test_searches_on_several_workers_keep_to_one_nominatim_request_a_second(
    data_dir: Path, tmp_path: Path, server_port: int, nominatim_stub: NominatimStub
) -> None:
    env = {
        **server_env(data_dir),
        "MAPAPP_GEOCODER": "nominatim",
        "MAPAPP_NOMINATIM_URL": nominatim_stub.url,
        "MAPAPP_NOMINATIM_USER_AGENT": "mapapp-tests/1.0 (tests@example.org)",
        "MAPAPP_NOMINATIM_MIN_INTERVAL": "1.0",
        "MAPAPP_PLACE_SEARCH_RATE_LIMIT": "off",
    }
    streets = [f"Calle Real {number}, Paradas" for number in range(4)]
    with serving(data_dir, tmp_path / "serve.log", server_port, workers=3, env=env) as (url, _):

        def search(text: str) -> int:
            query = {"q": text, "country": "ES"}
            return requests.get(f"{url}/places/search", params=query, timeout=30).status_code

        with ThreadPoolExecutor(len(streets)) as pool:
            statuses = list(pool.map(search, streets))
    assert statuses == [200] * len(streets)
    arrivals = sorted(request.arrived for request in nominatim_stub.search_requests())
    assert len(arrivals) == len(streets)
    assert min(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) >= 0.99
