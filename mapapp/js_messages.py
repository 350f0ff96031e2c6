"""The map's JavaScript strings: the catalog static/js/map.js reads through t() and tn().

The page hands them translated to the browser (i18n.js_catalog), so map.js holds no English of
its own; tests/test_map.py checks that every t("...") and tn(n, "...") in map.js is listed here.
"""

from __future__ import annotations

from mapapp.i18n import N_, Nn_

MESSAGES: tuple[str, ...] = (
    # The summary, the search and loading
    N_("Loading events…"),
    N_("Searching…"),
    N_("The search did not work. Please try again."),
    N_("The events could not be loaded. Please reload the page."),
    # The filters
    N_("All countries"),
    N_("Countries (%(num)s)"),
    N_("All categories"),
    N_("Categories (%(num)s)"),
    N_("Filters (%(num)s)"),
    N_("Rare Disease Day events map"),
    # Markers and popups
    N_("Event"),
    N_("%(title)s (%(category)s)"),
    N_("Loading the event…"),
    N_("This event could not be loaded. It may have just been withdrawn."),
    N_("%(category)s · %(format)s"),
    N_("%(when)s (%(zone)s)"),
    N_("%(when)s your time"),
    N_("By %(organiser)s"),
    N_("Website"),
    N_("Event page"),
    N_("Add to calendar"),
    # The list
    N_("No event in the map's view: zoom out or change the filters."),
    N_("Online"),
    N_("Show on map"),
    N_("Show on map: %(title)s"),
    N_("%(distance)s away"),
    # Near me, near a place
    N_("This browser cannot tell where you are. Type a town instead."),
    N_("Asking your browser where you are…"),
    N_("Your browser did not share your location. You can type a town instead."),
    N_("Your location could not be found. You can type a town instead."),
    N_("Type the name of a town first."),
    N_("Looking for %(place)s…"),
    N_("We could not find %(place)s. Check the spelling, or try a larger town nearby."),
    N_("The place search did not work. Please try again."),
    N_("Another place with this name?"),
    N_("The list shows the events nearest to %(place)s first."),
    N_("The list shows the events nearest to you first."),
    N_("The list is in date order again."),
)

PLURALS: tuple[tuple[str, str], ...] = (
    Nn_("%(num)s event in %(countries)s", "%(num)s events in %(countries)s"),
    Nn_("%(num)s country", "%(num)s countries"),
    Nn_("%(num)s event in view", "%(num)s events in view"),
    Nn_("Zoomed in: %(num)s event in view", "Zoomed in: %(num)s events in view"),
    Nn_(
        "%(num)s event near here: select to zoom in",
        "%(num)s events near here: select to zoom in",
    ),
    Nn_(
        "%(num)s event at this place: select to list them",
        "%(num)s events at this place: select to list them",
    ),
    Nn_("%(num)s event at this place", "%(num)s events at this place"),
    Nn_("Showing %(num)s event at this place", "Showing %(num)s events at this place"),
    Nn_("Back to the %(num)s event at this place", "Back to the %(num)s events at this place"),
    Nn_(
        "Showing %(shown)s of %(num)s event in the map's view, by date.",
        "Showing %(shown)s of %(num)s events in the map's view, by date.",
    ),
    Nn_(
        "Showing %(shown)s of %(num)s event in the map's view, nearest first.",
        "Showing %(shown)s of %(num)s events in the map's view, nearest first.",
    ),
)
