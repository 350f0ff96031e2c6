"""Security headers on every response the app sends, decided in one place.

Every response (pages, the API, exports, static and vendor files, redirects and every error,
500 and 503 included) passes through `secure_response`, which sets the headers from the kind of
address it answers:

- the embed is the one page other sites may frame;
- admin and sign-in pages are never framed, never cached and never leak their address;
- pages holding an edit link (the submission flow and edit pages) are never cached and send no
  Referer, so the token stays out of other sites' logs;
- every other page may be framed by this site only.

A view may set its own Cache-Control (the API's revalidation, the vendor files' year); the
headers that protect the user are not negotiable and replace whatever a view set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, request

from mapapp import mapview

CDN_ORIGIN = "https://unpkg.com"
HSTS = "max-age=63072000; includeSubDomains"
# Features no page of ours uses are switched off; "near me" asks for the position on our own
# pages only.
PERMISSIONS_POLICY = ", ".join(
    [
        "accelerometer=()",
        "camera=()",
        "geolocation=(self)",
        "gyroscope=()",
        "magnetometer=()",
        "microphone=()",
        "payment=()",
        "usb=()",
        "browsing-topics=()",
    ]
)
# A body that is not a page (JSON, CSV, a calendar file, an image) may run nothing if opened.
NOT_A_PAGE_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
# A worker runs under the policy of its own script's response: the map's clusters' worker may load
# the scripts it needs (Supercluster and map-clusters.js, ours or the CDN's) and nothing else.
WORKER_SCRIPTS = frozenset({"js/map-worker.js"})
EMBED_ENDPOINT = "public.embed"
EDIT_LINK_BLUEPRINTS = frozenset({"submit", "recovery"})
ADMIN_PREFIX = "/admin"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def init_app(app: Flask) -> None:
    """Send the security headers on every response of the app."""
    # The pages' policies depend on settings only: built once here, not on every response.
    app.extensions["mapapp.page_policies"] = {
        ancestors: content_security_policy(app.config, frame_ancestors=ancestors)
        for ancestors in ("*", "'none'", "'self'")
    }
    app.extensions["mapapp.worker_policy"] = worker_policy(app.config)
    app.after_request(secure_response)


def content_security_policy(config: Mapping[str, Any], *, frame_ancestors: str = "'self'") -> str:
    """Return the CSP of our pages: no inline script, nothing from other hosts but tiles."""
    cdn = [CDN_ORIGIN] if config.get("ASSETS") == "cdn" else []
    sources = " ".join(["'self'", *cdn])
    images = " ".join(["'self'", "data:", *mapview.tile_hosts(config), *cdn])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {sources}",
            f"style-src {sources}",
            f"img-src {images}",
            f"connect-src {sources}",
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


def worker_policy(config: Mapping[str, Any]) -> str:
    """Return the CSP of a Web Worker's script: our scripts (and the CDN's) may load, no more."""
    cdn = [CDN_ORIGIN] if config.get("ASSETS") == "cdn" else []
    sources = " ".join(["'self'", *cdn])
    return f"default-src 'none'; script-src {sources}"


def is_worker_script() -> bool:
    """Tell whether the current request is for the script of one of our Web Workers."""
    return request.endpoint == "static" and (request.view_args or {}).get("filename") in (
        WORKER_SCRIPTS
    )


def address_kind() -> str:
    """Return which rules the current address follows: embed, admin, edit-link or public."""
    if request.endpoint == EMBED_ENDPOINT:
        return "embed"
    if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
        return "admin"
    if request.blueprint in EDIT_LINK_BLUEPRINTS:
        return "edit-link"
    return "public"


def secure_response(response: Response) -> Response:
    """Set the security headers of the current address on a response."""
    kind = address_kind()
    headers = response.headers
    is_page = response.mimetype in HTML_TYPES
    if is_page:
        ancestors = {"embed": "*", "admin": "'none'"}.get(kind, "'self'")
        headers["Content-Security-Policy"] = current_app.extensions["mapapp.page_policies"][
            ancestors
        ]
    elif is_worker_script() and response.status_code < 400:
        headers["Content-Security-Policy"] = current_app.extensions["mapapp.worker_policy"]
    else:
        headers["Content-Security-Policy"] = NOT_A_PAGE_POLICY
    if kind == "embed":
        headers.pop("X-Frame-Options", None)
    else:
        headers["X-Frame-Options"] = "DENY" if kind == "admin" or not is_page else "SAMEORIGIN"
        if is_page:
            headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = {
        "admin": "same-origin",
        "edit-link": "no-referrer",
    }.get(kind, "strict-origin-when-cross-origin")
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    if kind in {"admin", "edit-link"}:
        # Queues show organisers' e-mails and edit pages hold a secret link: no copy anywhere.
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    elif response.status_code >= 400 and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    if current_app.config.get("ENV") == "production":
        headers["Strict-Transport-Security"] = HSTS
    return response
