"""Connections to the shared servers the caches and turns use (Redis, PostgreSQL).

Opened per process (gunicorn forks after loading the app, and a connection inherited through
fork belongs to the parent), each call bounded by a short timeout so that a server that is down
is noticed quickly (`outages.Outage`). Imported only when a server is configured.
"""

from __future__ import annotations

import os
import threading

import psycopg
import redis

from mapapp.storage import database

# Seconds a call waits for Redis (connect, or one answer) before the server counts as down.
REDIS_TIMEOUT_SECONDS = 2.0
# Seconds a call waits for a pooled PostgreSQL connection before the server counts as down.
POSTGRES_TIMEOUT_SECONDS = 2.0
# What counts as "the server is down" (the errors each client raises for it).
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OSError)
POSTGRES_ERRORS: tuple[type[Exception], ...] = (psycopg.Error, OSError)
# PostgreSQL advisory locks of mapapp take two int4 keys: one of these spaces, and a hash.
LOCK_SPACE_BLOBS = 0x6D617062  # "mapb": one export family's render
LOCK_SPACE_DISCARD = 0x6D617064  # "mapd": every render (shared) against a discard (exclusive)
LOCK_SPACE_TURNS = 0x6D617074  # "mapt": one turn (the Nominatim requests)
LOCK_SPACE_TABLES = 0x6D617073  # "maps": (.., 0) creating mapapp's own tables, (.., 1) evicting

_clients: dict[tuple[int, str], redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client(url: str) -> redis.Redis:
    """Return this process's Redis client for a URL (connections made on first use)."""
    key = (os.getpid(), url)
    found = _clients.get(key)
    if found is None:
        with _clients_lock:
            found = _clients.get(key)
            if found is None:
                found = redis.Redis.from_url(
                    url,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                )
                _clients[key] = found
    return found


def postgres_connection(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """Open a dedicated autocommit connection (for a lock held across a long wait or render)."""
    return psycopg.connect(
        url, autocommit=True, connect_timeout=max(1, int(POSTGRES_TIMEOUT_SECONDS))
    )


def create_tables(url: str, statements: tuple[str, ...]) -> None:
    """Create mapapp's own tables if they are missing, one process at a time.

    Two concurrent CREATE TABLE IF NOT EXISTS can both miss the table and one then fails on the
    catalog's unique index, hence the advisory lock.
    """
    with database.pool(url).connection(timeout=POSTGRES_TIMEOUT_SECONDS) as connection:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_SPACE_TABLES,))
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]
