"""Edit links: sign an organiser's edit token, store its hash, and open the event it names."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, URLSafeSerializer

from mapapp.storage import EventStore

EDIT_SALT = "mapapp.edit"
EDIT_NONCE_BYTES = 24


def edit_token_hash(token: str) -> str:
    """Return the stored form of an edit token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def make_edit_token(secret_key: str, event_id: str) -> str:
    """Return a new signed, unguessable edit token for an event."""
    serializer = URLSafeSerializer(secret_key, salt=EDIT_SALT)
    return serializer.dumps([event_id, secrets.token_urlsafe(EDIT_NONCE_BYTES)])


def event_for_token(store: EventStore, secret_key: str, token: str) -> dict[str, str] | None:
    """Return the event an edit token opens, or None if the token is not valid."""
    try:
        event_id, _nonce = URLSafeSerializer(secret_key, salt=EDIT_SALT).loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    event = store.get(str(event_id))
    if event is None or not event["edit_token_hash"]:
        return None
    if not hmac.compare_digest(event["edit_token_hash"], edit_token_hash(token)):
        return None
    return event
