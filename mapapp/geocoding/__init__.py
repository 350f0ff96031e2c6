"""Geocoding: the offline gazetteer, Nominatim when enabled, a persistent cache, time zones.

The only code that imports geopy. `locate()` is what the rest of the app calls; the geocoder it
uses is configured by MAPAPP_GEOCODER: `offline` (the embedded GeoNames gazetteer, no network),
`nominatim` (every query goes to Nominatim, through the cache) or `chain` (cache, then the
gazetteer, then Nominatim for what the gazetteer cannot place at the precision asked).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from mapapp.config import ConfigError
from mapapp.event_text import or_list
from mapapp.geocoding.gazetteer import (
    DEFAULT_MIN_POPULATION,
    POPULATION_THRESHOLDS,
    Gazetteer,
    Match,
    get_gazetteer,
)
from mapapp.geocoding.nominatim import (
    TURN_NAME,
    NominatimClient,
    NominatimUnavailable,
    place_fields,
    turn_lease,
)
from mapapp.i18n import DEFAULT_LANGUAGE, N_, _, country_name, current_code
from mapapp.storage import CsvTable, Table, add_table, shared, utc_now

GEOCODERS = ("offline", "nominatim", "chain")
PRECISIONS = ("address", "city", "country")
SOURCES = ("cache", "gazetteer", "nominatim")
CACHE_FILE = "geocode_cache.csv"
CACHE_COLUMNS = ("key", "query", "status", "places", "created_at")
EXTENSION = "mapapp.geocoder"
# Country names that take "the" in a sentence ("in the Netherlands").
THE_PREFIXES = ("United ", "Republic ", "Democratic ", "Central African ", "Dominican ", "Czech ")
THE_SUFFIXES = ("Islands", "Republic")
THE_COUNTRIES = frozenset({"Bahamas", "Comoros", "Gambia", "Maldives", "Philippines", "Seychelles"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Place:
    """One place a query may mean."""

    name: str  # display name, e.g. "Zürich, Zurich, Switzerland"
    city: str  # "" for a country-level place
    region: str
    country: str  # ISO alpha-2
    latitude: float
    longitude: float
    precision: str  # "address" | "city" | "country"
    source: str  # "cache" | "gazetteer" | "nominatim"
    timezone: str  # IANA name ("" if unknown)


@dataclass(frozen=True)
class GeocodeResult:
    """What geocoding a query gave: places best first, or why there are none."""

    status: str  # "found" | "not_found" | "unavailable"
    places: tuple[Place, ...]  # candidates, best first (several when the name is ambiguous)
    message: str  # for people, in the interface language when it was made
    suggestions: tuple[str, ...] = ()

    @property
    def best(self) -> Place | None:
        """Return the most likely place, or None."""
        return self.places[0] if self.places else None


@dataclass(frozen=True)
class Request:
    """A query as typed: structured fields or free text."""

    address: str = ""
    city: str = ""
    region: str = ""
    country: str = ""
    text: str = ""

    def describe(self) -> str:
        """Return the query as one line, as a person would write it."""
        if self.text:
            return self.text
        return ", ".join(p for p in (self.address, self.city, self.region, self.country) if p)

    def cache_key(self) -> str:
        """Return a key that is equal for queries that differ only in case and spacing."""
        fields = [" ".join(value.casefold().split()) for value in asdict(self).values()]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:32]


# Time zones


_timezone_lock = threading.Lock()
_timezone_finder: Any = None


def timezone_at(latitude: float, longitude: float) -> str:
    """Return the IANA time zone at a point, offline."""
    global _timezone_finder
    if _timezone_finder is None:
        with _timezone_lock:
            if _timezone_finder is None:
                from timezonefinder import TimezoneFinder

                _timezone_finder = TimezoneFinder(in_memory=True)  # no files left open
    try:
        name = _timezone_finder.timezone_at(lng=float(longitude), lat=float(latitude))
    except ValueError:  # outside -90..90 / -180..180
        return ""
    return str(name or "")


# The persistent cache


class GeocodeCache:
    """Definite Nominatim answers (places or "not found"), kept in the data directory."""

    def __init__(self, data_dir: str | Path, *, table: Table | None = None) -> None:
        # The app's cache is the store's table (a file or a database table); a cache built
        # outside an app (a script, a test) reads the data directory's file.
        self.table = table or CsvTable(Path(data_dir) / CACHE_FILE, CACHE_COLUMNS, key="key")
        self._version = ""
        self._index: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def get(self, request: Request) -> GeocodeResult | None:
        """Return the stored answer to a query, marked as coming from the cache, or None."""
        with self._lock:
            version = self.table.version
            if version != self._version:
                frame = self.table.frame()
                # The table keeps one row per query: racing processes store the first answer.
                rows: list[dict[str, str]] = frame.to_dict("records")  # type: ignore[assignment]
                self._index = {row["key"]: row for row in rows}
                self._version = version
            row = self._index.get(request.cache_key())
        if row is None:
            return None
        places = tuple(
            Place(**{**fields, "source": "cache"}) for fields in json.loads(row["places"] or "[]")
        )
        if row["status"] == "found" and places:
            return GeocodeResult("found", places, found_message(places[0]))
        return GeocodeResult("not_found", (), not_found_message(request.describe()))

    def put(self, request: Request, result: GeocodeResult) -> None:
        """Store a definite answer; service failures are never stored."""
        if result.status not in {"found", "not_found"}:
            return
        record = {
            "key": request.cache_key(),
            "query": request.describe(),
            "status": result.status,
            "places": json.dumps([asdict(place) for place in result.places], ensure_ascii=False),
            "created_at": utc_now(),
        }
        self.table.append([record])


# Messages


def found_message(place: Place) -> str:
    """Return what to tell a person about a place found."""
    return _("Found %(place)s.", place=place.name)


def country_in_sentence(code: str, english_name: str = "") -> str:
    """Return a country's name as it reads inside a sentence of the interface language.

    In English, as it reads after "in" ("the United Kingdom"; english_name, if given, is the name
    to use); in other languages the name alone, which the translated sentence places.
    """
    if current_code() == DEFAULT_LANGUAGE:
        return country_phrase(english_name or country_name(code))
    return country_name(code, fallback=english_name)


def country_phrase(name: str) -> str:
    """Return a country name as it reads after "in": "the United Kingdom", "France"."""
    if name.startswith("The "):
        return "the " + name[4:]
    if name.startswith(THE_PREFIXES) or name.endswith(THE_SUFFIXES) or name in THE_COUNTRIES:
        return "the " + name
    return name


def not_found_message(
    what: str, country: str = "", suggestions: tuple[str, ...] = (), *, country_name: str = ""
) -> str:
    """Return a kind, specific message for a query nothing matched.

    country is the alpha-2 code of the country searched in, country_name its English name.
    """
    quoted = "'" + what + "'"
    if country or country_name:
        # Translators: %(what)s is the place typed, in quotes: "We could not find 'Zurch' in
        # Switzerland."
        message = _(
            "We could not find %(what)s in %(country)s.",
            what=quoted,
            country=country_in_sentence(country, country_name),
        )
    else:
        message = _("We could not find %(what)s.", what=quoted)
    if suggestions:
        # Translators: %(places)s lists one or more towns: "Zürich", "Parres, Ares or Paradas".
        hint = _("Did you mean %(places)s?", places=or_list(suggestions))
    else:
        hint = _("Please check the spelling, or give a nearby larger town.")
    return f"{message} {hint}"


# Marked for the catalog; the geocoder translates it when it answers.
UNAVAILABLE_MESSAGE = N_(
    "We could not reach the geocoding service just now, so the place is not on the map yet. "
    "Nothing you entered is lost; please try again in a few minutes."
)


# The geocoder


class Geocoder:
    """Cache, offline gazetteer and Nominatim, combined as MAPAPP_GEOCODER says."""

    def __init__(
        self,
        mode: str = "offline",
        *,
        nominatim: NominatimClient | None = None,
        cache: GeocodeCache | None = None,
        min_population: int = DEFAULT_MIN_POPULATION,
        gazetteer_cache_dir: Path | None = None,
    ) -> None:
        if mode not in GEOCODERS:
            raise ValueError(f"The geocoder must be one of {', '.join(GEOCODERS)}, not {mode!r}.")
        if mode != "offline" and nominatim is None:
            raise ValueError(f"The {mode!r} geocoder needs a Nominatim client.")
        self.mode = mode
        self.nominatim = nominatim
        self.cache = cache
        self.min_population = min_population
        self.gazetteer_cache_dir = gazetteer_cache_dir

    @property
    def gazetteer(self) -> Gazetteer:
        """Return the process's gazetteer, loaded on first use."""
        return get_gazetteer(self.min_population, self.gazetteer_cache_dir)

    def locate(self, request: Request, limit: int = 5) -> GeocodeResult:
        """Geocode a query: structured fields or free text."""
        if not request.describe().strip():
            return GeocodeResult("not_found", (), _("Please enter a town or an address."))
        if self.mode == "nominatim":
            return self._network(request, limit)
        offline, match = self._offline(request, limit)
        if self.mode == "offline" or not self._needs_address(request, match, offline):
            return offline
        online = self._network(request, limit)
        if online.status == "found":
            return online
        if offline.status == "found":
            # The town is known even if the street is not, or Nominatim is down: keep the town.
            note = (
                _("We could not place the street address, so the event is shown at the town.")
                if online.status == "not_found"
                else _(
                    "The street-level service is unavailable, so the event is shown at the town."
                )
            )
            return replace(offline, message=f"{offline.message} {note}")
        if online.status == "unavailable":
            # Keep what the gazetteer could suggest ("Did you mean Zürich?").
            message = (
                f"{offline.message} {_(UNAVAILABLE_MESSAGE)}"
                if offline.suggestions
                else online.message
            )
            return replace(online, message=message, suggestions=offline.suggestions)
        return offline

    def search(self, request: Request, limit: int = 5) -> GeocodeResult:
        """Search free text for a person placing a pin: the gazetteer's towns, then Nominatim's
        places when it is configured (through the cache and the one-request-a-second lock).

        Nominatim is asked only for what the gazetteer cannot answer alone (a street, a village
        it does not know): a public search box must not spend the shared request a second on
        towns the gazetteer has.
        """
        offline, match = self._offline(request, limit)
        if self.nominatim is None or not self._needs_address(request, match, offline):
            return offline
        online = self._network(request, limit)
        extra = tuple(
            place
            for place in online.places
            if not any(_same_place(place, known) for known in offline.places)
        )
        # Street addresses first: they are what the gazetteer cannot give.
        places = sorted(offline.places + extra, key=lambda place: place.precision != "address")
        if places:
            note = f" {_(UNAVAILABLE_MESSAGE)}" if online.status == "unavailable" else ""
            return GeocodeResult("found", tuple(places[:limit]), found_message(places[0]) + note)
        if online.status == "unavailable":
            return replace(online, suggestions=offline.suggestions)
        return offline

    # Offline

    def _offline(self, request: Request, limit: int) -> tuple[GeocodeResult, Match]:
        """Ask the gazetteer."""
        gazetteer = self.gazetteer
        if request.text:
            # A map's place search names its event's country: only places in it are wanted.
            code = gazetteer.country_code(request.country) if request.country else ""
            match = gazetteer.lookup(request.text, country_codes=code or None)
        else:
            structured = {
                "city": request.city,
                "region": request.region,
                "country": request.country,
            }
            match = gazetteer.lookup({**structured, "address": request.address})
        places = tuple(
            Place(**fields, source="gazetteer") for fields in gazetteer.places(match)[:limit]
        )
        if places:
            return GeocodeResult("found", places, found_message(places[0])), match
        country = match.country or gazetteer.country_code(request.country)
        if match.city_text:  # the town was not found, in the country if one was recognised
            what, where = match.city_text, gazetteer.country_names.get(country, "")
        else:
            what, where, country = request.describe(), "", ""
        message = not_found_message(
            what, country if where else "", tuple(match.suggestions), country_name=where
        )
        return GeocodeResult("not_found", (), message, tuple(match.suggestions)), match

    @staticmethod
    def _needs_address(request: Request, match: Match, offline: GeocodeResult) -> bool:
        """Tell whether the query asks for more than the gazetteer gave: a street, or anything."""
        if offline.status != "found":
            return True
        return bool(request.address.strip() or match.rest.strip())

    # Online

    def _network(self, request: Request, limit: int) -> GeocodeResult:
        """Ask the cache, then Nominatim, storing its definite answers."""
        # The cache holds Nominatim's answers only: the gazetteer answers faster than a cache
        # read and the same way every time, so storing its answers would only grow the file.
        if self.cache is not None and (cached := self.cache.get(request)) is not None:
            return cached
        assert self.nominatim is not None
        query: str | dict[str, str]
        country_codes = ""
        if request.text:
            query = request.text
            if request.country:
                country_codes = self.gazetteer.country_code(request.country).lower()
        else:
            gazetteer = self.gazetteer
            country_codes = gazetteer.country_code(request.country).lower()
            fields = {"street": request.address, "city": request.city, "state": request.region}
            if request.country and not country_codes:
                fields["country"] = request.country
            query = {name: value for name, value in fields.items() if value}
        try:
            locations = self.nominatim.search(query, country_codes=country_codes, limit=limit)
        except NominatimUnavailable as exc:
            log.warning("Geocoding %r: service unavailable (%s)", request.describe(), exc)
            return GeocodeResult("unavailable", (), _(UNAVAILABLE_MESSAGE))
        places = tuple(
            Place(
                **fields,
                source="nominatim",
                timezone=timezone_at(fields["latitude"], fields["longitude"]),
            )
            for fields in map(place_fields, locations)
        )
        if places:
            result = GeocodeResult("found", places, found_message(places[0]))
        else:
            result = GeocodeResult("not_found", (), not_found_message(request.describe()))
        if self.cache is not None:
            self.cache.put(request, result)
        return result


def _same_place(a: Place, b: Place) -> bool:
    """Tell whether two answers name the same town (within about a kilometre)."""
    return (
        a.precision == b.precision
        and abs(a.latitude - b.latitude) < 0.01
        and abs(a.longitude - b.longitude) < 0.015
    )


def build_geocoder(config: dict[str, Any], *, cache_table: Table | None = None) -> Geocoder:
    """Return the geocoder a configuration asks for, or raise ConfigError saying what is wrong."""
    mode = str(config.get("GEOCODER", "offline")).strip().lower()
    if mode not in GEOCODERS:
        raise ConfigError(f"MAPAPP_GEOCODER must be one of {', '.join(GEOCODERS)}, not {mode!r}.")
    try:
        min_population = int(config.get("GAZETTEER_MIN_POPULATION", DEFAULT_MIN_POPULATION))
    except (TypeError, ValueError):
        min_population = -1
    if min_population not in POPULATION_THRESHOLDS:
        choices = ", ".join(map(str, POPULATION_THRESHOLDS))
        raise ConfigError(f"MAPAPP_GAZETTEER_MIN_POPULATION must be one of {choices}.")
    cache_dir = str(config.get("GAZETTEER_CACHE_DIR") or "")
    nominatim = None
    cache = None
    if mode != "offline":
        try:
            nominatim = NominatimClient(
                str(config["NOMINATIM_URL"]),
                str(config["NOMINATIM_USER_AGENT"]),
                float(config["NOMINATIM_TIMEOUT"]),
                float(config["NOMINATIM_MIN_INTERVAL"]),
                config["DATA_DIR"],
                turn=shared.turn(
                    config,
                    TURN_NAME,
                    turn_lease(
                        float(config["NOMINATIM_TIMEOUT"]), float(config["NOMINATIM_MIN_INTERVAL"])
                    ),
                ),
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        cache = GeocodeCache(config["DATA_DIR"], table=cache_table)
    return Geocoder(
        mode,
        nominatim=nominatim,
        cache=cache,
        min_population=min_population,
        gazetteer_cache_dir=Path(cache_dir) if cache_dir else None,
    )


def init_app(app: Flask) -> None:
    """Give the app the geocoder its configuration asks for (the gazetteer loads on first use)."""
    table = add_table(app, CACHE_FILE, CACHE_COLUMNS, key="key")
    app.extensions[EXTENSION] = build_geocoder(app.config, cache_table=table)


def get_geocoder() -> Geocoder:
    """Return the current app's geocoder."""
    geocoder: Geocoder = current_app.extensions[EXTENSION]
    return geocoder


def locate(
    *,
    address: str = "",
    city: str = "",
    region: str = "",
    country: str = "",
    text: str = "",
    limit: int = 5,
) -> GeocodeResult:
    """Geocode with the current app's configured geocoder (structured fields or free text)."""
    request = Request(address.strip(), city.strip(), region.strip(), country.strip(), text.strip())
    return get_geocoder().locate(request, limit=limit)


def search(text: str, country: str = "", limit: int = 5) -> GeocodeResult:
    """Search places by free text with the current app's geocoder, in a country if given."""
    return get_geocoder().search(Request(text=text.strip(), country=country.strip()), limit=limit)


def town_points(country: str) -> list[tuple[float, float]]:
    """Return the (latitude, longitude) of the gazetteer's towns in a country."""
    return get_geocoder().gazetteer.town_points(country)


def country_code(name: str) -> str:
    """Return the ISO alpha-2 code of a country name (many languages) or code, or "" if unknown."""
    return get_geocoder().gazetteer.country_code(name)


# Command-line helpers


def place_summary(place: Place) -> dict[str, Any]:
    """Return the fields the geocode command prints for a place."""
    return {
        "name": place.name,
        "country": place.country,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "precision": place.precision,
        "source": place.source,
        "timezone": place.timezone,
    }


def location_changes(event: dict[str, str], place: Place) -> dict[str, str]:
    """Return the event fields that record where a place is."""
    changes = {
        "latitude": f"{place.latitude:.6f}",
        "longitude": f"{place.longitude:.6f}",
        "location_precision": place.precision,
        "location_source": place.source,
    }
    if place.timezone:  # the place's zone wins, as when an organiser or a coordinator places it
        changes["timezone"] = place.timezone
    return changes


def place_pending(events: Iterable[dict[str, str]]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Geocode events not yet placed; return changes by event id and notes on those left out."""
    changes: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    for event in events:
        result = locate(
            address=event.get("address", ""),
            city=event.get("city", ""),
            region=event.get("region", ""),
            country=event.get("country", ""),
        )
        if result.best is None:
            notes.append(f"{event['id']}: {result.message}")
            log.info("Event %s not placed: %s", event["id"], result.message)
        else:
            changes[event["id"]] = location_changes(event, result.best)
    return changes, notes
