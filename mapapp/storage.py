"""The only code that reads or writes the event store, data/events.csv.

New events are appended under a lock and fsynced before they are acknowledged; edits rewrite the
file atomically (temporary file, fsync, os.replace). A writer killed in the middle of an append
leaves an incomplete last record, which the next holder of the lock cuts off (keeping the bytes in
data/recovered/) before it reads or writes: an incomplete record was never acknowledged.
Reads parse the file once and reuse the result until the file changes; records appended by other
processes are parsed from the tail alone.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import secrets
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

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
# How many bytes before the validated end are compared to tell an append from an in-place edit.
FINGERPRINT_BYTES = 64

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store file cannot be read as events; the message says why."""


class EventNotFoundError(KeyError):
    """No event has the given id."""


def utc_now() -> str:
    """Return the current UTC time as the store writes it."""
    return datetime.now(UTC).strftime(UTC_TIME_FORMAT)


def new_event_id() -> str:
    """Return a random short id that is safe in URLs."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def encode_records(records: Iterable[Mapping[str, str]], columns: Iterable[str]) -> bytes:
    """Return records as CSV lines in the given column order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
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


class EventStore:
    """The events of one data directory, safe for many threads and processes."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / EVENTS_FILE
        self._file_lock = FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS)
        self._thread_lock = threading.RLock()
        self._key: tuple[int, int, int] | None = None
        self._columns: tuple[str, ...] = FIELDS
        self._base = pd.DataFrame(columns=list(FIELDS), dtype=str)
        self._appended: list[list[str]] = []
        self._ids: set[str] = set()
        self._size = 0
        self._fingerprint = b""

    # Reading

    @property
    def version(self) -> str:
        """Return a token that changes whenever the stored events change."""
        self.frame()
        assert self._key is not None
        inode, size, mtime_ns = self._key
        return f"{inode:x}-{size:x}-{mtime_ns:x}"

    def frame(self) -> pd.DataFrame:
        """Return every stored event as strings, one row each, in file order; do not modify it."""
        with self._thread_lock:
            if self._key is None or self._key != self._stat_key():
                with self._file_lock:
                    self._refresh()
            if self._appended:
                added = _frame(self._appended, self._columns)
                self._base = pd.concat([self._base, added], ignore_index=True)
                self._appended = []
            return self._base

    def get(self, event_id: str) -> dict[str, str] | None:
        """Return one event by id, or None."""
        frame = self.frame()
        rows = frame.loc[frame["id"] == event_id]
        if rows.empty:
            return None
        return {name: str(value) for name, value in rows.iloc[0].items()}

    def __len__(self) -> int:
        return len(self.frame())

    # Writing

    def add(self, event: Mapping[str, str]) -> dict[str, str]:
        """Store a new event, giving it an id and timestamps, and return it as stored."""
        return self.add_many([event])[0]

    def add_many(self, events: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
        """Store new events in one durable append and return them as stored."""
        events = list(events)
        with self._thread_lock, self._file_lock:
            self._refresh()
            now = utc_now()
            stored = []
            for event in events:
                record = {name: str(event.get(name, "") or "") for name in self._columns}
                if not record["id"] or record["id"] in self._ids:
                    record["id"] = self._unused_id()
                self._ids.add(record["id"])
                record["created_at"] = record["created_at"] or now
                record["updated_at"] = record["updated_at"] or now
                stored.append(record)
            payload = encode_records(stored, self._columns)
            with open(self.path, "ab") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
                key = _key_of(os.fstat(handle.fileno()))
            self._appended.extend([record[name] for name in self._columns] for record in stored)
            self._remember(key, self._size + len(payload), self._fingerprint + payload)
        return stored

    def update(self, event_id: str, changes: Mapping[str, str]) -> dict[str, str]:
        """Change fields of one event, stamp updated_at, and return it as stored."""
        return self.update_many({event_id: changes})[0]

    def update_many(self, changes_by_id: Mapping[str, Mapping[str, str]]) -> list[dict[str, str]]:
        """Change several events in one atomic rewrite and return them as stored."""
        unknown = {name for changes in changes_by_id.values() for name in changes} - set(FIELDS)
        if unknown - set(self._columns):
            raise ValueError(f"Unknown fields: {', '.join(sorted(unknown))}")
        with self._thread_lock, self._file_lock:
            self._refresh()
            frame = self.frame().copy()
            positions = pd.Series(range(len(frame)), index=frame["id"])
            missing = [event_id for event_id in changes_by_id if event_id not in positions.index]
            if missing:
                raise EventNotFoundError(", ".join(missing))
            now = utc_now()
            for event_id, changes in changes_by_id.items():
                row = int(positions[event_id])
                for name, value in changes.items():
                    if name != "id":
                        frame.iat[row, frame.columns.get_loc(name)] = str(value)
                frame.iat[row, frame.columns.get_loc("updated_at")] = now
            self._rewrite(frame)
            return [self._row(frame, int(positions[event_id])) for event_id in changes_by_id]

    def replace_all(self, events: Iterable[Mapping[str, str]]) -> None:
        """Replace the whole store with these events in one atomic rewrite."""
        rows = [[str(event.get(name, "") or "") for name in FIELDS] for event in events]
        with self._thread_lock, self._file_lock:
            self._rewrite(_frame(rows, FIELDS))

    # Internals

    def _stat_key(self) -> tuple[int, int, int] | None:
        """Return the file's identity, size and modification time, or None if it is missing."""
        try:
            return _key_of(os.stat(self.path))
        except FileNotFoundError:
            return None

    def _unused_id(self) -> str:
        """Return an id no stored event has."""
        while (candidate := new_event_id()) in self._ids:
            pass
        return candidate

    def _row(self, frame: pd.DataFrame, position: int) -> dict[str, str]:
        """Return one row of a frame as a dict of strings."""
        return {name: str(value) for name, value in frame.iloc[position].items()}

    def _refresh(self) -> None:
        """Bring the cache up to date with the file; the caller holds the file lock."""
        key = self._stat_key()
        if key is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._rewrite(_frame([], FIELDS))
            return
        if key == self._key:
            return
        if self._key is not None and key[0] == self._key[0] and key[1] >= self._size:
            with open(self.path, "rb") as handle:
                handle.seek(max(self._size - FINGERPRINT_BYTES, 0))
                data = handle.read()
            fingerprint_length = min(self._size, FINGERPRINT_BYTES)
            if data[:fingerprint_length] == self._fingerprint:
                self._read_tail(data, fingerprint_length, key)
                return
        self._read_whole()

    def _read_tail(self, data: bytes, start: int, key: tuple[int, int, int]) -> None:
        """Take in records appended since the last read."""
        end = complete_length(data, start)
        if end < len(data):
            self._cut_torn_tail(self._size - start + end, data[end:])
            key = _key_of(os.stat(self.path))
        tail = data[start:end].decode("utf-8")
        rows = list(csv.reader(io.StringIO(tail, newline="")))
        self._check_rows(rows)
        self._appended.extend(rows)
        self._ids.update(row[self._columns.index("id")] for row in rows)
        self._remember(key, self._size + end - start, data[:end])

    def _read_whole(self) -> None:
        """Parse the whole file, cutting off an incomplete last record first."""
        for leftover in self.data_dir.glob(f".{EVENTS_FILE}.*.tmp"):
            leftover.unlink(missing_ok=True)  # a rewrite that died before its rename
        data = self.path.read_bytes()
        start = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
        end = complete_length(data, start)
        if end < len(data):
            self._cut_torn_tail(end, data[end:])
            data = data[:end]
        if end <= start:
            raise StoreError(f"{self.path} has no header row: it is not an events file.")
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
        if "id" not in columns or len(set(columns)) != len(columns):
            raise StoreError(f"{self.path} needs a header row with unique names including id.")
        missing = [name for name in FIELDS if name not in columns]
        if missing:  # an older file: add the new columns, empty
            for name in missing:
                frame[name] = ""
            frame = frame[list(FIELDS) + [name for name in columns if name not in FIELDS]]
            self._rewrite(frame)
            return
        self._columns = columns
        self._base = frame
        self._appended = []
        self._ids = set(frame["id"])
        self._remember(_key_of(os.stat(self.path)), len(data), data)

    def _check_rows(self, rows: list[list[str]]) -> None:
        """Refuse appended records whose field count does not match the header."""
        for row in rows:
            if len(row) != len(self._columns):
                raise StoreError(
                    f"{self.path} has a record with {len(row)} fields; the header has "
                    f"{len(self._columns)}."
                )

    def _cut_torn_tail(self, keep: int, torn: bytes) -> None:
        """Truncate an incomplete last record, keeping its bytes in the recovered folder."""
        recovered = self.data_dir / RECOVERED_DIR
        recovered.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        (recovered / f"events-torn-{stamp}.csv.part").write_bytes(torn)
        with open(self.path, "r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        log.warning("Cut an incomplete last record (%d bytes) from %s", len(torn), self.path)

    def _rewrite(self, frame: pd.DataFrame) -> None:
        """Replace the file with the frame's events atomically and durably."""
        columns = tuple(str(name) for name in frame.columns)
        payload = UTF8_BOM + _encode_frame(frame)
        temporary = self.data_dir / f".{EVENTS_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        _fsync_directory(self.data_dir)
        self._columns = columns
        self._base = frame.reset_index(drop=True)
        self._appended = []
        self._ids = set(frame["id"])
        self._remember(_key_of(os.stat(self.path)), len(payload), payload)

    def _remember(self, key: tuple[int, int, int], size: int, data_ending_at_size: bytes) -> None:
        """Record what the cache now reflects: the file's key and its validated length."""
        self._key = key
        self._size = size
        self._fingerprint = data_ending_at_size[-FINGERPRINT_BYTES:]


def _encode_frame(frame: pd.DataFrame) -> bytes:
    """Return a frame as CSV bytes with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([str(name) for name in frame.columns])
    writer.writerows(frame.itertuples(index=False, name=None))
    return buffer.getvalue().encode("utf-8")


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


def init_app(app: Flask) -> None:
    """Give the app its event store, kept in the configured data directory."""
    app.extensions["mapapp.store"] = EventStore(app.config["DATA_DIR"])


def get_store() -> EventStore:
    """Return the current app's event store."""
    store: EventStore = current_app.extensions["mapapp.store"]
    return store
