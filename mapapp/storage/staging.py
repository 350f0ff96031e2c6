"""Uploads kept between the import's preview and its confirmation, where every host finds them.

Without MAPAPP_DATABASE_URL they are files in the data directory, under `imports/` (`<token>.upload`
and its note `<token>.json`, private, written whole), which every worker of a host shares, and
every host sharing the directory. With it they are rows of PostgreSQL's `mapapp_staged_uploads`:
each host has a data directory of its own then, and the confirmation may reach another host
than the preview did. What a note says, and when an upload is too old, is the import's business
(mapapp.import_preview); here the bytes are kept, found again, removed, and swept by age.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from flask import Flask

from mapapp.storage import StoreUnavailableError
from mapapp.storage.database import database_url, pool, without_password

STAGING_DIR = "imports"
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
RELATION = "mapapp_staged_uploads"
# A key for pg_advisory_xact_lock while the relation is created (hosts may start together).
CREATE_LOCK = 0x6D61706170700002
EXTENSION = "mapapp.staging"


@dataclass(frozen=True)
class Staged:
    """An upload as it was kept: its bytes and the note written with it."""

    content: bytes
    note: bytes


class Staging(Protocol):
    """Where uploads wait for their confirmation, by token (checked by the caller)."""

    def put(self, token: str, content: bytes, note: bytes, created: float) -> None:
        """Keep an upload and its note, written whole or not at all."""

    def get(self, token: str) -> Staged | None:
        """Return the upload kept under a token, or None."""

    def discard(self, token: str) -> None:
        """Remove the upload kept under a token, if any."""

    def sweep(self, before: float) -> int:
        """Remove the uploads kept before a moment (seconds since the epoch); return how many."""


class DirectoryStaging:
    """Uploads as private files in a folder of the data directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def put(self, token: str, content: bytes, note: bytes, created: float) -> None:
        """Write the upload and its note; the upload's mtime is when it was kept."""
        self.directory.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        upload, note_path = self._paths(token)
        _write_private(upload, content, created)
        _write_private(note_path, note, created)

    def get(self, token: str) -> Staged | None:
        """Read the upload and its note back."""
        upload, note_path = self._paths(token)
        try:
            return Staged(content=upload.read_bytes(), note=note_path.read_bytes())
        except OSError:
            return None

    def discard(self, token: str) -> None:
        """Remove both files."""
        for path in self._paths(token):
            path.unlink(missing_ok=True)

    def sweep(self, before: float) -> int:
        """Remove the uploads (and their notes) whose file is older than the moment."""
        removed = 0
        for path in self.directory.glob("*.upload"):
            try:
                kept = path.stat().st_mtime
            except FileNotFoundError:
                continue  # taken meanwhile
            if kept < before:
                path.unlink(missing_ok=True)
                path.with_suffix(".json").unlink(missing_ok=True)
                removed += 1
        return removed

    def _paths(self, token: str) -> tuple[Path, Path]:
        """Return the paths of a token's upload and note."""
        return self.directory / f"{token}.upload", self.directory / f"{token}.json"


class PostgresStaging:
    """Uploads as rows of one relation in the database every host uses."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._created: set[int] = set()  # the processes that made sure the relation exists
        self._lock = threading.Lock()

    def put(self, token: str, content: bytes, note: bytes, created: float) -> None:
        """Insert the upload (a token is drawn once: a repeat replaces its row)."""
        with self._connection() as connection:
            connection.execute(
                f"INSERT INTO {RELATION} (token, content, note, created) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (token) DO UPDATE SET content = EXCLUDED.content, "
                "note = EXCLUDED.note, created = EXCLUDED.created",
                (token, content, note, created),
            )

    def get(self, token: str) -> Staged | None:
        """Select the upload's row."""
        with self._connection() as connection:
            row = connection.execute(
                f"SELECT content, note FROM {RELATION} WHERE token = %s", (token,)
            ).fetchone()
        return None if row is None else Staged(content=bytes(row[0]), note=bytes(row[1]))

    def discard(self, token: str) -> None:
        """Delete the upload's row."""
        with self._connection() as connection:
            connection.execute(f"DELETE FROM {RELATION} WHERE token = %s", (token,))

    def sweep(self, before: float) -> int:
        """Delete the rows kept before the moment."""
        with self._connection() as connection:
            deleted = connection.execute(f"DELETE FROM {RELATION} WHERE created < %s", (before,))
            return int(deleted.rowcount)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """Lend a pooled connection, the relation made first; a database down is a 503."""
        import psycopg

        try:
            with pool(self.url).connection() as connection:
                if os.getpid() not in self._created:
                    self._create(connection)
                yield connection
        except (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction) as exc:
            detail = f"{without_password(self.url)}: {str(exc).strip()[:200]}"
            raise StoreUnavailableError("busy", detail) from exc

    def _create(self, connection: Any) -> None:
        """Create the relation if it is missing, one process at a time."""
        with self._lock, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (CREATE_LOCK,))
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {RELATION} (token text PRIMARY KEY, "
                "content bytea NOT NULL, note bytea NOT NULL, created double precision NOT NULL)"
            )
            self._created.add(os.getpid())


def staging_for(config: Mapping[str, Any]) -> Staging:
    """Return the staging the settings choose: PostgreSQL with a database URL, else files."""
    url = database_url(config)
    if url:
        return PostgresStaging(url)
    return DirectoryStaging(Path(config["DATA_DIR"]) / STAGING_DIR)


def staging_of(app: Flask) -> Staging:
    """Return an app's staging, made from its settings on first use."""
    found: Staging | None = app.extensions.get(EXTENSION)
    if found is None:
        found = app.extensions[EXTENSION] = staging_for(app.config)
    return found


def _write_private(path: Path, data: bytes, moment: float) -> None:
    """Write a file only this account's processes can read, whole or not at all, dated moment."""
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.utime(partial, (moment, moment))
    os.replace(partial, path)
