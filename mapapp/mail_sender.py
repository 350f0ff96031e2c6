"""Running senders: a thread in each server worker, `mapapp mail worker`'s loop, one pass.

Every sender claims messages under the outbox's lock (see mapapp.mail), so any number may run at
once, in the workers of one host or on several hosts sharing the data directory. A thread in
each worker sends a message right after a request of that worker queued it (mail.queue wakes it),
so no separate service is needed; `mapapp mail worker` is the same loop as a process of its own.
Each running sender also queues the coordinators' daily digest once a day, from
MAPAPP_DIGEST_HOUR UTC (idempotent per account and day, so many senders queue each one once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from flask import Flask

from mapapp import digest
from mapapp.mail import EXTENSION, Counts, purge, send_due, settings_of
from mapapp.storage import StoreError

# How often a running sender removes messages older than the retention.
PURGE_EVERY_SECONDS = 3600

log = logging.getLogger(__name__)


def send_and_purge(app: Flask) -> Counts:
    """Send what is due and remove what is past its retention, once (`mapapp mail send`)."""
    with app.app_context():
        counts = send_due()
        counts.removed = purge()
    return counts


def run_sender(app: Flask, stop: threading.Event) -> None:
    """Send due messages until stop is set, sleeping between looks; never raise."""
    settings = settings_of(app)
    wake: threading.Event = app.extensions[EXTENSION]["wake"]
    last_purge = 0.0
    last_digest: date | None = None
    while not stop.is_set():
        try:
            moment = digest.now()
            if digest.due(moment, int(app.config["DIGEST_HOUR"]), last_digest):
                last_digest = moment.date()  # once a day, even when it failed: logged below
                digest.run(app, moment)
            with app.app_context():
                send_due()
                now = datetime.now(UTC).timestamp()
                if now - last_purge >= PURGE_EVERY_SECONDS:
                    purge()
                    last_purge = now
        except (StoreError, OSError):
            log.exception("The mail sender could not read or write the outbox; trying again")
        except Exception:  # a sender thread that dies would silently stop all mail
            log.exception("The mail sender met an unexpected error; trying again")
        wake.wait(settings.poll_seconds)
        wake.clear()


@contextmanager
def sender_running(app: Flask) -> Iterator[threading.Thread | None]:
    """Run a sender thread while the block runs (None when MAPAPP_MAIL_SENDER is off)."""
    thread = start_sender(app)
    try:
        yield thread
    finally:
        stop_sender(app)


def start_sender(app: Flask) -> threading.Thread | None:
    """Start this process's sender thread, unless MAPAPP_MAIL_SENDER is off; return it."""
    if not settings_of(app).in_server:
        return None
    state = app.extensions[EXTENSION]
    if state.get("thread") is not None:
        return state["thread"]  # type: ignore[no-any-return]
    stop = threading.Event()
    thread = threading.Thread(
        target=run_sender, args=(app, stop), name="mapapp-mail-sender", daemon=True
    )
    state["thread"], state["stop"] = thread, stop
    thread.start()
    return thread


def stop_sender(app: Flask, timeout: float = 5.0) -> None:
    """Ask this process's sender thread to stop after the message it is sending, and wait."""
    state = app.extensions[EXTENSION]
    thread, stop = state.pop("thread", None), state.pop("stop", None)
    if thread is None or stop is None:
        return
    stop.set()
    state["wake"].set()
    thread.join(timeout)
