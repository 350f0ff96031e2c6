"""The dashboard's pages (mapapp.web.dashboard): the edition selector and the page per country."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from mapapp.events import current_edition
from mapapp.storage import EventStore
from tests.conftest import make_event

CURRENT = current_edition()


def _on(year: int, **fields: str) -> dict[str, str]:
    """Return an approved event on Rare Disease Day eve of an edition."""
    return make_event(starts_at=f"{year}-02-27T18:00", ends_at=f"{year}-02-27T20:00", **fields)


GERMAN = {"country": "DE", "city": "Berlin", "timezone": "Europe/Berlin", "title": "Berlin"}


@pytest.fixture
def editions(store: EventStore) -> None:
    """Store French events in three editions and a German one in the current edition."""
    store.add_many(
        [
            _on(CURRENT - 2),
            _on(CURRENT - 1),
            _on(CURRENT - 1, category="talk"),
            _on(CURRENT - 1, status="pending"),
            _on(CURRENT),
            _on(CURRENT, **GERMAN),
        ]
    )


def _total(page: str) -> int:
    match = re.search(r'<strong id="total-approved">(\d+)</strong>', page)
    assert match
    return int(match.group(1))


def _selected(page: str) -> str:
    match = re.search(r'<option value="([^"]+)" selected>', page)
    assert match
    return match.group(1)


def test_the_dashboard_shows_the_current_edition_by_default(
    coordinator_client: FlaskClient, editions: None
) -> None:
    page = coordinator_client.get("/admin/stats").get_data(as_text=True)
    assert f"<h1>Dashboard: the {CURRENT} edition</h1>" in page
    assert _total(page) == 2
    assert _selected(page) == str(CURRENT)
    options = re.findall(r'<option value="([^"]+)"', page)
    assert options == [str(CURRENT), str(CURRENT - 1), str(CURRENT - 2), "all"]
    assert f">{CURRENT} (the current edition)</option>" in page


@pytest.mark.parametrize(
    ("year", "heading", "total", "pending"),
    [
        (str(CURRENT - 1), f"the {CURRENT - 1} edition", 2, 1),
        (str(CURRENT - 2), f"the {CURRENT - 2} edition", 1, 0),
        ("2015", "the 2015 edition", 0, 0),  # no events: zeros, not an error
        ("all", "all editions", 5, 1),
    ],
)
def test_the_edition_is_kept_in_the_address(
    coordinator_client: FlaskClient,
    editions: None,
    year: str,
    heading: str,
    total: int,
    pending: int,
) -> None:
    page = coordinator_client.get(f"/admin/stats?year={year}").get_data(as_text=True)
    assert f"<h1>Dashboard: {heading}</h1>" in page
    assert _total(page) == total
    assert f'<strong id="total-pending">{pending}</strong>' in page
    assert _selected(page) == year


@pytest.mark.parametrize("year", ["20x6", "1999", "2027-02", "²⁰²⁷", "every"])
def test_a_bad_edition_is_refused_kindly(coordinator_client: FlaskClient, year: str) -> None:
    response = coordinator_client.get("/admin/stats", query_string={"year": year})
    assert response.status_code == 400
    assert "Year: choose an edition such as 2027, or all." in response.get_data(as_text=True)


def test_a_country_page_counts_year_on_year(
    coordinator_client: FlaskClient, editions: None
) -> None:
    response = coordinator_client.get("/admin/stats/FR")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>France: events per edition</h1>" in page
    rows = re.findall(
        r'<tr data-year="(\d+)">.*?data-field="approved">(\d+)</td>\s*'
        r'<td class="number" data-field="change">([^<]*)</td>.*?data-field="total">(\d+)</td>',
        page,
        re.S,
    )
    assert rows == [  # newest first
        (str(CURRENT), "1", "-1 (-50%)", "1"),
        (str(CURRENT - 1), "2", "+1 (+100%)", "3"),
        (str(CURRENT - 2), "1", "+1 (none the year before)", "1"),
    ]
    assert (
        f"In the {CURRENT} edition, France counts 1 approved event: 1 fewer than in "
        f"{CURRENT - 1}, down 50%."
    ) in page
    assert 'href="/admin/events?country=FR"' in page
    assert f'href="/admin/events?country=FR&amp;year={CURRENT - 1}"' in page
    # The list link leads to the country's events.
    listed = coordinator_client.get("/admin/events?country=FR").get_data(as_text=True)
    assert listed.count("Light up the town hall") == 5 and "Berlin" not in listed


def test_the_dashboards_country_rows_link_to_their_pages(
    coordinator_client: FlaskClient, editions: None
) -> None:
    page = coordinator_client.get("/admin/stats").get_data(as_text=True)
    assert '<a href="/admin/stats/FR">France</a>' in page
    assert '<a href="/admin/stats/DE">Germany</a>' in page


def test_a_country_without_events_has_a_page_saying_so(
    coordinator_client: FlaskClient, editions: None
) -> None:
    response = coordinator_client.get("/admin/stats/IT")
    assert response.status_code == 200
    assert "There are no events in Italy yet, in any edition." in response.get_data(as_text=True)


@pytest.mark.parametrize("code", ["ZZ", "FRA", "X", "12", "ÉS"])
def test_an_unknown_country_is_not_found(coordinator_client: FlaskClient, code: str) -> None:
    response = coordinator_client.get(f"/admin/stats/{code}")
    assert response.status_code == 404
    assert (
        f"There is no country with the code “{code}”: use a code such as FR."
        in response.get_data(as_text=True)
    )


def test_a_lower_case_code_goes_to_the_countrys_page(coordinator_client: FlaskClient) -> None:
    response = coordinator_client.get("/admin/stats/fr")
    assert (response.status_code, response.headers["Location"]) == (308, "/admin/stats/FR")


@pytest.mark.parametrize(
    ("role", "countries", "code", "status"),
    [
        ("national", {"FR"}, "FR", 200),
        ("national", {"FR"}, "DE", 404),
        ("national", {"FR"}, "de", 404),  # no redirect tells it apart from an unknown code
        ("viewer", {"FR"}, "DE", 404),
        ("viewer", set(), "DE", 200),
        ("admin", set(), "DE", 200),
    ],
)
def test_a_country_page_keeps_to_the_scope(
    client_as: Callable[..., FlaskClient],
    editions: None,
    role: str,
    countries: set[str],
    code: str,
    status: int,
) -> None:
    response = client_as(role, countries).get(f"/admin/stats/{code}")
    body = response.get_data(as_text=True)
    assert response.status_code == status
    if status == 404:
        assert "Your account has no dashboard page for Germany: you coordinate France." in body
        assert "Berlin" not in body


def test_the_dashboard_needs_a_signed_in_coordinator(client: FlaskClient) -> None:
    for url in ("/admin/stats", "/admin/stats/FR"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/sign-in")
