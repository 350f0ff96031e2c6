"""Towns by any of their names, in any language: the places a typed name means.

Only the offline gazetteer is read, never Nominatim: visitors type these names (the map's "near a
place"), and visitors must never drive a public geocoder.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context

from mapapp.geocoding import EXTENSION, get_geocoder
from mapapp.geocoding.gazetteer import Gazetteer, fold, get_gazetteer
from mapapp.i18n import _, country_name

MAX_PLACES = 5
COORDINATE_DECIMALS = 3


def current_gazetteer() -> Gazetteer:
    """Return the current app's gazetteer, or the process's default one outside an app."""
    if has_app_context() and EXTENSION in current_app.extensions:
        return get_geocoder().gazetteer
    return get_gazetteer()


def places_named(text: str, limit: int = MAX_PLACES) -> list[dict[str, Any]]:
    """Return the places a typed name means, best first: its country, then towns by population.

    A town is named by its main name or any GeoNames alternate name ("München", "Milano",
    "北京"); `name` is the town's main name when that is what was typed, else the text as
    typed. A country's name in any known language ("Deutschland") gives the country's centre.
    """
    gazetteer = current_gazetteer()
    typed = " ".join(text.split())
    key = fold(typed)
    if not key:
        return []
    towns = [gazetteer.cities[index] for index in gazetteer.indices(key)[:limit]]
    places: list[dict[str, Any]] = []
    code = gazetteer.country_code(typed)
    # A city-state's name ("Singapore", "Monaco") means its town, which is listed already.
    city_state = code in gazetteer.city_states and any(town.country == code for town in towns)
    if code and not city_state and (point := gazetteer.country_point(code)) is not None:
        places.append(
            _place(typed, code, country_name(code), point.latitude, point.longitude, "country")
        )
    names = [town.name if fold(town.name) == key else typed for town in towns]
    for town, name in zip(towns, names, strict=True):
        country = country_name(town.country)
        region = gazetteer.region_name(town.country, town.admin1)
        # Towns of one name in one country ("Springfield") are told apart by their regions.
        twins = sum(1 for other in towns if other.country == town.country) > 1
        if twins and region:
            label = _(
                "%(town)s, %(region)s, %(country)s", town=name, region=region, country=country
            )
        else:
            label = _("%(town)s, %(country)s", town=name, country=country)
        places.append(_place(name, town.country, label, town.latitude, town.longitude, "city"))
    return places[:limit]


def _place(
    name: str, country: str, label: str, latitude: float, longitude: float, precision: str
) -> dict[str, Any]:
    """Return one place as the places API sends it."""
    return {
        "name": name,
        "country": country,
        "label": label,
        "lat": round(latitude, COORDINATE_DECIMALS),
        "lon": round(longitude, COORDINATE_DECIMALS),
        "precision": precision,
    }
