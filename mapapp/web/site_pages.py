"""The published site's pages and files, rendered by the app's own templates for `mapapp publish`.

Pages are rendered in a request made up for each (the language prefix noted as the middleware
notes it, the site's address as the base URL), so `url_for` writes the site's root-relative
addresses (`/fr/`, `/static/...`, or under the sub-path of the site's address). The map pages'
configuration points at the published files instead of the API; the event page is rendered once,
in English, every string marked with its message id for site-event.js.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, render_template, url_for

from mapapp import calendar_links, i18n, mapview, publish
from mapapp.events import CATEGORIES, FORMATS
from mapapp.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, _
from mapapp.web import assets
from mapapp.web.languages import LANGUAGE_KEY, PREFIXED_KEY
from mapapp.web.public import _calendar_links, map_page

EVENT_TEMPLATE = "site/event.html"
MAP_SETUP = "map-setup.js"
SITE_SCRIPTS = ("js/site-data.js",)
# Leaflet's own images, which its style sheet names.
LEAFLET_IMAGES = "leaflet/dist/images"
SHARE_BY_MAIL = N_("Share by e-mail")
SHARE_ON = N_("Share on %(site)s")
# Every string the event page shows, switched in the browser (templates/site/event.html).
EVENT_PAGE_MESSAGES: tuple[str, ...] = (
    "%(page)s · Rare Disease Day map",
    "Skip to content",
    "Rare Disease Day events map",
    "Language",
    "This event has passed.",
    "See the events still to come on the map",
    "When",
    "Where",
    "Online",
    "This event is online.",
    "Join in person or online.",
    "Organiser",
    "Website",
    "It starts %(when)s your time.",
    "Add to your calendar",
    "This event is over, so there is nothing to add to a calendar. Its calendar file is still "
    "here for your records.",
    "Add to Google Calendar",
    "Add to Outlook",
    "Download for any calendar app (.ics)",
    "Share this event",
    "Link to this event:",
    "Copy link",
    "Share…",
    "Link copied",
    "The link is selected: copy it with your keyboard or menu.",
    SHARE_BY_MAIL,
    SHARE_ON,
    "See other events in %(country)s on the map",
    "See other events on the map",
    "Rare Disease Day is on the last day of February. 300 million people live with a rare disease.",
    *CATEGORIES.values(),
    *FORMATS.values(),
)
# The event whose page stands for every page in the fingerprint (a change of the template or of
# a setting the pages use renders every event's page again).
SAMPLE_EVENT = {
    "id": "sample00",
    "status": "approved",
    "title": "Sample",
    "category": "talk",
    "format": "hybrid",
    "starts_at": "2027-02-28T18:00",
    "ends_at": "2027-02-28T20:00",
    "timezone": "Europe/Paris",
    "venue": "Venue",
    "city": "Paris",
    "country": "FR",
    "latitude": "48.85",
    "longitude": "2.35",
    "organiser": "Organiser",
    "website": "https://example.org/",
    "description": "One.\nTwo.",
    "language": "fr",
}


def _site_address(url: str) -> str:
    """Return the site's address ending in "/"."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"The published site's address must be http(s)://host/[path/], not {url!r}."
        )
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


class SitePages:
    """The pages and files of the published site, from an app's templates and settings."""

    def __init__(self, app: Flask, site_url: str) -> None:
        self.app = app
        self.site_url = _site_address(site_url)
        self.base_path = urlsplit(self.site_url).path
        self._site = self._site_context()

    # Requests made up for rendering

    @contextmanager
    def _request(self, path: str, language: str = DEFAULT_LANGUAGE) -> Iterator[None]:
        environ = {LANGUAGE_KEY: language, PREFIXED_KEY: language != DEFAULT_LANGUAGE}
        # A fresh app context too: Flask-Babel keeps the locale it chose in `g`, which a request
        # context shares with an app context already pushed (the CLI's).
        with (
            self.app.app_context(),
            self.app.test_request_context(path, base_url=self.site_url, environ_overrides=environ),
        ):
            yield

    def _prefix(self, language: str) -> str:
        return "" if language == DEFAULT_LANGUAGE else f"{language}/"

    def map_url(self, language: str, *, absolute: bool = False) -> str:
        """Return the address of the map page in a language."""
        root = self.site_url if absolute else self.base_path
        return root + self._prefix(language)

    def page_name(self, language: str, *, embed: bool) -> str:
        """Return the file name of a map page in a language ("fr/embed/index.html")."""
        return self._prefix(language) + ("embed/" if embed else "") + "index.html"

    # Pages

    def _published_urls(self, language: str) -> dict[str, str]:
        base = self.base_path
        query = "" if language == DEFAULT_LANGUAGE else f"?lang={language}"
        return {
            "dataUrl": base + publish.MAP_DATA,
            "labelsUrl": base + publish.MAP_LABELS,
            "searchUrl": "",
            "searchIndexUrl": base + publish.SEARCH_INDEX,
            "placesUrl": "",
            "eventApiUrl": "",
            "eventsShardUrl": base + publish.SHARD_PATTERN,
            "eventUrl": base + publish.event_page_name("EVENT_ID") + query,
            "icsUrl": base + publish.event_ics_name("EVENT_ID"),
            "embedUrl": self.map_url(language, absolute=True) + "embed/",
            "mapUrl": self.map_url(language, absolute=True),
        }

    def _language_links(self, current: str) -> list[dict[str, Any]]:
        return [
            {
                "language": language,
                "url": self.map_url(code, absolute=True),
                "switch": self.map_url(code),
                "current": code == current,
            }
            for code, language in LANGUAGES.items()
        ]

    def map_page(self, language: str, *, embed: bool) -> bytes:
        """Return the map page (or the embed) in a language, reading the published files."""
        path = "/embed" if embed else "/"
        with self._request(path, language):
            html = map_page(
                embed=embed,
                urls=self._published_urls(language),
                language_links=lambda: self._language_links(language),
                site_scripts=[url_for("static", filename=name) for name in SITE_SCRIPTS],
            )
        return html.encode()

    def _site_context(self) -> dict[str, Any]:
        languages = [
            {"code": code, "tag": language.tag, "name": language.name}
            for code, language in LANGUAGES.items()
        ]
        return {
            "map_url": self.map_url(DEFAULT_LANGUAGE),
            "languages": languages,
            "config": {
                "catalogUrl": self.base_path + publish.catalog_name("LANG"),
                "languages": {
                    code: {
                        "tag": language.tag,
                        "dir": language.direction,
                        "formats": language.format_tag,
                        "map": self.map_url(code),
                    }
                    for code, language in LANGUAGES.items()
                },
                "defaultLanguage": DEFAULT_LANGUAGE,
            },
        }

    def event_pages(self, events: Iterable[Mapping[str, str]]) -> Iterator[tuple[str, bytes]]:
        """Yield (id, page) of approved events, in English, their strings marked for site-event.js.

        One made-up request renders them all: a request per page cost a third of the time.
        """
        with self._request("/events/"):
            for event in events:
                yield event["id"], self._event_page(event)

    def event_page(self, event: Mapping[str, str]) -> bytes:
        """Return an approved event's page."""
        return dict(self.event_pages([event]))[event["id"]]

    def _event_page(self, event: Mapping[str, str]) -> bytes:
        event_id = event["id"]
        url = self.site_url + publish.event_page_name(event_id)
        details = mapview.event_details(event)
        small_map = None
        if event.get("latitude") and event.get("longitude"):
            small_map = mapview.small_map_parts(event["latitude"], event["longitude"], zoom=13)
        place = [event.get(name, "") for name in ("venue", "address", "city", "region")]
        html = render_template(
            EVENT_TEMPLATE,
            event=mapview.public_event(event),
            details=details,
            place_without_country=", ".join(dict.fromkeys(part for part in place if part)),
            category_id=CATEGORIES.get(event.get("category", ""), ""),
            format_id=FORMATS.get(event.get("format", ""), ""),
            url=url,
            ics_url=self.base_path + publish.event_ics_name(event_id),
            json_ld=mapview.event_json_ld(event, url),
            small_map=small_map,
            calendar=_calendar_links(dict(event), url, details),
            share=self._share_links(event, url, details),
            site=self._site_context(),
        )
        return html.encode()

    def _share_links(
        self, event: Mapping[str, str], url: str, details: Mapping[str, str]
    ) -> list[dict[str, str]]:
        body = "\n".join(part for part in (details["when"], details["place"], url) if part)
        links = [
            {
                "key": "email",
                "url": calendar_links.mail_url(event.get("title", ""), body),
                "label": _(SHARE_BY_MAIL),
                "message": SHARE_BY_MAIL,
                "site": "",
            }
        ]
        for link in calendar_links.share_links(url, event.get("title", "")):
            links.append(
                {
                    "key": link.key,
                    "url": link.url,
                    "label": _(SHARE_ON, site=link.name),
                    "message": SHARE_ON,
                    "site": link.name,
                }
            )
        return links

    def catalog(self, language: str) -> dict[str, Any]:
        """Return the event page's strings in a language, for site-event.js."""
        with self._request("/", language):
            return i18n.js_catalog(EVENT_PAGE_MESSAGES, ())

    # Files

    def files(self) -> dict[str, bytes]:
        """Return the static files, the map's vendored files and the map's setup script."""
        files: dict[str, bytes] = {}
        static = Path(str(self.app.static_folder))
        for path in sorted(static.rglob("*")):
            if path.is_file():
                files["static/" + path.relative_to(static).as_posix()] = path.read_bytes()
        vendored = [*mapview.MAP_CSS, *mapview.MAP_JS, mapview.COUNTRIES_TOPOJSON]
        images = assets.installed_file(LEAFLET_IMAGES)
        vendored += [f"{LEAFLET_IMAGES}/{path.name}" for path in sorted(images.glob("*.png"))]
        for name in vendored:
            files["vendor/" + name] = assets.installed_file(name).read_bytes()
        files[MAP_SETUP] = mapview.map_setup_script(self.app.config).encode()
        return files

    def fingerprint(self) -> str:
        """Return a token of what every event page depends on but its event."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(self.site_url.encode())
        digest.update(self.event_page(SAMPLE_EVENT))
        return digest.hexdigest()
