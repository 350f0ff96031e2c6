"""A way back: "Send me my edit links", "Revoke my other links", the thank-you page on reload."""

from __future__ import annotations

import email
import email.policy
import html
import re
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from mapapp import create_app, edit_links, mail, recovery, submissions
from mapapp.events import validate_event
from mapapp.storage import Audit, ConflictError, EventStore
from tests.conftest import change, make_event
from tests.servers import SECRET_KEY, held_port, server_env, serving
from tests.test_submit import hidden, submit_event, version_of

ADDRESS = "organiser@example.org"
# As long as ADDRESS, so that the two answers can be compared byte for byte.
UNKNOWN = "organizer@example.org"
SENT_TEXT = "we are sending that address a message with a new edit link"


def add_event(store: EventStore, secret: str, **fields: str) -> tuple[dict[str, str], str]:
    """Store a submitted event (pending, then the status asked for) and return it with its link."""
    event, errors = validate_event(make_event(**fields))
    assert event is not None, errors
    stored, token = submissions.create_event(store, event, secret)
    if fields.get("status", "pending") != "pending":
        stored = change(store, stored["id"], {"status": fields["status"]})
    return stored, token


def ask_for_links(client: FlaskClient, address: str, **environ: str) -> tuple[Any, str]:
    """Post the recovery form as a browser does; return the answer and its text.

    The links are minted once the answer is sent (when the response is closed).
    """
    page = client.get("/edit/recover", environ_base=environ).get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "email": address}
    response = client.post("/edit/recover", data=data, environ_base=environ)
    body = response.get_data(as_text=True)
    response.close()
    return response, body


def link_messages(app: Flask) -> list[dict[str, Any]]:
    """Return the edit_links messages in the outbox."""
    with app.app_context():
        return [row for row in mail.queued() if row["kind"] == "edit_links"]


def path_of(url: str) -> str:
    """Return the path of an absolute URL."""
    return urlsplit(url).path


# Send me my edit links


def test_one_message_brings_a_working_new_link_for_every_event_of_the_address(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    secret = app.config["SECRET_KEY"]
    pending, old_link = add_event(store, secret, title="Purple walk")
    approved, _ = add_event(store, secret, title="Town hall lights", status="approved")
    rejected, _ = add_event(store, secret, title="Stall at the market", status="rejected")
    add_event(store, secret, title="Withdrawn talk", status="withdrawn")
    add_event(store, secret, title="Someone else's run", contact_email="runner@example.org")

    response, body = ask_for_links(client, "  Organiser@EXAMPLE.org ")

    assert response.status_code == 200
    assert SENT_TEXT in body
    [message] = link_messages(app)
    assert message["to"] == ADDRESS  # the stored address, whatever the case typed
    items = message["context"]["events"]
    assert {item["reference"] for item in items} == {
        pending["id"],
        approved["id"],
        rejected["id"],
    }
    for item in items:
        page = client.get(path_of(item["edit_url"]))
        assert page.status_code == 200
        assert html.escape(item["title"], quote=False) in page.get_data(as_text=True)
    assert client.get(f"/edit/{old_link}").status_code == 200  # the old link keeps working
    assert len(edit_links.link_hashes(store.get(pending["id"]) or {})) == 2
    audit = store.audit.frame()
    added = audit[audit["action"] == recovery.RECOVER_ACTION]
    assert len(added) == 3 and added["batch"].nunique() == 1  # all three links in one change


def test_an_address_without_events_gets_the_same_answer_and_no_message(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    add_event(store, app.config["SECRET_KEY"])
    version = store.version

    unknown, unknown_body = ask_for_links(client, UNKNOWN)
    known, known_body = ask_for_links(client, ADDRESS)

    assert unknown.status_code == known.status_code == 200
    assert unknown_body.replace(UNKNOWN, ADDRESS) == known_body
    # Clocks, not answers: the window's reset time moves on when the second ticks between them.
    ignored = {"Date", "X-RateLimit-Reset"}
    assert [(k, v) for k, v in unknown.headers if k not in ignored] == [
        (k, v) for k, v in known.headers if k not in ignored
    ]
    [message] = link_messages(app)
    assert message["to"] == ADDRESS
    assert store.version != version  # the known address's link was stored, and only that


def test_each_stored_spelling_of_an_address_gets_its_own_message(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    secret = app.config["SECRET_KEY"]
    add_event(store, secret, title="Walk", contact_email="Maria@example.org")
    add_event(store, secret, title="Talk", contact_email="maria@example.org")

    ask_for_links(client, "MARIA@example.org")

    messages = link_messages(app)
    assert sorted(message["to"] for message in messages) == [
        "Maria@example.org",
        "maria@example.org",
    ]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("", recovery.EMPTY_MESSAGE),
        ("   ", recovery.EMPTY_MESSAGE),
        ("organiser.example.org", "E-mail address: An email address must have an @-sign."),
        ("organiser@", "E-mail address: There must be something after the @-sign."),
        ("a" * 250 + "@example.org", "E-mail address: an address has at most 254 characters."),
    ],
    ids=["empty", "blank", "no-at", "no-domain", "too-long"],
)
def test_a_bad_address_is_refused_with_a_specific_message_and_nothing_sent(
    app: Flask, client: FlaskClient, store: EventStore, address: str, message: str
) -> None:
    add_event(store, app.config["SECRET_KEY"])
    version = store.version

    response, body = ask_for_links(client, address)

    assert response.status_code == 422
    assert message in html.unescape(body)
    assert 'name="email"' in body  # the form again, to correct
    assert link_messages(app) == [] and store.version == version


def test_a_request_without_its_form_token_is_refused(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    add_event(store, app.config["SECRET_KEY"])

    response = client.post("/edit/recover", data={"email": ADDRESS})
    response.close()

    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert link_messages(app) == []


def test_requests_are_limited_per_client_with_a_message_and_the_address_kept(
    app_config: dict[str, Any],
) -> None:
    app = create_app({**app_config, "RECOVER_RATE_LIMIT": "2 per hour"})
    client = app.test_client()
    add_event(app.extensions["mapapp.store"], app_config["SECRET_KEY"])

    statuses = [ask_for_links(client, f"person{n}@example.org")[0].status_code for n in range(2)]
    limited, body = ask_for_links(client, ADDRESS)

    assert statuses == [200, 200]
    assert limited.status_code == 429
    assert "You have asked for edit links too often. Please try again in 60 minutes" in body
    assert 3000 < int(limited.headers["Retry-After"]) <= 3600
    assert f'value="{ADDRESS}"' in body  # what was typed stays in the form
    assert link_messages(app) == []  # the limited request sent nothing
    other = create_app({**app_config, "RECOVER_RATE_LIMIT": "2 per hour"}).test_client()
    assert ask_for_links(other, ADDRESS, REMOTE_ADDR="192.0.2.7")[0].status_code == 200


def test_requests_are_limited_per_address_whoever_asks_and_never_count_the_address(
    app_config: dict[str, Any], data_dir: Path
) -> None:
    app = create_app({**app_config, "RECOVER_ADDRESS_RATE_LIMIT": "2 per hour"})
    client = app.test_client()
    add_event(app.extensions["mapapp.store"], app_config["SECRET_KEY"])

    statuses = [
        ask_for_links(client, spelling, REMOTE_ADDR=f"192.0.2.{n}")[0].status_code
        # Other spellings of one address (case, spaces, fullwidth letters IDNA folds) count
        # as that address.
        for n, spelling in enumerate([ADDRESS, " ORGANISER@example.org", "organiser@ｅxample.org"])
    ]

    assert statuses == [200, 200, 429]
    assert ask_for_links(client, UNKNOWN, REMOTE_ADDR="192.0.2.9")[0].status_code == 200
    assert len(link_messages(app)) == 2
    counters = b"".join(path.read_bytes() for path in data_dir.glob("rate-limits.sqlite3*"))
    assert b"recover-address" in counters  # the counts are in the shared file...
    assert ADDRESS.encode() not in counters and b"organiser" not in counters  # ...as a hash


def test_asking_again_and_again_never_ends_the_link_sent_at_submission(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    event, first = add_event(store, app.config["SECRET_KEY"])
    for _ in range(3 * edit_links.MAX_LINKS):
        current = store.get(event["id"]) or {}
        _token, hashes = edit_links.with_new_link(app.config["SECRET_KEY"], current)
        store.update(
            event["id"],
            {"edit_token_hash": hashes},
            expected=current["version"],
            audit=Audit("organiser", "edit-links"),
        )
    assert len(edit_links.link_hashes(store.get(event["id"]) or {})) == edit_links.MAX_LINKS
    assert client.get(f"/edit/{first}").status_code == 200


def test_links_minted_at_the_same_time_as_edits_are_all_kept(app: Flask, store: EventStore) -> None:
    secret = app.config["SECRET_KEY"]
    event, first = add_event(store, secret)
    tokens: list[str] = []
    failures: list[BaseException] = []

    def mint() -> None:
        try:
            for _ in range(2):
                minted = recovery.mint_links(store, secret, [event["id"]])
                tokens.extend(token for _, token in minted)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    def edit() -> None:
        for number in range(5):
            while True:  # as the edit page does: a lost race is read again and sent again
                try:
                    change(store, event["id"], {"description": f"Edited {number}"})
                    break
                except ConflictError:
                    continue

    threads = [threading.Thread(target=mint) for _ in range(4)] + [threading.Thread(target=edit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(tokens) == 8
    stored = store.get(event["id"])
    assert stored is not None and stored["description"] == "Edited 4"
    assert all(edit_links.event_for_token(store, secret, token) for token in [first, *tokens])


@pytest.mark.slow
def test_concurrent_requests_on_several_workers_each_bring_a_working_link(
    tmp_path: Path, data_dir: Path
) -> None:
    store = EventStore(data_dir)
    event, first = add_event(store, SECRET_KEY, title="Lights on the river")
    store.close()
    env = {
        **server_env(data_dir),
        "MAPAPP_RECOVER_RATE_LIMIT": "off",
        "MAPAPP_RECOVER_ADDRESS_RATE_LIMIT": "off",
    }
    answers: list[int] = []

    def ask(base_url: str) -> None:
        with requests.Session() as http:
            page = http.get(base_url + "/edit/recover", timeout=30).text
            data = {"csrf_token": hidden(page, "csrf_token"), "email": ADDRESS}
            answers.append(http.post(base_url + "/edit/recover", data=data, timeout=30).status_code)

    with held_port() as port, serving(data_dir, tmp_path / "serve.log", port, env=env) as (url, _):
        threads = [threading.Thread(target=ask, args=(url,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # The server's senders deliver each message as an .eml file (no SMTP server is set).
        deadline = time.monotonic() + 60
        while len(list((data_dir / "mail").glob("*.eml"))) < 8 and time.monotonic() < deadline:
            time.sleep(0.2)
        urls = [
            link
            for path in sorted((data_dir / "mail").glob("*.eml"))
            for link in re.findall(
                r"https?://[^\s/]+/edit/[A-Za-z0-9_.-]+",
                email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                .get_body(("plain",))
                .get_content(),  # type: ignore[union-attr]
            )
        ]
        statuses = {requests.get(url + path_of(u), timeout=30).status_code for u in urls}
        first_status = requests.get(f"{url}/edit/{first}", timeout=30).status_code

    assert answers == [200] * 8
    assert len(urls) == len(set(urls)) == 8
    assert statuses == {200} and first_status == 200
    assert len(edit_links.link_hashes(EventStore(data_dir).get(event["id"]) or {})) == 9


# Revoke my other links


def test_revoking_keeps_only_the_link_in_use(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    secret = app.config["SECRET_KEY"]
    event, mine = add_event(store, secret)
    others = [token for _, token in recovery.mint_links(store, secret, [event["id"]] * 1)]
    others += [token for _, token in recovery.mint_links(store, secret, [event["id"]])]
    page = client.get(f"/edit/{mine}").get_data(as_text=True)
    assert "Revoke my other links" in page
    form = {"csrf_token": hidden(page, "csrf_token"), "version": version_of(page)}

    response = client.post(f"/edit/{mine}/revoke", data=form)

    assert response.status_code == 303
    after = client.get(f"/edit/{mine}").get_data(as_text=True)
    assert "2 other edit links were revoked. This link keeps working." in html.unescape(after)
    assert [client.get(f"/edit/{token}").status_code for token in others] == [404, 404]
    assert edit_links.link_hashes(store.get(event["id"]) or {}) == [edit_links.only_link(mine)]
    entry = store.audit.frame().iloc[-1]
    assert (entry["who"], entry["action"]) == ("organiser", recovery.REVOKE_ACTION)
    again = {"csrf_token": hidden(after, "csrf_token"), "version": version_of(after)}
    client.post(f"/edit/{mine}/revoke", data=again)
    assert "This is your event's only edit link" in html.unescape(
        client.get(f"/edit/{mine}").get_data(as_text=True)
    )


def test_revoking_from_a_stale_page_revokes_nothing(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    secret = app.config["SECRET_KEY"]
    event, mine = add_event(store, secret)
    [(_, other)] = recovery.mint_links(store, secret, [event["id"]])
    page = client.get(f"/edit/{mine}").get_data(as_text=True)
    change(store, event["id"], {"description": "Changed by a coordinator meanwhile."})

    response = client.post(
        f"/edit/{mine}/revoke",
        data={"csrf_token": hidden(page, "csrf_token"), "version": version_of(page)},
    )

    assert response.status_code == 303
    assert "no link was revoked" in client.get(f"/edit/{mine}").get_data(as_text=True)
    assert client.get(f"/edit/{other}").status_code == 200


def test_revoking_without_the_form_token_or_with_a_bad_link_changes_nothing(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    event, mine = add_event(store, app.config["SECRET_KEY"])
    version = store.version

    no_token = client.post(f"/edit/{mine}/revoke", data={"version": event["version"]})
    bad_link = client.post("/edit/not-a-link/revoke", data={"version": event["version"]})

    assert no_token.status_code == 303 and bad_link.status_code == 404
    assert store.version == version


# The thank-you page and the ways to the recovery page


def test_the_thank_you_page_shows_the_link_again_and_says_a_copy_was_sent(
    client: FlaskClient,
) -> None:
    _, edit_url = submit_event(client)

    again = client.get("/submit/thanks")

    text = html.unescape(again.get_data(as_text=True))
    assert again.status_code == 200 and edit_url in text
    assert "We have also sent it to organiser@example.org" in text
    assert 'href="/edit/recover"' in text


def test_the_thank_you_page_sends_a_revoked_link_to_the_recovery_page(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    _, edit_url = submit_event(client)
    [event] = store.frame().to_dict("records")
    change(store, event["id"], {"edit_token_hash": ""})

    response = client.get("/submit/thanks")

    assert (response.status_code, response.headers["Location"]) == (302, "/edit/recover")
    assert client.get("/submit/thanks").headers["Location"] == "/submit"


@pytest.mark.parametrize("path", ["/submit", "/edit/not-a-real-link"])
def test_the_form_and_a_bad_edit_link_point_to_the_recovery_page(
    client: FlaskClient, path: str
) -> None:
    response = client.get(path)

    assert 'href="/edit/recover"' in response.get_data(as_text=True).split("<footer")[0]


def test_the_recovery_page_holds_no_referrer_and_no_cache(client: FlaskClient) -> None:
    response = client.get("/edit/recover")

    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_links_are_minted_after_the_answer_is_sent(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    # So the time the answer takes is the same whether or not the address has events
    # (measured against mapapp serve at 5,000 events: about 9 ms either way, where minting
    # and queueing in the request would add about 90 ms for an address with events).
    add_event(store, app.config["SECRET_KEY"])
    version = store.version
    page = client.get("/edit/recover").get_data(as_text=True)

    response = client.post(
        "/edit/recover", data={"csrf_token": hidden(page, "csrf_token"), "email": ADDRESS}
    )
    answered = response.get_data(as_text=True)

    assert SENT_TEXT in answered
    assert store.version == version and link_messages(app) == []
    response.close()  # what a server does once the answer is written
    assert store.version != version and len(link_messages(app)) == 1


def test_the_history_counts_edit_links_instead_of_showing_their_hashes(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event, _ = add_event(store, app.config["SECRET_KEY"])
    recovery.mint_links(store, app.config["SECRET_KEY"], [event["id"]])
    [stored_hash, new_hash] = edit_links.link_hashes(store.get(event["id"]) or {})

    for path in ("/admin/audit", f"/admin/events/{event['id']}/edit"):
        page = html.unescape(coordinator_client.get(path).get_data(as_text=True))
        assert "Edit links</strong>: “1 valid” → “2 valid”" in page, path
        assert stored_hash not in page and new_hash not in page, path


def test_withdrawn_and_erased_events_get_no_link(app: Flask, store: EventStore) -> None:
    secret = app.config["SECRET_KEY"]
    withdrawn, _ = add_event(store, secret, status="withdrawn")
    erased, _ = add_event(store, secret)
    kept, _ = add_event(store, secret)
    store.erase(erased["id"], who="coordinator")

    minted = recovery.mint_links(store, secret, [withdrawn["id"], erased["id"], kept["id"]])

    assert [event["id"] for event, _ in minted] == [kept["id"]]
