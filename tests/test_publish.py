"""`mapapp publish DIR`: the files of the static site, what a second publish rewrites, safety.

Publishes real stores (the test's own data directory) into real directories and reads the files
back; tests/test_browser_publish.py serves them with nginx and drives chromium.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask

from mapapp import publish as publishing
from mapapp.cli import cli
from mapapp.geocoding.towns import current_gazetteer
from mapapp.publish import PublishReport, publish
from mapapp.storage import EventStore
from mapapp.storage.site import MANIFEST_NAME, TEMPORARY_DIR, SiteDirectory, SitePathError
from mapapp.web.site_pages import SitePages
from tests.conftest import add_valid_event, change

SITE_URL = "http://events.example.org/"
HOSTILE_TITLE = '<script>alert("title")</script><img src=x onerror=alert(1)>'
HOSTILE_ORGANISER = '"onmouseover="alert(2)" x="'
FORMULA = "=cmd|' /C calc'!A0"
LANGUAGE_DIRS = ("fr", "es", "de", "it", "pt", "nl", "pl", "ar", "zh")


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Publish the map without tiles: nothing in the tests reaches the internet."""
    return {**app_config, "TILES": "none"}


@pytest.fixture
def events(store: EventStore) -> dict[str, dict[str, str]]:
    """Store approved events in Munich, Paris and online, one pending and one hostile."""
    return {
        "munich": add_valid_event(
            store,
            title="Light up the Frauenkirche",
            city="Munich",
            country="DE",
            timezone="Europe/Berlin",
            latitude="48.137",
            longitude="11.575",
            organiser="Bavarian rare alliance",
        ),
        "paris": add_valid_event(store, title="Paris walk", organiser="Alliance Paris"),
        "online": add_valid_event(
            store,
            title="Webinar for everyone",
            format="online",
            category="online",
            venue="",
            city="",
            country="",
            latitude="",
            longitude="",
            location_precision="none",
            website="https://example.org/webinar",
        ),
        "pending": add_valid_event(store, title="Not yet", status="pending"),
        "hostile": add_valid_event(
            store, title=HOSTILE_TITLE, organiser=HOSTILE_ORGANISER, description=FORMULA
        ),
    }


def publish_site(app: Flask, directory: Path, site_url: str = SITE_URL) -> PublishReport:
    """Publish the app's store into a directory, as `mapapp publish` does."""
    with app.app_context():
        from mapapp.storage import get_store

        return publish(
            SiteDirectory(directory),
            SitePages(app, site_url),
            get_store().frame(),
            current_gazetteer(),
        )


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Return each published file's inode and mtime."""
    return {
        path.relative_to(directory).as_posix(): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in directory.rglob("*")
        if path.is_file()
    }


def test_the_site_holds_pages_data_events_and_exports(
    app: Flask, tmp_path: Path, events: dict[str, dict[str, str]]
) -> None:
    site = tmp_path / "site"
    report = publish_site(app, site)

    assert report.events == 4  # approved only
    names = set(snapshot(site))
    assert {"index.html", "embed/index.html", "map-setup.js", "static/js/map.js"} <= names
    for code in LANGUAGE_DIRS:
        assert {f"{code}/index.html", f"{code}/embed/index.html", f"i18n/{code}.json"} <= names
    for key in ("munich", "paris", "online", "hostile"):
        event_id = events[key]["id"]
        assert {f"events/{event_id}.html", f"events/{event_id}.ics"} <= names
    pending = events["pending"]["id"]
    assert not any(pending in name for name in names)
    assert "vendor/leaflet/dist/leaflet.js" in names
    assert MANIFEST_NAME in os.listdir(site) and TEMPORARY_DIR not in os.listdir(site)

    data = json.loads((site / "data/map-data.json").read_bytes())
    assert sorted(data["id"]) == sorted(
        events[k]["id"] for k in ("munich", "paris", "online", "hostile")
    )
    assert (
        gzip.decompress((site / "data/map-data.json.gz").read_bytes())
        == (site / "data/map-data.json").read_bytes()
    )
    munich = events["munich"]["id"]
    shard = json.loads((site / f"data/events/{publishing.shard_of(munich)}.json").read_bytes())
    assert shard[munich]["title"] == "Light up the Frauenkirche"
    assert shard[munich]["organiser"] == "Bavarian rare alliance"

    index = json.loads((site / "data/search-index.json").read_bytes())
    assert index["count"] == 4
    position = data["id"].index(munich)
    assert "bavarian rare alliance" in index["text"][position]
    lat, lon, names_of_munich = index["towns"]["Munich\nDE"]
    assert "munchen" in names_of_munich.split("|") and round(lat) == 48

    # The map page reads the published files, under the site's paths.
    page = (site / "fr/index.html").read_text()
    config = json.loads(page.split('id="map-config">', 1)[1].split("</script>", 1)[0])
    assert config["dataUrl"] == "/data/map-data.json"
    assert config["eventsShardUrl"] == "/data/events/SHARD.json"
    assert config["eventUrl"] == "/events/EVENT_ID.html?lang=fr"
    assert config["embedUrl"] == "http://events.example.org/fr/embed/"
    assert config["messages"]["Loading the event…"] == "Chargement de l'événement…"
    assert '<script src="/static/js/site-data.js">' in page
    assert 'href="/fr/"' in page and "/language/" not in page  # the switch is a plain link
    catalog = json.loads((site / "i18n/fr.json").read_bytes())
    assert catalog["When"] == "Quand"

    ics = (site / f"events/{munich}.ics").read_text()
    assert ics.startswith("BEGIN:VCALENDAR") and "SUMMARY:Light up the Frauenkirche" in ics
    assert f"URL:http://events.example.org/events/{munich}" in ics


def test_the_exports_are_readable(
    app: Flask, tmp_path: Path, events: dict[str, dict[str, str]]
) -> None:
    site = tmp_path / "site"
    publish_site(app, site)
    rows = list(csv.DictReader(io.StringIO((site / "events.csv").read_text(encoding="utf-8-sig"))))
    assert sorted(row["title"] for row in rows) == sorted(
        [HOSTILE_TITLE, "Light up the Frauenkirche", "Paris walk", "Webinar for everyone"]
    )
    hostile = next(row for row in rows if row["title"] == HOSTILE_TITLE)
    assert hostile["description"] == "'" + FORMULA  # a spreadsheet shows it, never runs it
    sheet = openpyxl.load_workbook(site / "events.xlsx").active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert "Paris walk" in [cell.value for cell in cells]
    formula = next(cell for cell in cells if cell.value == FORMULA)
    assert formula.data_type == "s"  # a text cell: the typed sheet holds no formula
    assert json.loads((site / "events.json").read_bytes())["count"] == 4
    assert len(json.loads((site / "events.geojson").read_bytes())["features"]) == 4
    assert (site / "events.ics").read_text().count("BEGIN:VEVENT") == 4
    assert (
        gzip.decompress((site / "events.csv.gz").read_bytes()) == (site / "events.csv").read_bytes()
    )


def test_hostile_text_stays_inert_in_every_file(
    app: Flask, tmp_path: Path, events: dict[str, dict[str, str]]
) -> None:
    site = tmp_path / "site"
    publish_site(app, site)
    page = (site / f"events/{events['hostile']['id']}.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in page
    assert 'data-v-page="&lt;script&gt;' in page
    assert "&#34;onmouseover=&#34;alert(2)&#34; x=&#34;" in page
    # In the JSON-LD script tag, < and > are escaped, so nothing ends the script early.
    json_ld = page.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in json_ld and json.loads(json_ld)["name"] == HOSTILE_TITLE
    for name in ("index.html", "fr/index.html", "embed/index.html"):
        assert "<script>alert" not in (site / name).read_text()
    # Data files are JSON, served as such with a sandboxing policy (site_deploy); their text
    # is put into the page through textContent.
    labels = json.loads((site / "data/map-labels.json").read_bytes())
    assert HOSTILE_TITLE in labels["title"]


def test_a_second_publish_rewrites_nothing(
    app: Flask, tmp_path: Path, events: dict[str, dict[str, str]]
) -> None:
    site = tmp_path / "site"
    publish_site(app, site)
    before = snapshot(site)
    report = publish_site(app, site)
    assert report.written == [] and report.removed == [] and report.events_rendered == 0
    after = snapshot(site)
    del before[MANIFEST_NAME], after[MANIFEST_NAME]
    assert after == before


def test_one_edit_rewrites_that_event_and_the_shared_files_only(
    app: Flask, store: EventStore, tmp_path: Path, events: dict[str, dict[str, str]]
) -> None:
    site = tmp_path / "site"
    publish_site(app, site)
    before = snapshot(site)
    paris = events["paris"]["id"]
    change(store, paris, {"title": "Paris walk for Rare"})

    report = publish_site(app, site)

    assert report.events_rendered == 1
    written = set(report.written)
    assert {f"events/{paris}.html", f"events/{paris}.ics"} <= written
    assert not any(name.startswith("events/") and paris not in name for name in written), (
        "another event's files were written"
    )
    shard = f"data/events/{publishing.shard_of(paris)}.json"
    assert {"data/map-labels.json", "data/map-labels.json.gz", shard, "events.csv"} <= written
    assert "data/map-data.json" not in written  # a title is not in the map's columns
    assert not any(name.startswith(("static/", "vendor/")) for name in written)
    after = snapshot(site)
    for name, identity in before.items():
        if name != MANIFEST_NAME and name not in written:
            assert after[name] == identity, f"{name} changed"
        if name in written:
            assert after[name] != identity
    assert "Paris walk for Rare" in (site / f"events/{paris}.html").read_text()


def test_a_withdrawn_or_erased_event_leaves_the_site(
    app: Flask, store: EventStore, tmp_path: Path, events: dict[str, dict[str, str]]
) -> None:
    site = tmp_path / "site"
    publish_site(app, site)
    paris, munich = events["paris"]["id"], events["munich"]["id"]
    change(store, paris, {"status": "withdrawn"})
    store.erase(munich, who="test")

    report = publish_site(app, site)

    gone = {f"events/{paris}.html", f"events/{paris}.ics"}
    gone |= {f"events/{munich}.html", f"events/{munich}.ics"}
    assert gone <= set(report.removed)
    assert not any((site / name).exists() for name in gone)
    for event_id in (paris, munich):
        shard = site / f"data/events/{publishing.shard_of(event_id)}.json"
        assert not shard.exists() or event_id not in json.loads(shard.read_bytes())
    data = json.loads((site / "data/map-data.json").read_bytes())
    assert paris not in data["id"] and munich not in data["id"]
    assert "Paris walk" not in (site / "events.csv").read_text(encoding="utf-8-sig")


class CrashingPages(SitePages):
    """Pages that fail half way through a publish, as a killed publish would stop."""

    def map_page(self, language: str, *, embed: bool) -> bytes:
        raise KeyboardInterrupt


def test_a_publish_killed_half_way_is_finished_by_the_next(
    app: Flask, store: EventStore, tmp_path: Path, events: dict[str, dict[str, str]]
) -> None:
    site = tmp_path / "site"
    publish_site(app, site)
    manifest = (site / MANIFEST_NAME).read_bytes()
    paris = events["paris"]["id"]
    change(store, paris, {"title": "Paris walk, edited"})
    change(store, events["online"]["id"], {"status": "withdrawn"})
    with app.app_context(), pytest.raises(KeyboardInterrupt):
        from mapapp.storage import get_store

        publish(
            SiteDirectory(site),
            CrashingPages(app, SITE_URL),
            get_store().frame(),
            current_gazetteer(),
        )
    assert (site / MANIFEST_NAME).read_bytes() == manifest  # the last complete publish's
    assert "edited" in (site / f"events/{paris}.html").read_text()  # written before the crash

    report = publish_site(app, site)

    assert f"events/{events['online']['id']}.html" in report.removed
    assert not (site / TEMPORARY_DIR).exists()
    recorded = json.loads((site / MANIFEST_NAME).read_bytes())["files"]
    on_disk = {name for name in snapshot(site) if name != MANIFEST_NAME}
    assert set(recorded) == on_disk
    for name, (digest, size, _) in recorded.items():
        assert publishing.digest((site / name).read_bytes()) == digest
        assert (site / name).stat().st_size == size


def test_a_site_under_a_sub_path_names_its_files_there(
    app: Flask, tmp_path: Path, events: dict[str, dict[str, str]]
) -> None:
    site = tmp_path / "campaign"
    publish_site(app, site, "https://example.org/campaign")
    page = (site / "de/index.html").read_text()
    assert '<script src="/campaign/static/js/map.js">' in page
    assert 'src="/campaign/vendor/leaflet/dist/leaflet.js?v=' in page
    config = json.loads(page.split('id="map-config">', 1)[1].split("</script>", 1)[0])
    assert config["dataUrl"] == "/campaign/data/map-data.json"
    assert config["mapUrl"] == "https://example.org/campaign/de/"
    event_page = (site / f"events/{events['paris']['id']}.html").read_text()
    assert f'href="/campaign/events/{events["paris"]["id"]}.ics"' in event_page


@pytest.mark.parametrize("name", ["../outside", "/etc/passwd", "a/../../b", MANIFEST_NAME])
def test_a_published_name_never_leaves_the_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(SitePathError):
        SiteDirectory(tmp_path).path_of(name)


def test_the_command_publishes_and_reports(
    app: Flask, tmp_path: Path, events: dict[str, dict[str, str]]
) -> None:
    site = tmp_path / "site"
    runner = app.test_cli_runner()
    first = runner.invoke(cli, ["publish", str(site), "--site-url", SITE_URL, "--quiet"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith(f"Published 4 events to {site} for {SITE_URL} in ")
    assert "(4 events' pages rendered)" in first.output and "0 removed" in first.output
    second = runner.invoke(cli, ["publish", str(site), "--site-url", SITE_URL, "--quiet"])
    assert " 0 files written (0 events' pages rendered)" in second.output
    bad = runner.invoke(cli, ["publish", str(site), "--site-url", "events.example.org"])
    assert bad.exit_code == 2
    assert "The published site's address must be http(s)://host/[path/]" in bad.output
