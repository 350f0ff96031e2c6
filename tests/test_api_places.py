"""GET /api/places.json: the gazetteer's towns and countries a typed name means, in any language."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from mapapp import create_app
from tests.nominatim_stub import (  # noqa: F401  (fixtures)
    NominatimStub,
    nominatim_config,
    nominatim_stub,
)

MUNICH_DE = {
    "name": "München",
    "country": "DE",
    "label": "München, Deutschland",
    "lat": 48.137,
    "lon": 11.575,
    "precision": "city",
}


def test_a_towns_other_name_answers_the_town_labelled_in_the_pages_language(
    client: FlaskClient,
) -> None:
    response = client.get("/de/api/places.json", query_string={"q": "München"})

    assert response.status_code == 200
    assert response.get_json() == {"places": [MUNICH_DE]}
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["ETag"]


def test_the_labels_follow_the_url_language(client: FlaskClient) -> None:
    english = client.get("/api/places.json", query_string={"q": "München"}).get_json()
    french = client.get("/fr/api/places.json", query_string={"q": "München"}).get_json()

    assert english["places"][0]["label"] == "München, Germany"
    assert french["places"][0]["label"] == "München, Allemagne"


@pytest.mark.parametrize(
    ("query", "first"),
    [
        # The town's main name as it is spelt, whatever was typed.
        ("munich", {"name": "Munich", "country": "DE", "label": "Munich, Germany"}),
        ("  Köln ", {"name": "Köln", "country": "DE", "label": "Köln, Germany"}),
        # Another name: as typed.
        ("Milano", {"name": "Milano", "country": "IT", "label": "Milano, Italy"}),
        ("Lisboa", {"name": "Lisboa", "country": "PT", "label": "Lisboa, Portugal"}),
        ("Warszawa", {"name": "Warszawa", "country": "PL", "label": "Warszawa, Poland"}),
        ("Den Haag", {"name": "Den Haag", "country": "NL", "label": "Den Haag, Netherlands"}),
        ("Bruxelles", {"name": "Bruxelles", "country": "BE", "label": "Bruxelles, Belgium"}),
        ("北京", {"name": "北京", "country": "CN", "label": "北京, China"}),
        # A country's name in any language: the country's centre, before its towns.
        ("Deutschland", {"name": "Deutschland", "country": "DE", "label": "Germany"}),
    ],
)
def test_names_in_any_language_answer_their_place_first(
    client: FlaskClient, query: str, first: dict[str, str]
) -> None:
    places = client.get("/api/places.json", query_string={"q": query}).get_json()["places"]

    assert {name: places[0][name] for name in first} == first


def test_a_countrys_name_answers_its_centre(client: FlaskClient) -> None:
    places = client.get("/api/places.json", query_string={"q": "Deutschland"}).get_json()["places"]

    assert places == [
        {
            "name": "Deutschland",
            "country": "DE",
            "label": "Germany",
            "lat": 50.68,
            "lon": 9.767,
            "precision": "country",
        }
    ]


def test_at_most_five_places_most_populous_first_told_apart_by_region(
    client: FlaskClient,
) -> None:
    places = client.get("/api/places.json", query_string={"q": "Springfield"}).get_json()["places"]

    assert [place["label"] for place in places] == [
        "Springfield, Missouri, United States",
        "Springfield, Massachusetts, United States",
        "Springfield, Illinois, United States",
        "Springfield, Oregon, United States",
        "Springfield, Ohio, United States",
    ]


def test_a_city_state_is_answered_once_as_its_town(client: FlaskClient) -> None:
    places = client.get("/api/places.json", query_string={"q": "Singapore"}).get_json()["places"]

    assert [(place["label"], place["precision"]) for place in places] == [
        ("Singapore, Singapore", "city")
    ]


@pytest.mark.parametrize(
    "query",
    [
        "Zzyzxqwv",  # no such town
        "Warsza",  # no prefix of a name
        "a",  # a short word names no town
    ],
)
def test_no_match_answers_an_empty_list(client: FlaskClient, query: str) -> None:
    response = client.get("/api/places.json", query_string={"q": query})

    assert response.status_code == 200
    assert response.get_json() == {"places": []}


@pytest.mark.parametrize(
    ("query_string", "message"),
    [
        ({}, "Type the name of a town or a country."),
        ({"q": ""}, "Type the name of a town or a country."),
        ({"q": "   "}, "Type the name of a town or a country."),
        ({"q": "x" * 101}, "A place's name is at most 100 characters long: shorten it."),
    ],
)
def test_an_empty_or_too_long_name_is_a_400_saying_why(
    client: FlaskClient, query_string: dict[str, str], message: str
) -> None:
    response = client.get("/api/places.json", query_string=query_string)

    assert response.status_code == 400
    assert response.get_json() == {"error": "Bad Request", "message": message}
    assert "public" not in response.headers.get("Cache-Control", "")


def test_a_name_of_100_characters_is_looked_up(client: FlaskClient) -> None:
    response = client.get("/api/places.json", query_string={"q": "x" * 100})

    assert response.status_code == 200
    assert response.get_json() == {"places": []}


def test_an_unchanged_answer_is_a_304(client: FlaskClient) -> None:
    first = client.get("/api/places.json", query_string={"q": "Lisboa"})
    again = client.get(
        "/api/places.json",
        query_string={"q": "Lisboa"},
        headers={"If-None-Match": first.headers["ETag"]},
    )

    assert again.status_code == 304


def test_the_gazetteer_alone_answers_even_where_nominatim_is_configured(
    app_config: dict[str, Any],
    nominatim_config: dict[str, Any],  # noqa: F811
    nominatim_stub: NominatimStub,  # noqa: F811
) -> None:
    nominatim_stub.add("Zzyzx Road", 35.14, -116.1, "Zzyzx Road, California, United States")
    client = create_app({**app_config, **nominatim_config, "GEOCODER": "nominatim"}).test_client()

    unknown = client.get("/api/places.json", query_string={"q": "Zzyzx Road"})
    known = client.get("/api/places.json", query_string={"q": "Lisboa"})

    assert unknown.get_json() == {"places": []}
    assert [place["label"] for place in known.get_json()["places"]] == ["Lisboa, Portugal"]
    assert nominatim_stub.requests == []  # visitors never drive a public geocoder
