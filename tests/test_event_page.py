"""The event page's calendar, share and "has passed" parts, and the map page's calendar block."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from flask import Flask, render_template_string, request
from flask.testing import FlaskClient

from mapapp.filters import parse_filter
from mapapp.storage import EventStore
from tests.conftest import add_valid_event

HOSTILE = 'Say "hi" <script>alert(1)</script> & more · 東京'
CALENDAR_PAGE = (
    '{% extends "base.html" %}{% block main %}{% include "_calendar_links.html" %}{% endblock %}'
)


class Links(HTMLParser):
    """Collect each link's and element's attributes by class, and the page's scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.by_class: dict[str, dict[str, str | None]] = {}
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in (attributes.get("class") or "").split():
            self.by_class.setdefault(name, attributes)
        if tag == "script":
            self.scripts.append(attributes)


def parse(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


def test_event_page_links_to_google_outlook_and_the_calendar_file(
    client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(store, description="Bring a torch.")
    html = client.get(f"/events/{event['id']}").get_data(as_text=True)
    links = parse(html).by_class
    page = f"http%3A%2F%2Flocalhost%2Fevents%2F{event['id']}"
    assert links["calendar-google"]["href"] == (
        "https://calendar.google.com/calendar/render?action=TEMPLATE"
        "&text=Light%20up%20the%20town%20hall&dates=20270228T170000Z%2F20270228T210000Z"
        f"&details=Bring%20a%20torch.%0A%0A{page}"
        "&location=H%C3%B4tel%20de%20Ville%2C%20Paris%2C%20France&ctz=Europe%2FParis"
    )
    assert links["calendar-outlook"]["href"] == (
        "https://outlook.live.com/calendar/0/action/compose?subject=Light%20up%20the%20town%20hall"
        "&startdt=2027-02-28T17%3A00%3A00Z&enddt=2027-02-28T21%3A00%3A00Z"
        f"&body=Bring%20a%20torch.%0A%0A{page}"
        "&location=H%C3%B4tel%20de%20Ville%2C%20Paris%2C%20France"
    )
    assert links["calendar-ics"]["href"] == f"/events/{event['id']}.ics"
    assert ">Add to Google Calendar</a>" in html and ">Add to Outlook</a>" in html
    assert "This event has passed" not in html
    assert 'class="event-passed"' not in html


def test_event_page_shares_by_mail_sites_copy_and_web_share(
    client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(store)
    html = client.get(f"/events/{event['id']}").get_data(as_text=True)
    links = parse(html).by_class
    page = f"http%3A%2F%2Flocalhost%2Fevents%2F{event['id']}"
    title = "Light%20up%20the%20town%20hall"
    assert links["share-email"]["href"] == (
        f"mailto:?subject={title}&body=Sunday%2C%2028%20February%202027%2C%2018%3A00"
        "%E2%80%9322%3A00%20%28Paris%20time%2C%20UTC%2B01%3A00%29"
        f"%0D%0AH%C3%B4tel%20de%20Ville%2C%20Paris%2C%20France%0D%0A{page}"
    )
    assert links["share-x"]["href"] == f"https://x.com/intent/tweet?text={title}&url={page}"
    assert links["share-facebook"]["href"] == f"https://www.facebook.com/sharer/sharer.php?u={page}"
    assert links["share-linkedin"]["href"] == (
        f"https://www.linkedin.com/sharing/share-offsite/?url={page}"
    )
    assert links["share-whatsapp"]["href"] == f"https://wa.me/?text={title}%20{page}"
    assert (
        links["share-bluesky"]["href"] == f"https://bsky.app/intent/compose?text={title}%20{page}"
    )
    # The buttons need the script: hidden until it shows them.
    assert "hidden" in links["share-copy"] and "hidden" in links["share-native"]
    assert links["event-share"]["data-url"] == f"http://localhost/events/{event['id']}"
    assert links["share-status"]["role"] == "status"
    assert 'readonly value="' not in html  # the old read-only text box is gone
    # No inline script: only files, and the JSON-LD data block.
    scripts = parse(html).scripts
    assert all(
        script.get("src") or script.get("type") == "application/ld+json" for script in scripts
    )
    assert "onclick" not in html


def test_hostile_text_is_escaped_on_the_page_and_encoded_in_links(
    client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(store, title=HOSTILE, description=HOSTILE, organiser=HOSTILE)
    html = client.get(f"/events/{event['id']}").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    links = parse(html).by_class
    encoded = "Say%20%22hi%22%20%3Cscript%3Ealert%281%29%3C%2Fscript%3E%20%26%20more%20%C2%B7%20%E6%9D%B1%E4%BA%AC"
    assert f"text={encoded}&dates=" in str(links["calendar-google"]["href"])
    assert f"subject={encoded}&startdt=" in str(links["calendar-outlook"]["href"])
    assert f"subject={encoded}&body=" in str(links["share-email"]["href"])
    assert links["event-share"]["data-title"] == HOSTILE


def test_organisers_text_keeps_its_own_language_and_direction(
    client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(store, language="ar", title="يوم الأمراض النادرة")
    html = client.get(f"/fr/events/{event['id']}").get_data(as_text=True)
    assert '<h1 class="event-title" dir="auto" lang="ar">يوم الأمراض النادرة</h1>' in html
    assert '<div class="event-description" dir="auto" lang="ar">' in html
    assert '<dd class="event-organiser" dir="auto" lang="ar">' in html


def test_french_page_says_dates_in_french_and_shares_the_french_address(
    client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(
        store,
        format="online",
        country="",
        venue="",
        city="",
        latitude="",
        longitude="",
        location_precision="none",
    )
    html = client.get(f"/fr/events/{event['id']}").get_data(as_text=True)
    assert "dimanche 28 février 2027, 18:00–22:00" in html
    assert "dimanche 28 février 2027, 17:00–21:00 UTC" in html
    links = parse(html).by_class
    assert links["event-share"]["data-url"] == f"http://localhost/fr/events/{event['id']}"
    # Online: the calendar's place is the event's website.
    assert "location=https%3A%2F%2Fexample.org%2Fevent" in str(links["calendar-google"]["href"])
    assert links["visitor-time"]["data-start"] == "2027-02-28T18:00:00+01:00"
    assert "%(when)s" in str(links["visitor-time"]["data-template"])


@pytest.mark.parametrize(
    ("fields", "passed"),
    [
        ({"starts_at": "2020-02-28T18:00", "ends_at": "2020-02-28T22:00"}, True),
        ({"starts_at": "2020-02-29T10:00", "ends_at": ""}, True),
        ({"starts_at": "2020-02-28T18:00", "ends_at": "2099-02-28T22:00"}, False),  # still on
        ({"starts_at": "2099-02-28T18:00", "ends_at": ""}, False),
    ],
)
def test_a_past_event_says_it_has_passed_and_offers_no_add_links(
    client: FlaskClient, store: EventStore, fields: dict[str, str], passed: bool
) -> None:
    event = add_valid_event(store, **fields)
    html = client.get(f"/events/{event['id']}").get_data(as_text=True)
    links = parse(html).by_class
    assert ("<strong>This event has passed.</strong>" in html) is passed
    assert ("calendar-google" in links, "calendar-outlook" in links) == (not passed, not passed)
    assert links["calendar-ics"]["href"] == f"/events/{event['id']}.ics"  # kept for the record


@pytest.fixture
def calendar_app(app: Flask) -> Flask:
    """Add a page holding only the map page's calendar block (the map page includes it too)."""

    def calendar_block() -> str:
        return render_template_string(CALENDAR_PAGE, selected=parse_filter(request.args))

    app.add_url_rule("/calendar-block", "calendar_block", calendar_block)
    return app


def test_map_calendar_block_links_the_filtered_feed_and_exports(calendar_app: Flask) -> None:
    html = (
        calendar_app.test_client()
        .get("/calendar-block?country=FR,DE&year=2027")
        .get_data(as_text=True)
    )
    links = parse(html).by_class
    query = "country=FR,DE&year=2027"
    assert links["calendar-subscribe"]["href"] == f"webcal://localhost/events.ics?{query}"
    assert "data-webcal" in links["calendar-subscribe"]
    assert links["calendar-download"]["href"] == f"http://localhost/events.ics?{query}"
    for fmt in ("csv", "xlsx", "json", "geojson"):
        assert links[f"export-{fmt}"]["href"] == f"http://localhost/events.{fmt}?{query}"
        assert links[f"export-{fmt}"]["data-export"] == fmt
    assert ">Subscribe in your calendar</a>" in html
    assert links["calendar-links"]["aria-labelledby"] == "calendar-links-heading"
    assert any(s.get("src") == "/static/js/calendar-links.js" for s in parse(html).scripts)


def test_map_calendar_block_without_filters(calendar_app: Flask) -> None:
    html = calendar_app.test_client().get("/calendar-block").get_data(as_text=True)
    links = parse(html).by_class
    assert links["calendar-subscribe"]["href"] == "webcal://localhost/events.ics"
