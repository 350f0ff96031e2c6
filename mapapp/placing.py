"""Placing an event: the geocoder's candidates, a chosen or typed point, and its time zone."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mapapp import geocoding
from mapapp.events import FIELD_LABELS, MAX_LENGTHS, format_coordinate

# Who placed an event, as location_source says.
MANUAL_SOURCE = "organiser"
API_SOURCE = "partner"


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
    # The geocoder's message already offers its suggestions ("Did you mean Zürich?").
    message = result.message or f"We could not find {place!r} in that country."
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
            latitude="", longitude="", location_precision="none", location_source="", timezone=""
        )
        return placed
    zone_name = _timezone_of(picked)
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
