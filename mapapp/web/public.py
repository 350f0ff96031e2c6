"""Pages visitors see: the map, its embeddable twin, one event's page and calendar file."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Hashable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.datastructures import MultiDict

from mapapp import calendar_links, i18n, js_messages, mapview
from mapapp import map_data as public_data
from mapapp.events import CATEGORIES, FORMATS, current_edition
from mapapp.exports import render_export
from mapapp.filters import parse_filter
from mapapp.i18n import _
from mapapp.storage import Store, get_store
from mapapp.web import page_cache
from mapapp.web.assets import vendor_url
from mapapp.web.languages import with_prefix

blueprint = Blueprint("public", __name__)

SETUP_CACHE_SECONDS = 300
# The gazetteer's place search for "near a place" (its route may live elsewhere, or not yet).
PLACES_ENDPOINT = "api.places"
# Filters a visitor may choose several values of; a form of checkboxes sends them repeated.
MULTIPLE_FILTERS = ("country", "category")


@blueprint.record_once
def _check_tiles(state: BlueprintSetupState) -> None:
    """Stop the app at start, with a message, when the tile settings cannot make a map."""
    mapview.tile_source(state.app.config)


def _map_page(
    template: str, *, embed: bool, urls: Mapping[str, str] | None = None, **context: Any
) -> str:
    """Render the map page or its embed with the filter choices and the page's configuration.

    `urls` replaces addresses of the page's configuration (the published site's files).
    """
    selected = parse_filter(_joined_args(request.args))
    if selected.errors:  # a 400 that names each value, as the data API and the exports answer
        abort(400, description=" ".join(selected.errors.values()))
    choices = _filter_choices()
    countries = _country_names(tuple(choices["countries"]), i18n.current_code())
    categories = [(code, _(label)) for code, label in CATEGORIES.items()]
    formats = [(code, _(label)) for code, label in FORMATS.items()]
    page_config = {
        "embed": embed,
        "edition": current_edition(),
        "lang": i18n.current_language().format_tag,  # Intl's dates, numbers and plurals
        "messages": i18n.js_catalog(js_messages.MESSAGES, js_messages.PLURALS),
        "distanceUnit": i18n.distance_unit(),
        "dataUrl": url_for("api.map_data"),
        "labelsUrl": url_for("api.map_labels"),
        "searchUrl": url_for("api.search"),
        "placesUrl": _places_url(),
        "eventApiUrl": url_for("api.event_detail", event_id="EVENT_ID"),
        "eventUrl": url_for("public.event_page", event_id="EVENT_ID"),
        "icsUrl": url_for("public.event_ics", event_id="EVENT_ID"),
        "embedUrl": url_for("public.embed", _external=True),
        "mapUrl": url_for("public.index", _external=True),
        "countriesUrl": vendor_url(mapview.COUNTRIES_TOPOJSON),
        # The clusters' Web Worker and the scripts it loads (static/js/map-worker.js).
        "clusterWorkerUrl": url_for("static", filename="js/map-worker.js"),
        "clusterScripts": [
            vendor_url(mapview.SUPERCLUSTER_JS),
            url_for("static", filename="js/map-clusters.js"),
        ],
        "categories": {
            code: {
                "label": label,
                "colour": mapview.CATEGORY_COLOURS[code],
                "symbol": mapview.CATEGORY_SYMBOLS[code],
            }
            for code, label in categories
        },
        "formats": dict(formats),
        "countries": dict(countries),
        **(urls or {}),
    }
    return render_template(
        template,
        choices={**choices, "countries": countries, "categories": categories, "formats": formats},
        selected=selected,
        page_config=page_config,
        assets=mapview.map_assets(vendor_url),
        colours=mapview.CATEGORY_COLOURS,
        symbols=mapview.CATEGORY_SYMBOLS,
        format_number=i18n.format_number,
        **context,
    )


def _joined_args(args: MultiDict[str, str]) -> MultiDict[str, str]:
    """Return the query with repeated country and category values joined by commas.

    The filters' checkboxes, sent without JavaScript, repeat the name (country=FR&country=DE);
    the address and the API write one comma list (country=FR,DE), which parse_filter reads.
    """
    joined = MultiDict(args)
    for name in MULTIPLE_FILTERS:
        values = [value for value in args.getlist(name) if value.strip()]
        if len(values) > 1:
            joined.setlist(name, [",".join(values)])
    return joined


def _places_url() -> str:
    """Return the URL of the place search in the page's language (its labels name countries)."""
    return with_prefix(url_for(PLACES_ENDPOINT), i18n.current_code())


def _filter_choices() -> dict[str, Any]:
    """Return the filters' choices, kept up to date by the public index."""
    return public_data.current(get_store()).filter_choices(current_edition())


# Naming and sorting the countries took 0.6 ms of the map page's 4.6 ms at 50,000 events; the
# codes change only with the store, so the names are kept per set of codes and language.
@functools.lru_cache(maxsize=4 * len(i18n.LANGUAGES))
def _country_names(codes: tuple[str, ...], language: str) -> tuple[tuple[str, str], ...]:
    """Return the filters' countries as (code, name), sorted by name in the language."""
    return tuple(i18n.sorted_names((code, i18n.country_name(code)) for code in codes))


def page_validity(store: Store) -> Hashable:
    """Return what a map page depends on besides the request: the public content, the edition."""
    return public_data.current(store).token, current_edition()


@blueprint.get("/")
def index() -> str:
    """Show the map of approved events with its filters and list."""
    page_cache.cacheable(page_validity(get_store()))
    return map_page(embed=False)


@blueprint.get("/embed")
def embed() -> str:
    """Show the map alone, for other sites to frame."""
    page_cache.cacheable(page_validity(get_store()))
    return map_page(embed=True)


def map_page(*, embed: bool, urls: Mapping[str, str] | None = None, **context: Any) -> str:
    """Render the map page or the embed (the published site gives its own `urls` and links)."""
    if embed:
        return _map_page("embed.html", embed=True, urls=urls, **context)
    edition = current_edition()
    summary = public_data.current(get_store()).summary(edition)
    return _map_page(
        "index.html", embed=False, urls=urls, edition=edition, summary=summary, **context
    )


@blueprint.get("/map-setup.js")
def map_setup() -> Response:
    """Send folium's script that creates the base map with the configured tiles."""
    script = mapview.map_setup_script(current_app.config)
    response = Response(script, mimetype="text/javascript")
    response.set_etag(hashlib.blake2b(script.encode(), digest_size=10).hexdigest())
    response.cache_control.public = True
    response.cache_control.max_age = SETUP_CACHE_SECONDS
    response.make_conditional(request)
    return response


def _published(event_id: str) -> dict[str, str]:
    """Return an approved event, or stop with a 404."""
    event = get_store().get(event_id)
    if event is None or event.get("status") != "approved":
        abort(404, description=_("This event is not on the map: it may have been withdrawn."))
    return event


@blueprint.get("/events/<event_id>")
def event_page(event_id: str) -> str:
    """Show one event with a small map, calendar and share links, readable by search engines."""
    event = _published(event_id)
    url = url_for("public.event_page", event_id=event_id, _external=True)
    small_map = None
    if event["latitude"] and event["longitude"]:
        small_map = mapview.small_map_parts(event["latitude"], event["longitude"], zoom=13)
    details = mapview.event_details(event)
    return render_template(
        "event.html",
        event=mapview.public_event(event),
        details=details,
        url=url,
        json_ld=mapview.event_json_ld(event, url),
        small_map=small_map,
        passed=calendar_links.has_passed(event, datetime.now(UTC)),
        calendar=_calendar_links(event, url, details),
        share=_share_links(event, url, details),
    )


def _calendar_links(
    event: dict[str, str], url: str, details: dict[str, str]
) -> dict[str, str] | None:
    """Return the event's Google Calendar and Outlook "add" links (None without a start)."""
    location = details["place"] if event.get("format") != "online" else event.get("website", "")
    entry = calendar_links.calendar_event(event, url=url, location=location or url)
    if entry is None:
        return None
    return {
        "google": calendar_links.google_calendar_url(entry),
        "outlook": calendar_links.outlook_calendar_url(entry),
    }


def _share_links(event: dict[str, str], url: str, details: dict[str, str]) -> list[dict[str, str]]:
    """Return the event's plain share links, e-mail first, each with the words people read."""
    body = "\n".join(part for part in (details["when"], details["place"], url) if part)
    links = [
        {
            "key": "email",
            "url": calendar_links.mail_url(event.get("title", ""), body),
            "label": _("Share by e-mail"),
        }
    ]
    for link in calendar_links.share_links(url, event.get("title", "")):
        label = _("Share on %(site)s", site=link.name)
        links.append({"key": link.key, "url": link.url, "label": label})
    return links


@blueprint.app_template_global("webcal_url")
def _webcal_url(url: str) -> str:
    """Return a feed's address under webcal:, for the map page's "Subscribe" link."""
    return calendar_links.webcal_url(url)


@blueprint.get("/events/<event_id>.ics")
def event_ics(event_id: str) -> Response:
    """Send one event as an iCalendar file to add to a calendar."""
    event = _published(event_id)
    # One row made from the event found by its key, not a pass over every event's id.
    row = pd.DataFrame([event], columns=list(event))
    body, media_type, suffix = render_export("ics", row)
    response = Response(body, mimetype=media_type.split(";")[0])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="rare-disease-day-{event_id}{suffix}"'
    )
    return response


@blueprint.get("/healthz")
def health() -> tuple[dict[str, object], int]:
    """Tell a load balancer whether the store can be read and written: ok, read-only, degraded."""
    store = get_store()
    status = store.health()
    if status == "degraded":
        return {"status": status}, 503
    return {"status": status, "events": len(store)}, 200
