"""Placing an event: the geocoder's candidates, a chosen or typed point, and its time zone."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from mapapp import geocoding, timezones
from mapapp.events import FIELD_LABELS, MAX_LENGTHS, country_name, format_coordinate

# Who placed an event, as location_source says.
MANUAL_SOURCE = "organiser"
API_SOURCE = "partner"
NO_COUNTRY_ZONE_MESSAGE = (
    "Time zone: choose the country first, then the time zone the event's times are in."
)
NO_ZONES_MESSAGE = (
    "Time zone: we know no time zone for that country; choose the country your organisation "
    "is based in."
)


@dataclass(frozen=True)
class Candidate:
    """A place the organiser may pick for the event."""

    name: str
    latitude: float
    longitude: float
    precision: str
    source: str
    timezone: str

    @classmethod
    def from_place(cls, place: geocoding.Place) -> Candidate:
        """Return the candidate of a geocoder's place."""
        return cls(
            name=str(place.name),
            latitude=float(place.latitude),
            longitude=float(place.longitude),
            precision=str(place.precision),
            source=str(place.source),
            timezone=str(place.timezone or ""),
        )


@dataclass
class Located:
    """What the geocoder made of an event's place: a status, a message for the organiser, places."""

    status: str  # found | not_found | unavailable | online
    message: str = ""
    candidates: list[Candidate] = field(default_factory=list)


def locate(event: Mapping[str, str]) -> Located:
    """Return the places the geocoder finds for an event (none for online events)."""
    if event["format"] == "online" and not event["city"] and not event["address"]:
        return Located(status="online")
    result = geocoding.locate(
        address=event["address"],
        city=event["city"],
        region=event["region"],
        country=event["country"],
    )
    return Located(
        status=result.status,
        message=_place_message(result, event),
        candidates=[Candidate.from_place(place) for place in result.places],
    )


def _place_message(result: geocoding.GeocodeResult, event: Mapping[str, str]) -> str:
    """Return what to tell the organiser about placing the event."""
    if result.status == "found":
        return result.message or ""
    fallback = (
        " You can still send the event: a coordinator will place it on the map, or you can "
        "type its coordinates below."
    )
    if result.status == "unavailable":
        return "We cannot reach the map search service right now." + fallback
    place = ", ".join(part for part in (event["address"], event["city"]) if part)
    message = result.message or f"We could not find {place!r} in that country."
    if result.suggestions:
        message += " Did you mean " + " or ".join(result.suggestions[:3]) + "?"
    return message + fallback


def place_event(
    event: Mapping[str, str],
    candidates: list[Candidate],
    *,
    choice: int | None = 0,
    latitude: str = "",
    longitude: str = "",
    source: str = MANUAL_SOURCE,
) -> dict[str, str]:
    """Return the event placed at a chosen candidate or at typed coordinates, with its time zone."""
    placed = dict(event)
    picked = candidates[choice] if choice is not None and 0 <= choice < len(candidates) else None
    if latitude and longitude:
        lat, lon = float(latitude), float(longitude)
        same = picked is not None and (
            format_coordinate(lat) == format_coordinate(picked.latitude)
            and format_coordinate(lon) == format_coordinate(picked.longitude)
        )
        if not same:
            picked = Candidate("", lat, lon, "manual", source, "")
    if picked is None:
        placed.update(
            latitude="",
            longitude="",
            location_precision="none",
            location_source="",
            timezone=unplaced_timezone(event),
        )
        return placed
    # The place's zone wins over one the organiser gave: the point says where the clocks are.
    zone_name = _timezone_of(picked) or unplaced_timezone(event)
    placed.update(
        latitude=format_coordinate(picked.latitude),
        longitude=format_coordinate(picked.longitude),
        location_precision=picked.precision,
        location_source=picked.source[: MAX_LENGTHS["location_source"]],
        timezone=zone_name,
    )
    return placed


def _timezone_of(candidate: Candidate) -> str:
    """Return the time zone at a place."""
    return str(
        geocoding.timezone_at(candidate.latitude, candidate.longitude) or candidate.timezone or ""
    )


# The time zone of an event without a place (online, or a town we could not find)


def unplaced_timezone(event: Mapping[str, str]) -> str:
    """Return the zone of an event without a place: the one given for its country, else the
    country's only one, else ""."""
    country = event.get("country", "")
    return timezones.in_country(event.get("timezone", ""), country) or timezones.single_zone(
        country
    )


def country_zone(name: str, country: str) -> tuple[str, str]:
    """Return the country's zone a given zone name means and no error, or "" and what is wrong."""
    if not name:
        return "", ""
    if zone := timezones.in_country(name, country):
        return zone, ""
    if not timezones.zones_of(country):
        return "", NO_ZONES_MESSAGE
    where = geocoding.country_phrase(country_name(country))
    if single := timezones.single_zone(country):
        return "", (
            f"Time zone: {name} is not the time zone of {where}; its time zone is {single}."
        )
    return "", (
        f"Time zone: {name} is not a time zone of {where}; choose one of its zones, such as "
        f"{_listed(timezones.examples(country))}."
    )


def timezone_errors(event: Mapping[str, str]) -> dict[str, str]:
    """Return what to ask when an event still has no time zone, or its times do not exist there."""
    if zone := event.get("timezone", ""):
        return _skipped_times(event, zone)
    country = event.get("country", "")
    if not country:
        return {"timezone": NO_COUNTRY_ZONE_MESSAGE}
    if not timezones.zones_of(country):
        return {"timezone": NO_ZONES_MESSAGE}
    where = geocoding.country_phrase(country_name(country))
    return {
        "timezone": (
            f"Time zone: there are several time zones in {where}; give the one the event's "
            f"times are in, such as {_listed(timezones.examples(country))}."
        )
    }


def _skipped_times(event: Mapping[str, str], zone: str) -> dict[str, str]:
    """Return an error for a start or end the clocks jump over in the event's zone."""
    errors: dict[str, str] = {}
    for name in ("starts_at", "ends_at"):
        value = event.get(name, "")
        if value and timezones.skipped(value, zone):
            moment = datetime.fromisoformat(value)
            errors[name] = (
                f"{FIELD_LABELS[name]}: {moment:%H:%M} on {moment.day} {moment:%B %Y} does not "
                f"exist in {zone}, where the clocks go forward that night; give another time."
            )
    return errors


def settled_timezone_errors(placed: Mapping[str, str], given: str) -> dict[str, str]:
    """Return what is wrong with the zone of an event as placed: a given zone not of its country
    (when no place gave one), no zone at all, or times the clocks jump over."""
    if given and not placed["latitude"]:
        _, problem = country_zone(given, placed["country"])
        if problem:
            return {"timezone": problem}
    return timezone_errors(placed)


def moved_zone_message(event: Mapping[str, str]) -> str:
    """Return what to tell the organiser when the pin they placed is in another time zone."""
    times = timezones.describe_times(event["starts_at"], event["timezone"])
    return (
        f"Time zone: the pin is now in {event['timezone']}. {times} Check the place and the "
        "times, then send the event again."
    )


def _listed(names: tuple[str, ...]) -> str:
    """Return names as "A, B or C"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def check_coordinates(latitude: str, longitude: str) -> dict[str, str]:
    """Return errors for typed coordinates (both or neither, within range)."""
    latitude, longitude = latitude.strip(), longitude.strip()
    if not latitude and not longitude:
        return {}
    if not latitude or not longitude:
        return {"latitude": "Location: give both latitude and longitude, or neither."}
    errors: dict[str, str] = {}
    for name, value, bound in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not -bound <= number <= bound:
            errors[name] = f"{FIELD_LABELS[name]}: give a number between -{bound} and {bound}."
    return errors


def candidate_choices(candidates: Iterable[Candidate]) -> list[dict[str, Any]]:
    """Return candidates as plain data for the preview map's JSON block."""
    return [asdict(candidate) for candidate in candidates]


def parse_choice(raw: str, candidates: list[Candidate]) -> int | None:
    """Return the index of the chosen candidate, or None for none."""
    if raw.isascii() and raw.isdigit() and int(raw) < len(candidates):  # "²" is a digit too
        return int(raw)
    return None
