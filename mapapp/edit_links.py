"""Edit links: sign an organiser's edit token, store its hash, and open the event it names.

Only hashes are stored, so a lost link cannot be shown again: a new one is minted instead. An
event's edit_token_hash holds the hashes of all its valid links, separated by spaces, newest last
(at most MAX_LINKS; minting one more drops the oldest but the first, the link the organiser was
given at submission, so that asking for links for someone else's address cannot end it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, URLSafeSerializer

from mapapp.storage import Store

EDIT_SALT = "mapapp.edit"
EDIT_NONCE_BYTES = 24
MAX_LINKS = 10


def edit_token_hash(token: str) -> str:
    """Return the stored form of an edit token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def make_edit_token(secret_key: str, event_id: str) -> str:
    """Return a new signed, unguessable edit token for an event."""
    serializer = URLSafeSerializer(secret_key, salt=EDIT_SALT)
    return serializer.dumps([event_id, secrets.token_urlsafe(EDIT_NONCE_BYTES)])


def link_hashes(event: dict[str, str]) -> list[str]:
    """Return the hashes of an event's valid edit links, oldest first."""
    return event.get("edit_token_hash", "").split()


def with_new_link(secret_key: str, event: dict[str, str]) -> tuple[str, str]:
    """Return a new edit token for an event and the edit_token_hash value that adds it.

    The caller stores the value (with the event's version, so two mints cannot lose one).
    """
    token = make_edit_token(secret_key, event["id"])
    hashes = [*link_hashes(event), edit_token_hash(token)]
    if len(hashes) > MAX_LINKS:  # the first (sent at submission) stays: others cannot evict it
        hashes = hashes[:1] + hashes[-(MAX_LINKS - 1) :]
    return token, " ".join(hashes)


def only_link(token: str) -> str:
    """Return the edit_token_hash value that keeps this link and revokes every other."""
    return edit_token_hash(token)


def event_for_token(store: Store, secret_key: str, token: str) -> dict[str, str] | None:
    """Return the event an edit token opens, or None if the token is not valid."""
    try:
        event_id, _nonce = URLSafeSerializer(secret_key, salt=EDIT_SALT).loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    event = store.get(str(event_id))
    if event is None:
        return None
    wanted = edit_token_hash(token)
    if not any(hmac.compare_digest(stored, wanted) for stored in link_hashes(event)):
        return None
    return event
