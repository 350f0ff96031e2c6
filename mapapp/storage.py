"""The only code that reads or writes CSV files in the data directory (events, caches, logs).

New rows are appended under a lock and fsynced before they are acknowledged; edits rewrite the
file atomically (temporary file, fsync, os.replace). A writer killed in the middle of an append
leaves an incomplete last record, which the next holder of the lock cuts off (keeping the bytes in
data/recovered/) before it reads or writes: an incomplete record was never acknowledged.
Reads parse the file once and reuse the result until the file changes; records appended by other
processes are parsed from the tail alone.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import pandas as pd
from filelock import FileLock
from flask import Flask, current_app

from mapapp.events import FIELDS, UTC_TIME_FORMAT

EVENTS_FILE = "events.csv"
RECOVERED_DIR = "recovered"
LOCK_TIMEOUT_SECONDS = 60
ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: ids are read aloud and typed
ID_LENGTH = 8
UTF8_BOM = b"\xef\xbb\xbf"  # lets Excel open the file as UTF-8
# RFC 4180 line ends; the csv module then quotes any field holding \r or \n.
LINE_TERMINATOR = "\r\n"
# How many bytes before the validated end are compared to tell an append from an in-place edit.
FINGERPRINT_BYTES = 64

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


class StoreError(RuntimeError):
    """The store file cannot be read as events; the message says why."""


class RowNotFoundError(KeyError):
    """No row has the given key."""


EventNotFoundError = RowNotFoundError


def utc_now() -> str:
    """Return the current UTC time as the store writes it."""
    return datetime.now(UTC).strftime(UTC_TIME_FORMAT)


def new_event_id() -> str:
    """Return a random short id that is safe in URLs."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def encode_records(records: Iterable[Mapping[str, str]], columns: Iterable[str]) -> bytes:
    """Return records as CSV lines in the given column order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_TERMINATOR)
    columns = tuple(columns)
    for record in records:
        writer.writerow([record.get(name, "") for name in columns])
    return buffer.getvalue().encode("utf-8")


def complete_length(data: bytes, start: int = 0) -> int:
    """Return where the last complete CSV record in data ends, scanning from a record boundary."""
    # A record ends at a newline outside quotes; an escaped quote ("") counts twice, so quote
    # parity tells inside from outside.
    if data.endswith(b"\n") and data.count(b'"', start) % 2 == 0:
        return len(data)
    end, quotes, position = start, 0, start
    while (newline := data.find(b"\n", position)) != -1:
        quotes += data.count(b'"', position, newline)
        if quotes % 2 == 0:
            end = newline + 1
        position = newline + 1
    return end


class CsvTable:
    """A CSV file of string rows with a header, durable and safe for many threads and processes."""

    def __init__(self, path: str | os.PathLike[str], columns: Iterable[str], key: str) -> None:
        self.path = Path(path)
        self.data_dir = self.path.parent
        self.schema = tuple(columns)
        self.key = key
        self._file_lock = FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS)
        self._thread_lock = threading.RLock()
        self._stat: tuple[int, int, int] | None = None
        self._columns: tuple[str, ...] = self.schema
        self._base = _frame([], self.schema)
        self._appended: list[list[str]] = []
        self._keys: set[str] = set()
        self._size = 0
        self._fingerprint = b""
        # Keys derived from stored rows by a function, and how many rows they cover (append only).
        self._derived_keys: dict[Callable[..., str], tuple[int, frozenset[str]]] = {}

    # Reading

    @property
    def version(self) -> str:
        """Return a token that changes whenever the stored rows change."""
        self.frame()
        assert self._stat is not None
        inode, size, mtime_ns = self._stat
        return f"{inode:x}-{size:x}-{mtime_ns:x}"

    def frame(self) -> pd.DataFrame:
        """Return every stored row as strings, in file order; do not modify it."""
        with self._thread_lock:
            if self._stat is None or self._stat != self._stat_key():
                with self._file_lock:
                    self._refresh()
            if self._appended:
                added = _frame(self._appended, self._columns)
                self._base = pd.concat([self._base, added], ignore_index=True)
                self._appended = []
            return self._base

    def get(self, key: str) -> dict[str, str] | None:
        """Return the row with this key, or None."""
        frame = self.frame()
        rows = frame.loc[frame[self.key] == key]
        if rows.empty:
            return None
        return {str(name): str(value) for name, value in rows.iloc[0].items()}

    def __contains__(self, key: object) -> bool:
        self.frame()
        return key in self._keys

    def __len__(self) -> int:
        return len(self.frame())

    # Writing

    def append(
        self,
        records: Iterable[Mapping[str, str]],
        *,
        unless_stored: Callable[[Mapping[str, str]], str] | None = None,
    ) -> list[dict[str, str]]:
        """Add rows in one durable append and return them as stored.

        With unless_stored, a row is left out when a stored row (or an earlier one of these) has
        the same unless_stored(row): checked under the lock, so concurrent writers cannot both
        add it.
        """
        records = list(records)
        with self._thread_lock, self._file_lock:
            self._refresh()
            if unless_stored is not None:
                records = self._not_stored(records, unless_stored)
            stored = [self._prepare_new(record) for record in records]
            payload = encode_records(stored, self._columns)
            with open(self.path, "ab") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
                stat = _key_of(os.fstat(handle.fileno()))
            self._appended.extend([record[name] for name in self._columns] for record in stored)
            self._remember(stat, self._size + len(payload), self._fingerprint + payload)
        return stored

    def _not_stored(
        self, records: list[Mapping[str, str]], key_of: Callable[[Mapping[str, str]], str]
    ) -> list[Mapping[str, str]]:
        """Return the records whose key no stored row and no earlier record has."""
        frame = self.frame()
        covered, stored_keys = self._derived_keys.get(key_of, (0, frozenset()))
        if covered < len(frame):  # only rows appended since the last call are keyed again
            added = frame.iloc[covered:].to_dict(orient="records")
            stored_keys = stored_keys | {key_of(row) for row in added}  # type: ignore[arg-type]
            self._derived_keys[key_of] = (len(frame), stored_keys)
        fresh, seen = [], set(stored_keys)
        for record in records:
            if (key := key_of(record)) not in seen:
                seen.add(key)
                fresh.append(record)
        return fresh

    def update_many(self, changes_by_key: Mapping[str, Mapping[str, str]]) -> list[dict[str, str]]:
        """Change fields of several rows in one atomic rewrite and return them as stored."""
        with self._thread_lock, self._file_lock:
            self._refresh()
            unknown = {name for changes in changes_by_key.values() for name in changes}
            unknown -= set(self._columns)
            if unknown:
                raise ValueError(f"Unknown fields: {', '.join(sorted(unknown))}")
            frame = self.frame().copy()
            positions = pd.Series(range(len(frame)), index=frame[self.key])
            missing = [key for key in changes_by_key if key not in positions.index]
            if missing:
                raise RowNotFoundError(", ".join(missing))
            column_of = {name: number for number, name in enumerate(frame.columns)}
            for key, changes in changes_by_key.items():
                row = int(positions[key])
                for name, value in self._prepare_changes(changes).items():
                    if name != self.key:
                        frame.iat[row, column_of[name]] = str(value)
            self._rewrite(frame)
            return [_row(frame, int(positions[key])) for key in changes_by_key]

    def delete(self, keys: Iterable[str]) -> int:
        """Remove the rows with these keys in one atomic rewrite and return how many went."""
        keys = set(keys)
        with self._thread_lock, self._file_lock:
            self._refresh()
            frame = self.frame()
            kept = frame[~frame[self.key].isin(keys)]
            removed = len(frame) - len(kept)
            if removed:
                self._rewrite(kept)
            return removed

    def rewrite(self, records: Iterable[Mapping[str, str]]) -> None:
        """Replace every row with these in one atomic rewrite."""
        rows = [[str(record.get(name, "") or "") for name in self.schema] for record in records]
        with self._thread_lock, self._file_lock:
            self._rewrite(_frame(rows, self.schema))

    # Hooks for subclasses

    def _prepare_new(self, record: Mapping[str, str]) -> dict[str, str]:
        """Return a new row with every column; the caller holds the lock."""
        row = {name: str(record.get(name, "") or "") for name in self._columns}
        self._keys.add(row[self.key])
        return row

    def _prepare_changes(self, changes: Mapping[str, str]) -> Mapping[str, str]:
        """Return the changes to write to one row."""
        return changes

    # Internals

    def _stat_key(self) -> tuple[int, int, int] | None:
        """Return the file's identity, size and modification time, or None if it is missing."""
        try:
            return _key_of(os.stat(self.path))
        except FileNotFoundError:
            return None

    def _refresh(self) -> None:
        """Bring the cache up to date with the file; the caller holds the file lock."""
        stat = self._stat_key()
        if stat is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._rewrite(_frame([], self.schema))
            return
        if stat == self._stat:
            return
        if self._stat is not None and stat[0] == self._stat[0] and stat[1] >= self._size:
            with open(self.path, "rb") as handle:
                handle.seek(max(self._size - FINGERPRINT_BYTES, 0))
                data = handle.read()
            fingerprint_length = min(self._size, FINGERPRINT_BYTES)
            if data[:fingerprint_length] == self._fingerprint:
                self._read_tail(data, fingerprint_length, stat)
                return
        self._read_whole()

    def _read_tail(self, data: bytes, start: int, stat: tuple[int, int, int]) -> None:
        """Take in rows appended since the last read."""
        end = complete_length(data, start)
        if end < len(data):
            self._cut_torn_tail(self._size - start + end, data[end:])
            stat = _key_of(os.stat(self.path))
        tail = data[start:end].decode("utf-8")
        rows = list(csv.reader(io.StringIO(tail, newline="")))
        self._check_rows(rows)
        self._appended.extend(rows)
        position = self._columns.index(self.key)
        self._keys.update(row[position] for row in rows)
        self._remember(stat, self._size + end - start, data[:end])

    def _read_whole(self) -> None:
        """Parse the whole file, cutting off an incomplete last row first."""
        for leftover in self.data_dir.glob(f".{self.path.name}.*.tmp"):
            leftover.unlink(missing_ok=True)  # a rewrite that died before its rename
        data = self.path.read_bytes()
        start = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
        end = complete_length(data, start)
        if end < len(data):
            self._cut_torn_tail(end, data[end:])
            data = data[:end]
        if end <= start:
            raise StoreError(f"{self.path} has no header row.")
        try:
            frame = pd.read_csv(
                io.BytesIO(data),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                encoding="utf-8",
            )
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise StoreError(f"{self.path} cannot be read as CSV: {exc}") from exc
        columns = tuple(str(name) for name in frame.columns)
        if self.key not in columns or len(set(columns)) != len(columns):
            raise StoreError(
                f"{self.path} needs a header row with unique names including {self.key}."
            )
        missing = [name for name in self.schema if name not in columns]
        if missing:  # an older file: add the new columns, empty
            for name in missing:
                frame[name] = ""
            frame = frame[list(self.schema) + [name for name in columns if name not in self.schema]]
            self._rewrite(frame)
            return
        self._columns = columns
        self._base = frame
        self._appended = []
        self._derived_keys = {}
        self._keys = set(frame[self.key])
        self._remember(_key_of(os.stat(self.path)), len(data), data)

    def _check_rows(self, rows: list[list[str]]) -> None:
        """Refuse appended rows whose field count does not match the header."""
        for row in rows:
            if len(row) != len(self._columns):
                raise StoreError(
                    f"{self.path} has a row with {len(row)} fields; the header has "
                    f"{len(self._columns)}."
                )

    def _cut_torn_tail(self, keep: int, torn: bytes) -> None:
        """Truncate an incomplete last row, keeping its bytes in the recovered folder."""
        recovered = self.data_dir / RECOVERED_DIR
        recovered.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        (recovered / f"{self.path.stem}-torn-{stamp}.csv.part").write_bytes(torn)
        with open(self.path, "r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        log.warning("Cut an incomplete last row (%d bytes) from %s", len(torn), self.path)

    def _rewrite(self, frame: pd.DataFrame) -> None:
        """Replace the file with the frame's rows atomically and durably."""
        columns = tuple(str(name) for name in frame.columns)
        payload = UTF8_BOM + _encode_frame(frame)
        temporary = self.data_dir / f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        _fsync_directory(self.data_dir)
        self._columns = columns
        self._base = frame.reset_index(drop=True)
        self._appended = []
        self._derived_keys = {}
        self._keys = set(frame[self.key])
        self._remember(_key_of(os.stat(self.path)), len(payload), payload)

    def _remember(self, stat: tuple[int, int, int], size: int, data_ending_at_size: bytes) -> None:
        """Record what the cache now reflects: the file's stat key and its validated length."""
        self._stat = stat
        self._size = size
        self._fingerprint = data_ending_at_size[-FINGERPRINT_BYTES:]


class EventStore(CsvTable):
    """The events of one data directory: data/events.csv."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        super().__init__(Path(data_dir) / EVENTS_FILE, FIELDS, key="id")

    def add(self, event: Mapping[str, str]) -> dict[str, str]:
        """Store a new event, giving it an id and timestamps, and return it as stored."""
        return self.append([event])[0]

    def add_many(
        self,
        events: Iterable[Mapping[str, str]],
        *,
        unless_stored: Callable[[Mapping[str, str]], str] | None = None,
    ) -> list[dict[str, str]]:
        """Store new events in one durable append and return them as stored (see append)."""
        return self.append(events, unless_stored=unless_stored)

    def update(self, event_id: str, changes: Mapping[str, str]) -> dict[str, str]:
        """Change fields of one event, stamp updated_at, and return it as stored."""
        return self.update_many({event_id: changes})[0]

    def replace_all(self, events: Iterable[Mapping[str, str]]) -> None:
        """Replace the whole store with these events in one atomic rewrite."""
        self.rewrite(events)

    def _prepare_new(self, record: Mapping[str, str]) -> dict[str, str]:
        """Give a new event a unique id and its creation time."""
        row = {name: str(record.get(name, "") or "") for name in self._columns}
        if not row["id"] or row["id"] in self._keys:
            while (candidate := new_event_id()) in self._keys:
                pass
            row["id"] = candidate
        self._keys.add(row["id"])
        now = utc_now()
        row["created_at"] = row["created_at"] or now
        row["updated_at"] = row["updated_at"] or now
        return row

    def _prepare_changes(self, changes: Mapping[str, str]) -> Mapping[str, str]:
        """Stamp the time of the change."""
        return {**changes, "updated_at": utc_now()}


def _encode_frame(frame: pd.DataFrame) -> bytes:
    """Return a frame as CSV bytes with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_TERMINATOR)
    writer.writerow([str(name) for name in frame.columns])
    # Plain lists: iterating pandas' string columns cell by cell is several times slower.
    writer.writerows(zip(*(frame[name].tolist() for name in frame.columns), strict=True))
    return buffer.getvalue().encode("utf-8")


def _row(frame: pd.DataFrame, position: int) -> dict[str, str]:
    """Return one row of a frame as a dict of strings."""
    return {str(name): str(value) for name, value in frame.iloc[position].items()}


def _frame(rows: list[list[str]], columns: Iterable[str]) -> pd.DataFrame:
    """Return rows of strings as a frame with string columns."""
    return pd.DataFrame(rows, columns=list(columns), dtype=str)


def _key_of(status: os.stat_result) -> tuple[int, int, int]:
    """Return a file's identity, size and modification time."""
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in a directory durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def per_frame(
    function: Callable[Concatenate[pd.DataFrame, P], T],
) -> Callable[Concatenate[pd.DataFrame, P], T]:
    """Remember a function's last answer for a frame (held weakly) and the same arguments.

    The store hands out the same frame object until its file changes, so whatever is derived
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


def init_app(app: Flask) -> None:
    """Give the app its event store, kept in the configured data directory."""
    app.extensions["mapapp.store"] = EventStore(app.config["DATA_DIR"])


def get_store() -> EventStore:
    """Return the current app's event store."""
    store: EventStore = current_app.extensions["mapapp.store"]
    return store


def add_table(app: Flask, file_name: str, columns: Iterable[str], key: str) -> CsvTable:
    """Give the app a CSV table of its own in the data directory, found again by file name."""
    table = CsvTable(Path(app.config["DATA_DIR"]) / file_name, columns, key=key)
    app.extensions[f"mapapp.table.{file_name}"] = table
    return table


def get_table(file_name: str) -> CsvTable:
    """Return the current app's CSV table kept in this file."""
    table: CsvTable = current_app.extensions[f"mapapp.table.{file_name}"]
    return table
