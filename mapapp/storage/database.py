"""Connections to PostgreSQL (MAPAPP_DATABASE_URL): one pool per process and URL, fork-safe.

gunicorn loads the app before it forks its workers; a connection opened before the fork would
be shared by every worker, so pools are kept per process id and a child opens its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from psycopg import Connection
from psycopg_pool import ConnectionPool

from mapapp.storage import StoreError

SCHEMES = ("postgresql", "postgres")
POOL_MIN = 1
POOL_MAX = 8  # per process: gthread workers run up to THREADS requests at once
CONNECT_TIMEOUT_SECONDS = 10
POOL_TIMEOUT_SECONDS = 30  # waiting for a free connection; then StoreUnavailableError("busy")
LOCK_TIMEOUT = "30s"  # waiting for another writer's row lock; then StoreUnavailableError("busy")

_pools: dict[tuple[int, str], ConnectionPool] = {}
_pools_lock = threading.Lock()


def database_url(config: Mapping[str, Any]) -> str:
    """Return the configured MAPAPP_DATABASE_URL ("" for the CSV store), checked."""
    url = str(config.get("DATABASE_URL") or "").strip()
    if url and urlsplit(url).scheme not in SCHEMES:
        raise StoreError(
            "MAPAPP_DATABASE_URL must be a PostgreSQL address such as "
            f"postgresql://mapapp@localhost/mapapp, not {without_password(url)!r}."
        )
    return url


def without_password(url: str) -> str:
    """Return a database URL fit for logs and messages: its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def pool(url: str) -> ConnectionPool:
    """Return this process's connection pool for a database URL, opening it on first use."""
    key = (os.getpid(), url)
    found = _pools.get(key)
    if found is not None:
        return found
    with _pools_lock:
        found = _pools.get(key)
        if found is None:
            found = ConnectionPool(
                url,
                min_size=POOL_MIN,
                max_size=POOL_MAX,
                timeout=POOL_TIMEOUT_SECONDS,
                kwargs={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "autocommit": True},
                configure=_configure,
                open=True,
                name=f"mapapp-{os.getpid()}",
            )
            _pools[key] = found
        return found


def _configure(connection: Connection[Any]) -> None:
    """Set what every connection of the pool keeps: how long to wait for another's lock."""
    connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")


def close_pools() -> None:
    """Close this process's pools (at exit, and in tests between servers)."""
    with _pools_lock:
        for (pid, url), opened in list(_pools.items()):
            if pid == os.getpid():
                opened.close()
                del _pools[(pid, url)]
