"""The dashboard's counts and the public summary, checked against the real CSV read by pandas.

EVENTS are all of the 2027 edition; the edition filter, the year-on-year counts and the scope
have tests of their own below, with events of other editions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pycountry
import pytest
from flask.testing import FlaskClient

from mapapp import PROJECT_ROOT, stats
from mapapp.storage import EventStore
from tests.conftest import make_event

WORLD_ATLAS = PROJECT_ROOT / "node_modules" / "world-atlas" / "countries-110m.json"

EVENTS = [
    make_event(),
    make_event(country="FR", city="Lyon", category="talk"),
    make_event(country="DE", city="Berlin", timezone="Europe/Berlin", starts_at="2027-02-27T10:00"),
    make_event(country="BR", format="hybrid", category="sport", starts_at="2027-03-01T09:00"),
    make_event(
        format="online",
        country="",
        city="",
        venue="",
        latitude="",
        longitude="",
        location_precision="none",
        category="online",
    ),
    make_event(status="pending", country="JP", city="Tokyo"),
    make_event(status="rejected", country="US"),
]


@pytest.fixture
def stored(store: EventStore, data_dir: Path) -> pd.DataFrame:
    """Store the events and return the CSV as pandas reads it, independently of the store."""
    store.add_many(EVENTS)
    return pd.read_csv(
        data_dir / "events.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )


def _table(page: str, table_id: str) -> dict[str, int]:
    """Return a table's rows as {data-code: count}."""
    body = page[page.index(f'id="{table_id}"') :]
    body = body[: body.index("</table>")]
    rows = re.findall(r'<tr data-code="([^"]*)">.*?<td class="number">(\d+)</td>', body, re.S)
    return {code: int(count) for code, count in rows}


def test_dashboard_numbers_match_the_csv(
    coordinator_client: FlaskClient, stored: pd.DataFrame
) -> None:
    page = coordinator_client.get("/admin/stats?year=2027").get_data(as_text=True)
    approved = stored[stored["status"] == "approved"]
    countries = approved.loc[approved["country"] != "", "country"].value_counts()
    assert _table(page, "by-country") == countries.to_dict()
    categories = approved["category"].value_counts().to_dict()
    shown_categories = _table(page, "by-category")
    assert {code: n for code, n in shown_categories.items() if n} == categories
    assert sum(shown_categories.values()) == len(approved)
    assert {k: v for k, v in _table(page, "by-format").items() if v} == approved[
        "format"
    ].value_counts().to_dict()
    days = approved["starts_at"].str.slice(0, 10).value_counts().to_dict()
    assert _table(page, "by-day") == days
    assert list(_table(page, "by-day")) == sorted(days)
    # Each day reads as people write it, never as the stored ISO date.
    assert '<tr data-code="2027-02-28">\n    <th scope="row">Sun 28 Feb 2027</th>' in page
    statuses = stored["status"].value_counts().to_dict()
    assert {k: v for k, v in _table(page, "by-status").items() if v} == statuses
    assert f'<strong id="total-approved">{len(approved)}</strong>' in page
    assert f'<strong id="total-countries">{len(countries)}</strong>' in page


def test_choropleth_data_uses_world_atlas_ids(
    coordinator_client: FlaskClient, stored: pd.DataFrame
) -> None:
    page = coordinator_client.get("/admin/stats?year=2027").get_data(as_text=True)
    data = _map_data(page)
    counted = {numeric: c for numeric, c in data["countries"].items() if c["count"]}
    assert counted == {
        "250": {"code": "FR", "name": "France", "count": 2, "url": "/admin/stats/FR"},
        "276": {"code": "DE", "name": "Germany", "count": 1, "url": "/admin/stats/DE"},
        "076": {"code": "BR", "name": "Brazil", "count": 1, "url": "/admin/stats/BR"},
    }
    # An administrator's map links every country, with or without events.
    assert data["countries"]["392"] == {
        "code": "JP",
        "name": "Japan",
        "count": 0,
        "url": "/admin/stats/JP",
    }
    assert len(data["countries"]) == len(list(pycountry.countries))
    assert data["classes"] == [[1, 1, "#8f57b5"], [2, 2, "#6a1b9a"]]
    topology = json.loads(WORLD_ATLAS.read_text(encoding="utf-8"))
    ids = {shape.get("id") for shape in topology["objects"]["countries"]["geometries"]}
    assert set(counted) <= ids
    assert data["world"].startswith("/vendor/world-atlas/countries-110m.json")


def _map_data(page: str) -> dict[str, Any]:
    """Return the JSON the dashboard hands its map script."""
    block = re.search(r'<script type="application/json" id="stats-data">(.*?)</script>', page, re.S)
    assert block
    data: dict[str, Any] = json.loads(block.group(1))
    return data


def test_dashboard_with_no_events(coordinator_client: FlaskClient) -> None:
    page = coordinator_client.get("/admin/stats").get_data(as_text=True)
    assert '<strong id="total-approved">0</strong>' in page
    assert "No approved events yet." in page


def test_public_summary_counts_approved_events_only(stored: pd.DataFrame) -> None:
    approved = stored[stored["status"] == "approved"]
    summary = stats.public_summary(stored)
    assert summary == {
        "events": len(approved),
        "countries": 3,
        "by_country": {"FR": 2, "DE": 1, "BR": 1},
        "by_category": approved["category"].value_counts().to_dict(),
        "by_format": approved["format"].value_counts().to_dict(),
    }
    assert list(summary["by_category"]) == ["illumination", "talk", "sport", "online"]


def test_dashboard_of_every_status(stored: pd.DataFrame) -> None:
    everything = stats.dashboard(stored, statuses=())
    assert everything.total == len(EVENTS)
    assert {country.code: country.count for country in everything.countries} == (
        stored.loc[stored["country"] != "", "country"].value_counts().to_dict()
    )


def test_unknown_codes_are_counted_not_lost() -> None:
    frame = pd.DataFrame(
        [{"status": "approved", "category": "legacy", "format": "", "country": "", "starts_at": ""}]
    )
    board = stats.dashboard(frame)
    assert [(c.code, c.label, c.count) for c in board.categories if c.count] == [
        ("legacy", "legacy", 1)
    ]
    assert [(c.code, c.label, c.count) for c in board.formats if c.count] == [("", "(empty)", 1)]
    assert board.days == ()


# Editions, year on year, and the scope

OTHER_EDITIONS = [
    make_event(starts_at="2025-02-28T18:00", ends_at="2025-02-28T20:00", category="talk"),
    make_event(starts_at="2025-02-27T18:00", ends_at="2025-02-27T20:00"),
    make_event(starts_at="2026-02-28T18:00", ends_at="2026-02-28T20:00"),
    make_event(starts_at="2026-02-28T18:00", ends_at="2026-02-28T20:00", status="rejected"),
    make_event(
        country="DE",
        city="Berlin",
        timezone="Europe/Berlin",
        starts_at="2026-02-28T18:00",
        ends_at="2026-02-28T20:00",
    ),
]


def _frame(events: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(events).fillna("")


def test_a_dashboard_counts_one_edition_only() -> None:
    frame = _frame(EVENTS + OTHER_EDITIONS)
    board = stats.dashboard(frame, 2026)
    assert board.edition == 2026
    assert board.total == 2  # the approved French and German events of 2026
    assert [(c.code, c.count) for c in board.countries] == [("FR", 1), ("DE", 1)]
    assert {c.code: c.count for c in board.statuses if c.count} == {"approved": 2, "rejected": 1}
    assert [(d.code, d.count) for d in board.days] == [("2026-02-28", 2)]
    assert stats.dashboard(frame, 2025).total == 2
    assert stats.dashboard(frame, 2024).total == 0
    every = stats.dashboard(frame, None)
    assert every.total == len(frame[frame["status"] == "approved"]) == 9
    assert stats.editions(frame) == (2027, 2026, 2025)


def test_a_countrys_history_counts_every_edition_against_the_year_before() -> None:
    frame = _frame(
        EVENTS
        + OTHER_EDITIONS
        + [make_event(starts_at="2023-02-28T18:00", ends_at="2023-02-28T20:00", category="arts")]
    )
    history = stats.country_history(frame, "FR")
    assert (history.code, history.label) == ("FR", "France")
    rows = [
        (e.year, e.total, e.approved, e.previous, e.change, e.change_percent)
        for e in history.editions
    ]
    assert rows == [
        (2023, 1, 1, 0, 1, None),  # none in 2022: no percentage
        (2025, 2, 2, 0, 2, None),  # 2024 had none
        (2026, 2, 1, 2, -1, -50),  # one approved and one rejected, against 2025's two
        (2027, 2, 2, 1, 1, 100),
    ]
    assert [(c.code, c.count) for c in history.editions[1].categories] == [
        ("illumination", 1),
        ("talk", 1),
    ]
    assert {s.code: s.count for s in history.editions[2].statuses if s.count} == {
        "approved": 1,
        "rejected": 1,
    }
    assert history.latest is not None and history.latest.year == 2027
    assert [(c.code, c.count) for c in history.categories] == [
        ("illumination", 3),
        ("talk", 2),
        ("arts", 1),
    ]
    nothing = stats.country_history(frame, "IT")
    assert (nothing.label, nothing.editions, nothing.latest) == ("Italy", (), None)


def test_counts_are_computed_once_per_frame(store: EventStore) -> None:
    store.add_many(EVENTS)
    frame = store.frame()
    first = stats.dashboard(frame, 2027)
    assert stats.dashboard(store.frame(), 2027) is first
    assert stats.country_history(frame, "FR") is stats.country_history(store.frame(), "FR")
    store.add(make_event(country="IT", city="Roma", timezone="Europe/Rome"))
    again = stats.dashboard(store.frame(), 2027)
    assert again is not first and again.total == first.total + 1


@pytest.mark.parametrize(
    ("role", "countries", "shown", "total"),
    [
        ("national", {"FR"}, {"FR": 2}, 2),
        ("national", {"DE", "BR"}, {"DE": 1, "BR": 1}, 2),
        ("viewer", {"DE"}, {"DE": 1}, 1),
        # Every country, and the online event with no country (the admins').
        ("viewer", set(), {"FR": 2, "DE": 1, "BR": 1}, 5),
        ("admin", set(), {"FR": 2, "DE": 1, "BR": 1}, 5),
    ],
)
def test_a_dashboard_counts_the_coordinators_countries(
    client_as: Callable[..., FlaskClient],
    stored: pd.DataFrame,
    role: str,
    countries: set[str],
    shown: dict[str, int],
    total: int,
) -> None:
    page = client_as(role, countries).get("/admin/stats?year=2027").get_data(as_text=True)
    assert _table(page, "by-country") == shown
    assert f'<strong id="total-approved">{total}</strong>' in page
    linked = {c["code"] for c in _map_data(page)["countries"].values()}
    if countries:
        assert linked == countries  # the map links only the pages the account may open
    else:
        assert len(linked) == len(list(pycountry.countries))
