"""No input gives a 5xx: the inputs that once did get a 400 or 422 that says why, then a fuzz.

The fuzz walks every rule of the app's url_map with hypothesis, anonymously and signed in as a
coordinator, with arbitrary path values, query strings and form bodies (the API's JSON is fuzzed by
schemathesis in test_fuzz_api.py).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from mapapp import create_app
from mapapp.config import DEFAULTS
from mapapp.events import FIELDS, validate_event
from mapapp.filters import PARAMETERS, YEAR_MESSAGE, parse_filter
from mapapp.storage import EventStore
from mapapp.web.admin import PAGE_MESSAGE
from mapapp.web.submit import PLACE_MESSAGE
from tests.conftest import (
    COORDINATOR_NAME,
    COORDINATOR_PASSWORD,
    add_valid_event,
    change,
    make_event,
    make_submission,
)
from tests.test_submit import hidden, post_details

# Digits that str.isdigit() accepts and int() refuses ("²"), or that int() reads but nobody means
# as a year ("٢٠٢٧"), and more digits than int() converts (4,300).
NOT_ASCII_NUMBERS = ["²", "٢٠٢٧", "２０２７", "9" * 5000]
FILTERED_PAGES = [
    "/",
    "/embed",
    "/api/search.json",
    "/api/events.geojson",
    "/events.csv",
    "/events.xlsx",
    "/events.json",
    "/events.geojson",
    "/events.ics",
]
ADMIN_LISTS = ["/admin/", "/admin/events", "/admin/audit"]
HEADER_SPLITS = ["/admin/\r\nSet-Cookie: stolen=1", "/admin/\nX: 1", "/admin/\x00", "/admin/\x85"]


def csrf_token(page: str) -> str:
    """Return the CSRF token of the first form in a page."""
    match = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


# The inputs that gave a 500


@pytest.mark.parametrize(
    ("path", "year"),
    [(path, "²") for path in FILTERED_PAGES]
    + [("/api/events.geojson", year) for year in NOT_ASCII_NUMBERS[1:]],
)
def test_a_year_in_other_digits_is_refused_with_the_field_named(
    client: FlaskClient, path: str, year: str
) -> None:
    response = client.get(path, query_string={"year": year})
    assert response.status_code == 400
    assert YEAR_MESSAGE in response.get_data(as_text=True)


def test_the_coordinators_export_refuses_a_year_in_other_digits(
    coordinator_client: FlaskClient,
) -> None:
    response = coordinator_client.get("/admin/export", query_string={"year": "²"})
    assert response.status_code == 400
    assert YEAR_MESSAGE in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "page"),
    [(path, "²") for path in ADMIN_LISTS]
    + [("/admin/events", page) for page in [*NOT_ASCII_NUMBERS[1:], "0", "-1", "two", "1000000"]],
)
def test_a_page_number_that_is_not_one_is_refused_with_the_field_named(
    coordinator_client: FlaskClient, path: str, page: str
) -> None:
    response = coordinator_client.get(path, query_string={"page": page})
    assert response.status_code == 400
    assert PAGE_MESSAGE in response.get_data(as_text=True)


def test_a_page_past_the_last_is_still_a_page(coordinator_client: FlaskClient) -> None:
    statuses = [
        coordinator_client.get(path, query_string={"page": "999999"}).status_code
        for path in ADMIN_LISTS
    ]
    assert statuses == [200, 200, 200]


def test_a_lone_surrogate_in_a_filter_is_refused_by_name() -> None:
    # Werkzeug never decodes a query string to one (invalid UTF-8 stays percent-encoded), so this
    # asks the parser every route uses directly: it must not hand one on to a page or a cache key.
    event_filter = parse_filter({"q": "walk \ud800", "year": "2027"})
    assert event_filter.errors == {
        "q": "Search: this text holds a broken character (a lone surrogate) that cannot be "
        "stored; type it again."
    }


@pytest.mark.parametrize("target", HEADER_SPLITS, ids=["crlf", "lf", "nul", "c1"])
def test_sign_in_with_a_control_character_in_next_lands_on_the_queue(
    app: Flask, client: FlaskClient, target: str
) -> None:
    from mapapp import coordinators

    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    page = client.get("/admin/sign-in", query_string={"next": target}).get_data(as_text=True)
    form = {
        "csrf_token": csrf_token(page),
        "name": COORDINATOR_NAME,
        "password": COORDINATOR_PASSWORD,
    }
    response = client.post("/admin/sign-in", query_string={"next": target}, data=form)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert "stolen" not in response.headers.get("Set-Cookie", "")
    # Already signed in, the sign-in page sends the coordinator on: to the queue, too.
    again = client.get("/admin/sign-in", query_string={"next": target})
    assert (again.status_code, again.headers["Location"]) == (302, "/admin/")


def test_an_admin_action_with_a_control_character_in_next_lands_on_the_queue(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(store, status="pending")
    token = csrf_token(coordinator_client.get("/admin/").get_data(as_text=True))
    form = {"csrf_token": token, "version": event["version"], "next": HEADER_SPLITS[0]}
    response = coordinator_client.post(f"/admin/events/{event['id']}/approve", data=form)
    assert (response.status_code, response.headers["Location"]) == (303, "/admin/")
    assert store.get(event["id"])["status"] == "approved"


@pytest.mark.parametrize("place", ["²", "first", "9" * 5000])
def test_a_place_choice_that_is_not_a_number_is_refused_and_nothing_stored(
    client: FlaskClient, store: EventStore, place: str
) -> None:
    preview = post_details(client)
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "draft": hidden(page, "draft")}
    response = client.post("/submit/confirm", data={**data, "place": place})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert PLACE_MESSAGE in body
    assert 'name="draft"' in body  # the preview again, so the organiser can choose and confirm
    assert len(store) == 0
    confirmed = client.post("/submit/confirm", data={**data, "place": "0"})
    assert confirmed.status_code == 303 and len(store) == 1


# The fuzz

CI = os.environ.get("CI") == "true"
# Every limit off (submissions, sign-in, edits, previews, exports...), so each call is served.
NO_RATE_LIMITS = {name: "off" for name in DEFAULTS if name.endswith("_RATE_LIMIT")}
EXAMPLES_PER_ROUTE = 25
# Wall time for the whole fuzz, shared equally by its routes: once a route's share has passed since
# its first example, its remaining examples send nothing (a cap on the suite's time, not a check).
FUZZ_SECONDS = 40.0
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_ROUTE,
    deadline=None,
    derandomize=CI,  # and so no example database: CI runs the same examples every time
    suppress_health_check=list(HealthCheck),
)
FUZZ_SECRET_KEY = "fuzz-secret-key"
DRAFTS = 3  # signed previews made for the fuzz to confirm
# Values that broke parsing before, or are on the edge of what a field means.
TRICKY_VALUES = [
    "",
    " ",
    "²",
    "٢٠٢٧",
    "２０２７",
    "9" * 5000,
    "0",
    "-1",
    "1e309",
    "nan",
    "all",
    "2027",
    "2027-02-28",
    "2027-02-28T18:00",
    "2027-02-30T25:61",
    "0999-01-01T00:00",
    "FR",
    "fr,DE,zz",
    "approved",
    "pending,rejected",
    "online",
    "in_person",
    "illumination",
    "true",
    "y",
    "\r\nSet-Cookie: x=1",
    "\x00",
    "\u202e",
    "\ufeff",
    "//evil.example/",
    "/admin/events?page=2",
    "https://example.org/",
    "javascript:alert(1)",
    "<script>alert(1)</script>",
    '=HYPERLINK("x")',
    "../../etc/passwd",
    "[]",
    '{"a": 1}',
    "%ff%fe",
    "Zürich",
]
# Names a query string may carry: every filter, paging and navigation parameter.
QUERY_NAMES = sorted({*PARAMETERS, "page", "next", "event_format", "v", "lat", "lon"})
# Names a form may carry: every event field and every field of the app's forms.
FORM_NAMES = sorted(
    {*FIELDS, "csrf_token", "started", "homepage", "consent", "draft", "place", "submit_anyway"}
    | {"confirm", "version", "ids", "reason", "name", "password", "dry_run", "next"}
    | {"current", "new", "repeated", "file"}
)
# Sign-in and sign-out are fuzzed anonymously (signed in, sign-out would end the session).
ANONYMOUS_ADMIN_RULES = frozenset({"/admin/sign-in", "/admin/sign-out"})


def rules_of(app: Flask) -> list[tuple[str, str]]:
    """Return every (rule, method) of an app."""
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    )


def _cases() -> list[tuple[str, str, bool]]:
    """Return each (rule, method) and whether it is fuzzed signed in: admin pages are."""
    with tempfile.TemporaryDirectory() as directory:
        app = create_app({"ENV": "testing", "DATA_DIR": directory, "SECRET_KEY": FUZZ_SECRET_KEY})
        rules = rules_of(app)
    return [
        (rule, method, rule.startswith("/admin") and rule not in ANONYMOUS_ADMIN_RULES)
        for rule, method in rules
    ]


CASES = _cases()


@dataclass
class Target:
    """The fuzzed app, its two clients and the real values that reach deep code."""

    app: Flask
    store: EventStore
    anonymous: FlaskClient
    coordinator: FlaskClient
    tokens: list[str]
    static_files: list[str]
    signed: dict[str, list[str]]
    began: dict[str, float] = field(default_factory=dict)  # when each route's first example ran
    failing: set[str] = field(default_factory=set)

    def values(self, name: str) -> list[str]:
        """Return real values for a parameter: ids, versions, an edit link's token, files."""
        frame = self.store.frame()
        if name in {"event_id", "ids"}:
            return list(frame["id"])
        if name.startswith("version"):
            return list(frame["version"])
        if name == "token":
            return self.tokens
        if name == "filename":
            return self.static_files
        return self.signed.get(name, [])


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """Return an app on a store with real events of each status, CSRF off so forms go deep."""
    from mapapp import coordinators, pending_changes, submissions

    data_dir = tmp_path_factory.mktemp("fuzz-data")
    app = create_app(
        {
            # As conftest's app_config, for a whole module: the fuzz's app lives across tests.
            "ENV": "testing",
            "TESTING": True,
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": FUZZ_SECRET_KEY,
            **NO_RATE_LIMITS,
            "SUBMIT_MIN_SECONDS": 0.0,
            # CSRF is tested on its own (test_auth, test_submit, test_moderation); off here, every
            # form's fields are reached rather than its token check.
            "WTF_CSRF_ENABLED": False,
        }
    )
    store: EventStore = app.extensions["mapapp.store"]
    add_valid_event(store)
    add_valid_event(store, status="pending", title="Pending walk", city="Lyon")
    add_valid_event(store, status="rejected", title="Rejected talk", category="talk")
    add_valid_event(store, status="withdrawn", title="Withdrawn stall")
    add_valid_event(
        store,
        format="online",
        category="online",
        country="",
        city="",
        venue="",
        latitude="",
        longitude="",
        location_precision="none",
        starts_at="2026-02-28T10:00",
        ends_at="",
    )
    event, _ = validate_event(make_event(status="pending", title="Organiser's event"))
    assert event is not None
    tokens = [submissions.create_event(store, event, FUZZ_SECRET_KEY)[1]]
    # A published event whose organiser's change waits for review (the change routes reach it).
    published, token = submissions.create_event(store, event, FUZZ_SECRET_KEY)
    proposal = pending_changes.encode({"title": "A waiting change"}, based_on="1")
    change(store, published["id"], {"status": "approved", "pending_change": proposal})
    tokens.append(token)
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
        static_files = [
            path.relative_to(app.static_folder or "").as_posix()
            for path in Path(app.static_folder or "").rglob("*.*")
        ][:5]
    coordinator = app.test_client()
    signed_in = coordinator.post(
        "/admin/sign-in", data={"name": COORDINATOR_NAME, "password": COORDINATOR_PASSWORD}
    )
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)
    static_files += ["leaflet/dist/leaflet.js", "leaflet/../../package.json", "%2e%2e/x"]
    anonymous = app.test_client()
    signed = {"started": [], "draft": []}  # real signed fields, so the steps after them are reached
    for _ in range(DRAFTS):
        form_page = anonymous.get("/submit").get_data(as_text=True)
        signed["started"].append(hidden(form_page, "started"))
        started = signed["started"][-1]
        submission = {**make_submission(), "consent": "y", "started": started}
        preview = anonymous.post("/submit", data=submission)
        assert preview.status_code == 200, preview.get_data(as_text=True)
        signed["draft"].append(hidden(preview.get_data(as_text=True), "draft"))
    yield Target(app, store, anonymous, coordinator, tokens, static_files, signed)


def text_values(real: list[str]) -> st.SearchStrategy[str]:
    """Return the given real values, the tricky values above, number-like text and any text."""
    strategies = [
        st.sampled_from(TRICKY_VALUES),
        # Digits of every script, superscripts and fractions ("²", "½": isdigit() or isnumeric()).
        st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=6),
        st.text(max_size=30),
    ]
    return st.one_of([st.sampled_from(real), *strategies] if real else strategies)


def parameters(target: Target, names: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Return parameters: any of the given names, then a few more (repeated or unknown names)."""
    known = st.fixed_dictionaries(
        {}, optional={name: text_values(target.values(name)) for name in names}
    )
    extra_name = st.sampled_from(names) | st.text(max_size=8)
    extra = st.lists(st.tuples(extra_name, text_values([])), max_size=3)
    return st.tuples(known, extra).map(lambda drawn: [*drawn[0].items(), *drawn[1]])


def raw_query() -> st.SearchStrategy[str]:
    """Return a query string of percent-encoded arbitrary bytes (invalid UTF-8 included)."""
    pair = st.tuples(st.sampled_from(QUERY_NAMES + FORM_NAMES), st.binary(max_size=12))
    return st.lists(pair, max_size=4).map(
        lambda pairs: "&".join(f"{name}={quote_from_bytes(value)}" for name, value in pairs)
    )


def path_of(rule: str, target: Target, data: st.DataObject) -> str:
    """Return a path matching a rule, each variable a real value or arbitrary text."""

    def fill(match: re.Match[str]) -> str:
        converter, name = match["converter"] or "", match["name"]
        if converter.startswith("any("):
            items = [item.strip() for item in converter[4:-1].split(",")]
            return quote(data.draw(st.sampled_from(items) | text_values([]), label=name), safe="")
        value = data.draw(text_values(target.values(name)), label=name)
        return quote(value, safe="/" if converter == "path" else "")

    return VARIABLE.sub(fill, rule)


VARIABLE = re.compile(r"<(?:(?P<converter>[^:<>]+(?:\([^)]*\))?):)?(?P<name>\w+)>")


def upload() -> st.SearchStrategy[tuple[io.BytesIO, str]]:
    """Return an upload: any bytes, a CSV with a real header, or a zip of broken workbook parts."""
    header = ",".join(FIELDS).encode()
    csv = st.builds(lambda row: header + b"\r\n" + row.encode(), st.text(max_size=200))
    parts = st.dictionaries(st.sampled_from(XLSX_PARTS), st.binary(max_size=200), max_size=4)
    content = st.binary(max_size=300) | csv | parts.map(zipped)
    name = st.sampled_from(["events.csv", "events.xlsx", "events.txt", "", "../x.csv"])
    return st.tuples(content.map(io.BytesIO), name)


XLSX_PARTS = [
    "[Content_Types].xml",
    "_rels/.rels",
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "xl/worksheets/sheet1.xml",
    "xl/sharedStrings.xml",
]


def zipped(parts: dict[str, bytes]) -> bytes:
    """Return a zip archive of the given members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("rule", "method", "signed_in"),
    CASES,
    ids=[
        f"{method} {rule}{' signed in' if signed_in else ''}" for rule, method, signed_in in CASES
    ],
)
@FUZZ_SETTINGS
@given(data=st.data())
def test_no_input_gives_a_server_error(
    target: Target, rule: str, method: str, signed_in: bool, data: st.DataObject
) -> None:
    started = time.monotonic()
    client = target.coordinator if signed_in else target.anonymous
    path = path_of(rule, target, data)
    query: Any = data.draw(
        parameters(target, QUERY_NAMES).map(MultiDict) | raw_query(), label="query"
    )
    body: Any = None
    if method == "POST":
        form = MultiDict(data.draw(parameters(target, FORM_NAMES), label="form"))
        if rule == "/admin/import" and data.draw(st.booleans(), label="upload"):
            form.setlist("file", [data.draw(upload(), label="file")])
        body = form
    key = f"{method} {rule}"
    began = target.began.setdefault(key, started)
    if started - began > FUZZ_SECONDS / len(CASES) and key not in target.failing:
        return  # this route's share of the time is spent (drawn all the same, so replays agree)
    try:
        with client.open(path, method=method, query_string=query, data=body) as response:
            status, body = response.status_code, response.get_data()
        assert status < 500, body[:3000].decode(errors="replace")
    except BaseException:
        target.failing.add(key)  # shrinking and replaying this failure are never cut short
        raise


def test_the_fuzz_walks_every_route(target: Target) -> None:
    assert {(rule, method) for rule, method, _ in CASES} == set(rules_of(target.app))
    assert len(CASES) > 30
