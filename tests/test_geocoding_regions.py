"""Regions: ISO 3166-2 regions matched to GeoNames' numbered codes, and distances between towns."""

from __future__ import annotations

import pytest

from mapapp.geocoding.gazetteer import City, get_gazetteer
from mapapp.geocoding.regions import near_any, region_variants


@pytest.mark.parametrize(
    ("name", "variants"),
    [
        ("Catalunya [Cataluña]", ["Catalunya", "Cataluña"]),
        ("Murcia, Región de", ["Región de Murcia", "Murcia"]),
        ("Valenciana, Comunidad", ["Comunidad Valenciana", "Valenciana"]),
        ("Galicia", ["Galicia"]),
    ],
)
def test_an_iso_name_is_read_every_way_it_is_written(name: str, variants: list[str]) -> None:
    assert region_variants(name) == variants


def town(latitude: float, longitude: float) -> City:
    return City("", latitude, longitude, "ES", "", 0, "")


def test_near_any_measures_great_circle_distances() -> None:
    barcelona, girona = town(41.3888, 2.159), town(41.9831, 2.8249)  # about 85 km apart
    assert near_any(barcelona, [girona], 90)
    assert not near_any(barcelona, [girona], 80)
    assert not near_any(barcelona, [], 1000)


@pytest.mark.parametrize(
    ("country", "region", "admin1"),
    [
        ("ES", "Catalonia", "56"),
        ("ES", "Catalunya", "56"),
        ("ES", "Cataluña", "56"),
        ("ES", "Castilla y León", "55"),
        ("ES", "Basque Country", "59"),
        ("ES", "Comunidad de Madrid", "29"),
        ("FR", "Auvergne-Rhône-Alpes", "84"),  # not Saint-Martin, a village of that region
        ("FR", "Bretagne", "53"),
        ("DE", "Bavaria", "02"),
        ("IT", "Lombardy", "09"),
        ("IT", "Toscana", "16"),
    ],
)
def test_regions_numbered_by_geonames_are_known_by_their_names(
    country: str, region: str, admin1: str
) -> None:
    assert get_gazetteer().region_admin1(country, region) == {admin1}
