"""Defaults and MAPAPP_* environment settings."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "MAPAPP_"

# Every setting the app reads, with its default. Each can be set as MAPAPP_<NAME>.
DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "DATA_DIR": "data",
    "SECRET_KEY": "",
    # Geocoding (issue 3): offline | nominatim | chain
    "GEOCODER": "offline",
    "NOMINATIM_URL": "https://nominatim.openstreetmap.org",
    "NOMINATIM_USER_AGENT": "mapapp/0.1 (Rare Disease Day event map)",
    "NOMINATIM_TIMEOUT": 10.0,
    "NOMINATIM_MIN_INTERVAL": 1.0,
    # Offline gazetteer: GeoNames towns above 500, 1000, 5000 or 15000 people; where its prepared
    # index is kept ("" = the user's cache directory, ~/.cache/mapapp)
    "GAZETTEER_MIN_POPULATION": 5000,
    "GAZETTEER_CACHE_DIR": "",
    # Map (issue 4)
    "TILES": "OpenStreetMap",
    "TILES_ATTRIBUTION": "",
    "ASSETS": "local",
    # Spam and abuse (issue 5): a Flask-Limiter limit string, or "off"
    "SUBMIT_RATE_LIMIT": "10 per hour",
    "LOGIN_RATE_LIMIT": "10 per minute",
    # Changes through one edit link, and through all edit links from one client (each rewrites
    # the events file under its lock).
    "EDIT_RATE_LIMIT": "20 per hour",
    # Coordinator sessions (issue 10): signed out after this long without a request, and after
    # this long in any case.
    "SESSION_IDLE_MINUTES": 120,
    "SESSION_MAX_HOURS": 12,
    # Where rate limits count ("" = derived: Redis when REDIS_URL is set, else a file in the data
    # directory shared by every worker; any limits storage URI overrides that).
    "RATELIMIT_STORAGE_URI": "",
    # Redis, for everything shared through it (rate limits; "" = none): redis://host:6379/0
    "REDIS_URL": "",
    "SUBMIT_MIN_SECONDS": 3.0,
    # Largest request body accepted, in bytes (413 beyond): the longest event is about 30 KB.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).
    "PROXY_COUNT": 0,
}

# Settings converted from their environment string to the default's type.
_FLOAT_SETTINGS = {name for name, value in DEFAULTS.items() if isinstance(value, float)}
_INT_SETTINGS = {name for name, value in DEFAULTS.items() if type(value) is int}


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message says which and how to fix it."""


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return the settings from defaults, MAPAPP_* variables and overrides, checked."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for name in DEFAULTS:
        raw = environ.get(ENV_PREFIX + name)
        if raw is None:
            continue
        if name in _FLOAT_SETTINGS:
            try:
                settings[name] = float(raw)
            except ValueError as exc:
                raise ConfigError(f"{ENV_PREFIX}{name} must be a number, not {raw!r}.") from exc
        elif name in _INT_SETTINGS:
            try:
                settings[name] = int(raw)
            except ValueError as exc:
                raise ConfigError(
                    f"{ENV_PREFIX}{name} must be a whole number, not {raw!r}."
                ) from exc
        else:
            settings[name] = raw
    settings.update(overrides or {})
    settings["DATA_DIR"] = str(Path(settings["DATA_DIR"]).resolve())
    if settings["ENV"] not in {"development", "production", "testing"}:
        raise ConfigError(
            f"{ENV_PREFIX}ENV must be development, production or testing, not {settings['ENV']!r}."
        )
    if not settings["SECRET_KEY"]:
        if settings["ENV"] == "production":
            raise ConfigError(
                f"{ENV_PREFIX}SECRET_KEY is not set. In production the app needs a fixed secret "
                "key to sign sessions and edit links: set it to a long random string, e.g. "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        settings["SECRET_KEY"] = _development_secret_key(Path(settings["DATA_DIR"]))
    return settings


def _development_secret_key(data_dir: Path) -> str:
    """Return a random key kept in the data directory, shared by every worker and restart."""
    key_path = data_dir / ".secret_key"
    try:
        return key_path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    candidate = data_dir / f".secret_key.{os.getpid()}"
    candidate.write_text(secrets.token_hex(32))
    candidate.chmod(0o600)
    try:
        os.link(candidate, key_path)  # atomic: the first worker to link wins
    except FileExistsError:
        pass
    finally:
        candidate.unlink()
    return key_path.read_text().strip()
