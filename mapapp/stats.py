"""Counts of events per edition, country, category, format, status and day: the dashboard, the map.

An event's edition is the year its local start date falls in, as the map's and the events
list's year filters take it. Every count is pandas over the frame handed in (the coordinator's
scoped frame on the dashboard) and is computed once per frame (`per_frame`): the answers are
frozen dataclasses of tuples, shared by the requests that read the same frame.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import pandas as pd
import pycountry

from mapapp.event_text import day_text
from mapapp.events import CATEGORIES, FORMATS, STATUSES
from mapapp.i18n import N_, _, country_name
from mapapp.storage import per_frame

PUBLIC_STATUS = "approved"
# Translators: the label of the events whose category or format is not given.
EMPTY_LABEL = N_("(empty)")
# How a Count's label is read from its name: translated, as it is, or a day in words.
LABELLED, RAW, DAY = "labelled", "raw", "day"


@dataclass(frozen=True)
class Count:
    """How many events have one value of a field.

    The counts are remembered per frame and shared by requests in every language, so the name
    is kept in English (or as stored) and `label` says it in the interface language.
    """

    code: str
    name: str
    count: int
    kind: str = LABELLED

    @property
    def label(self) -> str:
        """Return the value in words, in the interface language."""
        if self.kind == DAY:
            return _day_label(self.code)
        return _(self.name) if self.kind == LABELLED else self.name


@dataclass(frozen=True)
class CountryCount:
    """How many events take place in one country; numeric is the ISO 3166-1 numeric code."""

    code: str
    numeric: str
    count: int

    @property
    def label(self) -> str:
        """Return the country's name in the interface language."""
        return country_name(self.code)


@dataclass(frozen=True)
class Dashboard:
    """Every count the dashboard shows for one edition (None: every edition).

    Statuses count every event of the edition; the rest count the events of the chosen statuses.
    """

    edition: int | None
    total: int
    statuses: tuple[Count, ...]
    countries: tuple[CountryCount, ...]
    categories: tuple[Count, ...]
    formats: tuple[Count, ...]
    days: tuple[Count, ...]

    @property
    def largest_country(self) -> int:
        """Return the highest count of any country (for scaling the map's colours)."""
        return max((country.count for country in self.countries), default=0)

    def status_count(self, code: str) -> int:
        """Return how many events of the edition have a status."""
        return next((status.count for status in self.statuses if status.code == code), 0)


@dataclass(frozen=True)
class EditionCounts:
    """One country's events in one edition, and how the approved ones compare with the year before."""

    year: int
    total: int
    approved: int
    previous: int
    statuses: tuple[Count, ...]
    categories: tuple[Count, ...]

    @property
    def change(self) -> int:
        """Return how many more approved events than the year before (negative: fewer)."""
        return self.approved - self.previous

    @property
    def change_percent(self) -> int | None:
        """Return the change as a whole percentage of the year before, None after a year of none."""
        if not self.previous:
            return None
        return round(100 * self.change / self.previous)

    def category_count(self, code: str) -> int:
        """Return how many approved events of the edition have a category."""
        return next((item.count for item in self.categories if item.code == code), 0)


@dataclass(frozen=True)
class CountryHistory:
    """One country's events, edition by edition (oldest first): the year-on-year view."""

    code: str
    editions: tuple[EditionCounts, ...]
    categories: tuple[Count, ...]  # the categories of its approved events, every edition together

    @property
    def label(self) -> str:
        """Return the country's name in the interface language."""
        return country_name(self.code)

    @property
    def latest(self) -> EditionCounts | None:
        """Return the newest edition with events, or None when the country has none."""
        return self.editions[-1] if self.editions else None


def edition_years(frame: pd.DataFrame) -> pd.Series:
    """Return each event's edition (the year of its local start) as text, "" when it has no date."""
    years = frame["starts_at"].str.slice(0, 4)
    return years.where(years.str.fullmatch(r"[0-9]{4}"), "")


@per_frame
def editions(frame: pd.DataFrame) -> tuple[int, ...]:
    """Return the editions that have events, newest first."""
    years = edition_years(frame)
    return tuple(sorted((int(year) for year in years.unique() if year), reverse=True))


def of_edition(frame: pd.DataFrame, year: int | None) -> pd.DataFrame:
    """Return the events of one edition (every event when year is None)."""
    if year is None:
        return frame
    return frame[edition_years(frame) == str(year)]


def dashboard(
    frame: pd.DataFrame, year: int | None = None, statuses: tuple[str, ...] = (PUBLIC_STATUS,)
) -> Dashboard:
    """Return the counts of one edition's events with these statuses (all statuses when empty)."""
    return _dashboard(frame, year, tuple(statuses))


@per_frame
def _dashboard(frame: pd.DataFrame, year: int | None, statuses: tuple[str, ...]) -> Dashboard:
    """Count one edition of a frame (remembered per frame)."""
    frame = of_edition(frame, year)
    status_counts = _counts(frame["status"], STATUSES, keep_all=True)
    if statuses:
        frame = frame[frame["status"].isin(statuses)]
    return Dashboard(
        edition=year,
        total=len(frame),
        statuses=status_counts,
        countries=country_counts(frame),
        categories=_counts(frame["category"], CATEGORIES, keep_all=True),
        formats=_counts(frame["format"], FORMATS, keep_all=True),
        days=day_counts(frame),
    )


@per_frame
def country_history(frame: pd.DataFrame, code: str) -> CountryHistory:
    """Return one country's counts for every edition it has events in, oldest first."""
    events = frame[frame["country"].str.upper() == code.upper()]
    years = edition_years(events)
    approved = events["status"] == PUBLIC_STATUS
    approved_per_year = years[approved].value_counts()
    rows = []
    for year in sorted(int(year) for year in years.unique() if year):
        of_year = events[years == str(year)]
        rows.append(
            EditionCounts(
                year=year,
                total=len(of_year),
                approved=int(approved_per_year.get(str(year), 0)),
                previous=int(approved_per_year.get(str(year - 1), 0)),
                statuses=_counts(of_year["status"], STATUSES, keep_all=True),
                categories=_counts(
                    of_year.loc[of_year["status"] == PUBLIC_STATUS, "category"], CATEGORIES
                ),
            )
        )
    return CountryHistory(
        code=code.upper(),
        editions=tuple(rows),
        categories=_counts(events.loc[approved, "category"], CATEGORIES),
    )


def country_counts(frame: pd.DataFrame) -> tuple[CountryCount, ...]:
    """Return events per country, most first; events with no country are left out."""
    counts = frame.loc[frame["country"] != "", "country"].value_counts()
    return tuple(
        CountryCount(str(code), _numeric(str(code)), int(count)) for code, count in counts.items()
    )


def day_counts(frame: pd.DataFrame) -> tuple[Count, ...]:
    """Return events per local start day, in date order: code "2027-02-28", label "Sun 28 Feb 2027"."""
    days = frame["starts_at"].str.slice(0, 10)
    counts = days[days != ""].value_counts().sort_index()
    return tuple(Count(str(day), str(day), int(count), DAY) for day, count in counts.items())


def _day_label(day: str) -> str:
    """Return a stored day as people read it, or the day as stored if it is not a date."""
    try:
        return day_text(datetime.strptime(day, "%Y-%m-%d"))
    except ValueError:
        return day


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


def _counts(column: pd.Series, labels: dict[str, str], keep_all: bool = False) -> tuple[Count, ...]:
    """Return counts of a coded column in the order of its labels, then any unknown codes."""
    counts = column.value_counts()
    known = [
        Count(code, label, int(counts.get(code, 0)))
        for code, label in labels.items()
        if keep_all or counts.get(code, 0)
    ]
    other = [
        Count(str(code), str(code), int(count), RAW) if code else Count("", EMPTY_LABEL, int(count))
        for code, count in counts.items()
        if code not in labels
    ]
    return tuple(known + other)


@cache
def _numeric(alpha_2: str) -> str:
    """Return the ISO 3166-1 numeric code of a country (world-atlas ids), or ""."""
    country = pycountry.countries.get(alpha_2=alpha_2)
    return str(country.numeric) if country is not None else ""
