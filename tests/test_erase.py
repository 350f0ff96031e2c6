"""A coordinator's erase: the event and its personal data gone from every file the app keeps."""

from __future__ import annotations

import html
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from mapapp import mail, notices
from mapapp.cli import cli
from mapapp.storage import EventStore
from mapapp.storage.blobs import BlobStore
from mapapp.storage.event_store import ERASED
from mapapp.web.links import links
from tests.conftest import change
from tests.test_recovery import add_event, ask_for_links
from tests.test_submit import hidden

TITLE = "Candlelight vigil of the Zuberbühler family"
ORGANISER = "Annelies Zuberbühler"
EMAIL = "annelies.zuberbuehler@example.org"


def erasable(app: Flask, client: FlaskClient, store: EventStore) -> tuple[dict[str, str], str]:
    """Store an approved event with its personal data in every file the app keeps."""
    secret = app.config["SECRET_KEY"]
    fields = {"title": TITLE, "organiser": ORGANISER, "contact_email": EMAIL}
    event, token = add_event(store, secret, status="approved", **fields)
    add_event(store, secret, title="Someone else's walk", contact_email="walker@example.org")
    event = change(store, event["id"], {"description": f"Hosted by {ORGANISER}."})
    with app.test_request_context():
        notices.approved(event, links())  # a message about the event
    ask_for_links(client, EMAIL)  # and one with a new edit link
    assert TITLE in client.get("/events.csv").get_data(as_text=True)  # an export kept on disk
    return event, token


def files_holding(data_dir: Path, text: str) -> list[Path]:
    """Return every file of the data directory whose bytes hold the text."""
    return [
        path
        for path in sorted(data_dir.rglob("*"))
        if path.is_file() and text.encode() in path.read_bytes()
    ]


def erase_form(client: FlaskClient, event_id: str) -> dict[str, str]:
    """Return the confirmation page's form, confirmed."""
    page = client.get(f"/admin/events/{event_id}/erase").get_data(as_text=True)
    assert f'name="confirm" value="{event_id}"' in page
    return {"csrf_token": hidden(page, "csrf_token"), "confirm": event_id}


def test_the_confirmation_names_the_event_and_what_goes(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event, _ = add_event(store, app.config["SECRET_KEY"], title=TITLE, contact_email=EMAIL)
    edit_page = coordinator_client.get(f"/admin/events/{event['id']}/edit").get_data(as_text=True)
    assert f'href="/admin/events/{event["id"]}/erase"' in edit_page

    response = coordinator_client.get(f"/admin/events/{event['id']}/erase")

    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert f"Erase “{TITLE}”?" in text
    assert f"I understand that this erases “{TITLE}” ({event['id']}) for good." in text
    assert EMAIL in text
    assert response.headers["Cache-Control"] == "no-store"


def test_erase_removes_the_event_and_its_personal_data_from_every_file(
    app: Flask, client: FlaskClient, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event, token = erasable(app, client, store)
    data_dir = Path(app.config["DATA_DIR"])
    assert files_holding(data_dir, EMAIL)  # events, audit and outbox hold it before

    response = coordinator_client.post(
        f"/admin/events/{event['id']}/erase", data=erase_form(coordinator_client, event["id"])
    )

    assert (response.status_code, response.headers["Location"]) == (303, "/admin/events")
    flashed = html.unescape(coordinator_client.get("/admin/events").get_data(as_text=True))
    assert f"Erased “{TITLE}” ({event['id']}): the event, the values in its history, " in flashed
    assert "2 messages about it and 1 kept export file." in flashed
    for text in (TITLE, ORGANISER, EMAIL):
        assert files_holding(data_dir, text) == [], text
    # Only the audit log still names the id: who did what when, no values, and the erase.
    assert files_holding(data_dir, event["id"]) == [data_dir / "audit.csv"]
    entries = store.audit.frame()
    about = entries[entries["event_id"] == event["id"]]
    assert set(about["changes"]) == {ERASED}
    assert about.iloc[-1][["who", "action"]].tolist() == ["coordinator", "erase"]
    assert "Erased with its personal data" in coordinator_client.get("/admin/audit").get_data(
        as_text=True
    )
    with app.app_context():
        assert mail.queued() == []


def test_a_message_about_several_events_goes_with_any_of_them(
    app: Flask, client: FlaskClient, coordinator_client: FlaskClient, store: EventStore
) -> None:
    secret = app.config["SECRET_KEY"]
    event, _ = add_event(store, secret, title=TITLE, contact_email=EMAIL)
    sibling, _ = add_event(store, secret, title="Another event of the family", contact_email=EMAIL)
    ask_for_links(client, EMAIL)
    with app.app_context():
        [message] = mail.queued(sibling["id"])
        assert {item["reference"] for item in message["context"]["events"]} == {
            event["id"],
            sibling["id"],
        }

    coordinator_client.post(
        f"/admin/events/{event['id']}/erase", data=erase_form(coordinator_client, event["id"])
    )

    data_dir = Path(app.config["DATA_DIR"])
    assert files_holding(data_dir, TITLE) == []
    assert files_holding(data_dir, EMAIL) == [store.path]  # the sibling's own row, kept
    with app.app_context():
        assert mail.queued() == []


def test_an_erased_event_is_gone_from_its_page_its_link_and_every_export(
    app: Flask, client: FlaskClient, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event, token = erasable(app, client, store)
    coordinator_client.post(
        f"/admin/events/{event['id']}/erase", data=erase_form(coordinator_client, event["id"])
    )

    assert client.get(f"/events/{event['id']}").status_code == 404
    assert client.get(f"/events/{event['id']}.ics").status_code == 404
    assert client.get(f"/edit/{token}").status_code == 404
    export = client.get("/events.csv")
    # Rendered anew: the copy kept before the erase is not served, not even as a stale copy.
    assert export.headers["Cache-Status"] == "mapapp-exports; fwd=miss; stored"
    for path in ("/events.csv", "/events.json", "/events.geojson", "/api/events.geojson"):
        assert TITLE not in client.get(path).get_data(as_text=True), path
    assert "Someone else's walk" not in export.get_data(as_text=True)  # pending, never public


def test_erase_needs_the_confirmation_and_the_form_token(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event, _ = add_event(store, app.config["SECRET_KEY"], title=TITLE)
    form = erase_form(coordinator_client, event["id"])

    other, _ = add_event(store, app.config["SECRET_KEY"], title="Another event")
    url = f"/admin/events/{event['id']}/erase"
    unticked = coordinator_client.post(url, data={"csrf_token": form["csrf_token"]})
    for_another = coordinator_client.post(url, data={**form, "confirm": other["id"]})
    no_token = coordinator_client.post(url, data={"confirm": event["id"]})

    assert unticked.status_code == for_another.status_code == 422
    assert "Tick the box to confirm" in unticked.get_data(as_text=True)
    assert no_token.status_code == 400
    assert "The form expired" in no_token.get_data(as_text=True)
    assert store.get(event["id"]) is not None and store.get(other["id"]) is not None


def test_erase_is_for_coordinators_only_and_an_unknown_event_is_404(
    app: Flask, client: FlaskClient, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event, _ = add_event(store, app.config["SECRET_KEY"])
    anonymous = app.test_client()

    assert anonymous.get(f"/admin/events/{event['id']}/erase").status_code == 302
    assert anonymous.post(f"/admin/events/{event['id']}/erase").status_code == 302
    missing = coordinator_client.get("/admin/events/nosuchid/erase")
    assert missing.status_code == 404
    assert "There is no event with the id 'nosuchid'." in html.unescape(
        missing.get_data(as_text=True)
    )
    assert store.get(event["id"]) is not None


def test_copies_set_aside_by_the_store_are_named_to_the_coordinator(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event, _ = add_event(store, app.config["SECRET_KEY"], title=TITLE, contact_email=EMAIL)
    backups = Path(app.config["DATA_DIR"]) / "backups"
    backups.mkdir()
    (backups / "events-20270101T000000Z.csv").write_bytes(store.path.read_bytes())

    coordinator_client.post(
        f"/admin/events/{event['id']}/erase", data=erase_form(coordinator_client, event["id"])
    )

    page = html.unescape(coordinator_client.get("/admin/events").get_data(as_text=True))
    assert "Copies set aside by the store still hold this event" in page
    assert "backups/events-20270101T000000Z.csv" in page


def test_the_command_line_erases_after_asking(
    app: Flask, runner: FlaskCliRunner, store: EventStore
) -> None:
    event, _ = add_event(store, app.config["SECRET_KEY"], title=TITLE, contact_email=EMAIL)

    declined = runner.invoke(cli, args=["erase", event["id"]], input="n\n")
    assert declined.exit_code == 1 and store.get(event["id"]) is not None
    assert f"Erase “{TITLE}” ({event['id']}, pending) and its personal data for good?" in (
        declined.output
    )

    erased = runner.invoke(cli, args=["erase", event["id"], "--yes"])

    assert erased.exit_code == 0, erased.output
    assert f"Erased “{TITLE}” ({event['id']})" in erased.output
    assert store.get(event["id"]) is None
    assert EMAIL not in store.audit.path.read_text(encoding="utf-8-sig")
    again = runner.invoke(cli, args=["erase", event["id"], "--yes"])
    assert again.exit_code == 1
    assert f"There is no event with the id '{event['id']}'." in again.output


def test_discarding_exports_waits_for_a_render_in_flight(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "exports", max_bytes=1 << 20)
    blobs.put("csv-family", "v1", b"old copy").close()
    rendering = threading.Event()

    def render_from_data_read_before() -> None:
        with blobs.flight("csv-family"):
            rendering.set()
            time.sleep(0.3)
            blobs.put("csv-family", "v1", b"render of the data before the erase").close()

    thread = threading.Thread(target=render_from_data_read_before)
    thread.start()
    rendering.wait(5)
    removed = blobs.discard_all()
    thread.join()

    assert removed == 1
    assert blobs.latest("csv-family") is None
    assert not list((tmp_path / "exports").glob("*.blob"))


def test_no_audit_values_remain_in_the_history_shown_to_coordinators(
    app: Flask, client: FlaskClient, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event, _ = erasable(app, client, store)
    coordinator_client.post(
        f"/admin/events/{event['id']}/erase", data=erase_form(coordinator_client, event["id"])
    )

    coordinator_client.get("/admin/events")  # shows the flashed summary, which names it
    page: Any = coordinator_client.get("/admin/audit").get_data(as_text=True)
    assert event["id"] in page
    assert "Values erased with the event." in page
    assert not re.search(re.escape(ORGANISER) + "|" + re.escape(TITLE), html.unescape(page))


@pytest.fixture(autouse=True)
def _no_address_limit(app_config: dict[str, Any]) -> None:
    """Let each test ask for links as often as it needs (the limits are tested elsewhere)."""
    app_config.update(RECOVER_RATE_LIMIT="off", RECOVER_ADDRESS_RATE_LIMIT="off")
