"""The footer's contact address and the privacy notice, written from the app's own settings."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from mapapp import create_app
from mapapp.config import ConfigError
from mapapp.web.privacy import counter_sentence
from tests.conftest import add_valid_event

DEFAULT_CONTACT = "info@rarediseaseday.org"
FOOTER_CONTACT = re.compile(r'<a id="footer-contact" href="mailto:([^"]+)">([^<]+)</a>')


def footer(page: str) -> str:
    """Return the footer of a page."""
    return page[page.index("<footer") :]


@pytest.mark.parametrize(
    "path", ["/", "/submit", "/edit/recover", "/privacy", "/admin/sign-in", "/no-such-page"]
)
def test_every_page_has_the_contact_and_the_privacy_notice_in_its_footer(
    client: FlaskClient, path: str
) -> None:
    page = client.get(path).get_data(as_text=True)

    match = FOOTER_CONTACT.search(footer(page))
    assert match and match.groups() == (DEFAULT_CONTACT, DEFAULT_CONTACT)
    assert 'href="/privacy">Privacy notice</a>' in footer(page)
    assert 'href="/edit/recover">Lost your edit link?</a>' in footer(page)


def test_the_contact_address_is_configurable(app_config: dict[str, Any]) -> None:
    client = create_app({**app_config, "CONTACT_EMAIL": "team@events.example"}).test_client()

    page = client.get("/privacy").get_data(as_text=True)

    assert FOOTER_CONTACT.search(footer(page)).groups() == ("team@events.example",) * 2  # type: ignore[union-attr]
    assert 'href="mailto:team@events.example"' in page.split("<footer")[0]


@pytest.mark.parametrize("value", ["", "not an address", "team@"])
def test_a_contact_that_is_not_an_address_stops_the_app_with_a_message(
    app_config: dict[str, Any], value: str
) -> None:
    with pytest.raises(ConfigError, match="MAPAPP_CONTACT_EMAIL must be the e-mail address"):
        create_app({**app_config, "CONTACT_EMAIL": value})


def test_the_privacy_notice_says_what_is_kept_who_sees_it_how_long_and_how_to_remove_it(
    client: FlaskClient,
) -> None:
    response = client.get("/privacy")

    text = html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))
    assert response.status_code == 200
    for heading in (
        "What we collect",
        "Who sees it",
        "How long it is kept",
        "How to have it removed",
    ):
        assert f">{heading}</h2>" in text
    for field in ("title", "venue", "street address", "organiser", "description"):
        assert field in text
    assert "Your contact e-mail</strong>. It is never published." in text
    assert "The IP address of your browser</strong>, only in the counters" in text
    # app_config turns every limit off but the requests for edit links (3 per hour, 6 per day).
    assert "here at most a day, after which it is deleted." in text
    assert "E-mails we sent you</strong> are kept 90 days, then deleted." in text
    assert "sees the events that a coordinator approved, without the contact e-mail" in text
    assert "The map's background comes from tile.openstreetmap.org" in text
    assert f'href="mailto:{DEFAULT_CONTACT}"' in text
    assert 'href="/edit/recover"' in text
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_the_notice_follows_the_settings(app_config: dict[str, Any]) -> None:
    settings = {
        **app_config,
        "MAIL_RETENTION_DAYS": 30,
        "TILES": "none",
        "GEOCODER": "chain",
        "EXPORT_RATE_LIMIT": "5 per day",
    }
    text = html.unescape(create_app(settings).test_client().get("/privacy").get_data(as_text=True))

    assert "are kept 30 days, then deleted." in re.sub(r"\s+", " ", text)
    assert "The map's background comes from" not in text
    assert "looked up with nominatim.openstreetmap.org (from our server" in text
    assert "here at most a day, after which it is deleted." in text


@pytest.mark.parametrize(
    ("limits", "sentence"),
    [
        ({}, "Rate limits are switched off here, so no counter is kept."),
        ({"LOGIN_RATE_LIMIT": "10 per minute"}, "here at most 1 minute,"),
        ({"LOGIN_RATE_LIMIT": "10 per 30 minutes"}, "here at most 30 minutes"),
        ({"SUBMIT_RATE_LIMIT": "10 per hour"}, "here at most an hour"),
        ({"SUBMIT_RATE_LIMIT": "10 per 6 hours"}, "here at most 6 hours"),
        ({"RECOVER_ADDRESS_RATE_LIMIT": "3 per hour;6 per day"}, "here at most a day"),
        ({"EDIT_RATE_LIMIT": "50 per 7 days"}, "here at most 7 days"),
    ],
)
def test_the_counters_are_said_to_last_the_longest_window(
    limits: dict[str, str], sentence: str
) -> None:
    assert sentence in counter_sentence(limits)


def test_the_error_pages_of_the_server_name_the_contact(client: FlaskClient, store: Any) -> None:
    add_valid_event(store)
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert f"mailto:{DEFAULT_CONTACT}" in footer(response.get_data(as_text=True))
