"""Time zones by country, from the tz database's zone.tab, and how to say them to people.

zone.tab names each country's zones with the country's own cities (Africa/Dar_es_Salaam for
Tanzania, Europe/Oslo for Norway), which is what organisers and their browsers know; zone1970.tab
merges countries whose clocks agree since 1970 under one city (Tanzania under Africa/Nairobi,
Norway under Europe/Berlin), so it is not used. A country's zones that keep the same clock in the
coming years count as one: Germany (Europe/Berlin and Europe/Busingen), Argentina and Kazakhstan
each have a single clock, so their zone can be inferred; Spain (Madrid and Ceuta share a clock,
the Canary Islands do not) cannot.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mapapp.event_text import clock_text, day_month
from mapapp.events import is_known_timezone
from mapapp.i18n import _

ZONE_TABLE = "zone.tab"
LINKS_FILE = "tzdata.zi"  # the compact tz source: "L TARGET LINK" lines name the aliases
SYSTEM_ZONEINFO = Path("/usr/share/zoneinfo")
# Zones keep "the same clock" when their offsets agree at every hour of this window.
SAME_CLOCK_BEFORE = timedelta(days=90)
SAME_CLOCK_AFTER = timedelta(days=2 * 366)
COARSE_STEP = timedelta(days=1)
FINE_STEP = timedelta(hours=1)
MINUS = "\N{MINUS SIGN}"
EXAMPLES = 4


@dataclass(frozen=True)
class CountryZone:
    """One line of zone.tab: a zone of a country, with the area it covers where there are several."""

    name: str
    comment: str


def _read_text(name: str) -> str:
    """Return a file of the tz database: the tzdata package's copy, else the system's."""
    try:
        resource = importlib.resources.files("tzdata").joinpath("zoneinfo", name)
        return resource.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        path = SYSTEM_ZONEINFO / name
        return path.read_text(encoding="utf-8") if path.exists() else ""


@cache
def _table() -> dict[str, tuple[CountryZone, ...]]:
    """Return each country's zones (ISO alpha-2 -> zones), in zone.tab's order (main zone first)."""
    countries: dict[str, list[CountryZone]] = {}
    for line in _read_text(ZONE_TABLE).splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        comment = parts[3].strip() if len(parts) > 3 else ""
        countries.setdefault(parts[0].upper(), []).append(CountryZone(parts[2].strip(), comment))
    return {code: tuple(zones) for code, zones in countries.items()}


@cache
def _links() -> dict[str, str]:
    """Return each alias (link) of the tz database -> the zone it names, e.g. Asia/Calcutta."""
    links: dict[str, str] = {}
    for line in _read_text(LINKS_FILE).splitlines():
        if line.startswith("L "):
            _kind, target, alias = line.split()[:3]
            links[alias] = target
    return links


def _target(name: str) -> str:
    """Return the zone an alias finally names (the name itself when it is not an alias)."""
    seen = {name}
    links = _links()
    while name in links and links[name] not in seen:
        name = links[name]
        seen.add(name)
    return name


def country_zones(country: str) -> tuple[CountryZone, ...]:
    """Return the zones of a country with their comments (none for an unknown code)."""
    return _table().get(country.upper(), ()) if country else ()


def zones_of(country: str) -> tuple[str, ...]:
    """Return the IANA names of a country's zones, main zone first."""
    return tuple(zone.name for zone in country_zones(country))


def countries() -> tuple[str, ...]:
    """Return the countries zone.tab lists, as ISO alpha-2 codes."""
    return tuple(_table())


@cache
def aliases_of(name: str) -> tuple[str, ...]:
    """Return the other names the tz database has for a zone (browsers may give one of them)."""
    return tuple(sorted(alias for alias, target in _links().items() if target == name))


def in_country(name: str, country: str) -> str:
    """Return the country's zone that a zone name means (aliases included), or "" if none.

    "Asia/Calcutta" in IN gives "Asia/Kolkata"; "Europe/Oslo" in NO stays itself although the
    tzdata package makes it an alias of Europe/Berlin.
    """
    zones = zones_of(country)
    if not name or not zones:
        return ""
    if name in zones:
        return name
    target = _target(name)
    for zone in zones:
        if target in (zone, _target(zone)):
            return zone
    return ""


@cache
def _zone(name: str) -> ZoneInfo:
    """Return a zone, kept (ZoneInfo's own cache is weak: each page would read the file again)."""
    return ZoneInfo(name)


def _offsets(name: str, moments: Iterable[datetime]) -> list[timedelta | None]:
    """Return a zone's UTC offsets at some moments."""
    zone = _zone(name)
    return [moment.astimezone(zone).utcoffset() for moment in moments]


def _moments(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Return the moments from start to end, step apart."""
    count = int((end - start) / step)
    return [start + step * index for index in range(count + 1)]


@cache
def _clocks(country: str, today: str) -> tuple[str, ...]:
    """Return one zone per distinct clock of a country over the coming years (cached per day)."""
    zones = zones_of(country)
    if len(zones) < 2:
        return zones
    now = datetime.fromisoformat(today).replace(tzinfo=UTC)
    start, end = now - SAME_CLOCK_BEFORE, now + SAME_CLOCK_AFTER
    coarse = _moments(start, end, COARSE_STEP)
    fine = _moments(start, end, FINE_STEP)
    kept: list[tuple[str, list[timedelta | None], list[timedelta | None] | None]] = []
    for name in zones:
        offsets = _offsets(name, coarse)
        same = None
        for index, (_name, other_coarse, other_fine) in enumerate(kept):
            if offsets != other_coarse:
                continue
            if other_fine is None:
                other_fine = _offsets(kept[index][0], fine)
                kept[index] = (kept[index][0], other_coarse, other_fine)
            if _offsets(name, fine) == other_fine:
                same = index
                break
        if same is None:
            kept.append((name, offsets, None))
    return tuple(name for name, _coarse, _fine in kept)


def clocks(country: str, today: datetime | None = None) -> tuple[str, ...]:
    """Return one zone per distinct clock of a country, main zone first."""
    day = (today or datetime.now(UTC)).date().isoformat()
    return _clocks(country.upper(), day)


def single_zone(country: str, today: datetime | None = None) -> str:
    """Return the zone of a country that keeps one clock (its main zone), or "" if it has several."""
    kept = clocks(country, today)
    return kept[0] if len(kept) == 1 else ""


def examples(country: str, limit: int = EXAMPLES) -> tuple[str, ...]:
    """Return a few of a country's zones, one per clock, to name in a message."""
    return clocks(country)[:limit]


def offset_text(name: str, moment: datetime | None = None) -> str:
    """Return a zone's UTC offset at a moment (now by default) as people read it: UTC−05:00."""
    offset = (moment or datetime.now(UTC)).astimezone(_zone(name)).utcoffset()
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else MINUS
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def label(name: str, comment: str = "", moment: datetime | None = None) -> str:
    """Return how a zone reads in a list: "America/New_York (UTC−05:00 now), Eastern (most areas)"."""
    # Translators: a time zone and its offset from UTC at present: "America/New_York (UTC−05:00
    # now)".
    text = _("%(zone)s (%(offset)s now)", zone=name, offset=offset_text(name, moment))
    # zone.tab's comments ("Eastern (most areas)") are English only: the tz database has no others.
    return f"{text}, {comment}" if comment else text


def choices(country: str, moment: datetime | None = None) -> list[tuple[str, str]]:
    """Return (zone, label) for each zone of a country, main zone first."""
    return [(zone.name, label(zone.name, zone.comment, moment)) for zone in country_zones(country)]


def describe_times(starts_at: str, name: str) -> str:
    """Return the sentence that confirms an event's zone: "Times are in Europe/Madrid: 15:00 there is 14:00 UTC."."""
    try:
        local = datetime.fromisoformat(starts_at)
        zone = ZoneInfo(name)
    except (ValueError, KeyError):
        return ""
    if local.tzinfo is not None:
        return ""
    utc = local.replace(tzinfo=zone).astimezone(UTC)
    if utc.date() == local.date():
        return _(
            "Times are in %(zone)s: %(local)s there is %(utc)s UTC.",
            zone=name,
            local=clock_text(local),
            utc=clock_text(utc),
        )
    return _(
        "Times are in %(zone)s: %(local)s on %(local_day)s there is %(utc)s UTC on %(utc_day)s.",
        zone=name,
        local=clock_text(local),
        local_day=day_month(local),
        utc=clock_text(utc),
        utc_day=day_month(utc),
    )


def skipped(local_time: str, name: str) -> bool:
    """Return whether a wall time does not exist in a zone (the clocks jump over it that night)."""
    try:
        local = datetime.fromisoformat(local_time)
        zone = _zone(name)
    except (ValueError, KeyError):
        return False
    if local.tzinfo is not None:
        return False
    there = local.replace(tzinfo=zone)
    return there.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local


def events_without_zone(events: Iterable[Mapping[Any, Any]]) -> list[dict[str, str]]:
    """Return the id, title, format and country of the events with no known time zone."""
    return [
        {name: str(event.get(name, "")) for name in ("id", "title", "format", "country")}
        for event in events
        if not is_known_timezone(str(event.get("timezone", "")))
    ]
