"""Files kept by name and version in one directory under a byte bound: the rendered exports.

Each blob is `<family>--<version>.blob`: a family (an export's format, filter and address) keeps
its newest version only. Writes are atomic (a temporary file, then `os.replace`), so a reader
sees a whole file or none; readers get an open file, which stays readable if the blob is evicted
meanwhile. After each write the least recently used blobs go until the directory holds at most
`max_bytes`. `flight(family)` is a file lock per family, so that one process across all workers
renders it. A directory that cannot be written (read-only data directory) keeps nothing: every
blob is handed back from memory and locks are per process, as the log says once.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout

BLOB_SUFFIX = ".blob"
LOCK_SUFFIX = ".lock"
SEPARATOR = "--"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")  # families and versions: no path, no dots
# A render waited for under the lock may take this long (a 50,000-event workbook takes seconds).
FLIGHT_TIMEOUT_SECONDS = 120

log = logging.getLogger(__name__)


class BlobStore:
    """A directory of versioned files bounded in bytes, with a cross-process lock per family."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._writable: bool | None = None
        self._local_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def open(self, family: str, version: str) -> BinaryIO | None:
        """Return the open file of a family's version, or None when it is not kept."""
        path = self._path(family, version)
        try:
            file = path.open("rb")
        except OSError:
            return None
        try:
            os.utime(path)  # a hit counts as a use for the least-recently-used eviction
        except OSError:
            pass
        return file

    def exists(self, family: str, version: str) -> bool:
        """Return whether a family's version is kept."""
        return self._path(family, version).exists()

    def latest(self, family: str) -> tuple[str, BinaryIO] | None:
        """Return the newest kept version of a family and its open file, or None."""
        _check(family)
        candidates = sorted(
            self._blobs(f"{family}{SEPARATOR}*{BLOB_SUFFIX}"),
            key=lambda item: item[1].st_mtime_ns,
            reverse=True,
        )
        for path, _ in candidates:
            try:
                file = path.open("rb")
            except OSError:
                continue
            version = path.name[len(family) + len(SEPARATOR) : -len(BLOB_SUFFIX)]
            return version, file
        return None

    def put(self, family: str, version: str, data: bytes) -> BinaryIO:
        """Keep data as a family's version (dropping its older ones) and return it opened."""
        path = self._path(family, version)
        if not self._can_write() or len(data) > self.max_bytes:
            return io.BytesIO(data)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            with temporary.open("wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("could not keep %s in %s: %s", path.name, self.directory, exc)
            temporary.unlink(missing_ok=True)
            return io.BytesIO(data)
        kept = path.open("rb")
        for older, _ in self._blobs(f"{family}{SEPARATOR}*{BLOB_SUFFIX}"):
            if older != path:
                older.unlink(missing_ok=True)
        self._evict(keep=path)
        return kept

    def size(self) -> int:
        """Return the bytes the kept blobs take."""
        return sum(status.st_size for _, status in self._blobs(f"*{BLOB_SUFFIX}"))

    def discard_all(self) -> int:
        """Remove every kept blob, none served again even as a stale copy; return how many went.

        Each family's blobs go while its flight lock is held, so that a render that read the
        data before the caller's change cannot put its copy back afterwards.
        """
        if not self._can_write():
            return 0
        families = {
            path.name.split(SEPARATOR, 1)[0] for path, _ in self._blobs(f"*{BLOB_SUFFIX}")
        } | {path.name[: -len(LOCK_SUFFIX)] for path in self.directory.glob(f"*{LOCK_SUFFIX}")}
        removed = 0
        for family in sorted(name for name in families if NAME_PATTERN.match(name)):
            with self.flight(family) as mine:
                if not mine:
                    log.warning("could not wait for the render of %s; removing it anyway", family)
                for path, _ in self._blobs(f"{family}{SEPARATOR}*{BLOB_SUFFIX}"):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    @contextmanager
    def flight(self, family: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold a family's lock across processes; yield False if wait is off and it is taken."""
        _check(family)
        if not self._can_write():
            with self._guard:
                lock = self._local_locks.setdefault(family, threading.Lock())
            mine = lock.acquire(timeout=FLIGHT_TIMEOUT_SECONDS if wait else 0)
            try:
                yield mine
            finally:
                if mine:
                    lock.release()
            return
        file_lock = FileLock(
            str(self.directory / f"{family}{LOCK_SUFFIX}"),
            timeout=FLIGHT_TIMEOUT_SECONDS if wait else 0,
            thread_local=False,
            is_singleton=False,
        )
        try:
            file_lock.acquire()
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            file_lock.release()

    def _path(self, family: str, version: str) -> Path:
        """Return where a family's version is kept."""
        _check(family)
        _check(version)
        return self.directory / f"{family}{SEPARATOR}{version}{BLOB_SUFFIX}"

    def _blobs(self, pattern: str) -> list[tuple[Path, os.stat_result]]:
        """Return the kept blobs matching a glob pattern, with their status."""
        found = []
        for path in self.directory.glob(pattern):
            try:
                found.append((path, path.stat()))
            except FileNotFoundError:
                continue  # evicted meanwhile
        return found

    def _evict(self, keep: Path) -> None:
        """Remove the least recently used blobs until the kept ones fit in max_bytes."""
        blobs = sorted(self._blobs(f"*{BLOB_SUFFIX}"), key=lambda item: item[1].st_mtime_ns)
        total = sum(status.st_size for _, status in blobs)
        for path, status in blobs:
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= status.st_size

    def _can_write(self) -> bool:
        """Return whether blobs can be kept, creating the directory the first time."""
        if self._writable is None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                probe = self.directory / f".probe.{os.getpid()}"
                probe.touch()
                probe.unlink()
                self._writable = True
            except OSError as exc:
                log.warning(
                    "exports are not kept on disk (%s: %s): each worker renders its own",
                    self.directory,
                    exc.strerror or exc,
                )
                self._writable = False
        return self._writable


def _check(name: str) -> None:
    """Refuse a family or version that could name a path outside the directory."""
    if not NAME_PATTERN.match(name):
        raise ValueError(f"Not a blob name: {name!r}")
