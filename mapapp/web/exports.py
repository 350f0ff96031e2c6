"""Downloads: public exports of approved events and the coordinators' full export.

Public exports come from the cache of `mapapp.publication` (rendered once per public version
and filter, across workers and, with Redis or PostgreSQL, across hosts); a render a visitor waits for is rate limited per client.
The coordinators' export holds private fields: rendered each time, never kept, `no-store`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from flask import Blueprint, Flask, Response, abort, current_app, request, send_file
from flask.blueprints import BlueprintSetupState
from flask_limiter.util import get_remote_address
from flask_login import login_required
from limits import parse
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from mapapp import access
from mapapp.config import ConfigError
from mapapp.exports import FORMATS, download_name, export_events
from mapapp.filters import EventFilter, parse_filter
from mapapp.i18n import _
from mapapp.publication import ExportBusy, published_export
from mapapp.storage import get_store, shared
from mapapp.storage.blobs import Blobs
from mapapp.web.limits import OFF, limit_is_off, limiter

blueprint = Blueprint("exports", __name__)

DEFAULT_ADMIN_FORMAT = "csv"
RATE_LIMIT_SCOPE = "export-render"
# How the export cache answered, as an RFC 9211 Cache-Status header.
CACHE_STATUS = {
    "kept": "mapapp-exports; hit",
    "stale": "mapapp-exports; hit; detail=stale-while-revalidate",
    "rendered": "mapapp-exports; fwd=miss; stored",
}
# Kept exports up to this size are read and sent from memory; larger ones are streamed.
IN_MEMORY_BYTES = 1024 * 1024


@blueprint.record_once
def _check_settings(state: BlueprintSetupState) -> None:
    """Stop the app at start, with a message, when the export settings cannot be used."""
    value = str(state.app.config.get("EXPORT_RATE_LIMIT") or OFF).strip()
    if value.lower() != OFF:
        try:
            parse(value)
        except ValueError as exc:
            raise ConfigError(
                f"MAPAPP_EXPORT_RATE_LIMIT must be a limit such as '20 per hour' or 'off', "
                f"not {value!r}."
            ) from exc
    for name in ("API_CACHE_BYTES", "EXPORT_CACHE_BYTES"):
        if int(state.app.config[name]) < 0:
            raise ConfigError(f"MAPAPP_{name} must be a number of bytes, 0 or more.")
    shared.cache_backend(state.app.config)  # raises ConfigError on a backend it cannot use


@blueprint.get("/events.<any(csv, xlsx, json, geojson, ics):fmt>")
def public_export(fmt: str) -> Response:
    """Download the approved events the query's filters keep, public fields only."""
    event_filter = _filter_or_400(request.args, private=False)
    try:
        published = published_export(
            get_store(),
            export_cache(current_app),
            fmt,
            event_filter,
            base_url=request.url_root,
            before_render=_limit_renders,
        )
    except ExportBusy as busy:
        raise ServiceUnavailable(
            _("%(problem)s Try again in a moment.", problem=str(busy)),
            retry_after=busy.retry_after,
        ) from None
    if request.if_none_match.contains(published.etag):
        published.file.close()
        response = Response(status=304)
    elif published.size <= IN_MEMORY_BYTES:
        with published.file:
            response = Response(published.file.read(), mimetype=published.media_type)
    else:  # streamed from the open file, which the server closes (evicted meanwhile or not)
        response = send_file(published.file, mimetype=published.media_type, conditional=False)
    if response.status_code == 200:
        name = download_name(published.suffix)
        response.headers["Content-Disposition"] = f"attachment; filename={name}"
    response.set_etag(published.etag)
    response.headers["Cache-Status"] = CACHE_STATUS[published.status]
    response.cache_control.public = True
    response.cache_control.no_cache = True  # revalidate each time; the ETag makes that cheap
    return response


@blueprint.get("/admin/export")
@login_required
def admin_export() -> Response:
    """Download events of any status with every field but the edit token, for coordinators."""
    fmt = (request.args.get("format") or DEFAULT_ADMIN_FORMAT).lower()
    if fmt not in FORMATS:
        formats = ", ".join(FORMATS)
        message = _(
            "Format: choose one of %(formats)s, not %(format)s.", formats=formats, format=repr(fmt)
        )
        abort(400, description=message)
    # Here "format" names the file format, so the map's event-format filter is "event_format".
    args = {name: value for name, value in request.args.items() if name != "format"}
    if "event_format" in args:
        args["format"] = args.pop("event_format")
    event_filter = _filter_or_400(args, private=True)
    body, media_type, suffix = export_events(
        fmt, access.events().private_frame(), event_filter, private=True
    )
    response = Response(body, mimetype=media_type)
    response.headers["Content-Disposition"] = f"attachment; filename={download_name(suffix)}"
    response.cache_control.no_store = True  # private fields: never kept by any cache
    response.cache_control.private = True
    return response


def export_cache(app: Flask) -> Blobs:
    """Return the app's cache of public exports (a directory, Redis or PostgreSQL)."""
    blobs = app.extensions.get("mapapp.export_cache")
    if blobs is None:
        blobs = shared.export_cache(app.config)
        app.extensions["mapapp.export_cache"] = blobs
    return blobs  # type: ignore[no-any-return]


def _filter_or_400(args: Mapping[str, str], *, private: bool) -> EventFilter:
    """Return the filter of a download's query, or stop with a 400 naming each bad value."""
    event_filter = parse_filter(args, allow_status=private)
    if event_filter.errors:
        abort(400, description=" ".join(event_filter.errors.values()))
    return event_filter


def _limit_renders() -> None:
    """Count a render this client waits for; stop with a 429 beyond EXPORT_RATE_LIMIT."""
    if limit_is_off("EXPORT_RATE_LIMIT"):
        return
    limit = parse(str(current_app.config["EXPORT_RATE_LIMIT"]))
    client = get_remote_address()
    if limiter.limiter.hit(limit, RATE_LIMIT_SCOPE, client):
        return
    reset_at, _remaining = limiter.limiter.get_window_stats(limit, RATE_LIMIT_SCOPE, client)
    raise TooManyRequests(
        _(
            "This address asked for too many new exports (%(limit)s). Exports already prepared "
            "still download at once; try a new filter later.",
            limit=str(limit),
        ),
        retry_after=max(1, int(reset_at - time.time())),
    )
