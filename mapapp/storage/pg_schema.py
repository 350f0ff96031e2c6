"""The PostgreSQL backend's layout: connections, its own tables, and migrations.

`mapapp_schema` holds a row per table (its header with the extra columns a CSV file carried,
whether that file had a byte-order mark, its change counter, a generation bumped by every
rewrite, the next row position, and the layout version), `mapapp_tombstones` the keys each
change removed. A migration is "create the missing tables and add the missing columns": the
columns are the TableSpecs' (all text), so `mapapp db init` and every app start run it, under an
advisory lock so that two processes starting at once do not race.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import PoolTimeout

from mapapp.storage import StoreUnavailableError
from mapapp.storage.database import CONNECT_TIMEOUT_SECONDS, pool, without_password
from mapapp.storage.validation import TableSpec

SCHEMA_TABLE = "mapapp_schema"
TOMBSTONES_TABLE = "mapapp_tombstones"
# The layout of the tables above and of each table's relation; a database written by a newer
# layout is refused rather than misread.
SCHEMA_VERSION = 1
RELATION_PREFIX = "mapapp_"
EXTRA_PREFIX = "_x"
CONNECTION_WAIT_SECONDS = 10.0  # waiting for a pooled connection; then 503 "busy"
# The value a row gets in a column added by a migration (as the CSV store's upgrade gives it).
UPGRADE_VALUES = {"version": "1"}
# A key for pg_advisory_xact_lock while tables are created or migrated.
MIGRATION_LOCK = 0x6D61706170700001

log = logging.getLogger(__name__)
_probed: set[tuple[int, str]] = set()  # (process, URL) whose server answered once


def relation_name(file_name: str) -> str:
    """Return the relation that keeps a table's rows ("events.csv" -> "mapapp_events")."""
    stem = file_name.rsplit(".", 1)[0].lower()
    return RELATION_PREFIX + re.sub(r"[^a-z0-9_]", "_", stem)


@contextmanager
def reachable(url: str) -> Iterator[psycopg.Connection[Any]]:
    """Lend a pooled connection; a database that cannot be reached raises StoreUnavailableError."""
    try:
        if (os.getpid(), url) not in _probed:
            # Before this process's pool exists (it would retry in the background, logging
            # each attempt), one plain connection: a server that is down says so at once.
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS):
                _probed.add((os.getpid(), url))
        with pool(url).connection(timeout=CONNECTION_WAIT_SECONDS) as connection:
            yield connection
    except psycopg.errors.LockNotAvailable as exc:
        raise StoreUnavailableError("busy", "another writer holds the lock") from exc
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise StoreUnavailableError("read-only", "the database is read-only") from exc
    except (psycopg.errors.DiskFull, psycopg.errors.OutOfMemory) as exc:
        raise StoreUnavailableError("full", str(exc).strip()) from exc
    except PoolTimeout as exc:
        raise StoreUnavailableError(
            "busy", f"the database at {without_password(url)} cannot be reached"
        ) from exc
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise StoreUnavailableError(
            "busy", f"the database at {without_password(url)}: {reason}"
        ) from exc


@dataclass
class Meta:
    """A table's row of mapapp_schema."""

    change: int
    generation: int
    next_position: int
    header: tuple[str, ...]
    bom: bool


def migrate_table(connection: psycopg.Connection[Any], spec: TableSpec, name: str) -> None:
    """Create a table's relation, or add the columns of its spec it lacks (the caller locks)."""
    relation = sql.Identifier(name)
    found = connection.execute(
        sql.SQL("SELECT header, format FROM {} WHERE name = %s").format(
            sql.Identifier(SCHEMA_TABLE)
        ),
        (spec.file_name,),
    ).fetchone()
    if found is not None and int(found[1]) > SCHEMA_VERSION:
        raise StoreUnavailableError(
            "damaged", f"{spec.file_name} was written by a newer mapapp (layout {found[1]})"
        )
    columns = [
        sql.SQL("{} text NOT NULL DEFAULT ''").format(sql.Identifier(name)) for name in spec.columns
    ]
    connection.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ({}, _position bigint NOT NULL, "
            "_change bigint NOT NULL, PRIMARY KEY ({}))"
        ).format(relation, sql.SQL(", ").join(columns), sql.Identifier(spec.key))
    )
    for suffix in ("_position", "_change"):
        connection.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(f"{name}{suffix}"), relation, sql.Identifier(suffix)
            )
        )
    have = {
        str(name)
        for (name,) in connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (name,),
        )
    }
    added = [name for name in spec.columns if name not in have]
    for name in added:
        value = spec.upgrade_values.get(name, UPGRADE_VALUES.get(name, ""))
        connection.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN {} text NOT NULL DEFAULT ''").format(
                relation, sql.Identifier(name)
            )
        )
        if value:
            connection.execute(
                sql.SQL("UPDATE {} SET {} = %s").format(relation, sql.Identifier(name)),
                (value,),
            )
    if found is None:
        connection.execute(
            sql.SQL(
                "INSERT INTO {} (name, relation, header, format) VALUES (%s, %s, %s, %s)"
            ).format(sql.Identifier(SCHEMA_TABLE)),
            (spec.file_name, name, list(spec.columns), SCHEMA_VERSION),
        )
        return
    header = tuple(found[0])
    extras = [name for name in header if name not in spec.columns]
    if added or header[: len(spec.columns)] != spec.columns:
        log.warning("Migrated %s: added %s", name, ", ".join(added) or "nothing")
        connection.execute(
            sql.SQL(
                "UPDATE {} SET header = %s, generation = generation + 1, "
                "change = change + 1, format = %s WHERE name = %s"
            ).format(sql.Identifier(SCHEMA_TABLE)),
            ([*spec.columns, *extras], SCHEMA_VERSION, spec.file_name),
        )


def metas_of(
    connection: psycopg.Connection[Any], names: list[str], *, lock: bool = False
) -> dict[str, Meta]:
    """Return tables' rows of mapapp_schema by name, locked in name order when asked."""
    found = connection.execute(
        sql.SQL(
            "SELECT name, change, generation, next_position, header, bom FROM {} "
            "WHERE name = ANY(%s) ORDER BY name{}"
        ).format(sql.Identifier(SCHEMA_TABLE), sql.SQL(" FOR UPDATE" if lock else "")),
        (names,),
    ).fetchall()
    metas = {
        str(row[0]): Meta(int(row[1]), int(row[2]), int(row[3]), tuple(row[4]), bool(row[5]))
        for row in found
    }
    missing = [name for name in names if name not in metas]
    if missing:
        raise StoreUnavailableError("damaged", f"{', '.join(missing)} missing from {SCHEMA_TABLE}")
    return metas


def ensure_schema_tables(connection: psycopg.Connection[Any]) -> None:
    """Create mapapp_schema and mapapp_tombstones if they are missing (the caller locks)."""
    connection.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, relation text NOT NULL, "
            "header text[] NOT NULL, bom boolean NOT NULL DEFAULT true, "
            "change bigint NOT NULL DEFAULT 0, generation bigint NOT NULL DEFAULT 0, "
            "next_position bigint NOT NULL DEFAULT 0, changed_at timestamptz, "
            "format integer NOT NULL)"
        ).format(sql.Identifier(SCHEMA_TABLE))
    )
    connection.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (name text NOT NULL, key text NOT NULL, "
            "change bigint NOT NULL)"
        ).format(sql.Identifier(TOMBSTONES_TABLE))
    )
    connection.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (name, change)").format(
            sql.Identifier(f"{TOMBSTONES_TABLE}_change"), sql.Identifier(TOMBSTONES_TABLE)
        )
    )
