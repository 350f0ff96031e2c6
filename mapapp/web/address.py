"""One public address: absolute URLs from MAPAPP_PUBLIC_URL, and requests for other hosts refused.

With MAPAPP_PUBLIC_URL set, every request is seen by the app as addressed to that origin, so
url_for(..., _external=True), request.url_root and everything built on them (canonical and og:url,
share and embed links, calendar files, edit links, the OpenAPI servers) name the public site
whatever Host header came in. In production a request whose Host is not the public host gets 400
(caches and logs never see an attacker's host in a link), except the health check, which load
balancers call by the server's own address.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request

HEALTH_PATH = "/healthz"
FOREIGN_HOST_KEY = "mapapp.foreign_host"
DEFAULT_PORTS = {"http": "80", "https": "443"}


class PublicAddress:
    """WSGI middleware giving every request the public scheme and host, noting foreign hosts."""

    def __init__(self, app: Any, public_url: str) -> None:
        self.app = app
        parts = urlsplit(public_url)
        self.scheme = parts.scheme
        self.host = normalise_host(parts.netloc, parts.scheme)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != HEALTH_PATH:
            asked = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
            if normalise_host(str(asked), self.scheme) != self.host:
                environ[FOREIGN_HOST_KEY] = str(asked)
            environ["HTTP_HOST"] = self.host
            environ["wsgi.url_scheme"] = self.scheme
        return self.app(environ, start_response)  # type: ignore[no-any-return]


def normalise_host(host: str, scheme: str) -> str:
    """Return a Host header lower-cased and without the scheme's default port."""
    host = host.strip().lower()
    default = DEFAULT_PORTS.get(scheme)
    if default and host.endswith(":" + default) and not host.endswith("]"):
        host = host[: -len(default) - 1]
    return host


def init_app(app: Flask) -> None:
    """Build absolute URLs from MAPAPP_PUBLIC_URL and, in production, refuse other hosts."""
    public_url = app.config.get("PUBLIC_URL") or ""
    if not public_url:
        return
    app.wsgi_app = PublicAddress(app.wsgi_app, public_url)  # type: ignore[method-assign]
    app.before_request(_refuse_foreign_host)


def _refuse_foreign_host() -> None:
    """Stop a production request made for a host other than the public one with a 400."""
    asked = request.environ.get(FOREIGN_HOST_KEY)
    if asked is None or current_app.config.get("ENV") != "production":
        return
    public = current_app.config["PUBLIC_URL"]
    abort(400, description=f"This site answers at {public} only, not at the host {asked[:100]!r}.")
