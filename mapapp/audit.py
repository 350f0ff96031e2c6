"""The audit log: who changed which event, when and how, read from the store's audit table.

The store writes each entry together with the change it records (see mapapp.storage); this module
only reads and presents them: beside each event's id its title (or that it was erased), the
changes as labelled before and after values, filters by who, event, action and dates, and a CSV
export of what the filters keep. Every entry comes through the coordinator's scope
(`access.events().audit_frame()`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from mapapp import access
from mapapp.events import FIELD_LABELS, STATUSES
from mapapp.exports import UTF8_BOM, neutralise_formula
from mapapp.i18n import N_, _, force_language, ngettext
from mapapp.pending_changes import readable
from mapapp.storage import per_frame
from mapapp.storage.event_store import ERASED

# What was done to an event, in words (the pages translate them; the CSV export stays English).
# Translators: each is what happened to an event, as the audit log lists it.
ACTIONS: dict[str, str] = {
    "submit": N_("Submitted"),
    # Translators: an audit log action: a coordinator approved the event.
    "approve": N_("Approved"),
    # Translators: an audit log action: a coordinator rejected the event.
    "reject": N_("Rejected"),
    # Translators: an audit log action: a coordinator changed the event.
    "edit": N_("Edited"),
    "place": N_("Placed on the map"),
    "organiser-edit": N_("Edited by the organiser"),
    "withdraw": N_("Withdrawn by the organiser"),
    # Translators: an audit log action: the event came from an imported file.
    "import": N_("Imported"),
    "geocode": N_("Placed by the geocoder"),
    "change-request": N_("Change sent by the organiser, waiting for review"),
    "change-cancel": N_("Waiting change cancelled by the organiser"),
    "approve-change": N_("Organiser's change approved"),
    "reject-change": N_("Organiser's change rejected"),
    "edit-links": N_("New edit links sent by e-mail"),
    "revoke-links": N_("Other edit links revoked by the organiser"),
    "erase": N_("Erased with its personal data"),
}
ORGANISER = "organiser"
LINKS_FIELD = "edit_token_hash"
CHANGE_FIELD = "pending_change"
# Translators: %(fields)s is a list of field names, such as "Title, City".
CHANGE_TEXT = N_("a change of %(fields)s")
# Translators: a value that was empty before or after a change.
EMPTY_TEXT = N_("(empty)")
ERASED_TITLE = N_("This event was erased with its personal data.")
ERASED_VALUES = N_("Values erased with the event.")
MAX_FILTER_LENGTH = 200
DAY_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# Translators: keep YYYY-MM-DD and the example dates as they are.
DAY_MESSAGES = {
    "from": N_("From: give a day as YYYY-MM-DD, such as 2027-02-01."),
    "to": N_("To: give a day as YYYY-MM-DD, such as 2027-02-28."),
}
ORDER_MESSAGE = N_("Dates: the first day comes after the last; swap them or change one.")
ACTION_MESSAGE = N_("Action: choose one of the actions in the list.")
# Translators: the audit log's filters: who made the change, which event, which action.
FILTER_LABELS = {"who": N_("Who"), "event": N_("Event"), "action": N_("Action")}

# The columns of the CSV export, in order.
CSV_HEADER = (
    "When (UTC)",
    "Who",
    "Event id",
    "Event title",
    "Action",
    "What changed",
)

# {field: [old, new]}
Changes = dict[str, list[str]]


@dataclass(frozen=True)
class Change:
    """One field of an entry as a person reads it: its label, the value before and after."""

    label: str
    before: str
    after: str

    def __str__(self) -> str:
        # Translators: one change in the audit log: "City: “Lyon” → “Paris”".
        return _(
            "%(field)s: %(before)s → %(after)s",
            field=self.label,
            before=_quoted(self.before),
            after=_quoted(self.after),
        )


@dataclass(frozen=True)
class Entry:
    """One recorded change to one event."""

    time: str
    who: str
    event_id: str
    action: str
    changes: Changes
    erased: bool = False  # the event was erased: its values are gone from the log
    title: str = ""  # the event's title now; "" once it is erased
    stored: bool = True  # whether the event is still stored (erased events are not)

    @property
    def action_label(self) -> str:
        """Return the action in words, in the interface language."""
        return _(ACTIONS[self.action]) if self.action in ACTIONS else self.action

    @property
    def readable_changes(self) -> list[Change]:
        """Return the changes with field labels and readable values, in the interface language."""
        return [
            Change(
                _(FIELD_LABELS[name]) if name in FIELD_LABELS else name,
                _value(name, str(sides[0])),
                _value(name, str(sides[1])),
            )
            for name, sides in self.changes.items()
            if isinstance(sides, list) and len(sides) == 2
        ]

    @property
    def event_text(self) -> str:
        """Return the event's title, or that it was erased."""
        return self.title if self.stored else _(ERASED_TITLE)


@dataclass(frozen=True)
class Page:
    """One page of entries, newest first."""

    entries: list[Entry]
    number: int
    pages: int
    total: int


@dataclass(frozen=True)
class AuditFilter:
    """What the audit log is narrowed to: who, event (id or title text), action, days."""

    who: str = ""
    event: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def to_args(self) -> dict[str, str]:
        """Return the filter as query parameters, for links that keep it (paging, export)."""
        args = {
            "who": self.who,
            "event": self.event,
            "action": self.action,
            "from": self.date_from,
            "to": self.date_to,
        }
        return {name: value for name, value in args.items() if value}


def parse_filter(args: Mapping[str, str]) -> AuditFilter:
    """Return the filter a query asks for, with a message for each value that cannot be used."""
    errors: dict[str, str] = {}
    values = {name: str(args.get(name, "")).strip() for name in ("who", "event", "action")}
    for name, value in values.items():
        if len(value) > MAX_FILTER_LENGTH:
            errors[name] = ngettext(
                "%(label)s: keep it under %(num)s character.",
                "%(label)s: keep it under %(num)s characters.",
                MAX_FILTER_LENGTH,
                label=_(FILTER_LABELS[name]),
            )
    if values["action"] and values["action"] not in ACTIONS:
        errors["action"] = _(ACTION_MESSAGE)
    days: dict[str, str] = {}
    for name in ("from", "to"):
        days[name] = str(args.get(name, "")).strip()
        if days[name] and _day(days[name]) is None:
            errors[name] = _(DAY_MESSAGES[name])
    if days["from"] and days["to"] and not errors.keys() & {"from", "to"}:
        if days["from"] > days["to"]:
            errors["dates"] = _(ORDER_MESSAGE)
    return AuditFilter(
        values["who"], values["event"], values["action"], days["from"], days["to"], errors
    )


def entries_frame(audit_filter: AuditFilter | None = None, event_id: str = "") -> pd.DataFrame:
    """Return the entries in the scope that a filter keeps, in time order, with the titles.

    The frame has the audit columns and "title" ("" for an event no longer stored) and
    "stored" (whether it is).
    """
    frame, titles = _kept(audit_filter, event_id)
    return _titled(frame, titles)


def page(
    number: int = 1,
    per_page: int = 50,
    event_id: str = "",
    audit_filter: AuditFilter | None = None,
) -> Page:
    """Return one page of entries, newest first, optionally of one event or as filtered."""
    frame, titles = _kept(audit_filter, event_id)
    total = len(frame)
    pages = max(1, -(-total // per_page))
    number = min(max(1, number), pages)
    # Appends are in time order, so the newest entries are at the end of the file.
    end = total - (number - 1) * per_page
    rows = frame.iloc[max(0, end - per_page) : end].iloc[::-1]
    return Page(_entries(_titled(rows, titles)), number, pages, total)


def _kept(audit_filter: AuditFilter | None, event_id: str) -> tuple[pd.DataFrame, pd.Series]:
    """Return the entries in the scope a filter keeps, and the stored events' titles by id."""
    events = access.events()
    frame = events.audit_frame()
    titles = _titles(events.frame())
    if event_id:
        frame = frame[frame["event_id"] == event_id]
    if audit_filter is not None:
        frame = _apply(frame, titles, audit_filter)
    return frame, titles


def _titled(frame: pd.DataFrame, titles: pd.Series) -> pd.DataFrame:
    """Return entries with their event's title and whether it is still stored."""
    return frame.assign(
        title=frame["event_id"].map(titles).fillna(""),
        stored=frame["event_id"].isin(titles.index),
    )


@per_frame
def _titles(frame: pd.DataFrame) -> pd.Series:
    """Return the events' titles by id (once per frame: the log's pages only look them up)."""
    return frame.set_index("id")["title"]


def actions() -> dict[str, str]:
    """Return the actions in words in the interface language, for the filter's menu."""
    return {code: _(label) for code, label in ACTIONS.items()}


def who_choices() -> list[str]:
    """Return everyone the entries in the scope name, sorted, for the filter's menu."""
    return _names(access.events().audit_frame())


@per_frame
def _names(frame: pd.DataFrame) -> list[str]:
    """Return the names an audit frame holds, sorted (once per frame)."""
    return sorted(set(frame["who"]), key=str.casefold)


def render_csv(audit_filter: AuditFilter | None = None) -> bytes:
    """Return the entries a filter keeps as CSV (newest first), safe to open in a spreadsheet.

    Cells are neutralised as the events' CSV export does (a leading quote before =, +, -, @...).
    The file is in English, whatever the page's language, as every export is.
    """
    with force_language("en"):
        return _render_csv(entries_frame(audit_filter))


def _render_csv(frame: pd.DataFrame) -> bytes:
    """Return entries as the audit CSV (in the interface language in use: English)."""
    buffer = io.StringIO()
    buffer.write(UTF8_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for entry in _entries(frame.iloc[::-1]):
        changed = _(ERASED_VALUES) if entry.erased else "\n".join(map(str, entry.readable_changes))
        row = [
            entry.time,
            entry.who,
            entry.event_id,
            entry.event_text,
            entry.action_label,
            changed,
        ]
        writer.writerow([neutralise_formula(value) for value in row])
    return buffer.getvalue().encode("utf-8")


def _apply(frame: pd.DataFrame, titles: pd.Series, audit_filter: AuditFilter) -> pd.DataFrame:
    """Return the entries a filter keeps (values with errors are left out of the filter)."""
    errors = audit_filter.errors
    keep = pd.Series(True, index=frame.index)
    if audit_filter.who and "who" not in errors:
        keep &= frame["who"].str.casefold() == audit_filter.who.casefold()
    if audit_filter.event and "event" not in errors:
        text = audit_filter.event.casefold()
        matching = titles.index[titles.str.casefold().str.contains(text, regex=False)]
        keep &= (frame["event_id"] == audit_filter.event) | frame["event_id"].isin(matching)
    if audit_filter.action and "action" not in errors:
        keep &= frame["action"] == audit_filter.action
    date_from = audit_filter.date_from if not errors.keys() & {"from", "dates"} else None
    date_to = audit_filter.date_to if not errors.keys() & {"to", "dates"} else None
    if date_from or date_to:
        days = frame["time"].str.slice(0, 10)
        if date_from:
            keep &= days >= date_from
        if date_to:
            keep &= days <= date_to
    return frame if bool(keep.all()) else frame[keep]


def _entries(rows: pd.DataFrame) -> list[Entry]:
    """Return rows of the entries frame as entries, in their order."""
    return [
        Entry(
            str(time),
            str(who),
            str(event_id),
            str(action),
            _changes(changes),
            erased=str(changes) == ERASED,
            title=str(title),
            stored=bool(stored),
        )
        for time, who, event_id, action, changes, title, stored in zip(
            rows["time"],
            rows["who"],
            rows["event_id"],
            rows["action"],
            rows["changes"],
            rows["title"],
            rows["stored"],
            strict=True,
        )
    ]


def _day(value: str) -> date | None:
    """Return the day of a YYYY-MM-DD text, or None."""
    if not DAY_PATTERN.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _value(name: str, value: str) -> str:
    """Return a stored value as a person reads it."""
    if name == "status":
        return _(STATUSES[value]) if value in STATUSES else value
    if name == CHANGE_FIELD and value:
        try:
            fields = json.loads(value)["fields"]
            labels = ", ".join(
                _(FIELD_LABELS[str(n)]) if str(n) in FIELD_LABELS else str(n) for n in fields
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return value
        return _(CHANGE_TEXT, fields=labels)
    if name == LINKS_FIELD:
        return value
    return readable(name, value)


def _quoted(value: str) -> str:
    """Return a value in quotes, or that it was empty."""
    # Translators: a value quoted in the audit log; use your language's quotation marks.
    return _("“%(value)s”", value=value) if value else _(EMPTY_TEXT)


def _changes(raw: object) -> Changes:
    """Return the stored JSON of changes, or an empty dict if it cannot be read.

    Edit links are shown as how many were valid, not as their hashes.
    """
    try:
        value = json.loads(str(raw))
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    if isinstance(links := value.get(LINKS_FIELD), list) and len(links) == 2:
        value[LINKS_FIELD] = [_links_text(len(str(side).split())) for side in links]
    return value


def _links_text(count: int) -> str:
    """Return how many edit links were valid, in words."""
    # Translators: how many edit links of an event worked before or after a change.
    return ngettext("%(num)s valid", "%(num)s valid", count)
