"""Organisers' edits through their edit link: check, place again if moved, save or withdraw."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mapapp.placing import (
    check_coordinates,
    locate,
    place_event,
    settled_timezone_errors,
    unplaced_timezone,
)
from mapapp.storage import VERSION_FIELD, Audit, ConflictError, EventStore
from mapapp.submission_rules import SUBMITTED_FIELDS
from mapapp.submissions import ORGANISER, Outcome, check_submission

# Fields whose content, when changed through the edit link, sends the event back for review.
CONTENT_FIELDS = SUBMITTED_FIELDS + ("latitude", "longitude")
CHANGED_MESSAGE = (
    "Your event changed since you opened this page (a coordinator may have reviewed it). "
    "Nothing was saved: below is the event as it is now beside what you typed."
)
MISSING_VERSION_MESSAGE = (
    "This form does not say which version of your event you saw, so nothing was saved. "
    "Reload the page and try again."
)


def apply_edit(
    store: EventStore, current: Mapping[str, str], event: Mapping[str, str], version: str
) -> dict[str, str]:
    """Save an organiser's edit of the version they saw; a change of content sends it back to pending.

    Raises ConflictError if the event changed since that version.
    """
    changes = {
        name: event[name] for name in CONTENT_FIELDS + ("location_precision", "location_source")
    }
    changed = any(current[name] != changes[name] for name in CONTENT_FIELDS)
    if not changed:
        return dict(current)
    changes["status"] = "pending"
    return store.update(
        current["id"], changes, expected=version, audit=Audit(ORGANISER, "organiser-edit")
    )


def withdraw_event(store: EventStore, event_id: str, version: str) -> dict[str, str]:
    """Mark an event withdrawn by its organiser, if still at the version they saw.

    Raises ConflictError if it changed since.
    """
    return store.update(
        event_id, {"status": "withdrawn"}, expected=version, audit=Audit(ORGANISER, "withdraw")
    )


def edit_submission(
    store: EventStore, current: Mapping[str, str], data: Mapping[str, Any]
) -> Outcome:
    """Check an organiser's edit, place it again if its address changed, and save it."""
    version = str(data.get("version") or "")
    if not version:
        return Outcome(errors={"version": MISSING_VERSION_MESSAGE})
    if version != current[VERSION_FIELD]:
        return Outcome(errors={"version": CHANGED_MESSAGE}, conflict=dict(current))
    event, errors = check_submission(data, consent=True)
    latitude = str(data.get("latitude") or "").strip()
    longitude = str(data.get("longitude") or "").strip()
    errors.update(check_coordinates(latitude, longitude))
    if errors:
        return Outcome(errors=errors)
    assert event is not None
    moved = (latitude, longitude) != (current["latitude"], current["longitude"])
    address_changed = any(
        event[name] != current[name] for name in ("address", "city", "region", "country")
    )
    if moved:
        placed = place_event(event, [], latitude=latitude, longitude=longitude)
    elif address_changed:
        placed = place_event(event, locate(event).candidates)
    else:
        placed = {
            **event,
            **{
                name: current[name]
                for name in ("latitude", "longitude", "location_precision", "location_source")
            },
            # A placed event keeps its place's zone; one without a place takes the zone chosen.
            "timezone": (current["latitude"] and current["timezone"]) or unplaced_timezone(event),
        }
    if errors := settled_timezone_errors(placed, event["timezone"]):
        return Outcome(errors=errors)
    try:
        stored = apply_edit(store, current, placed, version)
    except ConflictError as conflict:
        now = conflict.current[current["id"]]
        return Outcome(errors={"version": CHANGED_MESSAGE}, conflict=now)
    return Outcome(event=stored, changed=stored is not None and stored != dict(current))
