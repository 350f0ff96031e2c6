"""Blueprints: public pages, API, submission, administration."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from mapapp.web import admin, api, api_submit, assets, auth, public, submit
from mapapp.web import exports as export_views
from mapapp.web import imports as import_views


def init_app(app: Flask) -> None:
    """Register every blueprint and the error handlers."""
    app.register_blueprint(public.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(submit.blueprint)
    app.register_blueprint(api_submit.blueprint)
    app.register_blueprint(export_views.blueprint)
    app.register_blueprint(import_views.blueprint)
    assets.init_app(app)
    auth.init_app(app)
    app.register_blueprint(admin.blueprint)
    app.register_error_handler(HTTPException, _handle_http_error)
    if proxies := int(app.config["PROXY_COUNT"]):
        # Client address (rate limits), scheme and host (edit links) as the proxies saw them.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )


def wants_json() -> bool:
    """Return whether the client is an API client rather than a person with a browser."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _handle_http_error(error: HTTPException):  # type: ignore[no-untyped-def]
    """Answer JSON to API clients and a page to people."""
    status = error.code or 500
    # Keep the error's own headers, such as Allow on a 405 (required by RFC 9110).
    headers = [(name, value) for name, value in error.get_headers() if name != "Content-Type"]
    if wants_json():
        return jsonify(error=error.name, message=error.description), status, headers
    return render_template("error.html", error=error), status, headers
