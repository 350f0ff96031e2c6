"""Turns: one holder at a time across processes and hosts, and the earliest next go.

The Nominatim client takes its turn here (one request a second across every host, and waiting
as long as a Retry-After asked). A turn is held for the whole request; while held, the holder
reads how long until the next go may leave and pushes that moment later. Three backends, chosen
by `shared.py`: a lock file and a stamp file in the data directory (one host), Redis (a
`redis.lock.Lock` with a lease, and the next moment in Redis's own clock, read and pushed by Lua
scripts), PostgreSQL (a session advisory lock on a dedicated connection, the next moment in the
`mapapp_turns` table in the server's clock). The shared clocks make hosts whose clocks differ
keep the same spacing.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg
import redis
import redis.lock
from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from psycopg import errors as pg_errors

from mapapp.storage.database import without_password
from mapapp.storage.remote import (
    LOCK_SPACE_TURNS,
    POSTGRES_ERRORS,
    REDIS_ERRORS,
    Outage,
    create_tables,
    postgres_connection,
    redis_client,
)

REDIS_PREFIX = "mapapp:turns:"
# A stamp key outlives the moment it holds by this long, then goes by itself.
STAMP_EXTRA_MS = 60_000
TABLE = "mapapp_turns"
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (name text PRIMARY KEY, next_at double precision NOT NULL)",
)
# KEYS: stamp. Seconds from now (Redis's clock) until the stored moment, as text (Lua numbers
# would come back as integers).
WAIT_SCRIPT = """
local now = redis.call('TIME')
local at = tonumber(redis.call('GET', KEYS[1]) or '0')
return tostring(at - (now[1] + now[2] / 1000000))
"""
# KEYS: stamp; ARGV: seconds. The stored moment becomes at least now + seconds.
PUSH_SCRIPT = """
local now = redis.call('TIME')
local seconds = now[1] + now[2] / 1000000
local at = seconds + tonumber(ARGV[1])
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
if stored > at then at = stored end
local ttl = math.ceil((at - seconds) * 1000) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.6f', at), 'PX', ttl)
return 1
"""


class TurnBusy(RuntimeError):
    """The turn stayed taken by others for longer than the wait allowed."""


class TurnUnavailable(RuntimeError):
    """The server that keeps the turn does not answer: nobody should go meanwhile."""


class Held(ABC):
    """A turn while it is held: how long until the next go, and pushing that later."""

    @abstractmethod
    def wait_seconds(self) -> float:
        """Return the seconds until the next go may leave (0 or less: now)."""

    @abstractmethod
    def not_before(self, seconds: float) -> None:
        """Make the next go leave no earlier than this many seconds from now."""


class Turn(ABC):
    """One holder at a time, across processes (and hosts, for the shared backends)."""

    def __init__(self, name: str, lease: float) -> None:
        self.name = name
        self.lease = lease  # how long a holder may keep it (a dead host's turn frees itself)
        self._thread_lock = threading.Lock()  # threads of a process queue here, not remotely

    @contextmanager
    def hold(self, timeout: float) -> Iterator[Held]:
        """Hold the turn, waiting up to timeout; raise TurnBusy or TurnUnavailable."""
        if not self._thread_lock.acquire(timeout=timeout):
            raise TurnBusy(self.name)
        try:
            with self._hold(timeout) as held:
                yield held
        finally:
            self._thread_lock.release()

    @abstractmethod
    def _hold(self, timeout: float) -> AbstractContextManager[Held]:
        """Hold the backend's lock (the thread lock is held)."""


class FileTurn(Turn):
    """A turn of the processes of one host: `.<name>.lock` and `.<name>-next` in a directory."""

    def __init__(self, directory: str | os.PathLike[str], name: str, lease: float) -> None:
        super().__init__(name, lease)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.stamp = directory / f".{name}-next"
        self.lock_path = directory / f".{name}.lock"

    @contextmanager
    def _hold(self, timeout: float) -> Iterator[Held]:
        lock = FileLock(str(self.lock_path), timeout=timeout, is_singleton=False)
        try:
            lock.acquire()
        except FileLockTimeout as exc:
            raise TurnBusy(self.name) from exc
        try:
            yield _FileHeld(self.stamp)
        finally:
            lock.release()


class _FileHeld(Held):
    def __init__(self, stamp: Path) -> None:
        self.stamp = stamp

    def wait_seconds(self) -> float:
        return self._stored() - time.time()

    def not_before(self, seconds: float) -> None:
        moment = max(self._stored(), time.time() + seconds)
        temporary = self.stamp.with_name(f"{self.stamp.name}.{os.getpid()}.tmp")
        temporary.write_text(f"{moment:.3f}")
        os.replace(temporary, self.stamp)

    def _stored(self) -> float:
        try:
            return float(self.stamp.read_text() or 0)
        except (OSError, ValueError):
            return 0.0


class RedisTurn(Turn):
    """A turn of every host using one Redis server."""

    def __init__(self, url: str, name: str, lease: float) -> None:
        super().__init__(name, lease)
        self.url = url
        self.outage = Outage(
            f"Redis at {without_password(url)} (the {name} turn)", f"no {name} request is sent"
        )

    @contextmanager
    def _hold(self, timeout: float) -> Iterator[Held]:
        if not self.outage.usable():
            raise TurnUnavailable(self.name)
        client = redis_client(self.url)
        lock = redis.lock.Lock(
            client, f"{REDIS_PREFIX}{self.name}:lock", timeout=self.lease, thread_local=False
        )
        try:
            taken = lock.acquire(blocking_timeout=timeout)
        except REDIS_ERRORS as exc:
            self.outage.failed(exc)
            raise TurnUnavailable(self.name) from exc
        if not taken:
            raise TurnBusy(self.name)
        self.outage.answered()
        try:
            yield _RedisHeld(self, client)
        finally:
            try:
                lock.release()
            except REDIS_ERRORS:
                pass  # the lease ran out, or Redis went away: the lock frees itself


class _RedisHeld(Held):
    def __init__(self, turn: RedisTurn, client: redis.Redis) -> None:
        self.turn = turn
        self.client = client
        self.key = f"{REDIS_PREFIX}{turn.name}:next"

    def wait_seconds(self) -> float:
        try:
            return float(self.client.eval(WAIT_SCRIPT, 1, self.key))  # type: ignore[arg-type]
        except REDIS_ERRORS as exc:
            self.turn.outage.failed(exc)
            raise TurnUnavailable(self.turn.name) from exc

    def not_before(self, seconds: float) -> None:
        try:
            self.client.eval(PUSH_SCRIPT, 1, self.key, f"{seconds:.6f}", STAMP_EXTRA_MS)
        except REDIS_ERRORS as exc:
            self.turn.outage.failed(exc)
            raise TurnUnavailable(self.turn.name) from exc


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
                create_tables(self.url, SCHEMA)
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
            yield _PostgresHeld(self, connection)


class _PostgresHeld(Held):
    def __init__(self, turn: PostgresTurn, connection: psycopg.Connection[tuple[object, ...]]):
        self.turn = turn
        self.connection = connection

    def wait_seconds(self) -> float:
        try:
            row = self.connection.execute(
                f"SELECT coalesce((SELECT next_at FROM {TABLE} WHERE name = %s), 0)"
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
                f"INSERT INTO {TABLE} (name, next_at)"
                " VALUES (%s, extract(epoch FROM clock_timestamp())::double precision + %s)"
                f" ON CONFLICT (name) DO UPDATE SET next_at = greatest({TABLE}.next_at,"
                " EXCLUDED.next_at)",
                (self.turn.name, seconds),
            )
        except POSTGRES_ERRORS as exc:
            self.turn.outage.failed(exc)
            raise TurnUnavailable(self.turn.name) from exc
