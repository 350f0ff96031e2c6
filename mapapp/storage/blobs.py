"""Files kept by name and version in one directory under a byte bound: the rendered exports.

Each blob is `<family>--<version>.blob`: a family (an export's format, filter and address) keeps
its newest version only. Writes are atomic (a temporary file, then `os.replace`), so a reader
sees a whole file or none; readers get an open file, which stays readable if the blob is evicted
meanwhile. After each write the least recently used blobs go until the directory holds at most
`max_bytes`. `flight(family)` is a file lock per family, so that one process across all workers
renders it. A directory that cannot be written (read-only data directory) keeps nothing: every
blob is handed back from memory and locks are per process, as the log says once.

`Blobs` is the interface every backend keeps: this directory (one host), Redis
(`redis_shared.py`) and PostgreSQL (`pg_shared.py`), which several hosts share; `shared.py`
chooses one from the settings. The shared ones derive from `SharedBlobs`: while their server
is down they keep nothing and lock per process, and a discard that could not reach the server
is done as soon as it answers again.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

from filelock import FileLock, Timeout

from mapapp.storage.outages import Outage

BLOB_SUFFIX = ".blob"
LOCK_SUFFIX = ".lock"
SEPARATOR = "--"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")  # families and versions: no path, no dots
# A render waited for under the lock may take this long (a 50,000-event workbook takes seconds).
FLIGHT_TIMEOUT_SECONDS = 120

log = logging.getLogger(__name__)

T = TypeVar("T")


class Blobs(Protocol):
    """Versioned bytes by family under a byte bound, with a lock per family across processes."""

    max_bytes: int

    def open(self, family: str, version: str) -> BinaryIO | None:
        """Return the open file of a family's version, or None when it is not kept."""

    def exists(self, family: str, version: str) -> bool:
        """Return whether a family's version is kept."""

    def latest(self, family: str) -> tuple[str, BinaryIO] | None:
        """Return the newest kept version of a family and its open file, or None."""

    def put(self, family: str, version: str, data: bytes) -> BinaryIO:
        """Keep data as a family's version (dropping its older ones) and return it opened."""

    def size(self) -> int:
        """Return the bytes the kept blobs take."""

    def discard_all(self) -> int:
        """Remove every kept blob once the renders in flight are done; return how many went."""

    def flight(self, family: str, *, wait: bool = True) -> AbstractContextManager[bool]:
        """Hold a family's lock across processes; yield False if wait is off and it is taken."""


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
        check_name(family)
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
        check_name(family)
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
        check_name(family)
        check_name(version)
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


def check_name(name: str) -> None:
    """Refuse a family or version that could name a path outside the directory."""
    if not NAME_PATTERN.match(name):
        raise ValueError(f"Not a blob name: {name!r}")


class SharedBlobs(ABC):
    """Blobs on a server several hosts share; while it is down, nothing kept, locks per process.

    Subclasses implement the underscored operations, raising one of `errors` when the server
    does not answer.
    """

    errors: tuple[type[Exception], ...] = ()

    def __init__(self, server: str, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.server = server
        self.outage = Outage(server, "exports are not kept, each worker renders its own")
        self._local_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._discard_pending = False

    def open(self, family: str, version: str) -> BinaryIO | None:
        """Return a family's version as an open file, or None when it is not kept."""
        check_name(family)
        check_name(version)
        data = self._call(lambda: self._open(family, version), None)
        return None if data is None else io.BytesIO(data)

    def exists(self, family: str, version: str) -> bool:
        """Return whether a family's version is kept."""
        check_name(family)
        check_name(version)
        return self._call(lambda: self._exists(family, version), False)

    def latest(self, family: str) -> tuple[str, BinaryIO] | None:
        """Return the kept version of a family and its open file, or None."""
        check_name(family)
        found = self._call(lambda: self._latest(family), None)
        return None if found is None else (found[0], io.BytesIO(found[1]))

    def put(self, family: str, version: str, data: bytes) -> BinaryIO:
        """Keep data as a family's version (replacing its older one); return it opened."""
        check_name(family)
        check_name(version)
        if len(data) <= self.max_bytes:
            self._call(lambda: self._put(family, version, data), None)
        return io.BytesIO(data)

    def size(self) -> int:
        """Return the bytes the kept blobs take (0 while the server is down)."""
        return self._call(self._size, 0)

    def discard_all(self) -> int:
        """Remove every kept blob once the renders in flight are done; return how many went.

        With the server down, the discard is done by this process as soon as it answers again
        (nothing is served from it meanwhile), and the log says so.
        """
        removed = self._call(self._discard_all, None)
        if removed is None:
            self._discard_pending = True
            log.error(
                "The exports kept in %s could not be discarded: this process discards them "
                "as soon as it answers again.",
                self.server,
            )
            return 0
        return removed

    @contextmanager
    def flight(self, family: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold a family's lock on the server; with the server down, this process's lock."""
        check_name(family)
        release: Callable[[], None] | None = None
        shared = False
        if self.outage.usable():
            try:
                release = self._acquire(family, wait)
            except self.errors as exc:
                self.outage.failed(exc)
            else:
                self.outage.answered()
                shared = True
        if shared:
            try:
                yield release is not None
            finally:
                if release is not None:
                    try:
                        release()
                    except self.errors as exc:  # the lease ran out, or the server went away
                        log.warning("releasing the render lock of %s: %s", family, exc)
            return
        with self._guard:
            lock = self._local_locks.setdefault(family, threading.Lock())
        mine = lock.acquire(timeout=FLIGHT_TIMEOUT_SECONDS if wait else 0)
        try:
            yield mine
        finally:
            if mine:
                lock.release()

    def _call(self, operation: Callable[[], T], default: T) -> T:
        """Run an operation on the server, or return default while it is down."""
        if not self.outage.usable():
            return default
        try:
            if self._discard_pending:
                self._discard_pending = False
                try:
                    removed = self._discard_all()
                except BaseException:
                    self._discard_pending = True
                    raise
                log.warning("Discarded the %d export(s) kept in %s.", removed, self.server)
            result = operation()
        except self.errors as exc:
            self.outage.failed(exc)
            return default
        self.outage.answered()
        return result

    @abstractmethod
    def _open(self, family: str, version: str) -> bytes | None:
        """Return a family's version's bytes (counted as a use), or None."""

    @abstractmethod
    def _exists(self, family: str, version: str) -> bool:
        """Return whether a family's version is kept."""

    @abstractmethod
    def _latest(self, family: str) -> tuple[str, bytes] | None:
        """Return a family's kept version and its bytes, or None."""

    @abstractmethod
    def _put(self, family: str, version: str, data: bytes) -> None:
        """Keep a family's version, then evict the least recently used beyond max_bytes."""

    @abstractmethod
    def _size(self) -> int:
        """Return the bytes kept."""

    @abstractmethod
    def _discard_all(self) -> int:
        """Remove every blob once the renders in flight are done; return how many went."""

    @abstractmethod
    def _acquire(self, family: str, wait: bool) -> Callable[[], None] | None:
        """Take a family's lock and return its release, or None if it stays taken."""
