"""Partner keys on the API: read `Authorization: Bearer <key>`, and count each key's requests.

A request without the header is an anonymous client's, as before. A header that is not one
bearer token is refused with 400, an unknown or revoked key with 401, each with a
WWW-Authenticate challenge (RFC 6750) and a JSON message. A valid key's requests count against
API_KEY_RATE_LIMIT for that key instead of the per-address submission limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Response, g, jsonify, request

from mapapp import api_keys
from mapapp.web.limits import configured_limit, limiter

G_KEY = "mapapp_api_key"
# RFC 6750's b64token, after the scheme and one space.
BEARER = re.compile(r"Bearer ([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
MALFORMED_MESSAGE = (
    "The Authorization header must be 'Bearer' and your API key, separated by one space; "
    "leave the header out to submit without a key."
)
INVALID_MESSAGE = (
    "This API key is not valid: it is unknown or was revoked. Ask the site's administrators "
    "for a new key."
)
SCOPE = "api-key"


@dataclass(frozen=True)
class Refusal:
    """Why the request's key is refused: the HTTP status, RFC 6750 error code and message."""

    status: int
    error: str
    message: str


def request_key() -> api_keys.ApiKey | Refusal | None:
    """Return the request's valid key, why its header is refused, or None without a header."""
    if G_KEY not in g:
        setattr(g, G_KEY, _read_key())
    answer: api_keys.ApiKey | Refusal | None = getattr(g, G_KEY)
    return answer


def _read_key() -> api_keys.ApiKey | Refusal | None:
    """Read and check the Authorization header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    match = BEARER.fullmatch(header.strip())
    if match is None:
        return Refusal(400, "invalid_request", MALFORMED_MESSAGE)
    key = api_keys.authenticate(match[1])
    if key is None:
        return Refusal(401, "invalid_token", INVALID_MESSAGE)
    return key


def refused(refusal: Refusal) -> tuple[Response, int, dict[str, str]]:
    """Return the answer to a refused key: a JSON message and the bearer challenge."""
    name = "Unauthorized" if refusal.status == 401 else "Bad Request"
    challenge = f'Bearer error="{refusal.error}"'
    return (
        jsonify(error=name, message=refusal.message),
        refusal.status,
        {
            "WWW-Authenticate": challenge,
            "Cache-Control": "no-store",
        },
    )


def _valid_key_id() -> str:
    """Return the id of the request's valid key, or '' (never raising: the limiter swallows it)."""
    try:
        key = request_key()
    except Exception:  # the keys file cannot be read: the view answers that, not the limiter
        return ""
    return key.id if isinstance(key, api_keys.ApiKey) else ""


# Partners' systems count per key; every other client, an invalid key's too, per address with
# the submission form (the same "submit" scope as mapapp.web.submit's limit).
per_address_limit = limiter.shared_limit(
    configured_limit("SUBMIT_RATE_LIMIT"),
    scope="submit",
    exempt_when=lambda: bool(_valid_key_id()),
)
per_key_limit = limiter.shared_limit(
    configured_limit("API_KEY_RATE_LIMIT"),
    scope=SCOPE,
    key_func=_valid_key_id,
    exempt_when=lambda: not _valid_key_id(),
)
