"""E-mail to organisers: a durable outbox in the data directory (the only module that speaks SMTP).

Domain code queues a message with `queue(kind, to, context, event_id=...)`: one row in
outbox.csv, kept until it is sent. What is sent is rendered from templates/mail/<kind>.txt and
.html with the stored context.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

import pandas as pd
from flask import Flask

from mapapp.storage import CsvTable, add_table, get_table, utc_now

OUTBOX_FILE = "outbox.csv"
COLUMNS = (
    "id",
    "created_at",
    "kind",
    "to",
    "event_id",
    "context",
    "message_id",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "sent_at",
)
# The messages the app sends, by kind: each has templates/mail/<kind>.txt and .html.
KINDS: tuple[str, ...] = (
    "submission_received",
    "approved",
    "rejected",
    "change_received",
    "change_approved",
    "change_rejected",
    "withdrawn",
    "edit_links",
    "contact_changed",
)
MESSAGE_ID_BYTES = 18


def init_app(app: Flask) -> None:
    """Give the app its outbox table in the data directory."""
    add_table(app, OUTBOX_FILE, COLUMNS, key="id")


def _outbox() -> CsvTable:
    """Return the current app's outbox table."""
    return get_table(OUTBOX_FILE)


def queue(kind: str, to: str, context: Mapping[str, Any], *, event_id: str = "") -> str:
    """Keep a message in the outbox until it is sent and return its id."""
    if kind not in KINDS:
        raise ValueError(f"No such message: {kind!r}.")
    message_id = secrets.token_urlsafe(MESSAGE_ID_BYTES)
    _outbox().append(
        [
            {
                "id": message_id,
                "created_at": utc_now(),
                "kind": kind,
                "to": to,
                "event_id": event_id,
                "context": json.dumps(dict(context), ensure_ascii=False, sort_keys=True),
                "message_id": "",
                "status": "queued",
                "attempts": "0",
                "next_attempt_at": "",
                "last_error": "",
                "sent_at": "",
            }
        ]
    )
    return message_id


def _about(frame: pd.DataFrame, event_id: str) -> pd.Series:
    """Return which outbox rows are about an event (edit_links names several, space-separated)."""
    return frame["event_id"].map(lambda ids: event_id in str(ids).split())


def queued(event_id: str = "") -> list[dict[str, Any]]:
    """Return the outbox's rows (of one event, if given), oldest first, context decoded."""
    frame = _outbox().frame()
    if event_id:
        frame = frame[_about(frame, event_id)]
    rows: list[dict[str, Any]] = [
        {str(name): value for name, value in row.items()} for row in frame.to_dict("records")
    ]
    for row in rows:
        row["context"] = json.loads(row["context"] or "{}")
    return rows


def forget(event_id: str) -> int:
    """Remove every message about an event from the outbox; return how many went."""
    frame = _outbox().frame()
    ids = frame.loc[_about(frame, event_id), "id"].tolist()
    return _outbox().delete(ids) if ids else 0
