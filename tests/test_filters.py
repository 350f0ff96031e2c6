"""Query parameters to filters, and filters applied to the store's frame."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from mapapp.events import FIELDS
from mapapp.filters import apply_filter, fold, parse_filter
from tests.conftest import make_event


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
