"""One-time drafts: a confirmed draft and its signed start time count once; previews are limited."""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer

from mapapp import create_app, drafts, submissions
from mapapp.storage import EventStore, get_table
from tests.conftest import make_submission
from tests.serve_clients import HTTP_TIMEOUT, find_form, read_store
from tests.servers import server_env, serving
from tests.test_submit import confirm, form_data, hidden, post_details

ALREADY = "This event was already submitted"
ONLINE = {"format": "online", "city": "", "country": "KE", "title": "Webinar for Rare"}
CLIENTS = 6
SERVE_WORKERS = 3


def test_a_draft_confirmed_twice_stores_one_event(client: FlaskClient, store: EventStore) -> None:
    preview = post_details(client, **ONLINE).get_data(as_text=True)
    first = confirm(client, preview)
    second = confirm(client, preview)
    assert first.status_code == 303
    assert second.status_code == 409
    page = second.get_data(as_text=True)
    assert f'<h1 id="used-title" tabindex="-1">{ALREADY}</h1>' in page
    assert html.escape(submissions.ALREADY_SUBMITTED_MESSAGE, quote=False) in page
    assert len(store) == 1


def test_a_confirmation_that_finds_its_own_event_stored_meanwhile_is_already_submitted(
    client: FlaskClient, store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two confirmations at once: the second checked the draft before the first used it up, and
    # then finds the first's event as a "duplicate" (seen once in six clients under load).
    preview = post_details(client, **ONLINE).get_data(as_text=True)
    assert confirm(client, preview).status_code == 303
    real_is_used = drafts.is_used
    calls = []

    def is_used(draft_id: str) -> bool:
        calls.append(draft_id)
        return False if len(calls) == 1 else real_is_used(draft_id)  # the first check: too early

    monkeypatch.setattr(drafts, "is_used", is_used)

    second = confirm(client, preview)

    assert second.status_code == 409
    assert ALREADY in second.get_data(as_text=True)
    assert len(store) == 1


def test_two_previews_of_one_form_store_one_event(client: FlaskClient, store: EventStore) -> None:
    page = client.get("/submit").get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "started": hidden(page, "started")}
    previews = [
        client.post("/submit", data={**data, **form_data(**{**ONLINE, "title": title})})
        for title in ("Webinar one", "Webinar two")  # changed after a first preview
    ]
    assert [preview.status_code for preview in previews] == [200, 200]
    answers = [confirm(client, preview.get_data(as_text=True)) for preview in previews]
    assert [answer.status_code for answer in answers] == [303, 409]
    assert store.frame()["title"].tolist() == ["Webinar one"]


def test_a_start_time_once_used_cannot_preview_again(
    client: FlaskClient, store: EventStore
) -> None:
    page = client.get("/submit").get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "started": hidden(page, "started")}
    preview = client.post("/submit", data={**data, **form_data(**ONLINE)})
    assert confirm(client, preview.get_data(as_text=True)).status_code == 303
    again = client.post("/submit", data={**data, **form_data(**{**ONLINE, "title": "Another one"})})
    assert again.status_code == 409
    assert ALREADY in again.get_data(as_text=True)
    assert 'name="draft"' not in again.get_data(as_text=True)  # no preview, nothing to confirm
    assert len(store) == 1


def test_a_second_confirmation_with_other_choices_is_refused_too(
    client: FlaskClient, store: EventStore
) -> None:
    preview = post_details(client).get_data(as_text=True)  # Paris, in person
    assert confirm(client, preview).status_code == 303
    moved = confirm(client, preview, latitude="not a number", longitude="2.35")
    assert moved.status_code == 409  # not a preview with errors to correct and send again
    assert len(store) == 1


def test_a_start_time_without_a_draft_id_is_refused(client: FlaskClient, store: EventStore) -> None:
    page = client.get("/submit").get_data(as_text=True)
    old_stamp = URLSafeSerializer("test-secret-key", salt=submissions.STARTED_SALT).dumps(1.0)
    data = {"csrf_token": hidden(page, "csrf_token"), "started": old_stamp, **form_data()}
    response = client.post("/submit", data=data)
    assert response.status_code == 422
    assert "This form has expired or was changed" in response.get_data(as_text=True)
    assert len(store) == 0


def test_a_draft_signed_without_an_id_is_out_of_date(
    client: FlaskClient, store: EventStore
) -> None:
    from itsdangerous import URLSafeTimedSerializer

    preview = post_details(client, **ONLINE).get_data(as_text=True)
    payload = URLSafeTimedSerializer("test-secret-key", salt=submissions.DRAFT_SALT).loads(
        hidden(preview, "draft")
    )
    del payload["draft_id"]
    old = URLSafeTimedSerializer("test-secret-key", salt=submissions.DRAFT_SALT).dumps(payload)
    data = {"csrf_token": hidden(preview, "csrf_token"), "draft": old, "place": "0"}
    response = client.post("/submit/confirm", data=data)
    assert response.status_code == 400
    assert "This preview is out of date: please fill the form again." in response.get_data(
        as_text=True
    )
    assert len(store) == 0


def test_used_ids_are_purged_once_enough_have_expired(app: Flask) -> None:
    with app.app_context():
        for number in range(drafts.PURGE_BATCH - 1):
            assert drafts.use(f"old-{number}", 10, now=1000.0)
        assert drafts.use("fresh", 3600, now=2000.0)  # 99 expired: kept until a batch is due
        assert len(get_table(drafts.DRAFTS_FILE)) == drafts.PURGE_BATCH
        assert drafts.use("old-last", 10, now=1000.0)  # expired at once, for the test
        assert drafts.use("newer", 3600, now=2000.0)  # 100 expired: cut in one rewrite
        assert sorted(get_table(drafts.DRAFTS_FILE).frame()["draft_id"]) == ["fresh", "newer"]
        assert not drafts.use("fresh", 3600, now=2000.0)


def test_the_preview_step_is_rate_limited(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "PREVIEW_RATE_LIMIT": "2 per hour"})
    client = app.test_client()
    statuses = [post_details(client, **ONLINE).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert len(app.extensions["mapapp.store"]) == 0


def test_previews_and_submissions_count_apart(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "PREVIEW_RATE_LIMIT": "3 per hour"})
    client = app.test_client()
    previews = [post_details(client, **{**ONLINE, "title": f"Webinar {n}"}) for n in range(3)]
    answers = [
        confirm(client, preview.get_data(as_text=True), submit_anyway="y") for preview in previews
    ]
    assert [answer.status_code for answer in answers] == [303, 303, 303]
    assert post_details(client, **ONLINE).status_code == 429


# Through `mapapp serve --workers 3`


def test_six_clients_confirming_one_draft_at_once_store_one_event(
    tmp_path: Path, server_port: int
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {
        **server_env(data_dir),
        "MAPAPP_SUBMIT_MIN_SECONDS": "0",
        "MAPAPP_PREVIEW_RATE_LIMIT": "off",
        "MAPAPP_EDIT_RATE_LIMIT": "off",
    }
    serve_log = data_dir / "serve.log"
    with serving(data_dir, serve_log, server_port, SERVE_WORKERS, env) as (base_url, _server):
        with requests.Session() as organiser:
            page = organiser.get(base_url + "/submit", timeout=HTTP_TIMEOUT).text
            form = find_form(page, "/submit")
            assert form is not None
            details = {**form.values(), **make_submission(**ONLINE), "consent": "y"}
            preview = organiser.post(base_url + "/submit", data=details, timeout=HTTP_TIMEOUT)
            assert preview.status_code == 200, preview.text
            confirm_form = find_form(preview.text, "/submit/confirm")
            assert confirm_form is not None
            draft = confirm_form.values()["draft"]

        # Each client has a session and CSRF token of its own; all send the one signed draft.
        sessions = [requests.Session() for _ in range(CLIENTS)]
        tokens = []
        for http in sessions:
            own = find_form(http.get(base_url + "/submit", timeout=HTTP_TIMEOUT).text, "/submit")
            assert own is not None
            tokens.append(own.values()["csrf_token"])
        barrier = threading.Barrier(CLIENTS)
        answers: list[requests.Response | BaseException] = [RuntimeError("no answer")] * CLIENTS

        def send(number: int) -> None:
            data = {"csrf_token": tokens[number], "draft": draft, "place": "0"}
            barrier.wait()
            try:
                answers[number] = sessions[number].post(
                    base_url + "/submit/confirm",
                    data=data,
                    timeout=HTTP_TIMEOUT,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                answers[number] = exc

        threads = [threading.Thread(target=send, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for http in sessions:
            http.close()

    log = (data_dir / "serve.log").read_text(errors="replace")[-3000:]
    responses = [answer for answer in answers if isinstance(answer, requests.Response)]
    assert len(responses) == CLIENTS, (answers, log)
    statuses = sorted(response.status_code for response in responses)
    odd = [
        response.text[-1500:] for response in responses if response.status_code not in (303, 409)
    ]
    assert statuses == [303] + [409] * (CLIENTS - 1), (statuses, odd, log)
    for response in responses:
        if response.status_code == 409:
            assert ALREADY in response.text
    events, entries = read_store(data_dir)
    assert [event["title"] for event in events.values()] == [ONLINE["title"]]
    assert [entry["action"] for entry in entries] == ["submit"]
    used = (data_dir / drafts.DRAFTS_FILE).read_text(encoding="utf-8-sig").splitlines()
    assert len(used) == 2  # the header and the one draft
