"""Events as people read them: labels instead of codes, places in words, local times for people.

"Sandakan, Malaysia · Online" and "Sun 28 Feb 2027, 18:00–22:00 (Paris time)" rather than
"Sandakan MY · online" and "2027-02-28T18:00 Europe/Paris", in the interface language: labels
through the catalog, country names, dates, times and zone cities from CLDR (Babel). English keeps
its own day pattern ("Sun 28 Feb 2027": British CLDR writes "Sun, 28 Feb 2027" and "Sept");
everything else, English's too (en_GB), is CLDR's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache

from babel.dates import format_date
from babel.lists import format_list

from mapapp.event_times import zone_city
from mapapp.events import (
    CATEGORIES,
    FORMATS,
    STATUSES,
    UTC_TIME_FORMAT,
    parse_local_time,
)
from mapapp.i18n import (
    DEFAULT_LANGUAGE,
    N_,
    _,
    country_name,
    current_code,
    current_locale,
    format_skeleton,
    format_time,
)

DATE_PATTERN = "EEE d MMM y"  # Sun 28 Feb 2027, English's pattern
DATE_SKELETON = "yMMMEd"  # the same parts, in the order and words of another language
SEPARATOR = " · "
NO_ZONE = N_("time zone not given")


def category_label(code: str) -> str:
    """Return a category as people read it ("Light up for Rare"), or the code if unknown."""
    return _(CATEGORIES[code]) if code in CATEGORIES else code


def format_label(code: str) -> str:
    """Return a format as people read it ("In person"), or the code if unknown."""
    return _(FORMATS[code]) if code in FORMATS else code


def status_label(code: str) -> str:
    """Return a status as people read it ("Pending review"), or the code if unknown."""
    return _(STATUSES[code]) if code in STATUSES else code


def place_line(event: Mapping[str, str]) -> str:
    """Return where an event takes place: "Hôtel de Ville, Paris, France · In person"."""
    parts = [event.get(name, "") for name in ("venue", "address", "city", "region")]
    country = event.get("country", "")
    parts.append(country_name(country) if country else "")
    where = ", ".join(part for part in parts if part)
    how = format_label(event.get("format", ""))
    return SEPARATOR.join(part for part in (where, how) if part)


def day_text(moment: datetime | date) -> str:
    """Return a day as people read it: "Sun 28 Feb 2027"."""
    day = moment.date() if isinstance(moment, datetime) else moment
    if current_code() == DEFAULT_LANGUAGE:
        return format_date(day, DATE_PATTERN, locale=DEFAULT_LANGUAGE)
    return format_skeleton(day, DATE_SKELETON)


def clock_text(moment: datetime) -> str:
    """Return a time of day as people read it: "18:00" (in the moment's own zone)."""
    return format_time(moment, "short")


def zone_words(name: str) -> str:
    """Return a time zone as people say it: "Paris time", "UTC"."""
    return _zone_words(name, current_code())


@lru_cache(maxsize=2048)
def _zone_words(name: str, language: str) -> str:
    """Return a time zone as people of a language say it (see zone_words)."""
    if not name:
        return _(NO_ZONE)
    city = zone_city(name)
    # Translators: a time zone named by its city: "Paris time".
    return _("%(city)s time", city=city) if city else name


def when_line(event: Mapping[str, str]) -> str:
    """Return an event's start and end in its own local time.

    "Sun 28 Feb 2027, 18:00–22:00 (Paris time)"; an end on another day names that day too.
    """
    starts = parse_local_time(event.get("starts_at", ""))
    if starts is None:
        return event.get("starts_at", "")
    ends = parse_local_time(event.get("ends_at", "")) if event.get("ends_at") else None
    zone = zone_words(event.get("timezone", ""))
    if ends is not None and ends.date() == starts.date():
        # Translators: an event's day, its start and end times, and its time zone:
        # "Sun 28 Feb 2027, 18:00–22:00 (Paris time)".
        return _(
            "%(day)s, %(start)s\N{EN DASH}%(end)s (%(zone)s)",
            day=day_text(starts),
            start=clock_text(starts),
            end=clock_text(ends),
            zone=zone,
        )
    if ends is not None:
        # Translators: an event's start and end on different days, and its time zone:
        # "Sun 28 Feb 2027, 18:00 – Mon 1 Mar 2027, 02:00 (Paris time)".
        return _(
            "%(day)s, %(start)s \N{EN DASH} %(end_day)s, %(end)s (%(zone)s)",
            day=day_text(starts),
            start=clock_text(starts),
            end_day=day_text(ends),
            end=clock_text(ends),
            zone=zone,
        )
    # Translators: an event's day, its start time and its time zone:
    # "Sun 28 Feb 2027, 18:00 (Paris time)".
    return _(
        "%(day)s, %(start)s (%(zone)s)", day=day_text(starts), start=clock_text(starts), zone=zone
    )


def utc_line(value: str) -> str:
    """Return a stored UTC time (created_at) as people read it: "Fri 15 Oct 2026, 12:00 UTC"."""
    try:
        moment = datetime.strptime(value, UTC_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return value
    # Translators: a day and a time in UTC: "Fri 15 Oct 2026, 12:00 UTC".
    return _("%(day)s, %(time)s UTC", day=day_text(moment), time=clock_text(moment))


def long_date(day: date) -> str:
    """Return a day in full as people write it: "3 March 2026"."""
    return format_date(day, "long", locale=current_locale())


def day_month(day: date) -> str:
    """Return a day of a month without its year: "3 March"."""
    return format_skeleton(day, "MMMMd")


def or_list(items: Sequence[str]) -> str:
    """Return names as alternatives: "A, B or C" ("A, B ou C" in French)."""
    return format_list(list(items), style="or", locale=current_locale())
