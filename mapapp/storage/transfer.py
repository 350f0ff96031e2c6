"""Moving a CSV data directory into PostgreSQL and back (`mapapp db import-csv / export-csv`).

An import reads and validates every table's file as the CSV store would (older headers upgraded,
extra columns kept) and loads them all in one transaction, each row with its order and every
event and audit entry with its version. An export writes each table as the CSV store writes
it: the byte-order mark if the file had one, the header with its extra columns, CRLF records
from records.py's encoder, in storage order; a file the CSV store wrote comes back byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from mapapp.storage import VERSION_FIELD, Store, StoreError
from mapapp.storage.csv import DEFAULT_FILE_MODE, UPGRADE_VALUES
from mapapp.storage.pg_events import PgEventStore
from mapapp.storage.pg_schema import MIGRATION_LOCK, metas_of, reachable
from mapapp.storage.postgres import PgTable
from mapapp.storage.records import UTF8_BOM, encode_row, encode_rows, parse


class TransferError(StoreError):
    """A data directory cannot be moved in or out; the message says why."""


@dataclass(frozen=True)
class Moved:
    """One table moved: its file name and how many rows."""

    name: str
    rows: int


def _database(store: Store) -> PgEventStore:
    """Return the store if it is a database, else raise TransferError."""
    if not isinstance(store, PgEventStore):
        raise TransferError(
            "MAPAPP_DATABASE_URL is not set: set it to the PostgreSQL database "
            "(postgresql://user@host/database) to move the data directory in or out."
        )
    return store


def init_database(store: Store) -> list[str]:
    """Create every table the store knows, or add the columns they lack; return their names."""
    database = _database(store)
    for table in database.tables():
        table.create_missing()
    return [table.name for table in database.tables()]


def import_csv(store: Store, directory: str | os.PathLike[str], *, replace: bool) -> list[Moved]:
    """Load every table file of a CSV data directory in one transaction; return what moved.

    A database holding any row is refused unless replace is true; a damaged file is refused
    with its problems named, and nothing is loaded.
    """
    database = _database(store)
    folder = Path(directory)
    if not folder.is_dir():
        raise TransferError(f"{folder} is not a directory.")
    tables = list(database.tables())
    loaded = [(table, *_read(table, folder / table.name)) for table in tables]
    loaded = [item for item in loaded if item[1] is not None]
    if not loaded:
        known = ", ".join(table.name for table in tables)
        raise TransferError(f"{folder} holds none of the tables ({known}).")
    for table in tables:
        table.create_missing()
    with reachable(database.url) as connection, connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        metas = metas_of(connection, [table.name for table in tables], lock=True)
        if not replace:
            full = [table.name for table in tables if _has_rows(connection, table)]
            if full:
                raise TransferError(
                    f"The database holds rows already ({', '.join(full)}); nothing was imported. "
                    "Pass --replace to replace them with the files' rows."
                )
        # Events and audit entries keep their versions; the store's counter goes past them all.
        top = max(
            (max(changes, default=0) for table, _h, _r, _b, changes in loaded if changes),
            default=0,
        )
        moved = []
        for table, header, rows, bom, changes in loaded:
            assert header is not None and rows is not None
            meta = metas[table.name]
            meta.change = max(meta.change, top)
            table.load(connection, meta, header, rows, bom=bool(bom), changes=changes)
            moved.append(Moved(table.name, len(rows)))
        for table in tables:  # both counters of the store agree, so numbers are never reused
            if table.name in {database.name, database.audit.name}:
                number = max(metas[database.name].change, metas[database.audit.name].change)
                connection.execute(
                    "UPDATE mapapp_schema SET change = greatest(change, %s) WHERE name = %s",
                    (number, table.name),
                )
    for table in tables:
        table.close()
    return moved


def export_csv(store: Store, directory: str | os.PathLike[str]) -> list[Moved]:
    """Write every table of the database as the CSV store's file in a directory; return them."""
    database = _database(store)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    moved = []
    for table in database.tables():
        table.close()  # read afresh
        frame = table.frame()
        header = table.header
        rows = [[str(value) for value in row] for row in frame.itertuples(index=False)]
        data = b"".join([UTF8_BOM if table._bom else b"", encode_row(header), *encode_rows(rows)])
        _write(folder / table.name, data)
        moved.append(Moved(table.name, len(rows)))
    return moved


def _read(
    table: PgTable, path: Path
) -> tuple[tuple[str, ...] | None, list[list[str]] | None, bool, list[int] | None]:
    """Return a file's header, rows, BOM flag and (for versioned tables) each row's change."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None, False, None
    problems, parsed = parse(data, table.spec)
    damage = [str(problem) for problem in problems if getattr(problem, "damage", True)]
    if damage or parsed is None:
        listed = "\n  ".join(damage or [f"{path} cannot be read."])
        raise TransferError(
            f"{path} needs attention; nothing was imported:\n  {listed}\n"
            "`mapapp check` (with MAPAPP_DATABASE_URL unset) lists and fixes such problems."
        )
    frame = parsed[3]
    older = [str(name) for name in frame.columns]
    for name in table.schema:  # an older header: the new columns as the CSV store adds them
        if name not in frame.columns:
            frame[name] = table.spec.upgrade_values.get(name, UPGRADE_VALUES.get(name, ""))
    header = (*table.schema, *(name for name in older if name not in table.schema))
    frame = frame[list(header)]
    rows = [[str(value) for value in row] for row in frame.itertuples(index=False)]
    changes = None
    if VERSION_FIELD in table.schema:
        at = header.index(VERSION_FIELD)
        changes = [int(row[at]) if row[at].isdigit() else 0 for row in rows]
    return header, rows, data.startswith(UTF8_BOM), changes


def _has_rows(connection: psycopg.Connection[Any], table: PgTable) -> bool:
    """Return whether a table's relation holds any row."""
    from psycopg import sql

    found = connection.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table.relation))
    ).fetchone()
    return bool(found and found[0])


def _write(path: Path, data: bytes) -> None:
    """Put bytes at path atomically, readable by the service alone."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, DEFAULT_FILE_MODE)
    try:
        with open(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def names(moved: Sequence[Moved]) -> str:
    """Return the moved tables for a message: "events.csv (12 rows), …"."""
    return ", ".join(
        f"{item.name} ({item.rows} {'row' if item.rows == 1 else 'rows'})" for item in moved
    )
