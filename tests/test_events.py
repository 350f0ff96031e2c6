"""The event schema: normalisation and field-level validation messages."""

from __future__ import annotations

from datetime import date

import pytest

from mapapp.events import (
    CATEGORIES,
    FIELDS,
    FORMATS,
    PRIVATE_FIELDS,
    PUBLIC_FIELDS,
    country_name,
    current_edition,
    edition_date,
    normalise_text,
    validate_event,
)
from tests.conftest import make_event


def test_a_complete_event_validates_and_gets_every_column() -> None:
    event, errors = validate_event(make_event())

    assert errors == {}
    assert event is not None
    assert list(event) == list(FIELDS)


def test_every_category_and_format_has_a_human_label() -> None:
    assert set(CATEGORIES) == {
        "illumination", "awareness", "talk", "fundraiser", "sport",
        "social", "policy", "arts", "online", "other",
    }  # fmt: skip
    assert CATEGORIES["illumination"] == "Light up for Rare"
    assert set(FORMATS) == {"in_person", "online", "hybrid"}


def test_private_fields_are_not_public() -> None:
    assert "contact_email" in PRIVATE_FIELDS
    assert not PRIVATE_FIELDS & set(PUBLIC_FIELDS)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "Title: give the event a name."),
        ("title", "x" * 201, "Title: keep it under 200 characters."),
        ("category", "party", "Category: choose a category from the list."),
        ("format", "virtual", "Format: choose in person, online or hybrid."),
        ("status", "live", "Status: choose pending, approved, rejected or withdrawn."),
        ("starts_at", "28/02/2027", "Start: give a date and time such as 2027-02-28T18:00."),
        ("starts_at", "2027-02-30T18:00", "Start: give a date and time such as 2027-02-28T18:00."),
        ("ends_at", "2027-02-28T17:00", "End: the event cannot end before it starts."),
        ("timezone", "Mars/Olympus", "Time zone: choose a time zone such as Europe/Paris."),
        ("country", "XX", "Country: choose a country from the list."),
        ("country", "", "Country: choose the country where the event takes place."),
        ("latitude", "91", "Latitude: give a number between -90 and 90."),
        ("longitude", "", "Location: give both latitude and longitude, or neither."),
        (
            "website",
            "javascript:alert(1)",
            "Website: give a full address starting with https:// or http://.",
        ),
        (
            "website",
            "example.org",
            "Website: give a full address starting with https:// or http://.",
        ),
        ("language", "xx", "Language: choose a language from the list."),
        (
            "location_precision",
            "street",
            "Location precision: choose address, city, country, manual or none.",
        ),
    ],
)
def test_invalid_fields_get_a_message_a_person_understands(
    field: str, value: str, message: str
) -> None:
    event, errors = validate_event(make_event(**{field: value}))

    assert event is None
    assert message in errors.values()


def test_contact_email_is_checked_without_dns() -> None:
    _, errors = validate_event(make_event(contact_email="not an address"))
    event, _ = validate_event(make_event(contact_email="Someone@Example.ORG"))

    assert errors["contact_email"].startswith("Contact e-mail:")
    assert event is not None and event["contact_email"] == "Someone@example.org"


def test_online_events_need_no_place() -> None:
    event, errors = validate_event(
        make_event(format="online", country="", city="", latitude="", longitude="",
                   location_precision="")
    )  # fmt: skip

    assert errors == {}
    assert event is not None and event["location_precision"] == "none"


def test_codes_are_normalised() -> None:
    event, _ = validate_event(make_event(country="fr", category="Talk", language="FR"))

    assert event is not None
    assert (event["country"], event["category"], event["language"]) == ("FR", "talk", "fr")
    assert event["latitude"] == "48.856613"


@pytest.mark.parametrize(
    ("raw", "multiline", "expected"),
    [
        ("Cafe\u0301", False, "Café"),  # NFC
        ("  padded  ", False, "padded"),
        ("evil\u202eexe.txt", False, "evilexe.txt"),  # bidi override removed
        ("bell\x07 and null\x00", False, "bell and null"),
        ("two\nlines", False, "two lines"),
        ("two\r\nlines\rhere", True, "two\nlines\nhere"),
        ("tab\tinside", False, "tab inside"),
        # Unicode's line and paragraph separators are line breaks too (a title's would break
        # every e-mail header it goes into).
        ("walk\u2028Bcc: x@example.org", False, "walk Bcc: x@example.org"),
        ("one\u2029two", True, "one\ntwo"),
        (None, False, ""),
    ],
)
def test_normalise_text(raw: str | None, multiline: bool, expected: str) -> None:
    assert normalise_text(raw, multiline=multiline) == expected


@pytest.mark.parametrize("name", ["localtime", "Factory", "posixrules", "posix/Europe/Paris"])
def test_zone_names_that_are_no_place_are_refused(name: str) -> None:
    event, errors = validate_event(make_event(timezone=name))
    assert event is None and set(errors) == {"timezone"}


def test_description_keeps_newlines_but_title_does_not() -> None:
    event, _ = validate_event(make_event(title="a\nb", description="a\nb"))

    assert event is not None
    assert (event["title"], event["description"]) == ("a b", "a\nb")


@pytest.mark.parametrize(
    ("today", "edition"),
    [(date(2026, 11, 24), 2027), (date(2027, 2, 28), 2027), (date(2027, 3, 1), 2028)],
)
def test_current_edition(today: date, edition: int) -> None:
    assert current_edition(today) == edition


def test_rare_disease_day_is_the_last_day_of_february() -> None:
    assert edition_date(2027) == date(2027, 2, 28)
    assert edition_date(2028) == date(2028, 2, 29)


def test_country_names_are_common_names() -> None:
    assert country_name("GB") == "United Kingdom"
    assert country_name("TW") == "Taiwan"
    assert country_name("ZZ") == "ZZ"
