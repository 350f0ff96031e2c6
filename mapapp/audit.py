"""The audit log of coordinators' changes, kept in data/audit.csv: who, when, which event, what."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flask import Flask

from mapapp.storage import CsvTable, add_table, get_table, utc_now

AUDIT_FILE = "audit.csv"
COLUMNS = ("id", "time", "who", "event_id", "action", "changes")
ACTIONS: dict[str, str] = {
    "approve": "Approved",
    "reject": "Rejected",
    "edit": "Edited",
    "place": "Placed on the map",
}
ID_BYTES = 9

# {field: [old, new]}
Changes = dict[str, list[str]]


@dataclass(frozen=True)
class Entry:
    """One recorded change to one event."""

    time: str
    who: str
    event_id: str
    action: str
    changes: Changes

    @property
    def action_label(self) -> str:
        """Return the action in words."""
        return ACTIONS.get(self.action, self.action)


@dataclass(frozen=True)
class Page:
    """One page of entries, newest first."""

    entries: list[Entry]
    number: int
    pages: int
    total: int


def init_app(app: Flask) -> None:
    """Give the app its audit table in the data directory."""
    add_table(app, AUDIT_FILE, COLUMNS, key="id")


def _table() -> CsvTable:
    """Return the current app's audit table."""
    return get_table(AUDIT_FILE)


def diff(old: Mapping[str, str], new: Mapping[str, str]) -> Changes:
    """Return the fields whose value differs, as {field: [old, new]}, ignoring updated_at."""
    return {
        name: [old.get(name, ""), value]
        for name, value in new.items()
        if name != "updated_at" and old.get(name, "") != value
    }


def record(who: str, event_id: str, action: str, changes: Changes) -> Entry:
    """Append one entry durably and return it."""
    return record_many([(who, event_id, action, changes)])[0]


def record_many(items: Iterable[tuple[str, str, str, Changes]]) -> list[Entry]:
    """Append several entries in one durable write and return them."""
    now = utc_now()
    entries = [
        Entry(now, who, event_id, action, changes) for who, event_id, action, changes in items
    ]
    if entries:
        _table().append(
            {
                "id": secrets.token_urlsafe(ID_BYTES),
                "time": entry.time,
                "who": entry.who,
                "event_id": entry.event_id,
                "action": entry.action,
                "changes": json.dumps(entry.changes, ensure_ascii=False, sort_keys=True),
            }
            for entry in entries
        )
    return entries


def page(number: int = 1, per_page: int = 50, event_id: str = "") -> Page:
    """Return one page of entries, newest first, optionally of one event only."""
    frame = _table().frame()
    if event_id:
        frame = frame[frame["event_id"] == event_id]
    total = len(frame)
    pages = max(1, -(-total // per_page))
    number = min(max(1, number), pages)
    # Appends are in time order, so the newest entries are at the end of the file.
    end = total - (number - 1) * per_page
    rows = frame.iloc[max(0, end - per_page) : end].iloc[::-1]
    entries = [
        Entry(str(time), str(who), str(event_id), str(action), _changes(changes))
        for time, who, event_id, action, changes in zip(
            rows["time"],
            rows["who"],
            rows["event_id"],
            rows["action"],
            rows["changes"],
            strict=True,
        )
    ]
    return Page(entries, number, pages, total)


def _changes(raw: object) -> Changes:
    """Return the stored JSON of changes, or an empty dict if it cannot be read."""
    try:
        value = json.loads(str(raw))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
