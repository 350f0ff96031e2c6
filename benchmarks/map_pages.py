"""Build the pages the map benchmark loads: events in a data directory and folium's baselines."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import folium
import folium.plugins

from mapapp import PROJECT_ROOT
from mapapp.events import current_edition, edition_date
from mapapp.storage import EventStore

SEED = 2027
# Front-end packages folium's pages load from CDNs that the project does not install; the benchmark
# installs these pinned versions in a cache directory of its own (never in the project's package.json).
FOLIUM_NPM_PACKAGES = (
    "jquery@3.7.1",
    "bootstrap@5.2.2",
    "leaflet.awesome-markers@2.0.5",
    "@fortawesome/fontawesome-free@6.2.0",
)
# CDN file name -> path of a local copy under the served "assets" directory.
# "project/" is the project's node_modules, "extra/" the benchmark's own npm install.
LOCAL_ASSETS = {
    "leaflet.js": "project/leaflet/dist/leaflet.js",
    "leaflet.css": "project/leaflet/dist/leaflet.css",
    "leaflet.markercluster.js": "project/leaflet.markercluster/dist/leaflet.markercluster.js",
    "MarkerCluster.css": "project/leaflet.markercluster/dist/MarkerCluster.css",
    "MarkerCluster.Default.css": "project/leaflet.markercluster/dist/MarkerCluster.Default.css",
    "jquery-3.7.1.min.js": "extra/node_modules/jquery/dist/jquery.min.js",
    "bootstrap.bundle.min.js": "extra/node_modules/bootstrap/dist/js/bootstrap.bundle.min.js",
    "bootstrap.min.css": "extra/node_modules/bootstrap/dist/css/bootstrap.min.css",
    "leaflet.awesome-markers.js": "extra/node_modules/leaflet.awesome-markers/dist/leaflet.awesome-markers.js",
    "leaflet.awesome-markers.css": "extra/node_modules/leaflet.awesome-markers/dist/leaflet.awesome-markers.css",
    "all.min.css": "extra/node_modules/@fortawesome/fontawesome-free/css/all.min.css",
}
CDN_TAG = re.compile(
    r'<(script|link)\b[^>]*?(?:src|href)="(https?://[^"]+)"[^>]*>(?:\s*</script>)?'
)


@dataclass
class FoliumPage:
    """A folium baseline page saved to HTML, with the seconds Python took to build it."""

    name: str
    path: Path
    build_seconds: float
    stripped: list[str]


def make_events(count: int, seed: int = SEED) -> list[dict[str, str]]:
    """Return `count` events from the project's sample generator."""
    if str(PROJECT_ROOT) not in sys.path:  # scripts/ is not an installed package
        sys.path.insert(0, str(PROJECT_ROOT))
    from scripts.make_sample_data import generate_events

    return generate_events(count, seed=seed)


def map_events(count: int, seed: int = SEED) -> list[dict[str, str]]:
    """Return events every page draws: approved, placed, moved into the current edition.

    Our map shows the current edition by default and folium's pages show whatever they are given, so
    all three get exactly the same events.
    """
    day = edition_date(current_edition()).isoformat()
    # The generator also makes pending and online events (about 1 in 10), which no map draws.
    for asked in (count * 5 // 4 + 100, count * 3 + 100):
        events = [
            event
            for event in make_events(asked, seed)
            if event["status"] == "approved" and event["latitude"] and event["longitude"]
        ][:count]
        if len(events) == count:
            break
    for event in events:
        starts, ends = event["starts_at"], event["ends_at"]
        event["starts_at"] = day + starts[10:] if starts else f"{day}T10:00"
        event["ends_at"] = day + ends[10:] if ends else ""
    return events


def write_data_dir(directory: Path, events: list[dict[str, str]]) -> None:
    """Store the events as the data directory of an app."""
    directory.mkdir(parents=True, exist_ok=True)
    EventStore(directory).replace_all(events)


def ensure_folium_assets(cache_dir: Path) -> Path:
    """Install the npm packages folium's pages want in `cache_dir`, once, and return it."""
    if not (cache_dir / "node_modules" / "jquery" / "package.json").exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        command = ["npm", "install", "--prefix", str(cache_dir), "--no-audit", "--no-fund"]
        command += ["--loglevel=error", *FOLIUM_NPM_PACKAGES]
        subprocess.run(command, check=False, capture_output=True, timeout=300)
    return cache_dir


def prepare_site(site: Path, npm_cache: Path) -> None:
    """Make `site` a directory to serve: pages/ for HTML, assets/ for the local front-end copies."""
    (site / "pages").mkdir(parents=True, exist_ok=True)
    assets = site / "assets"
    assets.mkdir(exist_ok=True)
    for name, target in (("project", PROJECT_ROOT / "node_modules"), ("extra", npm_cache)):
        link = assets / name
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)


def build_folium_pages(
    site: Path, events: list[dict[str, str]], label: str, names: Iterable[str]
) -> Iterator[FoliumPage]:
    """Build, one at a time, folium's pages of these events (names from FOLIUM_PAGES)."""
    for name in names:
        builder = FOLIUM_PAGES[name]
        started = time.perf_counter()
        document = builder(events).get_root().render()
        seconds = time.perf_counter() - started
        document, stripped = localise_assets(document, site / "assets")
        path = site / "pages" / f"{label}-{name.split()[-1].lower()}.html"
        path.write_text(document, encoding="utf-8")
        yield FoliumPage(name, path, seconds, stripped)


def _base_map() -> folium.Map:
    """Return a world map without tiles (no network here; our page runs with TILES=none too)."""
    # Without a tile layer Leaflet has no maxZoom, which clustering needs: give the map one.
    return folium.Map(location=(20, 0), zoom_start=2, tiles=None, maxZoom=18)


def _marker_map(events: list[dict[str, str]]) -> folium.Map:
    """Return one folium Marker per event, with a popup of its title, in a MarkerCluster."""
    world = _base_map()
    cluster = folium.plugins.MarkerCluster().add_to(world)
    for event in events:
        folium.Marker(
            (float(event["latitude"]), float(event["longitude"])),
            popup=folium.Popup(html.escape(event["title"])),
        ).add_to(cluster)
    return world


def _fast_map(events: list[dict[str, str]]) -> folium.Map:
    """Return folium's FastMarkerCluster of the events' coordinates."""
    world = _base_map()
    points = [(float(e["latitude"]), float(e["longitude"])) for e in events]
    folium.plugins.FastMarkerCluster(points).add_to(world)
    return world


def localise_assets(document: str, assets: Path) -> tuple[str, list[str]]:
    """Point folium's CDN script and link tags at local copies; drop those with none."""
    stripped: list[str] = []

    def replace(match: re.Match[str]) -> str:
        url = match.group(2)
        local = LOCAL_ASSETS.get(url.rsplit("/", 1)[-1])
        if local is None or not (assets / local).exists():
            stripped.append(url)
            return ""
        return match.group(0).replace(url, "/assets/" + local)

    return CDN_TAG.sub(replace, document), stripped


FOLIUM_PAGES: dict[str, Callable[[list[dict[str, str]]], folium.Map]] = {
    "folium FastMarkerCluster": _fast_map,
    "folium Marker": _marker_map,
}
