"""The audit log: who changed which event, when and how, read from the store's audit table.

The store writes each entry together with the change it records (see mapapp.storage); this module
only reads and presents them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mapapp import access
from mapapp.storage.event_store import ERASED

ACTIONS: dict[str, str] = {
    "submit": "Submitted",
    "approve": "Approved",
    "reject": "Rejected",
    "edit": "Edited",
    "place": "Placed on the map",
    "organiser-edit": "Edited by the organiser",
    "withdraw": "Withdrawn by the organiser",
    "import": "Imported",
    "geocode": "Placed by the geocoder",
    "change-request": "Change sent by the organiser, waiting for review",
    "change-cancel": "Waiting change cancelled by the organiser",
    "approve-change": "Organiser's change approved",
    "reject-change": "Organiser's change rejected",
    "edit-links": "New edit links sent by e-mail",
    "revoke-links": "Other edit links revoked by the organiser",
    "erase": "Erased with its personal data",
}
ORGANISER = "organiser"
LINKS_FIELD = "edit_token_hash"
LINKS_TEXT = "valid edit links: {count}"

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
    erased: bool = False  # the event was erased: its values are gone from the log

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


def page(number: int = 1, per_page: int = 50, event_id: str = "") -> Page:
    """Return one page of entries, newest first, optionally of one event only."""
    frame = access.events().audit_frame()
    if event_id:
        frame = frame[frame["event_id"] == event_id]
    total = len(frame)
    pages = max(1, -(-total // per_page))
    number = min(max(1, number), pages)
    # Appends are in time order, so the newest entries are at the end of the file.
    end = total - (number - 1) * per_page
    rows = frame.iloc[max(0, end - per_page) : end].iloc[::-1]
    entries = [
        Entry(
            str(time),
            str(who),
            str(event_id),
            str(action),
            _changes(changes),
            erased=str(changes) == ERASED,
        )
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
        value[LINKS_FIELD] = [LINKS_TEXT.format(count=len(str(side).split())) for side in links]
    return value
