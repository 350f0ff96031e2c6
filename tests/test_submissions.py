"""The submission rules, duplicates, signed values and edit tokens of mapapp.submissions."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from mapapp import organiser_edits, submissions
from mapapp.events import FIELDS, MAX_LENGTHS, current_edition, edition_date
from mapapp.storage import EventStore
from tests.conftest import change, make_event, make_submission

EDITION = edition_date(current_edition())
DAY = EDITION.isoformat()
SECRET = "test-secret-key"


def submission(**fields: object) -> dict[str, object]:
    """Return what an organiser posts for a valid in-person event, with fields overridden."""
    return {**make_submission(), **fields}


def test_a_valid_submission_is_pending_and_normalised() -> None:
    event, errors = submissions.check_submission(
        submission(title="  Cafe\u0301 \u202egathering ", status="approved", id="chosen-id"),
        consent=True,
    )
    assert errors == {}
    assert event is not None
    assert event["status"] == "pending"
    assert event["id"] == ""  # the store gives the id, never the organiser
    assert event["title"] == "Café gathering"  # NFC, bidi override removed, trimmed
    assert event["location_precision"] == "none"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": ""}, "title", "Title: give the event a name."),
        ({"title": "x" * 201}, "title", "Title: keep it under 200 characters."),
        ({"category": "rave"}, "category", "Category: choose a category from the list."),
        ({"format": "hologram"}, "format", "Format: choose in person, online or hybrid."),
        ({"starts_at": ""}, "starts_at", "Start: give a date and time such as 2027-02-28T18:00."),
        (
            {"starts_at": f"{DAY[:4]}-02-30T18:00"},  # no such day
            "starts_at",
            "Start: give a date and time such as 2027-02-28T18:00.",
        ),
        (
            {"ends_at": f"{DAY}T17:00"},
            "ends_at",
            "End: the event cannot end before it starts.",
        ),
        ({"city": ""}, "city", "City: say in which town or city the event takes place."),
        (
            {"country": ""},
            "country",
            "Country: choose the country where the event takes place.",
        ),
        ({"country": "XX"}, "country", "Country: choose a country from the list."),
        (
            {"website": "javascript:alert(1)"},
            "website",
            "Website: give a full address starting with https:// or http://.",
        ),
        (
            {"website": "ftp://example.org"},
            "website",
            "Website: give a full address starting with https:// or http://.",
        ),
        ({"organiser": ""}, "organiser", "Organiser: say who organises the event."),
        (
            {"contact_email": ""},
            "contact_email",
            "Contact e-mail: give an address where a coordinator can reach you.",
        ),
        ({"language": "zz"}, "language", "Language: choose a language from the list."),
        ({"description": "x" * 5001}, "description", "Description: keep it under 5000 characters."),
        ({"venue": ["a list"]}, "venue", "Venue: give text."),
        ({"title": 42}, "title", "Title: give text."),
    ],
)
def test_each_invalid_field_gets_its_own_message(
    fields: dict[str, object], field: str, message: str
) -> None:
    event, errors = submissions.check_submission(submission(**fields), consent=True)
    assert event is None
    assert errors == {field: message}


@pytest.mark.parametrize(
    "address",
    ["organiser@", "not an address", "a@b", "organiser@exa mple.org"],
)
def test_contact_email_is_checked_offline(address: str) -> None:
    event, errors = submissions.check_submission(submission(contact_email=address), consent=True)
    assert event is None
    assert list(errors) == ["contact_email"]
    assert errors["contact_email"].startswith("Contact e-mail: ")


def test_consent_is_required() -> None:
    event, errors = submissions.check_submission(submission(), consent=False)
    assert event is None
    assert errors == {"consent": "Consent: tick the box to let us publish the event once approved."}


def test_online_events_need_no_address() -> None:
    event, errors = submissions.check_submission(
        submission(format="online", city="", country="KE", venue=""), consent=True
    )
    assert errors == {}
    assert event is not None and event["format"] == "online"


def test_newlines_are_kept_only_in_the_description() -> None:
    event, _ = submissions.check_submission(
        submission(title="Two\nlines", description="First\r\nsecond\x00"), consent=True
    )
    assert event is not None
    assert event["title"] == "Two lines"
    assert event["description"] == "First\nsecond"


@pytest.mark.parametrize(
    ("offset_days", "accepted"),
    [
        (-60, True),  # first day of the window
        (-61, False),
        (30, True),  # last day of the window
        (31, False),
        (0, True),
    ],
)
def test_dates_must_fall_around_an_edition(offset_days: int, accepted: bool) -> None:
    day = EDITION + timedelta(days=offset_days)
    event, errors = submissions.check_submission(
        submission(starts_at=f"{day}T10:00", ends_at=""), consent=True
    )
    assert (event is not None) is accepted
    if not accepted:
        assert errors["starts_at"].startswith(
            "Start: Rare Disease Day events take place around the last day of February"
        )


def test_the_window_covers_the_previous_current_and_next_edition() -> None:
    today = date(2026, 11, 24)
    assert submissions.editions_around(today) == [2026, 2027, 2028]
    assert submissions.date_window(2027) == (date(2026, 12, 30), date(2027, 3, 30))
    far, errors = submissions.check_submission(
        submission(starts_at="2030-02-28T10:00", ends_at=""), consent=True, today=today
    )
    assert far is None and "starts_at" in errors
    previous, errors = submissions.check_submission(
        submission(starts_at="2026-02-28T10:00", ends_at=""), consent=True, today=today
    )
    assert errors == {} and previous is not None


def test_huge_values_are_refused_without_work() -> None:
    event, errors = submissions.check_submission(submission(title="x" * 1_000_000), consent=True)
    assert event is None
    assert errors["title"] == "Title: keep it under 200 characters."


# Duplicates


def frame_of(*events: dict[str, str]) -> pd.DataFrame:
    """Return stored events as the store's frame of strings."""
    rows = [{name: event.get(name, "") for name in FIELDS} for event in events]
    return pd.DataFrame(rows, columns=list(FIELDS), dtype=str)


def placed(**fields: str) -> dict[str, str]:
    """Return a checked, placed event like the preview makes."""
    event = {name: "" for name in FIELDS}
    event.update(make_event(**{"status": "pending", "starts_at": f"{DAY}T18:00", **fields}))
    return event


@pytest.mark.parametrize(
    ("other", "duplicate"),
    [
        ({"id": "a1", "title": "Light up the Town Hall!"}, True),  # same words, other case
        ({"id": "a2", "title": "Town hall light up"}, True),  # shared words
        ({"id": "a3", "title": "Charity bake sale"}, False),  # different title
        ({"id": "a4", "starts_at": f"{EDITION + timedelta(days=1)}T18:00"}, False),  # other day
        # Versailles is about 17 km from Paris: nearby.
        ({"id": "a5", "latitude": "48.804865", "longitude": "2.120355"}, True),
        # Lyon is about 390 km away.
        ({"id": "a6", "latitude": "45.764043", "longitude": "4.835659"}, False),
        ({"id": "a7", "status": "rejected"}, False),  # rejected events are not on the map
        ({"id": "a8", "status": "pending"}, True),
    ],
)
def test_duplicates_are_similar_title_same_day_nearby(
    other: dict[str, str], duplicate: bool
) -> None:
    stored = make_event(**{"starts_at": f"{DAY}T19:00", **other})
    found = submissions.find_duplicates(frame_of(stored), placed())
    assert [event["id"] for event in found] == ([other["id"]] if duplicate else [])


def test_online_duplicates_are_from_the_same_organiser() -> None:
    same = make_event(
        id="o1",
        format="online",
        organiser="RARE Club",
        starts_at=f"{DAY}T10:00",
        latitude="",
        longitude="",
        location_precision="none",
    )
    other = make_event(
        id="o2",
        format="online",
        organiser="Another club",
        starts_at=f"{DAY}T10:00",
        latitude="",
        longitude="",
        location_precision="none",
    )
    mine = placed(
        format="online",
        organiser="Rare club",
        latitude="",
        longitude="",
        location_precision="none",
    )
    found = submissions.find_duplicates(frame_of(same, other), mine)
    assert [event["id"] for event in found] == ["o1"]


def test_unplaced_events_in_the_same_city_count_as_nearby() -> None:
    unplaced = make_event(
        id="u1", starts_at=f"{DAY}T19:00", latitude="", longitude="", location_precision="none"
    )
    other_city = make_event(
        id="u2",
        starts_at=f"{DAY}T19:00",
        city="Lyon",
        latitude="",
        longitude="",
        location_precision="none",
    )
    found = submissions.find_duplicates(frame_of(unplaced, other_city), placed())
    assert [event["id"] for event in found] == ["u1"]


def test_distance_is_great_circle() -> None:
    paris_to_london, same_place = submissions.distances_km(
        48.8566, 2.3522, np.array([51.5074, 48.8566]), np.array([-0.1278, 2.3522])
    )
    assert 340 < paris_to_london < 345
    assert same_place == 0


# Signed values and tokens


def test_fill_time_needs_the_signed_start_and_enough_seconds() -> None:
    started = submissions.sign_started(SECRET, now=1000.0)
    assert submissions.check_fill_time(SECRET, started, 3.0, now=1005.0) == ""
    assert "quicker than a person" in submissions.check_fill_time(SECRET, started, 3.0, now=1001.0)
    assert "expired or was changed" in submissions.check_fill_time(SECRET, "forged", 3.0)
    other_key = submissions.sign_started("another-key", now=1000.0)
    assert "expired or was changed" in submissions.check_fill_time(SECRET, other_key, 0.0)


def test_a_draft_round_trips_and_refuses_tampering() -> None:
    preview = submissions.Preview(event=placed(), status="not_found", message="Not found.")
    token = submissions.sign_draft(SECRET, preview)
    loaded = submissions.load_draft(SECRET, token)
    assert loaded.event == preview.event
    assert loaded.status == "not_found"
    with pytest.raises(submissions.DraftError, match="cannot be read"):
        submissions.load_draft(SECRET, token[:-2] + "xx")


def test_only_the_token_hash_is_stored_and_it_opens_its_event(store: EventStore) -> None:
    stored, token = submissions.create_event(store, placed(status="approved"), SECRET)
    assert stored["status"] == "pending"
    assert stored["edit_token_hash"] == submissions.edit_token_hash(token)
    assert token not in store.path.read_text(encoding="utf-8")
    assert submissions.event_for_token(store, SECRET, token)["id"] == stored["id"]
    assert submissions.event_for_token(store, "another-key", token) is None
    forged = submissions.make_edit_token(SECRET, stored["id"])  # signed, but not the stored one
    assert submissions.event_for_token(store, SECRET, forged) is None
    assert submissions.event_for_token(store, SECRET, "garbage") is None


def test_editing_content_keeps_an_approved_event_and_sends_a_rejected_one_back(
    store: EventStore,
) -> None:
    stored, _ = submissions.create_event(store, placed(), SECRET)
    approved = change(store, stored["id"], {"status": "approved"})
    unchanged = organiser_edits.apply_edit(store, approved, approved, approved["version"])
    assert unchanged == approved
    edited = organiser_edits.apply_edit(
        store, approved, {**approved, "title": "New title"}, approved["version"]
    )
    assert (edited["status"], edited["title"]) == ("approved", approved["title"])
    assert json.loads(edited["pending_change"])["fields"] == {"title": "New title"}
    rejected = change(store, stored["id"], {"status": "rejected", "pending_change": ""})
    edited = organiser_edits.apply_edit(
        store, rejected, {**rejected, "title": "Fixed title"}, rejected["version"]
    )
    assert (edited["status"], edited["title"]) == ("pending", "Fixed title")
    assert store.get(stored["id"])["title"] == "Fixed title"


def test_check_coordinates() -> None:
    assert submissions.check_coordinates("", "") == {}
    assert submissions.check_coordinates("48.1", "") == {
        "latitude": "Location: give both latitude and longitude, or neither."
    }
    assert submissions.check_coordinates("91", "0") == {
        "latitude": "Latitude: give a number between -90 and 90."
    }
    assert submissions.check_coordinates("0", "nan") == {
        "longitude": "Longitude: give a number between -180 and 180."
    }


def test_max_lengths_cover_the_form_text_fields() -> None:
    text_fields = set(submissions.SUBMITTED_FIELDS) - {
        "category",
        "format",
        "starts_at",
        "ends_at",
        "timezone",
        "country",
        "language",
    }
    assert text_fields <= set(MAX_LENGTHS)
