"""Build the map's pieces: the folium base map, small maps, and the data the browser draws.

The only module importing folium. Events are never inlined as folium markers (one marker per event
does not scale); the page loads them as compact columnar data and clusters them in the browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast
from urllib.parse import urlsplit

import folium
import pandas as pd
from markupsafe import Markup, escape

from mapapp import event_times
from mapapp.events import (
    CATEGORIES,
    FORMATS,
    LOCAL_TIME_FORMAT,
    PUBLIC_FIELDS,
    country_name,
    is_http_url,
    zone,
)
from mapapp.i18n import _
from mapapp.i18n import country_name as local_country_name

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
WORLD_CENTER = (20.0, 0.0)
WORLD_ZOOM = 2
MAP_ID = "main"  # folium names the map `map_main`; static/js/map.js finds it by that name
# Coordinates in the compact map data are integers of this many units per degree (~110 m).
COORDINATE_SCALE = 1000
EPOCH = date(1970, 1, 1)
# Okabe-Ito colours, distinguishable with the common colour-vision deficiencies; every marker also
# has its category's own shape (CATEGORY_SYMBOLS), so colour is never the only cue.
CATEGORY_COLOURS: dict[str, str] = {
    "illumination": "#8a3ffc",
    "awareness": "#d55e00",
    "talk": "#0072b2",
    "fundraiser": "#007d5e",
    "sport": "#e69f00",
    "social": "#cc79a7",
    "policy": "#000000",
    "arts": "#56b4e9",
    "online": "#6b6b6b",
    "other": "#8b4513",
}
# Each category's shape: an SVG path in a 24 x 24 box, drawn on its markers and in the legend.
CATEGORY_SYMBOLS: dict[str, str] = {
    "illumination": "M12 1.5l3.1 6.6 7.2.9-5.3 5 1.4 7.1L12 17.6l-6.4 3.5 1.4-7.1-5.3-5 7.2-.9z",
    "awareness": "M12 1 23 12 12 23 1 12z",
    "talk": "M2.5 3h19v13.5H11l-5.5 5v-5h-3z",
    "fundraiser": "M12 21.5C5 16 1.5 12.5 1.5 8.3 1.5 5 4 2.5 7.1 2.5c2 0 3.8 1.1 4.9 2.8 "
    "1.1-1.7 2.9-2.8 4.9-2.8 3.1 0 5.6 2.5 5.6 5.8 0 4.2-3.5 7.7-10.5 13.2z",
    "sport": "M12 1.5 23 21.5H1z",
    "social": "M6.5 2h11l5.5 10-5.5 10h-11L1 12z",
    "policy": "M2.5 2.5h19v19h-19z",
    "arts": "M1 2.5h22L12 22.5z",
    "online": "M2 3.5h20v13H14l1.5 3.5h2.5v2H6v-2h2.5L10 16.5H2z",
    "other": "M2 12a10 10 0 1 0 20 0a10 10 0 1 0-20 0z",
}
# Front-end files of the map, as npm paths for vendor_url.
MAP_CSS = ("leaflet/dist/leaflet.css",)
SUPERCLUSTER_JS = "supercluster/dist/supercluster.min.js"
MAP_JS = (
    "leaflet/dist/leaflet.js",
    SUPERCLUSTER_JS,
    "topojson-client/dist/topojson-client.min.js",
)
COUNTRIES_TOPOJSON = "world-atlas/countries-110m.json"


class MapConfigError(ValueError):
    """The tile settings cannot make a map; the message says how to fix them."""


class VendorMap(folium.Map):
    """A folium Map whose Leaflet comes from the app's own npm assets, never a CDN.

    folium.Map's default_js/default_css are class-level lists shared by every map; this class
    keeps lists of its own (Leaflet only: no jQuery, Bootstrap or Font Awesome) so nothing leaks.
    """

    default_js: list[tuple[str, str]] = [("leaflet", "leaflet/dist/leaflet.js")]
    default_css: list[tuple[str, str]] = [("leaflet_css", "leaflet/dist/leaflet.css")]


def tile_source(config: Mapping[str, Any]) -> tuple[str | None, str]:
    """Return the tile URL template (None for no tiles) and its attribution HTML."""
    tiles = str(config.get("TILES") or "OpenStreetMap").strip()
    attribution = str(config.get("TILES_ATTRIBUTION") or "")
    if tiles.lower() == "none":
        return None, ""
    if tiles.lower() == "openstreetmap":
        return OSM_TILES, attribution or OSM_ATTRIBUTION
    parts = urlsplit(tiles)
    if parts.scheme not in {"http", "https"} or "{z}" not in tiles:
        raise MapConfigError(
            f"MAPAPP_TILES must be OpenStreetMap, none, or a tile URL template such as "
            f"https://tiles.example.org/{{z}}/{{x}}/{{y}}.png, not {tiles!r}."
        )
    if not attribution:
        raise MapConfigError(
            "MAPAPP_TILES_ATTRIBUTION is empty: tile providers require credit on the map, so set "
            "it to their attribution (HTML allowed), e.g. '&copy; Example Tiles'."
        )
    return tiles, attribution


def tile_hosts(config: Mapping[str, Any]) -> list[str]:
    """Return the CSP sources of the tile images ({s} subdomains become a wildcard)."""
    url, _ = tile_source(config)
    if url is None:
        return []
    parts = urlsplit(url)
    host = (parts.hostname or "").replace("{s}", "*")
    host = host if "{" not in host else "*." + host.split(".", 1)[-1]
    port = f":{parts.port}" if parts.port else ""
    return [f"{parts.scheme}://{host}{port}"]


@lru_cache(maxsize=8)
def _setup_script(tiles: str | None, attribution: str) -> str:
    """Return folium's JavaScript that creates the map and its tile layer."""
    fmap = VendorMap(
        location=WORLD_CENTER,
        zoom_start=WORLD_ZOOM,
        tiles=None,
        control_scale=True,
        world_copy_jump=True,
        min_zoom=1,
    )
    fmap._id = MAP_ID
    if tiles:
        layer = folium.TileLayer(tiles=tiles, attr=attribution, max_zoom=19, name="Base map")
        layer._id = "base"  # a fixed name keeps the script (and its ETag) the same everywhere
        layer.add_to(fmap)
    figure = cast(folium.Figure, fmap.get_root())
    figure.render()
    return "/* Built by mapapp.mapview with folium. */\n" + figure.script.render().strip() + "\n"


def map_setup_script(config: Mapping[str, Any]) -> str:
    """Return the script that creates the base map (`map_main`) from the tile settings."""
    return _setup_script(*tile_source(config))


def map_assets(vendor_url: Any) -> dict[str, list[str]]:
    """Return the URLs of the style sheets and scripts the map page loads, in order."""
    return {
        "css": [vendor_url(path) for path in MAP_CSS],
        "js": _with_leaflet_language([vendor_url(path) for path in MAP_JS]),
        "countries": [vendor_url(COUNTRIES_TOPOJSON)],
    }


def _with_leaflet_language(scripts: list[str]) -> list[str]:
    """Put the script naming Leaflet's controls in the page's language right after Leaflet."""
    from flask import url_for

    return [scripts[0], url_for("static", filename="js/leaflet-language.js"), *scripts[1:]]


def small_map_parts(
    latitude: float | str | None,
    longitude: float | str | None,
    *,
    zoom: int = 12,
    draggable: bool = False,
    latitude_input: str = "latitude",
    longitude_input: str = "longitude",
) -> dict[str, Markup]:
    """Return the head, body and script HTML of a small map with one marker.

    Put `head` in the head block, `html` where the map goes and `scripts` in the scripts block.
    With draggable=True, dragging the marker or clicking the map writes the position into the
    inputs with the ids `latitude_input` and `longitude_input` (and the map follows them).
    No inline script: static/js/small-map.js reads the data attributes, so CSP stays strict.
    """
    from flask import current_app, url_for

    from mapapp.web.assets import vendor_url

    tiles, attribution = tile_source(current_app.config)
    data = {
        "lat": "" if latitude in (None, "") else f"{float(latitude):.6f}",  # type: ignore[arg-type]
        "lon": "" if longitude in (None, "") else f"{float(longitude):.6f}",  # type: ignore[arg-type]
        "zoom": str(int(zoom)),
        "draggable": "true" if draggable else "false",
        "tiles": tiles or "",
        "attribution": attribution,
        "countries": vendor_url(COUNTRIES_TOPOJSON),
        "lat-input": latitude_input,
        "lon-input": longitude_input,
        "marker-title": _("Event location"),
    }
    attributes = " ".join(f'data-{name}="{escape(value)}"' for name, value in data.items())
    label = escape(
        _("Map: drag the marker to place the event") if draggable else _("Map of the event's place")
    )
    scripts = _with_leaflet_language([vendor_url(path) for path in MAP_JS]) + [
        url_for("static", filename="js/small-map.js")
    ]
    styles = [vendor_url(path) for path in MAP_CSS] + [url_for("static", filename="css/map.css")]
    return {
        "head": Markup("".join(f'<link rel="stylesheet" href="{escape(u)}">' for u in styles)),
        "html": Markup(
            f'<div class="small-map" role="region" aria-label="{label}" {attributes}></div>'
        ),
        "scripts": Markup("".join(f'<script src="{escape(u)}"></script>' for u in scripts)),
    }


# The data the browser draws


def _day_number(starts_at: pd.Series) -> pd.Series:
    """Return the local start dates as days since 1970-01-01."""
    days = pd.to_datetime(starts_at.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    return ((days - pd.Timestamp(EPOCH)).dt.days).fillna(-1).astype(int)


def _scaled(values: pd.Series) -> list[int | None]:
    """Return coordinates as integers of COORDINATE_SCALE per degree, None where missing."""
    numbers = pd.to_numeric(values, errors="coerce") * COORDINATE_SCALE
    return [None if pd.isna(value) else round(value) for value in numbers]


def _codes(values: pd.Series, dictionary: list[str]) -> list[int]:
    """Return each value's index in a dictionary, -1 for values not in it."""
    index = {code: position for position, code in enumerate(dictionary)}
    return [index.get(value, -1) for value in values]


def map_data(frame: pd.DataFrame) -> dict[str, Any]:
    """Return approved events as compact columns: what the map needs to draw and filter.

    Categories, formats and countries are indexes into the dictionaries sent alongside; dates are
    day numbers; coordinates are integers (see COORDINATE_SCALE); positions align with map_labels.
    """
    events = frame[frame["status"] == "approved"]
    countries = sorted(code for code in events["country"].unique() if code)
    return {
        "count": len(events),
        "scale": COORDINATE_SCALE,
        "categories": list(CATEGORIES),
        "formats": list(FORMATS),
        "countries": countries,
        "id": events["id"].tolist(),
        "lat": _scaled(events["latitude"]),
        "lon": _scaled(events["longitude"]),
        "category": _codes(events["category"], list(CATEGORIES)),
        "format": _codes(events["format"], list(FORMATS)),
        "country": _codes(events["country"], countries),
        "day": _day_number(events["starts_at"]).tolist(),
    }


def map_labels(frame: pd.DataFrame) -> dict[str, Any]:
    """Return the titles and cities of approved events, aligned with map_data (loaded later)."""
    events = frame[frame["status"] == "approved"]
    return {
        "count": len(events),
        "title": events["title"].tolist(),
        "city": events["city"].tolist(),
    }


def matching_ids(frame: pd.DataFrame) -> list[str]:
    """Return the ids of the rows of a filtered frame."""
    return frame["id"].tolist()


def public_event(event: Mapping[str, str]) -> dict[str, str]:
    """Return an event's public fields, with its start and end as ISO 8601 with offset."""
    public = {name: event.get(name, "") for name in PUBLIC_FIELDS}
    if not is_http_url(public["website"]):
        public["website"] = ""
    public["start"] = iso_with_offset(event.get("starts_at", ""), event.get("timezone", ""))
    public["end"] = iso_with_offset(event.get("ends_at", ""), event.get("timezone", ""))
    public["country_name"] = country_name(public["country"]) if public["country"] else ""
    return public


def iso_with_offset(local: str, timezone: str) -> str:
    """Return a stored local time as ISO 8601 with its UTC offset, or '' when empty."""
    if not local:
        return ""
    try:
        moment = datetime.strptime(local, LOCAL_TIME_FORMAT).replace(tzinfo=zone(timezone))
    except (ValueError, KeyError):
        return ""
    return moment.isoformat()


def event_json_ld(event: Mapping[str, str], url: str) -> dict[str, Any]:
    """Return schema.org Event data of an event for search engines."""
    mode = {
        "in_person": "OfflineEventAttendanceMode",
        "online": "OnlineEventAttendanceMode",
        "hybrid": "MixedEventAttendanceMode",
    }[event.get("format") or "in_person"]
    place: dict[str, Any] = {
        "@type": "Place",
        "name": event.get("venue") or event.get("city") or country_name(event.get("country", "")),
        "address": {
            "@type": "PostalAddress",
            "streetAddress": event.get("address", ""),
            "addressLocality": event.get("city", ""),
            "addressRegion": event.get("region", ""),
            "addressCountry": event.get("country", ""),
        },
    }
    if event.get("latitude") and event.get("longitude"):
        place["geo"] = {
            "@type": "GeoCoordinates",
            "latitude": float(event["latitude"]),
            "longitude": float(event["longitude"]),
        }
    virtual = {"@type": "VirtualLocation", "url": event.get("website") or url}
    location: Any = {"online": virtual, "hybrid": [place, virtual]}.get(
        event.get("format", ""), place
    )
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": event.get("title", ""),
        "description": event.get("description", ""),
        "startDate": iso_with_offset(event.get("starts_at", ""), event.get("timezone", "")),
        "eventAttendanceMode": f"https://schema.org/{mode}",
        "eventStatus": "https://schema.org/EventScheduled",
        "location": location,
        "url": url,
    }
    if end := iso_with_offset(event.get("ends_at", ""), event.get("timezone", "")):
        data["endDate"] = end
    if event.get("organiser"):
        organiser = {"@type": "Organization", "name": event["organiser"]}
        if is_http_url(event.get("website", "")):
            organiser["url"] = event["website"]
        data["organizer"] = organiser
    return data


def filter_choices(frame: pd.DataFrame, edition: int) -> dict[str, Any]:
    """Return the country codes, edition years, categories and formats the map's filters offer.

    The page names and sorts the countries in its own language (the choices are kept per frame,
    for every language).
    """
    events = frame[frame["status"] == "approved"]
    countries = sorted(code for code in events["country"].unique() if code)
    years = {int(year) for year in events["starts_at"].str.slice(0, 4) if year.isdigit()}
    return {
        "countries": countries,
        "years": sorted(years | {edition}, reverse=True),
        "categories": list(CATEGORIES.items()),
        "formats": list(FORMATS.items()),
    }


def describe_when(event: Mapping[str, str]) -> str:
    """Return an event's local date and time in words, with its time zone."""
    try:
        starts = datetime.strptime(event["starts_at"], LOCAL_TIME_FORMAT)
    except (KeyError, ValueError):
        return ""
    text = f"{starts:%A} {starts.day} {starts:%B %Y}, {starts:%H:%M}"
    if ends_at := event.get("ends_at", ""):
        ends = datetime.strptime(ends_at, LOCAL_TIME_FORMAT)
        same_day = ends.date() == starts.date()
        text += (
            f"–{ends:%H:%M}" if same_day else f" to {ends:%A} {ends.day} {ends:%B %Y}, {ends:%H:%M}"
        )
    zone_name = event.get("timezone") or "UTC"
    offset = starts.replace(tzinfo=zone(zone_name)).strftime("%z")
    return f"{text} ({zone_name}, UTC{offset[:3]}:{offset[3:]})"


def event_details(event: Mapping[str, str]) -> dict[str, str]:
    """Return the labels people read on an event's page, in the interface language."""
    country = local_country_name(event.get("country", ""))
    place = [event.get("venue", ""), event.get("address", ""), event.get("city", "")]
    place += [event.get("region", ""), country]
    category = CATEGORIES.get(event.get("category", ""), "")
    how = FORMATS.get(event.get("format", ""), "")
    return {
        "when": event_times.local_when(event),
        "utc": event_times.utc_when(event),
        "category": _(category) if category else "",
        "format": _(how) if how else "",
        "place": ", ".join(dict.fromkeys(part for part in place if part)),
        "country": country,
        "colour": CATEGORY_COLOURS.get(event.get("category", ""), "#6b6b6b"),
    }
