"""Rate-limit counters every worker of a host shares: a SQLite file in the data directory.

Flask-Limiter (through `limits`) counts in memory, in Redis, Memcached or MongoDB; nothing of
theirs keeps counts in a file. `CounterStorage` is a `limits` storage, registered under the
scheme `mapapp-sqlite` (`mapapp-sqlite:////srv/mapapp/data/rate-limits.sqlite3`), that does.

Why SQLite: each hit is one read-modify-write of a counter that every gunicorn worker must see.
SQLite gives that across processes with its own file locking (`BEGIN IMMEDIATE` takes the write
lock before reading, so two workers never both read 9 and write 10), survives a worker killed
mid-write (the journal), and expires old counters with one indexed DELETE, all from the standard
library. A file of our own under `fcntl` would rewrite every counter on each hit, or need a file
per client. WAL mode keeps a commit to an append to the log; `synchronous=NORMAL` skips the fsync
per hit (a power cut may forget the last hits, which is harmless for rate limits). WAL needs a
local file system, as the store's file locks already do.

`FailoverStorage` (schemes `failover+<scheme>`) wraps Redis or the counter file: while the shared
counts do not answer, each process counts in its own memory (limits fail open to per-worker
counts), logs it once, and goes back to the shared counts when a check every RECHECK_SECONDS
finds them again. It counts every hit, even from threads that fail at once; Flask-Limiter's own
fallback lets such hits through uncounted while it switches.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from limits.storage import MemoryStorage, MovingWindowSupport, Storage, storage_from_string

from mapapp.config import ConfigError

SCHEME = "mapapp-sqlite"
COUNTERS_FILE = "rate-limits.sqlite3"
# How long a hit waits for another worker's hit to commit before the storage counts as down.
BUSY_TIMEOUT_SECONDS = 5.0
# Pause between two tries at switching a new file to WAL mode while another process does.
WAL_RETRY_SECONDS = 0.01
# How often one process deletes the counters and entries that have expired.
CLEANUP_SECONDS = 60.0
FILE_MODE = 0o600  # the counters are keyed by client addresses, whatever DATA_FILE_MODE says
REDIS_SCHEMES = ("redis", "rediss", "unix")
FAILOVER_PREFIX = "failover+"
# The shared storages FailoverStorage wraps, by scheme (all support the moving window too).
FAILOVER_SCHEMES = ("redis", "rediss", "redis+unix", SCHEME)
# Seconds between two checks whether shared counts that failed answer again.
RECHECK_SECONDS = 5.0

log = logging.getLogger(__name__)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counters ("
    " key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS counters_by_expiry ON counters (expires_at)",
    "CREATE TABLE IF NOT EXISTS entries ("
    " key TEXT NOT NULL, at REAL NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS entries_by_key ON entries (key, at)",
    "CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (expires_at)",
)
# One statement: a counter past its expiry starts again from the amount, with a new window.
INCREMENT = """
INSERT INTO counters (key, count, expires_at) VALUES (:key, :amount, :now + :expiry)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN expires_at <= :now THEN :amount ELSE count + :amount END,
    expires_at = CASE WHEN expires_at <= :now THEN :now + :expiry ELSE expires_at END
RETURNING count
"""


def counters_uri(data_dir: str | os.PathLike[str]) -> str:
    """Return the storage URI of the counter file in a data directory."""
    return f"{SCHEME}://{Path(data_dir).resolve() / COUNTERS_FILE}"


def unusable_reason(data_dir: str | os.PathLike[str]) -> str:
    """Return why this process cannot keep counters in the data directory ("" if it can).

    Creates nothing: a missing file is made at the first hit; an existing one is opened and its
    write lock taken and given back.
    """
    path = Path(data_dir) / COUNTERS_FILE
    existing = Path(data_dir)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # a new data directory is made at the first write
    if not os.access(existing, os.W_OK | os.X_OK):
        # WAL mode needs to create its -wal and -shm files beside the database.
        return f"the data directory {data_dir} is not writable by this user"
    if not path.exists():
        return ""
    try:
        db = sqlite3.connect(
            f"file:{quote(str(path))}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_SECONDS
        )
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()
            db.rollback()
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"{path} cannot be opened ({exc})"
    return ""


def redis_url(config: Mapping[str, Any]) -> str:
    """Return the configured MAPAPP_REDIS_URL ("" when Redis is not used), checked."""
    url = str(config.get("REDIS_URL") or "").strip()
    if url and urlsplit(url).scheme not in REDIS_SCHEMES:
        raise ConfigError(
            "MAPAPP_REDIS_URL must be a Redis address such as redis://localhost:6379/0, "
            f"rediss://... or unix:///run/redis.sock, not {url!r}."
        )
    return url


def without_password(uri: str) -> str:
    """Return a URI fit for the log: any password replaced by ***."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class CounterStorage(Storage, MovingWindowSupport):
    """Fixed-window counters and moving-window entries in a SQLite file, shared by processes."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        clock: Callable[[], float] = time.time,
        **options: float | str | bool,
    ) -> None:
        """Keep counters in the file the URI names (created at the first hit)."""
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        path = unquote(urlsplit(uri or "").path)
        if not path.startswith("/"):
            raise ValueError(f"{SCHEME} needs an absolute file path, as in {SCHEME}:///srv/x")
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._last_cleanup = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (sqlite3.Error, OSError)

    def incr(self, key: str, expiry: int | float, amount: int = 1) -> int:
        """Add amount to the key's counter, starting a window of expiry seconds if none is open."""
        with self._transaction() as (db, now):
            row = db.execute(
                INCREMENT, {"key": key, "amount": amount, "now": now, "expiry": expiry}
            ).fetchone()
        return int(row[0])

    def get(self, key: str) -> int:
        """Return the key's count in its current window (0 when none is open)."""
        with self._reading() as (db, now):
            row = db.execute(
                "SELECT count FROM counters WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        """Return when the key's window ends (now when none is open)."""
        with self._reading() as (db, now):
            row = db.execute(
                "SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
        return float(row[0]) if row else now

    def clear(self, key: str) -> None:
        """Forget the key's counter and entries."""
        with self._transaction() as (db, _):
            for table in ("counters", "entries"):
                db.execute(f"DELETE FROM {table} WHERE key = ?", (key,))

    def reset(self) -> int | None:
        """Forget every counter and entry; return how many keys there were."""
        with self._transaction() as (db, _):
            keys = db.execute(
                "SELECT COUNT(*) FROM (SELECT key FROM counters UNION SELECT key FROM entries)"
            ).fetchone()[0]
            for table in ("counters", "entries"):
                db.execute(f"DELETE FROM {table}")
        return int(keys)

    def check(self) -> bool:
        """Return whether the file can be opened and written."""
        try:
            with self._transaction():
                pass
        except (sqlite3.Error, OSError):
            return False
        return True

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Record amount hits now if fewer than limit - amount + 1 fall in the last expiry s."""
        if amount > limit:
            return False
        with self._transaction() as (db, now):
            (count,) = db.execute(
                "SELECT COUNT(*) FROM entries WHERE key = ? AND at >= ?", (key, now - expiry)
            ).fetchone()
            if count + amount > limit:
                return False
            db.executemany(
                "INSERT INTO entries (key, at, expires_at) VALUES (?, ?, ?)",
                [(key, now, now + expiry)] * amount,
            )
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """Return the oldest hit in the last expiry seconds and how many there were."""
        with self._reading() as (db, now):
            oldest, count = db.execute(
                "SELECT MIN(at), COUNT(*) FROM entries WHERE key = ? AND at >= ?",
                (key, now - expiry),
            ).fetchone()
        return (float(oldest), int(count)) if count else (now, 0)

    def close(self) -> None:
        """Close this process's connection (the next call opens it again)."""
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def __del__(self) -> None:
        # Closed explicitly: an app's storage is dropped when the next app (a test's) replaces it.
        if getattr(self, "_connection", None) is not None and self._pid == os.getpid():
            self.close()

    @contextmanager
    def _transaction(self) -> Iterator[tuple[sqlite3.Connection, float]]:
        """Hold the file's write lock (BEGIN IMMEDIATE) and commit, or roll back on error."""
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                now = self.clock()
                self._clean_up(db, now)
                yield db, now
            except BaseException:
                db.rollback()
                raise
            db.commit()

    @contextmanager
    def _reading(self) -> Iterator[tuple[sqlite3.Connection, float]]:
        """Read without taking the write lock (WAL readers see the last commit)."""
        with self._lock:
            yield self._connect(), self.clock()

    def _connect(self) -> sqlite3.Connection:
        """Return this process's connection, opened (and the file created) on first use."""
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        # A connection inherited through fork belongs to the parent: never use or close it.
        self._connection = None
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)  # as the store makes it
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE))
        db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        try:
            self._use_wal(db)
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA:
                db.execute(statement)
            db.commit()
        except BaseException:
            db.close()
            raise
        self._connection, self._pid = db, os.getpid()
        return db

    @staticmethod
    def _use_wal(db: sqlite3.Connection) -> None:
        """Switch the file to WAL mode, waiting for other processes doing the same.

        SQLite answers "database is locked" at once, without its busy timeout, to a second
        process switching a new file's journal mode meanwhile.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(WAL_RETRY_SECONDS)

    def _clean_up(self, db: sqlite3.Connection, now: float) -> None:
        """Delete what has expired, once per CLEANUP_SECONDS in this process."""
        if now - self._last_cleanup < CLEANUP_SECONDS:
            return
        self._last_cleanup = now
        db.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        db.execute("DELETE FROM entries WHERE expires_at <= ?", (now,))


class FailoverStorage(Storage, MovingWindowSupport):
    """Count in a shared storage; while it fails, in this process's memory, and say so."""

    STORAGE_SCHEME = [FAILOVER_PREFIX + scheme for scheme in FAILOVER_SCHEMES]

    def __init__(
        self,
        uri: str,
        wrap_exceptions: bool = False,
        clock: Callable[[], float] = time.monotonic,
        **options: float | str | bool,
    ) -> None:
        """Wrap the storage named by the URI without its failover+ prefix."""
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        shared = storage_from_string(uri.removeprefix(FAILOVER_PREFIX), **options)
        assert isinstance(shared, Storage) and isinstance(shared, MovingWindowSupport)
        self.shared = shared
        self.name = without_password(uri.removeprefix(FAILOVER_PREFIX)).split("?")[0]
        self.local = MemoryStorage()
        self.clock = clock
        self._lock = threading.Lock()
        self._down = False
        self._next_check = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ()  # nothing reaches Flask-Limiter: failures switch to the local counts

    def incr(self, key: str, expiry: int | float, amount: int = 1) -> int:
        """Add amount to the key's counter."""
        return self._call(lambda storage: storage.incr(key, int(expiry), amount))

    def get(self, key: str) -> int:
        """Return the key's count in its current window."""
        return self._call(lambda storage: storage.get(key))

    def get_expiry(self, key: str) -> float:
        """Return when the key's window ends."""
        return self._call(lambda storage: storage.get_expiry(key))

    def clear(self, key: str) -> None:
        """Forget the key's counts, shared and local."""
        self.local.clear(key)
        self._call(lambda storage: None if storage is self.local else storage.clear(key))

    def reset(self) -> int | None:
        """Forget every count, shared and local."""
        self.local.reset()
        return self._call(lambda storage: None if storage is self.local else storage.reset())

    def check(self) -> bool:
        """Return True: counting goes on, locally while the shared counts are down."""
        return True

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Record amount hits in the moving window if the limit allows."""
        return self._call(lambda storage: storage.acquire_entry(key, limit, expiry, amount))

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """Return the oldest hit in the window and how many there were."""
        return self._call(lambda storage: storage.get_moving_window(key, limit, expiry))

    def close(self) -> None:
        """Close the shared storage's connection, where it has one."""
        close = getattr(self.shared, "close", None)
        if callable(close):
            close()

    def _call(self, operation: Callable[[Any], Any]) -> Any:
        """Run an operation on the shared storage, or on the local one while it is down."""
        if self._use_shared():
            try:
                return operation(self.shared)
            except self.shared.base_exceptions as exc:
                self._went_down(exc)
        return operation(self.local)

    def _use_shared(self) -> bool:
        """Return whether to try the shared storage: it is up, or one thread's check is due."""
        with self._lock:
            if not self._down:
                return True
            now = self.clock()
            if now < self._next_check:
                return False
            self._next_check = now + RECHECK_SECONDS  # the other threads stay local meanwhile
        if not self.shared.check():
            return False
        with self._lock:
            if self._down:
                self._down = False
                log.warning("Rate limits count in %s again, shared by every worker.", self.name)
        return True

    def _went_down(self, error: Exception) -> None:
        """Count locally from now on, and log it once."""
        with self._lock:
            self._next_check = self.clock() + RECHECK_SECONDS
            if self._down:
                return
            self._down = True
        log.warning(
            "Rate limit storage unreachable: %s (%s). Each worker counts for itself until it "
            "answers; checking every %g s.",
            self.name,
            error,
            RECHECK_SECONDS,
        )
