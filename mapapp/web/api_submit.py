"""The partners' API: POST /api/events, and the OpenAPI description of the public API."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from werkzeug.exceptions import BadRequest, UnsupportedMediaType
from werkzeug.wrappers import Response

from mapapp import notices, submissions
from mapapp.events import CATEGORIES, FORMATS, MAX_LENGTHS
from mapapp.i18n import LANGUAGES, N_, _
from mapapp.storage import get_store
from mapapp.web.api_auth import Refusal, per_address_limit, per_key_limit, refused, request_key
from mapapp.web.notify import notify

# An event is one object of scalars (depth 1); json.loads recurses once per level and would raise
# RecursionError (a 500) near a thousand, which a 64 KB body reaches easily.
MAX_JSON_DEPTH = 20
DEEP_JSON_MESSAGE = N_(
    "The body nests arrays or objects more than %(num)s levels deep; "
    "send the event as one JSON object of its fields."
)
NOT_JSON_TYPE_MESSAGE = N_("Send the event as JSON with Content-Type: application/json.")
NOT_JSON_MESSAGE = N_("The body is not valid JSON.")
# A JSON string (to its end or the body's end, so brackets in it are skipped), or a bracket.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)

PARTNER_KEY_SCHEME = "partnerKey"

blueprint = Blueprint("api_submit", __name__)
log = logging.getLogger(__name__)


@blueprint.post("/api/events")
@per_address_limit
@per_key_limit
def create_event() -> tuple[Response, int] | tuple[Response, int, dict[str, str]]:
    """Take an event as JSON; answer 201 with its id and edit link, or 422 with the errors.

    With a partner's key (Authorization: Bearer), the event must be in the key's countries and
    carries the partner's name; a trusted key's event is approved at once.
    """
    key = request_key()
    if isinstance(key, Refusal):
        return refused(key)
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(_(NOT_JSON_TYPE_MESSAGE))
    data = _json_body()
    outcome = submissions.submit_via_api(
        get_store(), str(current_app.config["SECRET_KEY"]), data, partner=key
    )
    if outcome.event is None:
        return jsonify(errors=outcome.errors), 422
    event = outcome.event
    if key is None:
        log.info("Event %s submitted through the API, pending review", event["id"])
    else:
        log.info(
            "Event %s submitted through the API with key %s of %s, %s",
            event["id"],
            key.id,
            key.partner,
            "approved (trusted key)" if key.trusted else "pending review",
        )
    # One message: a trusted key's event is published at once, and the message says so.
    notify(notices.submission_received, event, outcome.token, event_id=event["id"])
    body = {
        "id": event["id"],
        "status": event["status"],
        "location_precision": event["location_precision"],
        "timezone": event["timezone"],
        "edit_url": url_for("submit.edit", token=outcome.token, _external=True),
    }
    return jsonify(body), 201, {"Location": body["edit_url"]}


@blueprint.get("/api/openapi.json")
def openapi_description() -> Response:
    """Describe the public API in OpenAPI 3."""
    return jsonify(describe_api(request.host_url.rstrip("/")))


def _json_body() -> Any:
    """Return the parsed JSON body, or a 400 that says why it is not JSON we take."""
    if json_depth(request.get_data(cache=True)) > MAX_JSON_DEPTH:
        raise BadRequest(_(DEEP_JSON_MESSAGE, num=MAX_JSON_DEPTH))
    try:
        return request.get_json(force=True)
    except BadRequest as exc:
        raise BadRequest(_(NOT_JSON_MESSAGE)) from exc
    except RecursionError as exc:  # not reached below MAX_JSON_DEPTH; kept as the last guard
        raise BadRequest(_(DEEP_JSON_MESSAGE, num=MAX_JSON_DEPTH)) from exc


def json_depth(body: bytes, *, stop_after: int = MAX_JSON_DEPTH) -> int:
    """Return how deeply the arrays and objects of a JSON text nest (brackets in strings skipped).

    Counting stops once the depth passes stop_after. One pass: an unterminated string runs to the
    end of the body, so no part is scanned twice.
    """
    depth = deepest = 0
    for token in _TOKENS.finditer(body):
        opening = token[0]
        if opening in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_after:
                break
        elif opening in (b"]", b"}"):
            depth -= 1
    return deepest


def describe_api(server_url: str) -> dict[str, Any]:
    """Return the OpenAPI 3 description of the public API."""
    text: dict[str, Any] = {"type": "string"}
    submission: dict[str, dict[str, Any]] = {
        name: {**text, "maxLength": MAX_LENGTHS[name]} if name in MAX_LENGTHS else dict(text)
        for name in submissions.SUBMITTED_FIELDS
    }
    for name in submissions.REQUIRED_FIELDS:
        submission[name]["minLength"] = 1
    submission["category"] = {"type": "string", "enum": list(CATEGORIES)}
    submission["format"] = {"type": "string", "enum": list(FORMATS)}
    submission["starts_at"] = {**text, "example": "2027-02-28T18:00"}
    submission["ends_at"] = {**text, "example": "2027-02-28T20:00"}
    submission["country"] = {
        **text,
        "description": (
            "ISO 3166-1 alpha-2 code. In person or hybrid: where the event takes place. Online "
            "(required): the country the organisation is based in."
        ),
        "example": "FR",
    }
    submission["timezone"] = {
        **text,
        "description": (
            "The IANA time zone of starts_at and ends_at, one of the country's zones (an alias "
            "such as Asia/Calcutta is stored under its zone.tab name). Optional where the country "
            "has a single zone. An event placed on the map (its address found, or coordinates "
            "given) takes the zone of its place, which the response reports."
        ),
        "example": "Europe/Paris",
    }
    submission["language"] = {**text, "description": "ISO 639-1 code", "example": "fr"}
    submission["contact_email"] = {**text, "format": "email", "description": "Kept private."}
    submission["interface_language"] = {
        "type": "string",
        "enum": list(LANGUAGES),
        "description": (
            "Optional, en if absent: the language the organiser reads, in which every e-mail "
            "about the event is written. Kept private."
        ),
        "example": "fr",
    }
    for name in ("latitude", "longitude"):
        submission[name] = {
            "type": ["number", "string"],
            "description": "Optional: place the event here instead of geocoding its address.",
        }
    submission["consent"] = {
        "type": "boolean",
        "description": "Must be true: the organiser agrees to publication once approved.",
    }
    problem: dict[str, Any] = {
        "type": "object",
        "properties": {"error": text, "message": text},
        "required": ["error", "message"],
    }
    filters = [
        ("country", "Comma-separated ISO 3166-1 alpha-2 codes, e.g. FR,DE."),
        ("category", "Comma-separated categories: " + ", ".join(CATEGORIES) + "."),
        ("format", "Comma-separated formats: " + ", ".join(FORMATS) + "."),
        ("year", "An edition such as 2027, or all."),
        ("from", "First day, YYYY-MM-DD."),
        ("to", "Last day, YYYY-MM-DD."),
        ("q", "Free text searched in title, organiser, venue, city, region and description."),
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Rare Disease Day events map API",
            "version": "1",
            "description": "Read the approved events as GeoJSON; submit events for review.",
        },
        "servers": [{"url": server_url}],
        "components": {
            "securitySchemes": {
                PARTNER_KEY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "A partner's API key (mapapp_...), created by the site's administrators "
                        "for the countries the partner posts events in."
                    ),
                }
            }
        },
        "paths": {
            "/api/events": {
                "post": {
                    "summary": "Submit an event for review (it stays pending until approved).",
                    "description": (
                        "Anyone may submit without a key (limited per address). A partner's "
                        "system sends its API key as a bearer token: the event must then be in "
                        "one of the key's countries, is marked with the partner's name, and is "
                        "approved at once if the key is trusted. Keys are limited per key."
                    ),
                    "operationId": "createEvent",
                    # No key, or a partner's key.
                    "security": [{}, {PARTNER_KEY_SCHEME: []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": submission,
                                    "required": [
                                        "title",
                                        "category",
                                        "format",
                                        "starts_at",
                                        "organiser",
                                        "contact_email",
                                        "consent",
                                    ],
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Stored: pending, or approved with a trusted key.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "id": text,
                                            "status": {
                                                "type": "string",
                                                "enum": ["pending", "approved"],
                                            },
                                            "location_precision": text,
                                            "timezone": {**text, "example": "Europe/Paris"},
                                            "edit_url": {"type": "string", "format": "uri"},
                                        },
                                        "required": ["id", "status", "timezone", "edit_url"],
                                    }
                                }
                            },
                        },
                        "400": _problem_response(
                            "The body is not JSON, or the Authorization header is not a bearer "
                            "token.",
                            problem,
                        ),
                        "401": {
                            **_problem_response(
                                "The API key is unknown or was revoked; nothing was stored.",
                                problem,
                            ),
                            "headers": {
                                "WWW-Authenticate": {
                                    "description": 'Bearer error="invalid_token"',
                                    "schema": {"type": "string"},
                                }
                            },
                        },
                        "413": _problem_response("The body is too large.", problem),
                        "415": _problem_response("The body is not application/json.", problem),
                        "422": {
                            "description": (
                                "Invalid fields, or a country outside the key's; nothing was "
                                "stored."
                            ),
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "errors": {
                                                "type": "object",
                                                "additionalProperties": text,
                                            }
                                        },
                                        "required": ["errors"],
                                    }
                                }
                            },
                        },
                        "429": {
                            **_problem_response(
                                "Too many submissions: try again after Retry-After seconds.",
                                {
                                    **problem,
                                    "properties": {
                                        **problem["properties"],
                                        "retry_after": {"type": "integer", "minimum": 1},
                                    },
                                },
                            ),
                            "headers": {
                                "Retry-After": {
                                    "description": "Seconds until a submission is taken again.",
                                    "schema": {"type": "integer"},
                                }
                            },
                        },
                    },
                }
            },
            "/api/events.geojson": {
                "get": {
                    "summary": "The approved events the filters keep, as GeoJSON.",
                    "operationId": "listEvents",
                    "parameters": [
                        {
                            "name": name,
                            "in": "query",
                            "required": False,
                            "description": description,
                            "schema": text,
                        }
                        for name, description in filters
                    ],
                    "responses": {
                        "200": {
                            "description": "A FeatureCollection; unplaced events have no geometry.",
                            "content": {
                                "application/geo+json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "type": {
                                                "type": "string",
                                                "enum": ["FeatureCollection"],
                                            },
                                            "features": {
                                                "type": "array",
                                                "items": {"type": "object"},
                                            },
                                        },
                                        "required": ["type", "features"],
                                    }
                                }
                            },
                        },
                        "304": {"description": "Not modified since the given ETag."},
                        "400": {
                            "description": "Some filters are not valid.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        **problem,
                                        "properties": {
                                            **problem["properties"],
                                            "errors": {
                                                "type": "object",
                                                "additionalProperties": text,
                                            },
                                        },
                                    }
                                }
                            },
                        },
                    },
                }
            },
        },
        "/api/places.json": {
            "get": {
                "summary": "The towns and countries a typed name means, in any language.",
                "description": (
                    "From the offline gazetteer only (GeoNames, with its alternate names): "
                    "at most 5, a country's centre first, then towns by population. Labels "
                    "name countries in the language of the URL's prefix "
                    "(/fr/api/places.json)."
                ),
                "operationId": "listPlaces",
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "required": True,
                        "description": "A town's or a country's name, e.g. München.",
                        "schema": {**text, "minLength": 1, "maxLength": 100},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The places, best first; none is an empty list.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "places": {
                                            "type": "array",
                                            "maxItems": 5,
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "name": text,
                                                    "country": text,
                                                    "label": text,
                                                    "lat": {"type": "number"},
                                                    "lon": {"type": "number"},
                                                    "precision": {
                                                        "type": "string",
                                                        "enum": ["city", "country"],
                                                    },
                                                },
                                                "required": [
                                                    "name",
                                                    "country",
                                                    "label",
                                                    "lat",
                                                    "lon",
                                                    "precision",
                                                ],
                                            },
                                        }
                                    },
                                    "required": ["places"],
                                }
                            }
                        },
                    },
                    "304": {"description": "Not modified since the given ETag."},
                    "400": _problem_response(
                        "The name is empty or longer than 100 characters.", problem
                    ),
                },
            }
        },
    }


def _problem_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Return an error response description with the usual JSON body."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}
