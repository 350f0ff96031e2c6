"""E-mail: every message through a real SMTP server on 127.0.0.1, the outbox, .eml files, senders.

The kill tests run `mapapp mail send` as a real process and SIGKILL it while the server holds the
message at the chosen step.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask

from mapapp import mail, notices
from mapapp.cli import cli
from mapapp.events import UTC_TIME_FORMAT
from mapapp.storage import EventStore, get_table
from tests.conftest import add_valid_event, make_submission
from tests.servers import MAPAPP, held_port, self_signed_certificate, server_env
from tests.smtp_server import (
    PASSWORD,
    USER,
    Recorder,
    server_context,
    smtp_server,
)

LINKS = notices.Links(
    event=lambda event_id, language: f"http://events.test/events/{event_id}",
    edit=lambda token, language: f"http://events.test/edit/{token}",
    home=lambda language: "http://events.test/",
)
TITLE = "Café <Rare> & friends"


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    """Run a plain SMTP server for the test."""
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return a self-signed certificate and key for 127.0.0.1."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def configured(app_config: dict[str, Any], url: str, **settings: Any) -> Flask:
    """Return a test app sending through url, with any other settings."""
    from mapapp import create_app

    return create_app({**app_config, "SMTP_URL": url, "MAIL_SENDER": "off", **settings})


def send(app: Flask) -> mail.Counts:
    """Run one sender pass in the app."""
    with app.app_context():
        return mail.send_due()


def rows(app: Flask) -> list[dict[str, Any]]:
    """Return the outbox's rows."""
    with app.app_context():
        return mail.queued()


def parts(message: EmailMessage) -> tuple[str, str]:
    """Return a message's plain text and HTML."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return tuple(str(part.get_content()).replace("\r\n", "\n") for part in (text, html))  # type: ignore[return-value]


def queue_every_kind(app: Flask, store: EventStore) -> dict[str, str]:
    """Queue one message of each kind about one event; return each kind's outbox id."""
    with app.app_context():
        event = add_valid_event(store, title=TITLE, status="pending")
        ids = {
            "submission_received": notices.submission_received(event, "TOKEN-1", LINKS),
            "approved": notices.approved(event, LINKS),
            "rejected": notices.rejected(event, "Please give the\nvenue.", "TOKEN-2", LINKS),
            "change_received": notices.change_received(event, LINKS),
            "change_approved": notices.change_approved(event, LINKS),
            "change_rejected": notices.change_rejected(event, "Not this date.", "TOKEN-3", LINKS),
            "withdrawn": notices.withdrawn(event, LINKS),
            "edit_links": notices.edit_links(
                "organiser@example.org", [(event, "TOKEN-4"), (event, "TOKEN-5")], LINKS
            ),
            "contact_changed": notices.contact_changed(
                "old@example.org", {**event, "contact_email": "new@example.org"}, LINKS
            ),
        }
    assert set(ids) == set(mail.EVENT_KINDS)  # the account messages: tests/test_accounts.py
    return ids


# What each message must say, beyond its event's title and reference.
EXPECTED = {
    "submission_received": (
        "We have received your event “Café <Rare> & friends”",
        ["http://events.test/edit/TOKEN-1", "checks every event", "do not forward"],
    ),
    "approved": (
        "Your event “Café <Rare> & friends” is on the map",
        [
            "Join us at “Café <Rare> & friends” for Rare Disease Day: http://events.test/events/",
        ],
    ),
    "rejected": (
        "Your event “Café <Rare> & friends” was not published",
        ["Please give the\nvenue.", "http://events.test/edit/TOKEN-2", "review it again"],
    ),
    "change_received": (
        "We have received your change to “Café <Rare> & friends”",
        ["stays on the map as it was", "http://events.test/events/"],
    ),
    "change_approved": (
        "Your change to “Café <Rare> & friends” is published",
        ["approved your change", "http://events.test/events/"],
    ),
    "change_rejected": (
        "Your change to “Café <Rare> & friends” was not published",
        ["Not this date.", "http://events.test/edit/TOKEN-3", "stays on the map as it was"],
    ),
    "withdrawn": ("Your event “Café <Rare> & friends” is withdrawn", ["no longer appears"]),
    "edit_links": (
        "Your edit links for the Rare Disease Day events map",
        ["http://events.test/edit/TOKEN-4", "http://events.test/edit/TOKEN-5"],
    ),
    "contact_changed": (
        "The contact address of “Café <Rare> & friends” was changed",
        ["new@example.org", "If you did not"],
    ),
}


def test_every_kind_arrives_as_plain_text_and_html(
    app_config: dict[str, Any], smtp: tuple[Recorder, int], store: EventStore
) -> None:
    server, port = smtp
    app = configured(app_config, f"smtp://127.0.0.1:{port}", CONTACT_EMAIL="help@example.org")
    ids = queue_every_kind(app, store)

    counts = send(app)

    assert (counts.sent, counts.retrying, counts.failed, counts.waiting) == (9, 0, 0, 0)
    received = {message["Message-ID"]: message for message in server.wait_for(9)}
    stored = {row["id"]: row for row in rows(app)}
    for kind, outbox_id in ids.items():
        row = stored[outbox_id]
        assert row["status"] == "sent" and row["attempts"] == "1" and row["sent_at"]
        message = received[row["message_id"]]
        subject, phrases = EXPECTED[kind]
        assert message["Subject"] == subject
        assert message["To"] == row["to"]
        assert message["From"] == "Rare Disease Day events <events@localhost>"
        assert message["Reply-To"] == "help@example.org"
        assert message.get_content_type() == "multipart/alternative"
        text, html = parts(message)
        assert "Café <Rare> & friends" in text  # plain text is not escaped
        assert "Café &lt;Rare&gt; &amp; friends" in html and "<Rare>" not in html
        assert "help@example.org" in text and "help@example.org" in html
        for phrase in phrases:
            assert phrase in text, (kind, phrase)
        if kind != "edit_links":
            assert row["event_id"] in text
        # Sent, the row keeps no edit link (only their hashes are stored with events).
        assert "edit_url" not in row["context"]
        assert "/edit/" not in str(row["context"])
    assert received[stored[ids["contact_changed"]]["message_id"]]["To"] == "old@example.org"


def test_the_edit_link_in_the_message_opens_the_edit_page(
    app_config: dict[str, Any], smtp: tuple[Recorder, int]
) -> None:
    server, port = smtp
    app = configured(app_config, f"smtp://127.0.0.1:{port}")
    client = app.test_client()
    response = client.post("/api/events", json={**make_submission(), "consent": True})
    assert response.status_code == 201, response.get_json()

    send(app)

    [message] = server.wait_for(1)
    text, html = parts(message)
    reference = response.get_json()["id"]
    assert f"Reference: {reference}" in text
    [link] = re.findall(r"http://localhost/edit/\S+", text)
    assert link == response.get_json()["edit_url"]
    assert f'href="{link}"' in html
    page = client.get(urlsplit(link).path)
    assert page.status_code == 200
    assert "Light up the town hall" in page.get_data(as_text=True)


def test_with_the_server_down_messages_wait_and_go_once_it_is_back(
    app_config: dict[str, Any], store: EventStore
) -> None:
    with held_port() as port:
        app = configured(app_config, f"smtp://127.0.0.1:{port}", MAIL_RETRY_SECONDS=0.0)
        with app.app_context():
            event = add_valid_event(store)
            first = notices.approved(event, LINKS)
            second = notices.withdrawn(event, LINKS)

        counts = send(app)

        assert (counts.sent, counts.retrying, counts.waiting) == (0, 2, 2)
        for row in rows(app):
            assert (row["status"], row["attempts"]) == ("queued", "1")
            assert f"Could not reach 127.0.0.1:{port}" in row["last_error"]
            assert "refused" in row["last_error"].lower()
        with smtp_server(port) as (server, _):
            counts = send(app)
            received = server.wait_for(2)

    assert (counts.sent, counts.retrying, counts.waiting) == (2, 0, 0)
    by_id = {row["id"]: row for row in rows(app)}
    assert [message["Message-ID"] for message in received] == [
        by_id[first]["message_id"],
        by_id[second]["message_id"],
    ]
    assert {(row["status"], row["attempts"], row["last_error"]) for row in by_id.values()} == {
        ("sent", "2", "")
    }


def test_retries_back_off_then_the_message_fails_and_stays_listed(
    app_config: dict[str, Any], store: EventStore
) -> None:
    with held_port() as port:
        app = configured(
            app_config, f"smtp://127.0.0.1:{port}", MAIL_RETRY_SECONDS=60.0, MAIL_MAX_ATTEMPTS=2
        )
        with app.app_context():
            notices.approved(add_valid_event(store), LINKS)
        assert send(app).retrying == 1
        [row] = rows(app)
        waits = datetime.strptime(row["next_attempt_at"], UTC_TIME_FORMAT).replace(tzinfo=UTC)
        assert timedelta(seconds=55) < waits - datetime.now(UTC) <= timedelta(seconds=61)
        assert send(app).sent == 0  # not due yet: nothing tried
        with app.app_context():  # as if the minute had passed
            get_table(mail.OUTBOX_FILE).change_rows(lambda _: {row["id"]: {"next_attempt_at": ""}})
        counts = send(app)

    assert (counts.failed, counts.waiting) == (1, 0)
    [row] = rows(app)
    assert (row["status"], row["attempts"]) == ("failed", "2")
    listed = app.test_cli_runner().invoke(cli, ["mail", "list"])
    assert listed.exit_code == 0
    assert f"{row['id']}  approved  organiser@example.org  failed  attempts 2" in listed.output
    assert "Could not reach" in listed.output


def test_a_recipient_refused_for_good_fails_at_once(
    app_config: dict[str, Any], smtp: tuple[Recorder, int], store: EventStore
) -> None:
    server, port = smtp
    server.refused.add("nobody@example.org")
    app = configured(app_config, f"smtp://127.0.0.1:{port}")
    with app.app_context():
        notices.approved(add_valid_event(store, contact_email="nobody@example.org"), LINKS)
        notices.approved(add_valid_event(store, title="Another walk"), LINKS)

    counts = send(app)

    assert (counts.sent, counts.failed) == (1, 1)
    failed = [row for row in rows(app) if row["status"] == "failed"]
    assert [row["to"] for row in failed] == ["nobody@example.org"]
    assert failed[0]["last_error"] == "The server answered 550 5.1.1 No such mailbox here"
    assert len(server.messages) == 1


def test_starttls_with_a_url_encoded_password(
    app_config: dict[str, Any], store: EventStore, certificate: tuple[Path, Path]
) -> None:
    context = server_context(*certificate)
    with smtp_server(starttls=context, auth=True) as (server, port):
        url = f"smtp://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}"
        untrusted = configured(app_config, url)
        with untrusted.app_context():
            notices.approved(add_valid_event(store), LINKS)
        assert send(untrusted).retrying == 1  # the system's CAs do not know this certificate
        assert "CERTIFICATE_VERIFY_FAILED" in rows(untrusted)[0]["last_error"]
        assert server.logins == []  # the password never left before the server was trusted

        trusted = configured(
            app_config, url, SMTP_CA_FILE=str(certificate[0]), MAIL_RETRY_SECONDS=0.0
        )
        with trusted.app_context():
            get_table(mail.OUTBOX_FILE).change_rows(
                lambda frame: {key: {"next_attempt_at": ""} for key in frame["id"]}
            )
        assert send(trusted).sent == 1

    assert server.logins == [(USER, PASSWORD)]
    assert server.tls == [True]
    assert len(server.messages) == 1


def test_smtps_with_implicit_tls(
    app_config: dict[str, Any], store: EventStore, certificate: tuple[Path, Path]
) -> None:
    with smtp_server(implicit_tls=server_context(*certificate), auth=True) as (server, port):
        url = f"smtps://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}"
        app = configured(app_config, url, SMTP_CA_FILE=str(certificate[0]))
        with app.app_context():
            notices.approved(add_valid_event(store), LINKS)
        assert send(app).sent == 1

    assert server.logins == [(USER, PASSWORD)]
    assert len(server.messages) == 1


def test_no_password_is_sent_to_a_server_without_starttls(
    app_config: dict[str, Any], smtp: tuple[Recorder, int], store: EventStore
) -> None:
    server, port = smtp
    app = configured(app_config, f"smtp://user:secret@127.0.0.1:{port}")
    with app.app_context():
        notices.approved(add_valid_event(store), LINKS)

    assert send(app).retrying == 1

    [row] = rows(app)
    assert row["status"] == "queued"
    assert "does not offer STARTTLS, so the password was not sent" in row["last_error"]
    assert server.messages == [] and server.logins == []


def test_headers_cannot_be_injected(
    app_config: dict[str, Any], smtp: tuple[Recorder, int], store: EventStore
) -> None:
    server, port = smtp
    app = configured(app_config, f"smtp://127.0.0.1:{port}")
    with app.app_context():
        with pytest.raises(ValueError, match="Not an e-mail address"):
            mail.queue("approved", "a@example.org\r\nBcc: evil@example.org", {"title": "x"})
        title = mail.queue("approved", "a@example.org", {"title": "x\r\nBcc: evil@example.org"})
        recipient = mail.queue("approved", "b@example.org", {"title": "y"})
        # As if outbox.csv had been edited by hand.
        get_table(mail.OUTBOX_FILE).change_rows(
            lambda _: {recipient: {"to": "b@example.org\nBcc: evil@example.org"}}
        )

    counts = send(app)

    # A title's line breaks (CR, LF, U+2028...) become spaces in the subject: one header, sent.
    assert (counts.sent, counts.failed) == (1, 1)
    errors = {row["id"]: row["last_error"] for row in rows(app)}
    assert errors[title] == ""
    assert "Not one e-mail address" in errors[recipient] or "linefeed" in errors[recipient]
    [message] = server.messages
    assert message["To"] == "a@example.org" and message["Bcc"] is None
    assert "\n" not in message["Subject"] and "x Bcc: evil@example.org" in message["Subject"]


def test_unconfigured_messages_are_eml_files_that_forget_removes(
    app: Flask, store: EventStore, data_dir: Path
) -> None:
    with app.app_context():
        event = add_valid_event(store, title=TITLE)
        other = add_valid_event(store, title="Another walk")
        notices.submission_received(event, "TOKEN-1", LINKS)
        notices.approved(other, LINKS)
        counts = mail.send_due()
        [row, other_row] = mail.queued()

    assert counts.sent == 2
    path = data_dir / "mail" / f"{row['id']}.eml"
    assert sorted(p.name for p in (data_dir / "mail").iterdir()) == sorted(
        [path.name, f"{other_row['id']}.eml"]
    )
    assert path.stat().st_mode & 0o777 == 0o600
    message = message_from_bytes(path.read_bytes(), policy=default)
    assert message["Message-ID"] == row["message_id"]
    assert message["To"] == "organiser@example.org"
    text, _html = parts(message)  # type: ignore[arg-type]
    assert "http://events.test/edit/TOKEN-1" in text

    with app.app_context():
        assert mail.forget(event["id"]) == 1
        assert [remaining["id"] for remaining in mail.queued()] == [other_row["id"]]
    assert not path.exists()
    assert (data_dir / "mail" / f"{other_row['id']}.eml").exists()


def test_sent_messages_and_eml_files_go_after_the_retention(
    app: Flask, runner: Any, store: EventStore, data_dir: Path
) -> None:
    with app.app_context():
        old = notices.approved(add_valid_event(store), LINKS)
        recent = notices.approved(add_valid_event(store, title="Another walk"), LINKS)
        failed = mail.queue("approved", "c@example.org", {"title": "x"})
        waiting = mail.queue("approved", "d@example.org", {"title": "later"})
        table = get_table(mail.OUTBOX_FILE)
        table.change_rows(
            lambda _: {
                waiting: {"next_attempt_at": "2999-01-01T00:00:00Z"},
                failed: {"to": "c@example.org\nBcc: e@example.org"},  # fails for good
            }
        )
        mail.send_due()
        long_ago = (datetime.now(UTC) - timedelta(days=91)).strftime(UTC_TIME_FORMAT)
        table.change_rows(
            lambda _: {
                old: {"sent_at": long_ago},
                failed: {"created_at": long_ago},
                waiting: {"created_at": long_ago},
            }
        )
    old_file = data_dir / "mail" / f"{old}.eml"
    stamp = time.time() - 91 * 86400
    os.utime(old_file, (stamp, stamp))
    stray = data_dir / "mail" / "leftover.eml"  # a file whose row is gone
    stray.write_bytes(b"Subject: old\r\n\r\nold\r\n")
    os.utime(stray, (stamp, stamp))

    result = runner.invoke(cli, ["mail", "send"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "Sent: 0. To try again later: 0. Failed: 0. Still waiting in the outbox: 1. "
        "Removed after the retention period: 2."
    )
    with app.app_context():
        assert {row["id"] for row in mail.queued()} == {recent, waiting}
    assert sorted(p.name for p in (data_dir / "mail").iterdir()) == [f"{recent}.eml"]


# Real processes


def mail_env(data_dir: Path, port: int, **settings: str) -> dict[str, str]:
    """Return the environment of a `mapapp mail` process sending to 127.0.0.1:port."""
    return {
        **server_env(data_dir),
        "MAPAPP_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAPAPP_MAIL_LEASE_SECONDS": "1",
        **{f"MAPAPP_{name}": value for name, value in settings.items()},
    }


def mail_command(command: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start `mapapp mail <command>`."""
    return subprocess.Popen(
        [str(MAPAPP), "mail", command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def send_once(env: dict[str, str]) -> str:
    """Run `mapapp mail send` to its end and return what it printed."""
    result = subprocess.run(
        [str(MAPAPP), "mail", "send"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("hold_at", "copies"),
    [("rcpt", 1), ("data", 2)],
    ids=["killed-before-data-delivers-once", "killed-after-acceptance-at-most-one-duplicate"],
)
def test_a_sender_killed_mid_message_delivers_after_a_restart(
    app: Flask, store: EventStore, data_dir: Path, hold_at: str, copies: int
) -> None:
    with app.app_context():
        notices.approved(add_valid_event(store), LINKS)
        [row] = mail.queued()
    recorder = Recorder()
    recorder.hold_at = hold_at
    with smtp_server(recorder=recorder) as (server, port):
        env = mail_env(data_dir, port)
        sender = mail_command("send", env)
        assert server.reached.wait(60), sender.communicate(timeout=5)[0]
        sender.send_signal(signal.SIGKILL)
        sender.communicate(timeout=10)
        server.release.set()
        with app.app_context():
            [claimed] = mail.queued()
        assert (claimed["status"], claimed["attempts"]) == ("sending", "1")
        time.sleep(2.2)  # the dead sender's one-second lease runs out
        output = send_once(env)
        received = server.wait_for(copies)
        time.sleep(0.3)  # any extra copy would have arrived by now

    assert output.startswith("Sent: 1.")
    assert len(server.messages) == copies
    assert {message["Message-ID"] for message in received} == {row["message_id"]}
    with app.app_context():
        [done] = mail.queued()
    assert (done["status"], done["attempts"]) == ("sent", "2")


@pytest.mark.slow
def test_concurrent_senders_deliver_each_message_once(
    app: Flask, store: EventStore, data_dir: Path
) -> None:
    with app.app_context():
        event = add_valid_event(store)
        expected = {
            mail.queue("approved", f"organiser{number}@example.org", {"title": f"Walk {number}"})
            for number in range(24)
        }
        message_ids = {row["message_id"] for row in mail.queued()}
    assert len(expected) == len(message_ids) == 24 and event
    with smtp_server() as (server, port):
        env = mail_env(data_dir, port, MAIL_LEASE_SECONDS="300")
        senders = [mail_command("send", env) for _ in range(3)]
        outputs = [sender.communicate(timeout=120)[0] for sender in senders]
        received = server.wait_for(24)
        time.sleep(0.3)

    assert all(sender.returncode == 0 for sender in senders), outputs
    sent = [int(re.match(r"Sent: (\d+)\.", output).group(1)) for output in outputs]  # type: ignore[union-attr]
    assert sum(sent) == 24
    assert sorted(message["Message-ID"] for message in received) == sorted(message_ids)
    with app.app_context():
        assert {row["status"] for row in mail.queued()} == {"sent"}


@pytest.mark.slow
def test_the_worker_sends_as_messages_come_and_stops_on_sigterm(
    app: Flask, store: EventStore, data_dir: Path
) -> None:
    with smtp_server() as (server, port):
        worker = mail_command("worker", mail_env(data_dir, port, MAIL_POLL_SECONDS="0.2"))
        try:
            with app.app_context():
                notices.approved(add_valid_event(store), LINKS)
            [message] = server.wait_for(1)
            with app.app_context():
                notices.withdrawn(add_valid_event(store, title="Another walk"), LINKS)
            assert len(server.wait_for(2)) == 2
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=30)[0]

    assert worker.returncode == 0, output
    assert "the mail sender stopped" in output
    assert message["Subject"] == "Your event “Light up the town hall” is on the map"


@pytest.mark.slow
def test_mapapp_serve_sends_what_its_workers_queue(data_dir: Path, tmp_path: Path) -> None:
    from tests.servers import serving

    with smtp_server() as (server, smtp_port), held_port() as port:
        env = mail_env(data_dir, smtp_port, MAIL_POLL_SECONDS="0.5")
        with serving(data_dir, tmp_path / "serve.log", port, workers=2, env=env) as (url, _):
            import requests

            response = requests.post(
                f"{url}/api/events", json={**make_submission(), "consent": True}, timeout=30
            )
            assert response.status_code == 201, response.text
            [message] = server.wait_for(1)

    text, _html = parts(message)
    assert response.json()["edit_url"] in text
    assert len(server.messages) == 1


def test_bad_mail_settings_are_refused_with_a_clear_message(app_config: dict[str, Any]) -> None:
    from mapapp.config import ConfigError

    with pytest.raises(ConfigError, match="MAPAPP_SMTP_URL must look like smtp://"):
        configured(app_config, "http://mail.example.org")
    with pytest.raises(ConfigError, match="MAPAPP_MAIL_FROM must be an address"):
        configured(app_config, "", MAIL_FROM="events team")
    with pytest.raises(ConfigError, match=r"smtp://u:\*\*\*@"):
        configured(app_config, "smtp://u:secret@mail.example.org:x")
    with pytest.raises(ConfigError, match="MAPAPP_MAIL_SENDER must be server or off"):
        configured(app_config, "", MAIL_SENDER="sometimes")


def test_a_claim_that_ran_out_on_the_last_attempt_is_given_up(
    app_config: dict[str, Any], smtp: tuple[Recorder, int]
) -> None:
    server, port = smtp
    app = configured(app_config, f"smtp://127.0.0.1:{port}", MAIL_MAX_ATTEMPTS=1)
    with app.app_context():
        dead = mail.queue("approved", "a@example.org", {"title": "x"})
        alive = mail.queue("approved", "b@example.org", {"title": "y"})
        # As a sender killed during the last attempt leaves it, its lease run out.
        get_table(mail.OUTBOX_FILE).change_rows(
            lambda _: {
                dead: {
                    "status": "sending",
                    "attempts": "1",
                    "next_attempt_at": "2000-01-01T00:00:00Z",
                }
            }
        )

    counts = send(app)

    assert (counts.sent, counts.failed) == (1, 1)
    states = {row["id"]: (row["status"], row["last_error"]) for row in rows(app)}
    assert states == {
        dead: ("failed", "The sender stopped during the last attempt."),
        alive: ("sent", ""),
    }
    assert [message["To"] for message in server.wait_for(1)] == ["b@example.org"]


def test_mail_send_on_a_damaged_outbox_says_so_and_sends_nothing(
    app: Flask, runner: Any, data_dir: Path
) -> None:
    (data_dir / "outbox.csv").write_text("not,the,outbox\r\n1,2,3\r\n", encoding="utf-8")

    result = runner.invoke(cli, ["mail", "send"])

    assert result.exit_code == 1
    assert "The outbox cannot be used now, nothing was sent:" in result.output
    assert "outbox.csv" in result.output
    assert not (data_dir / "mail").exists()


@pytest.mark.slow
def test_mapapp_run_writes_eml_files_offline(data_dir: Path, server_port: int) -> None:
    import requests

    from tests.servers import wait_until_up

    with subprocess.Popen(
        [str(MAPAPP), "run", "--host", "127.0.0.1", "--port", str(server_port)],
        env=server_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as server:
        try:
            base_url = f"http://127.0.0.1:{server_port}"
            wait_until_up(base_url, server)  # type: ignore[arg-type]
            response = requests.post(
                f"{base_url}/api/events", json={**make_submission(), "consent": True}, timeout=30
            )
            assert response.status_code == 201, response.text
            deadline = time.monotonic() + 30
            while not list((data_dir / "mail").glob("*.eml")) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            server.terminate()
            server.wait(timeout=30)

    [path] = (data_dir / "mail").glob("*.eml")
    message = message_from_bytes(path.read_bytes(), policy=default)
    text, _html = parts(message)  # type: ignore[arg-type]
    assert response.json()["edit_url"] in text
