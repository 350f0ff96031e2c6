"""One row of a partner's file: read its cells into an event, then check it by the form's rules.

Reading understands what people type in spreadsheets (28/02/2027, 6pm, "Walk", "Deutschland");
checking is mapapp.submission_rules' own (`check_rules`: required fields, the editions' date
window, a town or a country), so that the import accepts what the form accepts. Unlike an
organiser's new submission, an imported event that has ended is kept, with a warning, as the
organisers' issue allows coordinators; a row for a country outside the importing coordinator's
scope is refused with the scope's own message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from datetime import time as clock_time

from mapapp.access import Scope, point_refusal
from mapapp.events import CATEGORIES, FORMATS, LOCAL_TIME_FORMAT, normalise_text
from mapapp.geocoding import country_code as country_code_of_name
from mapapp.i18n import N_, _
from mapapp.import_columns import PART_FIELDS, category_code, format_code
from mapapp.submission_rules import (
    SUBMITTED_FIELDS,
    check_rules,
    ended_imported_warning,
)

IMPORT_SOURCE = "import"
DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%b %d %Y",
)
TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%H.%M", "%Hh%M", "%Hh", "%I:%M%p", "%I%p", "%I.%M%p")
TRAILING_TIME = re.compile(
    r"^(?P<day>.+?)[\sT,]+(?P<time>\d{1,2}(?:[:.h]\d{2})?(?::\d{2})?\s*(?:[ap]\.?m\.?)?)$",
    re.IGNORECASE,
)
HOST_LIKE = re.compile(r"^(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)+(/\S*)?$", re.IGNORECASE)
# Translators: %(value)s is what the file says; %(choices)s lists the categories' names.
CATEGORY_MESSAGE = N_("Category: '%(value)s' is not one of ours; use one of %(choices)s.")
# Translators: %(value)s is what the file says; %(choices)s lists the formats' names.
FORMAT_MESSAGE = N_("Format: '%(value)s' is not one of ours; use one of %(choices)s.")
# Translators: keep FR: it is a country code.
COUNTRY_MESSAGE = N_(
    "Country: we do not know '%(value)s'; write the country's name or its two-letter code, such "
    "as FR."
)
# What is wrong with a start or an end read from a row, by field and problem (see _read_moment).
MOMENT_MESSAGES: dict[tuple[str, str], str] = {
    ("starts_at", "no_date"): N_("Start: no date."),
    # Translators: keep the example dates as they are.
    ("starts_at", "bad_date"): N_(
        "Start: we could not read the date '%(typed)s'; write it as 2027-02-28 or 28/02/2027."
    ),
    ("starts_at", "no_time"): N_(
        "Start: the row has a date but no time; add a time such as 18:00."
    ),
    ("starts_at", "bad_time"): N_(
        "Start: we could not read the time '%(typed)s'; write it as 18:00."
    ),
    ("ends_at", "no_date"): N_("End: no date."),
    ("ends_at", "bad_date"): N_(
        "End: we could not read the date '%(typed)s'; write it as 2027-02-28 or 28/02/2027."
    ),
    ("ends_at", "no_time"): N_("End: the row has a date but no time; add a time such as 18:00."),
    ("ends_at", "bad_time"): N_("End: we could not read the time '%(typed)s'; write it as 18:00."),
}
# The same problems as parse_moment says them (English, for scripts and tests).
MOMENT_PROBLEMS: dict[str, str] = {
    "no_date": "no date",
    "bad_date": "we could not read the date {typed!r}; write it as 2027-02-28 or 28/02/2027",
    "no_time": "the row has a date but no time; add a time such as 18:00",
    "bad_time": "we could not read the time {typed!r}; write it as 18:00",
}
# Read from the row, never taken from it: the place a geocoder or a coordinator gives.
PLACE_FIELDS = ("latitude", "longitude", "location_precision", "location_source")


def country_code(value: str) -> str | None:
    """Return the alpha-2 code of a country written by name (many languages) or code, or None."""
    text = value.strip()
    if not text:
        return ""
    return country_code_of_name(text) or None


def parse_day(value: str) -> date | None:
    """Return the date written in one of the common day-first or ISO forms, or None."""
    text = " ".join(value.replace(",", " ").split())
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def parse_clock(value: str) -> clock_time | None:
    """Return the time of day written as 18:00, 18.00, 18h00, 6pm or 6:30 p.m., or None."""
    text = value.strip().lower().replace(" ", "").replace(".m.", "m").replace("a.m", "am")
    text = text.replace("p.m", "pm")
    for pattern in TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).time()
        except ValueError:
            continue
    return None


def parse_moment(day_text: str, time_text: str) -> tuple[str, str]:
    """Return (local time YYYY-MM-DDTHH:MM, "") from a date and a time, or ("", problem).

    The problem is said in English; the import's report says it in the interface language.
    """
    moment, problem, typed = _read_moment(day_text, time_text)
    return moment, MOMENT_PROBLEMS[problem].format(typed=typed) if problem else ""


def _read_moment(day_text: str, time_text: str) -> tuple[str, str, str]:
    """Return (local time, "", "") from a date and a time, or ("", problem, what was typed)."""
    day_text, time_text = day_text.strip(), time_text.strip()
    if not day_text:
        return "", "no_date", ""
    try:
        moment = datetime.fromisoformat(day_text)
        if moment.tzinfo is None and ("T" in day_text or " " in day_text) and not time_text:
            return moment.strftime(LOCAL_TIME_FORMAT), "", ""
        day: date | None = moment.date()
    except ValueError:
        day = parse_day(day_text)
        if day is None and not time_text and (match := TRAILING_TIME.match(day_text)):
            day, time_text = parse_day(match["day"]), match["time"]
    if day is None:
        return "", "bad_date", day_text
    if not time_text:
        return "", "no_time", ""
    clock = parse_clock(time_text)
    if clock is None:
        return "", "bad_time", time_text
    return datetime.combine(day, clock).strftime(LOCAL_TIME_FORMAT), "", ""


def row_to_event(
    cells: list[str], mapping: Mapping[str, int], *, status: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Return the event a row describes before validation, and problems found reading it.

    A file without a Category column imports its rows as "other", one without a Format column
    as in person when the row names a place and online otherwise; an empty cell in either
    column is left for the form's rule to refuse.
    """

    def cell(name: str) -> str:
        position = mapping.get(name)
        return cells[position].strip() if position is not None and position < len(cells) else ""

    problems: dict[str, str] = {}
    event = {name: cell(name) for name in mapping if name not in PART_FIELDS}
    event["status"] = status
    event["location_precision"] = ""

    starts_day = cell("starts_at") or cell("start_date")
    starts_at, problem, typed = _read_moment(starts_day, cell("start_time"))
    if problem:
        problems["starts_at"] = _(MOMENT_MESSAGES["starts_at", problem], typed=typed)
    event["starts_at"] = starts_at
    ends_day, ends_clock = cell("ends_at") or cell("end_date"), cell("end_time")
    if ends_clock and not ends_day:
        ends_day = starts_at[:10] or starts_day  # an end time alone ends on the start day
    if ends_day:
        ends_at, problem, typed = _read_moment(ends_day, ends_clock)
        if problem:
            problems["ends_at"] = _(MOMENT_MESSAGES["ends_at", problem], typed=typed)
        event["ends_at"] = ends_at

    if "category" not in mapping:
        event["category"] = "other"
    elif raw := event["category"]:
        event["category"] = category_code(raw) or raw
        if event["category"] not in CATEGORIES:
            choices = ", ".join(_(label) for label in CATEGORIES.values())
            problems["category"] = _(CATEGORY_MESSAGE, value=raw, choices=choices)
    if "format" not in mapping:  # a row with a place is an event people go to
        has_place = any(cell(name) for name in ("venue", "address", "city", "country"))
        event["format"] = "in_person" if has_place else "online"
    elif raw := event["format"]:
        event["format"] = format_code(raw) or raw
        if event["format"] not in FORMATS:
            choices = ", ".join(_(label) for label in FORMATS.values())
            problems["format"] = _(FORMAT_MESSAGE, value=raw, choices=choices)
    if raw := event.get("country", ""):
        code = country_code(raw)
        if code is None:
            problems["country"] = _(COUNTRY_MESSAGE, value=raw)
        else:
            event["country"] = code
    if (website := event.get("website", "")) and HOST_LIKE.match(website):
        event["website"] = "https://" + website  # "www.example.org" means the web site
    if event.get("language"):
        event["language"] = event["language"].lower()
    if event.get("latitude") and event.get("longitude"):
        event["location_precision"] = "manual"
        event["location_source"] = IMPORT_SOURCE
    return event, problems


def check_row(
    event: Mapping[str, str],
    problems: Mapping[str, str],
    scope: Scope,
    *,
    today: date | None = None,
) -> tuple[dict[str, str] | None, dict[str, str]]:
    """Return the checked event and no errors, or None and every reason to refuse the row.

    The form's rules decide (`check_rules`); what reading found says more than their generic
    message for the same field, and a row for a country outside the scope is refused.
    """
    raw = {name: event.get(name, "") for name in SUBMITTED_FIELDS}
    fixed = {name: event.get(name, "") for name in ("status", *PLACE_FIELDS)}
    fixed["location_precision"] = fixed["location_precision"] or "none"
    checked, errors = check_rules(raw, fixed=fixed, today=today)
    errors = {**errors, **problems}
    country = (checked or event).get("country", "")
    if "country" not in errors and (refusal := scope.refusal(country)):
        errors["country"] = refusal
    if checked is not None and not errors and (problem := point_refusal(scope, checked)):
        errors["latitude"] = problem
    if errors:
        return None, errors
    return checked, {}


def ended_warning(event: Mapping[str, str]) -> str:
    """Return the warning of an imported event that has ended (in its zone), or ""."""
    return ended_imported_warning(event)


def place_query(event: Mapping[str, str]) -> tuple[str, str, str, str]:
    """Return the (address, city, region, country) a row is looked up by, as checked values."""
    address, city, region, country = (
        normalise_text(event.get(name, "")) for name in ("address", "city", "region", "country")
    )
    return address, city, region, country.upper()
