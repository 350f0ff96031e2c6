"""Country outlines and the out-of-country check: small countries, coasts, islands, true outsides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from mapapp import outlines, placing
from mapapp.placing import Candidate, check_point, opening_view, town_centre_message
from mapapp.web.assets import NODE_MODULES

OUTLINES_FILE = NODE_MODULES / "world-atlas" / "countries-50m.json"


@pytest.fixture(scope="module")
def shapes() -> outlines.Outlines:
    return outlines.load(OUTLINES_FILE)


@pytest.fixture
def context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


# (latitude, longitude, event country): no warning for any of these.
INSIDE = {
    "Singapore, Marina Bay": (1.2834, 103.8607, "SG"),
    "Singapore, Sentosa": (1.2494, 103.8303, "SG"),
    "Singapore, Jurong Island": (1.2660, 103.6990, "SG"),
    "Valletta": (35.8989, 14.5146, "MT"),
    "Valletta, Grand Harbour water": (35.8925, 14.5200, "MT"),
    "Gozo, Victoria": (36.0443, 14.2397, "MT"),
    "Gozo, Mġarr harbour": (36.0253, 14.2990, "MT"),
    "Monaco, Monte Carlo": (43.7396, 7.4276, "MC"),
    "Monaco, Port Hercule water": (43.7350, 7.4250, "MC"),
    "Andorra la Vella": (42.5063, 1.5218, "AD"),
    "Andorra, Pas de la Casa": (42.5425, 1.7336, "AD"),
    "Luxembourg City": (49.6116, 6.1319, "LU"),
    "Luxembourg, Esch-sur-Alzette": (49.4958, 5.9806, "LU"),
    "Vatican, St Peter's": (41.9022, 12.4539, "VA"),
    "Vatican point, a Roman event": (41.9022, 12.4539, "IT"),
    "San Marino": (43.9356, 12.4473, "SM"),
    "Liechtenstein, Vaduz": (47.1410, 9.5209, "LI"),
    "Cádiz old town": (36.5271, -6.2886, "ES"),
    "3 km offshore of Barcelona": (41.3600, 2.2250, "ES"),
    "Mallorca, Palma": (39.5696, 2.6502, "ES"),
    "Canaries, Las Palmas": (28.1235, -15.4363, "ES"),
    "Gibraltar (no 50m outline: its towns)": (36.1408, -5.3536, "GI"),
    "Mayotte (no 50m outline: its towns)": (-12.7806, 45.2279, "YT"),
    "Brest harbour": (48.3790, -4.4940, "FR"),
    "Chukotka, east of the antimeridian": (65.5, -175.0, "RU"),
    "Fiji, Suva": (-18.1416, 178.4419, "FJ"),
}
# (latitude, longitude, event country, the warning).
OUTSIDE = {
    "a Spanish event at an Algerian point": (
        36.7538,
        3.0588,
        "ES",
        "This point is in Algeria, not Spain: drag the pin if that is wrong.",
    ),
    "a French event in Brussels, 60 km from the border": (
        50.8503,
        4.3517,
        "FR",
        "This point is in Belgium, not France: drag the pin if that is wrong.",
    ),
    "a Spanish event in the Atlantic": (
        38.0,
        -20.0,
        "ES",
        "This point is outside Spain: drag the pin if that is wrong.",
    ),
    "a Gibraltar event in Madrid": (
        40.4168,
        -3.7038,
        "GI",
        "This point is in Spain, not Gibraltar: drag the pin if that is wrong.",
    ),
    "a Monaco event in Cannes, 40 km away": (
        43.5528,
        7.0174,
        "MC",
        "This point is in France, not Monaco: drag the pin if that is wrong.",
    ),
}


@pytest.mark.usefixtures("context")
@pytest.mark.parametrize(("latitude", "longitude", "country"), INSIDE.values(), ids=INSIDE)
def test_no_warning_for_small_countries_coasts_and_islands(
    latitude: float, longitude: float, country: str
) -> None:
    check = check_point(latitude, longitude, country)
    assert (check.outside, check.message) == (False, "")


@pytest.mark.usefixtures("context")
@pytest.mark.parametrize(
    ("latitude", "longitude", "country", "message"), OUTSIDE.values(), ids=OUTSIDE
)
def test_a_point_outside_the_country_is_warned_about(
    latitude: float, longitude: float, country: str, message: str
) -> None:
    check = check_point(latitude, longitude, country)
    assert (check.outside, check.message) == (True, message)


@pytest.mark.usefixtures("context")
def test_the_check_gives_the_time_zone_at_the_point() -> None:
    assert check_point(37.29, -5.50, "ES").zone_message == "Time zone: Europe/Madrid"
    assert check_point(36.7538, 3.0588, "ES").zone == "Africa/Algiers"
    assert check_point(36.7538, 3.0588, "").outside is False  # no country: nothing to compare


def test_a_country_without_outline_or_towns_is_never_judged(shapes: outlines.Outlines) -> None:
    assert placing.is_outside(shapes, [], "BV", 0.0, 0.0) is False
    assert placing.is_outside(None, [], "ES", 36.75, 3.06) is False


@pytest.mark.parametrize(
    ("latitude", "longitude", "country"),
    [
        (43.7450, 7.4200, "MC"),
        (41.9022, 12.4539, "IT"),  # Rome: the Vatican is a hole in Italy, Rome is not
        (1.3500, 103.8200, "SG"),
        (35.8989, 14.5146, "MT"),
        (36.0443, 14.2397, "MT"),
        (65.5, -175.0, "RU"),  # Russia's mainland ring crosses the antimeridian
        (64.0, 170.0, "RU"),
        (36.7538, 3.0588, "DZ"),
        (50.8503, 4.3517, "BE"),
        (38.0, -20.0, ""),
    ],
)
def test_country_at_a_point(
    shapes: outlines.Outlines, latitude: float, longitude: float, country: str
) -> None:
    assert shapes.country_at(latitude, longitude) == country


def test_the_extent_of_a_country_is_its_main_land_and_the_parts_near_it(
    shapes: outlines.Outlines,
) -> None:
    south, west, north, east = shapes.bounds("FR") or (0, 0, 0, 0)
    assert 41 < south < 42.5 and -5.5 < west < -4 and 50.5 < north < 51.5 and 9 < east < 10
    malta = shapes.bounds("MT") or (0, 0, 0, 0)
    assert malta[1] < 14.25 and malta[3] > 14.55  # Gozo and Malta
    spain = shapes.bounds("ES") or (0, 0, 0, 0)
    assert spain[0] > 35 and spain[3] > 4  # the Balearics, not the Canaries
    russia = shapes.bounds("RU") or (0, 0, 0, 0)
    assert russia[1] > 0 and russia[3] > 180  # across the antimeridian, not the whole world
    assert shapes.bounds("ZZ") is None


@pytest.mark.usefixtures("context")
def test_a_placing_map_opens_on_the_point_the_town_the_country_or_the_world() -> None:
    placed = {"country": "ES", "city": "Paradas", "latitude": "37.3", "longitude": "-5.5"}
    assert opening_view(placed) == {"center": [37.3, -5.5], "zoom": 12}
    town = opening_view({"country": "ES", "city": "Paradas", "latitude": "", "longitude": ""})
    assert town["zoom"] == 12 and town["center"] == pytest.approx([37.29, -5.50], abs=0.05)
    country = opening_view({"country": "MT", "city": "Nowhere-at-all"})
    [[south, west], [north, east]] = country["bounds"]
    assert 35.7 < south < north < 36.2 and 14.1 < west < east < 14.7
    assert opening_view({"country": "GI"})["bounds"][0][0] == pytest.approx(36.14, abs=0.05)
    assert opening_view({"country": "", "city": "Online"}) == {"center": [20.0, 0.0], "zoom": 2}


def test_the_town_centre_message_names_the_town_when_a_street_was_not_used() -> None:
    town = Candidate("Paradas, Andalusia, Spain", 37.29, -5.50, "city", "gazetteer", "")
    street = Candidate("3, Calle Real, Paradas", 37.29, -5.50, "address", "nominatim", "")
    event = {"address": "Calle Real 3", "city": "paradas"}
    assert town_centre_message(event, [town]) == (
        "We placed the pin at the centre of Paradas: drag it to the exact place if you can."
    )
    assert town_centre_message(event, [street]) == ""
    assert town_centre_message({**event, "address": ""}, [town]) == ""


def test_outlines_load_once_and_a_missing_file_turns_the_check_off(
    app: Flask, tmp_path: Path
) -> None:
    with app.app_context():
        assert outlines.get_outlines() is outlines.get_outlines() is not None
        outlines.init_app(app, tmp_path / "missing.json")
        assert outlines.get_outlines() is None
        assert check_point(36.7538, 3.0588, "ES").outside is True  # Spain's towns are far away
