"""Rate limits per client (Flask-Limiter), set by configuration; "off" disables one.

Flask-Limiter's default storage (RATELIMIT_STORAGE_URI="memory://") counts per process: with
several gunicorn workers each keeps its own count. Point MAPAPP_RATELIMIT_STORAGE_URI at a shared
store such as "redis://localhost:6379/0" to count across workers.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

from mapapp.config import ConfigError

# Settings holding a limit string such as "10 per hour", or OFF.
LIMIT_SETTINGS = ("SUBMIT_RATE_LIMIT", "LOGIN_RATE_LIMIT", "EDIT_RATE_LIMIT")
OFF = "off"

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def limit_is_off(setting: str) -> bool:
    """Return whether the current app turned the limit held in a setting off."""
    value = str(current_app.config.get(setting) or OFF).strip().lower()
    return value == OFF


def configured_limit(setting: str) -> Callable[[], str]:
    """Return a limit provider reading a setting at request time ("" when it is off)."""

    def provider() -> str:
        return "" if limit_is_off(setting) else str(current_app.config[setting])

    return provider


def init_app(app: Flask) -> None:
    """Check the configured limits and attach the limiter to the app."""
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
    limiter.init_app(app)
