"""Security headers on every response: every route of the url_map, signed in or not, and errors."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from mapapp import coordinators, create_app
from mapapp.storage import StoreUnavailableError, get_store_of
from mapapp.web.headers import HSTS, NOT_A_PAGE_POLICY
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, add_valid_event, sign_in

PUBLIC = "https://events.example.org"
# A value for every argument a route takes: a route with a new argument fails the walk until it
# is named here, so no route is left unchecked.
ARGUMENTS = {
    "event_id": "EVENT_ID",
    "token": "not-a-real-token",
    "fmt": "csv",
    "filename": "css/map.css",
    "code": "FR",
    "name": COORDINATOR_NAME,
}
VENDOR_FILE = "leaflet/dist/leaflet.js"
ALWAYS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


def _url(rule: Rule, event_id: str) -> str:
    """Return a path that reaches the rule's view, with real values for its arguments."""
    values: dict[str, Any] = {}
    for name in rule.arguments:
        assert name in ARGUMENTS, f"{rule.rule}: name a value for {name!r} in ARGUMENTS"
        values[name] = ARGUMENTS[name].replace("EVENT_ID", event_id)
    if rule.endpoint == "assets.vendor":
        values["filename"] = VENDOR_FILE
    path = rule.rule
    for name, value in values.items():
        for pattern in (f"<{name}>", f"<path:{name}>"):
            path = path.replace(pattern, str(value))
    if "<any(" in path:
        path = path[: path.index("<any(")] + values["fmt"]
    assert "<" not in path, path
    return path


def _requests(app: Flask) -> list[tuple[str, str]]:
    """Return (method, path) for every method of every route of the app."""
    event_id = add_valid_event(get_store_of(app))["id"]
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, _url(rule, event_id)))
    return found


def _check(response: Any, path: str, *, production: bool = False) -> None:
    """Assert the headers every response of this path must carry."""
    headers = response.headers
    where = f"{path} answered {response.status_code}"
    for name in ALWAYS:
        assert headers.get(name), f"{where} without {name}"
    assert headers["X-Content-Type-Options"] == "nosniff", where
    assert "geolocation=(self)" in headers["Permissions-Policy"], where
    policy = headers["Content-Security-Policy"]
    is_page = response.mimetype == "text/html"
    if not is_page:
        assert policy == NOT_A_PAGE_POLICY, where
    if path.startswith("/admin"):
        assert headers["Cache-Control"] == "no-store", where
        assert headers["X-Frame-Options"] == "DENY", where
        if is_page:
            assert "frame-ancestors 'none'" in policy, where
    elif path == "/embed":
        assert "frame-ancestors *" in policy, where
        assert "X-Frame-Options" not in headers, where
    elif is_page:
        assert "frame-ancestors 'self'" in policy, where
        assert headers["X-Frame-Options"] == "SAMEORIGIN", where
    if path.startswith(("/submit", "/edit/")):
        assert headers["Referrer-Policy"] == "no-referrer", where
        assert headers["Cache-Control"] == "no-store", where
    if production:
        assert headers["Strict-Transport-Security"] == HSTS, where
    else:
        assert "Strict-Transport-Security" not in headers, where


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_route_sends_the_security_headers(
    app: Flask, client: FlaskClient, signed_in: bool
) -> None:
    if signed_in:
        with app.app_context():
            coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
        assert sign_in(client, COORDINATOR_NAME, COORDINATOR_PASSWORD).status_code == 302
    seen = set()
    for method, path in _requests(app):
        with client.open(path, method=method) as response:  # closes streamed files
            seen.add(response.status_code)
            _check(response, path)
    # The walk reached pages, redirects and refusals alike.
    assert 200 in seen
    assert seen & {302, 303}
    assert seen & {400, 401, 404}


def test_every_route_sends_hsts_in_production(data_dir: Any) -> None:
    app = create_app(
        {
            "ENV": "production",
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": "k" * 64,
            "PUBLIC_URL": PUBLIC,
            "SUBMIT_RATE_LIMIT": "off",
            "LOGIN_RATE_LIMIT": "off",
            "EDIT_RATE_LIMIT": "off",
        }
    )
    client = app.test_client()
    for method, path in _requests(app):
        with client.open(path, method=method, base_url=PUBLIC) as response:
            _check(response, path, production=True)


def test_the_embed_is_the_one_page_other_sites_may_frame(client: FlaskClient) -> None:
    framable = {
        path
        for path in ("/", "/embed", "/submit", "/admin/sign-in")
        if "frame-ancestors *" in client.get(path).headers["Content-Security-Policy"]
    }

    assert framable == {"/embed"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no-such-page", 404),
        ("GET", "/admin/no-such-page", 404),
        ("DELETE", "/", 405),
        ("POST", "/api/events", 413),
        ("GET", "/static/no-such-file.js", 404),
        ("GET", "/vendor/left-pad/index.js", 404),
    ],
)
def test_error_responses_carry_the_headers(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    body = "x" * (200 * 1024) if status == 413 else None
    response = client.open(path, method=method, data=body, content_type="application/json")

    assert response.status_code == status
    _check(response, path)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_crash_and_an_unavailable_store_answer_with_the_headers(app_config: Any) -> None:
    app = create_app({**app_config, "TESTING": False, "PROPAGATE_EXCEPTIONS": False})

    def crash() -> str:
        raise RuntimeError("boom")

    def busy() -> str:
        raise StoreUnavailableError("busy")

    app.add_url_rule("/crash", view_func=crash)
    app.add_url_rule("/admin/busy", view_func=busy)
    client = app.test_client()

    crashed = client.get("/crash")
    unavailable = client.get("/admin/busy")

    assert crashed.status_code == 500
    _check(crashed, "/crash")
    assert unavailable.status_code == 503
    _check(unavailable, "/admin/busy")
    assert unavailable.headers["Retry-After"] == "120"
