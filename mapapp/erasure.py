"""A coordinator's erase: an event and its personal data removed everywhere the app keeps them.

The store removes the event's row and the values of its audit entries in one change, audited as
"erase" without the data (Store.erase); the outbox forgets its messages (and their .eml
files); the public exports kept (on disk, in Redis or in PostgreSQL, for every host) are
discarded, stale copies included, since they may hold the event. The geocoder's cache is left as it is: it holds places searched for (address, town,
country and the coordinates found), tied to no event, organiser or e-mail. Copies set aside in
recovered/ and backups/ are named for a person to deal with, never edited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from mapapp import mail
from mapapp.access import ScopedEvents
from mapapp.storage.blobs import Blobs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Erased:
    """What an erase removed, and the set-aside copies that still hold the event."""

    event: dict[str, str]
    messages: int
    exports: int
    copies: list[Path] = field(default_factory=list)


def erase_event(
    store: ScopedEvents,
    exports: Blobs,
    event_id: str,
    who: str,
    *,
    bodies: Blobs | None = None,
) -> Erased:
    """Erase an event, its audit values, its messages and every kept export; say what went.

    bodies are the API's bodies every host shares (Redis), discarded too: they outlive a
    worker's memory. Raises RowNotFoundError for an id that is not stored.
    """
    event = store.erase(event_id, who=who)
    messages = mail.forget(event_id)
    discarded = exports.discard_all()
    if bodies is not None:
        bodies.discard_all()
    copies = store.copies_holding([event_id, event["contact_email"]])
    log.info(
        "Coordinator %s erased event %s (%d message(s), %d export(s))",
        who,
        event_id,
        messages,
        discarded,
    )
    if copies:
        log.warning(
            "Event %s is erased, but set-aside copies still hold it: %s",
            event_id,
            ", ".join(map(str, copies)),
        )
    return Erased(event, messages, discarded, copies)
