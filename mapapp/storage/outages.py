"""A shared server that failed: said once in the log, skipped, tried again now and then.

While a server is down its callers answer as if nothing were kept (or nobody may go), without
waiting for a timeout on every request: one call every RECHECK_SECONDS tries it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

# Seconds between two tries of a server that failed.
RECHECK_SECONDS = 5.0

log = logging.getLogger(__name__)


class Outage:
    """Whether a shared server is usable: failures logged once, retried every RECHECK_SECONDS."""

    def __init__(self, server: str, consequence: str, clock: Callable[[], float] = time.monotonic):
        self.server = server
        self.consequence = consequence
        self.clock = clock
        self._down = False
        self._next_try = 0.0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        """Return whether the last call failed."""
        return self._down

    def usable(self) -> bool:
        """Return whether to call the server: it answered last time, or a new try is due."""
        with self._lock:
            if not self._down:
                return True
            now = self.clock()
            if now < self._next_try:
                return False
            self._next_try = now + RECHECK_SECONDS  # the other threads skip it meanwhile
            return True

    def failed(self, error: BaseException) -> None:
        """Count the server as down from now on, and log it the first time."""
        with self._lock:
            self._next_try = self.clock() + RECHECK_SECONDS
            if self._down:
                return
            self._down = True
        log.warning(
            "%s unreachable (%s): %s until it answers; trying again every %g s.",
            self.server,
            error,
            self.consequence,
            RECHECK_SECONDS,
        )

    def answered(self) -> None:
        """Count the server as up again, and log it if it was down."""
        if not self._down:
            return
        with self._lock:
            if not self._down:
                return
            self._down = False
        log.warning("%s answers again.", self.server)
