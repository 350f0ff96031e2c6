"""The app on PostgreSQL: key tests of the web and CLI modules, run again with MAPAPP_DATABASE_URL.

Each test below is the same function as in its own module (submitting, editing through an edit
link, approving, the outbox, signing in and sessions, API keys, imports, erasing); only the
app's configuration differs: its tables are in the test's own PostgreSQL schema. Tests that look
at the CSV files themselves stay with the CSV store alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from mapapp.storage import get_store_of

KEY_TESTS = {
    "test_submit": [
        "test_a_likely_duplicate_is_shown_and_can_be_submitted_anyway",
        "test_the_edit_link_edits_a_rejected_event_and_sends_it_back_to_review",
        "test_the_edit_link_withdraws",
        "test_an_edit_of_an_event_changed_meanwhile_is_409_and_keeps_the_typing",
        "test_a_withdrawal_needs_the_current_version",
        "test_confirming_queues_the_received_message_with_the_edit_link",
        "test_withdrawing_queues_the_withdrawn_message_once",
    ],
    "test_moderation": [
        "test_approve",
        "test_approve_refuses_an_invalid_event",
        "test_reject_with_reason",
        "test_edit_saves_changes_and_records_them",
        "test_edit_refuses_when_someone_else_changed_the_event",
        "test_an_action_on_an_event_changed_meanwhile_is_409",
        "test_bulk_approve_applies_the_fresh_and_lists_the_stale",
        "test_audit_page_is_newest_first_and_paged",
        "test_approving_queues_the_approved_message_once",
    ],
    "test_auth": [
        "test_wrong_name_or_password_gets_one_generic_message",
        "test_sign_out_is_a_post_that_ends_the_session",
        "test_cli_password_sets_a_new_one_and_ends_every_session",
    ],
    "test_sessions": [
        "test_a_cookie_copied_before_sign_out_is_refused_after_it",
        "test_each_sign_in_is_a_session_of_its_own",
        "test_changing_the_password_keeps_this_session_and_ends_every_other",
        "test_expired_sessions_are_purged_by_a_later_sign_in",
    ],
    "test_api_keys": [
        "test_an_admin_revokes_a_key_and_its_requests_get_401",
        "test_a_trusted_keys_event_is_approved_at_once",
        "test_an_event_outside_the_keys_countries_gets_422_and_nothing_is_written",
        "test_the_cli_creates_lists_and_revokes_keys",
    ],
    "test_imports": [
        "test_import_adds_good_rows_and_reports_the_rest",
        "test_importing_the_same_file_twice_adds_nothing",
        "test_rows_are_written_in_batches_that_survive_a_bad_row",
        "test_upload_form_previews_then_imports_and_shows_the_report",
    ],
    "test_mail": [
        "test_every_kind_arrives_as_plain_text_and_html",
        "test_retries_back_off_then_the_message_fails_and_stays_listed",
        "test_a_claim_that_ran_out_on_the_last_attempt_is_given_up",
        "test_unconfigured_messages_are_eml_files_that_forget_removes",
    ],
    "test_erase": [
        "test_an_erased_event_is_gone_from_its_page_its_link_and_every_export",
        "test_no_audit_values_remain_in_the_history_shown_to_coordinators",
    ],
    "test_recovery": [
        "test_one_message_brings_a_working_new_link_for_every_event_of_the_address",
    ],
}

for _module_name, _tests in KEY_TESTS.items():
    _module = importlib.import_module(f"tests.{_module_name}")
    for _name, _value in vars(_module).items():
        # The module's fixtures and helpers come along; of its tests, only the chosen ones.
        if not _name.startswith(("test_", "__")) and _name not in globals():
            globals()[_name] = _value
    for _name in _tests:
        globals()[_name] = getattr(_module, _name)


@pytest.fixture
def app_config(app_config: dict[str, Any], postgres_url: str) -> Iterator[dict[str, Any]]:
    """Return the test app's settings with its tables in PostgreSQL."""
    yield {**app_config, "DATABASE_URL": postgres_url}
    from mapapp.storage.database import close_pools

    close_pools()


def test_the_app_really_keeps_its_tables_in_postgresql(app: Any, data_dir: Any) -> None:
    store = get_store_of(app)
    assert not store.keeps_files and store.location.startswith("postgresql://")
    assert all(not hasattr(table, "path") for table in store.tables())
    store.add({"title": "Kept in the database", "status": "pending"})
    assert list(data_dir.glob("*.csv")) == []


def test_nul_sent_by_a_person_never_reaches_the_database_as_an_error(
    app: Any, client: Any, coordinator_client: Any
) -> None:
    from tests.conftest import sign_in
    from tests.test_submit import submit_event

    thanks, _edit_url = submit_event(client, title="Purple\x00 walk", city="Par\x00is")
    assert thanks.status_code == 200
    [event] = get_store_of(app).frame().to_dict("records")
    assert event["title"] == "Purple walk"  # control characters are taken out of every field
    assert sign_in(app.test_client(), "admin\x00", "password\x00").status_code == 401
    search = client.get("/places/search", query_string={"q": "Par\x00is"})
    assert search.status_code == 400
    assert "Content-Security-Policy" in search.headers


def test_a_database_that_is_down_answers_503_and_healthz_says_degraded(
    app_config: dict[str, Any],
) -> None:
    from mapapp import create_app
    from tests.conftest import free_port

    down = {**app_config, "DATABASE_URL": f"postgresql://mapapp@127.0.0.1:{free_port()}/mapapp"}
    client = create_app(down).test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "degraded"}
    page = client.get("/events/abcdefgh")
    assert page.status_code == 503
    assert "Content-Security-Policy" in page.headers
    api = client.get("/api/events/abcdefgh.json")
    assert api.status_code == 503
    assert api.get_json()["reason"] == "busy"
