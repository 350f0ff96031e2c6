"""The events and their audit log in PostgreSQL: every change and its entries in one transaction.

The events' row of mapapp_schema holds the store's change counter (events and audit share it):
a change locks that row, takes the next number, writes the events (each row's version is that
number), the audit entries (with the same number and a batch id) and the counter, and commits.
So the audit pair is atomic by construction and numbers are committed in order.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from mapapp.storage import (
    VERSION_FIELD,
    Audit,
    ConflictError,
    RowNotFoundError,
    Updated,
    new_event_id,
    refuse_nul,
    utc_now,
)
from mapapp.storage.database import without_password
from mapapp.storage.event_store import (
    AUDIT_SPEC,
    ERASE_ACTION,
    ERASED,
    EVENTS_SPEC,
    SYSTEM_ADD,
)
from mapapp.storage.pg_schema import SCHEMA_TABLE, Meta, metas_of, reachable
from mapapp.storage.postgres import PgTable
from mapapp.storage.validation import TableSpec


class PgEventStore(PgTable):
    """The events and their audit log in one PostgreSQL database (the EventStore's surface)."""

    keeps_files = False

    def __init__(self, url: str, data_dir: str | os.PathLike[str]) -> None:
        super().__init__(url, EVENTS_SPEC)
        self.data_dir = Path(data_dir)  # the app's own files (keys, previews) stay there
        self.location = without_password(url)
        self.audit = PgTable(url, AUDIT_SPEC)
        self._tables: dict[str, PgTable] = {self.audit.name: self.audit}

    def table(self, file_name: str, columns: Iterable[str] | TableSpec, key: str) -> PgTable:
        """Return another table of this database (the audit log, accounts, caches)."""
        if file_name not in self._tables:
            spec = (
                columns
                if isinstance(columns, TableSpec)
                else TableSpec(file_name=file_name, columns=tuple(columns), key=key)
            )
            self._tables[file_name] = PgTable(self.url, spec)
        return self._tables[file_name]

    def tables(self) -> list[PgTable]:
        """Return every table of this store it knows, itself first."""
        return [self, *self._tables.values()]

    def close(self) -> None:
        """Forget every table's rows."""
        super().close()
        for table in self._tables.values():
            table.close()

    @property
    def version(self) -> str:
        """Return the number of the last change and the generation of the events' rows."""
        change, generation = self._counters()
        return f"{change}-{generation:08x}"

    @property
    def modified(self) -> float:
        """Return when the last change of the events was committed (0: never)."""
        with reachable(self.url) as connection:
            found = connection.execute(
                sql.SQL(
                    "SELECT coalesce(extract(epoch FROM changed_at), 0) FROM {} WHERE name = %s"
                ).format(sql.Identifier(SCHEMA_TABLE)),
                (self.name,),
            ).fetchone()
        return float(found[0]) if found else 0.0

    def create_missing(self) -> None:
        """Create (or migrate) the events and the audit log."""
        super().create_missing()
        self.audit.create_missing()

    def copies_holding(self, texts: Iterable[str]) -> list[Path]:
        """Return byte copies holding these texts: none, the database keeps no copies aside."""
        return []

    def changed_since(self, version: str) -> list[str]:
        """Return the ids of the events written by a change after the one a version names."""
        try:
            number = int(version.split("-", 1)[0])
        except ValueError:
            return list(self.frame()["id"])
        with reachable(self.url) as connection:
            found = connection.execute(
                sql.SQL("SELECT id, _position FROM {} WHERE _change > %s").format(
                    sql.Identifier(self.relation)
                ),
                (number,),
                prepare=False,  # a generic plan would scan: it cannot know how few rows match
            ).fetchall()
            # In storage order, sorted here (see PgTable._refresh).
            return [str(event_id) for event_id, _position in sorted(found, key=lambda r: r[1])]

    def add(self, event: Mapping[str, str], *, audit: Audit = SYSTEM_ADD) -> dict[str, str]:
        """Store a new event, giving it an id, timestamps and a version, and return it."""
        return self.add_many([event], audit=audit)[0]

    def add_many(
        self,
        events: Iterable[Mapping[str, str]],
        *,
        audit: Audit = SYSTEM_ADD,
        unless_stored: Callable[[Mapping[str, str]], str] | None = None,
    ) -> list[dict[str, str]]:
        """Store new events in one transaction, each with its audit entry (see EventStore)."""
        events = list(events)
        refuse_nul(events)
        with self._writing_pair(pipeline=unless_stored is None) as (connection, meta, audit_meta):
            if unless_stored is not None:
                events = self._not_stored(connection, events, unless_stored)
            if not events:
                return []
            number = meta.change + 1
            rows = [self._prepare_new(event) for event in events]
            self._give_ids(connection, rows)
            for row in rows:
                row[VERSION_FIELD] = str(number)
            stored = self._insert(connection, meta, rows, number, new_keys=True)
            self._record(connection, audit_meta, audit, number, [(row["id"], {}) for row in stored])
            self._bump_pair(connection, meta, audit_meta, number)
        return stored

    def append(
        self,
        records: Iterable[Mapping[str, str]],
        *,
        unless_stored: Callable[[Mapping[str, str]], str] | None = None,
    ) -> list[dict[str, str]]:
        """Refuse an unaudited append: events are added with add or add_many."""
        raise TypeError("Use EventStore.add_many(events, audit=Audit(who, action)).")

    def change_rows(
        self, decide: Callable[[pd.DataFrame], Mapping[str, Mapping[str, str]]]
    ) -> list[dict[str, str]]:
        """Refuse an unaudited, unversioned change: events are changed with update_many."""
        raise TypeError("Use EventStore.update_many(changes, expected=..., audit=...).")

    def update(
        self,
        event_id: str,
        changes: Mapping[str, str],
        *,
        expected: str,
        audit: Audit,
        touch: bool = True,
    ) -> dict[str, str]:
        """Change fields of one event if it is still at the expected version; return it."""
        return self.update_many(
            {event_id: changes}, expected={event_id: expected}, audit=audit, touch=touch
        ).rows[0]

    def update_many(
        self,
        changes_by_id: Mapping[str, Mapping[str, str]],
        *,
        expected: Mapping[str, str],
        audit: Audit,
        skip_stale: bool = False,
        touch: bool = True,
    ) -> Updated:
        """Change fields of several events in one transaction, each if still as expected."""
        unknown = {name for changes in changes_by_id.values() for name in changes}
        unknown -= set(self.schema) - {"id", VERSION_FIELD}
        if unknown:
            raise ValueError(f"Unknown fields: {', '.join(sorted(unknown))}")
        unversioned = [event_id for event_id in changes_by_id if not expected.get(event_id)]
        if unversioned:
            raise ValueError(f"No version given for {', '.join(unversioned)}.")
        refuse_nul(changes_by_id.values())
        with self._writing_pair(pipeline=True) as (connection, meta, audit_meta):
            current = self._select_rows(connection, list(changes_by_id))
            missing = [event_id for event_id in changes_by_id if event_id not in current]
            if missing:
                raise RowNotFoundError(", ".join(missing))
            stale = {
                event_id: row
                for event_id, row in current.items()
                if row[VERSION_FIELD] != expected[event_id]
            }
            if stale and not skip_stale:
                raise ConflictError(stale)
            number = meta.change + 1
            rows: dict[str, dict[str, str]] = {}
            diffs: list[tuple[str, dict[str, list[str]]]] = []
            for event_id, changes in changes_by_id.items():
                if event_id in stale:
                    continue
                row = current[event_id]
                diff = {
                    name: [row[name], str(value)]
                    for name, value in changes.items()
                    if row[name] != str(value)
                }
                if not diff:
                    rows[event_id] = row
                    continue
                stamped = {name: pair[1] for name, pair in diff.items()}
                stamped[VERSION_FIELD] = str(number)
                if touch:
                    stamped["updated_at"] = utc_now()
                rows[event_id] = self._update_row(connection, event_id, stamped, number, row)
                diffs.append((event_id, diff))
            if diffs:
                self._record(connection, audit_meta, audit, number, diffs)
                self._bump_pair(connection, meta, audit_meta, number)
        return Updated(
            rows=[rows[event_id] for event_id in changes_by_id if event_id not in stale],
            stale=stale,
        )

    def erase(self, event_id: str, *, who: str) -> dict[str, str]:
        """Remove an event and the values its audit entries hold, in one transaction."""
        with self._writing_pair(pipeline=True) as (connection, meta, audit_meta):
            erased = self._select_rows(connection, [event_id]).get(event_id)
            if erased is None:
                raise RowNotFoundError(event_id)
            number = meta.change + 1
            self._delete(connection, meta, [event_id], number)
            self._record(
                connection, audit_meta, Audit(who, ERASE_ACTION), number, [(event_id, {})], ERASED
            )
            connection.execute(
                sql.SQL(
                    "UPDATE {} SET changes = %s, _change = %s WHERE event_id = %s AND changes <> %s"
                ).format(sql.Identifier(self.audit.relation)),
                (ERASED, number, event_id, ERASED),
            )
            self._bump_pair(connection, meta, audit_meta, number)
        return erased

    def replace_all(self, events: Iterable[Mapping[str, str]]) -> None:
        """Replace the whole store with these events in one transaction: a new store, no audit."""
        self.rewrite([{VERSION_FIELD: "1", **event} for event in events])

    # Inside

    @contextmanager
    def _writing_pair(
        self, *, pipeline: bool = False
    ) -> Iterator[tuple[psycopg.Connection[Any], Meta, Meta]]:
        """Hold a transaction with the events' and the audit's counters locked, for one change."""
        if not self._ready or not self.audit._ready:
            self.create_missing()
        with reachable(self.url) as connection:
            with connection.pipeline() if pipeline else nullcontext(), connection.transaction():
                metas = metas_of(connection, [self.name, self.audit.name], lock=True)
                yield connection, metas[self.name], metas[self.audit.name]

    def _give_ids(self, connection: psycopg.Connection[Any], rows: list[dict[str, str]]) -> None:
        """Give each new row an id no stored event and no other new row has."""
        now = utc_now()
        for row in rows:
            row["created_at"] = row["created_at"] or now
            row["updated_at"] = row["updated_at"] or now
        wanted = [row["id"] for row in rows if row["id"]]
        taken = set(self._select_rows(connection, wanted)) if wanted else set()
        while True:
            seen: set[str] = set()
            for row in rows:
                if not row["id"] or row["id"] in taken or row["id"] in seen:
                    row["id"] = new_event_id()
                seen.add(row["id"])
            clashes = set(self._select_rows(connection, sorted(seen)))
            if not clashes:
                return
            taken |= clashes

    def _record(
        self,
        connection: psycopg.Connection[Any],
        audit_meta: Meta,
        audit: Audit,
        number: int,
        diffs: list[tuple[str, dict[str, list[str]]]],
        changes: str = "",
    ) -> None:
        """Write the audit entries of one change, in its transaction."""
        now = utc_now()
        batch = secrets.token_urlsafe(9)
        entries = [
            {
                "id": secrets.token_urlsafe(9),
                "time": now,
                "who": audit.who,
                "event_id": event_id,
                "action": audit.action,
                "changes": changes or json.dumps(diff, ensure_ascii=False, sort_keys=True),
                "version": str(number),
                "batch": batch,
            }
            for event_id, diff in diffs
        ]
        self.audit._insert(connection, audit_meta, entries, number, new_keys=True)

    def _bump_pair(
        self, connection: psycopg.Connection[Any], meta: Meta, audit_meta: Meta, number: int
    ) -> None:
        """Record one change of the store in both counters, in one statement."""
        meta.change = audit_meta.change = number
        connection.execute(
            sql.SQL(
                "UPDATE {} SET change = %s, changed_at = now(), next_position = CASE name "
                "WHEN %s THEN %s::bigint ELSE %s::bigint END WHERE name IN (%s, %s)"
            ).format(sql.Identifier(SCHEMA_TABLE)),
            (
                number,
                self.name,
                meta.next_position,
                audit_meta.next_position,
                self.name,
                self.audit.name,
            ),
        )
