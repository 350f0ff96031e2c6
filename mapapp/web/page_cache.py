"""Rendered map pages answered again, in front of the app, while the public content holds.

The map page and its embed are the same bytes for every visitor who sends the same request (path
with its language prefix, query, host and forwarded headers, Accept, Accept-Language, cookies)
as long as the public content and the edition stay the same. So the outermost WSGI layer keeps
each rendered answer, status and headers included (the security headers were set on it by
web/headers.py like on any response, and no header depends on anything but that request), and
answers the next identical request from it without entering Flask: one check of the store's
version, a dictionary lookup, and the bytes. The answers carry an ETag; a matching If-None-Match
gets a 304 with the same headers.

A view opts in by calling `cacheable(validity)`; a response with Set-Cookie, or any status but
200, is never kept. Copies are kept per worker, in an LRU bounded in bytes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import request

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The request values an answer may depend on: the rest (User-Agent, Accept-Encoding,
# If-None-Match, ...) the map pages never read.
KEY_ENVIRON = (
    "PATH_INFO",
    "QUERY_STRING",
    "SCRIPT_NAME",
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_COOKIE",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_X_FORWARDED_FOR",
)
# Requests that are someone's own: never answered from a copy.
PRIVATE_ENVIRON = ("HTTP_AUTHORIZATION",)
CACHEABLE_KEY = "mapapp.page_cache.validity"
MAX_BYTES = 8 * 1024 * 1024  # per worker: ~400 pages of 20 kB
ENTRY_OVERHEAD_BYTES = 2048  # the key, the headers, the LRU's links
# Pages are revalidated at every use, so a visitor never sees an older map than the server's.
CACHE_CONTROL = "no-cache"
NOT_MODIFIED_DROPS = frozenset({"content-length", "content-type"})


@dataclass(frozen=True)
class Page:
    """A kept answer: the validity it was rendered for, its headers, its body and its ETag."""

    validity: Hashable
    headers: list[tuple[str, str]]
    body: bytes
    etag: str

    @property
    def nbytes(self) -> int:
        """Return about how many bytes keeping this answer takes."""
        return len(self.body) + ENTRY_OVERHEAD_BYTES


def cacheable(validity: Hashable) -> None:
    """Mark the current request's answer as one to keep while validity() returns this value."""
    request.environ[CACHEABLE_KEY] = validity


class PageCache:
    """WSGI middleware answering kept pages while their validity holds."""

    def __init__(
        self, app: WSGIApplication, validity: Callable[[], Hashable], max_bytes: int = MAX_BYTES
    ) -> None:
        self.app = app
        self.validity = validity
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._pages: OrderedDict[tuple[Any, ...], Page] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET" or any(n in environ for n in PRIVATE_ENVIRON):
            return self.app(environ, start_response)
        key = tuple(environ.get(name) for name in KEY_ENVIRON)
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
        if page is not None:
            try:
                fresh = page.validity == self.validity()
            except Exception:  # the store cannot say: the app answers (and explains)
                fresh = False
            if fresh:
                return _answer(page, environ, start_response)
        return self._render(key, environ, start_response)

    def _render(
        self, key: tuple[Any, ...], environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Let the app answer, and keep its answer if the view asked for it."""
        seen: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = [status, headers]  # sent below, once the body is known
            return None  # Flask never writes through start_response's write()

        result = self.app(environ, capture)
        status, headers = seen
        validity = environ.get(CACHEABLE_KEY)
        names = {name.lower() for name, _value in headers}
        if validity is None or not status.startswith("200") or "set-cookie" in names:
            # Passed on as it came: a file (sendfile) or a stream stays one.
            start_response(status, headers)
            return result
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        kept = [(n, v) for n, v in headers if n.lower() not in {"etag", "cache-control"}]
        kept += [("ETag", etag), ("Cache-Control", CACHE_CONTROL)]
        page = Page(validity, kept, body, etag)
        if page.nbytes <= self.max_bytes:
            with self._lock:
                old = self._pages.pop(key, None)
                if old is not None:
                    self.nbytes -= old.nbytes
                self._pages[key] = page
                self.nbytes += page.nbytes
                while self.nbytes > self.max_bytes:
                    _key, evicted = self._pages.popitem(last=False)
                    self.nbytes -= evicted.nbytes
        return _answer(page, environ, start_response)


def _answer(page: Page, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Send a kept page, or a 304 when the client holds this copy."""
    asked = environ.get("HTTP_IF_NONE_MATCH", "")
    if asked and (asked.strip() == "*" or page.etag in _tags(asked)):
        start_response(
            "304 Not Modified",
            [(n, v) for n, v in page.headers if n.lower() not in NOT_MODIFIED_DROPS],
        )
        return []
    start_response("200 OK", list(page.headers))
    return [page.body]


def _tags(header: str) -> set[str]:
    """Return the entity tags an If-None-Match lists (weak ones compare by their opaque tag)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}
