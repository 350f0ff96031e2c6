"""The only code that reads or writes the data directory: the store's interface and its errors.

The rest of the app sees an `EventStore` (the events, and the audit log paired with every change
to them) and `CsvTable`s for its smaller tables; `csv.py` keeps them in CSV files. Every change a
person makes from what they saw carries the version of the row they saw, checked under the
store's lock (compare-and-swap): a stale change raises ConflictError with the rows as they are.
"""

from __future__ import annotations

import functools
import logging
import secrets
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

import pandas as pd
from flask import Flask, current_app

from mapapp.events import UTC_TIME_FORMAT

if TYPE_CHECKING:
    from mapapp.storage.validation import Problem

ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: ids are read aloud and typed
ID_LENGTH = 8
VERSION_FIELD = "version"

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message says why."""


class StoreDamagedError(StoreError):
    """A data file cannot be read as its table; problems name each place to look at."""

    def __init__(self, message: str, problems: Iterable[object] = ()) -> None:
        super().__init__(message)
        self.problems = [str(problem) for problem in problems]


class StoreUnavailableError(StoreError):
    """Nothing can be stored right now (read-only directory, full disk, damaged file, busy lock).

    Nothing was written; reason is one of REASONS.
    """

    REASONS = ("read-only", "full", "damaged", "busy")

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"The store cannot write ({reason}){': ' + detail if detail else ''}")
        self.reason = reason


class ConflictError(StoreError):
    """Rows changed since the versions the caller saw; current holds them as they are now."""

    def __init__(self, current: Mapping[str, Mapping[str, str]]) -> None:
        super().__init__("Changed since it was read: " + ", ".join(current))
        self.current = {key: dict(row) for key, row in current.items()}


class RowNotFoundError(KeyError):
    """No row has the given key."""


EventNotFoundError = RowNotFoundError


@dataclass(frozen=True)
class Updated:
    """What an update stored, and the rows left alone because they had changed since read."""

    rows: list[dict[str, str]]
    stale: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Audit:
    """Who makes a change and what kind it is, recorded with it in one crash-safe pair."""

    who: str
    action: str


class Table(Protocol):
    """A table of string rows with a unique key: what every backend offers the app."""

    @property
    def spec(self) -> TableSpec:
        """Return the table's name, columns, key and rules."""
        ...

    @property
    def schema(self) -> tuple[str, ...]:
        """Return the table's columns."""
        ...

    @property
    def key(self) -> str:
        """Return the name of the key column."""
        ...

    @property
    def version(self) -> str:
        """Return a token that changes whenever the stored rows change."""
        ...

    @property
    def damage(self) -> list[str]:
        """Return why the stored rows cannot be used now (empty when they can)."""
        ...

    def frame(self) -> pd.DataFrame:
        """Return every row as strings, in storage order; do not modify it."""
        ...

    def get(self, key: str) -> dict[str, str] | None:
        """Return the row with this key, or None."""
        ...

    def __contains__(self, key: object) -> bool: ...

    def __len__(self) -> int: ...

    def append(
        self,
        records: Iterable[Mapping[str, str]],
        *,
        unless_stored: Callable[[Mapping[str, str]], str] | None = None,
    ) -> list[dict[str, str]]:
        """Add rows durably and return them as stored."""
        ...

    def delete(self, keys: Iterable[str]) -> int:
        """Remove rows and return how many went."""
        ...

    def change_rows(
        self, decide: Callable[[pd.DataFrame], Mapping[str, Mapping[str, str]]]
    ) -> list[dict[str, str]]:
        """Change the rows decide(frame) chooses from the rows as they are, under the lock."""
        ...

    def rewrite(self, records: Iterable[Mapping[str, str]]) -> None:
        """Replace every row with these at once."""
        ...

    def create_missing(self) -> None:
        """Create the table if it is missing and can be created."""
        ...

    def close(self) -> None:
        """Let go of what the table holds open."""
        ...

    def health(self) -> str:
        """Return "ok", "read-only" (reads work, writes cannot) or "degraded"."""
        ...

    def problems(self) -> list[Problem]:
        """Return every problem with the stored rows as they are now."""
        ...


class Store(Table, Protocol):
    """The events and their audit log, and the store's other tables: what the app uses."""

    @property
    def audit(self) -> Table:
        """Return the audit log: one entry per event a change wrote, with its version."""
        ...

    @property
    def data_dir(self) -> Path:
        """Return the directory of the app's own files (keys, previews, counters)."""
        ...

    @property
    def keeps_files(self) -> bool:
        """Return whether the tables are files of the data directory (backup, check apply)."""
        ...

    @property
    def location(self) -> str:
        """Return where the tables are kept, fit for messages."""
        ...

    @property
    def modified(self) -> float:
        """Return when the events last changed, in seconds since the epoch (0: never)."""
        ...

    def table(self, file_name: str, columns: Iterable[str] | TableSpec, key: str) -> Table:
        """Return another table of this store, created on first use."""
        ...

    def tables(self) -> Sequence[Table]:
        """Return every table this store knows, itself first."""
        ...

    def changed_since(self, version: str) -> list[str]:
        """Return the ids of the events written by a change after the one a version names."""
        ...

    def add(self, event: Mapping[str, str], *, audit: Audit = ...) -> dict[str, str]:
        """Store a new event and return it as stored."""
        ...

    def add_many(
        self,
        events: Iterable[Mapping[str, str]],
        *,
        audit: Audit = ...,
        unless_stored: Callable[[Mapping[str, str]], str] | None = None,
    ) -> list[dict[str, str]]:
        """Store new events at once, each with its audit entry."""
        ...

    def update(
        self,
        event_id: str,
        changes: Mapping[str, str],
        *,
        expected: str,
        audit: Audit,
        touch: bool = True,
    ) -> dict[str, str]:
        """Change one event if it is still at the expected version; return it."""
        ...

    def update_many(
        self,
        changes_by_id: Mapping[str, Mapping[str, str]],
        *,
        expected: Mapping[str, str],
        audit: Audit,
        skip_stale: bool = False,
        touch: bool = True,
    ) -> Updated:
        """Change several events at once, each if still at the version expected."""
        ...

    def erase(self, event_id: str, *, who: str) -> dict[str, str]:
        """Remove an event and the values its audit entries hold; return it as it was."""
        ...

    def replace_all(self, events: Iterable[Mapping[str, str]]) -> None:
        """Replace every event at once: a new store, no audit."""
        ...

    def copies_holding(self, texts: Iterable[str]) -> list[Path]:
        """Return the byte copies set aside that hold any of these texts."""
        ...


def utc_now() -> str:
    """Return the current UTC time as the store writes it."""
    return datetime.now(UTC).strftime(UTC_TIME_FORMAT)


def new_event_id() -> str:
    """Return a random short id that is safe in URLs."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def refuse_nul(records: Iterable[Mapping[str, object]]) -> None:
    """Raise ValueError naming the column if any value holds U+0000, which text cannot hold."""
    for record in records:
        for name, value in record.items():
            if "\x00" in str(value):
                raise ValueError(f"The {name} value holds a NUL character, which cannot be stored.")


def per_frame(
    function: Callable[Concatenate[pd.DataFrame, P], T],
) -> Callable[Concatenate[pd.DataFrame, P], T]:
    """Remember a function's last answer for a frame (held weakly) and the same arguments.

    The store hands out the same frame object until its rows change, so whatever is derived
    from a frame (search text, counts, filter choices) is computed once per change.
    """
    last: list[Any] = [None, None, None]  # frame reference, arguments, answer

    @functools.wraps(function)
    def remembered(frame: pd.DataFrame, *args: P.args, **kwargs: P.kwargs) -> T:
        reference, arguments, answer = last
        if reference is not None and reference() is frame and arguments == (args, kwargs):
            return answer  # type: ignore[no-any-return]
        answer = function(frame, *args, **kwargs)
        last[:] = [weakref.ref(frame), (args, kwargs), answer]
        return answer

    return remembered


# Imported here, after the interface it implements, so that `from mapapp.storage import X` is
# the one import the rest of the app needs.
from mapapp.storage.csv import CsvTable  # noqa: E402
from mapapp.storage.event_store import EVENTS_FILE, EventStore  # noqa: E402
from mapapp.storage.validation import TableSpec  # noqa: E402


def init_app(app: Flask) -> None:
    """Give the app its store: PostgreSQL with MAPAPP_DATABASE_URL, else the data directory's CSV."""
    from mapapp.storage.database import database_url

    url = database_url(app.config)
    store: Store
    if url:
        from mapapp.storage.pg_events import PgEventStore

        store = PgEventStore(url, app.config["DATA_DIR"])
        try:
            store.create_missing()
        except StoreUnavailableError as exc:  # served as 503s until the database answers
            log.error("The database is not ready: %s", exc)
    else:
        store = EventStore(app.config["DATA_DIR"], file_mode=app.config["DATA_FILE_MODE"])
        store.create_missing()
        store.audit.create_missing()
    app.extensions["mapapp.store"] = store


def get_store() -> Store:
    """Return the current app's event store."""
    store: Store = current_app.extensions["mapapp.store"]
    return store


def add_table(app: Flask, file_name: str, columns: Iterable[str] | TableSpec, key: str) -> Table:
    """Give the app a table of its own in the store, found again by file name."""
    table = get_store_of(app).table(file_name, columns, key=key)
    app.extensions[f"mapapp.table.{file_name}"] = table
    return table


def get_store_of(app: Flask) -> Store:
    """Return an app's event store outside a request."""
    store: Store = app.extensions["mapapp.store"]
    return store


def get_table(file_name: str) -> Table:
    """Return the current app's table kept under this file name."""
    table: Table = current_app.extensions[f"mapapp.table.{file_name}"]
    return table


def file_tables(store: Store) -> list[CsvTable]:
    """Return the store's tables that are files of the data directory (none for a database)."""
    return [table for table in store.tables() if isinstance(table, CsvTable)]


__all__ = [
    "EVENTS_FILE",
    "VERSION_FIELD",
    "Audit",
    "ConflictError",
    "CsvTable",
    "EventNotFoundError",
    "EventStore",
    "RowNotFoundError",
    "StoreDamagedError",
    "StoreError",
    "StoreUnavailableError",
    "Store",
    "Table",
    "Updated",
    "add_table",
    "file_tables",
    "get_store",
    "get_table",
    "init_app",
    "new_event_id",
    "per_frame",
    "refuse_nul",
    "utc_now",
]
