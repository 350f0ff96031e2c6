"""What `mapapp publish DIR` writes: the public site as files any static host serves.

The site holds the map page and its embed in every interface language (under the app's language
prefixes, as `index.html` files), the map data and labels, the events' details in shards by id
prefix (the map's popups), a search index, the JavaScript catalogs, one page and one `.ics` per
approved event (the page rendered once; site-event.js switches its strings to the visitor's
language), the public exports, and the static and vendored files the pages load. Data files are
also written gzipped beside themselves (`x.json.gz`, for nginx's `gzip_static`).

Only what changed is written. An event's files are keyed on its public fields and the pages'
fingerprint (a change of templates or settings renews them all); every shared file is built and
compared by digest with the manifest (mapapp/storage/site.py, which does all the writing); the
exports are rendered again only when the public version changed. Files of events no longer
approved are removed.

Page rendering is the web layer's (mapapp/web/site_pages.py): it is handed in as `Pages`.
"""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import pandas as pd

from mapapp import mapview
from mapapp.exports import FORMATS, export_columns, render_export
from mapapp.geocoding.gazetteer import Gazetteer
from mapapp.geocoding.gazetteer import fold as fold_name
from mapapp.i18n import DEFAULT_LANGUAGE, LANGUAGES, force_language
from mapapp.publication import PUBLIC_STATUS, public_version
from mapapp.storage.site import FileEntry, Manifest, SiteDirectory, gzipped

DATA_DIR = "data"
EVENTS_DIR = "events"
CATALOG_DIR = "i18n"
MAP_DATA = f"{DATA_DIR}/map-data.json"
MAP_LABELS = f"{DATA_DIR}/map-labels.json"
SEARCH_INDEX = f"{DATA_DIR}/search-index.json"
SHARD_PATTERN = f"{DATA_DIR}/events/SHARD.json"
EXPORT_STEM = "events"  # the app's /events.csv, /events.ics, ...
# An event's details are in the shard named by its id's first characters (the store's ids are
# random, so shards hold about the same number of events: ~52 at 50,000 events in 961 shards).
SHARD_PREFIX = 2
SHARD_FALLBACK = "__"  # ids that do not start with two letters or digits (hand-written ones)
# Suffixes gzipped beside themselves: text that is read whole (pages are small and many).
GZIPPED_SUFFIXES = (".json", ".geojson", ".csv", ".js", ".css")
DIGEST_BYTES = 16
# The search index's gazetteer names: the alternate names of the events' towns in the scripts of
# the interface languages (Latin, Arabic, Han), none shorter than 3, at most this many per town
# (a bound for the few cities with hundreds; the index is 1.26 MB gzipped at 50,000 events).
NAME_SCRIPTS = ("LATIN", "ARABIC", "CJK")
MAX_NAMES_PER_TOWN = 100
MIN_NAME_LENGTH = 3
COORDINATE_DECIMALS = 3
SEARCH_FIELDS = ("organiser", "venue", "region")  # titles and towns come with the labels


class Pages(Protocol):
    """The published pages and files that come from the web layer."""

    site_url: str  # the published site's address, ending in "/" (canonical links, .ics URLs)

    def fingerprint(self) -> str:
        """Return a token that changes when the templates, scripts or settings of pages do."""
        ...

    def map_page(self, language: str, *, embed: bool) -> bytes:
        """Return the map page (or the embed) in a language, reading the published files."""
        ...

    def event_pages(self, events: Iterable[Mapping[str, str]]) -> Iterator[tuple[str, bytes]]:
        """Yield (id, page) of approved events (in English, switched in the browser)."""
        ...

    def catalog(self, language: str) -> dict[str, Any]:
        """Return the event page's strings in a language, for site-event.js."""
        ...

    def files(self) -> dict[str, bytes]:
        """Return the other files the pages load (static, vendored, map setup), by name."""
        ...

    def page_name(self, language: str, *, embed: bool) -> str:
        """Return the file name of a map page in a language ("fr/embed/index.html")."""
        ...


@dataclass
class PublishReport:
    """What a publish did."""

    directory: Path
    events: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    events_rendered: int = 0
    files: int = 0
    total_bytes: int = 0
    seconds: float = 0.0


def digest(data: bytes) -> str:
    """Return the content digest the manifest keeps."""
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).hexdigest()


def compact(data: Any) -> bytes:
    """Return data as compact UTF-8 JSON (in script tags it goes through tojson instead)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def shard_of(event_id: str) -> str:
    """Return the shard key of an event id (site-data.js computes the same)."""
    key = event_id[:SHARD_PREFIX].lower()
    if len(key) == SHARD_PREFIX and key.isascii() and key.isalnum():
        return key
    return SHARD_FALLBACK


def event_page_name(event_id: str) -> str:
    """Return the file name of an event's page."""
    return f"{EVENTS_DIR}/{event_id}.html"


def event_ics_name(event_id: str) -> str:
    """Return the file name of an event's calendar file."""
    return f"{EVENTS_DIR}/{event_id}.ics"


def catalog_name(language: str) -> str:
    """Return the file name of a language's catalog for the event pages."""
    return f"{CATALOG_DIR}/{language}.json"


def approved_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the approved events, in store order (the map data's order)."""
    return frame[frame["status"].to_numpy() == PUBLIC_STATUS]


# The search index


def _in_scripts(name: str) -> bool:
    """Return whether a folded name is written in the interface languages' scripts only."""
    if len(name) < MIN_NAME_LENGTH or any(char.isdigit() for char in name):
        return False
    return all(char == " " or unicodedata.name(char, "").startswith(NAME_SCRIPTS) for char in name)


def town_names(
    gazetteer: Gazetteer, places: Iterable[tuple[str, str]]
) -> dict[str, list[float | str]]:
    """Return, for each (town, country) of events the gazetteer knows, [lat, lon, names].

    Keys are "town\ncountry" as stored; names are the town's other names, folded as the
    gazetteer folds them, joined by "|" (the map's search and "near a place" read them).
    """
    towns_of_place: dict[tuple[str, str], list[int]] = {}
    wanted: set[int] = set()
    for city, country in places:
        key = fold_name(city)
        if not key:
            continue
        towns = [
            town
            for town in gazetteer.indices(key)
            if not country or gazetteer.cities[town].country == country
        ]
        if towns:
            towns_of_place[(city, country)] = towns
            wanted.update(towns)
    names: dict[int, list[str]] = {}
    # One pass over the gazetteer's index (its keys are every name, folded) finds the names of
    # the towns wanted: about 0.25 s, and the index has no name-by-town table to ask instead.
    for position, key in enumerate(gazetteer.keys):
        for town in gazetteer.owners[gazetteer.starts[position] : gazetteer.starts[position + 1]]:
            if town in wanted and _in_scripts(key):
                names.setdefault(town, []).append(key)
    result: dict[str, list[float | str]] = {}
    for (city, country), towns in towns_of_place.items():
        own = fold_name(city)
        # The shortest names first: the names people type ("munchen", "monaco"), before the
        # long descriptive ones ("lungsod ng munchen") that the bound would otherwise keep.
        candidates = sorted(
            {name for town in towns for name in names.get(town, ()) if name != own},
            key=lambda name: (len(name), name),
        )
        kept = candidates[:MAX_NAMES_PER_TOWN]
        first = gazetteer.cities[towns[0]]  # the most populous of that name
        point: list[float | str] = [
            round(first.latitude, COORDINATE_DECIMALS),
            round(first.longitude, COORDINATE_DECIMALS),
            "|".join(kept),
        ]
        result[f"{city}\n{country}"] = point
    return result


def fold_text(text: str) -> str:
    """Return text lower-cased without accents, as site-data.js folds what people type."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def search_index(events: pd.DataFrame, gazetteer: Gazetteer, version: str) -> dict[str, Any]:
    """Return the browser's search index: texts aligned with the map data, and towns' names."""
    joined = events[SEARCH_FIELDS[0]]
    for name in SEARCH_FIELDS[1:]:
        joined = joined + " " + events[name]
    places = set(zip(events["city"].tolist(), events["country"].tolist(), strict=True))
    return {
        "version": version,
        "count": len(events),
        "text": [fold_text(text.strip()) for text in joined.tolist()],
        "towns": town_names(gazetteer, sorted(places)),
    }


def _records(events: pd.DataFrame) -> list[dict[str, str]]:
    """Return a frame's rows as dicts (the store's values are all strings)."""
    return cast(list[dict[str, str]], events.to_dict("records"))


def event_shards(events: pd.DataFrame) -> dict[str, dict[str, dict[str, str]]]:
    """Return the events' public details (what a popup shows) by shard and id."""
    shards: dict[str, dict[str, dict[str, str]]] = {}
    for record in _records(events):
        shards.setdefault(shard_of(record["id"]), {})[record["id"]] = mapview.public_event(record)
    return shards


def event_key(record: Mapping[str, str], columns: Iterable[str], fingerprint: str) -> str:
    """Return the key of an event's files: its published fields and the pages' fingerprint."""
    text = "\x1f".join(str(record.get(name, "")) for name in columns)
    return digest(f"{fingerprint}\x1e{text}".encode())


# Publishing


class _Writer:
    """Writes files that differ from the manifest, and remembers every file of this publish."""

    def __init__(self, site: SiteDirectory, manifest: Manifest, report: PublishReport) -> None:
        self.site = site
        self.manifest = manifest
        self.report = report
        self.files: dict[str, FileEntry] = {}

    def put(self, name: str, data: bytes) -> None:
        """Publish a file (and its gzipped twin for data), writing only what changed."""
        self._put(name, data)
        if name.endswith(GZIPPED_SUFFIXES):
            self._put(name + ".gz", gzipped(data))

    def _put(self, name: str, data: bytes) -> None:
        content = digest(data)
        if self.site.is_current(name, content, self.manifest):
            self.files[name] = self.manifest.files[name]
            self.report.unchanged += 1
        else:
            self.files[name] = self.site.write(name, data, content)
            self.report.written.append(name)

    def keep(self, names: Iterable[str]) -> bool:
        """Keep files as they are if they all are as recorded; return whether they were."""
        names = list(names)
        entries = [self.manifest.files.get(name) for name in names]
        if not all(
            entry is not None and self.site.is_current(name, entry.digest, self.manifest)
            for name, entry in zip(names, entries, strict=True)
        ):
            return False
        for name, entry in zip(names, entries, strict=True):
            assert entry is not None
            self.files[name] = entry
        self.report.unchanged += len(names)
        return True


def publish(
    site: SiteDirectory,
    pages: Pages,
    frame: pd.DataFrame,
    gazetteer: Gazetteer,
    *,
    progress: Callable[[str], None] | None = None,
) -> PublishReport:
    """Publish the approved events of a store frame into a site directory; return what it did."""
    started = time.perf_counter()
    say = progress or (lambda message: None)
    report = PublishReport(site.root)
    site.prepare()
    manifest = site.load_manifest()
    writer = _Writer(site, manifest, report)
    events = approved_events(frame)
    report.events = len(events)
    version = public_version(frame)
    fingerprint = pages.fingerprint()

    say("pages of events")
    keys = _publish_events(writer, pages, events, export_columns(frame), fingerprint)
    same_pages = manifest.state.get("fingerprint") == fingerprint

    say("map data, labels, details and search index")
    writer.put(MAP_DATA, compact(mapview.map_data(frame)))
    writer.put(MAP_LABELS, compact(mapview.map_labels(frame)))
    writer.put(SEARCH_INDEX, compact(search_index(events, gazetteer, version)))
    for shard, details in sorted(event_shards(events).items()):
        writer.put(SHARD_PATTERN.replace("SHARD", shard), compact(details))

    say("map pages and catalogs")
    for language in LANGUAGES:
        for embed in (False, True):
            writer.put(
                pages.page_name(language, embed=embed), pages.map_page(language, embed=embed)
            )
        writer.put(catalog_name(language), compact(pages.catalog(language)))
    for name, data in sorted(pages.files().items()):
        writer.put(name, data)

    say("exports")
    unchanged = same_pages and manifest.state.get("public_version") == version
    _publish_exports(writer, events, pages.site_url, unchanged=unchanged)

    removed = sorted(set(manifest.files) - set(writer.files))
    site.remove(removed)
    report.removed = removed
    site.save_manifest(
        writer.files, {"public_version": version, "fingerprint": fingerprint, "events": keys}
    )
    site.finish()
    report.files = len(writer.files)
    report.total_bytes = sum(entry.size for entry in writer.files.values())
    report.seconds = time.perf_counter() - started
    return report


def _publish_events(
    writer: _Writer,
    pages: Pages,
    events: pd.DataFrame,
    columns: list[str],
    fingerprint: str,
) -> dict[str, str]:
    """Publish each approved event's page and calendar file; return their keys by id."""
    previous: dict[str, str] = writer.manifest.state.get("events", {})
    keys: dict[str, str] = {}
    stale: list[int] = []
    for position, record in enumerate(_records(events[columns])):
        event_id = record["id"]
        key = event_key(record, columns, fingerprint)
        keys[event_id] = key
        names = (event_page_name(event_id), event_ics_name(event_id))
        if not (previous.get(event_id) == key and writer.keep(names)):
            stale.append(position)
    if not stale:
        return keys
    changed = events.iloc[stale]
    writer.report.events_rendered = len(stale)
    for event_id, page in pages.event_pages(_records(changed)):
        writer.put(event_page_name(event_id), page)
    # By zone and year: each event's file holds its zone's VTIMEZONE, which exports.py builds
    # once per zone and years (tens of ms each) and keeps in a bounded cache.
    ordered = changed.assign(_year=changed["starts_at"].str.slice(0, 4)).sort_values(
        ["timezone", "_year"], kind="stable"
    )
    ics = FORMATS["ics"]
    exported = ordered[export_columns(ordered)]
    with force_language(DEFAULT_LANGUAGE):  # as render_export writes every export
        for position in range(len(exported)):
            row = exported.iloc[position : position + 1]
            writer.put(event_ics_name(str(row["id"].iat[0])), ics.render(row, pages.site_url))
    return keys


def _publish_exports(
    writer: _Writer, events: pd.DataFrame, site_url: str, *, unchanged: bool
) -> None:
    """Publish the public exports, rendered again only when the public content changed."""
    ordered = events.sort_values(["starts_at", "id"], kind="stable")
    for fmt, export_format in FORMATS.items():
        name = f"{EXPORT_STEM}{export_format.suffix}"
        names = [name, name + ".gz"] if name.endswith(GZIPPED_SUFFIXES) else [name]
        if unchanged and writer.keep(names):
            continue
        body, _, _ = render_export(fmt, ordered, base_url=site_url)
        writer.put(name, body)
