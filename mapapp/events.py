"""The event schema: fields, categories, formats, statuses, and validation."""

from __future__ import annotations

import calendar
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

import pycountry
from email_validator import EmailNotValidError, validate_email

# The CSV columns, in file order. The same names are used by the JSON API and every export.
FIELDS: tuple[str, ...] = (
    "id",
    "status",
    "title",
    "category",
    "format",
    "starts_at",
    "ends_at",
    "timezone",
    "venue",
    "address",
    "city",
    "region",
    "country",
    "latitude",
    "longitude",
    "location_precision",
    "location_source",
    "organiser",
    "website",
    "contact_email",
    "description",
    "language",
    "is_sample",
    "created_at",
    "updated_at",
    "edit_token_hash",
    "moderation_note",
    "pending_change",
    "change_note",
    "partner",
    "interface_language",
)

# Never shown to visitors nor put in public exports.
# partner: the name of the API key a partner's system posted the event with (see mapapp.api_keys).
# interface_language: the organiser's interface language when the event was created ("fr"; empty:
# English), the language of every e-mail about the event (see mapapp.notices).
PRIVATE_FIELDS: frozenset[str] = frozenset(
    {
        "contact_email",
        "edit_token_hash",
        "moderation_note",
        "pending_change",
        "change_note",
        "partner",
        "interface_language",
    }
)
PUBLIC_FIELDS: tuple[str, ...] = tuple(name for name in FIELDS if name not in PRIVATE_FIELDS)
# Set by the system, never taken from a person's input.
# pending_change: an organiser's change of a published event waiting for review (JSON, see
# mapapp.pending_changes); change_note: why a coordinator did not accept the last one.
SYSTEM_FIELDS: frozenset[str] = frozenset(
    {
        "id",
        "created_at",
        "updated_at",
        "edit_token_hash",
        "pending_change",
        "change_note",
        "partner",
        "interface_language",
    }
)

FIELD_LABELS: dict[str, str] = {
    "id": "Id",
    "status": "Status",
    "title": "Title",
    "category": "Category",
    "format": "Format",
    "starts_at": "Start",
    "ends_at": "End",
    "timezone": "Time zone",
    "venue": "Venue",
    "address": "Address",
    "city": "City",
    "region": "Region",
    "country": "Country",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "location_precision": "Location precision",
    "location_source": "Location source",
    "organiser": "Organiser",
    "website": "Website",
    "contact_email": "Contact e-mail",
    "description": "Description",
    "language": "Language",
    "is_sample": "Sample flag",
    "created_at": "Created",
    "updated_at": "Updated",
    "edit_token_hash": "Edit links",
    "moderation_note": "Moderation note",
    "pending_change": "Change waiting for review",
    "change_note": "Reason a change was not accepted",
    "partner": "Sent by partner",
    "interface_language": "Organiser's interface language",
}

STATUSES: dict[str, str] = {
    "pending": "Pending review",
    "approved": "Approved",
    "rejected": "Rejected",
    "withdrawn": "Withdrawn",
}

CATEGORIES: dict[str, str] = {
    "illumination": "Light up for Rare",
    "awareness": "Awareness stand or stall",
    "talk": "Talk or conference",
    "fundraiser": "Fundraiser",
    "sport": "Sport or walk",
    "social": "Social gathering",
    "policy": "Policy event",
    "arts": "Arts or contest",
    "online": "Online campaign or social media",
    "other": "Other",
}

FORMATS: dict[str, str] = {
    "in_person": "In person",
    "online": "Online",
    "hybrid": "Hybrid",
}

LOCATION_PRECISIONS: dict[str, str] = {
    "address": "Street address",
    "city": "City",
    "country": "Country",
    "manual": "Placed by hand",
    "none": "Not placed yet",
}

# Upper bounds on each text field, in characters after normalisation.
MAX_LENGTHS: dict[str, int] = {
    "title": 200,
    "venue": 200,
    "address": 300,
    "city": 120,
    "region": 120,
    "organiser": 200,
    "website": 500,
    "contact_email": 254,
    "description": 5000,
    "moderation_note": 1000,
    "change_note": 1000,
    "location_source": 40,
}

LOCAL_TIME_FORMAT = "%Y-%m-%dT%H:%M"
MIN_YEAR = 1000  # strftime writes earlier years with fewer than four digits
UTC_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{6,32}$")

# Control characters except tab and newline, plus the bidirectional overrides and isolates that can
# make text display differently from what it is ("Trojan Source").
_UNSAFE_CHARACTERS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
# A lone UTF-16 surrogate (JSON's "\ud800" decodes to one) cannot be encoded as UTF-8, so a value
# holding one could be neither stored nor shown.
_SURROGATES = re.compile("[\ud800-\udfff]")
BROKEN_TEXT_HINT = (
    "this text holds a broken character (a lone surrogate) that cannot be stored; type it again"
)
_MULTILINE_FIELDS = frozenset({"description", "moderation_note", "change_note"})
# The tz database's zones, without the names that are no place: "localtime" (the server's own
# zone), "Factory", and the "posix/" and "right/" copies some systems add.
_NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})
_TIMEZONES = frozenset(
    name
    for name in available_timezones()
    if name not in _NOT_PLACES and not name.startswith(("posix/", "right/"))
) | {"UTC"}


def edition_date(year: int) -> date:
    """Return Rare Disease Day of a year: the last day of February."""
    return date(year, 2, calendar.monthrange(year, 2)[1])


def current_edition(today: date | None = None) -> int:
    """Return the year of the next (or today's) Rare Disease Day."""
    today = today or date.today()
    return today.year if today <= edition_date(today.year) else today.year + 1


def normalise_text(value: Any, *, multiline: bool = False) -> str:
    """Return text in NFC without control or bidi-override characters, trimmed."""
    text = "" if value is None else str(value)
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Unicode's line and paragraph separators break lines too (in e-mail headers, in editors).
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    if not multiline:
        text = re.sub(r"[\n\t]+", " ", text)
    text = _UNSAFE_CHARACTERS.sub("", text)
    if multiline:
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text.strip()


def is_storable_text(text: str) -> bool:
    """Return whether text can be encoded as UTF-8, that is, holds no lone surrogate."""
    return _SURROGATES.search(text) is None


def parse_local_time(value: str) -> datetime | None:
    """Return the naive datetime of an ISO 8601 local time, or None if it is not one.

    Years before 1000 are refused: strftime writes them with fewer than four digits, which the
    store's own format check would then call damage.
    """
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None or moment.year < MIN_YEAR:
        return None
    return moment


def country_name(code: str) -> str:
    """Return the common English name of an ISO 3166-1 alpha-2 code, or the code itself."""
    country = pycountry.countries.get(alpha_2=code.upper()) if code else None
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


def is_http_url(value: str) -> bool:
    """Return whether a value is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname) and " " not in value


def format_coordinate(value: float) -> str:
    """Return a coordinate as stored: six decimals (about 10 cm)."""
    return f"{value:.6f}"


def validate_event(data: Mapping[str, Any]) -> tuple[dict[str, str] | None, dict[str, str]]:
    """Return the normalised event and no errors, or None and a message per invalid field."""
    event = {name: "" for name in FIELDS}
    for name in FIELDS:
        if name in data:
            event[name] = normalise_text(data[name], multiline=name in _MULTILINE_FIELDS)
    broken = {
        name: f"{_label(name)}: {BROKEN_TEXT_HINT}."
        for name in FIELDS
        if not is_storable_text(event[name])
    }
    for name in broken:
        event[name] = ""  # the other checks see no value; the broken-text message wins below
    event["status"] = event["status"] or "pending"
    errors: dict[str, str] = {}

    for name, limit in MAX_LENGTHS.items():
        if len(event[name]) > limit:
            errors[name] = f"{_label(name)}: keep it under {limit} characters."

    _check_choice(
        event, errors, "status", STATUSES, "choose pending, approved, rejected or withdrawn"
    )
    _check_choice(event, errors, "category", CATEGORIES, "choose a category from the list")
    _check_choice(event, errors, "format", FORMATS, "choose in person, online or hybrid")
    if not event["title"]:
        errors["title"] = "Title: give the event a name."

    _check_times(event, errors)
    _check_place(event, errors)

    if event["website"] and not is_http_url(event["website"]):
        errors["website"] = "Website: give a full address starting with https:// or http://."
    if event["contact_email"] and "contact_email" not in errors:
        try:
            checked = validate_email(event["contact_email"], check_deliverability=False)
            event["contact_email"] = checked.normalized
        except EmailNotValidError as exc:
            errors["contact_email"] = f"Contact e-mail: {exc}"
    if event["language"]:
        language = pycountry.languages.get(alpha_2=event["language"].lower())
        if language is None:
            errors["language"] = "Language: choose a language from the list."
        else:
            event["language"] = event["language"].lower()
    if event["is_sample"] not in {"", "true"}:
        errors["is_sample"] = "Sample flag: leave it empty or write true."
    if event["id"] and not ID_PATTERN.match(event["id"]):
        errors["id"] = "Id: use 6 to 32 letters, digits, - or _."
    for name in ("created_at", "updated_at"):
        if event[name] and not _is_utc_time(event[name]):
            errors[name] = f"{_label(name)}: write UTC time as YYYY-MM-DDTHH:MM:SSZ."
    errors.update(broken)
    return (None, errors) if errors else (event, {})


def _label(name: str) -> str:
    """Return the human label of a field."""
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def _check_choice(
    event: dict[str, str], errors: dict[str, str], name: str, choices: Mapping[str, str], hint: str
) -> None:
    """Require a field to hold one of its codes (case-insensitive)."""
    value = event[name].lower()
    if value in choices:
        event[name] = value
    else:
        errors[name] = f"{_label(name)}: {hint}."


def _check_times(event: dict[str, str], errors: dict[str, str]) -> None:
    """Require a real start, an end not before it, and a known time zone."""
    starts = parse_local_time(event["starts_at"])
    if starts is None:
        errors["starts_at"] = "Start: give a date and time such as 2027-02-28T18:00."
    else:
        event["starts_at"] = starts.strftime(LOCAL_TIME_FORMAT)
    if event["ends_at"]:
        ends = parse_local_time(event["ends_at"])
        if ends is None:
            errors["ends_at"] = "End: give a date and time such as 2027-02-28T20:00."
        elif starts is not None and ends < starts:
            errors["ends_at"] = "End: the event cannot end before it starts."
        else:
            event["ends_at"] = ends.strftime(LOCAL_TIME_FORMAT)
    if event["timezone"] and event["timezone"] not in _TIMEZONES:
        errors["timezone"] = "Time zone: choose a time zone such as Europe/Paris."


def _check_place(event: dict[str, str], errors: dict[str, str]) -> None:
    """Require a known country for events with a place, and coordinates in range."""
    if event["country"]:
        country = pycountry.countries.get(alpha_2=event["country"].upper())
        if country is None or len(event["country"]) != 2:
            errors["country"] = "Country: choose a country from the list."
        else:
            event["country"] = country.alpha_2
    elif event["format"] in {"in_person", "hybrid"}:
        errors["country"] = "Country: choose the country where the event takes place."

    latitude, longitude = event["latitude"], event["longitude"]
    if bool(latitude) != bool(longitude):
        errors["latitude"] = "Location: give both latitude and longitude, or neither."
    elif latitude:
        try:
            lat, lon = float(latitude), float(longitude)
        except ValueError:
            lat = lon = math.nan
        if not (-90 <= lat <= 90):
            errors["latitude"] = "Latitude: give a number between -90 and 90."
        elif not (-180 <= lon <= 180):
            errors["longitude"] = "Longitude: give a number between -180 and 180."
        else:
            event["latitude"], event["longitude"] = format_coordinate(lat), format_coordinate(lon)

    precision = event["location_precision"] or ("none" if not latitude else "")
    if precision not in LOCATION_PRECISIONS:
        errors["location_precision"] = (
            "Location precision: choose address, city, country, manual or none."
        )
    elif precision == "none" and latitude:
        errors["location_precision"] = (
            "Location precision: a placed event cannot have precision none."
        )
    elif precision != "none" and not latitude:
        errors["location_precision"] = (
            "Location precision: an event without coordinates has precision none."
        )
    event["location_precision"] = precision


def _is_utc_time(value: str) -> bool:
    """Return whether a value is a UTC time as the store writes it."""
    try:
        datetime.strptime(value, UTC_TIME_FORMAT)
    except ValueError:
        return False
    return True


def is_known_timezone(name: str) -> bool:
    """Return whether a name is an IANA time zone this system knows."""
    return name in _TIMEZONES


def zone(name: str) -> ZoneInfo:
    """Return the ZoneInfo of a stored time zone name, UTC when empty."""
    return ZoneInfo(name or "UTC")
