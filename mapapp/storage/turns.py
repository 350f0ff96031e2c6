"""Turns: one holder at a time across processes and hosts, and the earliest next go.

The Nominatim client takes its turn here (one request a second across every host, and waiting
as long as a Retry-After asked). A turn is held for the whole request; while held, the holder
reads how long until the next go may leave and pushes that moment later. Three backends, chosen
by `shared.py`: a lock file and a stamp file in the data directory (one host, here), Redis
(`redis_shared.RedisTurn`: a `redis.lock.Lock` with a lease, and the next moment in Redis's own
clock, read and pushed by Lua scripts), PostgreSQL (`pg_shared.PostgresTurn`: a session
advisory lock on a dedicated connection, the next moment in the `mapapp_turns` table in the
server's clock). The shared clocks make hosts whose clocks differ keep the same spacing.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from filelock import FileLock
from filelock import Timeout as FileLockTimeout


class TurnBusy(RuntimeError):
    """The turn stayed taken by others for longer than the wait allowed."""


class TurnUnavailable(RuntimeError):
    """The server that keeps the turn does not answer: nobody should go meanwhile."""


class Held(ABC):
    """A turn while it is held: how long until the next go, and pushing that later."""

    @abstractmethod
    def wait_seconds(self) -> float:
        """Return the seconds until the next go may leave (0 or less: now)."""

    @abstractmethod
    def not_before(self, seconds: float) -> None:
        """Make the next go leave no earlier than this many seconds from now."""


class Turn(ABC):
    """One holder at a time, across processes (and hosts, for the shared backends)."""

    def __init__(self, name: str, lease: float) -> None:
        self.name = name
        self.lease = lease  # how long a holder may keep it (a dead host's turn frees itself)
        self._thread_lock = threading.Lock()  # threads of a process queue here, not remotely

    @contextmanager
    def hold(self, timeout: float) -> Iterator[Held]:
        """Hold the turn, waiting up to timeout; raise TurnBusy or TurnUnavailable."""
        if not self._thread_lock.acquire(timeout=timeout):
            raise TurnBusy(self.name)
        try:
            with self._hold(timeout) as held:
                yield held
        finally:
            self._thread_lock.release()

    @abstractmethod
    def _hold(self, timeout: float) -> AbstractContextManager[Held]:
        """Hold the backend's lock (the thread lock is held)."""


class FileTurn(Turn):
    """A turn of the processes of one host: `.<name>.lock` and `.<name>-next` in a directory."""

    def __init__(self, directory: str | os.PathLike[str], name: str, lease: float) -> None:
        super().__init__(name, lease)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.stamp = directory / f".{name}-next"
        self.lock_path = directory / f".{name}.lock"

    @contextmanager
    def _hold(self, timeout: float) -> Iterator[Held]:
        lock = FileLock(str(self.lock_path), timeout=timeout, is_singleton=False)
        try:
            lock.acquire()
        except FileLockTimeout as exc:
            raise TurnBusy(self.name) from exc
        try:
            yield _FileHeld(self.stamp)
        finally:
            lock.release()


class _FileHeld(Held):
    def __init__(self, stamp: Path) -> None:
        self.stamp = stamp

    def wait_seconds(self) -> float:
        return self._stored() - time.time()

    def not_before(self, seconds: float) -> None:
        moment = max(self._stored(), time.time() + seconds)
        temporary = self.stamp.with_name(f"{self.stamp.name}.{os.getpid()}.tmp")
        temporary.write_text(f"{moment:.3f}")
        os.replace(temporary, self.stamp)

    def _stored(self) -> float:
        try:
            return float(self.stamp.read_text() or 0)
        except (OSError, ValueError):
            return 0.0
