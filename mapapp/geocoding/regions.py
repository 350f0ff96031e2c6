"""Regions: ISO 3166-2 regions matched to GeoNames' admin1 codes, and distances between towns.

GeoNames numbers the regions of most countries ("56" is Catalonia) where ISO 3166-2 uses letters
(ES-CT), so the gazetteer cannot read "Catalonia" from its own data. A region is matched through
its towns instead: the admin1 code of the towns named like the region, like its provinces
(Barcelona, Girona, Lleida and Tarragona are all in "56"), or like its main town (REGION_TOWNS).
"""

from __future__ import annotations

import gettext
import math
from collections.abc import Callable, Sequence
from typing import Protocol

import pycountry

EARTH_RADIUS_KM = 6371.0

# Regions people write in English where neither ISO 3166-2 nor its English catalog does:
# country -> folded name -> ISO 3166-2 code of the region (the part after "ES-").
REGION_ALIASES: dict[str, dict[str, str]] = {
    "ES": {
        "catalonia": "CT",
        "andalusia": "AN",
        "aragon": "AR",
        "asturias": "AS",
        "balearic islands": "IB",
        "canary islands": "CN",
        "cantabria": "CB",
        "castile and leon": "CL",
        "castile la mancha": "CM",
        "basque country": "PV",
        "navarre": "NC",
        "valencian community": "VC",
        "region of murcia": "MC",
        "community of madrid": "MD",
        "galicia": "GA",
        "extremadura": "EX",
        "la rioja": "RI",
    },
    "IT": {"lombardy": "25", "tuscany": "52", "piedmont": "21", "sicily": "82", "sardinia": "88"},
}
# The main town of regions that neither their name nor their provinces' names give away (ISO
# 3166-2 code -> town): a region is matched to GeoNames' admin1 code through its towns.
REGION_TOWNS: dict[str, str] = {
    "ES-AS": "Oviedo",
    "ES-CB": "Santander",
    "ES-IB": "Palma",
    "ES-NC": "Pamplona",
    "ES-PV": "Bilbao",
    "ES-RI": "Logroño",
    "FR-ARA": "Lyon",
    "FR-BFC": "Dijon",
    "FR-BRE": "Rennes",
    "FR-CVL": "Orléans",
    "FR-GES": "Strasbourg",
    "FR-HDF": "Lille",
    "FR-NAQ": "Bordeaux",
    "FR-NOR": "Rouen",
    "FR-OCC": "Toulouse",
    "FR-PAC": "Marseille",
    "FR-20R": "Ajaccio",
    "DE-BW": "Stuttgart",
    "DE-BY": "Munich",
    "DE-HE": "Frankfurt am Main",
    "DE-MV": "Rostock",
    "DE-NI": "Hanover",
    "DE-NW": "Cologne",
    "DE-RP": "Mainz",
    "DE-SH": "Kiel",
    "DE-SL": "Saarbrücken",
    "DE-SN": "Dresden",
    "DE-ST": "Magdeburg",
    "DE-TH": "Erfurt",
}


class Town(Protocol):
    """What this module reads of a gazetteer's town."""

    @property
    def latitude(self) -> float: ...
    @property
    def longitude(self) -> float: ...
    @property
    def admin1(self) -> str: ...
    @property
    def population(self) -> int: ...


def match_regions(
    country: str, town_named: Callable[[str], Town | None]
) -> tuple[dict[str, str], dict[str, str]]:
    """Return a country's regions: name (as written) -> admin1, and admin1 -> the region's name.

    town_named returns the country's most populous town known by a name, or None.
    """
    subdivisions = list(pycountry.subdivisions.get(country_code=country) or [])
    children: dict[str, list[str]] = {}
    for subdivision in subdivisions:
        if subdivision.parent_code:
            children.setdefault(subdivision.parent_code, []).append(subdivision.name)
    english = _english_catalog()
    # Each region's admin1 by its towns' votes, weighed by population: an overseas region named
    # like a village of the mainland (Saint-Martin) loses that code to the mainland region its
    # main town names (Lyon).
    claims: dict[str, tuple[int, str, list[str]]] = {}  # admin1 -> (weight, ISO code, names)
    for subdivision in subdivisions:
        if subdivision.parent_code:
            continue
        variants = region_variants(subdivision.name)
        places = [*variants, REGION_TOWNS.get(subdivision.code, "")]
        places += [
            v for child in children.get(subdivision.code, []) for v in region_variants(child)
        ]
        votes: dict[str, int] = {}
        for place in filter(None, places):
            town = town_named(place)
            if town is not None:
                votes[town.admin1] = votes.get(town.admin1, 0) + town.population
        if not votes:
            continue
        admin1 = max(votes, key=lambda code: votes[code])
        if votes[admin1] > claims.get(admin1, (0, "", []))[0]:
            written = variants + region_variants(english.gettext(subdivision.name))
            claims[admin1] = (votes[admin1], subdivision.code.partition("-")[2], written)
    names: dict[str, str] = {}
    display: dict[str, str] = {}
    by_code: dict[str, str] = {}
    for admin1, (_weight, code, written) in claims.items():
        by_code[code] = admin1
        display[admin1] = written[0]
        for variant in written:
            names.setdefault(variant, admin1)
    for alias, code in REGION_ALIASES.get(country, {}).items():
        if code in by_code:
            names.setdefault(alias, by_code[code])
    return names, display


def region_variants(name: str) -> list[str]:
    """Return the ways an ISO region name is written: "Lleida [Lérida]", "Murcia, Región de"."""
    main, _, other = name.partition("[")
    variants = [main.strip(), other.rstrip("]").strip()]
    if ", " in variants[0]:  # "Murcia, Región de" reads "Región de Murcia", or just "Murcia"
        head, _, tail = variants[0].partition(", ")
        variants[0:1] = [f"{tail} {head}", head]
    return [variant for variant in variants if variant]


_english: gettext.NullTranslations | None = None


def _english_catalog() -> gettext.NullTranslations:
    """Return pycountry's English catalog of region names ("Bayern" is "Bavaria")."""
    global _english
    if _english is None:
        try:
            _english = gettext.translation("iso3166-2", pycountry.LOCALES_DIR, languages=["en"])
        except OSError:
            _english = gettext.NullTranslations()
    return _english


def near_any(city: Town, towns: Sequence[Town], km: float) -> bool:
    """Return whether a town lies within a distance of any of some towns."""
    latitude, longitude = math.radians(city.latitude), math.radians(city.longitude)
    for town in towns:
        phi = math.radians(town.latitude)
        a = (
            math.sin((phi - latitude) / 2) ** 2
            + math.cos(latitude)
            * math.cos(phi)
            * math.sin((math.radians(town.longitude) - longitude) / 2) ** 2
        )
        if 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a))) <= km:
            return True
    return False
