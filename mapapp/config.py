"""Defaults and MAPAPP_* environment settings."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "MAPAPP_"
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = ".secret_key"
ALLOWED_FILE_MODES = frozenset({0o600, 0o640})

# Every setting the app reads, with its default. Each can be set as MAPAPP_<NAME>.
DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    # Where the data files live. Unset, a checkout uses its own data/ (wherever the command is
    # run from); an installed copy refuses to start rather than create an empty store somewhere.
    "DATA_DIR": "",
    # Mode of the data files the app creates: 0600 (the service's user only) or 0640 (and its
    # group, say for a backup job). Existing files keep theirs.
    "DATA_FILE_MODE": "0600",
    "SECRET_KEY": "",
    # The site's address as visitors see it (https://events.example.org): every absolute URL is
    # built from it, and in production a request for another host is refused. Required there.
    "PUBLIC_URL": "",
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
    # Requests for a password reset link (/admin/reset) per client (issue 12).
    "RESET_RATE_LIMIT": "5 per hour",
    # Changes through one edit link, and through all edit links from one client (each rewrites
    # the events file under its lock).
    "EDIT_RATE_LIMIT": "20 per hour",
    # Previews of the submission form per client (each one geocodes and searches duplicates).
    "PREVIEW_RATE_LIMIT": "30 per hour",
    # Coordinator sessions (issue 10): signed out after this long without a request, and after
    # this long in any case.
    "SESSION_IDLE_MINUTES": 120,
    "SESSION_MAX_HOURS": 12,
    # Where rate limits count ("" = derived: Redis when REDIS_URL is set, else a file in the data
    # directory shared by every worker; any limits storage URI overrides that).
    "RATELIMIT_STORAGE_URI": "",
    # Redis, for everything shared through it (rate limits; "" = none): redis://host:6379/0
    "REDIS_URL": "",
    # PostgreSQL for every table instead of the CSV files of DATA_DIR (issue 14; "" = CSV):
    # postgresql://user:password@host:5432/mapapp
    "DATABASE_URL": "",
    "SUBMIT_MIN_SECONDS": 3.0,
    # Largest request body accepted, in bytes (413 beyond): the longest event is about 30 KB.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Largest spreadsheet the import takes (upload at /admin/import and `mapapp import`), in bytes.
    "IMPORT_MAX_BYTES": 20 * 1024 * 1024,
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).
    "PROXY_COUNT": 0,
    # Caches, bounded in bytes (issue 10). Bodies of the data API kept per worker, gzipped (and
    # with the redis cache backend, as much again in Redis, shared by every host).
    "API_CACHE_BYTES": 64 * 1024 * 1024,
    # Public exports kept on disk for all workers ("" = <DATA_DIR>/exports), and renders a client
    # may wait for (exports not yet kept: a new filter, or the very first render).
    "EXPORT_CACHE_DIR": "",
    # Where the public exports (and, with redis, the API's bodies) are kept for every host
    # (storage/shared.py): "" = derived (redis when REDIS_URL is set, else postgres when
    # DATABASE_URL is set, else files in EXPORT_CACHE_DIR), or files | redis | postgres. The
    # Nominatim turn is always taken in Redis, else PostgreSQL, else the data directory.
    "CACHE_BACKEND": "",
    "EXPORT_CACHE_BYTES": 512 * 1024 * 1024,
    "EXPORT_RATE_LIMIT": "20 per hour",
    # Place searches of the placing maps per client (each may ask Nominatim once).
    "PLACE_SEARCH_RATE_LIMIT": "120 per hour",
    # "Send me my edit links" (issue 11): requests per client, and per e-mail address asked for
    # (each sent message adds a link to every event of the address; an event keeps 10).
    "RECOVER_RATE_LIMIT": "10 per hour",
    "RECOVER_ADDRESS_RATE_LIMIT": "3 per hour;6 per day",
    # Events a partner's system posts through the API with its key (issue 12), counted per key
    # instead of SUBMIT_RATE_LIMIT's per-address count.
    "API_KEY_RATE_LIMIT": "120 per hour",
    # The address people write to about the site and their data: footer, privacy notice.
    "CONTACT_EMAIL": "info@rarediseaseday.org",
    # E-mail to organisers (issue 11): smtp://user:password@host:587 (STARTTLS when offered) or
    # smtps://user:password@host:465, password URL-encoded; "" = write data/mail/<id>.eml files.
    "SMTP_URL": "",
    "SMTP_TIMEOUT": 30.0,
    # A PEM file of the CA certificates to trust for the SMTP server ("" = the system's).
    "SMTP_CA_FILE": "",
    # The From header ("" = Rare Disease Day events <events@PUBLIC_URL's host or localhost>).
    "MAIL_FROM": "",
    # Attempts before a message is given up (status failed), and the first wait, doubled each
    # time up to 6 hours.
    "MAIL_MAX_ATTEMPTS": 10,
    "MAIL_RETRY_SECONDS": 60.0,
    # How long a sender's claim on a message lasts: then another sender may send it again.
    "MAIL_LEASE_SECONDS": 300.0,
    # "server": a sender thread in every worker of mapapp serve and in mapapp run; "off": only
    # `mapapp mail send` and `mapapp mail worker` send. Seconds between two looks at the outbox.
    "MAIL_SENDER": "server",
    "MAIL_POLL_SECONDS": 30.0,
    # Days sent (and failed) messages and their .eml files are kept.
    "MAIL_RETENTION_DAYS": 90,
    # The hour (UTC, 0 to 23) from which the mail senders queue the coordinators' daily digest.
    "DIGEST_HOUR": 7,
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
    if settings["ENV"] not in {"development", "production", "testing"}:
        raise ConfigError(
            f"{ENV_PREFIX}ENV must be development, production or testing, not {settings['ENV']!r}."
        )
    settings["DATA_DIR"] = str(data_directory(settings["DATA_DIR"]))
    settings["DATA_FILE_MODE"] = _file_mode(settings["DATA_FILE_MODE"])
    settings["PUBLIC_URL"] = public_url(settings["PUBLIC_URL"], settings["ENV"])
    if not settings["SECRET_KEY"]:
        if settings["ENV"] == "production":
            raise ConfigError(
                f"{ENV_PREFIX}SECRET_KEY is not set. In production the app needs a fixed secret "
                "key to sign sessions and edit links: set it to a long random string, e.g. "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        # Read or made at the first request (see development_secret_key), so that loading the
        # settings (`mapapp --help`, say) writes nothing.
        settings["SECRET_KEY"] = _existing_development_key(Path(settings["DATA_DIR"]))
    return settings


def data_directory(configured: str | os.PathLike[str]) -> Path:
    """Return the data directory: the configured one, else the checkout's data/, else refuse."""
    if str(configured):
        return Path(configured).resolve()
    if (CHECKOUT_ROOT / "pyproject.toml").is_file() and (CHECKOUT_ROOT / "data").is_dir():
        return CHECKOUT_ROOT / "data"
    raise ConfigError(
        f"{ENV_PREFIX}DATA_DIR is not set. Set it to the directory that holds (or will hold) "
        "events.csv, e.g. MAPAPP_DATA_DIR=/var/lib/mapapp; nothing was created."
    )


def public_url(configured: str, env: str) -> str:
    """Return the site's public address without a trailing slash, checked ("" when unset)."""
    value = str(configured or "").strip().rstrip("/")
    if not value:
        if env == "production":
            raise ConfigError(
                f"{ENV_PREFIX}PUBLIC_URL is not set. In production every absolute link (share "
                "links, calendar files, edit links, e-mails) is built from it and requests for "
                "other hosts are refused: set it to the site's address, e.g. "
                "https://events.example.org."
            )
        return ""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"{ENV_PREFIX}PUBLIC_URL must be an http or https address such as "
            f"https://events.example.org, not {value!r}."
        )
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(
            f"{ENV_PREFIX}PUBLIC_URL must be the site's origin alone (scheme, host and an "
            f"optional port, such as https://events.example.org), not {value!r}."
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}PUBLIC_URL has an invalid port: {value!r}.") from exc
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _file_mode(configured: str | int) -> int:
    """Return the data files' mode from a setting such as "0600" or "0640"."""
    if isinstance(configured, int):
        mode = configured
    else:
        try:
            mode = int(str(configured).strip(), 8)
        except ValueError as exc:
            raise ConfigError(
                f"{ENV_PREFIX}DATA_FILE_MODE must be 0600 or 0640, not {configured!r}."
            ) from exc
    if mode not in ALLOWED_FILE_MODES:
        raise ConfigError(
            f"{ENV_PREFIX}DATA_FILE_MODE must be 0600 or 0640 (the files hold organisers' "
            f"e-mails: never readable by every user), not {configured!r}."
        )
    return mode


def _existing_development_key(data_dir: Path) -> str:
    """Return the development key kept in the data directory, or "" when there is none yet."""
    try:
        return (data_dir / SECRET_KEY_FILE).read_text().strip()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return ""


def development_secret_key(data_dir: Path) -> str:
    """Return the development key kept in the data directory, making it the first time.

    Every worker and restart shares it. Anyone holding a copy can sign a coordinator's session,
    which is why production takes MAPAPP_SECRET_KEY instead.
    """
    return _development_secret_key(data_dir)


def _development_secret_key(data_dir: Path) -> str:
    """Return a random key kept in the data directory, shared by every worker and restart."""
    key_path = data_dir / SECRET_KEY_FILE
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
