"""Calendar and share links: exact addresses, UTC times across zones, hostile text kept as text."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from mapapp import calendar_links
from mapapp.calendar_links import CalendarEvent
from tests.conftest import make_event

PAGE = "https://map.example/events/abc123"
HOSTILE = 'Say "hi" <script>alert(1)</script> & more\nnext line · 東京 مرحبا'


def _entry(**fields: str) -> CalendarEvent:
    entry = calendar_links.calendar_event(make_event(**fields), url=PAGE, location="Paris")
    assert entry is not None
    return entry


@pytest.mark.parametrize(
    ("fields", "starts", "ends"),
    [
        # Winter in Paris: UTC+1.
        ({}, datetime(2027, 2, 28, 17, tzinfo=UTC), datetime(2027, 2, 28, 21, tzinfo=UTC)),
        # New York's clocks go forward at 02:00 on 14 March 2027: starts at UTC-5, ends at UTC-4.
        (
            {
                "starts_at": "2027-03-13T22:00",
                "ends_at": "2027-03-14T04:00",
                "timezone": "America/New_York",
            },
            datetime(2027, 3, 14, 3, tzinfo=UTC),
            datetime(2027, 3, 14, 8, tzinfo=UTC),
        ),
        # No end given.
        (
            {"starts_at": "2027-02-28T10:00", "ends_at": "", "timezone": "Asia/Tokyo"},
            datetime(2027, 2, 28, 1, tzinfo=UTC),
            None,
        ),
        # No zone: the stored time is UTC.
        (
            {"timezone": "", "starts_at": "2027-02-28T09:30", "ends_at": "2027-02-28T10:00"},
            datetime(2027, 2, 28, 9, 30, tzinfo=UTC),
            datetime(2027, 2, 28, 10, tzinfo=UTC),
        ),
        # An unknown zone or no start: no times at all.
        ({"timezone": "Mars/Olympus"}, None, None),
        ({"starts_at": "", "ends_at": ""}, None, None),
    ],
)
def test_utc_times(fields: dict[str, str], starts: datetime | None, ends: datetime | None) -> None:
    assert calendar_links.utc_times(make_event(**fields)) == (starts, ends)


@pytest.mark.parametrize(
    ("fields", "google", "outlook"),
    [
        (
            {"description": "A test event."},
            "https://calendar.google.com/calendar/render?action=TEMPLATE"
            "&text=Light%20up%20the%20town%20hall&dates=20270228T170000Z%2F20270228T210000Z"
            "&details=A%20test%20event.%0A%0Ahttps%3A%2F%2Fmap.example%2Fevents%2Fabc123"
            "&location=Paris&ctz=Europe%2FParis",
            "https://outlook.live.com/calendar/0/action/compose?subject=Light%20up%20the%20town%20hall"
            "&startdt=2027-02-28T17%3A00%3A00Z&enddt=2027-02-28T21%3A00%3A00Z"
            "&body=A%20test%20event.%0A%0Ahttps%3A%2F%2Fmap.example%2Fevents%2Fabc123"
            "&location=Paris",
        ),
        (  # across New York's change to summer time
            {
                "description": "",
                "starts_at": "2027-03-13T22:00",
                "ends_at": "2027-03-14T04:00",
                "timezone": "America/New_York",
            },
            "https://calendar.google.com/calendar/render?action=TEMPLATE"
            "&text=Light%20up%20the%20town%20hall&dates=20270314T030000Z%2F20270314T080000Z"
            "&details=https%3A%2F%2Fmap.example%2Fevents%2Fabc123"
            "&location=Paris&ctz=America%2FNew_York",
            "https://outlook.live.com/calendar/0/action/compose?subject=Light%20up%20the%20town%20hall"
            "&startdt=2027-03-14T03%3A00%3A00Z&enddt=2027-03-14T08%3A00%3A00Z"
            "&body=https%3A%2F%2Fmap.example%2Fevents%2Fabc123&location=Paris",
        ),
        (  # no end: an hour's slot
            {
                "description": "",
                "starts_at": "2027-02-28T10:00",
                "ends_at": "",
                "timezone": "Asia/Tokyo",
            },
            "https://calendar.google.com/calendar/render?action=TEMPLATE"
            "&text=Light%20up%20the%20town%20hall&dates=20270228T010000Z%2F20270228T020000Z"
            "&details=https%3A%2F%2Fmap.example%2Fevents%2Fabc123"
            "&location=Paris&ctz=Asia%2FTokyo",
            "https://outlook.live.com/calendar/0/action/compose?subject=Light%20up%20the%20town%20hall"
            "&startdt=2027-02-28T01%3A00%3A00Z&enddt=2027-02-28T02%3A00%3A00Z"
            "&body=https%3A%2F%2Fmap.example%2Fevents%2Fabc123&location=Paris",
        ),
        (  # UTC: no ctz
            {"description": "", "timezone": "UTC"},
            "https://calendar.google.com/calendar/render?action=TEMPLATE"
            "&text=Light%20up%20the%20town%20hall&dates=20270228T180000Z%2F20270228T220000Z"
            "&details=https%3A%2F%2Fmap.example%2Fevents%2Fabc123&location=Paris",
            "https://outlook.live.com/calendar/0/action/compose?subject=Light%20up%20the%20town%20hall"
            "&startdt=2027-02-28T18%3A00%3A00Z&enddt=2027-02-28T22%3A00%3A00Z"
            "&body=https%3A%2F%2Fmap.example%2Fevents%2Fabc123&location=Paris",
        ),
    ],
)
def test_add_event_urls(fields: dict[str, str], google: str, outlook: str) -> None:
    entry = _entry(**fields)
    assert calendar_links.google_calendar_url(entry) == google
    assert calendar_links.outlook_calendar_url(entry) == outlook


def test_hostile_text_is_percent_encoded_and_comes_back_whole() -> None:
    entry = _entry(title=HOSTILE, description=HOSTILE)
    for url in (
        calendar_links.google_calendar_url(entry),
        calendar_links.outlook_calendar_url(entry),
    ):
        for raw in ('"', "<", ">", " ", "\n", "東"):
            assert raw not in url
        assert url.count("&") == len(parse_qs(urlsplit(url).query)) - 1  # no stray separator
    google = parse_qs(urlsplit(calendar_links.google_calendar_url(entry)).query)
    assert google["text"] == [HOSTILE]
    assert google["details"] == [f"{HOSTILE}\n\n{PAGE}"]
    assert "text=Say%20%22hi%22%20%3Cscript%3Ealert%281%29%3C%2Fscript%3E%20%26%20more%0Anext" in (
        calendar_links.google_calendar_url(entry)
    )
    outlook = parse_qs(urlsplit(calendar_links.outlook_calendar_url(entry)).query)
    assert outlook["subject"] == [HOSTILE]


def test_an_end_before_the_start_is_dropped_and_a_long_description_cut() -> None:
    entry = _entry(ends_at="2027-02-28T17:00", description="x" * 5000)
    assert entry.ends is None
    details = entry.details.split("\n\n")
    assert details == ["x" * (calendar_links.MAX_DETAILS - 1) + "…", PAGE]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://map.example/events.ics", "webcal://map.example/events.ics"),
        (
            "http://localhost:5000/events.ics?country=FR%2CDE&year=2027",
            "webcal://localhost:5000/events.ics?country=FR%2CDE&year=2027",
        ),
    ],
)
def test_webcal_url(url: str, expected: str) -> None:
    assert calendar_links.webcal_url(url) == expected


def test_mail_url_has_a_subject_and_a_body_with_crlf_line_breaks() -> None:
    assert calendar_links.mail_url('A & B "c"', "line 1\nline 2") == (
        "mailto:?subject=A%20%26%20B%20%22c%22&body=line%201%0D%0Aline%202"
    )


def test_share_links_are_plain_addresses_of_each_site() -> None:
    links = calendar_links.share_links(PAGE, "Run & <walk>")
    assert [(link.key, link.name) for link in links] == [
        ("x", "X"),
        ("facebook", "Facebook"),
        ("linkedin", "LinkedIn"),
        ("whatsapp", "WhatsApp"),
        ("bluesky", "Bluesky"),
    ]
    page = "https%3A%2F%2Fmap.example%2Fevents%2Fabc123"
    assert [link.url for link in links] == [
        f"https://x.com/intent/tweet?text=Run%20%26%20%3Cwalk%3E&url={page}",
        f"https://www.facebook.com/sharer/sharer.php?u={page}",
        f"https://www.linkedin.com/sharing/share-offsite/?url={page}",
        f"https://wa.me/?text=Run%20%26%20%3Cwalk%3E%20{page}",
        f"https://bsky.app/intent/compose?text=Run%20%26%20%3Cwalk%3E%20{page}",
    ]


NOW = datetime(2027, 2, 28, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "passed"),
    [
        ({}, False),  # Paris 18:00-22:00 is 17:00-21:00 UTC: under way at 20:00 UTC
        ({"ends_at": "2027-02-28T20:59"}, True),  # ended 19:59 UTC
        ({"ends_at": "", "starts_at": "2027-02-28T20:59"}, True),  # no end: started 19:59 UTC
        ({"ends_at": "", "starts_at": "2027-02-28T21:01"}, False),
        # New York, UTC-5: ends 20:30 UTC, then 19:00 UTC.
        (
            {
                "timezone": "America/New_York",
                "starts_at": "2027-02-28T10:00",
                "ends_at": "2027-02-28T15:30",
            },
            False,
        ),
        (
            {
                "timezone": "America/New_York",
                "starts_at": "2027-02-28T09:00",
                "ends_at": "2027-02-28T14:00",
            },
            True,
        ),
        ({"starts_at": "", "ends_at": ""}, False),
    ],
)
def test_has_passed(fields: dict[str, str], passed: bool) -> None:
    assert calendar_links.has_passed(make_event(**fields), NOW) is passed
