"""Where what hosts share is kept, chosen from the settings: the exports, the API's bodies, turns.

| what | MAPAPP_REDIS_URL set | else MAPAPP_DATABASE_URL set | neither |
|---|---|---|---|
| public exports (`export_cache`) | Redis | PostgreSQL (`mapapp_blobs`) | `<DATA_DIR>/exports` |
| API bodies (`body_store`) | Redis, a memory LRU per worker in front | per worker | per worker |
| the Nominatim turn (`turn`) | Redis | PostgreSQL (`mapapp_turns`) | files in DATA_DIR |

MAPAPP_CACHE_BACKEND (files, redis or postgres) overrides the exports' and bodies' choice: an
operator whose Redis is small keeps the exports in PostgreSQL, say. Turns always use the most
shared server configured, since a turn only works if every host takes it in the same place.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mapapp.config import ConfigError
from mapapp.storage.blobs import Blobs, BlobStore
from mapapp.storage.counters import redis_url
from mapapp.storage.database import database_url
from mapapp.storage.turns import FileTurn, Turn

BACKENDS = ("files", "redis", "postgres")
EXPORT_CACHE_SUBDIRECTORY = "exports"
EXPORTS_PREFIX = "mapapp:exports:"
BODIES_PREFIX = "mapapp:bodies:"
PACKAGE = Path(__file__).resolve().parent.parent


def cache_backend(config: Mapping[str, Any]) -> str:
    """Return where exports are kept: MAPAPP_CACHE_BACKEND, or derived from the servers set."""
    chosen = str(config.get("CACHE_BACKEND") or "").strip().lower()
    redis, database = redis_url(config), database_url(config)
    if not chosen:
        return "redis" if redis else "postgres" if database else "files"
    if chosen not in BACKENDS:
        raise ConfigError(
            f"MAPAPP_CACHE_BACKEND must be one of {', '.join(BACKENDS)} or empty, not {chosen!r}."
        )
    if chosen == "redis" and not redis:
        raise ConfigError("MAPAPP_CACHE_BACKEND is redis, but MAPAPP_REDIS_URL is not set.")
    if chosen == "postgres" and not database:
        raise ConfigError("MAPAPP_CACHE_BACKEND is postgres, but MAPAPP_DATABASE_URL is not set.")
    return chosen


def export_cache(config: Mapping[str, Any]) -> Blobs:
    """Return the cache of public exports the settings choose, bounded by EXPORT_CACHE_BYTES."""
    max_bytes = int(config["EXPORT_CACHE_BYTES"])
    backend = cache_backend(config)
    if backend == "redis":
        from mapapp.storage.redis_shared import RedisBlobs

        return RedisBlobs(redis_url(config), EXPORTS_PREFIX, max_bytes)
    if backend == "postgres":
        from mapapp.storage.pg_shared import PostgresBlobs

        return PostgresBlobs(database_url(config), max_bytes)
    directory = config.get("EXPORT_CACHE_DIR") or (
        Path(config["DATA_DIR"]) / EXPORT_CACHE_SUBDIRECTORY
    )
    return BlobStore(directory, max_bytes)


def body_store(config: Mapping[str, Any]) -> Blobs | None:
    """Return the Redis blobs every host's API bodies share, or None (bodies per worker)."""
    if cache_backend(config) != "redis":
        return None
    from mapapp.storage.redis_shared import RedisBlobs

    return RedisBlobs(redis_url(config), BODIES_PREFIX, int(config["API_CACHE_BYTES"]))


def turn(config: Mapping[str, Any], name: str, lease: float) -> Turn:
    """Return the turn of that name every host takes: in Redis, PostgreSQL or DATA_DIR's files."""
    redis, database = redis_url(config), database_url(config)
    if redis:
        from mapapp.storage.redis_shared import RedisTurn

        return RedisTurn(redis, name, lease)
    if database:
        from mapapp.storage.pg_shared import PostgresTurn

        return PostgresTurn(database, name, lease)
    return FileTurn(config["DATA_DIR"], name, lease)


@functools.cache
def code_fingerprint() -> str:
    """Return a digest of the app's Python code: bodies another release built are not reused.

    Shared bodies outlive a deploy (Redis keeps them), and the same public version may be
    written differently by new code; hosts running the same code share them.
    """
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
