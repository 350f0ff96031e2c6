"""A way back to one's events: fresh edit links sent by e-mail, and revoking the other links.

Only the hashes of edit links are stored, so a lost link cannot be sent again: recovery mints a
new link for every event stored with the address (the old links keep working) and queues one
message per stored address with them all (mapapp.notices.edit_links). Links are added with the
store's compare-and-swap versions; an event changed meanwhile is read again and retried.

Addresses match trimmed and case-insensitively, the local part included: the message goes to the
address stored with the events, never to the one typed, so a looser match cannot send anyone
links of another mailbox, and "Maria@Example.org" finds what "maria@example.org" submitted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd
from email_validator import EmailNotValidError, validate_email

from mapapp import edit_links, notices
from mapapp.events import MAX_LENGTHS, email_problem
from mapapp.i18n import N_, _, ngettext
from mapapp.storage import (
    VERSION_FIELD,
    Audit,
    ConflictError,
    RowNotFoundError,
    Store,
    per_frame,
)

# Statuses whose events get a fresh link. Withdrawn events are left out: their edit page
# changes nothing (the organiser withdrew them and submits anew to publish again), so a link
# would only show a private record back. Rejected events are kept: their link is how the
# organiser fixes what the coordinator asked for.
RECOVERABLE_STATUSES = frozenset({"pending", "approved", "rejected"})
# Rounds of compare-and-swap when events change while their links are added.
MINT_ATTEMPTS = 5
ORGANISER = "organiser"
RECOVER_ACTION = "edit-links"
REVOKE_ACTION = "revoke-links"
# Marked for the catalog: check_address translates them.
EMPTY_MESSAGE = N_("E-mail address: give the address you used when you submitted your event.")
INVALID_MESSAGE = N_("E-mail address: %(reason)s")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Revoked:
    """What revoking the other links did: the event as stored and how many links stopped."""

    event: dict[str, str]
    count: int


def check_address(raw: str) -> tuple[str, str]:
    """Return a typed address, trimmed, and an error message ("" when it can be used)."""
    address = raw.strip()
    if not address:
        return "", _(EMPTY_MESSAGE)
    limit = MAX_LENGTHS["contact_email"]
    if len(address) > limit:
        return address, ngettext(
            "E-mail address: an address has at most %(num)s character.",
            "E-mail address: an address has at most %(num)s characters.",
            limit,
            num=limit,
        )
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return address, _(INVALID_MESSAGE, reason=email_problem(exc))
    return str(checked.normalized), ""


def address_key(address: str) -> str:
    """Return the form of an address that matching compares: trimmed and case-folded."""
    return address.strip().casefold()


def counting_key(secret_key: str, address: str) -> str:
    """Return what rate limits count an address under: a keyed hash, never the address.

    Counted as matching sees it (normalised as check_address does: "maria@ｅxample.org" is
    maria@example.org), so other spellings of one address share its count.
    """
    normalised, error = check_address(address)
    counted = address_key(normalised if not error else address)
    digest = hmac.new(secret_key.encode(), counted.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


@per_frame
def _address_keys(frame: pd.DataFrame) -> pd.Series:
    """Return every event's contact address as matching compares it, once per store change."""
    return frame["contact_email"].map(address_key)


def events_of(frame: pd.DataFrame, address: str) -> list[dict[str, str]]:
    """Return the stored events whose contact is this address and that a link can still change."""
    wanted = address_key(address)
    rows = frame[(_address_keys(frame) == wanted) & frame["status"].isin(RECOVERABLE_STATUSES)]
    return [{str(name): str(value) for name, value in row.items()} for _, row in rows.iterrows()]


def send_edit_links(store: Store, secret_key: str, address: str, links: notices.Links) -> list[str]:
    """Mint a fresh link for each event of an address and queue one message per stored address.

    Return the messages' ids (none when no event has the address).
    """
    by_address: dict[str, list[str]] = {}
    for event in events_of(store.frame(), address):
        by_address.setdefault(event["contact_email"], []).append(event["id"])
    messages = []
    for stored_address, event_ids in by_address.items():
        minted = mint_links(store, secret_key, event_ids)
        if minted:
            messages.append(notices.edit_links(stored_address, minted, links))
            log.info("Sent new edit links for events %s", ", ".join(e["id"] for e, _ in minted))
    return messages


def mint_links(
    store: Store, secret_key: str, event_ids: Iterable[str]
) -> list[tuple[dict[str, str], str]]:
    """Add a new edit link to each event, all in one change; return each event and its token.

    An event changed since it was read is read again and tried in the next round (at most
    MINT_ATTEMPTS); one withdrawn or erased meanwhile is left out.
    """
    waiting = list(dict.fromkeys(event_ids))
    minted: list[tuple[dict[str, str], str]] = []
    for _attempt in range(MINT_ATTEMPTS):
        current = [store.get(event_id) for event_id in waiting]
        events = [e for e in current if e is not None and e["status"] in RECOVERABLE_STATUSES]
        waiting = [event["id"] for event in events]
        if not events:
            break
        tokens, changes = {}, {}
        for event in events:
            tokens[event["id"]], value = edit_links.with_new_link(secret_key, event)
            changes[event["id"]] = {"edit_token_hash": value}
        try:
            updated = store.update_many(
                changes,
                expected={event["id"]: event[VERSION_FIELD] for event in events},
                audit=Audit(ORGANISER, RECOVER_ACTION),
                skip_stale=True,
            )
        except RowNotFoundError:  # erased since it was read: the next round leaves it out
            continue
        minted += [(row, tokens[row["id"]]) for row in updated.rows]
        waiting = list(updated.stale)
        if not waiting:
            break
    if waiting:
        log.warning("Gave up adding edit links to %s: they kept changing", ", ".join(waiting))
    return minted


def revoke_other_links(store: Store, event: Mapping[str, str], token: str, version: str) -> Revoked:
    """Keep only the link in use for an event seen at a version; the other links stop working.

    Raises ConflictError if the event changed since that version.
    """
    if event[VERSION_FIELD] != version:
        raise ConflictError({event["id"]: event})
    kept = edit_links.only_link(token)
    others = [value for value in edit_links.link_hashes(dict(event)) if value != kept]
    if not others:
        return Revoked(dict(event), 0)
    stored = store.update(
        event["id"],
        {"edit_token_hash": kept},
        expected=version,
        audit=Audit(ORGANISER, REVOKE_ACTION),
    )
    log.info("Event %s: its organiser revoked %d other edit link(s)", event["id"], len(others))
    return Revoked(stored, len(others))
