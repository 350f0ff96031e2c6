"""Accounts: invitations, sign-in by e-mail, password resets, changes and their log, the CLI."""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from mapapp import (
    account_log,
    account_tokens,
    coordinators,
    create_app,
    invitations,
    mail,
)
from mapapp.access import NotAllowed, Scope
from mapapp.account_rules import CoordinatorError
from mapapp.cli import cli
from tests.conftest import COORDINATOR_PASSWORD, sign_in

NEW_PASSWORD = "a brand new passphrase"
RESET_SENT = "If an active account has that name or address, we are sending"
LINK_GONE = "This link does not work any more"
ADMIN = Scope.system("test")


def csrf(page: str) -> str:
    """Return the CSRF token of a page's form."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def post_form(client: FlaskClient, page_url: str, data: dict[str, Any], url: str = "") -> Any:
    """Open a page, then post its form with the page's CSRF token."""
    token = csrf(client.get(page_url).get_data(as_text=True))
    return client.post(url or page_url, data={"csrf_token": token, **data})


def messages(app: Flask, kind: str) -> list[dict[str, Any]]:
    """Return the outbox's messages of a kind."""
    with app.app_context():
        return [row for row in mail.queued() if row["kind"] == kind]


def sent_text(app: Flask, data_dir: Path, outbox_id: str) -> str:
    """Send what is due (as .eml files: no SMTP server) and return one message's plain text."""
    with app.app_context():
        mail.send_due()
    message = email.message_from_bytes(
        (data_dir / "mail" / f"{outbox_id}.eml").read_bytes(), policy=email.policy.default
    )
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def link_in(text: str, path: str) -> str:
    """Return the path of the one link to path/... in a message's text."""
    [link] = re.findall(rf"http://[^/\s]+{path}/\S+", text)
    return urlsplit(link).path


def invite(client: FlaskClient, **fields: Any) -> Any:
    """Post the invitation form as an administrator."""
    data = {"name": "nadia", "email": "Nadia@Example.org", "role": "national", "countries": "FR"}
    return post_form(client, "/admin/accounts", {**data, **fields}, "/admin/accounts/invite")


def set_password(client: FlaskClient, path: str, password: str = NEW_PASSWORD) -> Any:
    """Post the new-password form of a one-time link."""
    return post_form(client, path, {"new": password, "repeated": password})


# Invitations


def test_an_invitation_sets_a_password_and_the_person_signs_in_with_their_e_mail(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path
) -> None:
    admin = client_as("admin")
    response = invite(admin, countries=["FR", "BE"])
    assert response.status_code == 303
    page = admin.get("/admin/accounts").get_data(as_text=True)
    assert "Invited nadia: the invitation is on its way to Nadia@example.org." in page
    assert "Belgium, France" in page and "Invited, not accepted yet" in page
    with app.app_context():
        invited = coordinators.get_coordinator("nadia")
    assert invited is not None and not invited.active and invited.email == "Nadia@example.org"

    [message] = messages(app, "invitation")
    assert message["to"] == "Nadia@example.org"
    text = sent_text(app, data_dir, message["id"])
    assert "admin-1 invites you to coordinate" in text and "Belgium, France" in text
    assert "map, as a national coordinator (Belgium, France)." in text
    accept = link_in(text, "/admin/invitation")
    with app.app_context():  # sent, the outbox keeps no copy of the link
        assert "accept_url" not in mail.queued()[0]["context"]

    person = app.test_client()
    assert sign_in(person, "nadia@example.org", NEW_PASSWORD).status_code == 401
    assert "Welcome, nadia." in person.get(accept).get_data(as_text=True)
    response = set_password(person, accept)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/sign-in"

    assert sign_in(person, "NADIA@example.org", NEW_PASSWORD).status_code == 302
    assert person.get("/admin/").status_code == 200
    assert person.get("/admin/accounts").status_code == 403  # a national coordinator
    again = app.test_client().get(accept)
    assert again.status_code == 404 and LINK_GONE in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not an address"}, "E-mail: An email address must have an @-sign."),
        ({"email": ""}, "E-mail: give the address the invitation is sent to."),
        ({"countries": []}, "Countries: a national coordinator needs at least one country."),
        ({"countries": ["XX"]}, "Countries: &#39;XX&#39; is not a country code we know."),
        ({"role": "owner"}, "Role: choose administrator, national coordinator or viewer."),
        ({"name": "a"}, "Name: use 2 to 64 letters"),
        ({"name": "admin-1"}, "A coordinator called &#39;admin-1&#39; already exists."),
    ],
)
def test_a_bad_invitation_says_what_to_fix_and_writes_nothing(
    app: Flask,
    client_as: Callable[..., FlaskClient],
    data_dir: Path,
    fields: dict[str, Any],
    message: str,
) -> None:
    admin = client_as("admin")
    accounts = (data_dir / "coordinators.csv").read_bytes()
    response = invite(admin, **fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert (data_dir / "coordinators.csv").read_bytes() == accounts
    assert messages(app, "invitation") == []


def test_an_invitation_to_an_address_another_account_has_is_refused(
    app: Flask, client_as: Callable[..., FlaskClient]
) -> None:
    admin = client_as("admin", email="team@example.org")
    response = invite(admin, email="TEAM@example.org")
    assert response.status_code == 422
    assert "E-mail: another account already uses TEAM@example.org." in response.get_data(
        as_text=True
    )


def test_every_form_without_its_csrf_token_is_refused(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path
) -> None:
    admin = client_as("admin")
    accounts = (data_dir / "coordinators.csv").read_bytes()
    for url, data in [
        ("/admin/accounts/invite", {"name": "nadia", "email": "n@example.org", "role": "admin"}),
        ("/admin/accounts/admin-1", {"role": "viewer", "active": "y"}),
        ("/admin/accounts/admin-1/invite", {}),
        ("/admin/account/settings", {"email": "me@example.org"}),
        ("/admin/reset", {"name": "admin-1"}),
    ]:
        response = admin.post(url, data=data)
        assert response.status_code == 400, url
        assert "This form has expired: please send it again." in response.get_data(as_text=True)
    assert (data_dir / "coordinators.csv").read_bytes() == accounts
    assert messages(app, "invitation") == messages(app, "password_reset") == []


def test_inviting_again_sends_a_new_link_and_ends_the_old_one(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path
) -> None:
    admin = client_as("admin")
    invite(admin)
    first = link_in(
        sent_text(app, data_dir, messages(app, "invitation")[0]["id"]), "/admin/invitation"
    )
    response = post_form(admin, "/admin/accounts/nadia", {}, "/admin/accounts/nadia/invite")
    assert response.status_code == 303
    assert "Sent nadia a new invitation" in admin.get("/admin/accounts/nadia").get_data(
        as_text=True
    )
    second_id = messages(app, "invitation")[1]["id"]
    second = link_in(sent_text(app, data_dir, second_id), "/admin/invitation")
    person = app.test_client()
    assert person.get(first).status_code == 404
    assert set_password(person, second).status_code == 303


def test_an_administrator_withdraws_an_invitation_and_its_link_stops_working(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path
) -> None:
    # Unticking "Active" cannot stop an invitation: the invited account is inactive already.
    admin = client_as("admin")
    invite(admin)
    link = link_in(
        sent_text(app, data_dir, messages(app, "invitation")[0]["id"]), "/admin/invitation"
    )
    page = admin.get("/admin/accounts/nadia").get_data(as_text=True)
    assert "Withdraw the invitation" in page
    response = post_form(admin, "/admin/accounts/nadia", {}, "/admin/accounts/nadia/withdraw")
    assert response.status_code == 303
    page = admin.get("/admin/accounts/nadia").get_data(as_text=True)
    assert "Withdrew the invitation of nadia: its link no longer works." in page
    assert "Invitation withdrawn" in page and "Withdraw the invitation" not in page
    person = app.test_client()
    assert person.get(link).status_code == 404
    assert (
        person.post(link, data={"new": NEW_PASSWORD, "repeated": NEW_PASSWORD}).status_code == 404
    )
    with app.app_context():
        nadia = coordinators.get_coordinator("nadia")
        assert nadia is not None and not nadia.active
    again = post_form(admin, "/admin/accounts/nadia", {}, "/admin/accounts/nadia/withdraw")
    assert again.status_code == 422
    assert "There is no invitation of nadia waiting to be accepted" in again.get_data(as_text=True)
    national = client_as("national", {"FR"})
    refused = post_form(national, "/admin/account/settings", {}, "/admin/accounts/nadia/withdraw")
    assert refused.status_code == 403


def test_an_invitation_expires_after_seven_days(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path, monkeypatch: Any
) -> None:
    admin = client_as("admin")
    invite(admin)
    link = link_in(
        sent_text(app, data_dir, messages(app, "invitation")[0]["id"]), "/admin/invitation"
    )
    later = account_tokens.now() + timedelta(days=7, minutes=1)
    monkeypatch.setattr(account_tokens, "now", lambda: later)
    response = app.test_client().get(link)
    assert response.status_code == 404 and LINK_GONE in response.get_data(as_text=True)


def test_a_short_or_mismatched_password_is_refused_and_the_link_keeps_working(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path
) -> None:
    invite(client_as("admin"))
    link = link_in(
        sent_text(app, data_dir, messages(app, "invitation")[0]["id"]), "/admin/invitation"
    )
    person = app.test_client()
    short = set_password(person, link, "short")
    assert short.status_code == 422
    assert "Password: use at least 10 characters" in short.get_data(as_text=True)
    differ = post_form(person, link, {"new": NEW_PASSWORD, "repeated": NEW_PASSWORD + "x"})
    assert differ.status_code == 422
    assert "the two passwords differ" in differ.get_data(as_text=True)
    assert set_password(person, link).status_code == 303


# Password resets


def ask_reset(client: FlaskClient, typed: str) -> tuple[int, str]:
    """Ask for a reset link as a browser does (the link is sent once the answer is closed)."""
    response = post_form(client, "/admin/reset", {"name": typed})
    body = response.get_data(as_text=True)
    response.close()
    return response.status_code, body


def test_a_reset_link_sets_a_new_password_and_ends_every_session(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path
) -> None:
    signed_in = client_as("national", {"FR"}, name="nadia", email="nadia@example.org")
    visitor = app.test_client()
    status, body = ask_reset(visitor, "Nadia@Example.org")
    assert status == 200 and RESET_SENT in body
    [message] = messages(app, "password_reset")
    assert message["to"] == "nadia@example.org"
    link = link_in(sent_text(app, data_dir, message["id"]), "/admin/reset")

    assert "Choose a new password for nadia." in visitor.get(link).get_data(as_text=True)
    assert set_password(visitor, link).status_code == 303
    assert signed_in.get("/admin/").status_code == 302  # signed out everywhere
    assert sign_in(visitor, "nadia", COORDINATOR_PASSWORD).status_code == 401
    assert sign_in(visitor, "nadia", NEW_PASSWORD).status_code == 302
    assert app.test_client().get(link).status_code == 404  # once only
    with app.app_context():
        assert [entry.action for entry in account_log.history("nadia", ADMIN)][0] == "reset"


def test_the_reset_answer_is_the_same_whether_or_not_an_account_matches(
    app: Flask, client_as: Callable[..., FlaskClient]
) -> None:
    client_as("admin")
    client_as("viewer", name="vera", email="vera@example.org")
    with app.app_context():
        coordinators.add_coordinator("gone", COORDINATOR_PASSWORD, email="gone@example.org")
        coordinators.update_account("gone", {"active": False}, ADMIN)
        coordinators.add_coordinator("no-mail", COORDINATOR_PASSWORD)
    answers = {
        typed: ask_reset(app.test_client(), typed)
        for typed in ("vera", "vera@example.org", "nobody", "nobody@example.org", "gone", "no-mail")
    }
    assert {status for status, _ in answers.values()} == {200}
    bodies = {re.sub(r'value="[^"]+"', "", body) for _, body in answers.values()}
    assert len(bodies) == 1  # byte for byte, but for each page's own CSRF token
    sent = messages(app, "password_reset")
    assert [row["to"] for row in sent] == ["vera@example.org", "vera@example.org"]


def test_reset_requests_are_rate_limited(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "RESET_RATE_LIMIT": "2 per hour"})
    client = app.test_client()
    assert [ask_reset(client, "someone")[0] for _ in range(2)] == [200, 200]
    status, body = ask_reset(client, "someone")
    assert status == 429
    assert "You have sent many requests in a short time: please try again in 60 minutes." in body


def test_a_reset_link_lasts_an_hour(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path, monkeypatch: Any
) -> None:
    client_as("admin", name="ana", email="ana@example.org")
    ask_reset(app.test_client(), "ana")
    link = link_in(
        sent_text(app, data_dir, messages(app, "password_reset")[0]["id"]), "/admin/reset"
    )
    later = account_tokens.now() + timedelta(minutes=61)
    monkeypatch.setattr(account_tokens, "now", lambda: later)
    assert app.test_client().get(link).status_code == 404


def test_a_deactivated_account_cannot_use_a_reset_link_sent_before(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path
) -> None:
    client_as("admin")
    client_as("viewer", name="vera", email="vera@example.org")
    ask_reset(app.test_client(), "vera")
    link = link_in(
        sent_text(app, data_dir, messages(app, "password_reset")[0]["id"]), "/admin/reset"
    )
    with app.app_context():
        coordinators.update_account("vera", {"active": False}, ADMIN)
    assert app.test_client().get(link).status_code == 404


# Changing accounts


def edit(client: FlaskClient, name: str, **fields: Any) -> Any:
    """Post an account's edit form with its current values and these changes."""
    page = client.get(f"/admin/accounts/{name}").get_data(as_text=True)
    data: dict[str, Any] = {"csrf_token": csrf(page), "role": "national", "email": ""}
    data.update({"active": "y", **fields})
    data = {key: value for key, value in data.items() if value is not None}
    return client.post(f"/admin/accounts/{name}", data=data)


def test_an_administrator_changes_a_role_and_the_change_is_logged_and_ends_sessions(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path
) -> None:
    admin = client_as("admin")
    national = client_as("national", {"FR"}, name="nadia")
    response = edit(admin, "nadia", role="viewer", countries=["BE", "FR"], email="n@example.org")
    assert response.status_code == 303
    page = admin.get("/admin/accounts/nadia").get_data(as_text=True)
    assert "Saved the account of nadia." in page
    assert "Account changed" in page and "“national” → “viewer”" in page
    assert national.get("/admin/").status_code == 302
    with app.app_context():
        changed = coordinators.get_coordinator("nadia")
        [change, added] = account_log.history("nadia", ADMIN)
    assert changed is not None
    assert (changed.role, changed.countries) == ("viewer", frozenset({"BE", "FR"}))
    assert (change.who, change.action) == ("admin-1", "change")
    assert change.changes == {
        "role": ["national", "viewer"],
        "countries": ["FR", "BE FR"],
        "email": ["", "n@example.org"],
    }
    assert added.action == "add"
    log_text = (data_dir / "accounts_log.csv").read_text(encoding="utf-8-sig")
    assert "scrypt" not in log_text and "password_hash" not in log_text
    listing = admin.get("/admin/accounts").get_data(as_text=True)
    assert "Viewer: reads the dashboard" in listing and "Belgium, France" in listing


def test_a_bad_change_says_what_to_fix_and_writes_nothing(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path
) -> None:
    admin = client_as("admin")
    client_as("national", {"FR"}, name="nadia")
    accounts = (data_dir / "coordinators.csv").read_bytes()
    for fields, message in [
        ({"countries": None}, "Countries: a national coordinator needs at least one country."),
        ({"countries": "ZZ"}, "Countries: &#39;ZZ&#39; is not a country code we know."),
        ({"countries": "FR", "digest": "y"}, "Daily digest: give an e-mail address"),
        ({"countries": "FR", "email": "x@"}, "E-mail: "),
    ]:
        response = edit(admin, "nadia", **fields)
        assert response.status_code == 422, fields
        assert message in response.get_data(as_text=True)
    assert (data_dir / "coordinators.csv").read_bytes() == accounts
    assert admin.get("/admin/accounts/nobody").status_code == 404


def test_the_last_active_administrator_cannot_be_demoted_or_deactivated(
    app: Flask, client_as: Callable[..., FlaskClient]
) -> None:
    admin = client_as("admin")
    for fields in ({"role": "viewer"}, {"role": "admin", "active": None}):
        response = edit(admin, "admin-1", **fields)
        assert response.status_code == 422
        assert "admin-1 is the last active administrator." in response.get_data(as_text=True)
    with app.app_context():
        coordinators.add_coordinator("second", COORDINATOR_PASSWORD)
        coordinators.update_account("admin-1", {"role": "viewer"}, ADMIN)
        with pytest.raises(CoordinatorError, match="second is the last active administrator"):
            coordinators.update_account("second", {"active": False}, ADMIN)


def test_two_administrators_demoting_each_other_at_once_leave_one_administrator(
    app_config: dict[str, Any], data_dir: Path
) -> None:
    # Two apps on one data directory: two stores with their own locks, as two workers have.
    apps = [create_app(app_config) for _ in range(2)]
    with apps[0].app_context():
        coordinators.add_coordinator("alba", COORDINATOR_PASSWORD)
        coordinators.add_coordinator("boris", COORDINATOR_PASSWORD)
    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def demote(app: Flask, name: str, by: str) -> None:
        with app.app_context():
            start.wait()
            try:
                coordinators.update_account(name, {"role": "viewer"}, Scope(by, "admin"))
                outcomes[name] = "demoted"
            except CoordinatorError as exc:
                outcomes[name] = str(exc)

    threads = [
        threading.Thread(target=demote, args=(apps[0], "alba", "boris")),
        threading.Thread(target=demote, args=(apps[1], "boris", "alba")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 2
    [refused] = [outcome for outcome in outcomes.values() if outcome != "demoted"]
    assert "is the last active administrator" in refused
    with create_app(app_config).app_context():
        admins = [a.name for a in coordinators.list_coordinators() if a.role == "admin"]
    assert len(admins) == 1


def test_only_administrators_manage_accounts_in_the_domain_too(app: Flask) -> None:
    with app.app_context():
        coordinators.add_coordinator("nadia", COORDINATOR_PASSWORD, role="national", countries="FR")
        national = Scope("nadia", "national", frozenset({"FR"}))
        for refused in (
            lambda: coordinators.update_account("nadia", {"role": "admin"}, national),
            lambda: coordinators.update_account("nadia", {"countries": "DE FR"}, national),
            lambda: coordinators.list_accounts(national),
            lambda: account_log.history("nadia", national),
            lambda: invitations.invite("x1", "x@example.org", "admin", [], who=national, link=str),
        ):
            with pytest.raises(NotAllowed):
                refused()
        own = coordinators.update_account(
            "nadia", {"email": "nadia@example.org", "digest": True}, national
        )
    assert (own.email, own.digest, own.role) == ("nadia@example.org", True, "national")


def test_every_coordinator_sets_their_own_e_mail_and_digest(
    app: Flask, client_as: Callable[..., FlaskClient]
) -> None:
    viewer = client_as("viewer", {"DE"}, name="vera")
    page = viewer.get("/admin/account/settings").get_data(as_text=True)
    assert "You coordinate Germany." in page and "Accounts</a>" not in page
    response = post_form(viewer, "/admin/account/settings", {"email": "", "digest": "y"})
    assert response.status_code == 422
    assert "Daily digest: give an e-mail address" in response.get_data(as_text=True)
    response = post_form(
        viewer,
        "/admin/account/settings",
        {"email": "vera@example.org", "digest": "y", "role": "admin"},
    )
    assert response.status_code == 303
    with app.app_context():
        vera = coordinators.get_coordinator("vera")
    assert vera is not None and (vera.email, vera.digest, vera.role) == (
        "vera@example.org",
        True,
        "viewer",
    )


def test_the_accounts_pages_are_the_administrators(
    app: Flask, client_as: Callable[..., FlaskClient]
) -> None:
    admin = client_as("admin")
    assert 'href="/admin/accounts">Accounts</a>' in admin.get("/admin/").get_data(as_text=True)
    for role in ("national", "viewer"):
        other = client_as(role, {"FR"})
        assert 'href="/admin/accounts"' not in other.get("/admin/account/settings").get_data(
            as_text=True
        )
        assert other.get("/admin/accounts").status_code == 403
        assert other.get("/admin/accounts/admin-1").status_code == 403


def test_the_sign_in_page_takes_a_name_or_e_mail_and_names_a_contact(
    app_config: dict[str, Any],
) -> None:
    app = create_app({**app_config, "CONTACT_EMAIL": "help@example.org"})
    page = app.test_client().get("/admin/sign-in").get_data(as_text=True)
    assert ">Name or e-mail</label>" in page
    assert '<a href="/admin/reset">Forgot your password?</a>' in page
    assert 'href="mailto:help@example.org"' in page
    assert "mapapp coordinator" not in page


def test_sign_in_by_an_unknown_e_mail_fails_like_an_unknown_name(
    app: Flask, client_as: Callable[..., FlaskClient]
) -> None:
    client_as("admin", email="ana@example.org")
    for typed in ("nobody@example.org", "nobody", "ana@example.org"):
        response = sign_in(app.test_client(), typed, "a wrong passphrase")
        assert response.status_code == 401
        assert "That name or e-mail and password do not match an account." in response.get_data(
            as_text=True
        )


# The command line


def test_the_cli_adds_a_national_coordinator_from_standard_input(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        cli,
        args=[
            "coordinator",
            "add",
            "Nadia",
            "--role",
            "national",
            "--countries",
            "FR,be",
            "--email",
            "nadia@example.org",
            "--password-stdin",
        ],
        input=f"{NEW_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "Password" not in result.output  # no prompt
    listed = runner.invoke(cli, args=["coordinator", "list"]).output
    assert re.fullmatch(r"nadia\tadded \S+\tnational\tBE,FR\tnadia@example.org\tactive\n", listed)
    client = app.test_client()
    assert sign_in(client, "nadia@example.org", NEW_PASSWORD).status_code == 302


def test_the_cli_changes_and_sets_passwords_scriptably(app: Flask, runner: FlaskCliRunner) -> None:
    runner.invoke(cli, ["coordinator", "add", "ana", "--password-stdin"], input=f"{NEW_PASSWORD}\n")
    runner.invoke(cli, ["coordinator", "add", "bob", "--password-stdin"], input=f"{NEW_PASSWORD}\n")
    result = runner.invoke(
        cli, ["coordinator", "set", "bob", "--role", "viewer", "--countries", "DE"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == ("Changed bob: viewer, countries DE, e-mail -, active, digest off.\n")
    refused = runner.invoke(cli, ["coordinator", "set", "ana", "--inactive"])
    assert refused.exit_code == 1
    assert "ana is the last active administrator." in refused.output
    bad = runner.invoke(cli, ["coordinator", "set", "bob", "--countries", "FR,XX"])
    assert bad.exit_code == 1 and "Countries: 'XX' is not a country code we know." in bad.output
    nothing = runner.invoke(cli, ["coordinator", "set", "bob"])
    assert nothing.exit_code == 2 and "Say what to change" in nothing.output
    national = runner.invoke(
        cli,
        ["coordinator", "add", "nat", "--role", "national", "--password-stdin"],
        input=f"{NEW_PASSWORD}\n",
    )
    assert national.exit_code == 1
    assert "Countries: a national coordinator needs at least one country." in national.output
    changed = runner.invoke(
        cli, ["coordinator", "password", "bob", "--password-stdin"], input="another passphrase\n"
    )
    assert changed.exit_code == 0 and "New password" not in changed.output
    with app.app_context():
        assert coordinators.verify("bob", "another passphrase") is not None
        actions = [entry.action for entry in account_log.history("bob", ADMIN)]
    assert actions == ["password", "change", "add"]


# Messages


def test_the_account_messages_have_plain_text_and_html(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Path
) -> None:
    invite(
        client_as("admin", name="ana", email="ana@example.org"),
        name="obrien",
        email="ob@example.org",
    )
    ask_reset(app.test_client(), "ana")
    with app.app_context():
        mail.send_due()
        rows = {row["kind"]: row for row in mail.queued()}
    for kind, subject in [
        ("invitation", "You are invited to coordinate the Rare Disease Day events map"),
        ("password_reset", "Reset your password for the Rare Disease Day events map"),
    ]:
        message = email.message_from_bytes(
            (data_dir / "mail" / f"{rows[kind]['id']}.eml").read_bytes(),
            policy=email.policy.default,
        )
        assert message["Subject"] == subject
        html = message.get_body(preferencelist=("html",))
        assert html is not None and '<a href="http://localhost/admin/' in str(html.get_content())
        assert json.dumps(rows[kind]["context"]).count("/admin/") == 0  # sent: links dropped


def test_deactivating_an_account_signs_it_out_and_an_e_mail_change_does_not(
    app: Flask, client_as: Callable[..., FlaskClient]
) -> None:
    client = client_as("national", {"FR"}, name="nadia")
    with app.app_context():
        coordinators.update_account("nadia", {"email": "n@example.org"}, ADMIN)
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        coordinators.update_account("nadia", {"active": False}, ADMIN)
    assert client.get("/admin/").status_code == 302
    assert sign_in(app.test_client(), "nadia", COORDINATOR_PASSWORD).status_code == 401


@pytest.mark.browser
def test_an_administrator_invites_in_the_browser_and_the_person_accepts(
    app: Flask, live_server: str, page: Any, data_dir: Path
) -> None:
    with app.app_context():
        coordinators.add_coordinator("ana", COORDINATOR_PASSWORD, email="ana@example.org")
    page.goto(f"{live_server}/admin/sign-in")
    page.get_by_label("Name or e-mail").fill("ana@example.org")
    page.get_by_label("Password").fill(COORDINATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Accounts").click()
    page.get_by_label("Name (to sign in with)").fill("nadia")
    page.get_by_label("E-mail address").fill("nadia@example.org")
    page.get_by_label("Role").select_option("national")
    page.get_by_label("Countries").select_option(["BE", "FR"])
    page.get_by_role("button", name="Send the invitation").click()
    flash = page.locator(".flash-success")
    assert flash.inner_text().startswith("Invited nadia: the invitation is on its way")
    row = page.get_by_role("row", name="nadia")
    assert "Belgium, France" in row.inner_text() and "Invited, not accepted yet" in row.inner_text()

    link = link_in(
        sent_text(app, data_dir, messages(app, "invitation")[0]["id"]), "/admin/invitation"
    )
    page.context.clear_cookies()
    page.goto(f"{live_server}{link}")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the password").click()
    assert urlsplit(page.url).path == "/admin/sign-in"
    assert "Your password is set." in page.locator(".flash-success").inner_text()
    assert page.page_errors == []
