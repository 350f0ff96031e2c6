"""The coordinators' dashboard under /admin/stats: one edition's counts, and a page per country.

The routes register on the admin blueprint (its sign-in check applies) and read the events
through `access.events()`, so a national coordinator's dashboard counts their countries only.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, NotFound

from mapapp import access, choropleth, outlines, stats
from mapapp.events import CATEGORIES, STATUSES, country_name, current_edition
from mapapp.filters import FIRST_YEAR, LAST_YEAR, YEAR_MESSAGE, YEAR_PATTERN
from mapapp.web.admin import blueprint
from mapapp.web.assets import vendor_url

ALL_EDITIONS = "all"
WORLD_FILE = "world-atlas/countries-110m.json"
UNKNOWN_COUNTRY_MESSAGE = "There is no country with the code “{code}”: use a code such as FR."
OUT_OF_SCOPE_MESSAGE = "Your account has no dashboard page for {country}: you coordinate {scope}."


@blueprint.get("/stats")
def stats_page() -> str:
    """Show one edition's dashboard (the current one unless ?year= says): counts and the map."""
    edition = _edition()
    frame = access.events().frame()
    board = stats.dashboard(frame, edition)
    classes = choropleth.shade_classes(board.largest_country)
    scope = access.current()
    current = current_edition()
    years = set(stats.editions(frame)) | {current} | ({edition} if edition else set())
    map_data = {
        "world": vendor_url(WORLD_FILE),
        "classes": [[shade.low, shade.high, shade.colour] for shade in classes],
        "noEvents": choropleth.NO_EVENTS_SHADE,
        "countries": choropleth.map_countries(
            {country.code: country.count for country in board.countries},
            scope.covers_country,
            choropleth.small_country_points(outlines.get_outlines()),
            lambda code: url_for("admin.country_stats", code=code),
        ),
    }
    return render_template(
        "admin/stats.html",
        dashboard=board,
        edition=edition,
        current_edition=current,
        years=sorted(years, reverse=True),
        classes=classes,
        no_events_shade=choropleth.NO_EVENTS_SHADE,
        small_area_km2=choropleth.SMALL_AREA_KM2,
        map_data=map_data,
    )


@blueprint.get("/stats/<code>")
def country_stats(code: str) -> ResponseReturnValue:
    """Show one country's events edition by edition; 404 for an unknown country or one out of scope."""
    canonical = code.upper()
    if len(canonical) != 2 or country_name(canonical) == canonical:
        raise NotFound(UNKNOWN_COUNTRY_MESSAGE.format(code=code))
    scope = access.current()
    if not scope.covers_country(canonical):
        country = country_name(canonical)
        raise NotFound(OUT_OF_SCOPE_MESSAGE.format(country=country, scope=scope.describe()))
    if code != canonical:
        return redirect(url_for("admin.country_stats", code=canonical), code=308)
    history = stats.country_history(access.events().frame(), canonical)
    return render_template(
        "admin/stats_country.html",
        history=history,
        statuses=STATUSES,
        categories=CATEGORIES,
    )


def _edition() -> int | None:
    """Return the edition asked for in ?year= (the current one when absent, None for all)."""
    raw = request.args.get("year", "").strip()
    if not raw:
        return current_edition()
    if raw == ALL_EDITIONS:
        return None
    if YEAR_PATTERN.fullmatch(raw) and FIRST_YEAR <= int(raw) <= LAST_YEAR:
        return int(raw)
    raise BadRequest(YEAR_MESSAGE)
