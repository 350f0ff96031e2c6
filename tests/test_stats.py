"""The dashboard's counts and the public summary, checked against the real CSV read by pandas."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
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
    page = coordinator_client.get("/admin/stats").get_data(as_text=True)
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
    statuses = stored["status"].value_counts().to_dict()
    assert {k: v for k, v in _table(page, "by-status").items() if v} == statuses
    assert f'<strong id="total-approved">{len(approved)}</strong>' in page
    assert f'<strong id="total-countries">{len(countries)}</strong>' in page


def test_choropleth_data_uses_world_atlas_ids(
    coordinator_client: FlaskClient, stored: pd.DataFrame
) -> None:
    page = coordinator_client.get("/admin/stats").get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="stats-data">(.*?)</script>', page, re.S)
    assert block
    data = json.loads(block.group(1))
    assert data["countries"] == {
        "250": {"code": "FR", "name": "France", "count": 2},
        "276": {"code": "DE", "name": "Germany", "count": 1},
        "076": {"code": "BR", "name": "Brazil", "count": 1},
    }
    assert data["largest"] == 2
    topology = json.loads(WORLD_ATLAS.read_text(encoding="utf-8"))
    ids = {shape.get("id") for shape in topology["objects"]["countries"]["geometries"]}
    assert set(data["countries"]) <= ids
    assert data["world"].startswith("/vendor/world-atlas/countries-110m.json")


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
    assert board.days == []
