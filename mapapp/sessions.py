"""Coordinator sessions kept on the server, so that signing out, or changing an account, ends them.

A sign-in stores a record in data/sessions.csv: the SHA-256 of a random token (the cookie carries
the token, so a copy of the file opens nothing), the coordinator, the account's credential (see
`coordinators.Coordinator.credential`) and when it started. A request's session is live while
its record exists, it is younger than SESSION_MAX_HOURS, and the person was seen within
SESSION_IDLE_MINUTES.

The idle clock is kept in the signed session cookie, not in the file: the table has no per-row
update, and refreshing a "last seen" column would rewrite the whole file (under the store's lock)
from every worker, every few minutes of every coordinator's work, racing against sign-ins. The
cookie is signed with the secret key, so a client cannot move its clock forward; replaying an
older copy only brings the timeout closer. Expired records are removed by later writes (a
sign-in or a sign-out), the absolute lifetime bounding how long an abandoned record stays.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app

from mapapp.config import ConfigError
from mapapp.events import UTC_TIME_FORMAT
from mapapp.storage import StoreUnavailableError, Table, add_table, get_table

SESSIONS_FILE = "sessions.csv"
COLUMNS = ("id", "coordinator", "credential", "created_at")
TOKEN_BYTES = 32
# The idle clock in the cookie moves on only when it is this far behind, so that a coordinator's
# every click does not send a new cookie; the timeout is thus up to this much early.
SEEN_RESOLUTION_SECONDS = 60
DURATION_SETTINGS = ("SESSION_IDLE_MINUTES", "SESSION_MAX_HOURS")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    """A coordinator's signed-in session as the server keeps it."""

    id: str
    coordinator: str
    credential: str
    created_at: datetime


def init_app(app: Flask) -> None:
    """Give the app its table of sessions and check the session durations."""
    for setting in DURATION_SETTINGS:
        value = app.config[setting]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(
                f"MAPAPP_{setting} must be a whole number of at least 1, not {value!r}."
            )
    add_table(app, SESSIONS_FILE, COLUMNS, key="id")


def now() -> datetime:
    """Return the current UTC time (the one clock of this module, replaced in tests)."""
    return datetime.now(UTC)


def stamp() -> int:
    """Return the current time as the idle clock keeps it: whole seconds since the epoch."""
    return int(now().timestamp())


def restamp(last_seen: int) -> int | None:
    """Return a new idle-clock stamp if last_seen is due to move on, else None."""
    current = stamp()
    return current if current - last_seen >= SEEN_RESOLUTION_SECONDS else None


def start(coordinator: str, credential: str) -> str:
    """Store a new session of an account and return its token, for the cookie."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    record = {
        "id": _record_id(token),
        "coordinator": coordinator,
        "credential": credential,
        "created_at": now().strftime(UTC_TIME_FORMAT),
    }
    table = _table()
    table.append([record])
    _delete_quietly(table, [])  # purge what has expired meanwhile
    return token


def find(token: str, last_seen: object) -> Session | None:
    """Return the live session of a token; end it and return None once it has run out.

    last_seen is the idle clock's stamp from the cookie (None or junk counts as long ago).
    """
    if not token:
        return None
    table = _table()
    row = table.get(_record_id(token))
    if row is None:
        return None
    session = _session_of(row)
    current = now()
    idle = timedelta(minutes=int(current_app.config["SESSION_IDLE_MINUTES"]))
    seen = last_seen if isinstance(last_seen, int) and not isinstance(last_seen, bool) else None
    if (
        _expired(session, current)
        or seen is None
        or current.timestamp() - seen > idle.total_seconds()
    ):
        forget(session.id)
        return None
    return session


def end(token: str) -> None:
    """End the session of a token, if it is still stored."""
    _delete(_table(), [_record_id(token)])


def forget(record_id: str) -> None:
    """Remove a session already refused, if the store can write now (refusing needs no write)."""
    _delete_quietly(_table(), [record_id])


def end_all(coordinator: str, *, keep: str = "") -> int:
    """Remove every session of a coordinator but the one of token keep; return how many went.

    Called after the account's credential changed, which refuses those sessions already: when
    the store cannot write now, later writes remove them.
    """
    kept = _record_id(keep) if keep else ""
    table = _table()
    ids = [
        row["id"] for row in _rows(table) if row["coordinator"] == coordinator and row["id"] != kept
    ]
    return _delete_quietly(table, ids)


def list_sessions(coordinator: str = "") -> list[Session]:
    """Return the stored sessions (of one coordinator if named), oldest first."""
    sessions = [_session_of(row) for row in _rows(_table())]
    sessions = [s for s in sessions if not coordinator or s.coordinator == coordinator]
    return sorted(sessions, key=lambda session: session.created_at)


def _table() -> Table:
    """Return the current app's sessions table."""
    return get_table(SESSIONS_FILE)


def _record_id(token: str) -> str:
    """Return the stored id of a token: its SHA-256, so the file alone opens no session."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _session_of(row: dict[str, str]) -> Session:
    """Return a stored row as a Session (a row with an unreadable time counts as long expired)."""
    try:
        created = datetime.strptime(row["created_at"], UTC_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        created = datetime.min.replace(tzinfo=UTC)
    return Session(row["id"], row["coordinator"], row["credential"], created)


def _expired(session: Session, current: datetime) -> bool:
    """Return whether a session has outlived the absolute lifetime."""
    lifetime = timedelta(hours=int(current_app.config["SESSION_MAX_HOURS"]))
    return current - session.created_at > lifetime


def _delete(table: Table, ids: Iterable[str]) -> int:
    """Delete these sessions and every expired one in one write; return how many went."""
    current = now()
    stored = list(map(_session_of, _rows(table)))
    doomed = set(ids) & {session.id for session in stored}
    doomed |= {session.id for session in stored if _expired(session, current)}
    return table.delete(doomed) if doomed else 0


def _delete_quietly(table: Table, ids: Iterable[str]) -> int:
    """Delete like _delete, or log and return 0 when the store cannot write now."""
    try:
        return _delete(table, ids)
    except StoreUnavailableError as exc:
        log.warning("Could not remove ended coordinator sessions (a later write will): %s", exc)
        return 0


def _rows(table: Table) -> list[dict[str, str]]:
    """Return a table's rows as dicts of strings."""
    frame = table.frame()
    return [
        dict(zip(frame.columns, values, strict=True)) for values in frame.itertuples(index=False)
    ]
