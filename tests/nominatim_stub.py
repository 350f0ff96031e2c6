"""A local stand-in for Nominatim: a real HTTP server on 127.0.0.1 answering /search like it.

Use it from any test module:

    from tests.nominatim_stub import (  # noqa: F401  (fixtures)
        NominatimStub,
        nominatim_config,
        nominatim_stub,
        refused_url,
    )

    def test_geocoder_down(app_config, nominatim_stub, nominatim_config):  # noqa: F811
        app_config.update(nominatim_config)          # GEOCODER=chain, pointed at the stub
        nominatim_stub.fail_with(503)                # or .add("query", ...), .delay = 5
        ...

`nominatim_stub.requests` records every request (arrival time, path, query parameters, headers).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

# Which request parameters make up a structured query, in the order keys are written.
STRUCTURED_PARAMETERS = ("street", "city", "county", "state", "country", "postalcode")


@dataclass
class StubRequest:
    """One request the stub received."""

    arrived: float  # time.monotonic() on arrival
    path: str
    params: dict[str, str]
    headers: dict[str, str]


def query_key(params: dict[str, str]) -> str:
    """Return the key a request is answered by: its q, or its structured fields joined by ", "."""
    if "q" in params:
        return " ".join(params["q"].casefold().split())
    parts = [params[name] for name in STRUCTURED_PARAMETERS if params.get(name)]
    return " ".join(", ".join(parts).casefold().split())


@dataclass
class NominatimStub:
    """What the stub server answers, and what it was asked."""

    url: str = ""
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[StubRequest] = field(default_factory=list)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0

    def add(
        self,
        query: str,
        latitude: float,
        longitude: float,
        display_name: str,
        *,
        addresstype: str = "building",
        address: dict[str, str] | None = None,
    ) -> None:
        """Answer a query (q text, or structured fields joined by ", ") with one more place."""
        self.results.setdefault(" ".join(query.casefold().split()), []).append(
            {
                "place_id": 1000 + len(self.results),
                "licence": "Data © OpenStreetMap contributors, ODbL 1.0.",
                "osm_type": "way",
                "osm_id": 4242,
                "lat": f"{latitude:.7f}",
                "lon": f"{longitude:.7f}",
                "class": "building",
                "type": "yes",
                "place_rank": 30,
                "importance": 0.5,
                "addresstype": addresstype,
                "name": display_name.split(",")[0],
                "display_name": display_name,
                "address": address or {},
                "boundingbox": [
                    str(latitude - 0.001),
                    str(latitude + 0.001),
                    str(longitude - 0.001),
                    str(longitude + 0.001),
                ],
            }
        )

    def fail_with(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next requests with an HTTP error."""
        self.failures.extend([(status, headers or {})] * times)

    def search_requests(self) -> list[StubRequest]:
        """Return the /search requests received, oldest first."""
        return [request for request in self.requests if request.path == "/search"]


def _handler(stub: NominatimStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            parts = urlsplit(self.path)
            params = {name: values[-1] for name, values in parse_qs(parts.query).items()}
            stub.requests.append(
                StubRequest(time.monotonic(), parts.path, params, dict(self.headers.items()))
            )
            if stub.delay:
                time.sleep(stub.delay)
            if stub.failures:
                status, headers = stub.failures.pop(0)
                self._send(status, {"error": {"code": status, "message": "stub failure"}}, headers)
                return
            if parts.path != "/search":
                self._send(404, {"error": "not found"})
                return
            found = stub.results.get(query_key(params), [])
            self._send(200, found[: int(params.get("limit", "10"))])

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def nominatim_stub() -> Iterator[NominatimStub]:
    """Serve a Nominatim look-alike on a free local port for the test."""
    stub = NominatimStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def nominatim_config(nominatim_stub: NominatimStub) -> dict[str, Any]:
    """Return app settings for the chain geocoder pointed at the stub, quick to time out."""
    return {
        "GEOCODER": "chain",
        "NOMINATIM_URL": nominatim_stub.url,
        "NOMINATIM_USER_AGENT": "mapapp-tests/1.0 (tests@example.org)",
        "NOMINATIM_TIMEOUT": 1.0,
        "NOMINATIM_MIN_INTERVAL": 1.0,
    }


@pytest.fixture
def refused_url() -> Iterator[str]:
    """Return the URL of a local port nothing listens on: connections are refused.

    The port stays bound, not listening, for the test, so no test running alongside under xdist
    can start a server on it.
    """
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{holder.getsockname()[1]}"
