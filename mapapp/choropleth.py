"""The dashboard's world map: its colour classes, the small countries drawn as points, its data.

The shapes are world-atlas's 110m countries (ids ISO 3166-1 numeric), drawn in the browser; the
script unwraps the polygons that cross 180°. Countries smaller than SMALL_AREA_KM2 (measured on
the 50m outlines `mapapp.outlines` reads; every country the 110m file leaves out, such as
Singapore, Malta or Bahrain, is smaller) are drawn as circles too, at the middle of their main
land, so that they can be seen and clicked at the scale of the world.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pycountry

from mapapp.i18n import country_name, format_number, ngettext
from mapapp.outlines import Outlines

# From light to dark: the country with the most events gets the darkest.
SHADES = ("#f1e8f6", "#d4b9e3", "#b48acf", "#8f57b5", "#6a1b9a")
NO_EVENTS_SHADE = "#f7f7f7"
# Luxembourg (2,600 km²), Cyprus, Lebanon, Qatar, Jamaica and smaller are a pixel or less on a
# world map; Montenegro (13,800 km²) and larger can be seen.
SMALL_AREA_KM2 = 12_000.0

Point = tuple[float, float]  # latitude, longitude


@dataclass(frozen=True)
class ShadeClass:
    """One step of the colour scale: the counts from low to high (both included) and its colour."""

    low: int
    high: int
    colour: str

    @property
    def label(self) -> str:
        """Return the class as the legend says it, in the interface language ("3 to 5 events")."""
        if self.low == self.high:
            return ngettext("%(num)s event", "%(num)s events", self.low)
        # Translators: a step of the map's colour scale, from one number of events to another.
        return ngettext(
            "%(low)s to %(num)s event",
            "%(low)s to %(num)s events",
            self.high,
            low=format_number(self.low),
        )


def shade_classes(largest: int) -> tuple[ShadeClass, ...]:
    """Return the colour scale for counts from 1 to largest: up to five classes of equal width.

    With fewer distinct counts than shades, each count is a class of its own, in the darkest
    shades, so that the largest count is always the darkest.
    """
    if largest <= 0:
        return ()
    steps = len(SHADES)
    highs = sorted({math.ceil(largest * step / steps) for step in range(1, steps + 1)})
    lows = [1] + [high + 1 for high in highs[:-1]]
    colours = SHADES[steps - len(highs) :]
    return tuple(
        ShadeClass(low, high, colour)
        for low, high, colour in zip(lows, highs, colours, strict=True)
    )


def shade_of(count: int, classes: tuple[ShadeClass, ...]) -> str:
    """Return the colour of a count on the scale."""
    for shade in classes:
        if shade.low <= count <= shade.high:
            return shade.colour
    return NO_EVENTS_SHADE


_points: dict[int, tuple[Outlines, dict[str, Point]]] = {}


def small_country_points(shapes: Outlines | None) -> dict[str, Point]:
    """Return the middle of the main land of every small country, by alpha-2 code (once per file)."""
    if shapes is None:
        return {}
    held = _points.get(id(shapes))
    if held is None or held[0] is not shapes:
        points = {}
        for code, country in shapes.countries.items():
            if country.area_km2() < SMALL_AREA_KM2:
                south, west, north, east = country.extent()
                longitude = ((west + east) / 2 + 180.0) % 360.0 - 180.0
                points[code] = (round((south + north) / 2, 3), round(longitude, 3))
        held = _points[id(shapes)] = (shapes, points)
    return held[1]


def map_countries(
    counts: Mapping[str, int],
    covers: Callable[[str], bool],
    points: Mapping[str, Point],
    url_of: Callable[[str], str],
) -> dict[str, dict[str, Any]]:
    """Return what the map needs of each country in the scope, keyed by ISO numeric code.

    Each has its code, name (in the interface language), count, the address of its page and,
    for a small country with events, the point its circle is drawn at.
    """
    countries: dict[str, dict[str, Any]] = {}
    for country in pycountry.countries:
        code = str(country.alpha_2)
        if not covers(code):
            continue
        count = int(counts.get(code, 0))
        entry: dict[str, Any] = {
            "code": code,
            "name": country_name(code),
            "count": count,
            "url": url_of(code),
        }
        if count and code in points:
            entry["point"] = list(points[code])
        countries[str(country.numeric)] = entry
    return countries
