"""Moderation: approve, reject, edit and place events, each validated and recorded in the audit log."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mapapp import audit
from mapapp.events import (
    FIELDS,
    MAX_LENGTHS,
    SYSTEM_FIELDS,
    format_coordinate,
    normalise_text,
    validate_event,
)
from mapapp.storage import EventNotFoundError, get_store

# Fields a coordinator may change through the edit form: every field but the system's.
EDITABLE_FIELDS: tuple[str, ...] = tuple(name for name in FIELDS if name not in SYSTEM_FIELDS)
MANUAL_PRECISION = "manual"
COORDINATOR_SOURCE = "coordinator"
STALE_MESSAGE = (
    "Someone changed this event while you were editing it. Your changes were not saved: "
    "look at the event as it is now and make them again."
)

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a moderation action did: the events as stored, or why nothing was saved."""

    events: list[dict[str, str]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Return whether the change was saved."""
        return not self.errors


def approve(event_id: str, who: str) -> Outcome:
    """Approve one event."""
    return bulk_approve([event_id], who)


def bulk_approve(event_ids: Iterable[str], who: str) -> Outcome:
    """Approve several events in one write; if any is invalid, approve none and say which."""
    store = get_store()
    changes_by_id: dict[str, dict[str, str]] = {}
    before: dict[str, dict[str, str]] = {}
    errors: dict[str, str] = {}
    for event_id in dict.fromkeys(event_ids):
        current = before[event_id] = _current(event_id)
        merged, problems = validate_event({**current, "status": "approved"})
        if merged is None:
            errors[event_id] = f"{current['title'] or event_id}: " + " ".join(problems.values())
            continue
        changes = _changed_fields(current, merged)
        if changes:
            changes_by_id[event_id] = changes
    if errors:
        return Outcome(errors=errors)
    if not changes_by_id:
        return Outcome()
    return _save(store.update_many(changes_by_id), changes_by_id, who, "approve", before)


def reject(event_id: str, who: str, reason: str) -> Outcome:
    """Reject an event, keeping the reason in its moderation note."""
    reason = normalise_text(reason, multiline=True)
    if not reason:
        return Outcome(errors={"moderation_note": "Reason: say why the event is rejected."})
    limit = MAX_LENGTHS["moderation_note"]
    if len(reason) > limit:
        return Outcome(errors={"moderation_note": f"Reason: keep it under {limit} characters."})
    return _change(event_id, who, "reject", {"status": "rejected", "moderation_note": reason})


def fingerprint(event: Mapping[str, str]) -> str:
    """Return a short digest of an event's fields, to tell whether it changed since it was read."""
    digest = hashlib.sha256("\x1f".join(event.get(name, "") for name in FIELDS).encode())
    return digest.hexdigest()[:32]


def edit(
    event_id: str, who: str, values: Mapping[str, str], expected_fingerprint: str = ""
) -> Outcome:
    """Change any editable fields of an event, refusing if it changed since the form was shown."""
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    if unknown:
        return Outcome(errors={name: f"{name}: this field cannot be edited." for name in unknown})
    current = _current(event_id)
    if expected_fingerprint and fingerprint(current) != expected_fingerprint:
        return Outcome(errors={"version": STALE_MESSAGE})
    return _change(event_id, who, "edit", values)


def place(event_id: str, who: str, latitude: str, longitude: str) -> Outcome:
    """Put an event where a coordinator clicked, with the time zone of that place."""
    from mapapp.geocoding import timezone_at

    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        lat = lon = math.nan
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return Outcome(errors={"latitude": "Location: click on the map to choose a place."})
    changes = {
        "latitude": format_coordinate(lat),
        "longitude": format_coordinate(lon),
        "location_precision": MANUAL_PRECISION,
        "location_source": COORDINATOR_SOURCE,
    }
    timezone = timezone_at(lat, lon)
    if timezone:
        changes["timezone"] = timezone
    return _change(event_id, who, "place", changes)


def _current(event_id: str) -> dict[str, str]:
    """Return the stored event, or raise EventNotFoundError."""
    event = get_store().get(event_id)
    if event is None:
        raise EventNotFoundError(event_id)
    return event


def _change(event_id: str, who: str, action: str, values: Mapping[str, str]) -> Outcome:
    """Validate an event with new values merged in, then store and audit what changed."""
    current = _current(event_id)
    merged, errors = validate_event({**current, **values})
    if merged is None:
        return Outcome(errors=errors)
    changes = _changed_fields(current, merged)
    if not changes:
        return Outcome(events=[current])
    stored = get_store().update(event_id, changes)
    return _save([stored], {event_id: changes}, who, action, {event_id: current})


def _changed_fields(current: Mapping[str, str], merged: Mapping[str, str]) -> dict[str, str]:
    """Return the editable fields whose validated value differs from the stored one."""
    return {
        name: merged[name]
        for name in EDITABLE_FIELDS
        if name in merged and merged[name] != current.get(name, "")
    }


def _save(
    stored: list[dict[str, str]],
    changes_by_id: Mapping[str, Mapping[str, str]],
    who: str,
    action: str,
    before: Mapping[str, Mapping[str, str]],
) -> Outcome:
    """Record in the audit log what each stored change was."""
    items = []
    for event in stored:
        changes = changes_by_id[event["id"]]
        items.append((who, event["id"], action, audit.diff(before[event["id"]], dict(changes))))
        log.info("Coordinator %s: %s event %s (%s)", who, action, event["id"], ", ".join(changes))
    audit.record_many(items)
    return Outcome(events=stored)
