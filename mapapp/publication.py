"""What visitors see: a version of the public content, and the public exports kept.

Every public body (map data, search, GeoJSON, one event, the public exports) is built from the
approved events' public fields only, so it is keyed on `public_version` rather than the store's
version: a pending submission, a rejection of a pending event or a coordinator's note change the
store but leave every public body, and its ETag, as it was.

A public export is rendered once per public version, format layout and filter, across all workers
and hosts (a new layout of a format, after a deploy, renews its copies as a change would): the
bytes are kept in `Blobs` (storage: a directory, Redis or PostgreSQL, see storage/shared.py), one
render at a time under the family's lock. After a change the
previous copy is served while one worker renders the new one in the background
(stale-while-revalidate); only the first render of an export ever is made while a visitor waits.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import pandas as pd

from mapapp.events import PUBLIC_FIELDS
from mapapp.exports import FORMATS, export_events
from mapapp.filters import EventFilter
from mapapp.i18n import _
from mapapp.storage import VERSION_FIELD, Store, per_frame
from mapapp.storage.blobs import Blobs

PUBLIC_STATUS = "approved"
# Field and row separators of the hashed text: control characters that stored values never hold.
FIELD_SEPARATOR, ROW_SEPARATOR = "\x1f", "\x1e"
DIGEST_BYTES = 12
# Seconds a visitor is told to wait while another request renders an export for the first time.
RETRY_AFTER_SECONDS = 10

log = logging.getLogger(__name__)


@per_frame
def public_version(frame: pd.DataFrame) -> str:
    """Return a token of the approved events' public fields, computed once per store change."""
    # About 0.1 s at 50,000 events (docs/performance.md). The fields themselves are hashed, not
    # only ids and versions, because a hand edit of the file changes text without a new version.
    approved = frame[frame["status"].to_numpy() == PUBLIC_STATUS]
    digest = hashlib.blake2b(digest_size=DIGEST_BYTES)
    for name in (*PUBLIC_FIELDS, VERSION_FIELD):
        if name in approved.columns:
            digest.update(FIELD_SEPARATOR.join(approved[name].tolist()).encode())
            digest.update(ROW_SEPARATOR.encode())
    return f"{len(approved):x}-{digest.hexdigest()}"


def export_version(frame: pd.DataFrame, fmt: str) -> str:
    """Return the version of a public export: the public content's and its format's layout."""
    return f"{public_version(frame)}-{FORMATS[fmt].layout}"


def entity_tag(*parts: str) -> str:
    """Return a strong entity tag for a body made from these parts (versions, format, filter)."""
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


class ExportBusy(RuntimeError):
    """An export is being rendered for the first time by another request; retry shortly."""

    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class Published:
    """A public export ready to send: an open file of its bytes and what describes it."""

    file: BinaryIO
    size: int
    etag: str
    media_type: str
    suffix: str
    # "kept" (the current version, from disk), "stale" (an older version's copy, answered while
    # the current one renders in the background) or "rendered" (now, for this request)
    status: str


def export_family(fmt: str, event_filter: EventFilter, base_url: str) -> str:
    """Return the name of an export whatever the version: its format, filter and address."""
    arguments = "&".join(
        f"{name}={value}" for name, value in sorted(event_filter.to_args().items())
    )
    return f"{fmt}-" + entity_tag(fmt, arguments, base_url)[:24]


def published_export(
    store: Store,
    blobs: Blobs,
    fmt: str,
    event_filter: EventFilter,
    *,
    base_url: str,
    before_render: Callable[[], None] = lambda: None,
) -> Published:
    """Return a public export from the disk cache, rendering it once across workers if missing.

    Serves the previous copy while a newer one renders in the background. Calls before_render
    (which may raise, e.g. a rate limit) before a visitor waits for a render. Raises ExportBusy
    when another request is rendering the export for the first time.
    """
    family = export_family(fmt, event_filter, base_url)
    version = export_version(store.frame(), fmt)
    found = blobs.open(family, version)
    if found is not None:
        return _published(fmt, family, version, found, "kept")
    older = blobs.latest(family)
    if older is not None:
        old_version, old_file = older
        _render_in_background(store, blobs, fmt, event_filter, base_url, family)
        return _published(fmt, family, old_version, old_file, "stale")
    with blobs.flight(family, wait=False) as mine:
        if not mine:
            raise ExportBusy(_("The %(format)s export is being prepared.", format=fmt))
        found = blobs.open(family, version)  # another worker may have finished meanwhile
        if found is not None:
            return _published(fmt, family, version, found, "kept")
        before_render()
        version, body = _render(store, fmt, event_filter, base_url)
        found = blobs.put(family, version, body)
    return _published(fmt, family, version, found, "rendered")


def _published(fmt: str, family: str, version: str, file: BinaryIO, status: str) -> Published:
    """Return the description of an export's open file."""
    size = file.seek(0, 2)
    file.seek(0)
    export_format = FORMATS[fmt]
    etag = entity_tag(family, version)
    return Published(file, size, etag, export_format.media_type, export_format.suffix, status)


def _render(store: Store, fmt: str, event_filter: EventFilter, base_url: str) -> tuple[str, bytes]:
    """Return the export version of the store's frame and the export rendered from it."""
    frame = store.frame()
    version = export_version(frame, fmt)
    body, _media_type, _suffix = export_events(fmt, frame, event_filter, base_url=base_url)
    log.info("rendered the %s export %s for public version %s", fmt, event_filter, version)
    return version, body


_rendering: dict[str, threading.Thread] = {}  # families this process renders in the background
_rendering_lock = threading.Lock()
# Background renders run one at a time per process, so that after a change a worker spends at
# most one core on them while it goes on answering.
_render_slot = threading.Semaphore(1)


def finish_renders() -> None:
    """Wait until the background renders this process started are done (tests, the CLI)."""
    with _rendering_lock:
        threads = list(_rendering.values())
    for thread in threads:
        thread.join()


def _render_in_background(
    store: Store,
    blobs: Blobs,
    fmt: str,
    event_filter: EventFilter,
    base_url: str,
    family: str,
) -> None:
    """Start one thread that renders the current version of an export, unless one runs."""

    def run() -> None:
        try:
            with _render_slot, blobs.flight(family, wait=False) as mine:
                if not mine:
                    return  # another worker renders it
                if blobs.exists(family, export_version(store.frame(), fmt)):
                    return
                version, body = _render(store, fmt, event_filter, base_url)
                blobs.put(family, version, body).close()
        except Exception:  # a background thread has no one else to tell
            log.exception("rendering the %s export %s failed", fmt, event_filter)
        finally:
            with _rendering_lock:
                _rendering.pop(family, None)

    with _rendering_lock:
        if family in _rendering:
            return
        thread = threading.Thread(target=run, name=f"render-{family}", daemon=True)
        _rendering[family] = thread
    thread.start()
