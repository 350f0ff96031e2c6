"""E-mails in the reader's language: the organiser's interface language stored with the event.

The catalogs are empty for now, so these tests check the mechanism: the language stored, and the
message rendered in it (Babel's dates and <html lang> follow it), English where none is named.
"""

from __future__ import annotations

import csv
import email
import email.policy
import html
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import coordinators, mail, notices
from mapapp.events import current_edition, edition_date
from mapapp.storage import EventStore
from mapapp.storage.event_store import FIELDS_BEFORE_LANGUAGES, STORED_FIELDS
from tests.conftest import COORDINATOR_PASSWORD, add_valid_event, make_event, make_submission

LINKS = notices.Links(
    event=lambda event_id, language: f"http://events.test/events/{event_id}",
    edit=lambda token, language: f"http://events.test/edit/{token}",
    home=lambda language: "http://events.test/",
)
DAY = edition_date(current_edition())  # in February: "février" in French


def hidden(page: str, name: str) -> str:
    """Return the value of a hidden input in a page."""
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


def submit_through(client: FlaskClient, prefix: str) -> None:
    """Submit an event through the form of a language's pages ("" for English, "/fr")."""
    page = client.get(f"{prefix}/submit").get_data(as_text=True)
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "started": hidden(page, "started"),
        **make_submission(),
        "consent": "y",
        "homepage": "",
    }
    preview = client.post(f"{prefix}/submit", data=data)
    assert preview.status_code == 200, preview.get_data(as_text=True)
    shown = preview.get_data(as_text=True)
    confirm = {
        "csrf_token": hidden(shown, "csrf_token"),
        "draft": hidden(shown, "draft"),
        "place": "0",
    }
    zone = re.search(r'type="hidden" id="timezone" name="timezone" value="([^"]*)"', shown)
    if zone:
        confirm["timezone"] = zone.group(1)
    response = client.post(f"{prefix}/submit/confirm", data=confirm)
    assert response.status_code == 303, response.get_data(as_text=True)


def sent(app: Flask, data_dir: Path, kind: str) -> list[EmailMessage]:
    """Send what is due (as .eml files) and return the messages of a kind, oldest first."""
    with app.app_context():
        mail.send_due()
        ids = [row["id"] for row in mail.queued() if row["kind"] == kind]
    return [
        email.message_from_bytes(
            (data_dir / "mail" / f"{outbox_id}.eml").read_bytes(), policy=email.policy.default
        )
        for outbox_id in ids
    ]  # type: ignore[misc]


def parts(message: EmailMessage) -> tuple[str, str]:
    """Return a message's plain text and HTML."""
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    return str(text.get_content()), str(page.get_content())


def only_event(store: EventStore) -> dict[str, str]:
    """Return the one event in the store."""
    [event] = store.frame().to_dict("records")
    return {str(name): str(value) for name, value in event.items()}


def test_an_organiser_submitting_in_french_gets_messages_in_french(
    app: Flask, client: FlaskClient, store: EventStore, data_dir: Path
) -> None:
    submit_through(client, "/fr")

    assert only_event(store)["interface_language"] == "fr"
    [message] = sent(app, data_dir, "submission_received")
    text, page = parts(message)
    assert message["Content-Language"] == "fr"
    assert '<html lang="fr" dir="ltr">' in page
    # Babel writes the date in French: "samedi 27 février 2027, 18:00".
    assert "février" in text and "février" in page
    assert "February" not in text


def test_an_organiser_submitting_in_english_gets_messages_in_english(
    app: Flask, client: FlaskClient, store: EventStore, data_dir: Path
) -> None:
    submit_through(client, "")

    assert only_event(store)["interface_language"] == "en"
    [message] = sent(app, data_dir, "submission_received")
    text, page = parts(message)
    assert message["Content-Language"] == "en"
    assert '<html lang="en" dir="ltr">' in page
    assert message["Subject"] == "We have received your event “Light up the town hall”"
    assert text.startswith("Hello Test organiser,\n\nThank you for adding your event")
    assert "February" in text and "(Europe/Paris, UTC+01:00)" in text
    assert "Where: Paris, France" in text


@pytest.mark.parametrize(
    ("posted", "stored"),
    [({"interface_language": "de"}, "de"), ({}, "en"), ({"interface_language": "en"}, "en")],
)
def test_a_partner_names_the_organisers_language_in_the_api(
    client: FlaskClient, store: EventStore, posted: dict[str, str], stored: str
) -> None:
    response = client.post("/api/events", json={**make_submission(), "consent": True, **posted})

    assert response.status_code == 201, response.get_json()
    assert only_event(store)["interface_language"] == stored


@pytest.mark.parametrize("language", ["xx", "FR", 3, None])
def test_an_unknown_interface_language_is_refused_by_the_api(
    client: FlaskClient, store: EventStore, language: Any
) -> None:
    body = {**make_submission(), "consent": True, "interface_language": language}

    response = client.post("/api/events", json=body)

    assert response.status_code == 422
    message = response.get_json()["errors"]["interface_language"]
    assert message.startswith("Interface language: give the code") and "fr, es" in message
    assert store.frame().empty


def test_the_api_description_names_the_interface_language(client: FlaskClient) -> None:
    description = client.get("/api/openapi.json").get_json()
    schemas = str(description["paths"])

    assert "interface_language" in schemas and "'zh'" in schemas


@pytest.mark.parametrize(
    ("language", "month", "direction"),
    [("fr", "février", "ltr"), ("ar", "فبراير", "rtl"), ("", "February", "ltr")],
)
def test_every_message_about_an_event_follows_its_stored_language(
    app: Flask, store: EventStore, data_dir: Path, language: str, month: str, direction: str
) -> None:
    event = add_valid_event(
        store, interface_language=language, starts_at=f"{DAY.isoformat()}T18:00", ends_at=""
    )
    with app.app_context():
        notices.approved(event, LINKS)
        notices.rejected(event, "Please give the address.", "TOKEN", LINKS)
        notices.withdrawn(event, LINKS)

    for kind in ("approved", "rejected", "withdrawn"):
        [message] = sent(app, data_dir, kind)
        text, page = parts(message)
        assert month in text, (kind, text)
        assert f'dir="{direction}"' in page
        assert message["Content-Language"] == (language or "en").replace("zh", "zh-Hans")


def test_an_imported_event_without_a_language_is_written_to_in_english(
    app: Flask, store: EventStore, data_dir: Path
) -> None:
    event = add_valid_event(store)  # as an import stores it: interface_language empty
    assert event["interface_language"] == ""
    with app.app_context():
        notices.approved(event, LINKS)

    [message] = sent(app, data_dir, "approved")
    assert message["Subject"] == f"Your event “{event['title']}” is on the map"
    assert message["Content-Language"] == "en"


def test_a_message_queued_before_languages_is_sent_in_english(app: Flask, data_dir: Path) -> None:
    context = {"reference": "ABC123", "title": "Old message", "starts_at": f"{DAY}T18:00"}
    with app.app_context():
        mail.queue("withdrawn", "organiser@example.org", context, event_id="ABC123")

    [message] = sent(app, data_dir, "withdrawn")
    text, _page = parts(message)
    assert message["Content-Language"] == "en"
    assert "February" in text and "Event: Old message" in text


def test_a_password_reset_asked_for_in_french_is_written_in_french(
    app: Flask, client: FlaskClient, data_dir: Path
) -> None:
    with app.app_context():
        coordinators.add_coordinator("nadia", COORDINATOR_PASSWORD, email="nadia@example.org")
    page = client.get("/fr/admin/reset").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, page
    response = client.post("/fr/admin/reset", data={"csrf_token": token.group(1), "name": "nadia"})
    response.close()  # the link is sent once the answer is closed

    with app.app_context():
        [row] = [row for row in mail.queued() if row["kind"] == "password_reset"]
    assert row["context"]["language"] == "fr"
    [message] = sent(app, data_dir, "password_reset")
    assert message["Content-Language"] == "fr"


def test_the_digest_is_written_in_english(app: Flask, data_dir: Path) -> None:
    item = {"title": "Marche", "country": "France", "status": "Pending review", "url": "http://e"}
    with app.app_context():
        notices.digest("c@example.org", "c", "2027-02-27", [item], "http://q", "digest-1")
        [row] = mail.queued()
    assert row["context"]["language"] == notices.DIGEST_LANGUAGE == "en"

    [message] = sent(app, data_dir, "digest")
    text, _page = parts(message)
    assert message["Subject"] == "New events waiting in your countries on 27 February 2027"
    assert "This event came in during the last day" in text
    assert "Marche (France, Pending review):" in text


def test_a_file_from_before_languages_gains_the_column_empty(data_dir: Path) -> None:
    event = {**make_event(id="oldevent"), "created_at": "2026-01-01T10:00:00Z"}
    with open(data_dir / "events.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(
            handle, (*FIELDS_BEFORE_LANGUAGES, "version"), extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerow({**event, "version": "3"})

    store = EventStore(data_dir)

    assert list(store.frame().columns) == list(STORED_FIELDS)
    stored = store.get("oldevent")
    assert stored is not None
    assert (stored["interface_language"], stored["version"]) == ("", "3")
    assert stored["title"] == event["title"]
    assert len(list((data_dir / "backups").iterdir())) == 1


def test_links_in_a_message_name_the_pages_in_its_language(
    app: Flask, client: FlaskClient, store: EventStore, data_dir: Path
) -> None:
    """An English-speaking coordinator approves a French organiser's event: the links are French."""
    from mapapp.web.links import links

    submit_through(client, "/fr")
    event = only_event(store)
    with app.test_request_context("/admin/"):  # the coordinator's page, in English
        notices.approved(event, links())
    [message] = sent(app, data_dir, "approved")
    text, page = parts(message)
    assert f"http://localhost/fr/events/{event['id']}" in text
    assert f'href="http://localhost/fr/events/{event["id"]}"' in page
    assert "http://localhost/fr/" in text  # the map too
