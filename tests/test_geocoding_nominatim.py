"""Nominatim through geopy against a local stand-in server; the chain and the persistent cache."""

# The stub fixtures are imported, so each test parameter naming one "redefines" it:
# ruff: noqa: F811
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from mapapp import create_app
from mapapp.config import ConfigError
from mapapp.geocoding import (
    UNAVAILABLE_MESSAGE,
    GeocodeCache,
    Geocoder,
    Request,
    build_geocoder,
    locate,
)
from mapapp.geocoding.nominatim import NominatimClient, NominatimUnavailable
from tests.nominatim_stub import (  # noqa: F401  (fixtures)
    NominatimStub,
    nominatim_config,
    nominatim_stub,
    refused_url,
)

DOWNING_STREET = (51.5034, -0.1276)
DOWNING_ADDRESS = {
    "road": "Downing Street",
    "city": "London",
    "state": "England",
    "country": "United Kingdom",
    "country_code": "gb",
}


@pytest.fixture
def chain_app(app_config: dict[str, Any], nominatim_config: dict[str, Any]) -> Flask:
    app_config.update(nominatim_config)
    return create_app(app_config)


def geocode(app: Flask, **fields: str) -> Any:
    with app.app_context():
        return locate(**fields)


def add_downing_street(stub: NominatimStub) -> None:
    stub.add(
        "10 Downing Street, London",
        *DOWNING_STREET,
        "10, Downing Street, Westminster, London, SW1A 2AA, United Kingdom",
        address=DOWNING_ADDRESS,
    )


def test_a_street_address_is_placed_by_nominatim(
    chain_app: Flask, nominatim_stub: NominatimStub
) -> None:
    add_downing_street(nominatim_stub)

    result = geocode(chain_app, address="10 Downing Street", city="London", country="GB")

    assert result.status == "found"
    place = result.best
    assert (place.latitude, place.longitude) == DOWNING_STREET
    assert (place.precision, place.source) == ("address", "nominatim")
    assert (place.city, place.region, place.country) == ("London", "England", "GB")
    assert place.timezone == "Europe/London"
    [request] = nominatim_stub.search_requests()
    assert request.params["street"] == "10 Downing Street"
    assert request.params["countrycodes"] == "gb"
    assert request.params["format"] == "json"
    assert request.headers["User-Agent"] == "mapapp-tests/1.0 (tests@example.org)"


def test_a_town_alone_never_leaves_the_machine(
    chain_app: Flask, nominatim_stub: NominatimStub
) -> None:
    result = geocode(chain_app, city="Genève", country="CH")

    assert (result.best.source, result.best.precision) == ("gazetteer", "city")
    assert nominatim_stub.requests == []


def test_free_text_with_a_street_goes_to_nominatim(
    chain_app: Flask, nominatim_stub: NominatimStub
) -> None:
    nominatim_stub.add("Rue de Rivoli 1, Paris, France", 48.8558, 2.3601, "1, Rue de Rivoli, Paris")

    result = geocode(chain_app, text="Rue de Rivoli 1, Paris, France")

    assert (result.best.source, result.best.latitude) == ("nominatim", 48.8558)
    assert nominatim_stub.search_requests()[0].params["q"] == "Rue de Rivoli 1, Paris, France"


def test_an_unknown_street_falls_back_to_the_town(
    chain_app: Flask, nominatim_stub: NominatimStub
) -> None:
    result = geocode(chain_app, address="1 Nowhere Lane", city="London", country="GB")

    assert result.status == "found"
    assert (result.best.source, result.best.precision) == ("gazetteer", "city")
    assert result.message == (
        "Found London, England, United Kingdom. We could not place the street address, "
        "so the event is shown at the town."
    )
    assert len(nominatim_stub.search_requests()) == 1


def test_nominatim_alone_says_not_found(
    app_config: dict[str, Any], nominatim_config: dict[str, Any], nominatim_stub: NominatimStub
) -> None:
    app = create_app({**app_config, **nominatim_config, "GEOCODER": "nominatim"})

    result = geocode(app, text="Nowhere at all")

    assert (result.status, result.places) == ("not_found", ())
    assert result.message.startswith("We could not find 'Nowhere at all'.")


@pytest.mark.parametrize("status", [500, 502, 503, 403])
def test_a_server_error_is_service_unavailable_without_retries(
    app_config: dict[str, Any],
    nominatim_config: dict[str, Any],
    nominatim_stub: NominatimStub,
    status: int,
) -> None:
    app = create_app({**app_config, **nominatim_config, "GEOCODER": "nominatim"})
    nominatim_stub.fail_with(status, times=3)

    result = geocode(app, text="10 Downing Street, London")

    assert (result.status, result.message) == ("unavailable", UNAVAILABLE_MESSAGE)
    assert len(nominatim_stub.search_requests()) == 1


def test_the_town_is_kept_when_nominatim_is_down(
    chain_app: Flask, nominatim_stub: NominatimStub
) -> None:
    nominatim_stub.fail_with(503)

    result = geocode(chain_app, address="10 Downing Street", city="London", country="GB")

    assert (result.status, result.best.source) == ("found", "gazetteer")
    assert result.message.endswith(
        "The street-level service is unavailable, so the event is shown at the town."
    )


def test_rate_limiting_honours_retry_after(
    app_config: dict[str, Any],
    nominatim_config: dict[str, Any],
    nominatim_stub: NominatimStub,
    data_dir: Path,
) -> None:
    app = create_app({**app_config, **nominatim_config, "GEOCODER": "nominatim"})
    nominatim_stub.fail_with(429, {"Retry-After": "30"})

    first = geocode(app, text="10 Downing Street, London")
    started = time.monotonic()
    second = geocode(app, text="1 Other Street, London")

    assert (first.status, second.status) == ("unavailable", "unavailable")
    assert time.monotonic() - started < 1  # told to wait 30 s: fails at once, sends nothing
    assert len(nominatim_stub.search_requests()) == 1
    assert float((data_dir / ".nominatim-next").read_text()) > time.time() + 25


def test_a_short_retry_after_is_waited_for(nominatim_stub: NominatimStub, data_dir: Path) -> None:
    client = NominatimClient(nominatim_stub.url, "mapapp-tests/1.0", 5.0, 1.0, data_dir)
    add_downing_street(nominatim_stub)
    nominatim_stub.fail_with(503, {"Retry-After": "2"})
    try:
        with pytest.raises(NominatimUnavailable) as failure:
            client.search("10 Downing Street, London")
        assert failure.value.retry_after == 2
        found = client.search("10 Downing Street, London")
    finally:
        client.close()

    first, second = nominatim_stub.search_requests()
    assert second.arrived - first.arrived >= 2
    assert found[0].latitude == DOWNING_STREET[0]


def test_a_slow_server_times_out(
    app_config: dict[str, Any],
    nominatim_config: dict[str, Any],
    nominatim_stub: NominatimStub,
) -> None:
    app = create_app({**app_config, **nominatim_config, "GEOCODER": "nominatim"})
    nominatim_stub.delay = 3

    started = time.monotonic()
    result = geocode(app, text="10 Downing Street, London")

    assert result.status == "unavailable"
    assert time.monotonic() - started < 2.5
    assert len(nominatim_stub.search_requests()) == 1


def test_a_refused_connection_is_service_unavailable(
    app_config: dict[str, Any], nominatim_config: dict[str, Any], refused_url: str
) -> None:
    config = {**nominatim_config, "GEOCODER": "nominatim", "NOMINATIM_URL": refused_url}
    app = create_app({**app_config, **config})

    result = geocode(app, text="10 Downing Street, London")

    assert (result.status, result.message) == ("unavailable", UNAVAILABLE_MESSAGE)


def test_two_quick_queries_are_a_second_apart(
    chain_app: Flask, nominatim_stub: NominatimStub
) -> None:
    geocode(chain_app, text="1 First Street, London")
    geocode(chain_app, text="2 Second Street, London")

    first, second = nominatim_stub.search_requests()
    assert second.arrived - first.arrived >= 1.0


CLIENT_SCRIPT = """
import sys
from mapapp.geocoding.nominatim import NominatimClient
client = NominatimClient(sys.argv[1], "mapapp-tests/1.0", 10.0, 1.0, sys.argv[2])
for number in range(2):
    client.search(f"{number} Street of process {sys.argv[3]}")
client.close()
"""


@pytest.mark.slow
def test_processes_share_the_one_request_a_second_rule(
    nominatim_stub: NominatimStub, data_dir: Path
) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT_SCRIPT, nominatim_stub.url, str(data_dir), str(n)]
        )
        for n in range(2)
    ]
    assert [process.wait(timeout=60) for process in processes] == [0, 0]

    arrivals = sorted(request.arrived for request in nominatim_stub.search_requests())
    assert len(arrivals) == 4
    assert min(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) >= 1.0


def test_answers_are_cached_across_geocoders(
    nominatim_stub: NominatimStub, nominatim_config: dict[str, Any], data_dir: Path
) -> None:
    add_downing_street(nominatim_stub)
    config = {**nominatim_config, "DATA_DIR": str(data_dir)}
    query = Request(address="10 Downing Street", city="London", country="GB")
    missing = Request(address="1 Nowhere Lane", city="London", country="GB")

    first = build_geocoder(config)
    found = first.locate(query)
    first.locate(missing)
    second = build_geocoder(config)  # another process or a restart: a new cache object
    again = second.locate(query)
    again_missing = second.locate(missing)

    assert found.best.source == "nominatim"
    assert again.best.source == "cache"
    assert (again.best.latitude, again.best.longitude) == DOWNING_STREET
    assert again.best.timezone == "Europe/London"
    assert again_missing.best.source == "gazetteer"  # the cached "not found" falls back to town
    assert len(nominatim_stub.search_requests()) == 2
    assert (data_dir / "geocode_cache.csv").read_text(encoding="utf-8-sig").count("\n") == 3


def test_a_cache_key_ignores_case_and_spacing() -> None:
    assert (
        Request(text="10 Downing  Street").cache_key()
        == Request(text="10 downing street").cache_key()
    )
    assert Request(city="London").cache_key() != Request(text="London").cache_key()


def test_service_failures_are_not_cached(
    nominatim_stub: NominatimStub, nominatim_config: dict[str, Any], data_dir: Path
) -> None:
    add_downing_street(nominatim_stub)
    geocoder = build_geocoder({**nominatim_config, "GEOCODER": "nominatim", "DATA_DIR": data_dir})
    nominatim_stub.fail_with(503)

    failed = geocoder.locate(Request(text="10 Downing Street, London"))
    retried = geocoder.locate(Request(text="10 Downing Street, London"))

    assert (failed.status, retried.status) == ("unavailable", "found")
    assert retried.best.source == "nominatim"
    assert GeocodeCache(data_dir).get(Request(text="10 Downing Street, London")) is not None


def test_the_offline_geocoder_needs_no_server(app: Flask) -> None:
    geocoder: Geocoder = app.extensions["mapapp.geocoder"]
    assert (geocoder.mode, geocoder.nominatim, geocoder.cache) == ("offline", None, None)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("GEOCODER", "google", "MAPAPP_GEOCODER must be one of offline, nominatim, chain"),
        ("NOMINATIM_USER_AGENT", " ", "MAPAPP_NOMINATIM_USER_AGENT is empty."),
        ("NOMINATIM_URL", "nominatim.example", r"MAPAPP_NOMINATIM_URL must be an http\(s\) URL"),
        ("GAZETTEER_MIN_POPULATION", "2000", "MAPAPP_GAZETTEER_MIN_POPULATION must be one of"),
    ],
)
def test_bad_settings_say_what_to_fix(
    app_config: dict[str, Any], setting: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app({**app_config, "GEOCODER": "chain", setting: value})


def test_a_misspelt_town_with_nominatim_down_keeps_the_suggestion(
    chain_app: Flask, nominatim_stub: NominatimStub
) -> None:
    nominatim_stub.fail_with(503)

    result = geocode(chain_app, city="Zurch", country="CH")

    assert (result.status, result.suggestions) == ("unavailable", ("Zürich",))
    assert result.message == (
        f"We could not find 'Zurch' in Switzerland. Did you mean Zürich? {UNAVAILABLE_MESSAGE}"
    )


def test_an_address_nominatim_does_not_know_is_named_whole(
    app_config: dict[str, Any], nominatim_config: dict[str, Any], nominatim_stub: NominatimStub
) -> None:
    app = create_app({**app_config, **nominatim_config, "GEOCODER": "nominatim"})

    result = geocode(app, address="1 Nowhere Lane", city="London", country="GB")

    assert result.status == "not_found"
    assert result.message.startswith("We could not find '1 Nowhere Lane, London, GB'.")
