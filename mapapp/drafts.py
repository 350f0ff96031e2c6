"""One-time drafts: the ids of submission drafts already confirmed, kept until they expire.

A draft's id is the nonce of the signed start time the form was shown with, so the form, its
previews and its confirmation share it. Confirming adds the id to a keyed table; the store adds a
key once under its lock, so of two workers confirming the same draft at once only one stores an
event, and an old start time cannot pass the fill-time check again.
"""

from __future__ import annotations

import time

import pandas as pd
from flask import Flask

from mapapp.storage import Table, add_table, get_table

DRAFTS_FILE = "used_drafts.csv"
COLUMNS = ("draft_id", "expires_at")
# Expired ids wait for this many more before they are cut, in one rewrite of the small file.
PURGE_BATCH = 100


def init_app(app: Flask) -> None:
    """Give the app its table of used draft ids in the data directory."""
    add_table(app, DRAFTS_FILE, COLUMNS, key="draft_id")


def _table() -> Table:
    """Return the current app's table of used draft ids."""
    return get_table(DRAFTS_FILE)


def is_used(draft_id: str) -> bool:
    """Return whether a draft was confirmed already."""
    return bool(draft_id) and draft_id in _table()


def use(draft_id: str, lifetime_seconds: float, now: float | None = None) -> bool:
    """Mark a draft used until it could no longer be loaded; return False if it was already."""
    now = time.time() if now is None else now
    table = _table()
    stored = table.append([{"draft_id": draft_id, "expires_at": f"{now + lifetime_seconds:.0f}"}])
    if stored:
        purge_expired(now)
    return bool(stored)


def release(draft_id: str) -> None:
    """Forget that a draft was used: its event could not be stored after all."""
    _table().delete([draft_id])


def purge_expired(now: float | None = None, batch: int = PURGE_BATCH) -> int:
    """Remove the ids whose drafts have expired, once at least batch have; return how many went."""
    now = time.time() if now is None else now
    frame = _table().frame()
    # A time that does not read as a number (a hand edit) counts as expired.
    expires = pd.to_numeric(frame["expires_at"], errors="coerce").fillna(0.0)
    expired = frame.loc[expires < now, "draft_id"].tolist()
    if len(expired) < batch:
        return 0
    return _table().delete(expired)
