"""The events and their audit log: every change recorded with it, in one crash-safe pair.

Every row has a version: the number of the change that last wrote it, counted across the store,
so it both tells a row's edits apart (compare-and-swap) and orders all changes (changed_since).
Each change is recorded in the audit log first and then in the events file, under one lock; an
audit batch whose change never reached the events file (the writer died in between, or the disk
was full) is cut by the next writer, so every audit entry left is of a change that was made.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

from mapapp.events import FIELDS, STATUSES
from mapapp.storage import (
    VERSION_FIELD,
    Audit,
    ConflictError,
    RowNotFoundError,
    StoreUnavailableError,
    Updated,
    new_event_id,
    refuse_nul,
    utc_now,
)
from mapapp.storage.csv import BACKUPS_DIR, DEFAULT_FILE_MODE, RECOVERED_DIR, CsvTable, row_of
from mapapp.storage.records import decode_rows, encode_row
from mapapp.storage.validation import ColumnRule, TableSpec

EVENTS_FILE = "events.csv"
AUDIT_FILE = "audit.csv"
STORED_FIELDS: tuple[str, ...] = (*FIELDS, VERSION_FIELD)
# The columns before an organiser's change of a published event could wait for review.
FIELDS_BEFORE_CHANGES: tuple[str, ...] = tuple(
    name
    for name in FIELDS
    if name not in {"pending_change", "change_note", "partner", "interface_language"}
)
# The columns before partners' systems posted events with keys of their own.
FIELDS_BEFORE_PARTNERS: tuple[str, ...] = tuple(
    name for name in FIELDS if name not in {"partner", "interface_language"}
)
# The columns before e-mails went out in the organiser's interface language.
FIELDS_BEFORE_LANGUAGES: tuple[str, ...] = tuple(
    name for name in FIELDS if name != "interface_language"
)
EVENTS_SPEC = TableSpec(
    file_name=EVENTS_FILE,
    columns=STORED_FIELDS,
    key="id",
    # Every schema change registers the header it replaces here; it is upgraded once, with a
    # backup. Any other header is refused with the column named.
    older_headers=(
        FIELDS_BEFORE_CHANGES,
        (*FIELDS_BEFORE_CHANGES, VERSION_FIELD),
        (*FIELDS_BEFORE_PARTNERS, VERSION_FIELD),
        (*FIELDS_BEFORE_LANGUAGES, VERSION_FIELD),
    ),
    rules={
        "id": ColumnRule("id", required=True),
        "status": ColumnRule("choice", required=True, choices=tuple(STATUSES)),
        "starts_at": ColumnRule("local_time", required=True),
        "ends_at": ColumnRule("local_time"),
        "latitude": ColumnRule("latitude"),
        "longitude": ColumnRule("longitude"),
        "is_sample": ColumnRule("boolean"),
        "created_at": ColumnRule("utc_time"),
        "updated_at": ColumnRule("utc_time"),
        VERSION_FIELD: ColumnRule("integer", required=True),
    },
)
AUDIT_COLUMNS = ("id", "time", "who", "event_id", "action", "changes", "version", "batch")
AUDIT_SPEC = TableSpec(
    file_name=AUDIT_FILE,
    columns=AUDIT_COLUMNS,
    key="id",
    older_headers=(AUDIT_COLUMNS[:6],),
    rules={"time": ColumnRule("utc_time", required=True), "version": ColumnRule("integer")},
)
# Who the audit log names for events added by the system itself (sample data, tests, scripts).
SYSTEM_ADD = Audit("system", "submit")
# The action of an erase, whose entry lands when the event is gone, and what the changes of
# every audit entry of an erased event become: who did what when stays, the values go.
ERASE_ACTION = "erase"
ERASED = json.dumps("erased")

log = logging.getLogger(__name__)


def version_numbers(versions: pd.Series) -> pd.Series:
    """Return a version column as integers (0 where a value is not one).

    Validation lets only integers into the column, and a plain conversion of 50,000 of them
    takes 3 ms where pandas' forgiving one takes 13: the forgiving one is the fallback.
    """
    try:
        return versions.astype("int64")
    except (TypeError, ValueError, OverflowError):
        return pd.to_numeric(versions, errors="coerce").fillna(0)


class EventStore(CsvTable):
    """The events of one data directory, data/events.csv, and their audit log, data/audit.csv."""

    keeps_files = True

    def __init__(
        self, data_dir: str | os.PathLike[str], *, file_mode: int = DEFAULT_FILE_MODE
    ) -> None:
        super().__init__(Path(data_dir) / EVENTS_FILE, EVENTS_SPEC, file_mode=file_mode)
        self._max_version = 0
        self._audit_last = 0  # the version of the audit log's last batch, when it landed
        self._reserved: set[str] = set()  # ids given to new events not yet appended
        self.audit = CsvTable(
            self.data_dir / AUDIT_FILE,
            AUDIT_SPEC,
            lock=(self._file_lock, self._thread_lock),
            file_mode=file_mode,
        )
        self._tables: dict[str, CsvTable] = {AUDIT_FILE: self.audit}

    @property
    def location(self) -> str:
        """Return the data directory, for messages."""
        return str(self.data_dir)

    @property
    def modified(self) -> float:
        """Return the events file's modification time (0 when there is no file yet)."""
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def table(self, file_name: str, columns: Iterable[str] | TableSpec, key: str) -> CsvTable:
        """Return another table of this data directory (the audit log, accounts, caches)."""
        if file_name not in self._tables:
            self._tables[file_name] = CsvTable(
                self.data_dir / file_name, columns, key, file_mode=self.file_mode
            )
        return self._tables[file_name]

    def tables(self) -> list[CsvTable]:
        """Return every table of this data directory this store knows, itself first."""
        return [self, *self._tables.values()]

    def close(self) -> None:
        """Let go of every file held open."""
        super().close()
        for table in self._tables.values():
            table.close()

    @property
    def version(self) -> str:
        """Return the number of the last change and a checksum of the file's bytes."""
        with self._thread_lock:
            self._look()
            return f"{self._max_version}-{self._checksum():08x}"

    def health(self) -> str:
        """Return the worse health of the events file and the audit log."""
        states = (super().health(), self.audit.health())
        return next(state for state in ("degraded", "read-only", "ok") if state in states)

    def changed_since(self, version: str) -> list[str]:
        """Return the ids of the events written by a change after the one a version names."""
        try:
            number = int(version.split("-", 1)[0])
        except ValueError:
            return list(self.frame()["id"])
        frame = self.frame()
        return frame.loc[version_numbers(frame[VERSION_FIELD]) > number, "id"].tolist()

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
        """Store new events in one durable append, each with its audit entry (see append)."""
        events = list(events)
        refuse_nul(events)
        with self._writing():
            self._settle_audit()
            if unless_stored is not None:
                events = self._not_stored(events, unless_stored)
            if not events:
                return []
            number = max(self._max_version, self._audit_last) + 1
            try:
                stored = [
                    {**self._prepare_new(event), VERSION_FIELD: str(number)} for event in events
                ]
            finally:
                self._reserved.clear()
            audit_size = self._audit_size()
            self._record(audit, number, [(row["id"], {}) for row in stored])
            try:
                self._append_locked([[row[name] for name in self._columns] for row in stored])
            except StoreUnavailableError:
                self._undo_audit(audit_size)
                raise
            self._max_version = number
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
        """Change fields of one event if it is still at the expected version; return it.

        touch=False keeps updated_at (the event's last revision, public: .ics LAST-MODIFIED)
        for a change of private bookkeeping only, such as a change waiting for review.
        """
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
        """Change fields of several events in one atomic rewrite, each if still as expected.

        expected gives the version each event had when it was read. An event whose version
        differs is stale: then nothing is written and ConflictError raised, or, with skip_stale,
        the others are written and the stale ones returned as they are now.
        """
        unknown = {name for changes in changes_by_id.values() for name in changes}
        unknown -= set(self.schema) - {"id", VERSION_FIELD}
        if unknown:
            raise ValueError(f"Unknown fields: {', '.join(sorted(unknown))}")
        unversioned = [event_id for event_id in changes_by_id if not expected.get(event_id)]
        if unversioned:
            raise ValueError(f"No version given for {', '.join(unversioned)}.")
        refuse_nul(changes_by_id.values())
        with self._writing():
            self._settle_audit()
            frame = self._frame_now()
            missing = [event_id for event_id in changes_by_id if event_id not in self._positions]
            if missing:
                raise RowNotFoundError(", ".join(missing))
            column_of = {name: number for number, name in enumerate(frame.columns)}
            version_column = column_of[VERSION_FIELD]
            stale: dict[str, dict[str, str]] = {}
            for event_id in changes_by_id:
                position = self._positions[event_id]
                if frame.iat[position, version_column] != expected[event_id]:
                    stale[event_id] = row_of(frame, position)
            if stale and not skip_stale:
                raise ConflictError(stale)
            number = max(self._max_version, self._audit_last) + 1
            changed = frame.copy(deep=False)
            lines = list(self._lines)
            size = self._size
            diffs: list[tuple[str, dict[str, list[str]]]] = []
            for event_id, changes in changes_by_id.items():
                if event_id in stale:
                    continue
                position = self._positions[event_id]
                diff = {
                    name: [str(frame.iat[position, column_of[name]]), str(value)]
                    for name, value in changes.items()
                    if str(frame.iat[position, column_of[name]]) != str(value)
                }
                if not diff:
                    continue
                stamped = {name: pair[1] for name, pair in diff.items()}
                stamped |= {VERSION_FIELD: str(number)}
                if touch:
                    stamped["updated_at"] = utc_now()
                for name, value in stamped.items():
                    changed.iat[position, column_of[name]] = value
                line = encode_row([str(value) for value in changed.iloc[position]])
                size += len(line) - len(lines[position])
                lines[position] = line
                diffs.append((event_id, diff))
            if diffs:
                audit_size = self._audit_size()
                self._record(audit, number, diffs)
                try:
                    self._replace_file(lines, changed, size=size)
                except StoreUnavailableError:
                    self._undo_audit(audit_size)
                    raise
                self._max_version = number
            rows = [
                row_of(self._frame_now(), self._positions[event_id])
                for event_id in changes_by_id
                if event_id not in stale
            ]
            return Updated(rows=rows, stale=stale)

    def erase(self, event_id: str, *, who: str) -> dict[str, str]:
        """Remove an event and the values its audit entries hold, in one change; return it as it was.

        The erase entry (no values) is appended first and the events file rewritten without
        the row, as for any change; then the audit log is rewritten with the changes of the
        event's entries replaced by ERASED. A writer dying before that last step leaves it to
        the next writer (see _settle_audit). Raises RowNotFoundError for an unknown id.
        """
        with self._writing():
            self._settle_audit()
            frame = self._frame_now()
            position = self._positions.get(event_id)
            if position is None:
                raise RowNotFoundError(event_id)
            erased = row_of(frame, position)
            number = max(self._max_version, self._audit_last) + 1
            audit_size = self._audit_size()
            self._record(Audit(who, ERASE_ACTION), number, [(event_id, {})], ERASED)
            kept = frame["id"] != event_id
            lines = [line for line, keep in zip(self._lines, kept, strict=True) if keep]
            try:
                self._replace_file(lines, frame[kept].reset_index(drop=True), same_keys=False)
            except StoreUnavailableError:
                self._undo_audit(audit_size)
                raise
            self._audit_last = max(self._audit_last, number)
            try:
                self._scrub_audit(event_id)
            except StoreUnavailableError as exc:  # erased all the same: the next writer scrubs
                log.error("Event %s erased, its audit values not yet: %s", event_id, exc)
        return erased

    def copies_holding(self, texts: Iterable[str]) -> list[Path]:
        """Return the files set aside in recovered/ and backups/ that hold any of these texts.

        Those are byte copies kept for a person to look at (a cut torn row, a file before a fix
        or a restore), which no change rewrites: an erase names them rather than edit them.
        """
        needles = [text.encode("utf-8") for text in texts if text]
        found = []
        for folder in (RECOVERED_DIR, BACKUPS_DIR):
            for path in sorted((self.data_dir / folder).rglob("*")):
                try:
                    data = path.read_bytes() if path.is_file() else b""
                except OSError:
                    continue
                if any(needle in data for needle in needles):
                    found.append(path)
        return found

    def replace_all(self, events: Iterable[Mapping[str, str]]) -> None:
        """Replace the whole store with these events in one atomic rewrite: a new store, no audit."""
        events = [{VERSION_FIELD: "1", **event} for event in events]
        self.rewrite(events)

    def _prepare_new(self, record: Mapping[str, str]) -> dict[str, str]:
        """Give a new event a unique id and its creation time."""
        row = {name: str(record.get(name, "") or "") for name in self._columns}

        def taken(candidate: str) -> bool:
            return candidate in self._positions or candidate in self._reserved

        if not row["id"] or taken(row["id"]):
            while taken(candidate := new_event_id()):
                pass
            row["id"] = candidate
        self._reserved.add(row["id"])
        now = utc_now()
        row["created_at"] = row["created_at"] or now
        row["updated_at"] = row["updated_at"] or now
        return row

    def _after_load(self, frame: pd.DataFrame) -> None:
        """Find the number of the last change."""
        if VERSION_FIELD in frame.columns and len(frame):
            self._max_version = max(int(version_numbers(frame[VERSION_FIELD]).max()), 0)
        else:
            self._max_version = 0

    def _after_rows(self, rows: list[list[str]]) -> None:
        """Follow the number of the last change through rows other processes appended."""
        if VERSION_FIELD not in self._columns:
            return
        column = self._columns.index(VERSION_FIELD)
        for row in rows:
            if row[column].isdigit():
                self._max_version = max(self._max_version, int(row[column]))

    # The audit pair

    def _record(
        self,
        audit: Audit,
        number: int,
        diffs: list[tuple[str, dict[str, list[str]]]],
        changes: str = "",
    ) -> None:
        """Append the audit entries of one change, before the change itself (the caller holds the lock).

        changes, when given, is written instead of each diff (an erase records no values).
        """
        now = utc_now()
        batch = secrets.token_urlsafe(9)
        self.audit._ensure_file()
        self.audit._look(writer=True)
        self.audit._append_locked(
            [
                [
                    secrets.token_urlsafe(9),
                    now,
                    audit.who,
                    event_id,
                    audit.action,
                    changes or json.dumps(diff, ensure_ascii=False, sort_keys=True),
                    str(number),
                    batch,
                ]
                for event_id, diff in diffs
            ]
        )

    def _audit_size(self) -> int:
        """Return the audit file's validated size, creating the file if it is missing."""
        self.audit._ensure_file()
        self.audit._look(writer=True)
        return self.audit._size

    def _undo_audit(self, size_before: int) -> None:
        """Take back the audit entries of a change that could not be stored."""
        try:
            self.audit._truncate_to(size_before, keep=False)
        except OSError:
            log.exception("Could not take back unconfirmed audit entries; the next writer will")

    def _settle_audit(self) -> None:
        """Cut the last audit batch if its change never reached the events file (caller locks)."""
        if not self.audit.path.exists():
            return
        self.audit._look(writer=True)
        if self.audit._damage:
            raise StoreUnavailableError("damaged", " ".join(self.audit._damage[:3]))
        # The last batch is read from the rows' bytes: building frames here would cost a
        # concatenation of the whole cache on every write.
        columns = self.audit._columns
        lines = self.audit._lines
        if not lines or "batch" not in columns:
            return
        batch_at, event_at, version_at, action_at = (
            columns.index(name) for name in ("batch", "event_id", "version", "action")
        )
        batch: list[list[str]] = []
        for line in reversed(lines):
            row = decode_rows([line])[0]
            if not row[batch_at] or (batch and row[batch_at] != batch[0][batch_at]):
                break
            batch.insert(0, row)
        if not batch:
            return
        start = len(lines) - len(batch)
        version_column = self._columns.index(VERSION_FIELD)
        landed = []
        for row in batch:
            position = self._positions.get(row[event_at])
            if row[action_at] == ERASE_ACTION:  # an erase landed when its event is gone
                landed.append(position is None)
                continue
            current = "" if position is None else self._cell(position, version_column)
            landed.append(current.isdigit() and int(current) >= int(row[version_at] or 0))
        if all(landed):
            # Numbers are never given twice, even after an older events file was restored.
            self._audit_last = max(int(row[version_at] or 0) for row in batch)
            for row in batch:
                if row[action_at] == ERASE_ACTION:  # its writer may have died before the scrub
                    self._scrub_audit(row[event_at])
            return
        # A writer died (or failed) between the audit entries and its change: cut the entries of
        # rows that never landed, keeping those that did (a torn batch of appended rows).
        kept = [line for line, ok in zip(self.audit._lines[start:], landed, strict=True) if ok]
        cut_from = len(self.audit._header) + sum(map(len, self.audit._lines[:start]))
        log.warning(
            "Cutting %d audit entries of a change never stored (batch %s)",
            landed.count(False),
            batch[0][batch_at],
        )
        self.audit._truncate_to(cut_from)
        if kept:
            self.audit._append_locked(decode_rows(kept))

    def _scrub_audit(self, event_id: str) -> None:
        """Replace the changes of an erased event's audit entries by ERASED (the caller locks).

        One atomic rewrite of the audit log, only when an entry still holds values; who, when
        and which action stay.
        """
        audit = self.audit
        audit._look(writer=True)
        columns = audit._columns
        event_at, changes_at = columns.index("event_id"), columns.index("changes")
        needle = event_id.encode("utf-8")
        lines = list(audit._lines)
        frame: pd.DataFrame | None = None
        for position, line in enumerate(lines):
            if needle not in line:  # a bytes search first: the log may hold many entries
                continue
            row = decode_rows([line])[0]
            if row[event_at] != event_id or row[changes_at] == ERASED:
                continue
            if frame is None:
                frame = audit._frame_now().copy()
            row[changes_at] = ERASED
            frame.iat[position, changes_at] = ERASED
            lines[position] = encode_row(row)
        if frame is not None:
            audit._replace_file(lines, frame)
