"""Tell an organiser by e-mail what became of their event, once the change is stored.

A message is queued after its change is stored, so a failure to queue it (a full disk, a
damaged outbox.csv) must not turn the stored change into an error page: it is logged with the
event's id and the kind of message, and the person is answered as if it had been queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mapapp.notices import queue_safely
from mapapp.web.links import links


def notify(send: Callable[..., str], *args: Any, event_id: str) -> None:
    """Queue a notice (a mapapp.notices function, given its arguments but the links)."""
    what = getattr(send, "__name__", "e-mail")
    queue_safely(lambda: send(*args, links()), what, event_id)
