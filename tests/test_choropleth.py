"""The dashboard map's colour scale, its small countries and its data (mapapp.choropleth)."""

from __future__ import annotations

import json

import pytest

from mapapp import choropleth, outlines
from mapapp.choropleth import NO_EVENTS_SHADE, SHADES, ShadeClass
from mapapp.web.assets import NODE_MODULES

OUTLINES_FILE = NODE_MODULES / "world-atlas" / "countries-50m.json"
WORLD_FILE = NODE_MODULES / "world-atlas" / "countries-110m.json"


@pytest.fixture(scope="module")
def shapes() -> outlines.Outlines:
    return outlines.load(OUTLINES_FILE)


@pytest.mark.parametrize(
    ("largest", "ranges"),
    [
        (0, []),
        (1, [(1, 1)]),  # one class, the darkest
        (3, [(1, 1), (2, 2), (3, 3)]),
        (5, [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]),
        (10, [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)]),
        (12, [(1, 3), (4, 5), (6, 8), (9, 10), (11, 12)]),
        (400, [(1, 80), (81, 160), (161, 240), (241, 320), (321, 400)]),
    ],
)
def test_the_scale_covers_every_count_once_up_to_the_largest(
    largest: int, ranges: list[tuple[int, int]]
) -> None:
    classes = choropleth.shade_classes(largest)
    assert [(shade.low, shade.high) for shade in classes] == ranges
    assert [shade.colour for shade in classes] == list(SHADES[len(SHADES) - len(ranges) :])
    if largest:
        assert choropleth.shade_of(largest, classes) == SHADES[-1]
        assert choropleth.shade_of(1, classes) == classes[0].colour
    assert choropleth.shade_of(0, classes) == NO_EVENTS_SHADE


def test_a_count_outside_the_scale_has_no_shade() -> None:
    classes = (ShadeClass(1, 2, "#111111"),)
    assert choropleth.shade_of(3, classes) == NO_EVENTS_SHADE


def test_areas_are_close_to_the_real_ones(shapes: outlines.Outlines) -> None:
    # Wikipedia's areas (land and inland water); the 50m outlines smooth coasts away.
    for code, real in {"MT": 316, "SG": 728, "LU": 2_586, "CH": 41_285, "PL": 312_696}.items():
        assert 0.6 * real < shapes.countries[code].area_km2() < 1.3 * real, code


def test_small_countries_are_drawn_as_points(shapes: outlines.Outlines) -> None:
    points = choropleth.small_country_points(shapes)
    for code, (latitude, longitude) in {
        "SG": (1.35, 103.82),
        "MT": (35.94, 14.38),
        "BH": (26.03, 50.55),
        "LU": (49.8, 6.13),
        "MC": (43.74, 7.42),
    }.items():
        assert abs(points[code][0] - latitude) < 0.5, code
        assert abs(points[code][1] - longitude) < 0.5, code
    for code in ("FR", "RU", "US", "ME", "FJ"):
        assert code not in points
    assert choropleth.small_country_points(shapes) is points  # measured once
    assert choropleth.small_country_points(None) == {}


def test_every_country_the_world_map_leaves_out_is_a_point(shapes: outlines.Outlines) -> None:
    topology = json.loads(WORLD_FILE.read_text(encoding="utf-8"))
    drawn = {shape.get("id") for shape in topology["objects"]["countries"]["geometries"]}
    countries = choropleth.map_countries({}, lambda _: True, {}, str)
    left_out = {c["code"] for numeric, c in countries.items() if numeric not in drawn}
    assert {"SG", "MT", "BH", "MV", "AD"} <= left_out
    # Every one the 50m outlines hold is small; the rest (Tuvalu, Gibraltar, Bouvet Island...)
    # have no outline at all: the table lists them, the map cannot.
    with_outline = {code for code in left_out if code in shapes.countries}
    assert with_outline <= set(choropleth.small_country_points(shapes))
    assert len(with_outline) > 60


def test_map_data_keeps_to_the_scope_and_points_only_countries_with_events() -> None:
    countries = choropleth.map_countries(
        {"FR": 3, "MT": 1},
        {"FR", "MT", "SG"}.__contains__,
        {"MT": (35.9, 14.4), "SG": (1.35, 103.8)},
        lambda code: f"/admin/stats/{code}",
    )
    assert countries == {
        "250": {"code": "FR", "name": "France", "count": 3, "url": "/admin/stats/FR"},
        "470": {
            "code": "MT",
            "name": "Malta",
            "count": 1,
            "url": "/admin/stats/MT",
            "point": [35.9, 14.4],
        },
        "702": {"code": "SG", "name": "Singapore", "count": 0, "url": "/admin/stats/SG"},
    }
