"""Blueprints: public pages, API, submission, administration."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, Request, jsonify, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import (
    Forbidden,
    HTTPException,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
)
from werkzeug.middleware.proxy_fix import ProxyFix

from mapapp import access
from mapapp.config import development_secret_key
from mapapp.i18n import N_, _, format_number
from mapapp.storage import (
    RowNotFoundError,
    StoreDamagedError,
    StoreUnavailableError,
    get_store_of,
)

# These modules' routes join the admin blueprint when they are imported: the queue and its
# actions, the dashboard, the audit log, the partners' API keys.
from mapapp.web import (  # noqa: F401
    accounts,
    address,
    admin,
    api,
    api_submit,
    assets,
    audit_views,
    auth,
    dashboard,
    headers,
    key_views,
    languages,
    limits,
    moderate,
    page_cache,
    public,
    submit,
)
from mapapp.web import erase as erase_views
from mapapp.web import exports as export_views
from mapapp.web import imports as import_views
from mapapp.web import places as place_views
from mapapp.web import privacy as privacy_views
from mapapp.web import recovery as recovery_views

# Seconds a client is asked to wait before trying a write again.
RETRY_AFTER_SECONDS = 120
UNAVAILABLE_MESSAGE = N_(
    "We cannot store events right now; nothing was saved. Please try again in a few minutes."
)
DAMAGED_MESSAGE = N_(
    "The events data file needs attention from the site's team; nothing was changed. "
    "Please try again later."
)
NOT_FOUND_MESSAGE = N_("There is no event with the id %(event_id)s.")
# The error page's heading and sentence for the errors people meet: Werkzeug's own are English.
# A description our code gave is shown as given (it was translated where the error was raised).
ERROR_NAMES = {
    400: N_("Bad Request"),
    401: N_("Unauthorized"),
    403: N_("Forbidden"),
    404: N_("Not Found"),
    405: N_("Method Not Allowed"),
    409: N_("Conflict"),
    410: N_("Gone"),
    413: N_("Request Entity Too Large"),
    415: N_("Unsupported Media Type"),
    422: N_("Unprocessable Entity"),
    429: N_("Too Many Requests"),
    500: N_("Internal Server Error"),
    503: N_("Service Unavailable"),
}
ERROR_DESCRIPTIONS = {
    400: N_("The browser (or proxy) sent a request that this server could not understand."),
    401: N_(
        "The server could not verify that you are authorized to access the URL requested. You "
        "either supplied the wrong credentials (e.g. a bad password), or your browser doesn't "
        "understand how to supply the credentials required."
    ),
    403: N_(
        "You don't have the permission to access the requested resource. It is either "
        "read-protected or not readable by the server."
    ),
    404: N_(
        "The requested URL was not found on the server. If you entered the URL manually please "
        "check your spelling and try again."
    ),
    405: N_("The method is not allowed for the requested URL."),
    409: N_(
        "A conflict happened while processing the request. The resource might have been "
        "modified while the request was being processed."
    ),
    410: N_(
        "The requested URL is no longer available on this server and there is no forwarding "
        "address. If you followed a link from a foreign page, please contact the author of this "
        "page."
    ),
    413: N_("The data value transmitted exceeds the capacity limit."),
    415: N_("The server does not support the media type transmitted in the request."),
    422: N_("The request was well-formed but was unable to be followed due to semantic errors."),
    429: N_("This user has exceeded an allotted request count. Try again later."),
    500: N_(
        "The server encountered an internal error and was unable to complete your request. "
        "Either the server is overloaded or there is an error in the application."
    ),
    503: N_(
        "The server is temporarily unable to service your request due to maintenance downtime "
        "or capacity problems. Please try again later."
    ),
}
PROBLEM_TYPE = "application/problem+json"

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Register every blueprint and the error handlers."""
    languages.init_app(app)  # first: its middleware sits innermost, under the proxies' ones
    app.register_blueprint(public.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(submit.blueprint)
    app.register_blueprint(api_submit.blueprint)
    app.register_blueprint(export_views.blueprint)
    app.register_blueprint(import_views.blueprint)
    assets.init_app(app)
    auth.init_app(app)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(accounts.blueprint)
    place_views.init_app(app)
    app.register_blueprint(recovery_views.blueprint)
    app.register_blueprint(privacy_views.blueprint)
    app.register_blueprint(erase_views.blueprint)
    # Numbers in templates written as the reader's language writes them ("5 000").
    app.add_template_global(format_number, "format_number")
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(RateLimitExceeded, _handle_rate_limited)
    app.register_error_handler(StoreUnavailableError, _handle_store_unavailable)
    app.register_error_handler(StoreDamagedError, _handle_store_damaged)
    app.register_error_handler(access.NotAllowed, _handle_not_allowed)
    app.register_error_handler(RowNotFoundError, _handle_not_found)
    app.session_interface = DevelopmentKeySessions()
    headers.init_app(app)
    # The public address applies to the request as the proxies passed it on, so it sits inside.
    address.init_app(app)
    if proxies := int(app.config["PROXY_COUNT"]):
        # Client address (rate limits), scheme and host (edit links) as the proxies saw them.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    # Outermost: a map page kept for the same request is answered before anything else runs.
    store = get_store_of(app)
    app.wsgi_app = page_cache.PageCache(  # type: ignore[method-assign]
        app.wsgi_app, validity=lambda: public.page_validity(store)
    )


class DevelopmentKeySessions(SecureCookieSessionInterface):
    """Signed cookie sessions that make the development secret key at the first request.

    Loading the app (`mapapp --help`, a CLI command) then writes nothing; production has its
    key from MAPAPP_SECRET_KEY and never reaches this.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not app.secret_key and app.config["ENV"] != "production":
            app.secret_key = development_secret_key(Path(app.config["DATA_DIR"]))
        return super().open_session(app, request)


def wants_json() -> bool:
    """Return whether the client is an API client rather than a person with a browser."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _handle_not_found(error: RowNotFoundError):  # type: ignore[no-untyped-def]
    """Answer 404 for an event id that is not stored, or not in the coordinator's scope."""
    return _handle_http_error(NotFound(_(NOT_FOUND_MESSAGE, event_id=repr(error.args[0]))))


def _handle_not_allowed(error: access.NotAllowed):  # type: ignore[no-untyped-def]
    """Answer 403 when the coordinator's role does not allow what they asked for."""
    log.warning("Refused %s %s: %s", request.method, request.path, error)
    return _handle_http_error(Forbidden(str(error)))


def _handle_store_unavailable(error: StoreUnavailableError):  # type: ignore[no-untyped-def]
    """Answer 503 when nothing can be stored (read-only, full disk, damaged file, busy)."""
    log.error("Refused %s %s: %s", request.method, request.path, error)
    return _unavailable(_(UNAVAILABLE_MESSAGE), error.reason)


def _handle_store_damaged(error: StoreDamagedError):  # type: ignore[no-untyped-def]
    """Answer 503 when the data file cannot be read as events and no good copy is held."""
    log.error("Cannot serve %s: %s\n  %s", request.path, error, "\n  ".join(error.problems))
    return _unavailable(_(DAMAGED_MESSAGE), "damaged")


def _unavailable(message: str, reason: str):  # type: ignore[no-untyped-def]
    """Return a 503 as a problem body to API clients and as a page to people."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    if wants_json():
        body = {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": message,
            "reason": reason,
        }
        response = jsonify(body)
        response.mimetype = PROBLEM_TYPE
        return response, 503, headers
    return _error_page(ServiceUnavailable(message)), 503, headers


def _handle_rate_limited(error: RateLimitExceeded):  # type: ignore[no-untyped-def]
    """Answer 429 saying when to try again: with the form as typed where the page keeps it."""
    seconds = limits.retry_after_seconds()
    headers = {"Retry-After": str(seconds)}
    if not wants_json() and (render := limits.form_page(request.endpoint)):
        page = render(limits.wait_message(seconds, form_kept=True))
        if page is not None:
            return page[0], 429, headers
    message = limits.wait_message(seconds, form_kept=False)
    if wants_json():
        body = {"error": "Too Many Requests", "message": message, "retry_after": seconds}
        return jsonify(body), 429, headers
    return _error_page(TooManyRequests(message)), 429, headers


def _handle_http_error(error: HTTPException):  # type: ignore[no-untyped-def]
    """Answer JSON to API clients and a page to people."""
    status = error.code or 500
    # Keep the error's own headers, such as Allow on a 405 (required by RFC 9110).
    headers = [(name, value) for name, value in error.get_headers() if name != "Content-Type"]
    if wants_json():
        return jsonify(error=error.name, message=error_description(error)), status, headers
    return _error_page(error), status, headers


def error_description(error: HTTPException) -> str:
    """Return the sentence of an error in the reader's language."""
    description = str(error.description or "")
    if error.code in ERROR_DESCRIPTIONS and description == type(error).description:
        return _(ERROR_DESCRIPTIONS[error.code])
    return description


def _error_page(error: HTTPException) -> str:
    """Return the error page of an HTTP error, its name and sentence translated."""
    name = ERROR_NAMES.get(error.code or 0)
    return render_template(
        "error.html",
        error=error,
        name=_(name) if name else error.name,
        description=error_description(error),
    )
