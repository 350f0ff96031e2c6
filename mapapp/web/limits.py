"""Rate limits per client (Flask-Limiter), set by configuration; "off" disables one.

A limit holds across every worker of a host: counts live in Redis when MAPAPP_REDIS_URL is set,
else in a SQLite file in the data directory (`mapapp.storage.counters`); an explicit
MAPAPP_RATELIMIT_STORAGE_URI overrides both. Where neither can be used (a read-only data
directory), each worker counts for itself, and the log says so at start. So does it when hosts
share MAPAPP_DATABASE_URL but no Redis: each host then counts for itself.

When the shared counts cannot be reached while serving (Redis down, the file unwritable), limits
fail open to per-worker counts: `counters.FailoverStorage` counts in each worker's memory, logs
"Rate limit storage unreachable", and goes back to the shared counts once they answer again.
Flask-Limiter's own in-memory fallback stays on for other storages an override may name.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from limits.errors import ConfigurationError

from mapapp.config import ConfigError
from mapapp.i18n import N_, Nn_, _, ngettext
from mapapp.storage import counters, database

# Settings holding a limit string such as "10 per hour", or OFF.
LIMIT_SETTINGS = (
    "SUBMIT_RATE_LIMIT",
    "LOGIN_RATE_LIMIT",
    "RESET_RATE_LIMIT",
    "EDIT_RATE_LIMIT",
    "PREVIEW_RATE_LIMIT",
    "EXPORT_RATE_LIMIT",
    "PLACE_SEARCH_RATE_LIMIT",
    "RECOVER_RATE_LIMIT",
    "RECOVER_ADDRESS_RATE_LIMIT",
    "API_KEY_RATE_LIMIT",
)
OFF = "off"
MEMORY_URI = "memory://"
PER_HOST_WARNING = (
    "Hosts sharing MAPAPP_DATABASE_URL count rate limits each for itself (a client may send "
    "the limit to every host): set MAPAPP_REDIS_URL to count them across hosts."
)
# Seconds a request waits for Redis before its limits count in the worker's memory instead.
REDIS_TIMEOUT_SECONDS = 2.0
# The wait said when the limit's window cannot be read (the storage just went away).
UNKNOWN_WAIT_SECONDS = 60
# Waits above this many minutes are said in hours.
MAX_MINUTES_SAID = 90


class WaitMessages(NamedTuple):
    """What a person who hit a limit is told, by the unit of the wait; %(num)s is the wait."""

    minute: str
    minutes: tuple[str, str]
    hours: tuple[str, str]


FORM_KEPT_MESSAGES = WaitMessages(
    minute=N_(
        "You have sent many forms in a short time: please try again in a minute; what you "
        "typed is kept below."
    ),
    minutes=Nn_(
        "You have sent many forms in a short time: please try again in %(num)s minute; what "
        "you typed is kept below.",
        "You have sent many forms in a short time: please try again in %(num)s minutes; what "
        "you typed is kept below.",
    ),
    hours=Nn_(
        "You have sent many forms in a short time: please try again in %(num)s hour; what you "
        "typed is kept below.",
        "You have sent many forms in a short time: please try again in %(num)s hours; what you "
        "typed is kept below.",
    ),
)
TRY_LATER_MESSAGES = WaitMessages(
    minute=N_("You have sent many requests in a short time: please try again in a minute."),
    minutes=Nn_(
        "You have sent many requests in a short time: please try again in %(num)s minute.",
        "You have sent many requests in a short time: please try again in %(num)s minutes.",
    ),
    hours=Nn_(
        "You have sent many requests in a short time: please try again in %(num)s hour.",
        "You have sent many requests in a short time: please try again in %(num)s hours.",
    ),
)

log = logging.getLogger(__name__)

limiter = Limiter(
    key_func=get_remote_address,
    headers_enabled=True,
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)
# Flask-Limiter's own logger ends in a NullHandler, which hides its "storage unreachable" warnings
# from the server's log; this module's logger reaches it.
limiter.logger = log


def limit_is_off(setting: str) -> bool:
    """Return whether the current app turned the limit held in a setting off."""
    value = str(current_app.config.get(setting) or OFF).strip().lower()
    return value == OFF


def configured_limit(setting: str) -> Callable[[], str]:
    """Return a limit provider reading a setting at request time ("" when it is off)."""

    def provider() -> str:
        return "" if limit_is_off(setting) else str(current_app.config[setting])

    return provider


def retry_after_seconds() -> int:
    """Return the seconds until the limit this request broke lets it through again."""
    current = limiter.current_limit
    if current is None:
        return UNKNOWN_WAIT_SECONDS
    try:
        reset_at = current.reset_at
    except Exception:  # the storage went away since the limit was checked
        return UNKNOWN_WAIT_SECONDS
    return max(1, int(reset_at - time.time()))  # as Flask-Limiter's own Retry-After counts


def wait_message(seconds: int, *, form_kept: bool) -> str:
    """Return the sentence saying when to try again, and that the form was kept if it was.

    The wait is rounded up: telling a person to come back too early only breaks the limit again.
    """
    messages = FORM_KEPT_MESSAGES if form_kept else TRY_LATER_MESSAGES
    minutes = max(1, math.ceil(seconds / 60))
    if minutes == 1:
        return _(messages.minute)
    if minutes <= MAX_MINUTES_SAID:
        return ngettext(*messages.minutes, minutes)
    return ngettext(*messages.hours, math.ceil(seconds / 3600))


# Pages that answer a broken limit with their form as it was typed: endpoint -> renderer.
# A renderer takes the message and returns the page and its status, or None to answer as usual.
FormRenderer = Callable[[str], "tuple[str, int] | None"]
_form_pages: dict[str, FormRenderer] = {}


def keeps_form(endpoint: str) -> Callable[[FormRenderer], FormRenderer]:
    """Register what a page shows when its limit is broken: its form, with what was typed."""

    def register(renderer: FormRenderer) -> FormRenderer:
        _form_pages[endpoint] = renderer
        return renderer

    return register


def form_page(endpoint: str | None) -> FormRenderer | None:
    """Return the renderer of a page that keeps its form on a broken limit, or None."""
    return _form_pages.get(endpoint or "")


def storage_uri(config: Mapping[str, Any]) -> tuple[str, str]:
    """Return the URI where limits count, and a sentence for the log saying where that is.

    Redis and the counter file are wrapped in counters.FailoverStorage (failover+...).
    """
    uri, where = _shared_storage_uri(config)
    if urlsplit(uri).scheme in counters.FAILOVER_SCHEMES:
        uri = counters.FAILOVER_PREFIX + uri
    return uri, where


def _shared_storage_uri(config: Mapping[str, Any]) -> tuple[str, str]:
    """Return the URI of the storage chosen by the settings, and the log's sentence."""
    explicit = str(config.get("RATELIMIT_STORAGE_URI") or "").strip()
    redis = counters.redis_url(config)
    if explicit:
        shared = "per worker process" if explicit == MEMORY_URI else "as configured"
        return explicit, f"Rate limits count in {counters.without_password(explicit)} ({shared})."
    if redis:
        return _limits_redis_uri(redis), (
            f"Rate limits count in Redis at {counters.without_password(redis)}, "
            "shared by every worker that uses it."
        )
    reason = counters.unusable_reason(config["DATA_DIR"])
    if reason:
        return MEMORY_URI, (
            f"Rate limits count per worker process, not across workers: {reason}. "
            "Make the data directory writable or set MAPAPP_REDIS_URL."
        )
    uri = counters.counters_uri(config["DATA_DIR"])
    return (
        uri,
        f"Rate limits count in {uri.removeprefix(counters.SCHEME + '://')}, shared by every worker.",
    )


def init_app(app: Flask) -> None:
    """Check the configured limits, choose where they count and attach the limiter."""
    for setting in LIMIT_SETTINGS:
        value = str(app.config.get(setting) or OFF).strip()
        if value.lower() == OFF:
            continue
        try:
            parse_many(value)
        except ValueError as exc:
            raise ConfigError(
                f"MAPAPP_{setting} must be a limit such as '10 per hour' or 'off', not {value!r}."
            ) from exc
    uri, where = storage_uri(app.config)
    per_host = _counts_per_host(app.config)
    if per_host:
        where += f" {PER_HOST_WARNING}"
    app.config["RATELIMIT_STORAGE_URI"] = uri
    try:
        limiter.init_app(app)
    except ConfigurationError as exc:
        raise ConfigError(
            "MAPAPP_RATELIMIT_STORAGE_URI must be a storage URI that Flask-Limiter knows, "
            f"such as redis://localhost:6379/0, not {counters.without_password(uri)!r} ({exc})."
        ) from exc
    log.log(logging.WARNING if uri == MEMORY_URI or per_host else logging.INFO, where)


def _counts_per_host(config: Mapping[str, Any]) -> bool:
    """Return whether several hosts share a database but each counts its own rate limits."""
    return (
        bool(database.database_url(config))
        and not counters.redis_url(config)
        and not str(config.get("RATELIMIT_STORAGE_URI") or "").strip()
    )


def _limits_redis_uri(url: str) -> str:
    """Return a Redis URL as `limits` takes it, with timeouts unless the URL sets its own."""
    parts = urlsplit(url)
    scheme = "redis+unix" if parts.scheme == "unix" else parts.scheme
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_connect_timeout", str(REDIS_TIMEOUT_SECONDS))
    query.setdefault("socket_timeout", str(REDIS_TIMEOUT_SECONDS))
    # Built by hand: urlunsplit drops the empty host of unix:///path for a scheme it does not know.
    return f"{scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"
