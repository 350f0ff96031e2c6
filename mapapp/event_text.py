"""Events as people read them: labels instead of codes, places in words, local times for people.

"Sandakan, Malaysia · Online" and "Sun 28 Feb 2027, 18:00–22:00 (Paris time)" rather than
"Sandakan MY · online" and "2027-02-28T18:00 Europe/Paris". English for now; the dates and zone
cities come from CLDR (Babel), so other languages need only a locale.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache

from babel.core import UnknownLocaleError
from babel.dates import format_date, get_timezone_location

from mapapp.events import (
    CATEGORIES,
    FORMATS,
    STATUSES,
    UTC_TIME_FORMAT,
    country_name,
    is_known_timezone,
    parse_local_time,
)

LOCALE = "en"
DATE_PATTERN = "EEE d MMM y"  # Sun 28 Feb 2027
SEPARATOR = " · "
EN_DASH = "\N{EN DASH}"
ZONE_WORDS = "{city} time"
NO_ZONE = "time zone not given"
UTC_NAME = "UTC"


def category_label(code: str) -> str:
    """Return a category as people read it ("Light up for Rare"), or the code if unknown."""
    return CATEGORIES.get(code, code)


def format_label(code: str) -> str:
    """Return a format as people read it ("In person"), or the code if unknown."""
    return FORMATS.get(code, code)


def status_label(code: str) -> str:
    """Return a status as people read it ("Pending review"), or the code if unknown."""
    return STATUSES.get(code, code)


def place_line(event: Mapping[str, str]) -> str:
    """Return where an event takes place: "Hôtel de Ville, Paris, France · In person"."""
    parts = [event.get(name, "") for name in ("venue", "address", "city", "region")]
    country = event.get("country", "")
    parts.append(country_name(country) if country else "")
    where = ", ".join(part for part in parts if part)
    how = format_label(event.get("format", ""))
    return SEPARATOR.join(part for part in (where, how) if part)


def day_text(moment: datetime) -> str:
    """Return a day as people read it: "Sun 28 Feb 2027"."""
    return format_date(moment.date(), DATE_PATTERN, locale=LOCALE)


@lru_cache(maxsize=512)
def zone_words(name: str) -> str:
    """Return a time zone as people say it: "Paris time", "UTC"."""
    if not name:
        return NO_ZONE
    if name == UTC_NAME or not is_known_timezone(name) or "/" not in name:
        return name
    try:
        city = get_timezone_location(name, locale=LOCALE, return_city=True)
    except (LookupError, UnknownLocaleError, ValueError):
        return name
    return ZONE_WORDS.format(city=city) if city else name


def when_line(event: Mapping[str, str]) -> str:
    """Return an event's start and end in its own local time.

    "Sun 28 Feb 2027, 18:00–22:00 (Paris time)"; an end on another day names that day too.
    """
    starts = parse_local_time(event.get("starts_at", ""))
    if starts is None:
        return event.get("starts_at", "")
    text = f"{day_text(starts)}, {starts:%H:%M}"
    ends = parse_local_time(event.get("ends_at", "")) if event.get("ends_at") else None
    if ends is not None and ends.date() == starts.date():
        text += f"{EN_DASH}{ends:%H:%M}"
    elif ends is not None:
        text += f" {EN_DASH} {day_text(ends)}, {ends:%H:%M}"
    return f"{text} ({zone_words(event.get('timezone', ''))})"


def utc_line(value: str) -> str:
    """Return a stored UTC time (created_at) as people read it: "Fri 15 Oct 2026, 12:00 UTC"."""
    try:
        moment = datetime.strptime(value, UTC_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return value
    return f"{day_text(moment)}, {moment:%H:%M} UTC"
