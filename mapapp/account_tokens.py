"""One-time links for accounts: invitations (7 days) and password resets (1 hour).

Only the SHA-256 of a link's token is kept, in data/account_tokens.csv, so a copy of the file
opens nothing. A token is used by deleting its row under the table's lock: of two requests with
the same link, one gets the row and the other finds it gone, so a link works once. Expired rows
are removed by later writes. The flows that send and use these links are in mapapp.invitations.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask

from mapapp.events import UTC_TIME_FORMAT
from mapapp.storage import Table, add_table, get_table

TOKENS_FILE = "account_tokens.csv"
COLUMNS = ("id", "account", "purpose", "created_at", "expires_at")
INVITE, RESET = "invite", "reset"
LIFETIMES: dict[str, timedelta] = {INVITE: timedelta(days=7), RESET: timedelta(hours=1)}
TOKEN_BYTES = 32


@dataclass(frozen=True)
class Token:
    """A stored one-time link: whose it is, what for, and until when it works."""

    id: str
    account: str
    purpose: str
    expires_at: datetime


def init_app(app: Flask) -> None:
    """Give the app its table of one-time account links."""
    add_table(app, TOKENS_FILE, COLUMNS, key="id")


def now() -> datetime:
    """Return the current UTC time (the one clock of this module, replaced in tests)."""
    return datetime.now(UTC)


def _table() -> Table:
    return get_table(TOKENS_FILE)


def hash_of(token: str) -> str:
    """Return the stored id of a token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create(account: str, purpose: str, *, replace: bool = False) -> str:
    """Store a new link of an account for a purpose and return its token (for the message).

    replace ends the account's other links for the same purpose (a new invitation ends the old).
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    current = now()
    record = {
        "id": hash_of(token),
        "account": account,
        "purpose": purpose,
        "created_at": current.strftime(UTC_TIME_FORMAT),
        "expires_at": (current + LIFETIMES[purpose]).strftime(UTC_TIME_FORMAT),
    }
    table = _table()
    if replace:
        end_all(account, purpose)
    table.append([record])
    _purge(table)
    return token


def find(token: str, purpose: str) -> Token | None:
    """Return the live link of a token for this purpose, or None (unknown, used or expired)."""
    if not token:
        return None
    row = _table().get(hash_of(token))
    if row is None or row["purpose"] != purpose:
        return None
    found = _token_of(row)
    return None if found.expires_at <= now() else found


def use(token: str, purpose: str) -> Token | None:
    """End a live link and return it; None when it is not live or another request used it first."""
    found = find(token, purpose)
    if found is None:
        return None
    return found if _table().delete([found.id]) == 1 else None


def end_all(account: str, purpose: str = "") -> int:
    """End every link of an account (for one purpose, if given); return how many ended."""
    frame = _table().frame()
    chosen = frame["account"] == account
    if purpose:
        chosen &= frame["purpose"] == purpose
    ids = frame.loc[chosen, "id"].tolist()
    return _table().delete(ids) if ids else 0


def pending(account: str, purpose: str) -> bool:
    """Return whether an account has a live link for this purpose."""
    frame = _table().frame()
    rows = frame[(frame["account"] == account) & (frame["purpose"] == purpose)]
    current = now().strftime(UTC_TIME_FORMAT)
    return bool((rows["expires_at"] > current).any())


def _token_of(row: Mapping[str, str]) -> Token:
    try:
        expires = datetime.strptime(row["expires_at"], UTC_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        expires = datetime.min.replace(tzinfo=UTC)  # unreadable: long expired
    return Token(row["id"], row["account"], row["purpose"], expires)


def _purge(table: Table) -> None:
    """Remove the links that have expired."""
    current = now().strftime(UTC_TIME_FORMAT)
    frame = table.frame()
    expired = frame.loc[frame["expires_at"] <= current, "id"].tolist()
    if expired:
        table.delete(expired)
