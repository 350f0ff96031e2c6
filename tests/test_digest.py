"""The coordinators' daily digest: new events in each opted-in account's scope, once a day."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from mapapp import coordinators, create_app, digest, mail
from mapapp.access import Scope
from mapapp.cli import cli
from mapapp.config import ConfigError
from mapapp.storage import EventStore
from tests.conftest import COORDINATOR_PASSWORD, add_valid_event
from tests.test_access import GERMAN

ADMIN = Scope.system("test")


def account(name: str, role: str, countries: str = "", *, wants: bool = True) -> None:
    """Add an account with an address, opted in to the digest unless told otherwise."""
    coordinators.add_coordinator(
        name, COORDINATOR_PASSWORD, role=role, countries=countries, email=f"{name}@example.org"
    )
    if wants:
        coordinators.update_account(name, {"digest": True}, ADMIN)


def digests(app: Flask) -> list[dict[str, Any]]:
    """Return the digest messages in the outbox."""
    with app.app_context():
        return [row for row in mail.queued() if row["kind"] == "digest"]


def test_each_opted_in_account_gets_the_new_events_of_its_scope(
    app: Flask, store: EventStore, data_dir: Path
) -> None:
    with app.app_context():
        french = add_valid_event(store, status="pending", title="Marche à Lyon")
        add_valid_event(store, status="pending", **GERMAN)
        account("nadia", "national", "FR")
        account("vera", "viewer")  # every country
        account("quiet", "admin", wants=False)
        account("away", "national", "FR")
        coordinators.update_account("away", {"active": False}, ADMIN)
        account("spain", "national", "ES")  # nothing new there
        assert digest.run(app) == 2
        mail.send_due()

    sent = {row["to"]: row for row in digests(app)}
    assert set(sent) == {"nadia@example.org", "vera@example.org"}
    titles = {to: [item["title"] for item in row["context"]["events"]] for to, row in sent.items()}
    assert titles["nadia@example.org"] == ["Marche à Lyon"]
    assert sorted(titles["vera@example.org"]) == [
        "Lichter für seltene Krankheiten",
        "Marche à Lyon",
    ]
    message = email.message_from_bytes(
        (data_dir / "mail" / f"{sent['nadia@example.org']['id']}.eml").read_bytes(),
        policy=email.policy.default,
    )
    assert message["Subject"].startswith("New events waiting in your countries on ")
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    body = str(text.get_content())
    assert "Marche à Lyon (France, Pending review):" in body
    assert f"http://localhost/admin/events/{french['id']}/edit" in body
    assert "The queue of events waiting for review: http://localhost/admin/" in body
    assert "Lichter" not in body


def test_running_the_digest_twice_a_day_queues_nothing_new(
    app: Flask, store: EventStore, runner: FlaskCliRunner
) -> None:
    with app.app_context():
        add_valid_event(store, status="pending")
        account("nadia", "national", "FR")
    first = runner.invoke(cli, ["mail", "digest"])
    again = runner.invoke(cli, ["mail", "digest"])
    assert first.output == "Queued 1 digest(s); `mapapp mail send` sends them.\n"
    assert again.exit_code == 0 and again.output.startswith("Queued 0 digest(s)")
    assert len(digests(app)) == 1


def test_events_older_than_a_day_are_not_in_the_digest(app: Flask, store: EventStore) -> None:
    with app.app_context():
        add_valid_event(store, status="pending")
        account("nadia", "national", "FR")
        later = datetime.now(UTC) + timedelta(days=1, minutes=1)
        assert digest.run(app, later) == 0
        tomorrow = datetime.now(UTC) + timedelta(hours=23)
        assert digest.run(app, tomorrow) == 1  # the next run, a day on: its own digest
    assert digests(app)[0]["id"] == digest.message_id("nadia", tomorrow.date())


def test_a_sender_runs_the_digest_once_a_day_from_its_hour() -> None:
    morning = datetime(2027, 2, 1, 6, 59, tzinfo=UTC)
    assert not digest.due(morning, 7, None)
    assert digest.due(morning + timedelta(minutes=1), 7, None)
    assert not digest.due(morning + timedelta(hours=5), 7, date(2027, 2, 1))
    assert digest.due(morning + timedelta(days=1, hours=1), 7, date(2027, 2, 1))


def test_a_digest_hour_outside_the_day_is_refused(app_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="MAPAPP_DIGEST_HOUR must be a whole hour from 0 to 23"):
        create_app({**app_config, "DIGEST_HOUR": 24})
