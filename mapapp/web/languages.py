"""Each request's interface language: the URL prefix, the first visit's redirect, the switch.

English pages keep their URLs (`/events/<id>`); every other language lives under its prefix
(`/fr/events/<id>`), which `LanguagePrefix` takes off the path before Flask routes it, so the
routes know nothing of languages. `url_for` puts the prefix of the page's language back on the
URLs of pages (never on data, files and feeds, which are the same in every language). A first
visit to an unprefixed page is redirected to the visitor's language, chosen by the cookie the
switch sets or else by Accept-Language; those answers vary by both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from flask import (
    Blueprint,
    Flask,
    has_request_context,
    redirect,
    request,
)
from werkzeug.wrappers import Response

from mapapp import i18n
from mapapp.i18n import DEFAULT_LANGUAGE, LANGUAGES

LANGUAGE_KEY = "mapapp.language"
PREFIXED_KEY = "mapapp.language_prefixed"
COOKIE_NAME = "mapapp_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Answers that are the same in every language: data, files, feeds, the switch itself.
NEUTRAL_BLUEPRINTS = frozenset({"api", "api_submit", "exports", "assets", "languages"})
NEUTRAL_ENDPOINTS = frozenset({"static", "public.map_setup", "public.event_ics", "public.health"})
# Chinese in traditional characters is not the Simplified catalog: such a browser gets English
# (its own choice among the rest) rather than a script it may not read.
TRADITIONAL_CHINESE = ("zh-tw", "zh-hk", "zh-mo", "zh-hant")
# An unprefixed page's answer depends on these: the cookie and Accept-Language choose the
# redirect, and a JSON client (Accept) is never redirected.
VARY_ON = ("Accept", "Accept-Language", "Cookie")
# What stays as it is in a path and a query put back into a Location or a link: RFC 3986's
# unreserved and sub-delims characters. Everything else (spaces, tabs, line breaks, quotes,
# backslashes, non-ASCII) is percent-encoded, so no client reads another host into it.
PATH_SAFE = "/!$&'()*+,;=:@-._~"
QUERY_SAFE = PATH_SAFE + "?%"

blueprint = Blueprint("languages", __name__)


class LanguagePrefix:
    """WSGI middleware: take a language prefix (`/fr/...`) off the path and note the language."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "")
        first, _, rest = path[1:].partition("/")
        if first in LANGUAGES:
            environ[LANGUAGE_KEY] = first
            environ[PREFIXED_KEY] = True
            environ["PATH_INFO"] = "/" + rest
        return self.app(environ, start_response)  # type: ignore[no-any-return]


class App(Flask):
    """Flask whose `url_for` gives page URLs the prefix of the page's language.

    `url_for(..., _language="fr")` names another language's page (the switch, hreflang).
    """

    def url_for(  # type: ignore[override]
        self,
        endpoint: str,
        *,
        _anchor: str | None = None,
        _method: str | None = None,
        _scheme: str | None = None,
        _external: bool | None = None,
        _language: str | None = None,
        **values: Any,
    ) -> str:
        url = super().url_for(
            endpoint,
            _anchor=_anchor,
            _method=_method,
            _scheme=_scheme,
            _external=_external,
            **values,
        )
        language = _language or request_language()
        if language == DEFAULT_LANGUAGE or not is_localised(_full_endpoint(endpoint)):
            return url
        return with_prefix(url, language)


def _full_endpoint(endpoint: str) -> str:
    if endpoint.startswith(".") and has_request_context() and request.blueprint:
        return request.blueprint + endpoint
    return endpoint


def is_localised(endpoint: str | None) -> bool:
    """Return whether the endpoint answers a page in the reader's language."""
    if not endpoint:
        return False
    if endpoint in NEUTRAL_ENDPOINTS:
        return False
    return endpoint.partition(".")[0] not in NEUTRAL_BLUEPRINTS


def _script_root() -> str:
    return request.script_root.rstrip("/") if has_request_context() else ""


def with_prefix(url: str, language: str) -> str:
    """Return a page URL (absolute or not) under a language's prefix (English has none)."""
    parts = urlsplit(url)
    root = _script_root()
    path = parts.path
    if language != DEFAULT_LANGUAGE and path.startswith(root + "/"):
        path = f"{root}/{language}{path[len(root) :]}"
    return urlunsplit(parts._replace(path=path))


def request_language() -> str:
    """Return the language of the page being answered: its prefix, or English."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    return str(request.environ.get(LANGUAGE_KEY, DEFAULT_LANGUAGE))


def preferred_language() -> str:
    """Return the visitor's language: the switch's cookie, else the browser's Accept-Language.

    The browser's languages are read in its order of preference, each by its primary subtag
    ("fr-CA" is French), so that a language it prefers is never beaten by an English fallback
    it ranks lower.
    """
    chosen = request.cookies.get(COOKIE_NAME, "")
    if chosen in LANGUAGES:
        return chosen
    for value, quality in request.accept_languages:  # highest quality first, then as sent
        tag = value.lower().replace("_", "-")
        if quality <= 0 or tag.startswith(TRADITIONAL_CHINESE):
            continue
        primary = tag.partition("-")[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def page_path() -> str:
    """Return this page's path and query without the language prefix, percent-encoded.

    Safe to put in a Location header or a link: one leading slash (never `//host`), and no
    character a client drops or reads as a line break.
    """
    path = "/" + quote(request.path, safe=PATH_SAFE).lstrip("/")
    query = quote(request.query_string, safe=QUERY_SAFE)
    return path + (f"?{query}" if query else "")


def here() -> str:
    """Return this page's path and query as the browser asked for it: with its language prefix.

    request.path and request.full_path have the prefix taken off (the routes know nothing of
    languages), so a link back to this page (a sign-in's next, a form's next) is built with this.
    """
    return with_prefix(request.full_path.rstrip("?"), request_language())


def language_links() -> list[dict[str, Any]]:
    """Return each language with this page's URL in it, for the switch and hreflang.

    None outside a request (a message rendered by the CLI), nor for a form's answer or data.
    """
    if not has_request_context() or request.method not in ("GET", "HEAD"):
        return []
    if not is_localised(request.endpoint):
        return []
    path = page_path()
    root = _script_root()
    links = []
    for language in LANGUAGES.values():
        local = root + path
        links.append(
            {
                "language": language,
                "url": with_prefix(request.host_url.rstrip("/") + local, language.code),
                "switch": f"{root}/language/{language.code}?next={_quote(path)}",
                "current": language.code == request_language(),
            }
        )
    return links


def _quote(path: str) -> str:
    return quote(path, safe="/")


def _safe_next(value: str | None) -> str:
    """Return a path on this site (never another host) to go back to after the switch.

    Anything but a plain local path gives the home page: another host (`//host`, `/\\host`), a
    scheme, and any control character or space, which browsers and `urlsplit` drop
    (`/<TAB>/host` is `//host` to them).
    """
    value = (value or "/").strip()
    if not value.startswith("/") or any(_unsafe(char) for char in value):
        return "/"
    path, mark, query = value.partition("?")
    first, _, rest = path[1:].partition("/")
    if first in LANGUAGES:  # a prefixed path: the switch decides the language
        path = "/" + rest
    if path.startswith("//"):
        return "/"
    return path + mark + query


def _unsafe(char: str) -> bool:
    """Return whether a character may not appear in a `next` path as typed."""
    return char == "\\" or char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F


@blueprint.get("/language/<code>")
def switch(code: str) -> Response:
    """Remember the chosen language in a cookie and show the same page in it."""
    if code not in LANGUAGES:
        from flask import abort

        abort(404, description=i18n._("We have no interface in that language."))
    target = _safe_next(request.args.get("next"))
    root = _script_root()
    location = with_prefix(root + target, code)
    if urlsplit(location).netloc:  # never another host, whatever the parsing above missed
        location = with_prefix(root + "/", code)
    response = redirect(location, 303)
    response.set_cookie(
        COOKIE_NAME,
        code,
        max_age=COOKIE_MAX_AGE,
        samesite="Lax",
        secure=request.is_secure,
        httponly=True,
    )
    return response


def _redirect_first_visit() -> Response | None:
    """Send an unprefixed page's visitor to their language's URL (a 302 that varies)."""
    if request.environ.get(PREFIXED_KEY) and request_language() == DEFAULT_LANGUAGE:
        # /en/... is the English page at its own address.
        return redirect(_script_root() + page_path(), 308)
    if request.method not in ("GET", "HEAD") or request.environ.get(PREFIXED_KEY):
        return None
    if not is_localised(request.endpoint):
        return None
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    ):
        return None
    language = preferred_language()
    if language == DEFAULT_LANGUAGE:
        return None
    response = redirect(with_prefix(_script_root() + page_path(), language), 302)
    response.headers["Vary"] = ", ".join(VARY_ON)
    return response


def _vary(response: Response) -> Response:
    """Say that an unprefixed page's answer depends on the cookie, Accept-Language and Accept."""
    if not request.environ.get(PREFIXED_KEY) and is_localised(request.endpoint):
        for name in VARY_ON:
            response.vary.add(name)
    return response


def _template_values() -> dict[str, Any]:
    language = i18n.current_language()
    return {
        "page_language": language,
        "language_links": language_links,
        "here": here,
    }


def init_app(app: Flask) -> None:
    """Take language prefixes off paths, redirect first visits, and offer the switch."""
    app.wsgi_app = LanguagePrefix(app.wsgi_app)  # type: ignore[method-assign]
    app.register_blueprint(blueprint)
    app.before_request(_redirect_first_visit)
    app.after_request(_vary)
    app.context_processor(_template_values)
