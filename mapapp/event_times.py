"""An event's times as its page says them, in the interface language: local, with its zone, and UTC.

"dimanche 28 février 2027, 18:00–22:00 (heure de Paris, UTC+01:00)". Dates and times come from
CLDR through `mapapp.i18n`; the sentences around them from the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from babel.core import UnknownLocaleError
from babel.dates import get_timezone_location

from mapapp.events import is_known_timezone, parse_local_time, zone
from mapapp.i18n import _, current_locale, format_date, format_time

UTC_NAME = "UTC"


def zone_city(name: str) -> str:
    """Return a zone's city in the interface language ("Paris" for Europe/Paris), or ""."""
    if not name or name == UTC_NAME or "/" not in name or not is_known_timezone(name):
        return ""
    try:
        return str(get_timezone_location(name, locale=current_locale(), return_city=True))
    except (LookupError, UnknownLocaleError, ValueError):
        return ""


def utc_offset(moment: datetime) -> str:
    """Return an aware moment's offset as people read it after "UTC": "+01:00", "-05:00"."""
    offset = moment.strftime("%z") or "+0000"
    return f"{offset[:3]}:{offset[3:]}"


def span_text(starts: datetime, ends: datetime | None) -> str:
    """Return a start and optional end in their own zone: "Sunday, February 28, 2027, 6:00 PM"."""
    day, start = format_date(starts.date(), "full"), format_time(starts, "short")
    if ends is None:
        return _("%(day)s, %(time)s", day=day, time=start)
    end = format_time(ends, "short")
    if ends.date() == starts.date():
        return _("%(day)s, %(start)s–%(end)s", day=day, start=start, end=end)
    return _(
        "%(start_day)s, %(start)s to %(end_day)s, %(end)s",
        start_day=day,
        start=start,
        end_day=format_date(ends.date(), "full"),
        end=end,
    )


def _local(event: Mapping[str, str], field: str) -> datetime | None:
    value = event.get(field, "")
    moment = parse_local_time(value) if value else None
    return moment.replace(tzinfo=zone(event.get("timezone", ""))) if moment else None


def local_when(event: Mapping[str, str]) -> str:
    """Return an event's times in its own zone, with the zone: "… (Paris time, UTC+01:00)"."""
    name = event.get("timezone", "")
    if name and not is_known_timezone(name):
        return event.get("starts_at", "")
    starts = _local(event, "starts_at")
    if starts is None:
        return ""
    span = span_text(starts, _local(event, "ends_at"))
    offset = utc_offset(starts)
    if city := zone_city(name):
        return _("%(when)s (%(city)s time, UTC%(offset)s)", when=span, city=city, offset=offset)
    return _("%(when)s (UTC%(offset)s)", when=span, offset=offset)


def utc_when(event: Mapping[str, str]) -> str:
    """Return an event's times in UTC: "Sunday, February 28, 2027, 5:00 PM–9:00 PM UTC"."""
    name = event.get("timezone", "")
    if name and not is_known_timezone(name):
        return ""
    starts = _local(event, "starts_at")
    if starts is None:
        return ""
    ends = _local(event, "ends_at")
    span = span_text(starts.astimezone(UTC), ends.astimezone(UTC) if ends else None)
    return _("%(when)s UTC", when=span)
