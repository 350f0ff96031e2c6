"""The filters shared by the map, its data API, the exports and the coordinators' lists.

Parse query parameters, apply them. The free-text search looks in the events' texts (titles,
towns, organisers...), in their countries' names and in their towns' names:

- Countries by every name CLDR (through Babel) and pycountry know in many languages, and the
  aliases people type (mapapp.country_names), so "Spain", "Espagne", "España" and "Spanien" find
  the events in Spain. A query that is exactly a country's ISO code ("ES") or a short alias
  ("UK") finds that country's events only, not every text holding those letters.
- Towns by every name the gazetteer knows (GeoNames' alternate names, any language), so
  "München" finds the events whose town is "Munich" and the reverse, "Den Haag" those in
  The Hague, "北京" those in Beijing. Each event's (town, country) is looked up in the gazetteer
  once per store change (`town_index`, kept per frame); a query then looks up which gazetteer
  towns bear its words, one bisection per run of words, and takes those towns' events: no scan
  of 50,000 rows' texts against the many names of a town. Names match whole (folded: case,
  accents and punctuation aside), never as a prefix, and a two-letter Latin word ("la", "de")
  is not read as a town's alias.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache

import numpy as np
import pandas as pd
import pycountry

from mapapp.country_names import COUNTRY_ALIASES, all_names, country_codes
from mapapp.events import (
    CATEGORIES,
    FORMATS,
    STATUSES,
    broken_text_message,
    country_name,
    is_storable_text,
)
from mapapp.geocoding.gazetteer import Gazetteer, fold_many
from mapapp.geocoding.gazetteer import fold as fold_name
from mapapp.geocoding.towns import current_gazetteer
from mapapp.i18n import N_, _
from mapapp.storage import per_frame

MAX_QUERY_LENGTH = 200
# ASCII digits only: str.isdigit() also accepts "²" and "٢", which int() then refuses.
YEAR_PATTERN = re.compile(r"[0-9]{4}")
FIRST_YEAR, LAST_YEAR = 2008, 2100
YEAR_MESSAGE = N_("Year: choose an edition such as 2027, or all.")
# The parameters' names in messages (translated where the message is made).
PARAMETER_LABELS = {
    "country": N_("Country"),
    "category": N_("Category"),
    "format": N_("Format"),
    "status": N_("Status"),
    "year": N_("Year"),
    "from": N_("From"),
    "to": N_("To"),
    "q": N_("Search"),
}
# The parameters parse_filter reads.
PARAMETERS = ("country", "category", "format", "status", "year", "from", "to", "q")
# Columns the free-text search looks in.
SEARCH_FIELDS = ("title", "organiser", "venue", "city", "region", "description")
# A word of a query this long may be the start of a country name ("espa"); a shorter one must be
# a whole word of one ("usa", not "tea" for the Irish "An Téalainn").
MIN_COUNTRY_PREFIX = 4
MIN_COUNTRY_WORD = 3
# A short word in the names of more countries than this is an article or a preposition of some
# language ("den" in Norwegian official names, "the", "las"), not a name.
MAX_COUNTRIES_OF_SHORT_WORD = 3
# Short aliases that, typed alone, mean their country only: "UK", "USA", "UAE", "DRC".
SHORT_ALIAS_LENGTH = 3
# A town's name is looked for in runs of up to this many words ("San Sebastián de los Reyes").
MAX_TOWN_WORDS = 5
# A shorter Latin word is an article ("la", "de") more often than a town's alias ("LA").
MIN_LATIN_TOWN_NAME = 3


@dataclass(frozen=True)
class EventFilter:
    """Which events to show; an empty tuple or None means no restriction."""

    countries: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ("approved",)
    year: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    text: str = ""
    errors: dict[str, str] = field(default_factory=dict, compare=False)

    def to_args(self) -> dict[str, str]:
        """Return the filter as query parameters (the inverse of parse_filter)."""
        args = {
            "country": ",".join(self.countries),
            "category": ",".join(self.categories),
            "format": ",".join(self.formats),
            "year": str(self.year or ""),
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "q": self.text,
        }
        return {name: value for name, value in args.items() if value}


def parse_filter(args: Mapping[str, str], *, allow_status: bool = False) -> EventFilter:
    """Return the filter described by query parameters; unknown values are reported in errors."""
    errors: dict[str, str] = {}
    broken = [name for name in PARAMETERS if not is_storable_text(args.get(name) or "")]
    if broken:  # nothing else is parsed: such a value cannot go into a page or a cache key
        return EventFilter(
            errors={name: broken_text_message(_(PARAMETER_LABELS[name])) for name in broken}
        )
    countries = _codes(args, "country", errors, valid=lambda code: country_name(code) != code)
    categories = _codes(args, "category", errors, valid=CATEGORIES.__contains__, lower=True)
    formats = _codes(args, "format", errors, valid=FORMATS.__contains__, lower=True)
    statuses: tuple[str, ...] = ("approved",)
    if allow_status:
        statuses = _codes(args, "status", errors, valid=STATUSES.__contains__, lower=True)
    year = None
    if raw_year := (args.get("year") or "").strip():
        if YEAR_PATTERN.fullmatch(raw_year) and FIRST_YEAR <= int(raw_year) <= LAST_YEAR:
            year = int(raw_year)
        elif raw_year != "all":
            errors["year"] = _(YEAR_MESSAGE)
    date_from = _date(args, "from", errors)
    date_to = _date(args, "to", errors)
    if date_from and date_to and date_to < date_from:
        errors["to"] = _("To: the end date is before the start date.")
    text = (args.get("q") or "").strip()[:MAX_QUERY_LENGTH]
    return EventFilter(
        countries, categories, formats, statuses, year, date_from, date_to, text, errors
    )


def apply_filter(frame: pd.DataFrame, event_filter: EventFilter) -> pd.DataFrame:
    """Return the rows of a store frame that the filter keeps."""
    return frame[filter_mask(frame, event_filter)]


def filter_mask(frame: pd.DataFrame, event_filter: EventFilter) -> pd.Series:
    """Return which rows of a store frame the filter keeps.

    Give it the store's frame itself, not a part of it: the search text is remembered for the
    last frame searched only.
    """
    mask = pd.Series(True, index=frame.index)
    if event_filter.statuses:
        mask &= frame["status"].isin(event_filter.statuses)
    if event_filter.countries:
        mask &= frame["country"].isin(event_filter.countries)
    if event_filter.categories:
        mask &= frame["category"].isin(event_filter.categories)
    if event_filter.formats:
        mask &= frame["format"].isin(event_filter.formats)
    if event_filter.year:
        mask &= frame["starts_at"].str.startswith(str(event_filter.year))
    if event_filter.date_from or event_filter.date_to:  # sliced only when asked: 50,000 texts
        day = frame["starts_at"].str.slice(0, 10)
        if event_filter.date_from:
            mask &= day >= event_filter.date_from.isoformat()
        if event_filter.date_to:
            mask &= day <= event_filter.date_to.isoformat()
    if event_filter.text:
        mask &= search_mask(frame, event_filter.text)
    return mask


def search_mask(frame: pd.DataFrame, text: str) -> pd.Series:
    """Return which events a free-text query finds.

    A query that is exactly a country's code or short alias finds that country's events.
    Otherwise every word of the query must be in the event's texts, begin a word of a name of
    the event's country, or be part of a name of the event's town, so "Sandakan Malaysia" finds
    the events in Sandakan and "Den Haag" those in The Hague.
    """
    if code := country_code_of(text):
        return frame["country"] == code
    haystack = search_text(frame)
    words = text.split()
    in_towns = town_index(frame, current_gazetteer()).words_found(words)
    mask = pd.Series(True, index=frame.index)
    for word, in_town in zip(words, in_towns, strict=True):
        found = haystack.str.contains(fold(word), regex=False)
        if codes := countries_named(word):
            found |= frame["country"].isin(codes)
        if in_town is not None:
            found |= in_town
        mask &= found
    return mask


@dataclass(frozen=True)
class TownIndex:
    """Which gazetteer towns the events of one frame are in."""

    gazetteer: Gazetteer
    # For each row, the number of its (town, country) pair.
    pairs: np.ndarray
    # Gazetteer town (index in gazetteer.cities) -> the numbers of the pairs that name it.
    pairs_of_town: dict[int, tuple[int, ...]]

    def rows_named(self, name: str) -> np.ndarray | None:
        """Return which rows are in a town bearing a name (any language), or None for none."""
        key = fold_name(name)
        if len(key) < MIN_LATIN_TOWN_NAME and key.isascii():
            return None
        wanted = {
            pair
            for town in self.gazetteer.indices(key)
            for pair in self.pairs_of_town.get(town, ())
        }
        if not wanted:
            return None
        return np.isin(self.pairs, np.fromiter(wanted, dtype=self.pairs.dtype, count=len(wanted)))

    def words_found(self, words: Sequence[str]) -> list[np.ndarray | None]:
        """Return, for each word, the rows in a town named by a run of words holding it."""
        found: list[np.ndarray | None] = [None] * len(words)
        for start in range(len(words)):
            for end in range(start + 1, min(len(words), start + MAX_TOWN_WORDS) + 1):
                rows = self.rows_named(" ".join(words[start:end]))
                if rows is None:
                    continue
                for position in range(start, end):
                    earlier = found[position]
                    found[position] = rows if earlier is None else earlier | rows
        return found


@per_frame
def town_index(frame: pd.DataFrame, gazetteer: Gazetteer) -> TownIndex:
    """Return which gazetteer towns a frame's events are in, computed once per frame.

    An event is in every town of its country that bears its town's name (any of the town's
    names, folded); an event without a country, in every town of that name.
    """
    # The store keeps countries upper-case; pairs are many fewer than events (15,000 in 50,000).
    # Each pair is read from its first row: splitting the joined texts would make a list per
    # pair, and the garbage collector's passes over them cost more than the rest together.
    pairs, _ = pd.factorize((frame["city"] + "\n" + frame["country"]).to_numpy())
    _, first_rows = np.unique(pairs, return_index=True)
    cities = frame["city"].to_numpy()[first_rows].tolist()
    countries = frame["country"].to_numpy()[first_rows].tolist()
    pairs_of_town: dict[int, list[int]] = {}
    for number, key in enumerate(fold_many(cities) if cities else []):
        if key:
            for town in _towns_of(gazetteer, key, countries[number]):
                pairs_of_town.setdefault(town, []).append(number)
    return TownIndex(
        gazetteer,
        np.asarray(pairs, dtype=np.int64),
        {town: tuple(numbers) for town, numbers in pairs_of_town.items()},
    )


@lru_cache(maxsize=65536)
def _towns_of(gazetteer: Gazetteer, key: str, country: str) -> tuple[int, ...]:
    """Return the gazetteer towns of a country (any, for none) bearing a folded name.

    Remembered across frames: a store change keeps almost every event's town.
    """
    return tuple(
        town
        for town in gazetteer.indices(key)
        if not country or gazetteer.cities[town].country == country
    )


@per_frame
def search_text(frame: pd.DataFrame) -> pd.Series:
    """Return the folded text that free-text search looks in, computed once per frame."""
    joined = frame[SEARCH_FIELDS[0]]
    for name in SEARCH_FIELDS[1:]:
        joined = joined + " " + frame[name]
    return fold_column(joined)


def fold_column(texts: pd.Series) -> pd.Series:
    """Return a column of texts folded as fold() folds one, vectorised."""
    return texts.str.casefold().str.normalize("NFKD").str.replace(_COMBINING_MARKS, "", regex=True)


_COMBINING_MARKS = "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"


def fold(text: str) -> str:
    """Return text lower-cased without accents, for matching what people type."""
    return re.sub(_COMBINING_MARKS, "", unicodedata.normalize("NFKD", text.casefold()))


def country_code_of(text: str) -> str:
    """Return the country a query names by its code or short alias alone ("ES", "UK"), or ""."""
    text = text.strip()
    key = fold_name(text)
    if len(key) == 2 and key.upper() in country_codes():
        return key.upper()
    if len(text) == 3 and text.isupper() and (country := pycountry.countries.get(alpha_3=text)):
        return str(country.alpha_2)
    if len(key.replace(" ", "")) <= SHORT_ALIAS_LENGTH and (code := COUNTRY_ALIASES.get(key)):
        return code
    return ""


@lru_cache(maxsize=4096)
def countries_named(word: str) -> frozenset[str]:
    """Return the countries with a name in which a word begins ("espa" -> Spain), case and accents aside."""
    key = fold_name(word)
    if len(key) < MIN_COUNTRY_WORD:
        return frozenset()
    if len(key) >= MIN_COUNTRY_PREFIX:
        return frozenset(code for name, code in country_names() if f" {key}" in name)
    codes = frozenset(code for name, code in country_names() if f" {key} " in name)
    return codes if len(codes) <= MAX_COUNTRIES_OF_SHORT_WORD else frozenset()


@cache
def country_names() -> tuple[tuple[str, str], ...]:
    """Return every known name of every country, folded between spaces, with its ISO code.

    Built once per process from mapapp.country_names: CLDR's names, pycountry's names (common,
    official) and their translations, and the aliases people type ("Holland", "Burma").
    """
    codes = country_codes()
    names = {
        (f" {key} ", code)
        for name, code in all_names()
        if code in codes and (key := fold_name(name))
    }
    return tuple(sorted(names))


def _codes(
    args: Mapping[str, str],
    name: str,
    errors: dict[str, str],
    *,
    valid: object,
    lower: bool = False,
) -> tuple[str, ...]:
    """Return the comma-separated codes of a parameter, keeping the valid ones."""
    raw = args.get(name) or ""
    codes = [code.strip() for code in raw.split(",") if code.strip()]
    codes = [code.lower() if lower else code.upper() for code in codes]
    bad = [code for code in codes if not valid(code)]  # type: ignore[operator]
    if bad:
        errors[name] = _(
            "%(field)s: unknown value %(values)s.",
            field=_(PARAMETER_LABELS[name]),
            values=", ".join(bad),
        )
    return tuple(dict.fromkeys(code for code in codes if code not in bad))


def _date(args: Mapping[str, str], name: str, errors: dict[str, str]) -> date | None:
    """Return a YYYY-MM-DD parameter as a date."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = _(
            "%(field)s: write the date as YYYY-MM-DD.", field=_(PARAMETER_LABELS[name])
        )
        return None
