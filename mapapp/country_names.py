"""Every name of every country, in many languages: how search and the gazetteer read a country.

Three sources: pycountry's English names (common, official) with their iso3166-1 translations,
CLDR's territory names through Babel, and the names people type that neither spells that way
("UK", "Holland"). Both the free-text search (mapapp.filters) and the gazetteer read countries
through this module; a country's name shown to a person comes from mapapp.i18n.country_name.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from functools import cache

import pycountry
from babel import Locale

# Languages of pycountry's iso3166-1 translations that are read.
TRANSLATION_LANGUAGES = (
    "ar bg ca cs da de el eo es et eu fa fi fr ga gl he hi hr hu hy id is it ja ka kk ko lt lv "
    "mk ms mt nb_NO nl nn pl pt pt_BR ro ru sk sl sq sr sr@latin sv sw ta th tr uk ur vi "
    "zh_CN zh_HK zh_TW"
).split()
# Languages whose CLDR territory names (through Babel) the search knows.
CLDR_LANGUAGES = (
    "en fr es de it pt nl pl ar zh ru ja ko sv da fi nb cs el tr he hu ro uk bg hr sk sl "
    "lt lv et ca ga is mt sq sr mk hi bn th vi id ms fa ur sw"
).split()
# The pycountry attributes that hold an English name, in the order they are preferred.
NAME_ATTRIBUTES = ("name", "common_name", "official_name")

# Names people type for countries that neither GeoNames nor ISO spell that way (folded keys).
COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "u s a": "US",
    "u s": "US",
    "america": "US",
    "united states of america": "US",
    "holland": "NL",
    "korea": "KR",
    "south korea": "KR",
    "north korea": "KP",
    "russia": "RU",
    "россия": "RU",
    "czech republic": "CZ",
    "czechia": "CZ",
    "ivory coast": "CI",
    "turkey": "TR",
    "turkiye": "TR",
    "swaziland": "SZ",
    "burma": "MM",
    "cape verde": "CV",
    "vatican": "VA",
    "macedonia": "MK",
    "palestine": "PS",
    "kosovo": "XK",
    "emirates": "AE",
    "uae": "AE",
    "drc": "CD",
    "dr congo": "CD",
}


@cache
def country_codes() -> frozenset[str]:
    """Return the ISO 3166-1 alpha-2 codes an event's country may hold."""
    return frozenset(country.alpha_2 for country in pycountry.countries)


def english_names() -> dict[str, str]:
    """Return pycountry's English names of every country (name, common, official) -> code."""
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in NAME_ATTRIBUTES:
            if value := getattr(country, attribute, None):
                names.setdefault(value, country.alpha_2)
    return names


def translated_names() -> Iterator[tuple[str, str]]:
    """Yield (name, code) for pycountry's translations of the English names that differ from them."""
    english = english_names()
    for language in TRANSLATION_LANGUAGES:
        try:
            translation = gettext.translation(
                "iso3166-1", pycountry.LOCALES_DIR, languages=[language]
            )
        except OSError:
            continue
        for name, code in english.items():
            if (translated := translation.gettext(name)) != name:
                yield translated, code


def cldr_names() -> Iterator[tuple[str, str]]:
    """Yield (name, code) for CLDR's territory names in CLDR_LANGUAGES (countries only)."""
    codes = country_codes()
    for language in CLDR_LANGUAGES:
        for code, name in Locale.parse(language).territories.items():
            if code in codes:
                yield name, code


def all_names() -> Iterator[tuple[str, str]]:
    """Yield (name, code) for every name of every country from every source, aliases last."""
    yield from english_names().items()
    yield from translated_names()
    yield from cldr_names()
    yield from COUNTRY_ALIASES.items()
