"""Interface languages under attack: redirects that stay on the site, caches told what varies.

What a hostile visitor sends to the prefixes, the first visit's redirect and the language switch
(control characters, prefixed `next` values, line breaks in paths), and what a cache must be told
so that no French page is served to an English visitor. Every answer is specific, never a 500.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mapapp import i18n
from mapapp.i18n import LANGUAGES
from tests.test_headers import _check, _requests

TRANSLATIONS = Path(i18n.__file__).parent / "translations"
OTHER_LANGUAGES = [code for code in LANGUAGES if code != "en"]
FRENCH_BROWSER = {"Accept-Language": "fr-FR,fr;q=0.9"}
PLACEHOLDER = re.compile(r"%\((\w+)\)")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def vary(response: TestResponse) -> set[str]:
    """Return the header names a response says it varies by."""
    header = response.headers.get("Vary", "")
    return {name.strip() for name in header.split(",") if name.strip()}


def assert_stays_on_the_site(location: str) -> None:
    """Assert a Location names a path of this site, as a browser would read it."""
    # Browsers drop tabs and line breaks and read a backslash as a slash before resolving.
    as_read = re.sub(r"[\t\r\n]", "", location).replace("\\", "/")
    parts = urlsplit(as_read)
    assert (parts.scheme, parts.netloc) == ("", ""), location
    assert as_read.startswith("/") and not as_read.startswith("//"), location


# The switch's `next`


@pytest.mark.parametrize("code", ["en", "fr"])
@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example/",  # urlsplit and browsers drop the tab: //evil.example/
        "/\n/evil.example/",
        "/\r\n/evil.example/",
        "/fr//evil.example/",  # the prefix taken off leaves //evil.example/
        "/de/\t/evil.example/",
        "/\u3000/evil.example/",
        "/ /evil.example/",
    ],
)
def test_switch_refuses_next_paths_that_browsers_read_as_another_host(
    client: FlaskClient, code: str, target: str
) -> None:
    response = client.get(f"/language/{code}", query_string={"next": target})

    assert response.status_code == 303
    assert response.headers["Location"] == ("/" if code == "en" else f"/{code}/")


def test_switch_keeps_the_query_of_a_prefixed_page(client: FlaskClient) -> None:
    response = client.get("/language/de", query_string={"next": "/fr?country=FR,DE"})

    assert response.headers["Location"] == "/de/?country=FR,DE"


def test_switch_from_a_page_with_odd_characters_comes_back_to_it(client: FlaskClient) -> None:
    page = client.get("/fr/events/a%20b%22c").get_data(as_text=True)  # a 404 page offers links
    [switch] = re.findall(r'href="(/language/de\?next=[^"]*)"', page)

    response = client.get(switch.replace("&amp;", "&"))

    assert response.headers["Location"] == "/de/events/a%20b%22c"


# The English prefix's redirect


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/en/%09/evil.example/", "/%09/evil.example/"),
        ("/en/%0A/evil.example/", "/%0A/evil.example/"),
        ("/en//evil.example/", "/evil.example/"),
        ("/en/%2F%2Fevil.example/", "/evil.example/"),
        ("/en/%5Cevil.example/", "/%5Cevil.example/"),
    ],
)
def test_english_prefix_redirect_stays_on_the_site(
    client: FlaskClient, path: str, location: str
) -> None:
    response = client.get(path)

    assert response.status_code == 308
    assert response.headers["Location"] == location
    assert_stays_on_the_site(response.headers["Location"])


def test_a_line_break_in_an_english_prefixed_path_is_encoded_not_a_500(
    client: FlaskClient,
) -> None:
    response = client.get("/en/%0D%0ASet-Cookie:%20stolen=1")

    assert response.status_code == 308
    assert response.headers["Location"] == "/%0D%0ASet-Cookie:%20stolen=1"
    assert "Set-Cookie" not in response.headers


def test_first_visit_redirect_encodes_the_query(client: FlaskClient) -> None:
    response = client.get("/?q=%0D%0A&x=<b>", headers=FRENCH_BROWSER)

    assert response.headers["Location"] == "/fr/?q=%0D%0A&x=%3Cb%3E"


def test_hreflang_links_are_percent_encoded(client: FlaskClient) -> None:
    page = client.get("/fr/events/a%20b%22c").get_data(as_text=True)

    assert (
        '<link rel="alternate" hreflang="de" href="http://localhost/de/events/a%20b%22c">' in page
    )


# Accept-Language


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("fr-CA;q=0.5, en;q=0.4", "/fr/"),  # French preferred: no English fallback beats it
        ("pt-BR, en;q=0.8", "/pt/"),
        ("en;q=0.5, de-AT", "/de/"),
        ("ZH-hans-TW", "/zh/"),  # Simplified characters, whatever the territory
        ("de_DE", "/de/"),
    ],
)
def test_the_language_the_browser_prefers_wins(
    client: FlaskClient, accept: str, expected: str
) -> None:
    response = client.get("/", headers={"Accept-Language": accept})

    assert (response.status_code, response.headers["Location"]) == (302, expected)


@pytest.mark.parametrize(
    "accept",
    [
        "fr;q=0, en;q=0.1",  # refused French
        "*",
        "*;q=0",
        ";;;,,,",
        "fr;q=abc",
        "zh-Hant-CN",
        "zh-HK, en;q=0.5",
        "x" * 20_000,
        ", ".join(["xx"] * 5_000),
    ],
)
def test_refused_unknown_or_garbled_languages_give_the_english_page(
    client: FlaskClient, accept: str
) -> None:
    response = client.get("/", headers={"Accept-Language": accept})

    assert response.status_code == 200
    assert '<html lang="en"' in response.get_data(as_text=True)


# What caches are told


def test_the_first_visit_redirect_and_the_page_vary_by_what_chose_them(
    client: FlaskClient,
) -> None:
    """A JSON client is never redirected, so both answers vary by Accept as well."""
    redirected = client.get("/", headers=FRENCH_BROWSER)
    json_client = client.get("/", headers={**FRENCH_BROWSER, "Accept": "application/json"})

    assert redirected.status_code == 302
    assert json_client.status_code == 200
    for response in (redirected, json_client):
        assert {"Accept", "Accept-Language", "Cookie"} <= vary(response)


def test_prefixed_pages_do_not_vary_by_accept_language(client: FlaskClient) -> None:
    response = client.get("/fr/", headers=FRENCH_BROWSER)

    assert response.status_code == 200
    assert "Accept-Language" not in vary(response)


# Guards: headers and status on every prefixed route; catalogs that cannot break a page


@pytest.mark.parametrize("prefix", ["/fr", "/ar", "/zh", "/en"])
def test_every_prefixed_route_sends_the_security_headers_and_never_a_500(
    app: Flask, client: FlaskClient, prefix: str
) -> None:
    for method, path in _requests(app):
        with client.open(prefix + path, method=method) as response:
            assert response.status_code < 500, (method, prefix + path)
            _check(response, path)


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_every_translation_formats_and_adds_no_markup(code: str) -> None:
    """A stray `%` breaks the page (Jinja formats every message); new HTML would be trusted."""
    with (TRANSLATIONS / code / "LC_MESSAGES" / "messages.po").open("rb") as source:
        messages = read_po(source, locale=code)
    problems = []
    for message in messages:
        if not message.id:
            continue
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        values = {name: "x" for text in english for name in PLACEHOLDER.findall(text)}
        values.setdefault("num", "1")
        tags = {tag for text in english for tag in TAG.findall(text)}
        for text in strings:
            try:
                text % values
            except (KeyError, TypeError, ValueError) as error:
                problems.append(f"{message.id!r} -> {text!r}: {error!r}")
            if not any("%" in source_text for source_text in english) and "%" in text:
                problems.append(f"a % the English has not: {message.id!r} -> {text!r}")
            if set(TAG.findall(text)) - tags or "<" in TAG.sub("", text):
                problems.append(f"markup the English has not: {message.id!r} -> {text!r}")
    assert not problems, "\n".join(problems[:40])
