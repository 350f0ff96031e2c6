"""PostgreSQL for what hosts share: blobs (`mapapp_blobs`: the exports), turns (`mapapp_turns`).

One row per family (its version, bytes as bytea, size and last use), so a family keeps its
newest version only. After a write, the least recently used rows beyond the byte bound are
deleted (one eviction at a time, under a transaction's advisory lock, so two hosts never
deadlock on each other's rows). A hit counts as a use at most every TOUCH_SECONDS, to spare the
table an update per download.

`flight(family)` is a session advisory lock on a hash of the family, held on a dedicated
connection (closing it releases the lock, also when the host dies). Every flight also holds a
shared lock that `discard_all` takes exclusively: an erase waits for the renders in flight
(which may have read the data before it) and then deletes every row at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from mapapp.storage import database
from mapapp.storage.blobs import FLIGHT_TIMEOUT_SECONDS, SharedBlobs
from mapapp.storage.database import without_password
from mapapp.storage.outages import Outage
from mapapp.storage.remote import (
    LOCK_SPACE_BLOBS,
    LOCK_SPACE_DISCARD,
    LOCK_SPACE_TABLES,
    LOCK_SPACE_TURNS,
    POSTGRES_ERRORS,
    POSTGRES_TIMEOUT_SECONDS,
    create_tables,
    postgres_connection,
)
from mapapp.storage.turns import Held, Turn, TurnBusy, TurnUnavailable

TABLE = "mapapp_blobs"
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " family text PRIMARY KEY, version text NOT NULL, data bytea NOT NULL,"
    " size bigint NOT NULL, used_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_by_use ON {TABLE} (used_at)",
)
TURNS_TABLE = "mapapp_turns"
TURNS_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TURNS_TABLE} ("
    " name text PRIMARY KEY, next_at double precision NOT NULL)",
)
TOUCH_SECONDS = 10
EVICTION_LOCK = 1  # the second key of (LOCK_SPACE_TABLES, 1)
OPEN = f"""
WITH touched AS (
    UPDATE {TABLE} SET used_at = clock_timestamp()
    WHERE family = %(family)s AND version = %(version)s
      AND used_at < clock_timestamp() - make_interval(secs => {TOUCH_SECONDS})
    RETURNING family
)
SELECT data FROM {TABLE} WHERE family = %(family)s AND version = %(version)s
"""
PUT = f"""
INSERT INTO {TABLE} (family, version, data, size, used_at)
VALUES (%(family)s, %(version)s, %(data)s, %(size)s, clock_timestamp())
ON CONFLICT (family) DO UPDATE SET version = EXCLUDED.version, data = EXCLUDED.data,
    size = EXCLUDED.size, used_at = EXCLUDED.used_at
"""
# The newest rows that fit in the room left beside the row just written stay.
EVICT = f"""
DELETE FROM {TABLE} WHERE family IN (
    SELECT family FROM (
        SELECT family, sum(size) OVER (ORDER BY used_at DESC, family) AS running
        FROM {TABLE} WHERE family <> %(family)s
    ) AS ranked WHERE running > %(room)s
)
"""

log = logging.getLogger(__name__)


def _release(connection: psycopg.Connection[Any]) -> None:
    """Give a dedicated connection's advisory locks back, then close it.

    Closing alone frees them too, but only once the server has noticed the disconnection: a
    host asking right after could still find them taken.
    """
    try:
        connection.execute("SELECT pg_advisory_unlock_all()")
    except POSTGRES_ERRORS:
        pass  # the server went away: so did the locks
    finally:
        connection.close()


class PostgresBlobs(SharedBlobs):
    """Blobs in the mapapp_blobs table, bounded in bytes (least recently used go)."""

    errors = POSTGRES_ERRORS

    def __init__(self, url: str, max_bytes: int) -> None:
        super().__init__(f"PostgreSQL at {database.without_password(url)} ({TABLE})", max_bytes)
        self.url = url
        self._ready = False

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        """Return a pooled connection (a context manager), the table made on first use."""
        if not self._ready:
            create_tables(self.url, SCHEMA)
            self._ready = True
        return database.pool(self.url).connection(timeout=POSTGRES_TIMEOUT_SECONDS)  # type: ignore[return-value]

    def _open(self, family: str, version: str) -> bytes | None:
        with self._connection() as connection:
            row: Any = connection.execute(
                OPEN, {"family": family, "version": version}, binary=True
            ).fetchone()
        return bytes(row[0]) if row else None

    def _exists(self, family: str, version: str) -> bool:
        with self._connection() as connection:
            row = connection.execute(
                f"SELECT 1 FROM {TABLE} WHERE family = %s AND version = %s", (family, version)
            ).fetchone()
        return row is not None

    def _latest(self, family: str) -> tuple[str, bytes] | None:
        with self._connection() as connection:
            row: Any = connection.execute(
                f"SELECT version, data FROM {TABLE} WHERE family = %s", (family,), binary=True
            ).fetchone()
        return (str(row[0]), bytes(row[1])) if row else None

    def _put(self, family: str, version: str, data: bytes) -> None:
        with self._connection() as connection:
            connection.execute(
                PUT, {"family": family, "version": version, "data": data, "size": len(data)}
            )
            with connection.transaction():
                connection.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE_TABLES, EVICTION_LOCK)
                )
                connection.execute(EVICT, {"family": family, "room": self.max_bytes - len(data)})

    def _size(self) -> int:
        with self._connection() as connection:
            row = connection.execute(f"SELECT coalesce(sum(size), 0) FROM {TABLE}").fetchone()
        return int(row[0]) if row else 0  # type: ignore[call-overload]

    def _discard_all(self) -> int:
        if not self._ready:
            create_tables(self.url, SCHEMA)
            self._ready = True
        with postgres_connection(self.url) as connection:
            connection.execute(f"SET lock_timeout = '{FLIGHT_TIMEOUT_SECONDS}s'")
            try:
                connection.execute("SELECT pg_advisory_lock(%s, 0)", (LOCK_SPACE_DISCARD,))
            except pg_errors.LockNotAvailable:
                log.warning("could not wait for the renders in flight; removing the exports anyway")
            removed = connection.execute(f"DELETE FROM {TABLE}").rowcount
            _release(connection)
            return removed

    def _acquire(self, family: str, wait: bool) -> Callable[[], None] | None:
        connection = postgres_connection(self.url)
        try:
            if wait:
                connection.execute(f"SET lock_timeout = '{FLIGHT_TIMEOUT_SECONDS}s'")
                connection.execute("SELECT pg_advisory_lock_shared(%s, 0)", (LOCK_SPACE_DISCARD,))
                connection.execute(
                    "SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_SPACE_BLOBS, family)
                )
                return lambda: _release(connection)
            row = connection.execute(
                "SELECT pg_try_advisory_lock_shared(%s, 0)"
                " AND pg_try_advisory_lock(%s, hashtext(%s))",
                (LOCK_SPACE_DISCARD, LOCK_SPACE_BLOBS, family),
            ).fetchone()
            if row and row[0]:
                return lambda: _release(connection)
        except pg_errors.LockNotAvailable:
            pass
        except BaseException:
            connection.close()
            raise
        connection.close()
        return None


class PostgresTurn(Turn):
    """A turn of every host using one PostgreSQL database."""

    def __init__(self, url: str, name: str, lease: float) -> None:
        super().__init__(name, lease)
        self.url = url
        self.outage = Outage(
            f"PostgreSQL at {without_password(url)} (the {name} turn)",
            f"no {name} request is sent",
        )
        self._ready = False

    @contextmanager
    def _hold(self, timeout: float) -> Iterator[Held]:
        if not self.outage.usable():
            raise TurnUnavailable(self.name)
        try:
            if not self._ready:
                create_tables(self.url, TURNS_SCHEMA)
                self._ready = True
            connection = postgres_connection(self.url)
        except POSTGRES_ERRORS as exc:
            self.outage.failed(exc)
            raise TurnUnavailable(self.name) from exc
        with connection:
            try:
                # A holder that dies frees the lock with its connection: no lease needed.
                connection.execute(f"SET lock_timeout = '{int(timeout * 1000)}ms'")
                connection.execute(
                    "SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_SPACE_TURNS, self.name)
                )
            except pg_errors.LockNotAvailable as exc:
                raise TurnBusy(self.name) from exc
            except POSTGRES_ERRORS as exc:
                self.outage.failed(exc)
                raise TurnUnavailable(self.name) from exc
            self.outage.answered()
            try:
                yield _PostgresHeld(self, connection)
            finally:
                _release(connection)


class _PostgresHeld(Held):
    def __init__(self, turn: PostgresTurn, connection: psycopg.Connection[tuple[object, ...]]):
        self.turn = turn
        self.connection = connection

    def wait_seconds(self) -> float:
        try:
            row = self.connection.execute(
                f"SELECT coalesce((SELECT next_at FROM {TURNS_TABLE} WHERE name = %s), 0)"
                " - extract(epoch FROM clock_timestamp())::double precision",
                (self.turn.name,),
            ).fetchone()
        except POSTGRES_ERRORS as exc:
            self.turn.outage.failed(exc)
            raise TurnUnavailable(self.turn.name) from exc
        return float(row[0]) if row else 0.0  # type: ignore[arg-type]

    def not_before(self, seconds: float) -> None:
        try:
            self.connection.execute(
                f"INSERT INTO {TURNS_TABLE} (name, next_at)"
                " VALUES (%s, extract(epoch FROM clock_timestamp())::double precision + %s)"
                f" ON CONFLICT (name) DO UPDATE SET next_at = greatest({TURNS_TABLE}.next_at,"
                " EXCLUDED.next_at)",
                (self.turn.name, seconds),
            )
        except POSTGRES_ERRORS as exc:
            self.turn.outage.failed(exc)
            raise TurnUnavailable(self.turn.name) from exc
