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

from mapapp.i18n import N_, _, current_code, ngettext

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

# The names of the fields as people read them (translated where shown: field_label); the CSV
# exports' headers use them in English.
FIELD_LABELS: dict[str, str] = {
    "id": N_("Id"),
    # Translators: a field label: the review state of an event (pending, approved...).
    "status": N_("Status"),
    "title": N_("Title"),
    "category": N_("Category"),
    "format": N_("Format"),
    # Translators: a field label: the date and time an event starts.
    "starts_at": N_("Start"),
    # Translators: a field label: the date and time an event ends.
    "ends_at": N_("End"),
    "timezone": N_("Time zone"),
    "venue": N_("Venue"),
    "address": N_("Address"),
    "city": N_("City"),
    "region": N_("Region"),
    "country": N_("Country"),
    "latitude": N_("Latitude"),
    "longitude": N_("Longitude"),
    "location_precision": N_("Location precision"),
    "location_source": N_("Location source"),
    "organiser": N_("Organiser"),
    "website": N_("Website"),
    "contact_email": N_("Contact e-mail"),
    "description": N_("Description"),
    "language": N_("Language"),
    # Translators: a field label: whether the event is sample data, not a real event.
    "is_sample": N_("Sample flag"),
    # Translators: a field label: when the event was first stored.
    "created_at": N_("Created"),
    # Translators: a field label: when the event was last changed.
    "updated_at": N_("Updated"),
    # Translators: a field label: the private links that let an organiser edit their event.
    "edit_token_hash": N_("Edit links"),
    "moderation_note": N_("Moderation note"),
    "pending_change": N_("Change waiting for review"),
    "change_note": N_("Reason a change was not accepted"),
    "partner": N_("Sent by partner"),
    "interface_language": N_("Organiser's interface language"),
}

# An event's review state (translated where shown: event_text.status_label).
STATUSES: dict[str, str] = {
    # Translators: an event's status: it waits for a coordinator to review it.
    "pending": N_("Pending review"),
    # Translators: an event's status: a coordinator accepted it and it is on the map.
    "approved": N_("Approved"),
    # Translators: an event's status: a coordinator did not accept it.
    "rejected": N_("Rejected"),
    # Translators: an event's status: its organiser took it back.
    "withdrawn": N_("Withdrawn"),
}

CATEGORIES: dict[str, str] = {
    # Translators: the campaign's name for lighting up buildings (see docs/glossary.md).
    "illumination": N_("Light up for Rare"),
    "awareness": N_("Awareness stand or stall"),
    "talk": N_("Talk or conference"),
    "fundraiser": N_("Fundraiser"),
    "sport": N_("Sport or walk"),
    "social": N_("Social gathering"),
    "policy": N_("Policy event"),
    "arts": N_("Arts or contest"),
    "online": N_("Online campaign or social media"),
    # Translators: an event category: none of the above.
    "other": N_("Other"),
}

FORMATS: dict[str, str] = {
    # Translators: an event format: people meet at a place.
    "in_person": N_("In person"),
    # Translators: an event format: held on the internet.
    "online": N_("Online"),
    # Translators: an event format: both at a place and on the internet.
    "hybrid": N_("Hybrid"),
}

# How precisely an event is placed on the map.
LOCATION_PRECISIONS: dict[str, str] = {
    "address": N_("Street address"),
    # Translators: how precisely an event is placed: at its town or city.
    "city": N_("City"),
    # Translators: how precisely an event is placed: somewhere in its country.
    "country": N_("Country"),
    "manual": N_("Placed by hand"),
    "none": N_("Not placed yet"),
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
    """Return the common English name of an ISO 3166-1 alpha-2 code, or the code itself.

    For files, the store and the CLI; pages show mapapp.i18n.country_name (CLDR, translated).
    """
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
    """Return the normalised event and no errors, or None and a message per invalid field.

    The messages are in the interface language in use (English outside a request).
    """
    event = {name: "" for name in FIELDS}
    for name in FIELDS:
        if name in data:
            event[name] = normalise_text(data[name], multiline=name in _MULTILINE_FIELDS)
    broken = {
        name: broken_text_message(field_label(name))
        for name in FIELDS
        if not is_storable_text(event[name])
    }
    for name in broken:
        event[name] = ""  # the other checks see no value; the broken-text message wins below
    event["status"] = event["status"] or "pending"
    errors: dict[str, str] = {}

    for name, limit in MAX_LENGTHS.items():
        if len(event[name]) > limit:
            errors[name] = too_long_message(field_label(name), limit)

    _check_choice(
        event,
        errors,
        "status",
        STATUSES,
        N_("Status: choose pending, approved, rejected or withdrawn."),
    )
    _check_choice(
        event, errors, "category", CATEGORIES, N_("Category: choose a category from the list.")
    )
    _check_choice(
        event, errors, "format", FORMATS, N_("Format: choose in person, online or hybrid.")
    )
    if not event["title"]:
        errors["title"] = _("Title: give the event a name.")

    _check_times(event, errors)
    _check_place(event, errors)

    if event["website"] and not is_http_url(event["website"]):
        errors["website"] = _("Website: give a full address starting with https:// or http://.")
    if event["contact_email"] and "contact_email" not in errors:
        try:
            checked = validate_email(event["contact_email"], check_deliverability=False)
            event["contact_email"] = checked.normalized
        except EmailNotValidError as exc:
            errors["contact_email"] = _("Contact e-mail: %(reason)s", reason=email_problem(exc))
    if event["language"]:
        language = pycountry.languages.get(alpha_2=event["language"].lower())
        if language is None:
            errors["language"] = _("Language: choose a language from the list.")
        else:
            event["language"] = event["language"].lower()
    if event["is_sample"] not in {"", "true"}:
        errors["is_sample"] = _("Sample flag: leave it empty or write true.")
    if event["id"] and not ID_PATTERN.match(event["id"]):
        errors["id"] = _("Id: use 6 to 32 letters, digits, - or _.")
    for name in ("created_at", "updated_at"):
        if event[name] and not _is_utc_time(event[name]):
            errors[name] = _(
                "%(field)s: write UTC time as YYYY-MM-DDTHH:MM:SSZ.", field=field_label(name)
            )
    errors.update(broken)
    return (None, errors) if errors else (event, {})


def field_label(name: str) -> str:
    """Return the label of a field in the interface language ("Title")."""
    if name in FIELD_LABELS:
        return _(FIELD_LABELS[name])
    return name.replace("_", " ").capitalize()


def translated(labels: Mapping[str, str]) -> dict[str, str]:
    """Return code -> label in the interface language, for one of the tables above."""
    return {code: _(label) for code, label in labels.items()}


def too_long_message(label: str, limit: int) -> str:
    """Return the error for a text longer than its limit: "Title: keep it under 200 characters."."""
    return ngettext(
        "%(field)s: keep it under %(num)s character.",
        "%(field)s: keep it under %(num)s characters.",
        limit,
        field=label,
        num=limit,
    )


def broken_text_message(label: str) -> str:
    """Return the error for a text holding a lone surrogate, which cannot be stored."""
    return _(
        "%(field)s: this text holds a broken character (a lone surrogate) that cannot be "
        "stored; type it again.",
        field=label,
    )


def email_problem(exc: EmailNotValidError) -> str:
    """Return what is wrong with an e-mail address: the checker's words, which are English only."""
    if current_code() == "en":
        return str(exc)
    return _("this is not an e-mail address that can be written to; check it for typos.")


def _check_choice(
    event: dict[str, str],
    errors: dict[str, str],
    name: str,
    choices: Mapping[str, str],
    message: str,
) -> None:
    """Require a field to hold one of its codes (case-insensitive)."""
    value = event[name].lower()
    if value in choices:
        event[name] = value
    else:
        errors[name] = _(message)


def _check_times(event: dict[str, str], errors: dict[str, str]) -> None:
    """Require a real start, an end not before it, and a known time zone."""
    starts = parse_local_time(event["starts_at"])
    if starts is None:
        errors["starts_at"] = _("Start: give a date and time such as 2027-02-28T18:00.")
    else:
        event["starts_at"] = starts.strftime(LOCAL_TIME_FORMAT)
    if event["ends_at"]:
        ends = parse_local_time(event["ends_at"])
        if ends is None:
            errors["ends_at"] = _("End: give a date and time such as 2027-02-28T20:00.")
        elif starts is not None and ends < starts:
            errors["ends_at"] = _("End: the event cannot end before it starts.")
        else:
            event["ends_at"] = ends.strftime(LOCAL_TIME_FORMAT)
    if event["timezone"] and event["timezone"] not in _TIMEZONES:
        errors["timezone"] = _("Time zone: choose a time zone such as Europe/Paris.")


def _check_place(event: dict[str, str], errors: dict[str, str]) -> None:
    """Require a known country for events with a place, and coordinates in range."""
    if event["country"]:
        country = pycountry.countries.get(alpha_2=event["country"].upper())
        if country is None or len(event["country"]) != 2:
            errors["country"] = _("Country: choose a country from the list.")
        else:
            event["country"] = country.alpha_2
    elif event["format"] in {"in_person", "hybrid"}:
        errors["country"] = _("Country: choose the country where the event takes place.")

    latitude, longitude = event["latitude"], event["longitude"]
    if bool(latitude) != bool(longitude):
        errors["latitude"] = _("Location: give both latitude and longitude, or neither.")
    elif latitude:
        try:
            lat, lon = float(latitude), float(longitude)
        except ValueError:
            lat = lon = math.nan
        if not (-90 <= lat <= 90):
            errors["latitude"] = _("Latitude: give a number between -90 and 90.")
        elif not (-180 <= lon <= 180):
            errors["longitude"] = _("Longitude: give a number between -180 and 180.")
        else:
            event["latitude"], event["longitude"] = format_coordinate(lat), format_coordinate(lon)

    precision = event["location_precision"] or ("none" if not latitude else "")
    if precision not in LOCATION_PRECISIONS:
        errors["location_precision"] = _(
            "Location precision: choose address, city, country, manual or none."
        )
    elif precision == "none" and latitude:
        errors["location_precision"] = _(
            "Location precision: a placed event cannot have precision none."
        )
    elif precision != "none" and not latitude:
        errors["location_precision"] = _(
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
