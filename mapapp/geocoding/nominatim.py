"""Nominatim through geopy: one request a second across every process and host, no hidden retries.

The turn (`mapapp.storage.turns`) is held for the whole request and keeps the earliest moment the
next one may leave: in the data directory's files for one host, in Redis or PostgreSQL when the
hosts share one (`mapapp.storage.shared.turn`).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from geopy.adapters import AdapterHTTPError, RequestsAdapter, get_retry_after
from geopy.exc import GeocoderRateLimited, GeopyError
from geopy.geocoders import Nominatim
from geopy.location import Location

from mapapp.storage.turns import FileTurn, Held, Turn, TurnBusy, TurnUnavailable

TURN_NAME = "nominatim"  # files .nominatim.lock and .nominatim-next, or keys and rows so named
# Beyond the longest hold (a wait and a request, each up to the timeout), a dead host's turn frees.
LEASE_MARGIN_SECONDS = 10.0
# Nominatim's addresstype values that mean a town rather than a street address.
CITY_TYPES = frozenset(
    {
        "city",
        "town",
        "village",
        "hamlet",
        "municipality",
        "suburb",
        "borough",
        "quarter",
        "neighbourhood",
        "county",
        "state",
        "region",
        "province",
        "district",
    }
)
CITY_KEYS = ("city", "town", "village", "hamlet", "municipality", "suburb")

log = logging.getLogger(__name__)


def turn_lease(timeout: float, min_interval: float) -> float:
    """Return how long a host may hold the turn: a wait and a request, and a margin."""
    return 2 * timeout + min_interval + LEASE_MARGIN_SECONDS


class NominatimUnavailable(RuntimeError):
    """Nominatim did not answer: down, too slow, refused, or asked us to wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NominatimClient:
    """Search a Nominatim server, keeping to its usage policy."""

    def __init__(
        self,
        url: str,
        user_agent: str,
        timeout: float,
        min_interval: float,
        state_dir: str | os.PathLike[str],
        *,
        turn: Turn | None = None,
    ) -> None:
        """Search url's server; the turn is shared, or else kept in files in state_dir."""
        if not user_agent.strip():
            raise ValueError(
                "MAPAPP_NOMINATIM_USER_AGENT is empty. Nominatim's usage policy asks for a "
                "user agent naming the app and a contact, e.g. 'mapapp/1.0 (you@example.org)'."
            )
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"MAPAPP_NOMINATIM_URL must be an http(s) URL, not {url!r}.")
        self.url = url
        self.timeout = timeout
        self.min_interval = min_interval
        lease = turn_lease(timeout, min_interval)
        self.turn = turn if turn is not None else FileTurn(state_dir, TURN_NAME, lease)
        # Waiting for the turn covers the requests queued before ours.
        self._turn_timeout = 4 * (timeout + min_interval)
        self._geocoder = Nominatim(
            user_agent=user_agent,
            domain=parts.netloc + parts.path.rstrip("/"),
            scheme=parts.scheme,
            timeout=timeout,
            # requests retries a failed connection twice by default: that would hide failures
            # and break the one-request-a-second rule.
            adapter_factory=functools.partial(RequestsAdapter, max_retries=0),
        )

    def search(
        self,
        query: str | Mapping[str, str],
        *,
        country_codes: str = "",
        limit: int = 5,
    ) -> list[Location]:
        """Return Nominatim's places for a query, best first; [] when it knows none."""
        try:
            with self.turn.hold(self._turn_timeout) as held:
                self._wait_turn(held)
                return self._request(held, query, country_codes, limit)
        except TurnBusy as exc:
            raise NominatimUnavailable("The geocoding service is busy.") from exc
        except TurnUnavailable as exc:
            raise NominatimUnavailable(
                "The geocoding service's turns cannot be taken (their server is down)."
            ) from exc

    def close(self) -> None:
        """Close the HTTP connections."""
        adapter = self._geocoder.adapter
        if isinstance(adapter, RequestsAdapter):
            adapter.session.close()

    def _wait_turn(self, held: Held) -> None:
        """Sleep until this process may send the next request; the caller holds the turn."""
        wait = held.wait_seconds()
        if wait > self.timeout:
            raise NominatimUnavailable(
                f"The geocoding service asked us to wait {wait:.0f} seconds.", retry_after=wait
            )
        if wait > 0:
            time.sleep(wait)

    def _request(
        self, held: Held, query: str | Mapping[str, str], country_codes: str, limit: int
    ) -> list[Location]:
        """Send one request and translate every failure into NominatimUnavailable."""
        held.not_before(self.min_interval)
        try:
            found = self._geocoder.geocode(
                dict(query) if not isinstance(query, str) else query,
                exactly_one=False,
                limit=limit,
                addressdetails=True,
                country_codes=country_codes or None,
            )
        except GeopyError as exc:
            retry_after = _retry_after(exc)
            if retry_after is not None:
                held.not_before(max(retry_after, self.min_interval))
            log.warning("Nominatim at %s failed: %s", self.url, exc)
            raise NominatimUnavailable(str(exc), retry_after) from exc
        finally:
            # Space requests from the end of the last one too: a slow answer must not let the
            # next request follow at once.
            held.not_before(self.min_interval)
        return list(found or [])


def _retry_after(error: GeopyError) -> float | None:
    """Return the seconds a failed answer asked us to wait, from 429 or 503 Retry-After."""
    if isinstance(error, GeocoderRateLimited) and error.retry_after is not None:
        return float(error.retry_after)
    cause = error.__cause__
    if isinstance(cause, AdapterHTTPError):
        seconds = get_retry_after(cause.headers)
        return float(seconds) if seconds is not None else None
    return None


def place_fields(location: Location) -> dict[str, Any]:
    """Return a Nominatim answer as place fields: name, city, region, country, precision."""
    raw: dict[str, Any] = location.raw
    address: dict[str, str] = raw.get("address") or {}
    kind = str(raw.get("addresstype") or raw.get("type") or "")
    if kind == "country":
        precision = "country"
    elif kind in CITY_TYPES:
        precision = "city"
    else:
        precision = "address"
    city = next((address[key] for key in CITY_KEYS if address.get(key)), "")
    return {
        "name": str(location.address or raw.get("display_name") or ""),
        "city": city if precision != "country" else "",
        "region": address.get("state", ""),
        "country": address.get("country_code", "").upper(),
        "latitude": float(location.latitude),
        "longitude": float(location.longitude),
        "precision": precision,
    }
