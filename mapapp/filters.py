"""The filters shared by the map, its data API and the exports: parse query parameters, apply them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from mapapp.events import (
    BROKEN_TEXT_HINT,
    CATEGORIES,
    FORMATS,
    STATUSES,
    country_name,
    is_storable_text,
)
from mapapp.storage import per_frame

MAX_QUERY_LENGTH = 200
# ASCII digits only: str.isdigit() also accepts "²" and "٢", which int() then refuses.
YEAR_PATTERN = re.compile(r"[0-9]{4}")
FIRST_YEAR, LAST_YEAR = 2008, 2100
YEAR_MESSAGE = "Year: choose an edition such as 2027, or all."
# The parameters parse_filter reads.
PARAMETERS = ("country", "category", "format", "status", "year", "from", "to", "q")
# Columns the free-text search looks in.
SEARCH_FIELDS = ("title", "organiser", "venue", "city", "region", "description")


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
        labels = {name: "Search" if name == "q" else name.capitalize() for name in broken}
        return EventFilter(errors={name: f"{labels[name]}: {BROKEN_TEXT_HINT}." for name in broken})
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
            errors["year"] = YEAR_MESSAGE
    date_from = _date(args, "from", errors)
    date_to = _date(args, "to", errors)
    if date_from and date_to and date_to < date_from:
        errors["to"] = "To: the end date is before the start date."
    text = (args.get("q") or "").strip()[:MAX_QUERY_LENGTH]
    return EventFilter(
        countries, categories, formats, statuses, year, date_from, date_to, text, errors
    )


def apply_filter(frame: pd.DataFrame, event_filter: EventFilter) -> pd.DataFrame:
    """Return the rows of a store frame that the filter keeps."""
    mask = pd.Series(True, index=frame.index)
    if event_filter.statuses:
        mask &= frame["status"].isin(event_filter.statuses)
    if event_filter.countries:
        mask &= frame["country"].isin(event_filter.countries)
    if event_filter.categories:
        mask &= frame["category"].isin(event_filter.categories)
    if event_filter.formats:
        mask &= frame["format"].isin(event_filter.formats)
    day = frame["starts_at"].str.slice(0, 10)
    if event_filter.year:
        mask &= frame["starts_at"].str.startswith(str(event_filter.year))
    if event_filter.date_from:
        mask &= day >= event_filter.date_from.isoformat()
    if event_filter.date_to:
        mask &= day <= event_filter.date_to.isoformat()
    if event_filter.text:
        mask &= search_text(frame).str.contains(fold(event_filter.text), regex=False)
    return frame[mask]


@per_frame
def search_text(frame: pd.DataFrame) -> pd.Series:
    """Return the folded text that free-text search looks in, computed once per frame."""
    joined = frame[SEARCH_FIELDS[0]]
    for name in SEARCH_FIELDS[1:]:
        joined = joined + " " + frame[name]
    return joined.str.casefold().str.normalize("NFKD").str.replace(_COMBINING_MARKS, "", regex=True)


_COMBINING_MARKS = "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"


def fold(text: str) -> str:
    """Return text lower-cased without accents, for matching what people type."""
    return re.sub(_COMBINING_MARKS, "", unicodedata.normalize("NFKD", text.casefold()))


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
        errors[name] = f"{name.capitalize()}: unknown value {', '.join(bad)}."
    return tuple(dict.fromkeys(code for code in codes if code not in bad))


def _date(args: Mapping[str, str], name: str, errors: dict[str, str]) -> date | None:
    """Return a YYYY-MM-DD parameter as a date."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = f"{name.capitalize()}: write the date as YYYY-MM-DD."
        return None
