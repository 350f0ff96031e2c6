"""Placing an event: the geocoder's candidates, a chosen or typed point, and its time zone."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from mapapp import geocoding, outlines, timezones
from mapapp.event_text import clock_text, long_date, or_list
from mapapp.events import MAX_LENGTHS, field_label, format_coordinate
from mapapp.i18n import N_, _

# Who placed an event, as location_source says.
MANUAL_SOURCE = "organiser"
API_SOURCE = "partner"
# How far a pin may land from its country's 50m outline, or from one of its towns, before we
# warn. GeoNames towns lie within 8 km of their own country's outline in 99.5% of cases (coasts,
# harbours, islets the 50m outlines smooth away; measured on 30,000 towns, see
# docs/placing.md); a point 60 km inside a neighbour is warned about.
TOLERANCE_KM = 20.0
# Zoom levels the placing maps open at: a town, a point placed before.
TOWN_ZOOM = 12
WORLD_VIEW: dict[str, Any] = {"center": [20.0, 0.0], "zoom": 2}
# Marked for the catalog, translated where used.
NO_COUNTRY_ZONE_MESSAGE = N_(
    "Time zone: choose the country first, then the time zone the event's times are in."
)
NO_ZONES_MESSAGE = N_(
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
    fallback = _(
        "You can still send the event: a coordinator will place it on the map, or you can "
        "type its coordinates below."
    )
    if result.status == "unavailable":
        return _("We cannot reach the map search service right now.") + " " + fallback
    place = ", ".join(part for part in (event["address"], event["city"]) if part)
    # The geocoder's message already offers its suggestions ("Did you mean Zürich?").
    message = result.message or _("We could not find %(place)s in that country.", place=repr(place))
    return message + " " + fallback


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
        return "", _(NO_ZONES_MESSAGE)
    where = geocoding.country_in_sentence(country)
    if single := timezones.single_zone(country):
        return "", _(
            "Time zone: %(zone)s is not the time zone of %(country)s; its time zone is %(single)s.",
            zone=name,
            country=where,
            single=single,
        )
    return "", _(
        "Time zone: %(zone)s is not a time zone of %(country)s; choose one of its zones, such as "
        "%(examples)s.",
        zone=name,
        country=where,
        examples=or_list(timezones.examples(country)),
    )


def timezone_errors(event: Mapping[str, str]) -> dict[str, str]:
    """Return what to ask when an event still has no time zone, or its times do not exist there."""
    if zone := event.get("timezone", ""):
        return _skipped_times(event, zone)
    country = event.get("country", "")
    if not country:
        return {"timezone": _(NO_COUNTRY_ZONE_MESSAGE)}
    if not timezones.zones_of(country):
        return {"timezone": _(NO_ZONES_MESSAGE)}
    return {
        "timezone": _(
            "Time zone: there are several time zones in %(country)s; give the one the event's "
            "times are in, such as %(examples)s.",
            country=geocoding.country_in_sentence(country),
            examples=or_list(timezones.examples(country)),
        )
    }


def _skipped_times(event: Mapping[str, str], zone: str) -> dict[str, str]:
    """Return an error for a start or end the clocks jump over in the event's zone."""
    errors: dict[str, str] = {}
    for name in ("starts_at", "ends_at"):
        value = event.get(name, "")
        if value and timezones.skipped(value, zone):
            moment = datetime.fromisoformat(value)
            errors[name] = _(
                "%(field)s: %(time)s on %(day)s does not exist in %(zone)s, where the clocks go "
                "forward that night; give another time.",
                field=field_label(name),
                time=clock_text(moment),
                day=long_date(moment.date()),
                zone=zone,
            )
    return errors


def settled_timezone_errors(placed: Mapping[str, str], given: str) -> dict[str, str]:
    """Return what is wrong with the zone of an event as placed: a given zone not of its country
    (when no place gave one), no zone at all, or times the clocks jump over."""
    if given and not placed["latitude"]:
        _zone, problem = country_zone(given, placed["country"])
        if problem:
            return {"timezone": problem}
    return timezone_errors(placed)


def moved_zone_message(event: Mapping[str, str]) -> str:
    """Return what to tell the organiser when the pin they placed is in another time zone."""
    times = timezones.describe_times(event["starts_at"], event["timezone"])
    # Translators: %(times)s is a sentence such as "Times are in Europe/Madrid: 15:00 there is
    # 14:00 UTC.", or nothing.
    return _(
        "Time zone: the pin is now in %(zone)s. %(times)s Check the place and the times, then "
        "send the event again.",
        zone=event["timezone"],
        times=times,
    )


def check_coordinates(latitude: str, longitude: str) -> dict[str, str]:
    """Return errors for typed coordinates (both or neither, within range)."""
    latitude, longitude = latitude.strip(), longitude.strip()
    if not latitude and not longitude:
        return {}
    if not latitude or not longitude:
        return {"latitude": _("Location: give both latitude and longitude, or neither.")}
    errors: dict[str, str] = {}
    for name, value, bound in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not -bound <= number <= bound:
            errors[name] = _(
                "%(field)s: give a number between %(low)s and %(high)s.",
                field=field_label(name),
                low=-bound,
                high=bound,
            )
    return errors


def candidate_choices(candidates: Iterable[Candidate]) -> list[dict[str, Any]]:
    """Return candidates as plain data for the preview map's JSON block."""
    return [asdict(candidate) for candidate in candidates]


def parse_choice(raw: str, candidates: list[Candidate]) -> int | None:
    """Return the index of the chosen candidate, or None for none."""
    if raw.isascii() and raw.isdigit() and int(raw) < len(candidates):  # "²" is a digit too
        return int(raw)
    return None


# Checking a point by eye


@dataclass(frozen=True)
class PointCheck:
    """What a pin's point means: its time zone, the country it is in, and any warning."""

    zone: str
    zone_message: str
    country: str  # alpha-2 of the country the point is in ("" at sea or unknown)
    outside: bool  # the point is clearly outside the event's country
    message: str  # the warning, a whole sentence ("" when there is none)


def check_point(latitude: float, longitude: float, country: str) -> PointCheck:
    """Return the time zone at a point and whether it is outside the event's country."""
    zone = geocoding.timezone_at(latitude, longitude)
    zone_message = (
        _("Time zone: %(zone)s", zone=zone)
        if zone
        else _("We do not know the time zone at this point.")
    )
    shapes = outlines.get_outlines()
    found = shapes.country_at(latitude, longitude) if shapes is not None else ""
    outside = bool(country) and is_outside(
        shapes, geocoding.town_points(country), country, latitude, longitude
    )
    return PointCheck(
        zone, zone_message, found, outside, outside_message(country, found) if outside else ""
    )


def outside_warning(event: Mapping[str, str], *, by_hand: bool = True) -> str:
    """Return the warning for an event placed by hand outside its country, or "".

    by_hand: the organiser's words, who may keep the point with a tick box; else the warning
    alone (a coordinator's placing is saved, and the coordinator told).
    """
    if event.get("location_precision") != "manual" or not event.get("country"):
        return ""
    check = check_point(float(event["latitude"]), float(event["longitude"]), event["country"])
    if not check.outside:
        return ""
    if not by_hand:
        return check.message
    return check.message + " " + _("If the pin is right, tick the box to keep it there.")


def is_outside(
    shapes: outlines.Outlines | None,
    towns: list[tuple[float, float]],
    country: str,
    latitude: float,
    longitude: float,
) -> bool:
    """Tell whether a point is further than the tolerance from both a country's outline and towns.

    A country with neither an outline nor a town is never judged: no false warning.
    """
    distance = shapes.distance_km(country, latitude, longitude) if shapes is not None else None
    if distance is not None and distance <= TOLERANCE_KM:
        return False
    if distance is None and not towns:
        return False
    # Towns cover what the outlines lack or draw otherwise (Gibraltar, Mayotte, disputed land).
    return outlines.nearest_km(towns, latitude, longitude) > TOLERANCE_KM


def outside_message(expected: str, found: str) -> str:
    """Return the warning for a pin outside its event's country."""
    wanted = geocoding.country_in_sentence(expected)
    if found and found != expected:
        return _(
            "This point is in %(there)s, not %(wanted)s: drag the pin if that is wrong.",
            there=geocoding.country_in_sentence(found),
            wanted=wanted,
        )
    return _("This point is outside %(wanted)s: drag the pin if that is wrong.", wanted=wanted)


def opening_view(event: Mapping[str, str], zoom: int = TOWN_ZOOM) -> dict[str, Any]:
    """Return where a placing map opens: the event's point, its town, its country, or the world.

    Either {"center": [lat, lon], "zoom": n} or {"bounds": [[south, west], [north, east]]}.
    """
    try:
        latitude, longitude = float(event.get("latitude", "")), float(event.get("longitude", ""))
        return {"center": [latitude, longitude], "zoom": zoom}
    except ValueError:
        pass
    country = event.get("country", "")
    if not country:
        return dict(WORLD_VIEW)
    if city := event.get("city", "").strip():
        gazetteer = geocoding.get_geocoder().gazetteer  # offline: a page never waits on Nominatim
        places = gazetteer.places(gazetteer.lookup({"city": city, "country": country}))
        if places and places[0]["country"] == country:
            return {"center": [places[0]["latitude"], places[0]["longitude"]], "zoom": zoom}
    shapes = outlines.get_outlines()
    bounds = shapes.bounds(country) if shapes is not None else None
    if bounds is None and (towns := geocoding.town_points(country)):
        latitudes, longitudes = [t[0] for t in towns], [t[1] for t in towns]
        bounds = (min(latitudes), min(longitudes), max(latitudes), max(longitudes))
    if bounds is None:
        return dict(WORLD_VIEW)
    south, west, north, east = bounds
    return {"bounds": [[south, west], [north, east]]}


def town_centre_message(event: Mapping[str, str], candidates: list[Candidate]) -> str:
    """Return the invitation to drag when a street address was typed but the pin is at the town."""
    if not event.get("address", "").strip() or not candidates:
        return ""
    first = candidates[0]
    if first.precision != "city":
        return ""
    town = first.name.split(",")[0].strip() or event.get("city", "")
    return _(
        "We placed the pin at the centre of %(town)s: drag it to the exact place if you can.",
        town=town,
    )


@dataclass(frozen=True)
class Found:
    """The places a map's search found, and what to tell the person."""

    status: str  # found | not_found | unavailable
    message: str
    places: list[dict[str, Any]]


def search_places(text: str, country: str) -> Found:
    """Search places for a placing map: in the event's country when it has one."""
    result = geocoding.search(text, country, limit=8)
    places = [
        {
            "name": place.name,
            "lat": place.latitude,
            "lon": place.longitude,
            "precision": place.precision,
            "zone": place.timezone or geocoding.timezone_at(place.latitude, place.longitude),
            "source": place.source,
        }
        for place in result.places
    ]
    return Found(result.status, result.message, places)
