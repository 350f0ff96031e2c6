"""The only code that reads or writes the data directory: the store's interface and its errors.

The rest of the app sees an `EventStore` (the events, and the audit log paired with every change
to them) and `CsvTable`s for its smaller tables; `csv.py` keeps them in CSV files. Every change a
person makes from what they saw carries the version of the row they saw, checked under the
store's lock (compare-and-swap): a stale change raises ConflictError with the rows as they are.
"""

from __future__ import annotations

import functools
import secrets
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import pandas as pd
from flask import Flask, current_app

from mapapp.events import UTC_TIME_FORMAT

ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: ids are read aloud and typed
ID_LENGTH = 8
VERSION_FIELD = "version"

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
    def version(self) -> str:
        """Return a token that changes whenever the stored rows change."""
        ...

    def frame(self) -> pd.DataFrame:
        """Return every row as strings, in storage order; do not modify it."""
        ...

    def get(self, key: str) -> dict[str, str] | None:
        """Return the row with this key, or None."""
        ...

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


def utc_now() -> str:
    """Return the current UTC time as the store writes it."""
    return datetime.now(UTC).strftime(UTC_TIME_FORMAT)


def new_event_id() -> str:
    """Return a random short id that is safe in URLs."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


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
    """Give the app its event store, kept in the configured data directory."""
    store = EventStore(app.config["DATA_DIR"], file_mode=app.config["DATA_FILE_MODE"])
    store.create_missing()
    store.audit.create_missing()
    app.extensions["mapapp.store"] = store


def get_store() -> EventStore:
    """Return the current app's event store."""
    store: EventStore = current_app.extensions["mapapp.store"]
    return store


def add_table(app: Flask, file_name: str, columns: Iterable[str] | TableSpec, key: str) -> CsvTable:
    """Give the app a table of its own in the data directory, found again by file name."""
    table = get_store_of(app).table(file_name, columns, key=key)
    app.extensions[f"mapapp.table.{file_name}"] = table
    return table


def get_store_of(app: Flask) -> EventStore:
    """Return an app's event store outside a request."""
    store: EventStore = app.extensions["mapapp.store"]
    return store


def get_table(file_name: str) -> CsvTable:
    """Return the current app's table kept in this file."""
    table: CsvTable = current_app.extensions[f"mapapp.table.{file_name}"]
    return table


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
    "Table",
    "Updated",
    "add_table",
    "get_store",
    "get_table",
    "init_app",
    "new_event_id",
    "per_frame",
    "utc_now",
]
