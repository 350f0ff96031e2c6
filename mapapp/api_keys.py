"""Partner API keys: national alliances' systems post events with a key of their own.

An administrator creates a key for a partner (a name and the countries it may post events in),
sees its secret once, and can revoke it. Only a hash of the secret is kept, in
data/api_keys.csv. A trusted key's events are approved at once; the others wait for review like
every submission. The web layer reads the key from `Authorization: Bearer <secret>` and asks
`authenticate`; creating, listing and revoking keys take the acting coordinator's scope and are
for administrators only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import pycountry
from flask import Flask

from mapapp import access
from mapapp.event_text import utc_line
from mapapp.events import normalise_text
from mapapp.i18n import N_, _, country_name, ngettext, sorted_names
from mapapp.storage import Table, add_table, get_table, utc_now
from mapapp.storage.validation import ColumnRule, TableSpec

KEYS_FILE = "api_keys.csv"
COLUMNS = (
    "id",
    "partner",
    "secret_hash",
    "countries",  # ISO codes separated by spaces: the countries the key may post events in
    "trusted",  # its events are approved at once
    "created_at",
    "created_by",
    "revoked_at",
)
TRUE, FALSE = "true", "false"
KEYS_SPEC = TableSpec(
    file_name=KEYS_FILE,
    columns=COLUMNS,
    key="id",
    rules={
        "trusted": ColumnRule("boolean", required=True),
        "created_at": ColumnRule("utc_time", required=True),
        "revoked_at": ColumnRule("utc_time"),
    },
)
# A secret reads `mapapp_<id>_<random>`: recognisable in a configuration file or a leak report,
# and carrying its key's id, so that it is found without a search and partners can name it.
PREFIX = "mapapp_"
ID_BYTES = 4  # 8 hex digits
SECRET_BYTES = 32  # 256 random bits
SECRET_PATTERN = re.compile(rf"{PREFIX}([0-9a-f]{{{ID_BYTES * 2}}})_([A-Za-z0-9_-]{{43}})")
MAX_PARTNER_LENGTH = 100
PARTNER_WHO = "partner:{name}"  # who the audit log names for a partner's submissions

# The messages are translated when raised (the API answers in English: it has no language).
PARTNER_MESSAGE = N_("Partner: give the name of the alliance or organisation this key is for.")
COUNTRIES_MESSAGE = N_("Countries: choose at least one country this partner posts events in.")
NO_SUCH_KEY_MESSAGE = N_("There is no API key with the id '%(key_id)s'.")
# Translators: %(when)s is a date and time in UTC.
ALREADY_REVOKED_MESSAGE = N_("The key %(key_id)s of %(partner)s was already revoked on %(when)s.")
# Translators: %(countries)s lists country names, %(where)s is one country's name.
REFUSAL_MESSAGE = N_(
    "Country: this key posts events in %(countries)s, not in %(where)s. Ask the site's "
    "administrators for a key that covers %(where)s."
)
NO_COUNTRY_REFUSAL = N_("Country: this key posts events in %(countries)s; give one of them.")

log = logging.getLogger(__name__)


class ApiKeyError(ValueError):
    """A key cannot be created or revoked; the message says why."""


@dataclass(frozen=True)
class ApiKey:
    """One partner's key, as stored but for its secret's hash."""

    id: str
    partner: str
    countries: frozenset[str]
    trusted: bool
    created_at: str
    created_by: str
    revoked_at: str = ""

    @property
    def active(self) -> bool:
        """Return whether requests with this key are taken."""
        return not self.revoked_at

    @property
    def who(self) -> str:
        """Return who the audit log names for this key's submissions."""
        return PARTNER_WHO.format(name=self.partner)

    def describe_countries(self) -> str:
        """Return the key's countries in words, by name."""
        names = sorted_names((code, country_name(code) or code) for code in self.countries)
        return ", ".join(name for _code, name in names)

    def refusal(self, country: str) -> str:
        """Return why this key cannot post an event in this country, or '' when it can."""
        code = country.strip().upper()
        if code in self.countries:
            return ""
        if not code:
            return _(NO_COUNTRY_REFUSAL, countries=self.describe_countries())
        where = country_name(code) or code
        return _(REFUSAL_MESSAGE, countries=self.describe_countries(), where=where)


def init_app(app: Flask) -> None:
    """Give the app its table of partner API keys."""
    add_table(app, KEYS_FILE, KEYS_SPEC, key="id")


def _table() -> Table:
    """Return the current app's table of keys."""
    return get_table(KEYS_FILE)


def hash_secret(secret: str) -> str:
    """Return the stored form of a secret: its SHA-256, in hex.

    A fast hash is right here, unlike for passwords: scrypt and its kin are slow to make
    guessing a person's low-entropy password expensive, but a secret of 256 random bits cannot
    be guessed at any speed, so a slow hash would add nothing but a cost (and a way to load the
    server) on every API request.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_countries(countries: str | Iterable[str]) -> frozenset[str]:
    """Return ISO codes (given as a list, or as text separated by commas or spaces), checked."""
    if isinstance(countries, str):
        countries = re.split(r"[\s,;]+", countries)
    codes = {code.strip().upper() for code in countries if code.strip()}
    if not codes:
        raise ApiKeyError(_(COUNTRIES_MESSAGE))
    unknown = sorted(code for code in codes if pycountry.countries.get(alpha_2=code) is None)
    if unknown:
        # Translators: %(codes)s is one or more country codes that are not valid; keep FR.
        message = ngettext(
            "Countries: %(codes)s is not a country code we know (use codes such as FR).",
            "Countries: %(codes)s are not country codes we know (use codes such as FR).",
            len(unknown),
            codes=", ".join(unknown),
        )
        raise ApiKeyError(message)
    return frozenset(codes)


def create_key(
    scope: access.Scope, partner: str, countries: str | Iterable[str], *, trusted: bool = False
) -> tuple[ApiKey, str]:
    """Create a key for a partner and return it with its secret, which is never shown again."""
    scope.require(scope.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    name = normalise_text(partner)
    if not name:
        raise ApiKeyError(_(PARTNER_MESSAGE))
    if len(name) > MAX_PARTNER_LENGTH:
        message = ngettext(
            "Partner: keep the name under %(num)s character.",
            "Partner: keep the name under %(num)s characters.",
            MAX_PARTNER_LENGTH,
        )
        raise ApiKeyError(message)
    codes = check_countries(countries)
    table = _table()
    while True:  # an id already taken (one in four billion) is drawn again
        key_id = secrets.token_hex(ID_BYTES)
        secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
        record = {
            "id": key_id,
            "partner": name,
            "secret_hash": hash_secret(secret),
            "countries": " ".join(sorted(codes)),
            "trusted": TRUE if trusted else FALSE,
            "created_at": utc_now(),
            "created_by": scope.who,
            "revoked_at": "",
        }
        if table.append([record]):
            log.info("API key %s of %s created by %s", key_id, name, scope.who)
            return _key_of(record), secret


def list_keys(scope: access.Scope) -> list[ApiKey]:
    """Return every key, the newest first."""
    scope.require(scope.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    keys = [_key_of(row) for row in _rows(_table().frame())]
    return sorted(keys, key=lambda key: key.created_at, reverse=True)


def revoke_key(scope: access.Scope, key_id: str) -> ApiKey:
    """Revoke a key: from now on its requests are refused. Return it as stored."""
    scope.require(scope.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    key_id = key_id.strip()
    table = _table()
    current = table.get(key_id) if key_id else None
    if current is None:
        raise ApiKeyError(_(NO_SUCH_KEY_MESSAGE, key_id=key_id))
    now = utc_now()

    def decide(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
        # Under the lock: a key revoked meanwhile keeps the time it was first revoked.
        rows = frame[(frame["id"] == key_id) & (frame["revoked_at"] == "")]
        return {key_id: {"revoked_at": now}} if len(rows) else {}

    changed = table.change_rows(decide)
    if not changed:
        stored = _key_of(table.get(key_id) or current)
        raise ApiKeyError(
            _(
                ALREADY_REVOKED_MESSAGE,
                key_id=key_id,
                partner=stored.partner,
                when=utc_line(stored.revoked_at),
            )
        )
    log.info("API key %s revoked by %s", key_id, scope.who)
    return _key_of(changed[0])


def authenticate(secret: str) -> ApiKey | None:
    """Return the active key a secret belongs to, or None (unknown, malformed or revoked)."""
    match = SECRET_PATTERN.fullmatch(secret)
    if match is None:
        return None
    row = _table().get(match[1])
    if row is None or not hmac.compare_digest(row["secret_hash"], hash_secret(secret)):
        return None
    key = _key_of(row)
    return key if key.active else None


def _key_of(row: dict[str, str]) -> ApiKey:
    """Return a stored row as an ApiKey."""
    return ApiKey(
        id=row["id"],
        partner=row["partner"],
        countries=frozenset(row["countries"].split()),
        trusted=row["trusted"] == TRUE,
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
    )


def _rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Return a frame's rows as dicts of strings."""
    columns = [str(name) for name in frame.columns]
    return [dict(zip(columns, map(str, values), strict=True)) for values in frame.to_numpy()]
