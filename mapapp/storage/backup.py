"""Backups of a data directory: every table copied under the store's locks, and put back the same way.

A backup is a `.tar.gz` holding `MANIFEST.json` (first) and one member per table file, each listed
in the manifest with its size and SHA-256. The tables are the CSV files of the data directory: the
ones this store knows (events, audit, and every table the app registered with `add_table`) and
any other `*.csv` there (the geocoder's cache, tables of newer versions), each locked by the
`<file>.lock` every `CsvTable` uses. All the locks are held together while the files are copied,
so the copy is one moment of the store: the audit log and the events agree. Left out: the
sessions and the used drafts (NEVER_ROLLED_BACK: a restore must not revive what ended since),
the secret key (`.secret_key`, development only), files that are not tables (lock files, the
rate-limit counters) and the `recovered/` and `backups/` folders.

Restoring checks the whole archive before touching anything (a foreign or damaged archive is
refused with the reason), checks each known table's contents as `mapapp check` would, then,
under the same locks, keeps the current files under `backups/replaced-<time>/` and swaps each
restored file in with one atomic rename. A running app reads the restored files on its next
request, as it reads any replaced file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from filelock import BaseFileLock, FileLock, Timeout

from mapapp.storage import Store, StoreError
from mapapp.storage.csv import BACKUPS_DIR, LOCK_TIMEOUT_SECONDS, fsync_directory
from mapapp.storage.event_store import EventStore
from mapapp.storage.validation import check_file

BACKUP_FORMAT = "mapapp-backup"
BACKUP_FORMAT_VERSION = 1
MANIFEST_NAME = "MANIFEST.json"
TABLE_SUFFIX = ".csv"
LOCK_SUFFIX = ".lock"
# What a table's file may be called: a plain name in the data directory, nothing hidden.
TABLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.csv$")
# Tables that must never go back in time: a restored sessions table would revive sessions ended
# since the backup (signed out, password changed, account removed), a restored list of used
# drafts would let drafts confirmed since be confirmed again. They are left out of backups and
# left as they are by a restore. (Names, not imports: storage imports nothing above it.)
NEVER_ROLLED_BACK = frozenset({"sessions.csv", "used_drafts.csv"})
BACKUP_NAME = "mapapp-backup-{stamp}.tar.gz"
REPLACED_DIR = "replaced-{stamp}"  # stamp to the microsecond: two restores never share one
CHUNK_BYTES = 1024 * 1024
# The largest manifest read: a few hundred bytes per table.
MANIFEST_MAX_BYTES = 1024 * 1024
# Backups hold organisers' e-mails and coordinators' password hashes.
BACKUP_MODE = 0o600


class BackupError(StoreError):
    """A backup cannot be taken or restored; the message says why and nothing was changed."""


@dataclass(frozen=True)
class BackupFile:
    """One table file in a backup."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Backup:
    """A backup archive and what it holds."""

    path: Path
    created_at: str
    files: list[BackupFile]


@dataclass(frozen=True)
class Restored:
    """What a restore put back, and where the files it replaced were kept."""

    backup: Backup
    replaced_dir: Path | None
    removed: list[str]  # tables of the data directory the backup did not have (kept aside)


def create_backup(store: Store, destination: str | os.PathLike[str]) -> Backup:
    """Copy every table of the store's data directory into a new .tar.gz, under the locks."""
    store = _file_store(store)
    stamp = _stamp()
    target = Path(destination)
    if target.is_dir():
        target = target / BACKUP_NAME.format(stamp=stamp)
    if target.exists():
        raise BackupError(f"{target} exists already; give a new file name or a directory.")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    staging = Path(tempfile.mkdtemp(prefix=".mapapp-backup-", dir=target.parent))
    try:
        with _all_locked(store, _table_names(store)) as names:
            files = [_copy(store.data_dir / name, staging / name) for name in names]
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        manifest = {
            "format": BACKUP_FORMAT,
            "format_version": BACKUP_FORMAT_VERSION,
            "created_at": created_at,
            "host": socket.gethostname(),
            "data_dir": str(store.data_dir),
            "files": [vars(file) for file in files],
        }
        _write_archive(target, manifest, staging, files)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Backup(path=target, created_at=created_at, files=files)


def read_backup(source: str | os.PathLike[str]) -> Backup:
    """Check a backup archive whole (manifest, members, sizes, checksums) and describe it."""
    with tempfile.TemporaryDirectory(prefix=".mapapp-check-") as scratch:
        return _unpack(Path(source), Path(scratch))


def restore_backup(store: Store, source: str | os.PathLike[str]) -> Restored:
    """Put a backup's tables back in the store's data directory, keeping the replaced files."""
    store = _file_store(store)
    data_dir = store.data_dir
    if not data_dir.is_dir():
        raise BackupError(f"The data directory {data_dir} does not exist; create it first.")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    staging = Path(tempfile.mkdtemp(prefix=".mapapp-restore-", dir=data_dir))
    try:
        backup = _unpack(Path(source), staging)
        _check_tables(store, staging, backup)
        restored = {file.name for file in backup.files}
        with _all_locked(store, _table_names(store) | restored) as names:
            present = [name for name in names if (data_dir / name).exists()]
            replaced_dir: Path | None = None
            if present:
                replaced_dir = data_dir / BACKUPS_DIR / REPLACED_DIR.format(stamp=stamp)
                _make_dirs(replaced_dir, like=data_dir)
            removed = sorted(set(present) - restored)
            for name in present:
                if name in restored:
                    _keep_aside(data_dir / name, replaced_dir / name)  # type: ignore[operator]
                else:
                    os.replace(data_dir / name, replaced_dir / name)  # type: ignore[operator]
            for name in sorted(restored):
                _take_owner_and_mode(staging / name, data_dir / name, like=data_dir)
                os.replace(staging / name, data_dir / name)
            fsync_directory(data_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Restored(backup=backup, replaced_dir=replaced_dir, removed=removed)


# Taking a copy


def _file_store(store: Store) -> EventStore:
    """Return the store if its tables are files; a database is backed up by its own tools."""
    if not isinstance(store, EventStore):
        raise BackupError(
            f"The tables are kept in PostgreSQL ({store.location}), not in files: back them up "
            "with pg_dump (pg_dump -Fc -f mapapp.dump DATABASE) and put them back with "
            "pg_restore (pg_restore --clean -d DATABASE mapapp.dump); see docs/scaling.md. "
            "`mapapp db export-csv DIR` writes them as CSV files too."
        )
    return store


def _table_names(store: EventStore) -> set[str]:
    """Return the file names of the data directory's tables: known ones and any other *.csv."""
    names = {table.path.name for table in store.tables() if table.path.exists()}
    if store.data_dir.is_dir():
        for path in store.data_dir.iterdir():
            if TABLE_NAME.match(path.name) and path.is_file() and not path.is_symlink():
                names.add(path.name)
    return names - NEVER_ROLLED_BACK


@contextmanager
def _all_locked(store: EventStore, names: set[str]) -> Iterator[list[str]]:
    """Hold the write lock of every named table at once; yield the names in order."""
    # The store's own lock objects for its tables (the audit log shares the events' lock, and a
    # lock this process holds is re-entered rather than waited for); a new one for the rest.
    known: dict[str, BaseFileLock] = {
        table.path.name: table._file_lock  # noqa: SLF001 - the lock is the package's own
        for table in store.tables()
    }
    locks: dict[str, BaseFileLock] = {}
    for name in sorted(names):
        lock = known.get(name) or FileLock(
            str(store.data_dir / name) + LOCK_SUFFIX, timeout=LOCK_TIMEOUT_SECONDS
        )
        locks.setdefault(lock.lock_file, lock)
    with ExitStack() as stack:
        # One order everywhere, so two backups or restores never wait for each other in a circle.
        for lock_file in sorted(locks):
            existed = os.path.exists(lock_file)
            try:
                stack.enter_context(locks[lock_file])
            except Timeout as exc:
                raise BackupError(
                    f"A writer has held {lock_file} for {LOCK_TIMEOUT_SECONDS} s; try again."
                ) from exc
            except OSError as exc:
                raise BackupError(f"Cannot lock {lock_file}: {exc.strerror or exc}.") from exc
            if not existed:
                _take_owner_and_mode(Path(lock_file), None, like=store.data_dir, mode=None)
        yield sorted(names)


def _copy(source: Path, target: Path) -> BackupFile:
    """Copy a file, returning its size and checksum."""
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as reading, open(target, "wb") as writing:
        while chunk := reading.read(CHUNK_BYTES):
            digest.update(chunk)
            writing.write(chunk)
            size += len(chunk)
    return BackupFile(name=source.name, size=size, sha256=digest.hexdigest())


def _write_archive(
    target: Path, manifest: dict[str, Any], staging: Path, files: list[BackupFile]
) -> None:
    """Write the archive beside its target, fsync it and rename it into place."""
    partial = target.with_name(f".{target.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, BACKUP_MODE)
    try:
        with os.fdopen(descriptor, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as archive:
                body = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
                _add_member(archive, MANIFEST_NAME, io.BytesIO(body), len(body))
                for file in files:
                    with open(staging / file.name, "rb") as handle:
                        _add_member(archive, file.name, handle, file.size)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)


def _add_member(archive: tarfile.TarFile, name: str, handle: BinaryIO, size: int) -> None:
    """Add one regular file to the archive, owned by nobody in particular."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = BACKUP_MODE
    info.mtime = int(datetime.now(UTC).timestamp())
    archive.addfile(info, handle)


# Checking and putting back


def _unpack(source: Path, staging: Path) -> Backup:
    """Check an archive and write its tables into staging; raise BackupError if it is not whole."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file.")
    try:
        with tarfile.open(source, mode="r:gz") as archive:
            members = archive.getmembers()
            if not members or members[0].name != MANIFEST_NAME:
                raise BackupError(f"{source} is not a mapapp backup: it has no {MANIFEST_NAME}.")
            manifest = _manifest(source, archive, members[0])
            listed = {file.name: file for file in manifest.files}
            seen: set[str] = set()
            for member in members[1:]:
                file = listed.get(member.name)
                if file is None or member.name in seen:
                    raise BackupError(
                        f"{source} holds {member.name!r}, which its manifest does not list "
                        "(once): it is not a backup mapapp wrote."
                    )
                if not member.isreg() or member.size != file.size:
                    raise BackupError(f"{source} is damaged: {member.name} is not as listed.")
                seen.add(member.name)
                _extract(source, archive, member, file, staging / file.name)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BackupError(f"{source} is damaged or not a .tar.gz backup: {exc}.") from exc
    missing = sorted(set(listed) - seen)
    if missing:
        raise BackupError(f"{source} is damaged: {', '.join(missing)} missing.")
    return Backup(path=source, created_at=manifest.created_at, files=manifest.files)


@dataclass(frozen=True)
class _Manifest:
    created_at: str
    files: list[BackupFile]


def _manifest(source: Path, archive: tarfile.TarFile, member: tarfile.TarInfo) -> _Manifest:
    """Read and check the manifest of an archive."""
    handle = archive.extractfile(member)
    if handle is None or member.size > MANIFEST_MAX_BYTES:
        raise BackupError(f"{source} is not a mapapp backup: its {MANIFEST_NAME} is not a file.")
    try:
        data = json.loads(handle.read())
        if data["format"] != BACKUP_FORMAT:
            raise ValueError("format")
        files = [
            BackupFile(name=str(item["name"]), size=int(item["size"]), sha256=str(item["sha256"]))
            for item in data["files"]
        ]
        created_at = str(data["created_at"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{source} is not a mapapp backup (its manifest is not ours).") from exc
    if data.get("format_version") != BACKUP_FORMAT_VERSION:
        raise BackupError(
            f"{source} is a mapapp backup of format {data.get('format_version')!r}; this version "
            f"reads format {BACKUP_FORMAT_VERSION}. Restore it with the version that made it."
        )
    for file in files:
        if not TABLE_NAME.match(file.name):
            raise BackupError(f"{source} lists {file.name!r}, which is not a table's file name.")
        if file.name in NEVER_ROLLED_BACK:
            raise BackupError(f"{source} holds {file.name}, which mapapp never restores.")
    return _Manifest(created_at=created_at, files=files)


def _extract(
    source: Path,
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    file: BackupFile,
    target: Path,
) -> None:
    """Write one member to target, checking its checksum."""
    handle = archive.extractfile(member)
    if handle is None:
        raise BackupError(f"{source} is damaged: {member.name} cannot be read.")
    digest = hashlib.sha256()
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, BACKUP_MODE)
    with os.fdopen(descriptor, "wb") as writing:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            writing.write(chunk)
        writing.flush()
        os.fsync(writing.fileno())
    if digest.hexdigest() != file.sha256:
        raise BackupError(
            f"{source} is damaged: the checksum of {file.name} does not match its manifest."
        )


def _check_tables(store: EventStore, staging: Path, backup: Backup) -> None:
    """Refuse a backup whose known tables `mapapp check` would call damaged."""
    specs = {table.path.name: table.spec for table in store.tables()}
    problems: list[str] = []
    for file in backup.files:
        spec = specs.get(file.name)
        if spec is not None:
            found = check_file((staging / file.name).read_bytes(), spec)
            problems.extend(str(problem) for problem in found if problem.damage)
    if problems:
        listed = "\n  ".join(problems[:20])
        raise BackupError(f"The backup's files are damaged; nothing was restored:\n  {listed}")


def _keep_aside(current: Path, aside: Path) -> None:
    """Keep the current file's bytes under aside (a hard link; a copy where links fail)."""
    try:
        os.link(current, aside)
    except OSError:
        shutil.copy2(current, aside)


def _take_owner_and_mode(
    path: Path, replacing: Path | None, *, like: Path, mode: int | None = BACKUP_MODE
) -> None:
    """Give a new file the owner and mode of the file it replaces, or of the data directory.

    Run as root (`sudo mapapp restore`), files would otherwise belong to root, and the service's
    user could no longer write them.
    """
    try:
        model = os.stat(replacing) if replacing is not None else None
    except FileNotFoundError:
        model = None
    if model is not None:
        os.chmod(path, model.st_mode & 0o7777)
    elif mode is not None:
        os.chmod(path, mode)
    if os.geteuid() == 0:
        owner = model or os.stat(like)
        os.chown(path, owner.st_uid, owner.st_gid)


def _make_dirs(folder: Path, *, like: Path) -> None:
    """Create folder and its missing parents, owned as the data directory is."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700)
        if os.geteuid() == 0:
            owner = os.stat(like)
            os.chown(directory, owner.st_uid, owner.st_gid)


def _stamp() -> str:
    """Return the current UTC time for file names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
