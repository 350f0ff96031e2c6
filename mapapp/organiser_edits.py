"""Organisers' edits through their edit link: check, place again if moved, save or withdraw."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mapapp import notices, pending_changes
from mapapp.i18n import N_, _
from mapapp.notices import Links
from mapapp.placing import (
    check_coordinates,
    locate,
    place_event,
    settled_timezone_errors,
    unplaced_timezone,
)
from mapapp.storage import VERSION_FIELD, Audit, ConflictError, Store
from mapapp.submission_rules import SUBMITTED_FIELDS
from mapapp.submissions import ORGANISER, Outcome, check_submission

# Fields whose content, when changed through the edit link, is reviewed again.
CONTENT_FIELDS = SUBMITTED_FIELDS + ("latitude", "longitude")
# Marked for the catalog: translate with _() where shown.
CHANGED_MESSAGE = N_(
    "Your event changed since you opened this page (a coordinator may have reviewed it). "
    "Nothing was saved: below is the event as it is now beside what you typed."
)
MISSING_VERSION_MESSAGE = N_(
    "This form does not say which version of your event you saw, so nothing was saved. "
    "Reload the page and try again."
)


# What an edit came to, as edit_result names it.
UNCHANGED, SAVED, WAITING, CANCELLED = "unchanged", "saved", "waiting", "cancelled"
# The fields an edit stores: the content, and how its place was found.
EDITED_FIELDS = CONTENT_FIELDS + ("location_precision", "location_source")


def apply_edit(
    store: Store, current: Mapping[str, str], event: Mapping[str, str], version: str
) -> dict[str, str]:
    """Save an organiser's edit of the version they saw.

    A published event stays as approved: a change of content waits for review in its
    pending_change (replacing any change waiting, or cancelling it when the edit matches the
    approved version). Any other event takes the change at once and goes back to pending.
    Raises ConflictError if the event changed since that version.
    """
    changes = {name: event[name] for name in EDITED_FIELDS}
    if current["status"] == pending_changes.PUBLISHED_STATUS:
        return _request_change(store, current, changes, version)
    changed = any(current[name] != changes[name] for name in CONTENT_FIELDS)
    if not changed:
        return dict(current)
    changes["status"] = "pending"
    changes[pending_changes.CHANGE_FIELD] = ""  # a change left from when it was published
    return store.update(
        current["id"], changes, expected=version, audit=Audit(ORGANISER, "organiser-edit")
    )


def _request_change(
    store: Store, current: Mapping[str, str], changes: Mapping[str, str], version: str
) -> dict[str, str]:
    """Keep a published event's change apart, as a diff against the approved version."""
    diff = pending_changes.changed_fields(current, changes, EDITED_FIELDS)
    if not set(diff) & set(CONTENT_FIELDS):
        diff = {}  # how the same place was found is no change of content
    waiting = pending_changes.proposal_of(current)
    if waiting is not None and diff == waiting.fields:
        return dict(current)  # the same change again
    if not diff:
        if waiting is None:
            return dict(current)
        return store.update(
            current["id"],
            {pending_changes.CHANGE_FIELD: ""},
            expected=version,
            audit=Audit(ORGANISER, "change-cancel"),
            touch=False,  # nothing public changes while a change waits, nor when it goes
        )
    proposal = {
        pending_changes.CHANGE_FIELD: pending_changes.encode(diff, based_on=version),
        pending_changes.NOTE_FIELD: "",  # a reason for an earlier change's rejection is done with
    }
    return store.update(
        current["id"],
        proposal,
        expected=version,
        audit=Audit(ORGANISER, "change-request"),
        touch=False,
    )


def edit_result(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """Return what an edit came to: unchanged, saved (now pending), waiting or cancelled."""
    if dict(after) == dict(before):
        return UNCHANGED
    if pending_changes.is_waiting(after):
        return WAITING
    if after["status"] == pending_changes.PUBLISHED_STATUS:
        return CANCELLED
    return SAVED


def send_notices(before: Mapping[str, str], after: Mapping[str, str], links: Links) -> None:
    """Tell the organiser what their edit came to, and the old address of a new contact.

    A change waiting for review: change_received to the address on file (still the old one), and
    contact_changed to it as well when the change names a new contact address (once per new
    address). A change saved at once: contact_changed to the old address if the contact changed.
    """
    result = edit_result(before, after)
    event_id = after["id"]
    old_address = before["contact_email"]
    if result == WAITING:
        notices.queue_safely(
            lambda: notices.change_received(after, links), "change_received", event_id
        )
        proposed, earlier = pending_changes.proposed(after), pending_changes.proposed(before)
        if proposed["contact_email"] not in {old_address, earlier["contact_email"]}:
            notices.queue_safely(
                lambda: notices.contact_changed(old_address, proposed, links, waiting=True),
                "contact_changed",
                event_id,
            )
    elif result == SAVED and after["contact_email"] != old_address:
        notices.queue_safely(
            lambda: notices.contact_changed(old_address, after, links),
            "contact_changed",
            event_id,
        )


def withdraw_event(store: Store, event_id: str, version: str) -> dict[str, str]:
    """Mark an event withdrawn by its organiser, cancelling any change waiting for review.

    Raises ConflictError if it changed since the version they saw.
    """
    return store.update(
        event_id,
        {"status": "withdrawn", pending_changes.CHANGE_FIELD: ""},
        expected=version,
        audit=Audit(ORGANISER, "withdraw"),
    )


def edit_submission(store: Store, current: Mapping[str, str], data: Mapping[str, Any]) -> Outcome:
    """Check an organiser's edit, place it again if its address changed, and save it."""
    version = str(data.get("version") or "")
    if not version:
        return Outcome(errors={"version": _(MISSING_VERSION_MESSAGE)})
    if version != current[VERSION_FIELD]:
        return Outcome(errors={"version": _(CHANGED_MESSAGE)}, conflict=dict(current))
    event, errors = check_submission(data, consent=True)
    latitude = str(data.get("latitude") or "").strip()
    longitude = str(data.get("longitude") or "").strip()
    errors.update(check_coordinates(latitude, longitude))
    if errors:
        return Outcome(errors=errors)
    assert event is not None
    # The form showed the event as the organiser last sent it: with their waiting change.
    seen = pending_changes.proposed(current)
    moved = (latitude, longitude) != (seen["latitude"], seen["longitude"])
    address_changed = any(
        event[name] != seen[name] for name in ("address", "city", "region", "country")
    )
    if moved:
        placed = place_event(event, [], latitude=latitude, longitude=longitude)
    elif address_changed:
        placed = place_event(event, locate(event).candidates)
    else:
        placed = {
            **event,
            **{
                name: seen[name]
                for name in ("latitude", "longitude", "location_precision", "location_source")
            },
            # A placed event keeps its place's zone; one without a place takes the zone chosen.
            "timezone": (seen["latitude"] and seen["timezone"]) or unplaced_timezone(event),
        }
    if errors := settled_timezone_errors(placed, event["timezone"]):
        return Outcome(errors=errors)
    try:
        stored = apply_edit(store, current, placed, version)
    except ConflictError as conflict:
        now = conflict.current[current["id"]]
        return Outcome(errors={"version": _(CHANGED_MESSAGE)}, conflict=now)
    return Outcome(event=stored, changed=stored is not None and stored != dict(current))
