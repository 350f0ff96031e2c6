"""Downloads: public exports of approved events and the coordinators' full export."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from flask import Blueprint, Response, abort, request
from flask_login import login_required

from mapapp.exports import FORMATS, download_name, export_events
from mapapp.filters import parse_filter
from mapapp.storage import get_store

blueprint = Blueprint("exports", __name__)

DEFAULT_ADMIN_FORMAT = "csv"


@blueprint.get("/events.<any(csv, xlsx, json, geojson, ics):fmt>")
def public_export(fmt: str) -> Response:
    """Download the approved events the query's filters keep, public fields only."""
    return _export(fmt, request.args, private=False)


@blueprint.get("/admin/export")
@login_required
def admin_export() -> Response:
    """Download events of any status with every field but the edit token, for coordinators."""
    fmt = (request.args.get("format") or DEFAULT_ADMIN_FORMAT).lower()
    if fmt not in FORMATS:
        abort(400, description=f"Format: choose one of {', '.join(FORMATS)}, not {fmt!r}.")
    # Here "format" names the file format, so the map's event-format filter is "event_format".
    args = {name: value for name, value in request.args.items() if name != "format"}
    if "event_format" in args:
        args["format"] = args.pop("event_format")
    return _export(fmt, args, private=True)


def _export(fmt: str, args: Mapping[str, str], *, private: bool) -> Response:
    """Answer a download of the filtered events, or 304 when the client's copy is current."""
    event_filter = parse_filter(args, allow_status=private)
    if event_filter.errors:
        abort(400, description=" ".join(event_filter.errors.values()))
    store = get_store()
    etag = _etag(store.version, fmt, private)
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        body, media_type, suffix = export_events(fmt, store.frame(), event_filter, private=private)
        response = Response(body, mimetype=media_type)
        response.headers["Content-Disposition"] = f"attachment; filename={download_name(suffix)}"
    response.set_etag(etag)
    response.cache_control.no_cache = True  # revalidate each time; the ETag makes that cheap
    if private:
        response.cache_control.private = True
    return response


def _etag(version: str, fmt: str, private: bool) -> str:
    """Return the entity tag of an export: the store's version and the exact query."""
    scope = "private" if private else "public"
    key = f"{version}|{scope}|{fmt}|{request.query_string.decode('latin-1')}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]
