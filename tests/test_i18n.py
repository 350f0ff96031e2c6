"""Interface languages: prefixed URLs, the first visit's redirect, the switch, formats, catalogs."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.messages.mofile import read_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from flask import Flask, url_for
from flask.testing import FlaskClient

from mapapp import i18n
from mapapp.i18n import LANGUAGES
from mapapp.storage import EventStore
from tests.conftest import add_valid_event

TRANSLATIONS = Path(i18n.__file__).parent / "translations"
OTHER_LANGUAGES = [code for code in LANGUAGES if code != "en"]
FRENCH_BROWSER = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}


def catalog(code: str):  # type: ignore[no-untyped-def]
    with (TRANSLATIONS / code / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=code)


def _key(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


# URLs and the first visit


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_a_prefixed_page_is_in_its_language(client: FlaskClient, code: str) -> None:
    response = client.get(f"/{code}/")
    assert response.status_code == 200
    language = LANGUAGES[code]
    assert (
        f'<html lang="{language.tag}" dir="{language.direction}" '
        f'data-formats="{language.format_tag}">'
    ) in response.text


def test_arabic_pages_are_right_to_left_and_english_left_to_right(client: FlaskClient) -> None:
    assert '<html lang="ar" dir="rtl" data-formats="ar">' in client.get("/ar/submit").text
    # English pages write dates as British English does (the interface's own English).
    assert '<html lang="en" dir="ltr" data-formats="en-GB">' in client.get("/submit").text


def test_page_links_keep_the_language_and_data_links_do_not(client: FlaskClient) -> None:
    page = client.get("/fr/").text
    assert 'href="/fr/submit"' in page
    assert 'href="/fr/admin/"' in page
    assert 'href="/static/css/site.css"' in page  # files are the same in every language
    assert "/fr/static/" not in page
    # Only the place search answers in the page's language (its labels name countries).
    assert re.findall(r'"(/fr/api/[^"]*)"', page) == ["/fr/api/places.json"]


def test_unprefixed_page_redirects_a_french_browser_and_says_it_varies(
    client: FlaskClient,
) -> None:
    response = client.get("/submit?from=home", headers=FRENCH_BROWSER)
    assert response.status_code == 302
    assert response.headers["Location"] == "/fr/submit?from=home"
    assert {"Accept-Language", "Cookie"} <= set(
        response.headers["Vary"].replace(" ", "").split(",")
    )


def test_english_page_stays_and_varies(client: FlaskClient) -> None:
    response = client.get("/submit", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert response.status_code == 200
    assert "Accept-Language" in response.headers["Vary"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("de-CH,de;q=0.9", "/de/"),
        ("pt-BR", "/pt/"),
        ("zh-CN,zh;q=0.9", "/zh/"),
        ("ar-EG", "/ar/"),
        ("ja,ko;q=0.5", None),  # no catalog: English at today's URL
        ("zh-TW", None),  # traditional characters are not the Simplified catalog
        ("*", None),
    ],
)
def test_accept_language_chooses_the_catalog(
    client: FlaskClient, accept: str, expected: str | None
) -> None:
    response = client.get("/", headers={"Accept-Language": accept})
    if expected is None:
        assert response.status_code == 200
    else:
        assert (response.status_code, response.headers["Location"]) == (302, expected)


def test_prefixed_pages_are_never_redirected(client: FlaskClient) -> None:
    assert client.get("/de/", headers=FRENCH_BROWSER).status_code == 200


def test_data_and_posts_are_never_redirected(client: FlaskClient) -> None:
    assert client.get("/api/map-data.json", headers=FRENCH_BROWSER).status_code == 200
    assert client.get("/events.csv", headers=FRENCH_BROWSER).status_code == 200
    json_client = {**FRENCH_BROWSER, "Accept": "application/json"}
    assert client.get("/", headers=json_client).status_code == 200


def test_english_prefix_goes_to_the_unprefixed_address(client: FlaskClient) -> None:
    response = client.get("/en/submit?x=1")
    assert (response.status_code, response.headers["Location"]) == (308, "/submit?x=1")


def test_switch_sets_the_cookie_and_shows_the_same_page(client: FlaskClient) -> None:
    response = client.get("/language/de?next=/fr/submit?from=map")
    assert response.status_code == 303
    assert response.headers["Location"] == "/de/submit?from=map"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("mapapp_lang=de;") and "SameSite=Lax" in cookie
    # The cookie now wins over the browser's language.
    redirected = client.get("/submit", headers=FRENCH_BROWSER)
    assert redirected.headers["Location"] == "/de/submit"


def test_switching_to_english_stops_the_redirect(client: FlaskClient) -> None:
    response = client.get("/language/en?next=/fr/")
    assert response.headers["Location"] == "/"
    assert client.get("/", headers=FRENCH_BROWSER).status_code == 200


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_switch_never_leaves_the_site(client: FlaskClient, target: str) -> None:
    response = client.get("/language/fr", query_string={"next": target})
    assert response.headers["Location"] == "/fr/"


def test_switch_to_an_unknown_language_is_a_404(client: FlaskClient) -> None:
    assert client.get("/language/xx?next=/").status_code == 404


def test_every_page_offers_every_language_and_hreflang(client: FlaskClient) -> None:
    page = client.get("/fr/submit?x=1").text
    for language in LANGUAGES.values():
        prefix = "" if language.code == "en" else f"/{language.code}"
        assert f'hreflang="{language.tag}" href="http://localhost{prefix}/submit?x=1"' in page
        assert f'href="/language/{language.code}?next=/submit%3Fx%3D1"' in page
        assert f">{language.name}</a>" in page
    assert 'hreflang="x-default" href="http://localhost/submit?x=1"' in page
    assert re.search(r'lang="fr" aria-current="true">Français</a>', page)


def test_event_pages_live_under_every_prefix(client: FlaskClient, store: EventStore) -> None:
    event = add_valid_event(store)
    for code in LANGUAGES:
        prefix = "" if code == "en" else f"/{code}"
        assert client.get(f"{prefix}/events/{event['id']}").status_code == 200


def test_url_for_names_another_language(app: Flask) -> None:
    with app.test_request_context("/fr/submit", environ_base={}):
        assert url_for("public.index", _language="de") == "/de/"
        assert url_for("api.map_data", _language="de") == "/api/map-data.json"


def test_security_headers_on_prefixed_pages(client: FlaskClient) -> None:
    response = client.get("/ar/")
    assert "Content-Security-Policy" in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# Names, dates, numbers, distances


def test_formats_follow_the_interface_language(app: Flask) -> None:
    moment = datetime(2027, 2, 22, 15, 30, tzinfo=ZoneInfo("Europe/Paris"))
    with app.test_request_context("/"):
        assert i18n.format_date(date(2027, 2, 22)) == "22 February 2027"
        assert i18n.format_time(moment) == "15:30"
        assert i18n.format_number(12345) == "12,345"
        assert i18n.format_distance(16.09344) == "10 mi"
        with i18n.force_language("fr"):
            assert i18n.format_date(date(2027, 2, 22), "full") == "lundi 22 février 2027"
            assert i18n.format_time(moment) == "15:30"
            assert i18n.format_number(12345) == "12\u202f345"
            assert i18n.format_distance(12.34) == "12\u202fkm"
            assert i18n.format_distance(2.345) == "2,3\u202fkm"
            assert i18n.country_name("CD") == "Congo-Kinshasa"
            assert i18n.language_name("de") == "allemand"
        with i18n.force_language("ar"):
            assert i18n.current_language().direction == "rtl"
        with i18n.force_language("xx"):  # unknown: English
            assert i18n.current_code() == "en"


def test_outside_a_request_the_language_is_english() -> None:
    assert i18n.current_code() == "en"
    assert i18n._("Some text") == "Some text"


@pytest.mark.parametrize(
    ("code", "categories"),
    [
        ("en", {"one", "other"}),
        ("fr", {"one", "many", "other"}),
        ("pl", {"one", "few", "many", "other"}),
        ("ar", {"zero", "one", "two", "few", "many", "other"}),
        ("zh", {"other"}),
    ],
)
def test_plural_samples_cover_every_cldr_category(code: str, categories: set[str]) -> None:
    samples = i18n.plural_samples(code)
    assert set(samples) == categories
    rule = Locale.parse(code).plural_form
    assert all(rule(number) == category for category, number in samples.items())


def test_js_catalog_gives_each_plural_category_its_form(app: Flask) -> None:
    with app.test_request_context("/", environ_base={"mapapp.language": "pl"}):
        catalog = i18n.js_catalog(["Hello"], [("%(num)s event", "%(num)s events")])
    assert catalog["Hello"]
    assert set(catalog["%(num)s event"]) == set(i18n.plural_samples("pl"))


# The catalogs


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_every_message_is_translated(code: str) -> None:
    """No fuzzy, no empty, every plural slot filled, placeholders kept, Plural-Forms right."""
    messages = catalog(code)
    expected = get_plural(Locale.parse(code))
    assert messages.num_plurals == expected.num_plurals
    assert messages.plural_expr == expected.plural_expr
    problems = []
    for message in messages:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if isinstance(message.id, tuple) and len(strings) != expected.num_plurals:
            problems.append(f"{len(strings)} plural forms: {message.id!r}")
        if not all(text and text.strip() for text in strings):
            problems.append(f"untranslated: {message.id!r}")
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set().union(*(re.findall(r"%\(\w+\)s", text) for text in english))
        for text in strings:
            if text and set(re.findall(r"%\(\w+\)s", text)) - wanted:
                problems.append(f"unknown placeholder: {message.id!r} -> {text!r}")
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} problems)"


def test_catalogs_hold_every_string_of_the_code() -> None:
    """The template (.pot) and each catalog list the same messages: `make translations` ran."""
    with (TRANSLATIONS / "messages.pot").open("rb") as source:
        template = {message.id for message in read_po(source) if message.id}
    assert len(template) > 500
    for code in OTHER_LANGUAGES:
        assert {message.id for message in catalog(code) if message.id} == template, code


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_compiled_catalogs_match_their_sources(code: str) -> None:
    """`make install` compiled every catalog after its last change (the app reads the .mo)."""
    with (TRANSLATIONS / code / "LC_MESSAGES" / "messages.mo").open("rb") as source:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(source) if m.id}
    sources = {_key(m.id): _key(m.string) for m in catalog(code) if m.id}
    assert compiled == sources


def test_signing_in_from_a_french_page_comes_back_to_it(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
) -> None:
    add_valid_event(store, status="pending")
    response = app.test_client().get("/fr/admin/events?status=pending")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        "/fr/admin/sign-in?next=/fr/admin/events?status%3Dpending"
    )
    # The actions' forms come back to the French page, prefix and query kept.
    page = coordinator_client.get("/fr/admin/").text
    nexts = set(re.findall(r'name="next" value="([^"#]*)', page))
    assert nexts == {"/fr/admin/"}
