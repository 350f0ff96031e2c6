"""Query parameters to filters, and filters applied to the store's frame."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp.events import FIELDS
from mapapp.filters import apply_filter, fold, parse_filter, town_index
from mapapp.geocoding.towns import current_gazetteer
from mapapp.storage import EventStore
from tests.conftest import add_valid_event, make_event


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = [
        make_event(id="paris001", title="Light up Paris", country="FR"),
        make_event(id="lyon0001", title="Tea party", country="FR", category="social",
                   starts_at="2026-02-28T15:00", ends_at=""),
        make_event(id="zurich01", title="Zürich walk", country="CH", category="sport",
                   format="hybrid", city="Zürich"),
        make_event(id="online01", title="Webinar", format="online", country="", category="online",
                   starts_at="2027-03-02T10:00", ends_at=""),
        make_event(id="pending1", title="Not yet", status="pending"),
    ]  # fmt: skip
    return pd.DataFrame([[row.get(name, "") for name in FIELDS] for row in rows], columns=FIELDS)


def ids(frame: pd.DataFrame) -> list[str]:
    return list(frame["id"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, ["paris001", "lyon0001", "zurich01", "online01"]),
        ({"country": "fr"}, ["paris001", "lyon0001"]),
        ({"country": "FR,CH"}, ["paris001", "lyon0001", "zurich01"]),
        ({"category": "social"}, ["lyon0001"]),
        ({"format": "hybrid,online"}, ["zurich01", "online01"]),
        ({"year": "2026"}, ["lyon0001"]),
        ({"year": "all"}, ["paris001", "lyon0001", "zurich01", "online01"]),
        ({"from": "2027-03-01"}, ["online01"]),
        ({"to": "2027-02-28"}, ["paris001", "lyon0001", "zurich01"]),
        ({"q": "zurich"}, ["zurich01"]),  # accents optional
        ({"q": "LIGHT UP"}, ["paris001"]),
        ({"q": "nothing like this"}, []),
    ],
)
def test_filters_keep_the_right_events(frame: pd.DataFrame, args: dict, expected: list) -> None:
    event_filter = parse_filter(args)

    assert event_filter.errors == {}
    assert ids(apply_filter(frame, event_filter)) == expected


def test_status_is_only_chosen_where_allowed(frame: pd.DataFrame) -> None:
    assert "pending1" not in ids(apply_filter(frame, parse_filter({"status": "pending"})))
    admin = parse_filter({"status": "pending"}, allow_status=True)
    assert ids(apply_filter(frame, admin)) == ["pending1"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"category": "party"}, "category"),
        ({"format": "virtual"}, "format"),
        ({"year": "last"}, "year"),
        ({"from": "28/02/2027"}, "from"),
        ({"from": "2027-03-01", "to": "2027-02-01"}, "to"),
    ],
)
def test_invalid_values_are_reported(args: dict, field: str) -> None:
    assert field in parse_filter(args).errors


def test_filter_round_trips_through_query_parameters() -> None:
    args = {
        "country": "FR,CH",
        "category": "sport",
        "year": "2027",
        "from": "2027-02-01",
        "q": "walk",
    }

    event_filter = parse_filter(args)

    assert event_filter.date_from == date(2027, 2, 1)
    assert parse_filter(event_filter.to_args()) == event_filter


def test_fold_removes_case_and_accents() -> None:
    assert fold("ŁÓDŹ Zürich São") == "łodz zurich sao"


def test_search_on_an_empty_store_finds_nothing() -> None:
    empty = pd.DataFrame(columns=list(FIELDS), dtype=str)

    assert ids(apply_filter(empty, parse_filter({"q": "walk"}))) == []


# Town names in other languages, against a store of real towns (the gazetteer's alternate names)

TOWNS = {
    "munich": {"city": "Munich", "country": "DE", "timezone": "Europe/Berlin"},
    "muenchen": {"city": "München", "country": "DE", "timezone": "Europe/Berlin"},
    "cologne": {"city": "Cologne", "country": "DE", "timezone": "Europe/Berlin"},
    "geneva": {"city": "Geneva", "country": "CH", "timezone": "Europe/Zurich"},
    "brussels": {"city": "Brussels", "country": "BE", "timezone": "Europe/Brussels"},
    "milan": {"city": "Milan", "country": "IT", "timezone": "Europe/Rome"},
    "lisbon": {"city": "Lisbon", "country": "PT", "timezone": "Europe/Lisbon"},
    "warsaw": {"city": "Warsaw", "country": "PL", "timezone": "Europe/Warsaw"},
    "hague": {"city": "The Hague", "country": "NL", "timezone": "Europe/Amsterdam"},
    "beijing": {"city": "Beijing", "country": "CN", "timezone": "Asia/Shanghai"},
    # A town of another country that shares an English name with one above.
    "lisbon_us": {"city": "Lisbon", "country": "US", "timezone": "America/New_York"},
}


@pytest.fixture
def town_events(store: EventStore) -> dict[str, str]:
    """Store one event in each of TOWNS, titled in English; return their ids by nickname."""
    return {
        nickname: add_valid_event(
            store, title="Light up for Rare", venue="Main square", description="Come.", **fields
        )["id"]
        for nickname, fields in TOWNS.items()
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("München", ["munich", "muenchen"]),  # the German name finds the English one...
        ("Munich", ["munich", "muenchen"]),  # ...and the reverse
        ("Muenchen", ["munich", "muenchen"]),  # the umlaut written out
        ("munchen", ["munich", "muenchen"]),  # accents optional
        ("Köln", ["cologne"]),
        ("Koeln", ["cologne"]),
        ("Genève", ["geneva"]),
        ("Genf", ["geneva"]),
        ("Bruxelles", ["brussels"]),
        ("Brussel", ["brussels"]),
        ("Milano", ["milan"]),
        ("Mailand", ["milan"]),
        ("Lisboa", ["lisbon"]),  # Lisbon, Portugal only: the American Lisbon is no "Lisboa"
        ("Lisbon", ["lisbon", "lisbon_us"]),
        ("Warszawa", ["warsaw"]),
        ("Varsovie", ["warsaw"]),
        ("Den Haag", ["hague"]),  # a name of two words
        ("北京", ["beijing"]),
        ("Pékin", ["beijing"]),
        ("Deutschland", ["munich", "muenchen", "cologne"]),  # a country's name
        ("Köln Deutschland", ["cologne"]),  # every word must be found: town and country
        ("Milano Deutschland", []),
        ("light Warszawa", ["warsaw"]),  # a word of the texts and a town's name
        # Negative cases
        ("DE", ["munich", "muenchen", "cologne"]),  # an ISO code is that country, not "de"
        ("BE", ["brussels"]),  # not Beijing, which holds "be"
        ("den", []),  # not The Hague (the first word of "Den Haag"), nor the Norwegian article
        ("la", []),  # Laos's code; not Los Angeles's "LA", nor "la" in texts
        ("Warsza", []),  # no prefix of a town's other names: not Warsaw
        ("the", ["hague"]),  # in the text "The Hague"; not "Bahamas, The" nor every town
        ("Paris", []),  # a real town without events
    ],
)
def test_town_names_in_any_language_find_the_events(
    client: FlaskClient, town_events: dict[str, str], query: str, expected: list[str]
) -> None:
    response = client.get("/api/search.json", query_string={"q": query})

    assert response.status_code == 200
    found = {nickname for nickname, event_id in town_events.items()
             if event_id in response.get_json()["ids"]}  # fmt: skip
    assert found == set(expected)


def test_the_town_index_is_built_once_per_store_change(
    app: Flask, store: EventStore, town_events: dict[str, str]
) -> None:
    with app.app_context():
        frame = store.frame()
        gazetteer = current_gazetteer()
        first = town_index(frame, gazetteer)
        assert town_index(frame, gazetteer) is first
        assert list(apply_filter(frame, parse_filter({"q": "Köln"}))["id"]) == [
            town_events["cologne"]
        ]
        assert town_index(frame, gazetteer) is first  # searching reused it
        add_valid_event(store, city="Köln", country="DE", timezone="Europe/Berlin")
        assert town_index(store.frame(), gazetteer) is not first
        assert len(apply_filter(store.frame(), parse_filter({"q": "Cologne"}))) == 2


def test_an_event_without_a_country_is_in_every_town_of_its_name() -> None:
    rows = [make_event(id="nowhere1", city="Milano", country="", title="Walk", venue="")]
    frame = pd.DataFrame([[row.get(name, "") for name in FIELDS] for row in rows], columns=FIELDS)

    assert ids(apply_filter(frame, parse_filter({"q": "Milan"}))) == ["nowhere1"]
