"""The published site served by Debian's nginx alone (no app), driven in chromium.

The bundled sample events plus a few of the test's own are published once for the module with
`mapapp publish`, and served by nginx with the site `mapapp deploy published-site` writes.
Outside CI a missing nginx skips these tests; in CI it fails them.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import requests

from mapapp import create_app
from mapapp.cli import cli
from mapapp.events import current_edition
from mapapp.storage import EventStore
from tests.conftest import SAMPLE_EVENTS, add_valid_event, free_port, missing
from tests.servers import stop
from tests.test_deploy import NGINX, start_nginx, wait_for_port

pytestmark = pytest.mark.browser

HOSTILE = (
    "<img src=x onerror=\"window.pwned=1;alert('img')\"> ${alert('template')} "
    "`${window.pwned=2}` </script><script>alert('script')</script>"
)
ORGANISER = "Quokka Trust of Ballarat"


@dataclass(frozen=True)
class Site:
    """The published site as nginx serves it, and the events it was published from."""

    url: str
    directory: Path
    frame: pd.DataFrame
    ids: dict[str, str]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """Publish the sample events and the test's own, and serve them with nginx."""
    if not NGINX.exists():
        missing(f"{NGINX} is missing (apt-get install nginx).")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        data_dir = folder / "data"
        data_dir.mkdir()
        shutil.copy(SAMPLE_EVENTS, data_dir / "events.csv")
        store = EventStore(data_dir)
        edition = str(current_edition())
        ids = {
            "quokka": add_valid_event(
                store,
                title="Quokka walk",
                organiser=ORGANISER,
                venue="Quai de la Fosse",
                city="Nantes",
                latitude="47.2100",
                longitude="-1.5700",
                starts_at=f"{edition}-02-27T10:00",
                ends_at=f"{edition}-02-27T12:00",
            )["id"],
            "hostile": add_valid_event(
                store,
                title=HOSTILE,
                organiser=HOSTILE,
                starts_at=f"{edition}-02-27T10:00",
                ends_at=f"{edition}-02-27T12:00",
            )["id"],
        }
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        app = create_app(
            {"ENV": "testing", "DATA_DIR": str(data_dir), "SECRET_KEY": "x", "TILES": "none"}
        )
        runner = app.test_cli_runner()
        published = folder / "site"
        result = runner.invoke(cli, ["publish", str(published), "--site-url", url, "--quiet"])
        assert result.exit_code == 0, result.output
        conf = runner.invoke(
            cli,
            ["deploy", "published-site", str(published), "--port", str(port)]
            + ["--address", "127.0.0.1"],
        )
        assert conf.exit_code == 0, conf.output
        site_conf = folder / "site.conf"
        site_conf.write_text(conf.output)
        log = folder / "nginx.log"
        nginx = start_nginx(folder, site_conf, log, folder / "error.log")
        stack.callback(stop, nginx)
        wait_for_port(port, nginx, log)
        yield Site(url, published, store.frame(), ids)


def current(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the approved events of the current edition (what the map shows first)."""
    approved = frame[frame["status"] == "approved"]
    return approved[approved["starts_at"].str.startswith(str(current_edition()))]


def open_map(page: Any, url: str) -> None:
    """Open a published map page and wait until its events are drawn."""
    page.goto(url)
    page.wait_for_selector("body[data-map-ready]")


def summary_count(page: Any) -> int:
    """Return the number of events the summary says the map shows."""
    words = page.locator("#summary").text_content().split()
    return int(words[0].replace(",", "").replace("\u202f", "").replace("\xa0", ""))


def search(page: Any, text: str) -> None:
    """Type a search as a visitor and wait for its answer."""
    page.fill("#filter-q", text)
    page.wait_for_function(
        "(text) => new URLSearchParams(location.search).get('q') === text", arg=text
    )


def test_the_map_shows_the_events_and_a_filter_keeps_a_category(page: Any, site: Site) -> None:
    open_map(page, site.url + "/")
    shown = current(site.frame)
    assert summary_count(page) == len(shown)
    details = page.locator("#filter-category")
    details.locator("summary").click()
    details.locator('input[value="illumination"]').click()
    details.locator("summary").click()
    page.wait_for_function("() => location.search.includes('category=illumination')")
    assert summary_count(page) == int((shown["category"] == "illumination").sum())
    assert not [url for url in page.requested_urls if "/api/" in url]
    assert page.page_errors == []
    # nginx gives the clusters' worker script the policy that lets it load its own scripts.
    page.wait_for_function("() => document.body.dataset.clusters === 'worker'")


def test_search_finds_an_event_by_its_organiser(page: Any, site: Site) -> None:
    open_map(page, site.url + "/")
    search(page, "quokka trust")
    page.wait_for_function("() => document.getElementById('summary').textContent.startsWith('1 ')")
    # The list follows the clusters' answer (from the worker): wait for it, then read it.
    page.wait_for_function("() => document.querySelectorAll('#event-list li a').length === 1")
    assert page.locator("#event-list li a").all_text_contents() == ["Quokka walk"]
    assert any(url.endswith("/data/search-index.json") for url in page.requested_urls)


def test_search_finds_a_town_by_another_of_its_names(page: Any, site: Site) -> None:
    shown = current(site.frame)
    munich = int(((shown["city"] == "Munich") & (shown["country"] == "DE")).sum())
    assert munich >= 1
    open_map(page, site.url + "/")
    search(page, "München")
    page.wait_for_function(
        "(count) => document.getElementById('summary').textContent.startsWith(count + ' ')",
        arg=munich,
    )


def test_a_popup_reads_the_event_from_its_shard(page: Any, site: Site) -> None:
    quokka = site.frame[site.frame["id"] == site.ids["quokka"]].iloc[0]
    open_map(page, site.url + "/")
    page.evaluate(
        f"window.mapapp.map.setView([{quokka['latitude']}, {quokka['longitude']}], 18, "
        "{animate: false})"
    )
    page.locator('.event-marker[title^="Quokka walk"]').click()
    popup = page.locator(".leaflet-popup .event-popup")
    popup.locator(".popup-organiser").wait_for()
    assert popup.locator(".popup-organiser").text_content() == f"By {ORGANISER}"
    assert popup.locator(".popup-page").get_attribute("href") == (
        f"/events/{site.ids['quokka']}.html"
    )


def test_an_event_page_reached_in_french_speaks_french(page: Any, site: Site) -> None:
    open_map(page, site.url + "/fr/")
    link = page.locator("#event-list li a").first
    assert link.get_attribute("href").endswith(".html?lang=fr")
    link.click()
    page.wait_for_selector("body[data-language='fr']")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator(".event-facts dt").first.text_content() == "Quand"
    assert page.locator(".calendar-ics").text_content() == (
        "Télécharger pour toute application de calendrier (.ics)"
    )


def test_an_event_page_reached_from_the_german_map_speaks_german(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/events/{site.ids['quokka']}.html", referer=site.url + "/de/")
    page.wait_for_selector("body[data-language='de']")
    assert page.locator(".event-facts dt").first.text_content() == "Wann"
    assert page.locator("a.brand").get_attribute("href") == "/de/"


def test_the_event_calendar_file_downloads(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/events/{site.ids['quokka']}.html")
    with page.expect_download() as download:
        page.locator(".calendar-ics").click()
    body = Path(download.value.path()).read_text()
    assert body.startswith("BEGIN:VCALENDAR") and "SUMMARY:Quokka walk" in body


def test_the_exports_are_served_and_readable(site: Site) -> None:
    approved = site.frame[site.frame["status"] == "approved"]
    answer = requests.get(site.url + "/events.csv", timeout=10)
    assert answer.headers["Content-Security-Policy"].endswith("sandbox")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) == len(approved)
    xlsx = requests.get(site.url + "/events.xlsx", timeout=10)
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.max_row == len(approved) + 1
    ics = requests.get(site.url + "/events.ics", timeout=10)
    assert ics.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert ics.text.count("BEGIN:VEVENT") == len(approved)
    data = requests.get(site.url + "/data/map-data.json", headers={"Accept-Encoding": "gzip"})
    assert data.headers["Content-Encoding"] == "gzip"
    assert data.json()["count"] == len(approved)


def test_hostile_text_runs_nothing_on_the_map_or_its_page(page: Any, site: Site) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_map(page, site.url + "/")
    search(page, "onerror")
    page.wait_for_function("() => document.querySelectorAll('#event-list li a').length === 1")
    assert page.locator("#event-list li a").text_content() == HOSTILE
    page.goto(f"{site.url}/events/{site.ids['hostile']}.html?lang=fr")
    page.wait_for_selector("body[data-language='fr']")
    assert page.locator("h1").text_content() == HOSTILE
    assert page.title() == f"{HOSTILE} · Carte de la Journée internationale des maladies rares"
    assert page.evaluate("window.pwned") is None
    assert dialogs == [] and page.page_errors == []
    assert page.locator(".event-facts img").count() == 0


def test_nginx_sends_the_apps_security_headers(site: Site) -> None:
    page = requests.get(site.url + "/fr/", timeout=10)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"
    embed = requests.get(site.url + "/embed/", timeout=10)
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in embed.headers
    event = requests.get(f"{site.url}/events/{site.ids['quokka']}", timeout=10)
    assert event.status_code == 200 and "Quokka walk" in event.text  # the app's address
    assert requests.get(site.url + "/.mapapp-publish.json", timeout=10).status_code == 404
    missing_page = requests.get(site.url + "/no/such/page", timeout=10)
    assert missing_page.status_code == 404
    assert missing_page.headers["X-Content-Type-Options"] == "nosniff"


def test_nginx_accepts_the_site(site: Site, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(NGINX), "-t", "-p", str(tmp_path), "-c", str(site.directory.parent / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_an_event_page_reached_from_the_english_map_stays_english(page: Any, site: Site) -> None:
    context = page.context.browser.new_context(locale="fr-FR")
    french_browser = context.new_page()
    try:
        french_browser.goto(f"{site.url}/events/{site.ids['quokka']}.html", referer=site.url + "/")
        french_browser.wait_for_selector("body[data-language='en']")
        # Reached directly, the same page follows the browser's language.
        french_browser.goto(f"{site.url}/events/{site.ids['quokka']}.html")
        french_browser.wait_for_selector("body[data-language='fr']")
    finally:
        context.close()


def test_near_a_place_finds_a_town_by_another_of_its_names(page: Any, site: Site) -> None:
    open_map(page, site.url + "/")
    page.fill("#near-place-text", "München")
    page.locator("#near-place button[type=submit]").click()
    page.wait_for_selector("#near-clear:not([hidden])")
    assert "Munich" in page.locator("#near-status").text_content()
