"""The coordinators' lists: which events the queue and the events list show, in which order, paged.

Filters are the public map's (mapapp.filters: country, category, format, edition, search) plus
the day an event was submitted and a sort order, all read from and written back to the URL, so a
filtered queue survives paging and every action. Frames come from the caller, who takes them
from access.events(): the scope is applied before anything here sees an event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import pandas as pd

from mapapp import event_text, pending_changes
from mapapp.events import current_edition
from mapapp.filters import (
    EventFilter,
    apply_filter,
    filter_mask,
    fold,
    fold_column,
    parse_filter,
)
from mapapp.i18n import N_, _, country_name, current_code, sorted_names
from mapapp.storage import per_frame

PER_PAGE = 25
PENDING = "pending"
PUBLISHED = "approved"
# The orders a list can be sorted in, as the menu names them (translated by `sorts`).
SORTS: dict[str, str] = {
    "oldest": N_("Oldest submitted first"),
    "newest": N_("Newest submitted first"),
    "start": N_("Soonest start first"),
    # Translators: a sort order of the events list: by country name.
    "country": N_("Country"),
    # Translators: a sort order of the events list: by event title.
    "title": N_("Title"),
}
QUEUE_SORT = "oldest"
LIST_SORT = "start"
SORT_MESSAGE = N_("Sort: choose one of the orders in the list.")
SUBMITTED_LABELS = {"submitted_from": N_("Submitted from"), "submitted_to": N_("Submitted until")}
# Translators: %(label)s is "Submitted from" or "Submitted until"; keep YYYY-MM-DD as it is.
DATE_MESSAGE = N_("%(label)s: write the date as YYYY-MM-DD.")
ORDER_MESSAGE = N_("Submitted until: this day is before the first day you chose.")
# Where to return when the last event of a list is gone: the list's heading.
LIST_ANCHOR = "queue-title"
_LAST = "\uffff"  # sorts after every name: events with no country go last


@dataclass(frozen=True)
class Query:
    """What a coordinator asked to see: the map's filters, the submission days and the order."""

    event_filter: EventFilter = field(default_factory=EventFilter)
    submitted_from: date | None = None
    submitted_to: date | None = None
    sort: str = QUEUE_SORT
    list_page: bool = False  # the events list: any status, soonest start first by default
    errors: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def default_sort(self) -> str:
        """Return the order the page shows when none is asked for."""
        return LIST_SORT if self.list_page else QUEUE_SORT

    def to_args(self) -> dict[str, str]:
        """Return the query as URL parameters (for paging links and the way back after an action)."""
        args = self.event_filter.to_args()
        if self.list_page and self.event_filter.statuses:
            args["status"] = ",".join(self.event_filter.statuses)
        if self.submitted_from:
            args["submitted_from"] = self.submitted_from.isoformat()
        if self.submitted_to:
            args["submitted_to"] = self.submitted_to.isoformat()
        if self.sort != self.default_sort:
            args["sort"] = self.sort
        return args


@dataclass(frozen=True)
class Card:
    """One event as a coordinator reads it: labels, place and times in words."""

    event: dict[str, str]
    category: str
    place: str
    when: str
    submitted: str
    status: str


@dataclass(frozen=True)
class Page:
    """One page of a list, and for each event the anchor to come back to once it is handled."""

    rows: list[dict[str, str]]
    number: int
    pages: int
    total: int
    following: dict[str, str] = field(default_factory=dict)

    @property
    def cards(self) -> list[Card]:
        """Return the page's events as cards."""
        return [card(row) for row in self.rows]


def parse_query(args: Mapping[str, Sequence[str] | str], *, list_page: bool = False) -> Query:
    """Return the query described by URL parameters; each bad value is named in errors.

    A parameter may come several times (a multiple choice: country=ES&country=FR) or hold
    values separated by commas (country=ES,FR), as the paging links write it.
    """
    flat = {name: _joined(values) for name, values in args.items()}
    event_filter = parse_filter(flat, allow_status=list_page)
    errors = dict(event_filter.errors)
    days: dict[str, date | None] = {}
    for name, label in SUBMITTED_LABELS.items():
        days[name] = None
        if raw := flat.get(name, "").strip():
            try:
                days[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = _(DATE_MESSAGE, label=_(label))
    start, end = days["submitted_from"], days["submitted_to"]
    if start and end and end < start:
        errors["submitted_to"] = _(ORDER_MESSAGE)
    default_sort = LIST_SORT if list_page else QUEUE_SORT
    sort = flat.get("sort", "").strip() or default_sort
    if sort not in SORTS:
        errors["sort"] = _(SORT_MESSAGE)
        sort = default_sort
    return Query(event_filter, start, end, sort, list_page, errors)


def sorts() -> dict[str, str]:
    """Return the sort orders' names in the interface language, for the menu."""
    return {code: _(label) for code, label in SORTS.items()}


def pending_events(frame: pd.DataFrame, query: Query) -> pd.DataFrame:
    """Return the events waiting for review that the query keeps, in its order."""
    return listed_events(frame, replace(query, event_filter=_with_status(query, PENDING)))


def listed_events(frame: pd.DataFrame, query: Query) -> pd.DataFrame:
    """Return the events the query keeps (of the statuses it names), in its order."""
    kept = apply_filter(frame, query.event_filter)
    submitted = kept["created_at"].str.slice(0, 10)
    if query.submitted_from:
        kept = kept[submitted >= query.submitted_from.isoformat()]
        submitted = kept["created_at"].str.slice(0, 10)
    if query.submitted_to:
        kept = kept[submitted <= query.submitted_to.isoformat()]
    return sort_events(kept, query.sort)


def waiting_changes(
    frame: pd.DataFrame, query: Query
) -> list[tuple[dict[str, str], list[pending_changes.FieldChange]]]:
    """Return the published events the query keeps whose organiser's change waits, with the diffs."""
    if pending_changes.CHANGE_FIELD not in frame.columns:
        return []
    mask = filter_mask(frame, _with_status(query, PUBLISHED))
    published = frame[mask & (frame[pending_changes.CHANGE_FIELD] != "")]
    return [
        (event, pending_changes.changes_of(event))
        for event in pending_changes.waiting_events(published)
    ]


def sort_events(frame: pd.DataFrame, order: str) -> pd.DataFrame:
    """Return the events in one of the SORTS orders (ties: oldest submitted first, then as stored)."""
    if order == "newest":  # ties keep the file's order, as in "oldest"
        return frame.sort_values("created_at", ascending=False, kind="stable")
    if order == "start":
        return frame.sort_values(["starts_at", "title"], kind="stable")
    if order == "oldest":
        return frame.sort_values("created_at", kind="stable")
    if order == "country":  # by name, as the menu reads; a name per country, not per event
        names = {
            code: fold(country_name(code, code)) if code else _LAST
            for code in frame["country"].unique()
        }
        key = frame["country"].map(names)
    else:
        key = fold_column(frame["title"])
    sortable = frame.assign(_key=key)
    return sortable.sort_values(["_key", "created_at", "id"], kind="stable").drop(columns="_key")


def paginate(frame: pd.DataFrame, number: int, per_page: int = PER_PAGE) -> Page:
    """Return one page of a sorted frame (the last page if number is past it).

    Each event's anchor is the one after it in the whole list (before it, for the last), which
    is where the coordinator should be once that event has left the list.
    """
    total = len(frame)
    pages = max(1, -(-total // per_page))
    number = min(number, pages)
    first = (number - 1) * per_page
    chunk = frame.iloc[first : first + per_page]
    # The ids of the page, with the one before it and the one after it.
    around = max(0, first - 1)
    ids = list(frame["id"].iloc[around : first + per_page + 1])
    following = {}
    for position in range(first, min(first + per_page, total)):
        here = position - around
        if position + 1 < total:
            following[ids[here]] = f"event-{ids[here + 1]}"
        elif position > 0:
            following[ids[here]] = f"event-{ids[here - 1]}"
        else:
            following[ids[here]] = LIST_ANCHOR
    rows: list[dict[str, str]] = chunk.to_dict("records")  # type: ignore[assignment]
    return Page(rows, number, pages, total, following)


def card(event: Mapping[str, str]) -> Card:
    """Return an event with the texts a coordinator reads instead of codes."""
    return Card(
        event=dict(event),
        category=event_text.category_label(event.get("category", "")),
        place=event_text.place_line(event),
        when=event_text.when_line(event),
        submitted=event_text.utc_line(event.get("created_at", "")),
        status=event_text.status_label(event.get("status", "")),
    )


def country_choices(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Return (code, name) of the countries the events are in, by name: the country filter's menu.

    Names are in the interface language, sorted as its readers sort them.
    """
    return list(_country_choices(frame, current_code()))


@per_frame
def _country_choices(frame: pd.DataFrame, language: str) -> tuple[tuple[str, str], ...]:
    """Return the country menu of a frame in one language (remembered per frame)."""
    codes = [code for code in frame["country"].unique() if code]
    return tuple(sorted_names((code, country_name(code, code)) for code in codes))


def editions(frame: pd.DataFrame) -> list[int]:
    """Return the editions (years) the events start in, and the current one, newest first."""
    return sorted(_start_years(frame) | {current_edition()}, reverse=True)


@per_frame
def _start_years(frame: pd.DataFrame) -> frozenset[int]:
    """Return the years the events start in (remembered per frame)."""
    years = frame["starts_at"].str.slice(0, 4).unique()
    return frozenset(int(year) for year in years if year.isdigit())


def _with_status(query: Query, status: str) -> EventFilter:
    """Return the query's filter for events of one status."""
    return replace(query.event_filter, statuses=(status,))


def _joined(values: Sequence[str] | str) -> str:
    """Return a parameter's values as one comma-separated value."""
    if isinstance(values, str):
        return values
    return ",".join(value for value in values if value.strip())
