"""The PostgreSQL backend's tables: the same rows as the CSV files, kept in one database.

Each table is one relation of text columns (the TableSpec's columns, then `_x0`, `_x1`, … for the
extra columns a CSV file carried at the end of its header) plus `_position` (storage order:
appends go last, a rewrite renumbers) and `_change` (the number of the change that last wrote
the row, indexed). `mapapp_schema` holds a row per table: its header, whether its file had a
byte-order mark, its change counter, a generation bumped by every rewrite, and the next position.
`mapapp_tombstones` lists the keys each change removed.

Every write is one transaction that first locks the table's `mapapp_schema` row (so change
numbers are taken, and committed, in order, and two hosts deciding from the same rows take
turns). Every process keeps the table as a pandas frame: a read costs one small SELECT of that
row; when the counter moved, the rows with a larger `_change` and the tombstones are fetched and
patched into a NEW frame (the one handed out is never changed); a new generation is read whole
with COPY. So a change made through any host is seen by the next read on every host.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from mapapp.storage import StoreUnavailableError, refuse_nul
from mapapp.storage.pg_schema import (
    EXTRA_PREFIX,
    MIGRATION_LOCK,
    SCHEMA_TABLE,
    TOMBSTONES_TABLE,
    Meta,
    ensure_schema_tables,
    metas_of,
    migrate_table,
    reachable,
    relation_name,
)
from mapapp.storage.records import frame_of
from mapapp.storage.validation import Problem, TableSpec

# Up to how many changed rows (or a tenth of the rows) are patched into the frame rather than
# the table read whole.
PATCH_ROWS = 2000
# How many changes a table's tombstones are kept for: a process whose rows are older than that
# reads the table whole (so deleting keeps the tombstones table small).
TOMBSTONE_CHANGES = 10_000

log = logging.getLogger(__name__)


class PgTable:
    """A table of string rows with a unique key, kept in PostgreSQL (the CSV table's surface)."""

    def __init__(self, url: str, columns: Iterable[str] | TableSpec, key: str = "") -> None:
        self.url = url
        if isinstance(columns, TableSpec):
            self.spec = columns
        else:
            self.spec = TableSpec(file_name=f"{key}.csv", columns=tuple(columns), key=key)
        self.schema = self.spec.columns
        self.key = self.spec.key
        self.name = self.spec.file_name
        self.relation = relation_name(self.name)
        self._lock = threading.RLock()
        self._ready = False
        self._frame = frame_of([], self.schema)
        self._header: tuple[str, ...] = self.schema
        self._bom = True
        self._index: dict[str, int] = {}  # key -> row number in the frame
        self._where: dict[str, int] = {}  # key -> _position in the database
        self._change = -1
        self._generation = -1
        self._derived_keys: dict[Callable[..., str], tuple[int, frozenset[str]]] = {}

    # Reading

    @property
    def version(self) -> str:
        """Return a token that changes whenever the stored rows change, the same on every host."""
        change, generation = self._counters()
        return f"{change:x}-{generation:x}"

    def frame(self) -> pd.DataFrame:
        """Return every stored row as strings, in storage order; do not modify it."""
        with self._lock:
            self._look()
            return self._frame

    def get(self, key: str) -> dict[str, str] | None:
        """Return the row with this key, or None."""
        with self._lock:
            self._look()
            number = self._index.get(key)
            return None if number is None else _row_of(self._frame, number)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            self._look()
            return key in self._index

    def __len__(self) -> int:
        with self._lock:
            self._look()
            return len(self._index)

    @property
    def header(self) -> tuple[str, ...]:
        """Return the table's columns with the extra ones it keeps, as an export writes them."""
        with self._lock:
            self._look()
            return self._header

    @property
    def damage(self) -> list[str]:
        """Return why the table cannot be used now: never, the database checks its rows."""
        return []

    def health(self) -> str:
        """Return "ok", or "degraded" when the database cannot be reached."""
        try:
            self._counters()
        except StoreUnavailableError:
            return "degraded"
        return "ok"

    def problems(self) -> list[Problem]:
        """Return the problems of a data file: none, there is no file."""
        return []

    # Writing

    def append(
        self,
        records: Iterable[Mapping[str, str]],
        *,
        unless_stored: Callable[[Mapping[str, str]], str] | None = None,
    ) -> list[dict[str, str]]:
        """Add rows in one transaction and return them as stored (see CsvTable.append)."""
        records = list(records)
        refuse_nul(records)
        with self._writing() as (connection, meta):
            if unless_stored is not None:
                records = self._not_stored(connection, records, unless_stored)
            rows, keys = [], set()
            for record in records:
                row = self._prepare_new(record)
                if row[self.key] not in keys:
                    keys.add(row[self.key])
                    rows.append(row)
            stored = self._insert(connection, meta, rows)
            if stored:
                self._bump(connection, meta)
        return stored

    def delete(self, keys: Iterable[str]) -> int:
        """Remove the rows with these keys in one transaction and return how many went."""
        keys = sorted(set(keys))
        if not keys:
            return 0
        with self._writing() as (connection, meta):
            gone = self._delete(connection, meta, keys)
            if gone:
                self._bump(connection, meta)
        return len(gone)

    def change_rows(
        self, decide: Callable[[pd.DataFrame], Mapping[str, Mapping[str, str]]]
    ) -> list[dict[str, str]]:
        """Change rows chosen from the table as it is now, under its lock (see CsvTable)."""
        with self._writing() as (connection, meta):
            with self._lock:
                self._look(connection)
                frame = self._frame
                changes = {key: dict(values) for key, values in decide(frame).items()}
                changes = {key: values for key, values in changes.items() if key in self._index}
            unknown = {name for values in changes.values() for name in values} - set(self.schema)
            if unknown or any(self.key in values for values in changes.values()):
                raise ValueError(f"Cannot change: {', '.join(sorted(unknown) or [self.key])}")
            refuse_nul(changes.values())
            if not changes:
                return []
            number = meta.change + 1
            stored = [
                self._update_row(connection, key, values, number) for key, values in changes.items()
            ]
            self._bump(connection, meta)
        return stored

    def rewrite(self, records: Iterable[Mapping[str, str]]) -> None:
        """Replace every row with these in one transaction (the extra columns go)."""
        rows = [[str(record.get(name, "") or "") for name in self.schema] for record in records]
        refuse_nul(dict(zip(self.schema, row, strict=True)) for row in rows)
        with self._writing() as (connection, meta):
            self.load(connection, meta, self.schema, rows, bom=True)

    def create_missing(self) -> None:
        """Create the table (and the schema's own tables), or add the columns it lacks."""
        with reachable(self.url) as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            ensure_schema_tables(connection)
            migrate_table(connection, self.spec, self.relation)
        self._ready = True

    def close(self) -> None:
        """Forget the rows held (the table reads them again when next asked)."""
        with self._lock:
            self._change = self._generation = -1

    # Loading whole tables (rewrite, import)

    def load(
        self,
        connection: psycopg.Connection[Any],
        meta: Meta,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        bom: bool,
        changes: Sequence[int] | None = None,
    ) -> None:
        """Replace every row, the header's extra columns and the BOM flag (the caller locks)."""
        header = tuple(header)
        extras = header[len(self.schema) :]
        if header[: len(self.schema)] != self.schema:
            raise ValueError(f"{self.name}: the header must start with {', '.join(self.schema)}.")
        refuse_nul({name: value for name, value in zip(header, row, strict=False)} for row in rows)
        number = meta.change + 1
        if changes is not None and changes:
            number = max(number, max(changes))
        self._add_extra_columns(connection, len(extras))
        connection.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(self.relation)))
        connection.execute(
            sql.SQL("DELETE FROM {} WHERE name = %s").format(sql.Identifier(TOMBSTONES_TABLE)),
            (self.name,),
        )
        names = [*self.schema, *self._extra_names(len(extras)), "_position", "_change"]
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(self.relation), sql.SQL(", ").join(map(sql.Identifier, names))
        )
        with connection.cursor().copy(copy_sql) as copy:
            for position, row in enumerate(rows):
                values = [str(value) for value in row]
                values += [""] * (len(header) - len(values))
                change = number if changes is None else changes[position]
                copy.write_row([*values[: len(header)], position, change])
        connection.execute(
            sql.SQL(
                "UPDATE {} SET change = %s, generation = generation + 1, next_position = %s, "
                "header = %s, bom = %s, changed_at = now() WHERE name = %s"
            ).format(sql.Identifier(SCHEMA_TABLE)),
            (number, len(rows), list(header), bom, self.name),
        )
        # Fresh statistics, so that the planner finds "_change > n" few rows, not a third.
        connection.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(self.relation)))
        meta.change = number
        meta.next_position = len(rows)

    # Inside: the database

    def _counters(self, connection: psycopg.Connection[Any] | None = None) -> tuple[int, int]:
        """Return the table's change counter and generation: the one read a request costs."""
        if connection is None:
            with reachable(self.url) as lent:
                return self._counters(lent)
        if not self._ready:
            self.create_missing()
        found = connection.execute(
            sql.SQL("SELECT change, generation FROM {} WHERE name = %s").format(
                sql.Identifier(SCHEMA_TABLE)
            ),
            (self.name,),
        ).fetchone()
        if found is None:  # dropped behind our back: create it again
            self._ready = False
            return self._counters(connection)
        return int(found[0]), int(found[1])

    def _look(self, connection: psycopg.Connection[Any] | None = None) -> None:
        """Bring the frame up to date with the database (the caller holds the thread lock)."""
        if connection is not None:  # a writer's, inside its transaction and lock
            change, generation = self._counters(connection)
            if (change, generation) != (self._change, self._generation):
                self._refresh(connection, generation)
            return
        with reachable(self.url) as lent:
            if self._counters(lent) == (self._change, self._generation):
                return
            with lent.transaction():
                # One snapshot for the counters and the rows, so that they agree.
                lent.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                self._refresh(lent, self._counters(lent)[1])

    def _refresh(self, connection: psycopg.Connection[Any], generation: int) -> None:
        """Patch the frame with the rows changed since it was read, or read the table whole."""
        meta = self._meta(connection)
        if (
            generation != self._generation
            or meta.header != self._header
            or self._change < meta.change - TOMBSTONE_CHANGES
        ):
            self._read_whole(connection, meta)
            return
        # Never prepared: a prepared statement's generic plan cannot know how few rows
        # "_change > $1" matches, and scans the whole table. Sorted here, not in SQL: asked to
        # sort, the planner may walk the _position index over every row (tens of ms at 50k).
        removed = [
            str(key)
            for (key,) in connection.execute(
                sql.SQL("SELECT key FROM {} WHERE name = %s AND change > %s").format(
                    sql.Identifier(TOMBSTONES_TABLE)
                ),
                (self.name, self._change),
                prepare=False,
            )
        ]
        found = connection.execute(
            sql.SQL("SELECT {}, _position FROM {} WHERE _change > %s").format(
                self._select_list(), sql.Identifier(self.relation)
            ),
            (self._change,),
            prepare=False,
        ).fetchall()
        changed = sorted(found, key=lambda row: int(row[-1]))
        if len(changed) + len(removed) > max(PATCH_ROWS, len(self._index) // 10):
            self._read_whole(connection, meta)
            return
        self._patch(removed, [([str(v) for v in row[:-1]], int(row[-1])) for row in changed])
        self._change = meta.change

    def _read_whole(self, connection: psycopg.Connection[Any], meta: Meta) -> None:
        """Read every row with COPY and make it the frame."""
        query = sql.SQL("COPY (SELECT {}, _position FROM {} ORDER BY _position) TO STDOUT").format(
            self._select_list(len(meta.header) - len(self.schema)), sql.Identifier(self.relation)
        )
        buffer = io.BytesIO()
        with connection.cursor().copy(sql.SQL("{} WITH (FORMAT csv)").format(query)) as copy:
            for data in copy:
                buffer.write(data)
        names = [*meta.header, "_position"]
        if buffer.tell():
            buffer.seek(0)
            frame = pd.read_csv(
                buffer,
                header=None,
                names=list(range(len(names))),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                encoding="utf-8",
            )
            frame.columns = pd.Index(names)
        else:
            frame = frame_of([], names)
        positions = [int(value) for value in frame["_position"].tolist()]
        frame = frame.drop(columns="_position")
        self._frame = frame
        self._header = meta.header
        self._bom = meta.bom
        keys = frame[self.key].tolist()
        self._index = {key: number for number, key in enumerate(keys)}
        self._where = dict(zip(keys, positions, strict=True))
        self._change = meta.change
        self._generation = meta.generation
        self._derived_keys = {}
        self._after_load(frame)

    def _patch(self, removed: list[str], changed: list[tuple[list[str], int]]) -> None:
        """Hand out a new frame with these rows removed, changed in place or added at the end."""
        frame = self._frame.copy(deep=False)  # copy-on-write: the frame handed out stays
        at = self._header.index(self.key)
        fresh = {row[at] for row, _position in changed}
        gone = [key for key in removed if key in self._index and key not in fresh]
        in_place = []
        added = []
        for row, position in changed:
            key = row[at]
            if self._where.get(key) == position:
                in_place.append(row)
            else:
                if key in self._index:
                    gone.append(key)
                added.append((row, position))
        for row in in_place:
            number = self._index[row[at]]
            for column, value in enumerate(row):
                if frame.iat[number, column] != value:
                    frame.iat[number, column] = value
        if gone:
            drop = {self._index[key] for key in gone}
            keep = [number not in drop for number in range(len(frame))]
            frame = frame[keep].reset_index(drop=True)
            for key in gone:
                self._where.pop(key, None)
        if added:
            rows = [row for row, _position in added]
            frame = pd.concat([frame, frame_of(rows, self._header)], ignore_index=True)
            for row, position in added:
                self._where[row[at]] = position
        if gone or added:
            self._index = {key: n for n, key in enumerate(frame[self.key].tolist())}
            self._derived_keys = {}
        self._frame = frame
        self._after_patch(frame, [row for row, _position in changed])

    def _meta(self, connection: psycopg.Connection[Any], *, lock: bool = False) -> Meta:
        """Return the table's row of mapapp_schema, locked for this transaction when asked."""
        return metas_of(connection, [self.name], lock=lock)[self.name]

    @contextmanager
    def _writing(self, *, pipeline: bool = False) -> Iterator[tuple[psycopg.Connection[Any], Meta]]:
        """Hold a transaction with the table's row of mapapp_schema locked, for one change.

        pipeline=True sends the statements whose answers are not needed at once together
        (psycopg's pipeline mode): one round trip for the lock, one for the change and commit.
        A pipelined change reads no whole table (COPY cannot be pipelined).
        """
        if not self._ready:
            self.create_missing()
        with reachable(self.url) as connection:
            with connection.pipeline() if pipeline else nullcontext(), connection.transaction():
                yield connection, self._meta(connection, lock=True)

    def _bump(self, connection: psycopg.Connection[Any], meta: Meta, number: int = 0) -> None:
        """Record one change in the table's row of mapapp_schema."""
        meta.change = number or meta.change + 1
        connection.execute(
            sql.SQL(
                "UPDATE {} SET change = %s, next_position = %s, changed_at = now() WHERE name = %s"
            ).format(sql.Identifier(SCHEMA_TABLE)),
            (meta.change, meta.next_position, self.name),
        )

    def _insert(
        self,
        connection: psycopg.Connection[Any],
        meta: Meta,
        rows: list[dict[str, str]],
        number: int = 0,
        *,
        new_keys: bool = False,
    ) -> list[dict[str, str]]:
        """Insert rows whose key is not stored, last in order; return those inserted.

        new_keys=True: the caller made sure no key is stored (under the lock), so nothing need
        be read back and the statement can wait in a pipeline.
        """
        if not rows:
            return []
        number = number or meta.change + 1
        names = [*self.schema, "_position", "_change"]
        query = sql.SQL("INSERT INTO {} ({}) SELECT * FROM unnest({}){}").format(
            sql.Identifier(self.relation),
            sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(
                [sql.SQL("%s::text[]")] * len(self.schema) + [sql.SQL("%s::bigint[]")] * 2
            ),
            sql.SQL("")
            if new_keys
            else sql.SQL(" ON CONFLICT ({}) DO NOTHING RETURNING {}").format(
                sql.Identifier(self.key), sql.Identifier(self.key)
            ),
        )
        positions = list(range(meta.next_position, meta.next_position + len(rows)))
        columns: list[list[Any]] = [[row[name] for row in rows] for name in self.schema]
        columns += [positions, [number] * len(rows)]
        meta.next_position += len(rows)
        cursor = connection.execute(query, columns)
        if new_keys:
            return rows
        inserted = {str(key) for (key,) in cursor}
        return [row for row in rows if row[self.key] in inserted]

    def _delete(
        self, connection: psycopg.Connection[Any], meta: Meta, keys: list[str], number: int = 0
    ) -> list[str]:
        """Delete rows and leave their tombstones; return the keys that went."""
        number = number or meta.change + 1
        gone = [
            str(key)
            for (key,) in connection.execute(
                sql.SQL("DELETE FROM {} WHERE {} = ANY(%s) RETURNING {}").format(
                    sql.Identifier(self.relation),
                    sql.Identifier(self.key),
                    sql.Identifier(self.key),
                ),
                (keys,),
            )
        ]
        if gone:
            connection.execute(
                sql.SQL(
                    "INSERT INTO {} (name, key, change) SELECT %s, unnest(%s::text[]), %s"
                ).format(sql.Identifier(TOMBSTONES_TABLE)),
                (self.name, gone, number),
            )
            connection.execute(
                sql.SQL("DELETE FROM {} WHERE name = %s AND change < %s").format(
                    sql.Identifier(TOMBSTONES_TABLE)
                ),
                (self.name, number - TOMBSTONE_CHANGES),
            )
        return gone

    def _update_row(
        self,
        connection: psycopg.Connection[Any],
        key: str,
        values: Mapping[str, str],
        number: int,
        current: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Write new values to one row and return it as stored.

        Given the row as it is (read under the lock), the stored row is that with the values,
        and the statement can wait in a pipeline rather than be read back.
        """
        assignments = [sql.SQL("{} = %s").format(sql.Identifier(name)) for name in values] + [
            sql.SQL("_change = %s")
        ]
        cursor = connection.execute(
            sql.SQL("UPDATE {} SET {} WHERE {} = %s{}").format(
                sql.Identifier(self.relation),
                sql.SQL(", ").join(assignments),
                sql.Identifier(self.key),
                sql.SQL("")
                if current is not None
                else sql.SQL(" RETURNING {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, self.schema))
                ),
            ),
            [*(str(value) for value in values.values()), number, key],
        )
        if current is not None:
            return {**current, **{name: str(value) for name, value in values.items()}}
        found = cursor.fetchone()
        assert found is not None, key
        return dict(zip(self.schema, map(str, found), strict=True))

    def _select_rows(
        self, connection: psycopg.Connection[Any], keys: list[str], *, lock: bool = False
    ) -> dict[str, dict[str, str]]:
        """Return the stored rows with these keys, by key (with FOR UPDATE when asked)."""
        found = connection.execute(
            sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s){}").format(
                sql.SQL(", ").join(map(sql.Identifier, self.schema)),
                sql.Identifier(self.relation),
                sql.Identifier(self.key),
                sql.SQL(" FOR UPDATE" if lock else ""),
            ),
            (keys,),
        ).fetchall()
        at = self.schema.index(self.key)
        return {str(row[at]): dict(zip(self.schema, map(str, row), strict=True)) for row in found}

    def _select_list(self, extras: int | None = None) -> sql.Composable:
        """Return the columns of a row as the frame holds them: the schema's, then the extras."""
        if extras is None:
            extras = len(self._header) - len(self.schema)
        names = [*self.schema, *self._extra_names(extras)]
        return sql.SQL(", ").join(map(sql.Identifier, names))

    @staticmethod
    def _extra_names(count: int) -> list[str]:
        """Return the relation's names of the extra columns."""
        return [f"{EXTRA_PREFIX}{number}" for number in range(count)]

    def _add_extra_columns(self, connection: psycopg.Connection[Any], count: int) -> None:
        """Give the relation at least this many extra columns."""
        for name in self._extra_names(count):
            connection.execute(
                sql.SQL(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} text NOT NULL DEFAULT ''"
                ).format(sql.Identifier(self.relation), sql.Identifier(name))
            )

    # Hooks for the event store

    def _prepare_new(self, record: Mapping[str, str]) -> dict[str, str]:
        """Return a new row with every column."""
        return {name: str(record.get(name, "") or "") for name in self.schema}

    def _after_load(self, frame: pd.DataFrame) -> None:
        """Derive what a subclass keeps from the whole frame."""

    def _after_patch(self, frame: pd.DataFrame, rows: list[list[str]]) -> None:
        """Derive what a subclass keeps from changed rows."""

    def _not_stored(
        self,
        connection: psycopg.Connection[Any],
        records: list[Mapping[str, str]],
        key_of: Callable[[Mapping[str, str]], str],
    ) -> list[Mapping[str, str]]:
        """Return the records whose derived key no stored row and no earlier record has."""
        with self._lock:
            self._look(connection)
            frame = self._frame
            covered, stored_keys = self._derived_keys.get(key_of, (0, frozenset()))
            if covered != len(frame):
                rows = frame.to_dict(orient="records")
                stored_keys = frozenset(key_of(row) for row in rows)  # type: ignore[arg-type]
                self._derived_keys[key_of] = (len(frame), stored_keys)
        fresh, seen = [], set(stored_keys)
        for record in records:
            if (key := key_of(record)) not in seen:
                seen.add(key)
                fresh.append(record)
        return fresh


def _row_of(frame: pd.DataFrame, number: int) -> dict[str, str]:
    """Return one row of a frame as a dict of strings."""
    return {str(name): str(value) for name, value in frame.iloc[number].items()}
