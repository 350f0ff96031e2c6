"""Roles and countries: the scope every coordinators' read and change keeps to (mapapp.access).

The walk at the end visits every route of the app's url_map under /admin, as each role, and
fails for a route nobody classified: a new coordinators' page must say who may use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import access
from mapapp.access import ADMIN, NATIONAL, VIEWER, NotAllowed, OutOfScope, Scope, ScopedEvents
from mapapp.storage import Audit, EventNotFoundError, EventStore
from tests.conftest import add_valid_event, make_event

GERMAN = {
    "title": "Lichter für seltene Krankheiten",
    "city": "Berlin",
    "country": "DE",
    "timezone": "Europe/Berlin",
    "latitude": "52.520008",
    "longitude": "13.404954",
    "venue": "Rathaus",
    "contact_email": "berlin@example.org",
}


@pytest.mark.parametrize(
    ("scope", "country", "covered"),
    [
        (Scope("a", ADMIN), "FR", True),
        (Scope("a", ADMIN), "", True),  # events with no country are the admins'
        (Scope("n", NATIONAL, frozenset({"FR", "BE"})), "FR", True),
        (Scope("n", NATIONAL, frozenset({"FR", "BE"})), "fr", True),
        (Scope("n", NATIONAL, frozenset({"FR", "BE"})), "DE", False),
        (Scope("n", NATIONAL, frozenset({"FR", "BE"})), "", False),
        (Scope("n", NATIONAL, frozenset()), "FR", False),  # no countries: nothing
        (Scope("v", VIEWER), "DE", True),  # a viewer without countries reads every country
        (Scope("v", VIEWER, frozenset({"FR"})), "DE", False),
    ],
)
def test_a_scope_covers_its_countries_only(scope: Scope, country: str, covered: bool) -> None:
    assert scope.covers({"country": country}) is covered
    assert (scope.refusal(country) == "") is covered


def test_a_refusal_names_the_countries_a_coordinator_has() -> None:
    scope = Scope("n", NATIONAL, frozenset({"FR", "BE"}))
    assert scope.refusal("DE") == (
        "Country: you coordinate events in Belgium, France, not in Germany. Ask an "
        "administrator to take care of this event."
    )


@pytest.fixture
def two_countries(app: Flask, store: EventStore) -> tuple[dict[str, str], dict[str, str]]:
    """Store a French and a German pending event."""
    with app.app_context():
        french = add_valid_event(store, status="pending")
        german = add_valid_event(store, status="pending", **GERMAN)
    return french, german


def scoped(app: Flask, scope: Scope) -> ScopedEvents:
    """Return the store as a scope sees it (inside an app context the caller holds)."""
    return access.events(scope)


FRANCE = Scope("nat", NATIONAL, frozenset({"FR"}))


def test_a_national_scope_reads_only_its_countries(
    app: Flask, two_countries: tuple[dict[str, str], dict[str, str]]
) -> None:
    french, german = two_countries
    with app.app_context():
        events = scoped(app, FRANCE)
        assert list(events.frame()["id"]) == [french["id"]]
        assert events.get(german["id"]) is None
        assert german["id"] not in events
        with pytest.raises(EventNotFoundError):
            events.require(german["id"])
        assert events.get(french["id"])["contact_email"] == "organiser@example.org"


@pytest.mark.parametrize(
    "write",
    [
        lambda events, german: events.update(
            german["id"], {"title": "x"}, expected=german["version"], audit=Audit("n", "edit")
        ),
        lambda events, german: events.update_many(
            {german["id"]: {"status": "approved"}},
            expected={german["id"]: german["version"]},
            audit=Audit("n", "approve"),
        ),
        lambda events, german: events.erase(german["id"], who="n"),
        lambda events, german: events.require_changeable(german["id"]),
    ],
    ids=["update", "update_many", "erase", "require_changeable"],
)
def test_a_national_scope_cannot_touch_another_countrys_event(
    app: Flask,
    store: EventStore,
    two_countries: tuple[dict[str, str], dict[str, str]],
    write: Callable[[ScopedEvents, dict[str, str]], Any],
) -> None:
    _, german = two_countries
    with app.app_context():
        with pytest.raises(EventNotFoundError):
            write(scoped(app, FRANCE), german)
        assert store.get(german["id"]) == german


def test_moving_an_event_out_of_the_scope_is_refused(
    app: Flask, store: EventStore, two_countries: tuple[dict[str, str], dict[str, str]]
) -> None:
    french, _ = two_countries
    with app.app_context():
        with pytest.raises(OutOfScope, match="not in Germany") as refused:
            scoped(app, FRANCE).update(
                french["id"],
                {"country": "DE"},
                expected=french["version"],
                audit=Audit("n", "edit"),
            )
        assert refused.value.field == "country"
        assert store.get(french["id"]) == french


def test_adding_events_out_of_the_scope_is_refused_and_writes_nothing(
    app: Flask, store: EventStore
) -> None:
    with app.app_context():
        before = len(store)
        with pytest.raises(OutOfScope, match="not in Germany"):
            scoped(app, FRANCE).add_many(
                [make_event(), make_event(**GERMAN)], audit=Audit("n", "import")
            )
        assert len(store) == before


BERLIN = {"latitude": "52.520008", "longitude": "13.404954"}
POINT_REFUSED = (
    "Location: this point is outside France, the event's country, and you coordinate events in "
    "France. Place the event in France, or ask an administrator to take care of it."
)


def test_a_national_coordinator_cannot_pin_their_event_in_another_country(
    app: Flask,
    store: EventStore,
    client_as: Callable[..., FlaskClient],
    two_countries: tuple[dict[str, str], dict[str, str]],
) -> None:
    # The scope reads the country field: a French event pinned in Berlin would be on Germany's
    # map, where no German coordinator sees it. The place action, the edit form and the scope
    # itself refuse it; a pin elsewhere in France is fine, and an administrator places anywhere.
    french, _ = two_countries
    client = client_as(NATIONAL, {"FR"})
    placed = client.post(
        f"/admin/events/{french['id']}/place",
        data={"csrf_token": csrf_token(client), "version": french["version"], **BERLIN},
        headers={"Accept": "application/json"},
    )
    assert placed.status_code == 422
    assert placed.get_json()["message"] == POINT_REFUSED
    with app.app_context():
        assert store.get(french["id"]) == french
        with pytest.raises(OutOfScope, match="outside France") as refused:
            scoped(app, FRANCE).update(
                french["id"], BERLIN, expected=french["version"], audit=Audit("n", "place")
            )
        assert refused.value.field == "latitude"
        with pytest.raises(OutOfScope, match="outside France"):
            scoped(app, FRANCE).add(make_event(**BERLIN), audit=Audit("n", "import"))
        lyon = {"latitude": "45.764043", "longitude": "4.835659"}
        moved = scoped(app, FRANCE).update(
            french["id"], lyon, expected=french["version"], audit=Audit("n", "place")
        )
        assert moved["latitude"] == "45.764043"
        anywhere = scoped(app, Scope("a", ADMIN)).update(
            french["id"], BERLIN, expected=moved["version"], audit=Audit("a", "place")
        )
        assert anywhere["latitude"] == BERLIN["latitude"]


def test_a_viewer_reads_without_contacts_and_changes_nothing(
    app: Flask, store: EventStore, two_countries: tuple[dict[str, str], dict[str, str]]
) -> None:
    french, _ = two_countries
    viewer = Scope("v", VIEWER)
    with app.app_context():
        events = scoped(app, viewer)
        assert set(events.frame()["contact_email"]) == {""}
        assert events.get(french["id"])["contact_email"] == ""
        assert store.get(french["id"])["contact_email"] == "organiser@example.org"
        for refused in (
            lambda: events.update(
                french["id"], {"title": "x"}, expected=french["version"], audit=Audit("v", "edit")
            ),
            lambda: events.add(make_event(), audit=Audit("v", "import")),
            lambda: events.erase(french["id"], who="v"),
            events.audit_frame,
            events.private_frame,
        ):
            with pytest.raises(NotAllowed):
                refused()
        assert store.get(french["id"]) == french


def test_a_national_audit_holds_only_its_countries_events(
    app: Flask, store: EventStore, two_countries: tuple[dict[str, str], dict[str, str]]
) -> None:
    french, german = two_countries
    with app.app_context():
        ids = set(scoped(app, FRANCE).audit_frame()["event_id"])
        assert french["id"] in ids and german["id"] not in ids


def test_in_a_request_without_a_signed_in_coordinator_no_scope_is_assumed(app: Flask) -> None:
    with app.test_request_context("/admin/"):
        with pytest.raises(NotAllowed):
            access.current()
    with app.app_context():  # the command line: the system's scope
        assert access.current().everywhere


# The walk over every coordinators' route

# How each route under /admin is used: "event" routes act on the event in their URL;
# "page" routes list or count events; "change" routes post changes of the ticked events;
# "audit" is the audit log; "private" downloads hold contact details; "import" adds events;
# "admins" are for administrators only (accounts, API keys);
# "own" routes are the signed-in account's own; "public" need no account.
ROUTES: dict[str, str] = {
    "admin.queue": "page",
    "admin.events": "page",
    "admin.stats_page": "page",
    "admin.country_stats": "page",  # /admin/stats/<code>: 404 for a country outside the scope
    "admin.audit_log": "audit",
    "admin.audit_export": "audit",
    "admin.keys": "admins",
    "admin.create_key": "admins",
    "admin.revoke_key": "admins",
    "exports.admin_export": "private",
    "imports.upload": "import",
    "imports.confirm": "import",
    "imports.template_csv_file": "import",
    "imports.template_xlsx_file": "import",
    "admin.approve_many": "change",
    "admin.reject_many": "change",
    "admin.approve": "event",
    "admin.reject": "event",
    "admin.place": "event",
    "admin.edit": "event",
    "admin.approve_change": "event",
    "admin.reject_change": "event",
    "erase.confirm": "event",
    "erase.erase": "event",
    "auth.sign_in": "public",
    "auth.sign_out": "own",
    "auth.password": "own",
    "accounts.accounts_page": "admins",
    "accounts.invite": "admins",
    "accounts.account": "admins",
    "accounts.reinvite": "admins",
    "accounts.withdraw": "admins",
    "accounts.own_settings": "own",
    "accounts.accept": "public",
    "accounts.reset_request": "public",
    "accounts.reset": "public",
}


def admin_rules(app: Flask) -> list[Any]:
    """Return every rule of the app under /admin."""
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")]


def test_every_coordinators_route_says_who_may_use_it(app: Flask) -> None:
    unclassified = sorted(rule.endpoint for rule in admin_rules(app))
    assert [name for name in unclassified if name not in ROUTES] == []


def csrf_token(client: FlaskClient) -> str:
    """Return a CSRF token of the client's session, from a page every account can open."""
    page = client.get("/admin/account/password").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1)


def post_everything(client: FlaskClient, url: str, event: dict[str, str]) -> Any:
    """Post a form that every action would accept for this event."""
    form = {
        "csrf_token": csrf_token(client),
        "version": event["version"],
        f"version-{event['id']}": event["version"],
        "ids": event["id"],
        "reason": "A reason.",
        "latitude": "50.0",
        "longitude": "10.0",
        "confirm": event["id"],
        "title": "Changed by the walk",
        **{name: value for name, value in event.items() if name not in {"title", "version"}},
    }
    return client.post(url, data=form)


def urls_of(app: Flask, event_id: str, country: str = "FR") -> list[tuple[str, str, str]]:
    """Return (endpoint, method, url) for every coordinators' route, for one event (and country)."""
    walked = []
    with app.test_request_context():
        from flask import url_for

        from mapapp import coordinators

        # An account's routes get the first stored account (the walking client's, at least).
        values = {
            "event_id": event_id,
            "name": coordinators.list_coordinators()[0].name,
            "token": "not-a-token",
            "code": country,  # a country's page: the event's country
        }
        for rule in admin_rules(app):
            arguments = {name: values[name] for name in rule.arguments}
            url = url_for(rule.endpoint, **arguments)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                walked.append((rule.endpoint, method, url))
    return walked


def test_a_national_coordinator_gets_404_for_every_route_of_another_countrys_event(
    app: Flask,
    store: EventStore,
    client_as: Callable[..., FlaskClient],
    two_countries: tuple[dict[str, str], dict[str, str]],
) -> None:
    french, german = two_countries
    client = client_as(NATIONAL, {"FR"})
    country_pages = {rule.endpoint for rule in admin_rules(app) if "code" in rule.arguments}
    for endpoint, method, url in urls_of(app, german["id"], german["country"]):
        kind = ROUTES[endpoint]
        if kind in {"public", "own"}:
            continue
        if method == "GET":
            response = client.get(url)
        else:
            response = post_everything(client, url, german)
        body = response.get_data().decode(errors="replace")  # downloads may be binary (.xlsx)
        assert response.status_code != 500, (endpoint, method, body[:500])
        if kind == "event" or endpoint in country_pages:  # Germany's page is not France's
            assert response.status_code == 404, (endpoint, method, response.status_code)
        elif kind in {"page", "audit"} and method == "GET":
            assert response.status_code == 200, (endpoint, body[:300])
            assert german["id"] not in body and GERMAN["title"] not in body, endpoint
        elif kind == "private":
            assert response.status_code == 200
            assert GERMAN["contact_email"] not in body and french["id"] in body
        elif kind == "admins":
            assert response.status_code == 403, (endpoint, method, response.status_code)
        elif kind == "import":  # open to national coordinators; a post without a file is refused
            expected = 200 if method == "GET" else 400
            assert response.status_code == expected, (endpoint, method, response.status_code)
        assert store.get(german["id"]) == german, (endpoint, method)


def test_a_viewer_reads_the_pages_but_every_change_is_refused(
    app: Flask,
    store: EventStore,
    client_as: Callable[..., FlaskClient],
    two_countries: tuple[dict[str, str], dict[str, str]],
) -> None:
    french, german = two_countries
    client = client_as(VIEWER)
    for endpoint, method, url in urls_of(app, french["id"], french["country"]):
        kind = ROUTES[endpoint]
        if kind in {"public", "own"}:
            continue
        if method == "GET":
            response = client.get(url)
        else:
            response = post_everything(client, url, french)
        body = response.get_data(as_text=True)
        if kind == "page" and method == "GET":
            assert response.status_code == 200, (endpoint, body[:300])
            assert "organiser@example.org" not in body, endpoint
        elif kind == "change":
            assert response.status_code in {303, 403}, (endpoint, response.status_code)
        else:
            assert response.status_code == 403, (endpoint, method, response.status_code, body[:300])
        assert store.get(french["id"]) == french, (endpoint, method)
        assert store.get(german["id"]) == german, (endpoint, method)


def test_an_admin_reaches_every_event_route(
    app: Flask,
    store: EventStore,
    client_as: Callable[..., FlaskClient],
    two_countries: tuple[dict[str, str], dict[str, str]],
) -> None:
    _, german = two_countries
    client = client_as(ADMIN)
    for endpoint, method, url in urls_of(app, german["id"], german["country"]):
        if ROUTES[endpoint] in {"event", "page", "audit", "private", "import", "admins"}:
            if method == "GET":
                assert client.get(url).status_code == 200, endpoint


def test_accounts_from_before_roles_are_upgraded_to_active_administrators(
    app_config: dict[str, Any], data_dir: Any
) -> None:
    from mapapp import coordinators, create_app

    hashed = "scrypt:32768:8:1$salt$" + "0" * 128
    (data_dir / "coordinators.csv").write_text(
        f"\ufeffname,password_hash,created_at\r\nolder,{hashed},2026-01-05T10:00:00Z\r\n",
        encoding="utf-8",
    )
    app = create_app(app_config)
    with app.app_context():
        older = coordinators.get_coordinator("older")
    assert older is not None
    assert (older.role, older.active, older.digest, older.countries) == (
        ADMIN,
        True,
        False,
        frozenset(),
    )
    header = (data_dir / "coordinators.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "\ufeffname,password_hash,created_at,email,role,countries,active,digest"


class MovedAbroadMeanwhile:
    """The real store, with an administrator moving the event to Germany just before a write.

    That is the moment between the scope's check and the store's compare-and-swap, which no
    request can hit on purpose.
    """

    def __init__(self, store: EventStore) -> None:
        self.real = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def _move(self, event_id: str) -> None:
        current = self.real.get(event_id)
        assert current is not None
        self.real.update(
            event_id, {"country": "DE"}, expected=current["version"], audit=Audit("a", "edit")
        )

    def update(self, event_id: str, *args: Any, **kwargs: Any) -> Any:
        self._move(event_id)
        return self.real.update(event_id, *args, **kwargs)

    def update_many(self, changes: Any, *args: Any, **kwargs: Any) -> Any:
        for event_id in changes:
            self._move(event_id)
        return self.real.update_many(changes, *args, **kwargs)


def test_a_lost_race_with_an_event_moved_abroad_shows_nothing_of_it(
    app: Flask, store: EventStore, two_countries: tuple[dict[str, str], dict[str, str]]
) -> None:
    french, _ = two_countries
    racing = ScopedEvents(MovedAbroadMeanwhile(store), FRANCE)  # type: ignore[arg-type]
    with app.app_context():
        with pytest.raises(EventNotFoundError):
            racing.update(
                french["id"], {"title": "x"}, expected=french["version"], audit=Audit("n", "edit")
            )
    with app.app_context():
        moved = store.get(french["id"])
        assert moved is not None and moved["country"] == "DE"
        store.update(
            french["id"], {"country": "FR"}, expected=moved["version"], audit=Audit("a", "edit")
        )
        back = store.get(french["id"])
        assert back is not None
        updated = racing.update_many(
            {french["id"]: {"title": "x"}},
            expected={french["id"]: back["version"]},
            audit=Audit("n", "edit"),
            skip_stale=True,
        )
    assert (updated.rows, updated.stale) == ([], {})


@pytest.mark.parametrize(
    ("role", "countries", "hidden"),
    [
        (ADMIN, (), set()),
        (NATIONAL, ("FR",), {"/admin/keys", "/admin/accounts"}),
        (VIEWER, (), {"/admin/import", "/admin/audit", "/admin/keys", "/admin/accounts"}),
    ],
)
def test_every_link_of_the_coordinators_nav_opens_for_its_role(
    client_as: Callable[..., FlaskClient], role: str, countries: tuple[str, ...], hidden: set[str]
) -> None:
    """The nav offers a role only the pages it may open: never a link that answers 403."""
    client = client_as(role, countries)
    page = client.get("/admin/").get_data(as_text=True)
    nav = page[page.index('<nav class="admin-nav"') : page.index("</nav>", page.index("admin-nav"))]
    links = set(re.findall(r'<a href="(/admin/[^"#?]*)"', nav))
    every = {"/admin/", "/admin/events", "/admin/stats", "/admin/import", "/admin/audit"}
    assert links >= every - hidden and not links & hidden
    for link in sorted(links):
        assert client.get(link).status_code == 200, link
