"""Coordinator accounts, sign-in and sign-out, protection of /admin, and the coordinator CLI."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from mapapp import coordinators, create_app
from mapapp.cli import cli
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, sign_in

# The pages under /admin that need no account: sign-in, and the one-time links' pages.
PUBLIC_ENDPOINTS = {"auth.sign_in", "accounts.accept", "accounts.reset_request", "accounts.reset"}
GENERIC_ERROR = "That name or e-mail and password do not match an account."


def _admin_rules() -> list[tuple[str, str, str]]:
    """Return (endpoint, method, url) of every rule under /admin but the public ones, with dummy values."""
    with tempfile.TemporaryDirectory() as directory:
        app = create_app({"ENV": "testing", "DATA_DIR": directory, "SECRET_KEY": "collect"})
        cases = []
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/admin") or rule.endpoint in PUBLIC_ENDPOINTS:
                continue
            url = rule.rule
            for argument in rule.arguments:
                url = re.sub(rf"<(?:[^:<>]+:)?{argument}>", "abcdef23", url)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                cases.append((rule.endpoint, method, url))
        return cases


ADMIN_RULES = _admin_rules()


def test_admin_rules_were_found() -> None:
    endpoints = {endpoint for endpoint, _, _ in ADMIN_RULES}
    assert {"admin.queue", "admin.approve", "admin.audit_log", "auth.sign_out"} <= endpoints


@pytest.mark.parametrize(("endpoint", "method", "url"), ADMIN_RULES)
def test_admin_rule_sends_a_visitor_to_sign_in(
    client: FlaskClient, endpoint: str, method: str, url: str
) -> None:
    response = client.open(url, method=method, headers={"Accept": "text/html"})
    assert response.status_code == 302, endpoint
    assert response.headers["Location"].startswith("/admin/sign-in?next=")


@pytest.mark.parametrize(("endpoint", "method", "url"), ADMIN_RULES)
def test_admin_rule_answers_401_to_an_api_client(
    client: FlaskClient, endpoint: str, method: str, url: str
) -> None:
    response = client.open(url, method=method, headers={"Accept": "application/json"})
    assert response.status_code == 401, endpoint
    assert response.json == {
        "error": "Unauthorized",
        "message": "Sign in as a coordinator to use this address.",
    }


def test_sign_in_page_has_a_csrf_protected_form(client: FlaskClient) -> None:
    page = client.get("/admin/sign-in").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    assert 'autocomplete="current-password"' in page


def test_coordinator_client_reaches_the_queue(coordinator_client: FlaskClient) -> None:
    response = coordinator_client.get("/admin/")
    assert response.status_code == 200
    assert (
        f'Signed in as <strong><bdi dir="auto">{COORDINATOR_NAME}</bdi></strong>'
        in response.get_data(as_text=True)
    )


def test_sign_in_goes_to_the_page_asked_for(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        coordinators.add_coordinator("ana", COORDINATOR_PASSWORD)
    page = client.get("/admin/sign-in?next=/admin/audit").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    form = {"csrf_token": token.group(1), "name": "ANA ", "password": COORDINATOR_PASSWORD}
    response = client.post("/admin/sign-in?next=/admin/audit", data=form)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/audit"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
def test_sign_in_never_redirects_to_another_site(
    app: Flask, client: FlaskClient, target: str
) -> None:
    with app.app_context():
        coordinators.add_coordinator("ana", COORDINATOR_PASSWORD)
    page = client.get("/admin/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    form = {"csrf_token": token.group(1), "name": "ana", "password": COORDINATOR_PASSWORD}
    response = client.post("/admin/sign-in", query_string={"next": target}, data=form)
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize(
    ("name", "password"),
    [(COORDINATOR_NAME, "a wrong passphrase"), ("nobody", COORDINATOR_PASSWORD)],
    ids=["wrong-password", "unknown-name"],
)
def test_wrong_name_or_password_gets_one_generic_message(
    app: Flask, client: FlaskClient, name: str, password: str
) -> None:
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    response = sign_in(client, name, password)
    assert response.status_code == 401
    assert GENERIC_ERROR in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_sign_in_without_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    form = {"name": COORDINATOR_NAME, "password": COORDINATOR_PASSWORD}
    response = client.post("/admin/sign-in", data=form)
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_sign_in_is_rate_limited(app_config: dict[str, Any]) -> None:
    app_config["LOGIN_RATE_LIMIT"] = "3 per minute"
    client = create_app(app_config).test_client()
    statuses = [sign_in(client, "nobody", "wrong password").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert client.get("/admin/sign-in").status_code == 200  # only attempts are counted


def test_sign_out_is_a_post_that_ends_the_session(coordinator_client: FlaskClient) -> None:
    assert coordinator_client.get("/admin/sign-out").status_code == 405
    page = coordinator_client.get("/admin/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    response = coordinator_client.post("/admin/sign-out", data={"csrf_token": token.group(1)})
    assert response.headers["Location"] == "/admin/sign-in"
    assert coordinator_client.get("/admin/").status_code == 302


def test_sign_out_without_csrf_token_keeps_the_session(coordinator_client: FlaskClient) -> None:
    coordinator_client.post("/admin/sign-out")
    assert coordinator_client.get("/admin/").status_code == 200


def test_removed_coordinator_is_signed_out(
    app: Flask, coordinator_client: FlaskClient, data_dir: Path
) -> None:
    with app.app_context():
        coordinators.remove_coordinator(COORDINATOR_NAME)
    assert coordinator_client.get("/admin/").status_code == 302
    stored = (data_dir / "sessions.csv").read_text(encoding="utf-8-sig")
    assert stored.splitlines() == ["id,coordinator,credential,created_at"]


def test_strong_session_protection_drops_a_session_moved_to_another_browser(
    coordinator_client: FlaskClient,
) -> None:
    response = coordinator_client.get("/admin/", headers={"User-Agent": "Another browser/1.0"})
    assert response.status_code == 302


def test_production_session_cookie_is_secure_httponly_and_lax(
    app_config: dict[str, Any],
) -> None:
    app_config["ENV"] = "production"
    app_config["PUBLIC_URL"] = "https://localhost"  # the test client's host
    app = create_app(app_config)
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # a Secure cookie only travels over https
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    response = sign_in(client, COORDINATOR_NAME, COORDINATOR_PASSWORD)
    assert response.status_code == 302
    cookie = _session_cookie(response)
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_development_session_cookie_is_not_marked_secure(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    cookie = _session_cookie(sign_in(client, COORDINATOR_NAME, COORDINATOR_PASSWORD))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def _session_cookie(response: Any) -> str:
    """Return the Set-Cookie header of the session cookie."""
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    return str(cookies[0])


# Accounts and the CLI


def test_cli_add_list_remove(runner: FlaskCliRunner, data_dir: Path) -> None:
    result = runner.invoke(
        cli, args=["coordinator", "add", "Ana"], input="horse battery staple\n" * 2
    )
    assert result.exit_code == 0, result.output
    assert "Added coordinator ana." in result.output
    stored = (data_dir / "coordinators.csv").read_text(encoding="utf-8-sig")
    assert "horse battery staple" not in stored
    assert re.search(r"^ana,scrypt:\d+:\d+:\d+\$", stored, re.MULTILINE)

    listed = runner.invoke(cli, args=["coordinator", "list"])
    assert listed.exit_code == 0
    assert listed.output.startswith("ana\tadded ")

    removed = runner.invoke(cli, args=["coordinator", "remove", "ana"])
    assert removed.exit_code == 0
    assert removed.output == "Removed coordinator ana.\n"
    assert "No coordinators yet" in runner.invoke(cli, args=["coordinator", "list"]).output


def test_cli_add_refuses_mismatched_passwords(runner: FlaskCliRunner, data_dir: Path) -> None:
    result = runner.invoke(
        cli,
        args=["coordinator", "add", "ana"],
        input="horse battery staple\nhorse battery stable\n",
    )
    # click asks again after a mismatch; with no more input it gives up
    assert "Error: The two entered values do not match." in result.output
    assert result.exit_code != 0
    assert not (data_dir / "coordinators.csv").exists() or "ana" not in (
        data_dir / "coordinators.csv"
    ).read_text(encoding="utf-8-sig")


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["ana"], "short", "Password: use at least 10 characters"),
        (["a"], "horse battery staple", "Name: use 2 to 64 letters"),
        (["<script>"], "horse battery staple", "Name: use 2 to 64 letters"),
    ],
)
def test_cli_add_refuses_bad_input(
    runner: FlaskCliRunner, args: list[str], password: str, message: str
) -> None:
    result = runner.invoke(
        cli, args=["coordinator", "add", *args], input=f"{password}\n{password}\n"
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "No coordinators yet" in runner.invoke(cli, args=["coordinator", "list"]).output


def test_cli_add_refuses_a_duplicate(runner: FlaskCliRunner) -> None:
    runner.invoke(cli, args=["coordinator", "add", "ana"], input="horse battery staple\n" * 2)
    again = runner.invoke(cli, args=["coordinator", "add", "ANA"], input="another passphrase\n" * 2)
    assert again.exit_code == 1
    assert "A coordinator called 'ana' already exists." in again.output


def test_cli_password_sets_a_new_one_and_ends_every_session(
    app: Flask, runner: FlaskCliRunner, coordinator_client: FlaskClient
) -> None:
    result = runner.invoke(
        cli, args=["coordinator", "password", "Coordinator"], input="horse battery staple\n" * 2
    )
    assert result.exit_code == 0, result.output
    assert result.output.endswith(
        f"Changed the password of {COORDINATOR_NAME}; their sessions are signed out.\n"
    )
    assert coordinator_client.get("/admin/").status_code == 302
    with app.app_context():
        assert coordinators.verify(COORDINATOR_NAME, COORDINATOR_PASSWORD) is None
        assert coordinators.verify(COORDINATOR_NAME, "horse battery staple") is not None


@pytest.mark.parametrize(
    ("name", "typed", "message"),
    [
        (COORDINATOR_NAME, "short\nshort\n", "Password: use at least 10 characters"),
        ("ghost", "", "There is no coordinator called 'ghost'."),
    ],
    ids=["short", "unknown"],
)
def test_cli_password_refuses_bad_input(
    app: Flask,
    runner: FlaskCliRunner,
    coordinator_client: FlaskClient,
    data_dir: Path,
    name: str,
    typed: str,
    message: str,
) -> None:
    accounts = (data_dir / "coordinators.csv").read_bytes()
    result = runner.invoke(cli, args=["coordinator", "password", name], input=typed)
    assert result.exit_code == 1
    assert message in result.output
    assert ("New password" in result.output) == bool(typed)  # no prompt for an unknown name
    assert (data_dir / "coordinators.csv").read_bytes() == accounts
    assert coordinator_client.get("/admin/").status_code == 200


def test_cli_remove_unknown(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, args=["coordinator", "remove", "ghost"])
    assert result.exit_code == 1
    assert "There is no coordinator called 'ghost'." in result.output


def test_verify(app: Flask) -> None:
    with app.app_context():
        coordinators.add_coordinator("ana", COORDINATOR_PASSWORD)
        assert coordinators.verify("Ana", COORDINATOR_PASSWORD) == coordinators.get_coordinator(
            "ana"
        )
        assert coordinators.verify("ana", COORDINATOR_PASSWORD + "x") is None
        assert coordinators.verify("bob", COORDINATOR_PASSWORD) is None
        assert coordinators.verify("", "") is None
