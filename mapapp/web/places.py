"""The placing maps' helpers: a place search and what a point means (time zone, country).

Both answer JSON to the organiser's preview map and the coordinators' place-by-click maps. The
search runs when a person presses the button (or Enter), never per keystroke, and is limited per
client by MAPAPP_PLACE_SEARCH_RATE_LIMIT; Nominatim, when configured, is asked through the
geocoder's cross-process one-request-a-second lock.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import pycountry
from flask import Blueprint, Flask, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import BadRequest, HTTPException

from mapapp import mapview, outlines, placing
from mapapp.i18n import N_, _
from mapapp.web import limits
from mapapp.web.assets import installed_file, vendor_url
from mapapp.web.limits import configured_limit, limiter

OUTLINES_FILE = "world-atlas/countries-50m.json"
MAX_QUERY_LENGTH = 200
# ASCII digits only: float() also reads "١٢", "1_0", "nan" and "1e309".
COORDINATE = re.compile(r"[-+]?[0-9]{1,3}(?:\.[0-9]{1,15})?")
QUERY_MESSAGE = N_("Search: type the name of a town, or an address.")
LONG_QUERY_MESSAGE = N_("Search: keep it under %(num)s characters.")
CONTROL_MESSAGE = N_("Search: this text holds a control character; type it again.")
COUNTRY_MESSAGE = N_("Country: give a two-letter country code such as ES, or none.")
COORDINATE_MESSAGES = {
    "lat": N_("Latitude: give a number between -90 and 90."),
    "lon": N_("Longitude: give a number between -180 and 180."),
}
COORDINATE_BOUNDS = {"lat": 90, "lon": 180}
# What the maps' scripts show, handed to them so that every sentence lives on the server.
MESSAGES = {
    "searching": N_("Searching…"),
    "failed": N_("The search did not answer: please try again in a moment."),
    "choose": N_("Choose a place to move the pin there:"),
    "checking": N_("Checking this point…"),
    # Translators: %(name)s is the place the person picked from the search's results.
    "moved": N_("The pin is now at %(name)s."),
    # Translators: the pin's name for screen readers: where the event is on the map.
    "marker": N_("Event location"),
}

blueprint = Blueprint("places", __name__, url_prefix="/places")
search_limit = limiter.shared_limit(
    configured_limit("PLACE_SEARCH_RATE_LIMIT"), scope="place-search"
)


def init_app(app: Flask) -> None:
    """Register the blueprint and its template helpers; tell the domain where the outlines are."""
    app.register_blueprint(blueprint)
    outlines.init_app(app, installed_file(OUTLINES_FILE))


@blueprint.errorhandler(HTTPException)
def _json_error(error: HTTPException) -> ResponseReturnValue:
    """Answer every error as JSON with a sentence: the maps' scripts show it."""
    status = error.code or 500
    headers = [(name, value) for name, value in error.get_headers() if name != "Content-Type"]
    return jsonify(error=error.name, message=error.description), status, headers


@blueprint.errorhandler(RateLimitExceeded)
def _too_many(_error: RateLimitExceeded) -> ResponseReturnValue:
    """Answer a limited search as JSON saying when to search again (the app's handler is HTML)."""
    seconds = limits.retry_after_seconds()
    message = limits.wait_message(seconds, form_kept=False)
    body = {"error": "Too Many Requests", "message": message, "retry_after": seconds}
    return jsonify(body), 429, {"Retry-After": str(seconds)}


@blueprint.get("/search")
@search_limit
def search() -> ResponseReturnValue:
    """Answer the places a typed text may mean, in the event's country."""
    text = _query(request.args.get("q", ""))
    country = _country(request.args.get("country", ""))
    found = placing.search_places(text, country)
    return jsonify(status=found.status, message=found.message, places=found.places)


@blueprint.get("/at")
def at() -> ResponseReturnValue:
    """Answer the time zone at a point and whether it is outside the event's country."""
    latitude = _coordinate(request.args.get("lat", ""), "lat")
    longitude = _coordinate(request.args.get("lon", ""), "lon")
    country = _country(request.args.get("country", ""))
    check = placing.check_point(latitude, longitude, country)
    return jsonify(
        zone=check.zone,
        zone_message=check.zone_message,
        country=check.country,
        outside=check.outside,
        message=check.message,
    )


@blueprint.app_template_global()
def placing_config() -> dict[str, Any]:
    """Return what every placing map's script needs: tiles, outlines, addresses, sentences."""
    tiles, attribution = mapview.tile_source(current_app.config)
    return {
        "tiles": tiles or "",
        "attribution": attribution,
        "world": vendor_url(mapview.COUNTRIES_TOPOJSON),
        "searchUrl": url_for("places.search"),
        "atUrl": url_for("places.at"),
        "messages": {key: _(text) for key, text in MESSAGES.items()},
    }


@blueprint.app_template_global()
def placing_view(event: Mapping[str, str], zoom: int = placing.TOWN_ZOOM) -> dict[str, Any]:
    """Return where a placing map of an event opens."""
    return placing.opening_view(event, zoom)


@blueprint.app_template_global()
def town_centre_message(event: Mapping[str, str], candidates: list[placing.Candidate]) -> str:
    """Return the invitation to drag the pin when the street address could not be used."""
    return placing.town_centre_message(event, candidates)


def _query(raw: str) -> str:
    """Return the search text, or answer 400 saying what is wrong with it."""
    text = " ".join(raw.split())
    if not text:
        raise BadRequest(_(QUERY_MESSAGE))
    if len(text) > MAX_QUERY_LENGTH:
        raise BadRequest(_(LONG_QUERY_MESSAGE, num=MAX_QUERY_LENGTH))
    if any(unicodedata.category(character) in {"Cc", "Cs"} for character in text):
        raise BadRequest(_(CONTROL_MESSAGE))
    return text


def _country(raw: str) -> str:
    """Return an ISO alpha-2 code ("" for none), or answer 400."""
    code = raw.strip().upper()
    if not code:
        return ""
    if len(code) != 2 or not code.isascii() or pycountry.countries.get(alpha_2=code) is None:
        raise BadRequest(_(COUNTRY_MESSAGE))
    return code


def _coordinate(raw: str, name: str) -> float:
    """Return a coordinate ("lat" or "lon") in range, or answer 400 naming it."""
    value = raw.strip()
    bound = COORDINATE_BOUNDS[name]
    if not COORDINATE.fullmatch(value) or not -bound <= float(value) <= bound:
        raise BadRequest(_(COORDINATE_MESSAGES[name]))
    return float(value)
