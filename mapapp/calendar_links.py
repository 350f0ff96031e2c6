"""Links that put an event in a visitor's calendar or share it: Google, Outlook, webcal, share sites.

Pure functions of plain data: the web layer passes the page's own URL. Every value goes into the
query string percent-encoded (spaces as %20, which mail clients and the calendar sites all read),
so an organiser's quotes, markup, newlines or ampersands stay text. The share links are plain
links to each site's share address: no third-party script is ever loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from mapapp.events import is_known_timezone, parse_local_time, zone

GOOGLE_CALENDAR_URL = "https://calendar.google.com/calendar/render"
OUTLOOK_CALENDAR_URL = "https://outlook.live.com/calendar/0/action/compose"
GOOGLE_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
OUTLOOK_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Google and Outlook need an end: an event without one gets this long a slot (the visitor can
# change it in their calendar).
DEFAULT_DURATION = timedelta(hours=1)
# Calendar sites refuse very long addresses; a description is cut to this many characters.
MAX_DETAILS = 1500
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
WEBCAL_SCHEME = "webcal"
# Share sites, in the order the page lists them: (key, name as the site writes it, address).
SHARE_SITES: tuple[tuple[str, str, str], ...] = (
    ("x", "X", "https://x.com/intent/tweet"),
    ("facebook", "Facebook", "https://www.facebook.com/sharer/sharer.php"),
    ("linkedin", "LinkedIn", "https://www.linkedin.com/sharing/share-offsite/"),
    ("whatsapp", "WhatsApp", "https://wa.me/"),
    ("bluesky", "Bluesky", "https://bsky.app/intent/compose"),
)


@dataclass(frozen=True)
class CalendarEvent:
    """What a calendar needs of an event: a title, UTC start and end, details and a place."""

    title: str
    starts: datetime  # aware, UTC
    ends: datetime | None  # aware, UTC; None when the organiser gave no end
    details: str = ""
    location: str = ""
    timezone: str = ""  # the event's own IANA zone, for calendars that show it


@dataclass(frozen=True)
class ShareLink:
    """A plain link that shares a page on one site (or by e-mail)."""

    key: str
    name: str
    url: str


def utc_times(event: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    """Return an event's start and end in UTC from its stored local times and zone."""
    name = event.get("timezone", "") or "UTC"
    if not is_known_timezone(name):
        return None, None
    moments: list[datetime | None] = []
    for field in ("starts_at", "ends_at"):
        local = parse_local_time(event.get(field, "")) if event.get(field) else None
        moments.append(local.replace(tzinfo=zone(name)).astimezone(UTC) if local else None)
    return moments[0], moments[1]


def calendar_event(event: Mapping[str, str], *, url: str, location: str) -> CalendarEvent | None:
    """Return the calendar view of a stored event, or None when it has no readable start."""
    starts, ends = utc_times(event)
    if starts is None:
        return None
    if ends is not None and ends <= starts:
        ends = None
    return CalendarEvent(
        title=event.get("title", ""),
        starts=starts,
        ends=ends,
        details=details_text(event.get("description", ""), url),
        location=location,
        timezone=event.get("timezone", ""),
    )


def details_text(description: str, url: str) -> str:
    """Return a calendar entry's details: the description (cut if long) and the page's URL."""
    text = description.strip()
    if len(text) > MAX_DETAILS:
        text = text[: MAX_DETAILS - 1].rstrip() + ELLIPSIS
    return f"{text}\n\n{url}" if text else url


def _end(event: CalendarEvent) -> datetime:
    return event.ends or event.starts + DEFAULT_DURATION


def _query(values: Mapping[str, str]) -> str:
    """Return a query string with every value percent-encoded (spaces as %20)."""
    return urlencode(values, quote_via=quote, safe="")


def google_calendar_url(event: CalendarEvent) -> str:
    """Return Google Calendar's "add event" address for an event."""
    values = {
        "action": "TEMPLATE",
        "text": event.title,
        "dates": f"{event.starts:{GOOGLE_TIME_FORMAT}}/{_end(event):{GOOGLE_TIME_FORMAT}}",
        "details": event.details,
        "location": event.location,
    }
    if event.timezone and event.timezone != "UTC":
        values["ctz"] = event.timezone
    return f"{GOOGLE_CALENDAR_URL}?{_query(values)}"


def outlook_calendar_url(event: CalendarEvent) -> str:
    """Return Outlook on the web's "add event" address for an event."""
    values = {
        "subject": event.title,
        "startdt": f"{event.starts:{OUTLOOK_TIME_FORMAT}}",
        "enddt": f"{_end(event):{OUTLOOK_TIME_FORMAT}}",
        "body": event.details,
        "location": event.location,
    }
    return f"{OUTLOOK_CALENDAR_URL}?{_query(values)}"


def webcal_url(url: str) -> str:
    """Return a calendar feed's address with the webcal scheme calendar apps subscribe to."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=WEBCAL_SCHEME))


def mail_url(subject: str, body: str) -> str:
    """Return a mailto: address with no recipient, a subject and a body (RFC 6068)."""
    body = body.replace("\r\n", "\n").replace("\n", "\r\n")
    return f"mailto:?{_query({'subject': subject, 'body': body})}"


def share_urls(url: str, title: str) -> dict[str, str]:
    """Return each share site's address for a page: site key -> URL."""
    text = f"{title} {url}" if title else url
    queries = {
        "x": {"text": title, "url": url},
        "facebook": {"u": url},
        "linkedin": {"url": url},
        "whatsapp": {"text": text},
        "bluesky": {"text": text},
    }
    return {key: f"{address}?{_query(queries[key])}" for key, _, address in SHARE_SITES}


def share_links(url: str, title: str) -> list[ShareLink]:
    """Return the share sites' links for a page, in the order the page lists them."""
    urls = share_urls(url, title)
    return [ShareLink(key, name, urls[key]) for key, name, _ in SHARE_SITES]


def has_passed(event: Mapping[str, str], now: datetime) -> bool:
    """Return whether an event is over: its end (its start when it has no end) is before now."""
    starts, ends = utc_times(event)
    last = ends or starts
    return last is not None and last < now
