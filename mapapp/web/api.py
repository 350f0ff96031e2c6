"""GET data endpoints: events as GeoJSON, the compact map data, one event's details.

Bodies are built once per version of the public content (and normalised filter), so a pending
submission rebuilds nothing. They are kept gzipped in an LRU bounded in bytes (API_CACHE_BYTES
per worker) and, with Redis (storage/shared.py), in Redis too, where every worker of every host
finds what one built (the key holds the public version, read from the store, so a body is never
stale; and the code's fingerprint, so a deploy never reuses another release's). Answered with an ETag of their content and Last-Modified, so that browsers and
partners revalidate with a cheap 304; the rare client that takes no gzip gets it unzipped.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from mapapp import map_data as public_data
from mapapp import mapview
from mapapp.exports import render_export
from mapapp.filters import EventFilter, apply_filter, parse_filter
from mapapp.geocoding.towns import places_named
from mapapp.i18n import _, format_number
from mapapp.storage import get_store, shared
from mapapp.storage.blobs import Blobs

blueprint = Blueprint("api", __name__, url_prefix="/api")

JSON_TYPE = "application/json"
GZIP_LEVEL = 6
MIN_GZIP_BYTES = 512
# What an entry costs besides its body: the key, the Body object, the LRU's links.
ENTRY_OVERHEAD_BYTES = 512
# The places a typed name means come from the gazetteer, which changes with a release only.
PLACES_CACHE = "public, max-age=300"
MAX_PLACE_QUERY = 100
SHARED_VERSION = "v1"  # a shared body's blob version: the family's name already holds the key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Body:
    """A response body built for one public version: gzipped, or plain when it is small."""

    data: bytes
    is_gzipped: bool
    media_type: str
    etag: str
    last_modified: datetime

    @property
    def nbytes(self) -> int:
        """Return about how many bytes keeping this body takes."""
        return len(self.data) + ENTRY_OVERHEAD_BYTES

    def plain(self) -> bytes:
        """Return the body uncompressed."""
        return gzip.decompress(self.data) if self.is_gzipped else self.data


class BodyCache:
    """An LRU of response bodies keyed by public version and request, bounded in bytes.

    With shared blobs (Redis), a body missing here is looked up there before it is built, and
    a body built here is kept there too.
    """

    def __init__(self, max_bytes: int, shared_blobs: Blobs | None = None) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.shared = shared_blobs
        self._entries: OrderedDict[tuple[Any, ...], Body] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(
        self, key: tuple[Any, ...], build: Callable[[], tuple[bytes, str]], modified: datetime
    ) -> Body:
        """Return the cached body of a key, building it when missing (kept if within bound)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        body = self._shared_body(key)
        if body is None:
            plain, media_type = build()
            digest = hashlib.blake2b(plain, digest_size=10).hexdigest()
            if len(plain) >= MIN_GZIP_BYTES:
                body = Body(
                    gzip.compress(plain, GZIP_LEVEL, mtime=0), True, media_type, digest, modified
                )
            else:
                body = Body(plain, False, media_type, digest, modified)
            if self.shared is not None:
                self.shared.put(_family(key), SHARED_VERSION, _encode(body)).close()
        if body.nbytes > self.max_bytes:
            return body
        with self._lock:
            if key in self._entries:  # another thread built it meanwhile
                return self._entries[key]
            self._entries[key] = body
            self.nbytes += body.nbytes
            while self.nbytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.nbytes -= evicted.nbytes
        return body

    def _shared_body(self, key: tuple[Any, ...]) -> Body | None:
        """Return the body another worker or host kept for the key, or None."""
        if self.shared is None:
            return None
        found = self.shared.open(_family(key), SHARED_VERSION)
        if found is None:
            return None
        with found:
            return _decode(found.read())


def _family(key: tuple[Any, ...]) -> str:
    """Return the shared blob name of a body's key (with the code that builds it)."""
    text = repr((shared.code_fingerprint(), key))
    return "body-" + hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def _encode(body: Body) -> bytes:
    """Return a body as bytes to share: a JSON line of what describes it, then its data."""
    header = {
        "gzipped": body.is_gzipped,
        "media_type": body.media_type,
        "etag": body.etag,
        "last_modified": body.last_modified.isoformat(),
    }
    return json.dumps(header).encode() + b"\n" + body.data


def _decode(shared_bytes: bytes) -> Body | None:
    """Return a shared body from its bytes, or None if they are not one (then it is rebuilt)."""
    header, _, data = shared_bytes.partition(b"\n")
    try:
        fields = json.loads(header)
        return Body(
            data,
            bool(fields["gzipped"]),
            str(fields["media_type"]),
            str(fields["etag"]),
            datetime.fromisoformat(fields["last_modified"]),
        )
    except (ValueError, KeyError, TypeError):
        log.warning("a shared API body could not be read; building it again")
        return None


def body_cache(app: Flask) -> BodyCache:
    """Return an app's body cache (shared through Redis when the settings say so)."""
    cache = app.extensions.get("mapapp.api_cache")
    if cache is None:
        cache = BodyCache(int(app.config["API_CACHE_BYTES"]), shared.body_store(app.config))
        app.extensions["mapapp.api_cache"] = cache
    return cache  # type: ignore[no-any-return]


def _cache() -> BodyCache:
    """Return the current app's body cache."""
    return body_cache(current_app)


def _store_modified() -> datetime:
    """Return when the store last changed, to the second (as HTTP dates go)."""
    return datetime.fromtimestamp(int(get_store().modified), UTC)


def cached_response(name: str, build: Callable[[], tuple[bytes, str]], *args: Any) -> Response:
    """Answer a body built once per public version: gzipped if accepted, 304 if unchanged."""
    # The public content's token comes from the public index, brought up to date from the
    # store's changed keys: no pass over every event after a write.
    key = (name, public_data.current(get_store()).token, *args)
    body = _cache().get_or_build(key, build, _store_modified())
    return _send(body)


def _send(body: Body) -> Response:
    """Answer a body: gzipped if accepted, 304 if the client holds it, public and revalidated."""
    use_gzip = body.is_gzipped and "gzip" in request.accept_encodings
    response = Response(body.data if use_gzip else body.plain(), mimetype=body.media_type)
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
        message=_(
            "Some filters are not valid: %(problems)s",
            problems=" ".join(event_filter.errors.values()),
        ),
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
    return _send(_indexed(public_data.current(get_store()).map_data()))


@blueprint.get("/map-labels.json")
def map_labels() -> Response:
    """Send the titles and cities of approved events, aligned with the map data."""
    return _send(_indexed(public_data.current(get_store()).map_labels()))


def _indexed(body: public_data.Body) -> Body:
    """Return a body the public index keeps (gzipped in pieces) as a body to send."""
    if len(body.gzipped) < MIN_GZIP_BYTES:  # as the cache keeps small bodies: plain
        return Body(body.plain(), False, JSON_TYPE, body.etag, _store_modified())
    return Body(body.gzipped, True, JSON_TYPE, body.etag, _store_modified())


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
        abort(404, description=_("No published event has the id %(id)s.", id=repr(event_id)))
    return cached_response(
        "event", lambda: (_compact(mapview.public_event(event)), JSON_TYPE), event_id
    )


@blueprint.get("/places.json")
def places() -> Response:
    """Send the gazetteer's places a typed name means, in any language, best first (at most 5).

    Only the offline gazetteer answers: never Nominatim. Labels are in the language of the URL
    (`/fr/api/places.json` names countries in French).
    """
    text = " ".join((request.args.get("q") or "").split())
    if not text:
        return _bad_request(_("Type the name of a town or a country."))
    if len(text) > MAX_PLACE_QUERY:
        return _bad_request(
            _(
                "A place's name is at most %(limit)s characters long: shorten it.",
                limit=format_number(MAX_PLACE_QUERY),
            )
        )
    response = jsonify(places=places_named(text))
    response.headers["Cache-Control"] = PLACES_CACHE
    response.headers["Access-Control-Allow-Origin"] = "*"  # public data, for partners' maps
    response.add_etag()
    response.make_conditional(request)
    return response


def _bad_request(message: str) -> Response:
    """Return a 400 with a message a person reads."""
    response = jsonify(error="Bad Request", message=message)
    response.status_code = 400
    return response
