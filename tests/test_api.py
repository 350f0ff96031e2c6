"""The data API: GeoJSON with filters, compact map data, one event, caching and compression."""

from __future__ import annotations

import gzip
import json
import random
from typing import Any

import pytest
from flask.testing import FlaskClient

from mapapp import create_app
from mapapp.events import PUBLIC_FIELDS
from mapapp.storage import EventStore
from tests.conftest import add_valid_event, change, make_event

HOSTILE_TITLE = (
    "</script><script>alert(1)</script> ${alert(2)} `${alert(3)}` <img src=x onerror=alert(4)>"
)


@pytest.fixture
def events(store: EventStore) -> dict[str, dict[str, str]]:
    """Store a small varied set of events and return them by nickname."""
    return {
        "paris": add_valid_event(store, title="Paris lights"),
        "lyon": add_valid_event(
            store,
            title="Lyon run",
            category="sport",
            city="Lyon",
            latitude="45.764043",
            longitude="4.835659",
        ),
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
        "online": add_valid_event(
            store,
            title="Webinar for all",
            category="online",
            format="online",
            country="",
            city="",
            venue="",
            latitude="",
            longitude="",
            location_precision="none",
        ),
        "past": add_valid_event(
            store,
            title="Last year in Paris",
            starts_at="2026-02-28T18:00",
            ends_at="2026-02-28T20:00",
        ),
        "pending": add_valid_event(store, title="Not yet approved", status="pending"),
    }


def test_geojson_is_a_feature_collection_of_approved_events_with_public_fields_only(
    client: FlaskClient, events: dict[str, dict[str, str]]
) -> None:
    response = client.get("/api/events.geojson")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = response.get_json(force=True)
    assert body["type"] == "FeatureCollection"
    titles = {feature["properties"]["title"] for feature in body["features"]}
    assert titles == {
        "Paris lights",
        "Lyon run",
        "Tokyo talk",
        "Webinar for all",
        "Last year in Paris",
    }
    tokyo = next(f for f in body["features"] if f["id"] == events["tokyo"]["id"])
    assert tokyo["geometry"] == {"type": "Point", "coordinates": [139.691706, 35.689487]}
    assert set(tokyo["properties"]) <= set(PUBLIC_FIELDS)
    online = next(f for f in body["features"] if f["id"] == events["online"]["id"])
    assert online["geometry"] is None
    text = response.get_data(as_text=True)
    for secret in ("contact_email", "organiser@example.org", "edit_token_hash", "moderation_note"):
        assert secret not in text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("country=FR", {"Paris lights", "Lyon run", "Last year in Paris"}),
        ("country=fr,jp&category=sport,talk", {"Lyon run", "Tokyo talk"}),
        ("format=online", {"Webinar for all"}),
        ("year=2026", {"Last year in Paris"}),
        ("from=2027-01-01&to=2027-12-31&category=illumination", {"Paris lights"}),
        ("q=TOKYO", {"Tokyo talk"}),
        ("q=lyon&year=2027", {"Lyon run"}),
    ],
)
def test_geojson_filters_with_the_map_query_parameters(
    client: FlaskClient, events: dict[str, dict[str, str]], query: str, expected: set[str]
) -> None:
    body = client.get(f"/api/events.geojson?{query}").get_json(force=True)
    assert {feature["properties"]["title"] for feature in body["features"]} == expected


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("country=XX", "country", "Country: unknown value XX."),
        ("category=picnic", "category", "Category: unknown value picnic."),
        ("year=1999", "year", "Year: choose an edition such as 2027, or all."),
        ("from=28/02/2027", "from", "From: write the date as YYYY-MM-DD."),
        ("from=2027-03-01&to=2027-02-01", "to", "To: the end date is before the start date."),
    ],
)
@pytest.mark.parametrize("endpoint", ["/api/events.geojson", "/api/search.json"])
def test_invalid_filters_get_a_400_that_names_them(
    client: FlaskClient, endpoint: str, query: str, field: str, message: str
) -> None:
    response = client.get(f"{endpoint}?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["errors"] == {field: message}
    assert body["message"] == f"Some filters are not valid: {message}"


def test_map_data_is_compact_columns_aligned_with_the_labels(
    client: FlaskClient, events: dict[str, dict[str, str]]
) -> None:
    data = client.get("/api/map-data.json").get_json()
    labels = client.get("/api/map-labels.json").get_json()
    assert data["count"] == labels["count"] == 5
    for column in ("id", "lat", "lon", "category", "format", "country", "day"):
        assert len(data[column]) == 5
    position = data["id"].index(events["tokyo"]["id"])
    assert labels["title"][position] == "Tokyo talk"
    assert labels["city"][position] == "Tokyo"
    assert data["lat"][position] == 35689 and data["lon"][position] == 139692
    assert data["scale"] == 1000
    assert data["categories"][data["category"][position]] == "talk"
    assert data["formats"][data["format"][position]] == "in_person"
    assert data["countries"][data["country"][position]] == "JP"
    assert data["day"][position] == 20877  # 2027-02-28 is day 20877 since 1970-01-01
    online = data["id"].index(events["online"]["id"])
    assert data["lat"][online] is None and data["country"][online] == -1
    assert events["pending"]["id"] not in data["id"]


def test_map_data_takes_under_30_bytes_per_event_gzipped(
    client: FlaskClient, store: EventStore
) -> None:
    rng = random.Random(4)
    rows = []
    for number in range(3000):
        rows.append(
            make_event(
                title=f"Event number {number} with a long enough title",
                category=rng.choice(["talk", "sport", "illumination", "awareness", "social"]),
                country=rng.choice(["FR", "DE", "IT", "ES", "US", "BR", "JP", "IN"]),
                latitude=f"{rng.uniform(-50, 65):.6f}",
                longitude=f"{rng.uniform(-170, 170):.6f}",
                starts_at=f"2027-02-{rng.randint(1, 28):02d}T18:00",
                ends_at="",
            )
        )
    store.add_many(rows)
    response = client.get("/api/map-data.json", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(response.data))["count"] == 3000
    assert len(response.data) / 3000 < 30


def test_search_answers_the_ids_of_matching_events(
    client: FlaskClient, events: dict[str, dict[str, str]]
) -> None:
    body = client.get("/api/search.json?q=paris").get_json()
    assert set(body["ids"]) == {events["paris"]["id"], events["past"]["id"]}


def test_one_event_has_its_public_fields_and_start_with_offset(
    client: FlaskClient, events: dict[str, dict[str, str]]
) -> None:
    response = client.get(f"/api/events/{events['tokyo']['id']}.json")
    assert response.status_code == 200
    body = response.get_json()
    assert set(PUBLIC_FIELDS) <= set(body)
    assert "contact_email" not in body and "edit_token_hash" not in body
    assert body["start"] == "2027-02-28T18:00:00+09:00"
    assert body["end"] == "2027-02-28T22:00:00+09:00"
    assert body["country_name"] == "Japan"


@pytest.mark.parametrize("nickname", ["pending", None])
def test_unpublished_or_unknown_events_are_404_in_json(
    client: FlaskClient, events: dict[str, dict[str, str]], nickname: str | None
) -> None:
    event_id = events[nickname]["id"] if nickname else "nosuchid"
    response = client.get(f"/api/events/{event_id}.json")
    assert response.status_code == 404
    assert response.get_json()["message"] == f"No published event has the id {event_id!r}."


def test_hostile_text_comes_back_as_the_same_text_in_json(
    client: FlaskClient, store: EventStore
) -> None:
    # (U+2028, a line break JSON leaves unescaped, is stored as one: see test_events.)
    event = add_valid_event(store, title=HOSTILE_TITLE, organiser='O\'Brien & "Sons" <b>line</b>')
    body: dict[str, Any] = client.get(f"/api/events/{event['id']}.json").get_json()
    assert body["title"] == HOSTILE_TITLE
    assert body["organiser"] == 'O\'Brien & "Sons" <b>line</b>'
    labels = client.get("/api/map-labels.json").get_json()
    assert labels["title"] == [HOSTILE_TITLE]
    geojson = client.get("/api/events.geojson").get_json(force=True)
    assert geojson["features"][0]["properties"]["title"] == HOSTILE_TITLE


@pytest.mark.parametrize(
    "url",
    ["/api/events.geojson", "/api/map-data.json", "/api/map-labels.json", "/api/search.json?q=x"],
)
def test_data_endpoints_answer_304_until_the_store_changes(
    client: FlaskClient, store: EventStore, events: dict[str, dict[str, str]], url: str
) -> None:
    first = client.get(url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.headers["Cache-Control"] == "public, no-cache"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    change(store, events["lyon"]["id"], {"title": "Lyon run x"})
    changed = client.get(url, headers={"If-None-Match": etag})
    if url.endswith("q=x"):  # the new title matches x: the ids change
        assert changed.status_code == 200 and changed.get_json()["ids"] == [events["lyon"]["id"]]
    elif url.endswith("map-data.json"):  # titles are not in the map data: same body, same tag
        assert changed.status_code == 304
    else:
        assert changed.status_code == 200
        assert changed.headers["ETag"] != etag


def test_bodies_are_gzipped_when_accepted_and_vary_on_it(
    client: FlaskClient, events: dict[str, dict[str, str]]
) -> None:
    plain = client.get("/api/events.geojson")
    zipped = client.get("/api/events.geojson", headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    assert "Accept-Encoding" in zipped.headers["Vary"]
    again = client.get(
        "/api/events.geojson",
        headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]},
    )
    assert again.status_code == 304


def test_bodies_are_built_once_per_store_version(
    client: FlaskClient, app: Any, events: dict[str, dict[str, str]]
) -> None:
    # The map data and labels are kept by the public index (tests/test_map_data.py); the
    # filtered bodies by the cache.
    client.get("/api/events.geojson")
    cache = app.extensions["mapapp.api_cache"]
    body = next(iter(cache._entries.values()))
    client.get("/api/events.geojson")
    assert len(cache._entries) == 1
    assert next(iter(cache._entries.values())) is body


@pytest.mark.parametrize("url", ["/api/events.geojson?q=paris", "/api/search.json?q=0"])
def test_an_empty_store_answers_empty_results(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    body = response.get_json(force=True)
    assert body.get("features", body.get("ids")) == []


def test_a_flood_of_distinct_filters_stays_under_the_cache_bound(
    app_config: dict[str, Any],
) -> None:
    bound = 64 * 1024
    app = create_app({**app_config, "API_CACHE_BYTES": bound})
    store = app.extensions["mapapp.store"]
    rng = random.Random(10)
    store.add_many(
        [
            make_event(title=f"Event {n}", description="x" * rng.randrange(100, 2000))
            for n in range(60)
        ]
    )
    client = app.test_client()
    sizes = []
    for day in range(1, 81):  # 80 distinct filters that each keep every event
        response = client.get(
            f"/api/events.geojson?from=2008-01-{day % 28 + 1:02d}&to=2100-{day // 28 + 1:02d}-01"
        )
        assert response.status_code == 200
        assert len(response.get_json()["features"]) == 60
        sizes.append(len(response.data))
    cache = app.extensions["mapapp.api_cache"]
    # What the cache holds, counted from its bodies whatever form they take.
    held = sum(
        len(getattr(body, name, b"") or b"")
        for body in cache._entries.values()
        for name in ("data", "plain", "gzipped")
        if isinstance(getattr(body, name, None), bytes)
    )
    assert held <= bound < sum(sizes)
    assert cache.nbytes <= bound
    assert len(cache._entries) >= 2  # recent bodies are still kept


def test_a_body_over_the_bound_is_answered_not_kept(
    app_config: dict[str, Any],
) -> None:
    app = create_app({**app_config, "API_CACHE_BYTES": 1000})
    store = app.extensions["mapapp.store"]
    store.add_many([make_event(title=f"Event {n}", description="x" * 500) for n in range(20)])
    client = app.test_client()
    for _ in range(2):
        response = client.get("/api/events.geojson")
        assert response.status_code == 200 and len(response.get_json()["features"]) == 20
    assert not app.extensions["mapapp.api_cache"]._entries
