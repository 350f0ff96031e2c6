"""Organisers' changes of published events waiting for review: kept apart, shown as a diff, merged.

An approved event stays on the map as it was approved while its organiser's change waits: the
change is one JSON object in the event's private `pending_change` column, holding only the fields
that differ from the approved version ("fields"), when it was sent ("at") and the version of the
event it was made from ("based_on"). A coordinator approves it (merged into the event) or rejects
it (the reason kept in `change_note`, shown on the edit page).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from mapapp.events import (
    CATEGORIES,
    FIELDS,
    FORMATS,
    LOCATION_PRECISIONS,
    field_label,
)
from mapapp.i18n import _, country_name, language_name
from mapapp.storage import utc_now

CHANGE_FIELD = "pending_change"
NOTE_FIELD = "change_note"
PUBLISHED_STATUS = "approved"
# Readable values of the fields that hold codes, for the coordinator's diff (translated there).
CODE_LABELS: dict[str, Mapping[str, str]] = {
    "category": CATEGORIES,
    "format": FORMATS,
    "location_precision": LOCATION_PRECISIONS,
}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposal:
    """An organiser's waiting change: the fields it changes, when it came, the version it saw."""

    fields: dict[str, str]
    at: str
    based_on: str


@dataclass(frozen=True)
class FieldChange:
    """One field of a waiting change, as the coordinator reads it: before and after."""

    name: str
    label: str
    before: str
    after: str


def encode(fields: Mapping[str, str], *, based_on: str) -> str:
    """Return the stored form of a waiting change (ASCII JSON: text normalisation leaves it be)."""
    document = {"fields": dict(fields), "at": utc_now(), "based_on": based_on}
    return json.dumps(document, ensure_ascii=True, sort_keys=True)


def proposal_of(event: Mapping[str, str]) -> Proposal | None:
    """Return an event's waiting change, or None when none waits (or it cannot be read)."""
    raw = event.get(CHANGE_FIELD, "")
    if not raw:
        return None
    try:
        document = json.loads(raw)
        fields = {
            str(name): str(value)
            for name, value in document["fields"].items()
            if name in FIELDS  # a hand edit may name others: never merged
        }
        return Proposal(fields, str(document.get("at", "")), str(document.get("based_on", "")))
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("Event %s: its waiting change cannot be read; it is ignored", event.get("id"))
        return None


def is_waiting(event: Mapping[str, str]) -> bool:
    """Return whether a published event has an organiser's change waiting for review."""
    return event.get("status") == PUBLISHED_STATUS and proposal_of(event) is not None


def proposed(event: Mapping[str, str]) -> dict[str, str]:
    """Return the event as its organiser last sent it: with the waiting change, if any, applied."""
    proposal = proposal_of(event)
    return {**event, **proposal.fields} if proposal else dict(event)


def changed_fields(
    current: Mapping[str, str], values: Mapping[str, str], names: Iterable[str]
) -> dict[str, str]:
    """Return the named fields whose value differs from the event's."""
    return {name: values[name] for name in names if values[name] != current.get(name, "")}


def changes_of(event: Mapping[str, str]) -> list[FieldChange]:
    """Return the waiting change of an event as before/after pairs, in field order."""
    proposal = proposal_of(event)
    if proposal is None:
        return []
    return [
        FieldChange(
            name,
            field_label(name),
            readable(name, event.get(name, "")),
            readable(name, proposal.fields[name]),
        )
        for name in FIELDS
        if name in proposal.fields and proposal.fields[name] != event.get(name, "")
    ]


def readable(name: str, value: str) -> str:
    """Return a stored value as a person reads it: a category's, format's or country's name.

    In the interface language; the values the organiser wrote stay as they are.
    """
    if not value:
        return ""
    if name in CODE_LABELS:
        label = CODE_LABELS[name].get(value)
        return _(label) if label is not None else value
    if name == "country":
        return country_name(value)
    if name == "language":
        return language_name(value)
    if name in {"starts_at", "ends_at"}:
        return value.replace("T", " ")
    return value


def waiting_events(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Return the published events with a change waiting, the longest waiting first."""
    if CHANGE_FIELD not in frame.columns:
        return []
    rows = frame[(frame["status"] == PUBLISHED_STATUS) & (frame[CHANGE_FIELD] != "")]
    events: list[dict[str, str]] = [
        {str(name): str(value) for name, value in row.items()} for row in rows.to_dict("records")
    ]
    waiting = [(proposal, event) for event in events if (proposal := proposal_of(event))]
    waiting.sort(key=lambda pair: pair[0].at)
    return [event for _proposal, event in waiting]
