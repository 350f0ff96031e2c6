"""Country outlines: which country a point is in, how far it is from one, and a country's extent.

Read once per process from world-atlas's 50m TopoJSON (Natural Earth's admin 0 countries, ids
ISO 3166 numeric). The web layer knows where the npm packages are installed and hands the path to
`init_app`; nothing here imports web. Distances use a flat projection around the point asked
about: within a few hundred kilometres, which is all a tolerance needs, they are good to a few
per cent.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pycountry
from flask import Flask, current_app

EXTENSION = "mapapp.outlines"
KM_PER_DEGREE = 111.195  # along a meridian (mean Earth radius 6371 km)
# Natural Earth features without an ISO 3166 numeric id, and what the app calls them.
UNNUMBERED: dict[str, str] = {
    "Kosovo": "XK",
    "N. Cyprus": "CY",
    "Somaliland": "SO",
    "Indian Ocean Ter.": "AU",
    "Siachen Glacier": "IN",
}
# A country's extent takes in its parts within this distance of its largest part (Corsica for
# France, Gozo for Malta, the Balearics for Spain), not its faraway ones (French Guiana, Hawaii).
NEARBY_PART_KM = 500.0

log = logging.getLogger(__name__)

Bounds = tuple[float, float, float, float]  # south, west, north, east


@dataclass(frozen=True)
class Country:
    """One country's outline: its parts, each a list of rings of (longitude, latitude)."""

    code: str
    parts: tuple[tuple[np.ndarray, ...], ...]
    box: Bounds

    def contains(self, latitude: float, longitude: float) -> bool:
        """Tell whether a point is inside the outline (holes, such as enclaves, excluded)."""
        south, west, north, east = self.box
        if not south <= latitude <= north or _shifted(longitude, west, east) is None:
            return False
        crossings = 0
        for rings in self.parts:
            for ring in rings:
                shifted = _shifted(longitude, float(ring[:, 0].min()), float(ring[:, 0].max()))
                if shifted is not None:  # a point beside a ring crosses it an even number of times
                    crossings += _crossings(ring, latitude, shifted)
        return crossings % 2 == 1

    def distance_km(self, latitude: float, longitude: float) -> float:
        """Return the distance from a point to the outline, 0 inside it."""
        if self.contains(latitude, longitude):
            return 0.0
        scale = math.cos(math.radians(latitude))
        nearest = math.inf
        for rings in self.parts:
            for ring in rings:
                x = ((ring[:, 0] - longitude + 180.0) % 360.0 - 180.0) * scale
                y = ring[:, 1] - latitude
                nearest = min(nearest, _nearest_on_segments(x, y))
        return nearest * KM_PER_DEGREE

    def area_km2(self) -> float:
        """Return the outline's area (holes taken out), each ring flattened around its latitude."""
        total = 0.0
        for rings in self.parts:
            for position, ring in enumerate(rings):
                area = _ring_area_km2(ring)
                total += area if position == 0 else -area
        return abs(total)

    def extent(self) -> Bounds:
        """Return the bounds of the largest part and of the parts near it."""
        boxes = sorted((_box(rings[0]) for rings in self.parts), key=_area, reverse=True)
        extent, rest = boxes[0], boxes[1:]
        grew = True
        while grew:
            grew = False
            for box in list(rest):
                if _gap_km(extent, box) <= NEARBY_PART_KM:
                    extent = _union(extent, box)
                    rest.remove(box)
                    grew = True
        return extent


@dataclass(frozen=True)
class Outlines:
    """Every country's outline, by ISO alpha-2 code."""

    countries: dict[str, Country]

    def country_at(self, latitude: float, longitude: float) -> str:
        """Return the code of the country a point is in, or "" (at sea, or an unknown place)."""
        for code, country in self.countries.items():
            if country.contains(latitude, longitude):
                return code
        return ""

    def distance_km(self, code: str, latitude: float, longitude: float) -> float | None:
        """Return the distance from a point to a country's outline, or None without one."""
        country = self.countries.get(code.upper())
        return None if country is None else country.distance_km(latitude, longitude)

    def bounds(self, code: str) -> Bounds | None:
        """Return the extent of a country's main land, or None without an outline."""
        country = self.countries.get(code.upper())
        return None if country is None else country.extent()


def nearest_km(points: Sequence[tuple[float, float]], latitude: float, longitude: float) -> float:
    """Return the distance from a point to the nearest of some (latitude, longitude) points."""
    if not points:
        return math.inf
    coordinates = np.asarray(points, dtype=float)
    x = ((coordinates[:, 1] - longitude + 180.0) % 360.0 - 180.0) * math.cos(math.radians(latitude))
    y = coordinates[:, 0] - latitude
    return float(np.sqrt((x * x + y * y).min())) * KM_PER_DEGREE


# Reading the TopoJSON


def load(path: Path) -> Outlines:
    """Read a world-atlas countries TopoJSON file into outlines by alpha-2 code."""
    topology = json.loads(path.read_text(encoding="utf-8"))
    arcs = _decode_arcs(topology)
    parts_by_code: dict[str, list[tuple[np.ndarray, ...]]] = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        code = _alpha_2(geometry)
        if not code:
            continue
        polygons = {"Polygon": [geometry.get("arcs", [])], "MultiPolygon": geometry.get("arcs", [])}
        for polygon in polygons.get(geometry["type"], []):
            rings = tuple(_unwrapped(_ring(arcs, ring)) for ring in polygon)
            if rings and len(rings[0]) >= 3:
                parts_by_code.setdefault(code, []).append(rings)
    return Outlines(
        {
            code: Country(code, tuple(parts), _union_all(_box(rings[0]) for rings in parts))
            for code, parts in parts_by_code.items()
        }
    )


def _decode_arcs(topology: dict[str, Any]) -> list[np.ndarray]:
    """Return the topology's arcs as arrays of (longitude, latitude)."""
    transform = topology.get("transform")
    decoded = []
    for arc in topology["arcs"]:
        points = np.asarray(arc, dtype=float).reshape(-1, 2)
        if transform:
            points = np.cumsum(points, axis=0) * transform["scale"] + transform["translate"]
        decoded.append(points)
    return decoded


def _ring(arcs: list[np.ndarray], indices: list[int]) -> np.ndarray:
    """Return a closed ring joined from arcs (a negative index ~i is arc i reversed)."""
    pieces = []
    for position, index in enumerate(indices):
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        pieces.append(arc if position == 0 else arc[1:])
    return np.concatenate(pieces) if pieces else np.empty((0, 2))


def _unwrapped(ring: np.ndarray) -> np.ndarray:
    """Return a ring crossing the antimeridian (Russia, Fiji) with longitudes past 180 instead."""
    if len(ring) < 2 or np.abs(np.diff(ring[:, 0])).max() <= 180.0:
        return ring
    continuous = ring.copy()
    continuous[:, 0] = np.degrees(np.unwrap(np.radians(ring[:, 0])))
    return continuous


def _alpha_2(geometry: dict[str, Any]) -> str:
    """Return the alpha-2 code of a feature: from its numeric id, or its name when it has none."""
    number = geometry.get("id")
    if number is None:
        return UNNUMBERED.get(str(geometry.get("properties", {}).get("name", "")), "")
    country = pycountry.countries.get(numeric=str(number).zfill(3))
    return str(country.alpha_2) if country is not None else ""


# Geometry


def _shifted(longitude: float, west: float, east: float) -> float | None:
    """Return the longitude, or its copy 360 degrees away, that lies between west and east."""
    for candidate in (longitude, longitude + 360.0, longitude - 360.0):
        if west <= candidate <= east:
            return candidate
    return None


def _crossings(ring: np.ndarray, latitude: float, longitude: float) -> int:
    """Return how many edges of a ring a ray from the point eastwards crosses."""
    x0, y0 = ring[:-1, 0], ring[:-1, 1]
    x1, y1 = ring[1:, 0], ring[1:, 1]
    straddles = (y0 > latitude) != (y1 > latitude)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x0 + (latitude - y0) * (x1 - x0) / (y1 - y0)
    return int(np.count_nonzero(straddles & (longitude < at)))


def _nearest_on_segments(x: np.ndarray, y: np.ndarray) -> float:
    """Return the distance from the origin to the nearest segment of a polyline."""
    ax, ay, bx, by = x[:-1], y[:-1], x[1:], y[1:]
    dx, dy = bx - ax, by - ay
    length = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(length > 0, -(ax * dx + ay * dy) / length, 0.0)
    t = np.clip(t, 0.0, 1.0)
    px, py = ax + t * dx, ay + t * dy
    return float(np.sqrt((px * px + py * py).min())) if len(px) else math.inf


def _box(ring: np.ndarray) -> Bounds:
    """Return the bounds of a ring."""
    return (
        float(ring[:, 1].min()),
        float(ring[:, 0].min()),
        float(ring[:, 1].max()),
        float(ring[:, 0].max()),
    )


def _ring_area_km2(ring: np.ndarray) -> float:
    """Return a ring's area by the shoelace formula, degrees of longitude shrunk to its latitude."""
    if len(ring) < 3:
        return 0.0
    x, y = ring[:, 0], ring[:, 1]
    degrees = 0.5 * abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])))
    return degrees * math.cos(math.radians(float(y.mean()))) * KM_PER_DEGREE**2


def _union(a: Bounds, b: Bounds) -> Bounds:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _union_all(boxes: Iterable[Bounds]) -> Bounds:
    result: Bounds | None = None
    for box in boxes:
        result = box if result is None else _union(result, box)
    assert result is not None
    return result


def _area(box: Bounds) -> float:
    """Return a box's area in square degrees of longitude shrunk to its latitude."""
    middle = math.radians((box[0] + box[2]) / 2)
    return (box[2] - box[0]) * (box[3] - box[1]) * math.cos(middle)


def _gap_km(a: Bounds, b: Bounds) -> float:
    """Return the distance between two boxes (0 when they overlap)."""
    gap_lat = max(0.0, b[0] - a[2], a[0] - b[2])
    gap_lon = max(0.0, b[1] - a[3], a[1] - b[3])
    middle = math.radians((max(a[0], b[0]) + min(a[2], b[2])) / 2)
    return math.hypot(gap_lat, gap_lon * math.cos(middle)) * KM_PER_DEGREE


# The app's copy


_lock = threading.Lock()
_loaded: dict[Path, Outlines | None] = {}


def init_app(app: Flask, path: Path) -> None:
    """Tell the app where the outlines file is; it is read on first use."""
    app.extensions[EXTENSION] = Path(path)


def get_outlines() -> Outlines | None:
    """Return the current app's outlines, read once per process; None if the file is missing."""
    path: Path | None = current_app.extensions.get(EXTENSION)
    if path is None:
        return None
    if path not in _loaded:
        with _lock:
            if path not in _loaded:
                try:
                    _loaded[path] = load(path)
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("Country outlines unreadable, no out-of-country check: %s", exc)
                    _loaded[path] = None
    return _loaded[path]
