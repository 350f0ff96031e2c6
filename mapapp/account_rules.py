"""What an account's values may be: names, passwords, e-mail addresses, roles and countries.

Each check returns the value as stored or raises CoordinatorError with a message for the person
who typed it, naming the form field. The checks that depend on other accounts (a unique address,
the last administrator) are made under the table's lock in mapapp.coordinators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pycountry
from email_validator import EmailNotValidError, validate_email

from mapapp import access
from mapapp.i18n import N_, _, country_name, current_code, ngettext, sorted_names

TRUE, FALSE = "true", "false"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254

# The messages are translated when raised (English outside a request: the command line).
NAME_MESSAGE = N_(
    "Name: use 2 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
)
# Translators: keep %(reason)s: the e-mail checker's explanation.
EMAIL_INVALID = N_("E-mail: %(reason)s")
EMAIL_UNREADABLE = N_(
    "E-mail: this is not an e-mail address that can be written to; check it for typos."
)
ROLE_UNKNOWN = N_("Role: choose administrator, national coordinator or viewer.")
# Translators: keep FR and BE: they are country codes.
COUNTRY_UNKNOWN = N_(
    "Countries: '%(code)s' is not a country code we know. Choose countries from the list, or "
    "give two-letter codes such as FR or BE."
)
NATIONAL_NEEDS_COUNTRIES = N_("Countries: a national coordinator needs at least one country.")
DIGEST_NEEDS_EMAIL = N_("Daily digest: give an e-mail address to send the digest to.")
# Translators: %(label)s is a yes-or-no field: "Active" or "Daily digest".
NOT_A_CHOICE = N_("%(label)s: answer yes or no.")
BOOLEANS = {
    "true": TRUE,
    "yes": TRUE,
    "on": TRUE,
    "1": TRUE,
    "false": FALSE,
    "no": FALSE,
    "off": FALSE,
    "0": FALSE,
    "": FALSE,
}
# Translators: "Active": whether an account may sign in.
LABELS = {"active": N_("Active"), "digest": N_("Daily digest")}


class CoordinatorError(ValueError):
    """An account cannot be added, changed or removed; the message says why.

    field names the form field the message is about ("" for the whole form).
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def normalise_name(name: str) -> str:
    """Return a sign-in name as stored: trimmed and lower-cased."""
    return name.strip().lower()


def check_name(name: str) -> str:
    """Return the normalised name, or raise CoordinatorError saying what a name may hold."""
    normalised = normalise_name(name)
    if not NAME_PATTERN.match(normalised):
        raise CoordinatorError(_(NAME_MESSAGE), "name")
    return normalised


def check_password(password: str) -> None:
    """Raise CoordinatorError unless the password is long enough to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        message = ngettext(
            "Password: use at least %(num)s character; a few words are easiest.",
            "Password: use at least %(num)s characters; a few words are easiest.",
            MIN_PASSWORD_LENGTH,
        )
        raise CoordinatorError(message, "password")
    if len(password) > MAX_PASSWORD_LENGTH:
        message = ngettext(
            "Password: keep it under %(num)s character.",
            "Password: keep it under %(num)s characters.",
            MAX_PASSWORD_LENGTH,
            num=MAX_PASSWORD_LENGTH,
        )
        raise CoordinatorError(message, "password")


def check_email(raw: str) -> str:
    """Return an address as stored (trimmed, normalised; "" for none), or raise CoordinatorError."""
    address = raw.strip()
    if not address:
        return ""
    if len(address) > MAX_EMAIL_LENGTH:
        message = ngettext(
            "E-mail: an address has at most %(num)s character.",
            "E-mail: an address has at most %(num)s characters.",
            MAX_EMAIL_LENGTH,
        )
        raise CoordinatorError(message, "email")
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        # The checker explains in English only: other languages get a sentence of their own.
        if current_code() == "en":
            message = _(EMAIL_INVALID, reason=str(exc))
        else:
            message = _(EMAIL_UNREADABLE)
        raise CoordinatorError(message, "email") from exc
    return str(checked.normalized)


def check_countries(value: object) -> frozenset[str]:
    """Return ISO alpha-2 codes (given as "FR,BE", "FR BE" or a list), or raise CoordinatorError."""
    if isinstance(value, str):
        codes: list[object] = list(value.replace(",", " ").split())
    elif isinstance(value, Iterable):
        codes = list(value)
    else:
        codes = [value]
    checked = set()
    for code in (str(code).strip().upper() for code in codes):
        if not code:
            continue
        if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
            raise CoordinatorError(_(COUNTRY_UNKNOWN, code=code), "countries")
        checked.add(code)
    return frozenset(checked)


def check_role(role: str) -> str:
    """Return a role, or raise CoordinatorError naming the roles."""
    if role not in access.ROLES:
        raise CoordinatorError(_(ROLE_UNKNOWN), "role")
    return role


def describe_countries(countries: Iterable[str]) -> str:
    """Return countries as people read them: their names in the language, in its order."""
    names = sorted_names((code, country_name(code)) for code in countries)
    return ", ".join(name for _code, name in names)


def stored_values(changes: Mapping[str, object]) -> dict[str, str]:
    """Return an account's changed values as stored strings, each checked on its own."""
    values: dict[str, str] = {}
    if "role" in changes:
        values["role"] = check_role(str(changes["role"]))
    if "countries" in changes:
        values["countries"] = " ".join(sorted(check_countries(changes["countries"])))
    if "email" in changes:
        values["email"] = check_email(str(changes["email"] or ""))
    for name in ("active", "digest"):
        if name in changes:
            values[name] = _boolean(name, changes[name])
    return values


def check_account(row: Mapping[str, str]) -> None:
    """Raise CoordinatorError unless an account's values fit together."""
    if row.get("role") == access.NATIONAL and not (row.get("countries") or "").split():
        raise CoordinatorError(_(NATIONAL_NEEDS_COUNTRIES), "countries")
    if row.get("digest") == TRUE and not row.get("email"):
        raise CoordinatorError(_(DIGEST_NEEDS_EMAIL), "digest")


def _boolean(name: str, value: object) -> str:
    """Return a yes or no as stored."""
    if isinstance(value, bool):
        return TRUE if value else FALSE
    stored = BOOLEANS.get(str(value).strip().lower())
    if stored is None:
        raise CoordinatorError(_(NOT_A_CHOICE, label=_(LABELS[name])), name)
    return stored
