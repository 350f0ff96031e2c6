"""The way back in chromium: asking for links by keyboard, revoking, the privacy notice; axe checks."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from mapapp.storage import EventStore
from tests.test_browser_submit import keyboard_page, serious_violations, tab_to  # noqa: F401
from tests.test_recovery import ADDRESS, add_event, link_messages

pytestmark = pytest.mark.browser


def test_an_organiser_gets_new_links_by_keyboard_and_revokes_the_others(
    keyboard_page: Any,  # noqa: F811  (the fixture)
    live_server: str,
    app: Flask,
    store: EventStore,
) -> None:
    page = keyboard_page
    event, old_link = add_event(store, app.config["SECRET_KEY"], title="Keyboard lights")
    page.goto(live_server + "/edit/not-a-real-link")
    page.get_by_role("link", name="Get new edit links by e-mail").click()
    assert serious_violations(page) == []

    tab_to(page, "email")
    page.keyboard.type(ADDRESS.upper())
    page.keyboard.press("Enter")
    page.wait_for_selector("#recover-sent")
    assert "ORGANISER@example.org" in page.inner_text("#recover-sent")  # as typed, domain lower
    assert serious_violations(page) == []
    deadline = time.monotonic() + 10
    while not link_messages(app) and time.monotonic() < deadline:
        time.sleep(0.1)
    [message] = link_messages(app)
    [item] = message["context"]["events"]

    page.goto(live_server + urlsplit(item["edit_url"]).path)
    assert "Revoke my other links" in page.content()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Revoke my other links").click()
    page.wait_for_selector(".flash-success")
    assert "One other edit link was revoked." in page.inner_text(".flashes")
    page.goto(f"{live_server}/edit/{old_link}")
    assert re.search(r"404", page.inner_text("h1"))
    assert page.page_errors == []


def test_the_privacy_notice_reads_well(
    keyboard_page: Any,  # noqa: F811  (the fixture)
    live_server: str,
) -> None:
    page = keyboard_page
    page.goto(live_server + "/")
    page.get_by_role("link", name="Privacy notice").click()

    assert page.inner_text("h1") == "Privacy notice"
    assert serious_violations(page) == []
    assert page.get_by_role("link", name="info@rarediseaseday.org").first.get_attribute("href") == (
        "mailto:info@rarediseaseday.org"
    )
