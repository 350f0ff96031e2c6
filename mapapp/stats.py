"""Counts of events per country, category, format and day, for the dashboard and the map page."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache

import pandas as pd
import pycountry

from mapapp.events import CATEGORIES, FORMATS, STATUSES, country_name
from mapapp.storage import per_frame

PUBLIC_STATUS = "approved"


@dataclass(frozen=True)
class Count:
    """How many events have one value of a field."""

    code: str
    label: str
    count: int


@dataclass(frozen=True)
class CountryCount:
    """How many events take place in one country; numeric is the ISO 3166-1 numeric code."""

    code: str
    numeric: str
    label: str
    count: int


@dataclass(frozen=True)
class Dashboard:
    """Every count the dashboard shows, over the events of the chosen statuses."""

    total: int
    statuses: list[Count]
    countries: list[CountryCount]
    categories: list[Count]
    formats: list[Count]
    days: list[Count]

    @property
    def largest_country(self) -> int:
        """Return the highest count of any country (for scaling the map's colours)."""
        return max((country.count for country in self.countries), default=0)

    @property
    def by_numeric(self) -> dict[str, dict[str, object]]:
        """Return the countries keyed by ISO numeric code, as world-atlas names its shapes."""
        return {
            country.numeric: {"code": country.code, "name": country.label, "count": country.count}
            for country in self.countries
            if country.numeric
        }


def dashboard(frame: pd.DataFrame, statuses: tuple[str, ...] = (PUBLIC_STATUS,)) -> Dashboard:
    """Return the counts of the events with these statuses (all statuses when empty)."""
    status_counts = _counts(frame["status"], STATUSES, keep_all=True)
    if statuses:
        frame = frame[frame["status"].isin(statuses)]
    return Dashboard(
        total=len(frame),
        statuses=status_counts,
        countries=country_counts(frame),
        categories=_counts(frame["category"], CATEGORIES, keep_all=True),
        formats=_counts(frame["format"], FORMATS, keep_all=True),
        days=day_counts(frame),
    )


def country_counts(frame: pd.DataFrame) -> list[CountryCount]:
    """Return events per country, most first; events with no country are left out."""
    counts = frame.loc[frame["country"] != "", "country"].value_counts()
    return [
        CountryCount(str(code), _numeric(str(code)), country_name(str(code)), int(count))
        for code, count in counts.items()
    ]


def day_counts(frame: pd.DataFrame) -> list[Count]:
    """Return events per local start day, in date order."""
    days = frame["starts_at"].str.slice(0, 10)
    counts = days[days != ""].value_counts().sort_index()
    return [Count(str(day), str(day), int(count)) for day, count in counts.items()]


def public_summary(frame: pd.DataFrame, year: int | None = None) -> dict[str, object]:
    """Return what the map page may say about approved events (of one edition): totals and counts."""
    return copy.deepcopy(_public_summary(frame, year))  # the cached answer stays untouched


@per_frame
def _public_summary(frame: pd.DataFrame, year: int | None) -> dict[str, object]:
    """Count the approved events of a frame, of one edition when a year is given."""
    approved = frame[frame["status"] == PUBLIC_STATUS]
    if year is not None:
        approved = approved[approved["starts_at"].str.startswith(str(year))]
    countries = approved.loc[approved["country"] != "", "country"]
    return {
        "events": len(approved),
        "countries": int(countries.nunique()),
        "by_country": {str(code): int(n) for code, n in countries.value_counts().items()},
        "by_category": {c.code: c.count for c in _counts(approved["category"], CATEGORIES)},
        "by_format": {c.code: c.count for c in _counts(approved["format"], FORMATS)},
    }


def _counts(column: pd.Series, labels: dict[str, str], keep_all: bool = False) -> list[Count]:
    """Return counts of a coded column in the order of its labels, then any unknown codes."""
    counts = column.value_counts()
    known = [
        Count(code, label, int(counts.get(code, 0)))
        for code, label in labels.items()
        if keep_all or counts.get(code, 0)
    ]
    other = [
        Count(str(code), str(code) or "(empty)", int(count))
        for code, count in counts.items()
        if code not in labels
    ]
    return known + other


@cache
def _numeric(alpha_2: str) -> str:
    """Return the ISO 3166-1 numeric code of a country (world-atlas ids), or ""."""
    country = pycountry.countries.get(alpha_2=alpha_2)
    return str(country.numeric) if country is not None else ""
