"""The rules of an organiser's submission: the fields they fill in, required ones, the date window."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mapapp.event_text import long_date
from mapapp.events import (
    MAX_LENGTHS,
    current_edition,
    edition_date,
    field_label,
    is_known_timezone,
    parse_local_time,
    too_long_message,
    validate_event,
)
from mapapp.i18n import DEFAULT_LANGUAGE, N_, _, current_code, format_date
from mapapp.placing import country_zone

# What an organiser may fill in; everything else (status, id, location) is set here.
SUBMITTED_FIELDS: tuple[str, ...] = (
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
    "website",
    "organiser",
    "contact_email",
    "description",
    "language",
)
# The messages are marked for the catalog and translated where they are used (check_rules).
REQUIRED_FIELDS: dict[str, str] = {
    "title": N_("Title: give the event a name."),
    "starts_at": N_("Start: give the date and time the event starts."),
    "organiser": N_("Organiser: say who organises the event."),
    "contact_email": N_("Contact e-mail: give an address where a coordinator can reach you."),
}
LANGUAGE_MAX_LENGTH = 3
CHOICE_MAX_LENGTH = 40
CITY_MESSAGE = N_("City: say in which town or city the event takes place.")
ONLINE_COUNTRY_MESSAGE = N_(
    "Country: for an online event, choose the country your organisation is based in (a global "
    "organisation chooses the country where it is based)."
)
# The accepted dates: from 60 days before to 30 days after Rare Disease Day of the previous, the
# current or the next edition (so organisers can add events of the coming year early).
WINDOW_BEFORE = timedelta(days=60)
WINDOW_AFTER = timedelta(days=30)
# An event without a (known) time zone is taken to end where the day ends last, UTC-12, so that
# no event is refused as ended while it is still on somewhere. (Etc/GMT+12 is UTC-12: POSIX signs.)
LENIENT_ZONE = "Etc/GMT+12"
# Translators: %(day)s is a date such as "3 March 2026".
ENDED_MESSAGE = N_(
    "This event ended on %(day)s: the map shows coming and current events. If its dates are wrong, "
    "correct them and send it again."
)
ENDED_KEPT_MESSAGE = N_(
    "This event ended on %(day)s: it is kept, as coordinators may add the past events of a recent "
    "edition."
)
ENDED_IMPORTED_MESSAGE = N_(
    "This event ended on %(day)s: it is imported all the same, as past events of a recent edition "
    "may be."
)


def editions_around(today: date | None = None) -> list[int]:
    """Return the editions whose date window is accepted: previous, current and next."""
    current = current_edition(today)
    return [current - 1, current, current + 1]


def date_window(year: int) -> tuple[date, date]:
    """Return the first and last accepted day of an edition."""
    day = edition_date(year)
    return day - WINDOW_BEFORE, day + WINDOW_AFTER


def check_submission(
    data: Mapping[str, Any], *, consent: bool, today: date | None = None
) -> tuple[dict[str, str] | None, dict[str, str]]:
    """Return the pending event an organiser submitted and no errors, or None and the errors."""
    errors: dict[str, str] = {}
    raw: dict[str, str] = {}
    for name in SUBMITTED_FIELDS:
        value = data.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = _("%(field)s: give text.", field=field_label(name))
            value = ""
        raw[name] = value
    # Bound raw sizes before any work, so huge values cost nothing.
    for name, value in raw.items():
        limit = MAX_LENGTHS.get(name, LANGUAGE_MAX_LENGTH if name == "language" else 0)
        limit = limit or (CHOICE_MAX_LENGTH if name in {"category", "format", "country"} else 64)
        if len(value) > 2 * limit + 100:
            errors[name] = too_long_message(field_label(name), limit)
            raw[name] = ""
    event, rule_errors = check_rules(raw, today=today)
    for name, message in rule_errors.items():
        errors.setdefault(name, message)
    if not consent:
        errors["consent"] = _("Consent: tick the box to let us publish the event once approved.")
    if errors:
        return None, errors
    assert event is not None
    return {**event, "status": "pending"}, {}


def check_rules(
    raw: Mapping[str, str],
    *,
    fixed: Mapping[str, str] | None = None,
    today: date | None = None,
) -> tuple[dict[str, str] | None, dict[str, str]]:
    """Return the event and no errors, or None and a message per field, by the form's rules.

    The one set of rules of a new event, whoever sends it (the form, the JSON API, the import):
    the schema, the required fields, a town for events people go to, a country for online ones,
    and the editions' date window. raw holds the submitted fields as text; fixed the fields the
    system sets (status, a given location), pending and unplaced unless said.
    """
    data = {name: raw.get(name, "") for name in SUBMITTED_FIELDS}
    event, errors = validate_event(
        {**data, "status": "pending", "location_precision": "none", **(fixed or {})}
    )
    candidate = event or {name: str(data[name]).strip() for name in SUBMITTED_FIELDS}
    for name, message in REQUIRED_FIELDS.items():
        if not candidate[name] and name not in errors:
            errors[name] = _(message)
    if candidate.get("format") in {"in_person", "hybrid"} and not candidate["city"]:
        errors.setdefault("city", _(CITY_MESSAGE))
    if candidate.get("format") == "online" and not candidate["country"]:
        errors.setdefault("country", _(ONLINE_COUNTRY_MESSAGE))
    if "starts_at" not in errors and "ends_at" not in errors:
        _check_date_window(candidate, errors, today)
    return (None, errors) if errors else (event, {})


def check_online_zone(event: Mapping[str, str]) -> dict[str, str]:
    """Return an error when the zone given for an online event is not one of its country's.

    For the form's first step, where an online event has no place yet. Elsewhere the zone is
    checked once the event is placed (placing.settled_timezone_errors): an event with a place
    takes the place's zone, whose name need not be zone.tab's (Hanoi is in Asia/Bangkok).
    """
    if event["format"] != "online" or not event["timezone"] or not event["country"]:
        return {}
    _zone, problem = country_zone(event["timezone"], event["country"])
    return {"timezone": problem} if problem else {}


def _check_date_window(
    event: Mapping[str, str], errors: dict[str, str], today: date | None
) -> None:
    """Require the event to fall within the window of a nearby edition."""
    starts = parse_local_time(event["starts_at"])
    if starts is None:
        return
    editions = editions_around(today)
    windows = [date_window(year) for year in editions]
    if not any(first <= starts.date() <= last for first, last in windows):
        first, last = windows[0][0], windows[-1][1]
        errors["starts_at"] = _(
            "Start: Rare Disease Day events take place around the last day of February; "
            "choose a date from %(first)s to %(last)s that is within 60 days before or 30 days "
            "after an edition.",
            first=_padded_date(first),
            last=_padded_date(last),
        )
        return
    if event["ends_at"]:
        ends = parse_local_time(event["ends_at"])
        if ends is not None and ends - starts > timedelta(days=90):
            errors["ends_at"] = _("End: an event can last at most 90 days.")


def ended_on(event: Mapping[str, str], now: datetime | None = None) -> date | None:
    """Return the local day an event ended, or None while it has not ended in its own zone.

    An event ends at its end, or at its start when it gives none.
    """
    end = parse_local_time(event.get("ends_at") or "") or parse_local_time(
        event.get("starts_at") or ""
    )
    if end is None:
        return None
    name = event.get("timezone") or ""
    zone = ZoneInfo(name if is_known_timezone(name) else LENIENT_ZONE)
    moment = now if now is not None else datetime.now(UTC)
    return end.date() if end.replace(tzinfo=zone) <= moment else None


def ended_error(event: Mapping[str, str], now: datetime | None = None) -> dict[str, str]:
    """Return the error that refuses an organiser's new event that has already ended, or none."""
    day = ended_on(event, now)
    if day is None:
        return {}
    name = "ends_at" if parse_local_time(event.get("ends_at") or "") else "starts_at"
    return {name: _(ENDED_MESSAGE, day=long_date(day))}


def ended_warning(event: Mapping[str, str], now: datetime | None = None) -> str:
    """Return the warning a coordinator sees on saving an event that has already ended, or ""."""
    day = ended_on(event, now)
    return _(ENDED_KEPT_MESSAGE, day=long_date(day)) if day is not None else ""


def ended_imported_warning(event: Mapping[str, str], now: datetime | None = None) -> str:
    """Return the warning of an imported event that has already ended (in its zone), or ""."""
    day = ended_on(event, now)
    return _(ENDED_IMPORTED_MESSAGE, day=long_date(day)) if day is not None else ""


def _padded_date(day: date) -> str:
    """Return a day in full, with a two-digit day in English: 01 January 2027."""
    if current_code() == DEFAULT_LANGUAGE:
        return f"{day:%d %B %Y}"
    return format_date(day, "long")
