"""GET data endpoints: events as GeoJSON, the compact map data, one event's details.

Bodies are built once per store version (and filter), kept gzipped, and answered with ETag and
Last-Modified so that browsers and partners revalidate with a cheap 304.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from flask import Blueprint, Response, abort, current_app, jsonify, request

from mapapp import mapview
from mapapp.exports import render_export
from mapapp.filters import EventFilter, apply_filter, parse_filter
from mapapp.storage import get_store

blueprint = Blueprint("api", __name__, url_prefix="/api")

JSON_TYPE = "application/json"
CACHE_ENTRIES = 64  # bodies kept per worker: the unfiltered ones plus recent filtered views
GZIP_LEVEL = 6
MIN_GZIP_BYTES = 512


@dataclass(frozen=True)
class Body:
    """A response body built for one store version, plain and gzipped."""

    plain: bytes
    gzipped: bytes
    media_type: str
    etag: str
    last_modified: datetime


class BodyCache:
    """A small LRU of response bodies keyed by store version and request."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], Body] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(
        self, key: tuple[Any, ...], build: Callable[[], tuple[bytes, str]], modified: datetime
    ) -> Body:
        """Return the cached body of a key, building it (once) when missing."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        plain, media_type = build()
        digest = hashlib.blake2b(plain, digest_size=10).hexdigest()
        body = Body(plain, gzip.compress(plain, GZIP_LEVEL, mtime=0), media_type, digest, modified)
        with self._lock:
            self._entries[key] = body
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return body


def _cache() -> BodyCache:
    """Return this app's body cache."""
    return current_app.extensions.setdefault("mapapp.api_cache", BodyCache())  # type: ignore[no-any-return]


def _store_modified() -> datetime:
    """Return when the store last changed, to the second (as HTTP dates go)."""
    try:
        mtime = get_store().path.stat().st_mtime
    except FileNotFoundError:
        mtime = 0
    return datetime.fromtimestamp(int(mtime), UTC)


def cached_response(name: str, build: Callable[[], tuple[bytes, str]], *args: Any) -> Response:
    """Answer a body built once per store version: gzipped if accepted, 304 if unchanged."""
    store = get_store()
    key = (name, store.version, *args)
    body = _cache().get_or_build(key, build, _store_modified())
    use_gzip = "gzip" in request.accept_encodings and len(body.plain) >= MIN_GZIP_BYTES
    response = Response(body.gzipped if use_gzip else body.plain, mimetype=body.media_type)
    if use_gzip:
        response.headers["Content-Encoding"] = "gzip"
    response.set_etag(body.etag + ("-gz" if use_gzip else ""))
    response.last_modified = body.last_modified
    response.headers["Cache-Control"] = "public, no-cache"
    response.vary.add("Accept-Encoding")
    response.headers["Access-Control-Allow-Origin"] = "*"  # public data, for partners' maps
    response.make_conditional(request)
    return response


def _compact(data: Any) -> bytes:
    """Return data as compact UTF-8 JSON."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _invalid_filter(event_filter: EventFilter) -> Response:
    """Return a 400 that names every invalid filter value."""
    response = jsonify(
        error="Bad Request",
        message="Some filters are not valid: " + " ".join(event_filter.errors.values()),
        errors=event_filter.errors,
    )
    response.status_code = 400
    return response


def _filtered(event_filter: EventFilter) -> pd.DataFrame:
    """Return the stored events a filter keeps."""
    return apply_filter(get_store().frame(), event_filter)


@blueprint.get("/events.geojson")
def events_geojson() -> Response:
    """Send the approved events the filters keep as a GeoJSON FeatureCollection."""
    event_filter = parse_filter(request.args)
    if event_filter.errors:
        return _invalid_filter(event_filter)

    def build() -> tuple[bytes, str]:
        kept = _filtered(event_filter).sort_values(["starts_at", "id"], kind="stable")
        body, media_type, _ = render_export("geojson", kept)
        return body, media_type

    return cached_response("geojson", build, tuple(sorted(event_filter.to_args().items())))


@blueprint.get("/map-data.json")
def map_data() -> Response:
    """Send every approved event in the compact columns the map draws and filters."""
    return cached_response(
        "map-data", lambda: (_compact(mapview.map_data(get_store().frame())), JSON_TYPE)
    )


@blueprint.get("/map-labels.json")
def map_labels() -> Response:
    """Send the titles and cities of approved events, aligned with the map data."""
    return cached_response(
        "map-labels", lambda: (_compact(mapview.map_labels(get_store().frame())), JSON_TYPE)
    )


@blueprint.get("/search.json")
def search() -> Response:
    """Send the ids of the approved events the filters (and free text `q`) keep."""
    event_filter = parse_filter(request.args)
    if event_filter.errors:
        return _invalid_filter(event_filter)

    def build() -> tuple[bytes, str]:
        kept = _filtered(event_filter)
        return _compact({"ids": mapview.matching_ids(kept)}), JSON_TYPE

    return cached_response("search", build, tuple(sorted(event_filter.to_args().items())))


@blueprint.get("/events/<event_id>.json")
def event_detail(event_id: str) -> Response:
    """Send the public fields of one approved event."""
    event = get_store().get(event_id)
    if event is None or event.get("status") != "approved":
        abort(404, description=f"No published event has the id {event_id!r}.")
    return cached_response(
        "event", lambda: (_compact(mapview.public_event(event)), JSON_TYPE), event_id
    )
