"""Moderation: approve, reject, edit and place events, each validated, version-checked and audited.

Every action carries the version of the event the coordinator saw. The store checks it under its
lock, so of two coordinators saving the same event at once exactly one wins; the other is shown
the event as it is now beside what they typed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from mapapp import access, edit_links, notices, pending_changes, placing
from mapapp.edit_links import with_new_link
from mapapp.events import (
    FIELDS,
    MAX_LENGTHS,
    SYSTEM_FIELDS,
    format_coordinate,
    normalise_text,
    validate_event,
)
from mapapp.i18n import N_, _, ngettext
from mapapp.notices import Links
from mapapp.storage import (
    VERSION_FIELD,
    Audit,
    ConflictError,
)

# Fields a coordinator may change through the edit form: every field but the system's.
EDITABLE_FIELDS: tuple[str, ...] = tuple(name for name in FIELDS if name not in SYSTEM_FIELDS)
MANUAL_PRECISION = "manual"
COORDINATOR_SOURCE = "coordinator"
# The messages an Outcome carries are translated when it is made (English outside a request).
STALE_MESSAGE = N_(
    "Someone changed this event while you were looking at it. Nothing was saved: compare the "
    "event as it is now with what you sent, then save again."
)
MISSING_VERSION_MESSAGE = N_(
    "This form does not say which version of the event you saw, so nothing was saved. "
    "Reload the page and try again."
)
REJECT_REASON_MESSAGE = N_("Reason: say why the event is rejected.")
# Translators: keep Europe/Paris: it is the name of a time zone.
NO_TIMEZONE_MESSAGE = N_(
    "Time zone: give the time zone the event's times are in, such as Europe/Paris."
)
PLACE_MESSAGE = N_("Location: click on the map to choose a place.")

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a moderation action did: the events as stored, or why nothing was saved.

    conflict holds, by id, the events that changed since the coordinator saw them, as they are.
    """

    events: list[dict[str, str]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    conflict: dict[str, dict[str, str]] = field(default_factory=dict)
    # The ids of the events whose status the action changed (say, pending to approved).
    status_changed: list[str] = field(default_factory=list)
    # A fresh edit link minted and stored with the change (a rejection's, for its message).
    edit_token: str = ""
    # The same for each event a bulk rejection stored, by id.
    edit_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Return whether every change was saved."""
        return not self.errors and not self.conflict


def _missing_version(event_ids: list[str] | None = None) -> Outcome:
    """Return the outcome of a form that did not say the version it showed (of these events)."""
    message = _(MISSING_VERSION_MESSAGE)
    return Outcome(errors={event_id: message for event_id in (event_ids or ["version"])})


def _stale(conflict: dict[str, dict[str, str]]) -> Outcome:
    """Return the outcome of a save refused because the event changed since it was shown."""
    return Outcome(errors={"version": _(STALE_MESSAGE)}, conflict=conflict)


def _invalid(event_id: str, current: Mapping[str, str], problems: Mapping[str, str]) -> str:
    """Return why one event of a bulk action cannot be stored: its title, then every problem."""
    # Translators: %(title)s is an event's title (or id), %(problems)s the sentences saying why.
    return _(
        "%(title)s: %(problems)s",
        title=current["title"] or event_id,
        problems=" ".join(problems.values()),
    )


def approve(event_id: str, who: str, version: str) -> Outcome:
    """Approve one event, as it was at the version the coordinator saw."""
    if not version:
        return _missing_version()
    return bulk_approve({event_id: version}, who)


def bulk_approve(versions: Mapping[str, str], who: str) -> Outcome:
    """Approve the events still as they were seen; list the ones changed since in conflict.

    If any seen event is invalid, approve none and say which.
    """
    if missing := [event_id for event_id, version in versions.items() if not version]:
        return _missing_version(missing)
    changes_by_id: dict[str, dict[str, str]] = {}
    errors: dict[str, str] = {}
    conflict: dict[str, dict[str, str]] = {}
    for event_id, version in versions.items():
        current = _current(event_id)
        if current[VERSION_FIELD] != version:
            conflict[event_id] = current
            continue
        merged, problems = validate_event({**current, "status": "approved"})
        if merged is None:
            errors[event_id] = _invalid(event_id, current, problems)
            continue
        changes_by_id[event_id] = _changed_fields(current, merged)
    if errors:
        return Outcome(errors=errors)
    if not changes_by_id:
        return Outcome(conflict=conflict)
    updated = access.events().update_many(
        changes_by_id,
        expected={event_id: versions[event_id] for event_id in changes_by_id},
        audit=Audit(who, "approve"),
        skip_stale=True,
    )
    _log(who, "approve", updated.rows)
    newly = [row["id"] for row in updated.rows if "status" in changes_by_id.get(row["id"], {})]
    return Outcome(
        events=updated.rows, conflict={**conflict, **updated.stale}, status_changed=newly
    )


def reject(event_id: str, who: str, reason: str, version: str, *, secret_key: str = "") -> Outcome:
    """Reject an event, keeping the reason in its moderation note.

    With secret_key, a fresh edit link is minted and stored in the same version-checked change,
    so the organiser's message can carry a link that works (Outcome.edit_token).
    """
    reason = normalise_text(reason, multiline=True)
    if problem := _reason_problem(reason):
        return Outcome(errors={"moderation_note": problem})
    changes = {"status": "rejected", "moderation_note": reason}
    if not secret_key:
        return _change(event_id, who, "reject", changes, version)
    # Minted from the event as it is now: stored only if that is still the version seen.
    token, hashes = with_new_link(secret_key, _current(event_id))
    outcome = _change(event_id, who, "reject", changes, version, system={"edit_token_hash": hashes})
    if outcome.ok and outcome.events:
        outcome.edit_token = token
    return outcome


def bulk_reject(versions: Mapping[str, str], who: str, reason: str, secret_key: str) -> Outcome:
    """Reject the events still as they were seen, all with one reason; list the changed in conflict.

    Each rejected event gets a fresh edit link, minted from it as it is now and stored in the
    same version-checked change (Outcome.edit_tokens, by id), for its organiser's message. If
    any seen event cannot be stored as rejected, none is, and the message says which.
    """
    reason = normalise_text(reason, multiline=True)
    if problem := _reason_problem(reason):
        return Outcome(errors={"moderation_note": problem})
    if missing := [event_id for event_id, version in versions.items() if not version]:
        return _missing_version(missing)
    changes_by_id: dict[str, dict[str, str]] = {}
    tokens: dict[str, str] = {}
    errors: dict[str, str] = {}
    conflict: dict[str, dict[str, str]] = {}
    for event_id, version in versions.items():
        current = _current(event_id)
        if current[VERSION_FIELD] != version:
            conflict[event_id] = current
            continue
        changes = {"status": "rejected", "moderation_note": reason}
        merged, problems = validate_event({**current, **changes})
        if merged is None:
            errors[event_id] = _invalid(event_id, current, problems)
            continue
        token, hashes = with_new_link(secret_key, current)
        tokens[event_id] = token
        changes_by_id[event_id] = _changed_fields(current, merged) | {"edit_token_hash": hashes}
    if errors:
        return Outcome(errors=errors)
    if not changes_by_id:
        return Outcome(conflict=conflict)
    updated = access.events().update_many(
        changes_by_id,
        expected={event_id: versions[event_id] for event_id in changes_by_id},
        audit=Audit(who, "reject"),
        skip_stale=True,
    )
    _log(who, "reject", updated.rows)
    stored = [row["id"] for row in updated.rows]
    return Outcome(
        events=updated.rows,
        conflict={**conflict, **updated.stale},
        status_changed=[event_id for event_id in stored if "status" in changes_by_id[event_id]],
        edit_tokens={event_id: tokens[event_id] for event_id in stored},
    )


def _reason_problem(reason: str) -> str:
    """Return what is wrong with a rejection's reason (normalised), or ''."""
    if not reason:
        return _(REJECT_REASON_MESSAGE)
    limit = MAX_LENGTHS["moderation_note"]
    if len(reason) > limit:
        return _reason_too_long(limit)
    return ""


def _reason_too_long(limit: int) -> str:
    """Return the error for a reason longer than its limit."""
    return ngettext(
        "Reason: keep it under %(num)s character.",
        "Reason: keep it under %(num)s characters.",
        limit,
        num=limit,
    )


def edit(event_id: str, who: str, values: Mapping[str, str], version: str) -> Outcome:
    """Change any editable fields of an event, refusing if it changed since the form was shown."""
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    if unknown:
        # Translators: %(name)s is a field's name as stored (such as "edit_token_hash").
        message = N_("%(name)s: this field cannot be edited.")
        return Outcome(errors={name: _(message, name=name) for name in unknown})
    if "timezone" in values and not normalise_text(values["timezone"]):
        return Outcome(errors={"timezone": _(NO_TIMEZONE_MESSAGE)})
    return _change(event_id, who, "edit", values, version)


def place(event_id: str, who: str, latitude: str, longitude: str, version: str) -> Outcome:
    """Put an event where a coordinator clicked, with the time zone of that place."""
    from mapapp.geocoding import timezone_at

    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        lat = lon = math.nan
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return Outcome(errors={"latitude": _(PLACE_MESSAGE)})
    changes = {
        "latitude": format_coordinate(lat),
        "longitude": format_coordinate(lon),
        "location_precision": MANUAL_PRECISION,
        "location_source": COORDINATOR_SOURCE,
    }
    timezone = timezone_at(lat, lon)
    if timezone:
        changes["timezone"] = timezone
    return _change(event_id, who, "place", changes, version)


def _current(event_id: str) -> dict[str, str]:
    """Return an event to change: EventNotFoundError outside the scope, NotAllowed for viewers."""
    return access.events().require_changeable(event_id)


def _change(
    event_id: str,
    who: str,
    action: str,
    values: Mapping[str, str],
    version: str,
    system: Mapping[str, str] | None = None,
) -> Outcome:
    """Validate an event with new values merged in, then store and audit what changed.

    system holds values of system fields (an edit link's hashes) stored with the change as given.
    """
    if not version:
        return _missing_version()
    current = _current(event_id)
    if current[VERSION_FIELD] != version:
        return _stale({event_id: current})
    merged, errors = validate_event({**current, **values})
    if merged is None:
        return Outcome(errors=errors)
    changes = _changed_fields(current, merged) | dict(system or {})
    if not changes:
        return Outcome(events=[current])
    try:
        stored = access.events().update(
            event_id, changes, expected=version, audit=Audit(who, action)
        )
    except ConflictError as conflict:
        return _stale(conflict.current)
    except access.OutOfScope as refused:
        return Outcome(errors={refused.field: str(refused)})
    _log(who, action, [stored])
    status_changed = [event_id] if stored["status"] != current["status"] else []
    return Outcome(events=[stored], status_changed=status_changed)


def _changed_fields(current: Mapping[str, str], merged: Mapping[str, str]) -> dict[str, str]:
    """Return the editable fields whose validated value differs from the stored one."""
    return {
        name: merged[name]
        for name in EDITABLE_FIELDS
        if name in merged and merged[name] != current.get(name, "")
    }


def _log(who: str, action: str, events: list[dict[str, str]]) -> None:
    """Say in the log what a coordinator did to which events."""
    for event in events:
        log.info(
            "Coordinator %s: %s event %s (version %s)",
            who,
            action,
            event["id"],
            event[VERSION_FIELD],
        )


# Organisers' changes of published events, waiting for review (see mapapp.pending_changes)

NO_CHANGE_MESSAGE = N_(
    "No change of this event is waiting for review: it may have been withdrawn, cancelled or "
    "reviewed meanwhile. Nothing was saved."
)
CHANGE_REASON_MESSAGE = N_("Reason: say why the change is not accepted.")
PLACE_FIELDS = ("address", "city", "region", "country", "latitude", "longitude")


def approve_change(event_id: str, who: str, version: str, links: Links) -> Outcome:
    """Merge an organiser's waiting change into the published event, as the coordinator saw it.

    If the change moves the event, it is placed again (and given the zone of its new place)
    when the organiser's edit did not place it. Tells the organiser.
    """
    if not version:
        return _missing_version()
    current = _current(event_id)
    if current[VERSION_FIELD] != version:
        return _stale({event_id: current})
    proposal = pending_changes.proposal_of(current)
    if proposal is None or not pending_changes.is_waiting(current):
        return Outcome(errors={"pending_change": _(NO_CHANGE_MESSAGE)})
    merged, errors = validate_event(_placed_again(current, {**current, **proposal.fields}))
    if merged is None:
        return Outcome(errors=errors)
    changes = {
        **_changed_fields(current, merged),
        pending_changes.CHANGE_FIELD: "",
        pending_changes.NOTE_FIELD: "",
    }
    try:
        stored = access.events().update(
            event_id, changes, expected=version, audit=Audit(who, "approve-change")
        )
    except ConflictError as conflict:
        return _stale(conflict.current)
    except access.OutOfScope as refused:
        return Outcome(errors={refused.field: str(refused)})
    _log(who, "approve the change of", [stored])
    notices.queue_safely(
        lambda: notices.change_approved(stored, links), "change_approved", event_id
    )
    return Outcome(events=[stored])


def reject_change(
    event_id: str, who: str, reason: str, version: str, secret_key: str, links: Links
) -> Outcome:
    """Drop an organiser's waiting change, keeping the reason; the event stays as published.

    A fresh edit link is stored with the rejection (in the same update) and sent with the reason.
    """
    reason = normalise_text(reason, multiline=True)
    if not reason:
        return Outcome(errors={pending_changes.NOTE_FIELD: _(CHANGE_REASON_MESSAGE)})
    limit = MAX_LENGTHS[pending_changes.NOTE_FIELD]
    if len(reason) > limit:
        return Outcome(errors={pending_changes.NOTE_FIELD: _reason_too_long(limit)})
    if not version:
        return _missing_version()
    current = _current(event_id)
    if current[VERSION_FIELD] != version:
        return _stale({event_id: current})
    if not pending_changes.is_waiting(current):
        return Outcome(errors={"pending_change": _(NO_CHANGE_MESSAGE)})
    token, hashes = edit_links.with_new_link(secret_key, current)
    changes = {
        pending_changes.CHANGE_FIELD: "",
        pending_changes.NOTE_FIELD: reason,
        "edit_token_hash": hashes,
    }
    try:
        stored = access.events().update(
            event_id, changes, expected=version, audit=Audit(who, "reject-change"), touch=False
        )
    except ConflictError as conflict:
        return _stale(conflict.current)
    _log(who, "reject the change of", [stored])
    notices.queue_safely(
        lambda: notices.change_rejected(stored, reason, token, links), "change_rejected", event_id
    )
    return Outcome(events=[stored])


def _placed_again(current: Mapping[str, str], merged: dict[str, str]) -> dict[str, str]:
    """Return a merged change placed again when it moves the event and was not placed itself."""
    if all(merged[name] == current[name] for name in PLACE_FIELDS):
        return merged
    if merged["latitude"] and merged["longitude"]:
        if not merged["timezone"]:
            from mapapp.geocoding import timezone_at

            latitude, longitude = float(merged["latitude"]), float(merged["longitude"])
            merged["timezone"] = timezone_at(latitude, longitude) or ""
        return merged
    located = placing.locate(merged)
    if not located.candidates:
        return merged  # not found now either: the coordinator can place it on the map
    return placing.place_event(merged, located.candidates)
