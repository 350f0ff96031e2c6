"""The CSV backend: tables kept as CSV files in the data directory, durable under many processes.

Writers hold a file lock. A new row is appended and fsynced before it is acknowledged; a change
rewrites the file atomically (temporary file, fsync, os.replace, directory fsync) from each row's
encoded bytes, re-encoding only the rows that changed, so one edit costs about one file write.

Readers take no lock. Each table keeps the file it last read open, so that file's inode number
cannot be handed to another file: `stat(path)` naming the same inode means the same file, and a
different inode means a replacement (another worker's rewrite, a spreadsheet's save, a restored
backup). When nothing changed a read costs one `stat`. A same file that grew had rows appended,
which are parsed from the tail alone (its last bytes before the old end must be unchanged); any
other change is read whole and validated. An in-place overwrite of the same size within the
file system's timestamp resolution cannot be seen this way: after a hand edit, run
`mapapp check` and restart.

A writer killed in the middle of an append leaves an incomplete last record: readers ignore it
and the next lock holder cuts it off (keeping the bytes in data/recovered/). A damaged file
(wrong header, field counts, encoding, formats) is never served as data nor rewritten: a process
that read a good copy before keeps serving it and refuses writes; one that has none raises
StoreDamagedError. Every problem is named with its line number.
"""

from __future__ import annotations

import csv
import errno
import logging
import os
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from filelock import FileLock, Timeout

from mapapp.storage import StoreDamagedError, StoreUnavailableError, refuse_nul
from mapapp.storage.records import (
    UTF8_BOM,
    decode_rows,
    encode_row,
    encode_rows,
    frame_of,
    parse,
    split_records,
)
from mapapp.storage.validation import (
    Problem,
    TableSpec,
    check_file,
    check_frame,
    check_records,
    fix_file,
)

RECOVERED_DIR = "recovered"
BACKUPS_DIR = "backups"
LOCK_TIMEOUT_SECONDS = 60  # then 503 "busy"; gunicorn's request timeout is 120 s
# New data files (and their lock files) are the service's own: they hold organisers' e-mails.
DEFAULT_FILE_MODE = 0o600
# Up to how many changed rows (or a tenth of the rows) a rewrite by another process is taken in
# row by row rather than read whole.
REPLACEMENT_ROWS = 1000
# How many buffers one os.writev call may take (Linux's IOV_MAX).
IOV_MAX = 1024
# How many bytes before the validated end must be unchanged for a grown file to be an append.
FINGERPRINT_BYTES = 64
# Errors that mean "no room left"; any other error while writing means "read-only".
FULL_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT})
# The value a row of an upgraded file gets in a column its older header lacked.
UPGRADE_VALUES = {"version": "1"}

log = logging.getLogger(__name__)


def _stat_key(status: os.stat_result) -> tuple[int, int, int]:
    """Return a file's inode, size and modification time."""
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def _write_all(descriptor: int, parts: Sequence[bytes]) -> None:
    """Write these bytes to a file descriptor, in order (the seam of every store write).

    os.writev takes the rows' own bytes, so a rewrite copies the 28 MB of a 50,000-event file
    once (into the kernel) instead of joining them first. A short write (a disk filling up) is
    finished plainly, so that the next write fails with the real error.
    """
    for start in range(0, len(parts), IOV_MAX):
        chunk = parts[start : start + IOV_MAX]
        written = os.writev(descriptor, chunk)
        if written < sum(map(len, chunk)):
            rest = memoryview(b"".join(chunk))[written:]
            while rest:
                rest = rest[os.write(descriptor, rest) :]


def fsync_directory(directory: Path) -> None:
    """Make a rename in a directory durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def unavailable(exc: OSError, what: str) -> StoreUnavailableError:
    """Return the store error for an OSError met while writing."""
    # Anything else (EIO, a vanished directory) also means nothing can be written here now.
    reason = "full" if exc.errno in FULL_ERRORS else "read-only"
    return StoreUnavailableError(reason, f"{what}: {exc.strerror or exc}")


def _timestamp() -> str:
    """Return the current UTC time for file names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


class CsvTable:
    """A CSV file of string rows with a header, durable and safe for many threads and processes."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        columns: Iterable[str] | TableSpec,
        key: str = "",
        *,
        lock: tuple[FileLock, threading.RLock] | None = None,
        file_mode: int = DEFAULT_FILE_MODE,
    ) -> None:
        self.path = Path(path)
        self.file_mode = file_mode  # of files this table creates; existing files keep theirs
        self.data_dir = self.path.parent
        if isinstance(columns, TableSpec):
            self.spec = columns
        else:
            self.spec = TableSpec(file_name=self.path.name, columns=tuple(columns), key=key)
        self.schema = self.spec.columns
        self.key = self.spec.key
        if lock is None:
            lock = (
                FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS, mode=file_mode),
                threading.RLock(),
            )
        self._file_lock, self._thread_lock = lock
        self._descriptor: int | None = None  # the file last read, kept open (see the module doc)
        self._retired: list[int] = []  # files replaced while the lock was held, closed after it
        self._identity: tuple[int, int] | None = None  # its device and inode
        self._seen: tuple[int, int, int] | None = None  # stat(path) when last looked at
        self._loaded = False  # whether a good copy was ever read
        self._damage: list[str] = []  # why the file on disk cannot be used, if it cannot
        self._write_failure = ""  # why the last write failed, until one succeeds
        self._columns: tuple[str, ...] = self.schema
        self._header = UTF8_BOM + encode_row(self.schema)
        self._lines: list[bytes] = []  # each row's bytes, in file order
        self._next_line: int | None = 2  # the line the next row starts on (None: count again)
        self._base = frame_of([], self.schema)
        self._appended: list[list[str]] = []
        self._positions: dict[str, int] = {}
        self._size = 0  # bytes validated: header and complete rows
        self._crc: int | None = 0  # of those bytes (None: not computed since the last rewrite)
        self._fingerprint = b""
        # Keys derived from stored rows by a function, and how many rows they cover.
        self._derived_keys: dict[Callable[..., str], tuple[int, frozenset[str]]] = {}

    # Reading

    @property
    def version(self) -> str:
        """Return a token that changes whenever the stored rows change, the same in every process."""
        with self._thread_lock:
            self._look()
            return f"{len(self._positions):x}-{self._checksum():08x}"

    def frame(self) -> pd.DataFrame:
        """Return every stored row as strings, in file order; do not modify it."""
        with self._thread_lock:
            self._look()
            return self._frame_now()

    def get(self, key: str) -> dict[str, str] | None:
        """Return the row with this key, or None."""
        with self._thread_lock:
            frame = self.frame()
            position = self._positions.get(key)
            return None if position is None else row_of(frame, position)

    def __contains__(self, key: object) -> bool:
        with self._thread_lock:
            self._look()
            return key in self._positions

    def __len__(self) -> int:
        with self._thread_lock:
            self._look()
            return len(self._positions)

    @property
    def damage(self) -> list[str]:
        """Return why the file on disk cannot be used now (empty when it can)."""
        with self._thread_lock:
            self._look()
            return list(self._damage)

    def health(self) -> str:
        """Return "ok", "read-only" (reads work, writes cannot) or "degraded"."""
        try:
            self.frame()
        except StoreDamagedError:
            return "degraded"
        if self._damage:
            return "degraded"
        if self._write_failure or not self._writable():
            return "read-only"
        return "ok"

    def problems(self) -> list[Problem]:
        """Return every problem with the file as it is on disk now, informational ones included."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return check_file(data, self.spec)

    # Writing

    def append(
        self,
        records: Iterable[Mapping[str, str]],
        *,
        unless_stored: Callable[[Mapping[str, str]], str] | None = None,
    ) -> list[dict[str, str]]:
        """Add rows in one durable append and return them as stored.

        A row whose key is stored already (or comes earlier in records) is left out: checked
        under the lock, so two processes adding the same key add it once. With unless_stored,
        rows are also left out when a stored row has the same unless_stored(row).
        """
        records = list(records)
        refuse_nul(records)  # a file holding NUL is damaged (validation): refused before writing
        with self._writing():
            if unless_stored is not None:
                records = self._not_stored(records, unless_stored)
            stored, keys = [], set()
            for record in map(self._prepare_new, records):
                key = record[self.key]
                if key not in keys and key not in self._positions:
                    keys.add(key)
                    stored.append(record)
            if stored:
                self._append_locked([[row[name] for name in self._columns] for row in stored])
        return stored

    def delete(self, keys: Iterable[str]) -> int:
        """Remove the rows with these keys in one atomic rewrite and return how many went."""
        keys = set(keys)
        with self._writing():
            frame = self._frame_now()
            kept = ~frame[self.key].isin(keys)
            removed = len(frame) - int(kept.sum())
            if removed:
                lines = [line for line, keep in zip(self._lines, kept, strict=True) if keep]
                self._replace_file(lines, frame[kept].reset_index(drop=True), same_keys=False)
            return removed

    def change_rows(
        self, decide: Callable[[pd.DataFrame], Mapping[str, Mapping[str, str]]]
    ) -> list[dict[str, str]]:
        """Change rows chosen from the table as it is now, under the lock; return them as stored.

        decide(frame) sees every stored row (do not modify the frame) and returns the new values
        by key; they are written in one atomic rewrite before the lock is released, so two
        processes choosing at once never both choose the same row (a claim, a keyed
        compare-and-swap). Keys no longer stored are left out; an unknown column, or a change of
        the key, raises ValueError and writes nothing.
        """
        with self._writing():
            frame = self._frame_now()
            changes = {
                key: values for key, values in decide(frame).items() if key in self._positions
            }
            column_of = {str(name): number for number, name in enumerate(frame.columns)}
            unknown = {name for values in changes.values() for name in values} - set(self.schema)
            if unknown or any(self.key in values for values in changes.values()):
                raise ValueError(f"Cannot change: {', '.join(sorted(unknown) or [self.key])}")
            refuse_nul(changes.values())
            if not changes:
                return []
            changed = frame.copy(deep=False)  # copy-on-write: the frame handed out stays as it was
            lines = list(self._lines)
            size = self._size
            for key, values in changes.items():
                position = self._positions[key]
                for name, value in values.items():
                    changed.iat[position, column_of[name]] = str(value)
                line = encode_row([str(value) for value in changed.iloc[position]])
                size += len(line) - len(lines[position])
                lines[position] = line
            self._replace_file(lines, changed, size=size)
            frame = self._frame_now()
            return [row_of(frame, self._positions[key]) for key in changes]

    def rewrite(self, records: Iterable[Mapping[str, str]]) -> None:
        """Replace every row with these in one atomic rewrite."""
        rows = [[str(record.get(name, "") or "") for name in self.schema] for record in records]
        refuse_nul(dict(zip(self.schema, row, strict=True)) for row in rows)
        with self._writing(allow_damaged=True):
            self._columns = self.schema
            self._header = UTF8_BOM + encode_row(self.schema)
            self._replace_file(encode_rows(rows), frame_of(rows, self.schema), same_keys=False)

    def fix(self) -> tuple[list[str], list[Problem], Path | None]:
        """Correct what is safely fixable in the file, keeping the original under backups/.

        Return what was changed, what still needs a person, and the backup's path (None when
        nothing was changed).
        """
        with self._locked(), self._thread_lock:
            data = self.path.read_bytes()
            result = fix_file(data, self.spec)
            if not result.changes or result.data == data:
                return [], result.remaining, None
            backup = self._backup(data)
            self._write_new_file(result.data)
            self._seen = None
            self._look()
            log.warning(
                "Fixed %s (%s); the original is %s", self.path, "; ".join(result.changes), backup
            )
            return result.changes, result.remaining, backup

    def create_missing(self) -> None:
        """Create the file with its header if it is missing and the directory is writable."""
        if self.path.exists() or not os.access(self.data_dir, os.W_OK):
            return
        try:
            with self._locked(), self._thread_lock:
                self._ensure_file()
        except StoreUnavailableError as exc:
            log.warning("Could not create %s: %s", self.path, exc)

    def close(self) -> None:
        """Let go of the file held open (the table reads it again when next asked)."""
        with self._thread_lock:
            if self._descriptor is not None:
                os.close(self._descriptor)
            self._descriptor = None
            self._identity = None
            self._seen = None

    # Hooks for subclasses

    def _prepare_new(self, record: Mapping[str, str]) -> dict[str, str]:
        """Return a new row with every column; the caller holds the lock."""
        return {name: str(record.get(name, "") or "") for name in self._columns}

    # Reading, inside

    def _cell(self, position: int, column: int) -> str:
        """Return one stored value without taking appended rows into the frame."""
        if position < len(self._base):
            return str(self._base.iat[position, column])
        return self._appended[position - len(self._base)][column]

    def _checksum(self) -> int:
        """Return the CRC-32 of the validated bytes, computing it once after a rewrite."""
        if self._crc is None:
            self._crc = zlib.crc32(b"".join([self._header, *self._lines]))
        return self._crc

    def _line_after(self) -> int:
        """Return the physical line on which the next appended row starts."""
        if self._next_line is None:
            self._next_line = 2 + sum(line.count(b"\n") for line in self._lines)
        return self._next_line

    def _frame_now(self) -> pd.DataFrame:
        """Return the cached frame with appended rows taken in; the caller has looked."""
        if self._damage and not self._loaded:
            raise StoreDamagedError(
                f"{self.path} needs attention: " + " ".join(self._damage[:3]), self._damage
            )
        if self._appended:
            added = frame_of(self._appended, self._columns)
            self._base = pd.concat([self._base, added], ignore_index=True)
            self._appended = []
        return self._base

    def _look(self, *, writer: bool = False) -> None:
        """Bring the cache up to date with the file; only a writer (holding the lock) repairs."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            if self._loaded:
                self._damage = [f"{self.path} is missing."]
                self._seen = None
            else:
                self._install_empty()
            return
        key = _stat_key(status)
        if key == self._seen and not writer:
            return
        same_file = self._identity == (status.st_dev, status.st_ino)
        if same_file and key == self._seen:
            pass
        elif same_file and status.st_size > self._size and not self._damage:
            self._read_tail(key)
        else:
            self._read_whole()
        if writer and self._size < os.stat(self.path).st_size and not self._damage:
            self._cut_torn_tail()

    def _read_tail(self, key: tuple[int, int, int]) -> None:
        """Take in rows appended since the last read, from the file held open."""
        assert self._descriptor is not None
        length = min(self._size, FINGERPRINT_BYTES)
        data = os.pread(self._descriptor, key[1] - self._size + length, self._size - length)
        if data[:length] != self._fingerprint:  # not an append: something rewrote it in place
            self._read_whole()
            return
        records, _lines, end = split_records(data, length)
        self._seen = key
        if not records:
            return  # only an incomplete record so far: a writer is at it, or died
        lines = [self._line_after() + n for n in range(len(records))]
        rows = self._checked_rows(records, lines)
        at = self._columns.index(self.key)
        new_keys = [row[at] for row in rows or []]
        if rows is None or not self._keys_are_new(new_keys):
            self._read_whole()  # names every problem with its line
            return
        self._take_rows(records, rows, data[length:end])

    def _checked_rows(self, records: list[bytes], lines: list[int]) -> list[list[str]] | None:
        """Return records another process wrote as rows if they pass every check, else None.

        A whole read then names what is wrong; rows taken in piecemeal get the same checks as a
        whole file (field counts, encoding, NUL, formats), never fewer.
        """
        if check_records(records, lines, len(self._columns), self.spec):
            return None
        if any(b"\x00" in record for record in records):
            return None
        try:
            rows = decode_rows(records)
        except (UnicodeDecodeError, csv.Error):
            return None
        if len(rows) != len(records) or any(len(row) != len(self._columns) for row in rows):
            return None
        fresh = frame_of(rows, self._columns)
        if any(problem.damage for problem in check_frame(fresh, lines, self.spec)):
            return None
        return rows

    def _keys_are_new(self, keys: list[str]) -> bool:
        """Return whether keys are unique among themselves and absent from the table."""
        return len(set(keys)) == len(keys) and not any(key in self._positions for key in keys)

    def _take_rows(self, records: list[bytes], rows: list[list[str]], raw: bytes) -> None:
        """Add rows now in the file to the cache."""
        position = self._columns.index(self.key)
        for row in rows:
            self._positions[row[position]] = len(self._positions)
        self._lines.extend(records)
        self._appended.extend(rows)
        if self._next_line is not None:
            self._next_line += sum(record.count(b"\n") for record in records)
        if self._crc is not None:
            self._crc = zlib.crc32(raw, self._crc)
        self._size += len(raw)
        self._fingerprint = (self._fingerprint + raw)[-FINGERPRINT_BYTES:]
        self._after_rows(rows)

    def _read_whole(self) -> None:
        """Read, validate and install the file at path; a damaged file is named, not installed."""
        try:
            descriptor = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            self._install_empty()
            return
        try:
            status = os.fstat(descriptor)
            data = _read_descriptor(descriptor, status.st_size)
            if self._take_replacement(data):
                self._replace_descriptor(descriptor, status)
                self._seen = _stat_key(status)
                return
            problems, parsed = parse(data, self.spec)
        except BaseException:
            os.close(descriptor)
            raise
        damage = [str(problem) for problem in problems if getattr(problem, "damage", True)]
        if damage or parsed is None:
            self._keep_damaged(descriptor, status, damage or [f"{self.path} cannot be read."])
            return
        header, records, lines, frame, end = parsed
        self._replace_descriptor(descriptor, status)
        self._damage = []
        self._seen = _stat_key(status)
        self._install(data[:end], header, records, lines, frame)
        if tuple(frame.columns[: len(self.schema)]) != self.schema:
            self._upgrade()

    def _take_replacement(self, data: bytes) -> bool:
        """Take in a rewrite by another process from the rows that differ; False if it cannot.

        Another worker's edit replaces the file with one that differs from the copy held here in
        a few rows: those alone are parsed and checked (a whole read and check of 50,000 rows
        takes a second or more). Anything else (a new header, rows removed or moved, rows
        spanning lines, many changes) is left to a whole read, which names every problem.
        """
        if not self._loaded or self._damage or self._appended or not data.startswith(self._header):
            return False
        pieces = data[len(self._header) :].split(b"\r\n")
        if pieces[-1] or any(piece.count(b'"') % 2 for piece in pieces):
            return False
        records = [piece + b"\r\n" for piece in pieces[:-1]]
        old = self._lines
        if len(records) < len(old):
            return False
        pairs = enumerate(zip(old, records[: len(old)], strict=True))
        changed = [n for n, (mine, theirs) in pairs if mine != theirs]
        added = records[len(old) :]
        if len(changed) + len(added) > max(REPLACEMENT_ROWS, len(old) // 10):
            return False
        taken = [records[n] for n in changed] + added
        rows = self._checked_rows(taken, [0] * len(taken))
        if rows is None:
            return False
        key = self._columns.index(self.key)
        frame = self._frame_now()
        new_keys = [row[key] for row in rows[len(changed) :]]
        if any(frame.iat[n, key] != row[key] for n, row in zip(changed, rows, strict=False)) or (
            not self._keys_are_new(new_keys)
        ):
            return False
        updated = frame.copy(deep=False)
        for n, row in zip(changed, rows, strict=False):
            for column, value in enumerate(row):
                if updated.iat[n, column] != value:
                    updated.iat[n, column] = value
        self._base = updated
        self._lines = records[: len(old)]
        self._derived_keys = {}
        self._take_rows(added, rows[len(changed) :], b"".join(added))
        if changed:
            self._after_load(self._frame_now())  # a version may have gone down (a restore)
        self._size = len(data)
        self._crc = None
        self._next_line = None
        self._fingerprint = data[-FINGERPRINT_BYTES:]
        return True

    def _keep_damaged(self, descriptor: int, status: os.stat_result, damage: list[str]) -> None:
        """Remember that the file on disk is damaged; keep serving the good copy, if any."""
        if damage != self._damage:
            log.error(
                "%s cannot be used%s:\n  %s",
                self.path,
                "; serving the copy read before and refusing writes" if self._loaded else "",
                "\n  ".join(damage),
            )
        self._damage = damage
        self._seen = _stat_key(status)
        if self._descriptor is not None and self._loaded:
            os.close(descriptor)  # keep the good copy's file open instead: its inode stays ours
            self._identity = None  # so that any later change is read whole
        else:
            self._replace_descriptor(descriptor, status)

    def _install(
        self,
        validated: bytes,
        header: bytes,
        records: list[bytes],
        lines: list[int],
        frame: pd.DataFrame,
    ) -> None:
        """Make a freshly read file the cache."""
        self._columns = tuple(str(name) for name in frame.columns)
        self._header = header
        self._lines = records
        self._next_line = (lines[-1] + records[-1].count(b"\n")) if records else 2
        self._base = frame
        self._appended = []
        self._derived_keys = {}
        self._positions = {key: number for number, key in enumerate(frame[self.key].tolist())}
        self._size = len(validated)
        self._crc = zlib.crc32(validated)
        self._fingerprint = validated[-FINGERPRINT_BYTES:]
        self._loaded = True
        self._after_load(frame)

    def _install_empty(self) -> None:
        """Make an empty table the cache (no file yet: it is created by the first write)."""
        self._columns = self.schema
        self._header = UTF8_BOM + encode_row(self.schema)
        self._install(b"", self._header, [], [], frame_of([], self.schema))
        self._size = 0
        self._identity = None
        self._seen = None

    def _replace_descriptor(self, descriptor: int, status: os.stat_result) -> None:
        """Hold this file open from now on, letting go of the one held before.

        A writer closes the old file after releasing the lock: closing the last descriptor of a
        replaced file frees its blocks, which takes milliseconds for a large file.
        """
        if self._descriptor is not None:
            if self._file_lock.is_locked:
                self._retired.append(self._descriptor)
            else:
                os.close(self._descriptor)
        self._descriptor = descriptor
        self._identity = (status.st_dev, status.st_ino)

    def _upgrade(self) -> None:
        """Bring a file with a known older header to the current one, once, with a backup."""
        frame = self._base.copy()
        older = list(frame.columns)
        for name in self.schema:
            if name not in frame.columns:
                frame[name] = self.spec.upgrade_values.get(name, UPGRADE_VALUES.get(name, ""))
        extra = [name for name in older if name not in self.schema]
        frame = frame[list(self.schema) + extra]
        rows = [[str(value) for value in row] for row in frame.itertuples(index=False)]
        try:
            with self._locked(timeout=0):  # called by a read holding the thread lock
                if os.stat(self.path).st_ino != (self._identity or (0, 0))[1]:
                    self._read_whole()  # another process got there first: read its upgrade
                    return
                backup = self._backup(self._header + b"".join(self._lines))
                self._header = UTF8_BOM + encode_row([str(name) for name in frame.columns])
                self._columns = tuple(frame.columns)
                self._replace_file(encode_rows(rows), frame, same_keys=False)
            log.warning("Upgraded %s to the current header; the original is %s", self.path, backup)
        except StoreUnavailableError:  # read-only: serve the upgraded rows, write nothing
            self._columns = tuple(frame.columns)
            self._base = frame.reset_index(drop=True)
            self._lines = encode_rows(rows)
            self._after_load(self._base)

    def _after_load(self, frame: pd.DataFrame) -> None:
        """Derive what a subclass keeps from the whole frame."""

    def _after_rows(self, rows: list[list[str]]) -> None:
        """Derive what a subclass keeps from rows appended by another process."""

    # Writing, inside

    def _writable(self) -> bool:
        """Return whether this process may write in the data directory at all."""
        directory = self.data_dir
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent  # created by the first write
        return os.access(directory, os.W_OK) and (
            not self.path.exists() or os.access(self.path, os.W_OK)
        )

    @contextmanager
    def _locked(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the file lock, or raise StoreUnavailableError saying why it cannot be had.

        Writers take it before the thread lock (see _writing); a caller already holding the
        thread lock must not wait for it (timeout=0), or it could wait for a thread of its own
        process that holds the file lock and waits for the thread lock.
        """
        try:
            if not self._file_lock.is_locked and not self._writable():
                raise PermissionError(errno.EACCES, "no write access", str(self.data_dir))
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if timeout is None:
                self._file_lock.acquire()
            else:
                self._file_lock.acquire(timeout=timeout)
        except Timeout as exc:
            raise StoreUnavailableError("busy", "another writer holds the lock") from exc
        except OSError as exc:
            self._write_failure = "read-only"
            raise unavailable(exc, f"cannot lock {self.path}") from exc
        try:
            yield
        finally:
            self._file_lock.release()
            if not self._file_lock.is_locked:
                with self._thread_lock:
                    while self._retired:
                        os.close(self._retired.pop())

    @contextmanager
    def _writing(self, *, allow_damaged: bool = False) -> Iterator[None]:
        """Hold both locks with the cache up to date and the file whole, for one change.

        The file lock comes first: while this thread waits for another process's write, the
        other threads of this worker go on reading (and answering /healthz) from the cache.
        """
        with self._locked(), self._thread_lock:
            self._ensure_file()
            self._look(writer=True)
            if self._damage and not allow_damaged:
                raise StoreUnavailableError("damaged", " ".join(self._damage[:3]))
            yield

    def _ensure_file(self) -> None:
        """Create the file with its header if it is missing (the caller holds the lock)."""
        if not self.path.exists():
            self._write_new_file(UTF8_BOM + encode_row(self.schema))
            self._seen = None

    def _append_locked(self, rows: list[list[str]]) -> None:
        """Append rows durably; on failure cut back to what was there and raise."""
        records = encode_rows(rows)
        payload = b"".join(records)
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise self._failed(exc, "cannot open") from exc
        try:
            _write_all(descriptor, records)
            os.fsync(descriptor)
            status = os.fstat(descriptor)
        except OSError as exc:
            self._cut_back(descriptor)
            raise self._failed(exc, "cannot append") from exc
        finally:
            os.close(descriptor)
        self._write_failure = ""
        self._take_rows(records, rows, payload)
        self._seen = _stat_key(status)

    def _cut_back(self, descriptor: int) -> None:
        """Undo a failed append: nothing half-written stays."""
        try:
            os.ftruncate(descriptor, self._size)
            os.fsync(descriptor)
        except OSError:  # the next lock holder cuts the incomplete record
            log.exception("Could not cut a failed append back in %s", self.path)

    def _failed(self, exc: OSError, what: str) -> StoreUnavailableError:
        """Remember and return why a write failed."""
        error = unavailable(exc, f"{what} {self.path}")
        self._write_failure = error.reason
        log.error("Nothing was stored in %s: %s", self.path, exc)
        return error

    def _replace_file(
        self,
        lines: list[bytes],
        frame: pd.DataFrame,
        *,
        same_keys: bool = True,
        size: int | None = None,
    ) -> None:
        """Replace the file with the header and these rows atomically, then cache them."""
        parts = [self._header, *lines]
        if size is None:
            size = sum(map(len, parts))
        descriptor, status = self._write_new_file(parts, keep_open=True)
        self._replace_descriptor(descriptor, status)
        self._seen = _stat_key(status)
        self._lines = lines
        self._base = frame.reset_index(drop=True)
        self._appended = []
        self._derived_keys = {}
        if not same_keys:
            self._positions = {key: n for n, key in enumerate(self._base[self.key].tolist())}
            self._after_load(self._base)
        self._next_line = None
        self._size = size
        self._crc = None
        self._fingerprint = (self._header + b"".join(lines[-2:]))[-FINGERPRINT_BYTES:]
        self._damage = []
        self._loaded = True
        self._write_failure = ""

    def _write_new_file(
        self, payload: bytes | list[bytes], *, keep_open: bool = False
    ) -> tuple[int, os.stat_result]:
        """Put payload at path atomically and durably; return the new file open for reading."""
        temporary = self.data_dir / f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        for leftover in self.data_dir.glob(f".{self.path.name}.*.tmp"):
            leftover.unlink(
                missing_ok=True
            )  # a rewrite that died before its rename (we hold the lock)
        try:
            mode = os.stat(self.path).st_mode & 0o777
        except FileNotFoundError:
            mode = self.file_mode
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)
        except OSError as exc:
            raise self._failed(exc, "cannot write next to") from exc
        try:
            os.fchmod(descriptor, mode)
            _write_all(descriptor, [payload] if isinstance(payload, bytes) else payload)
            os.fsync(descriptor)
            os.replace(temporary, self.path)
            fsync_directory(self.data_dir)
            status = os.fstat(descriptor)
        except OSError as exc:
            os.close(descriptor)
            temporary.unlink(missing_ok=True)
            raise self._failed(exc, "cannot rewrite") from exc
        self._write_failure = ""
        if not keep_open:
            os.close(descriptor)
        return descriptor, status

    def _cut_torn_tail(self) -> None:
        """Truncate an incomplete last row, keeping its bytes in the recovered folder."""
        with open(self.path, "r+b") as handle:
            handle.seek(self._size)
            torn = handle.read()
            if not torn:
                return
            self._save_aside(torn, "torn")
            handle.truncate(self._size)
            handle.flush()
            os.fsync(handle.fileno())
            self._seen = _stat_key(os.fstat(handle.fileno()))
        log.warning("Cut an incomplete last row (%d bytes) from %s", len(torn), self.path)

    def _save_aside(self, data: bytes, kind: str) -> None:
        """Keep bytes taken out of a file in recovered/, whole or not at all."""
        folder = self.data_dir / RECOVERED_DIR
        target = folder / f"{self.path.stem}-{kind}-{_timestamp()}.csv.part"
        partial = folder / f".{target.name}.tmp"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            with open(
                os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.file_mode), "wb"
            ) as handle:
                handle.write(data)
            os.replace(partial, target)
        except OSError:
            partial.unlink(missing_ok=True)
            log.exception("Could not keep %d bytes cut from %s", len(data), self.path)

    def _backup(self, data: bytes) -> Path:
        """Keep a copy of a file's bytes under backups/ and return its path."""
        folder = self.data_dir / BACKUPS_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        target = folder / f"{self.path.stem}-{_timestamp()}{self.path.suffix}"
        partial = folder / f".{target.name}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        with open(os.open(partial, flags, self.file_mode), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
        return target

    def _not_stored(
        self, records: list[Mapping[str, str]], key_of: Callable[[Mapping[str, str]], str]
    ) -> list[Mapping[str, str]]:
        """Return the records whose key no stored row and no earlier record has."""
        frame = self._frame_now()
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

    def _truncate_to(self, size: int, *, keep: bool = True) -> None:
        """Cut the file back to size (the caller holds the lock), keeping what goes aside."""
        with open(self.path, "r+b") as handle:
            handle.seek(size)
            cut = handle.read()
            if keep and cut:
                self._save_aside(cut, "unconfirmed")
            handle.truncate(size)
            handle.flush()
            os.fsync(handle.fileno())
        self._seen = None
        self._read_whole()


def _read_descriptor(descriptor: int, size: int) -> bytes:
    """Return a file's bytes from its start, up to its end now."""
    chunks = []
    position = 0
    while chunk := os.pread(descriptor, max(size - position, 1 << 20), position):
        chunks.append(chunk)
        position += len(chunk)
    return b"".join(chunks)


def row_of(frame: pd.DataFrame, position: int) -> dict[str, str]:
    """Return one row of a frame as a dict of strings."""
    return {str(name): str(value) for name, value in frame.iloc[position].items()}
