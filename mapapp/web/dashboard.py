"""The coordinators' dashboard under /admin/stats: one edition's counts, and a page per country.

The routes register on the admin blueprint (its sign-in check applies) and read the events
through `access.events()`, so a national coordinator's dashboard counts their countries only.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, NotFound

from mapapp import access, choropleth, outlines, stats
from mapapp.events import CATEGORIES, STATUSES, current_edition
from mapapp.events import country_name as english_country_name
from mapapp.filters import FIRST_YEAR, LAST_YEAR, YEAR_MESSAGE, YEAR_PATTERN
from mapapp.i18n import N_, Nn_, _, country_name, js_catalog
from mapapp.web.admin import blueprint, translated
from mapapp.web.assets import vendor_url

ALL_EDITIONS = "all"
WORLD_FILE = "world-atlas/countries-110m.json"
UNKNOWN_COUNTRY_MESSAGE = N_("There is no country with the code “%(code)s”: use a code such as FR.")
# The map's tooltips and its failure note (static/js/admin-stats.js fills in %(name)s, %(num)s).
MAP_NO_EVENTS = N_("%(name)s: no approved events. Select the country to open its page.")
MAP_EVENTS = Nn_(
    "%(name)s: %(num)s approved event. Select the country to open its page.",
    "%(name)s: %(num)s approved events. Select the country to open its page.",
)
MAP_FAILED = N_(
    "The map could not be loaded; the table below has every number. Please reload the page to "
    "try again."
)
OUT_OF_SCOPE_MESSAGE = N_(
    "Your account has no dashboard page for %(country)s: you coordinate %(scope)s."
)


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
        map_strings=_map_strings(),
    )


@blueprint.get("/stats/<code>")
def country_stats(code: str) -> ResponseReturnValue:
    """Show one country's events edition by edition; 404 for an unknown country or one out of scope."""
    canonical = code.upper()
    if len(canonical) != 2 or english_country_name(canonical) == canonical:
        raise NotFound(_(UNKNOWN_COUNTRY_MESSAGE, code=code))
    scope = access.current()
    if not scope.covers_country(canonical):
        country = country_name(canonical)
        raise NotFound(_(OUT_OF_SCOPE_MESSAGE, country=country, scope=scope.describe()))
    if code != canonical:
        return redirect(url_for("admin.country_stats", code=canonical), code=308)
    history = stats.country_history(access.events().frame(), canonical)
    return render_template(
        "admin/stats_country.html",
        history=history,
        statuses=translated(STATUSES),
        categories=translated(CATEGORIES),
    )


def _map_strings() -> dict[str, object]:
    """Return the map's sentences in the interface language; counts by CLDR plural category."""
    catalog = js_catalog([MAP_NO_EVENTS, MAP_FAILED], [MAP_EVENTS])
    return {
        "none": catalog[MAP_NO_EVENTS],
        "counts": catalog[MAP_EVENTS[0]],
        "failed": catalog[MAP_FAILED],
    }


def _edition() -> int | None:
    """Return the edition asked for in ?year= (the current one when absent, None for all)."""
    raw = request.args.get("year", "").strip()
    if not raw:
        return current_edition()
    if raw == ALL_EDITIONS:
        return None
    if YEAR_PATTERN.fullmatch(raw) and FIRST_YEAR <= int(raw) <= LAST_YEAR:
        return int(raw)
    raise BadRequest(_(YEAR_MESSAGE))
