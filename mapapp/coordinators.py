"""Coordinator accounts: add, list, remove, verify; kept in data/coordinators.csv as scrypt hashes.

Each account has a role (see mapapp.access: admin, national, viewer), the countries of a national
coordinator, an e-mail address, whether it is active and whether it wants the daily digest.
Accounts from before roles existed are upgraded to active administrators, as they were.
Removing or deactivating an account, changing its role, countries or password ends its sessions
(see mapapp.sessions). A person signs in with their name or their e-mail address.

Every change is a keyed compare-and-swap under the table's lock (Table.change_rows), decided
from the rows as they are then: the last active administrator can never be demoted or
deactivated, even by two administrators demoting each other at the same moment. Every change is
recorded in the accounts log (mapapp.account_log).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import pandas as pd
from flask import Flask
from werkzeug.security import check_password_hash, generate_password_hash

from mapapp import access, account_log, account_tokens, sessions
from mapapp.account_rules import (
    FALSE,
    TRUE,
    CoordinatorError,
    check_account,
    check_name,
    check_password,
    normalise_name,
    stored_values,
)
from mapapp.i18n import N_, _
from mapapp.storage import Table, add_table, get_table, utc_now
from mapapp.storage.validation import ColumnRule, TableSpec

COORDINATORS_FILE = "coordinators.csv"
COLUMNS = (
    "name",
    "password_hash",
    "created_at",
    "email",
    "role",
    "countries",  # ISO codes separated by spaces, for national coordinators and viewers
    "active",
    "digest",  # whether the account gets the daily digest of new submissions in its scope
)
COLUMNS_BEFORE_ROLES = ("name", "password_hash", "created_at")
COORDINATORS_SPEC = TableSpec(
    file_name=COORDINATORS_FILE,
    columns=COLUMNS,
    key="name",
    older_headers=(COLUMNS_BEFORE_ROLES,),
    rules={
        "role": ColumnRule("choice", required=True, choices=tuple(access.ROLES)),
        "active": ColumnRule("boolean", required=True),
        "digest": ColumnRule("boolean"),
    },
    upgrade_values={"role": access.ADMIN, "active": TRUE, "digest": FALSE},
)
HASH_METHOD = "scrypt"
# What an administrator may change of an account, and what every account may change of its own.
EDITABLE_FIELDS = ("role", "countries", "email", "active", "digest")
OWN_FIELDS = frozenset({"email", "digest"})
# Changes after which the account's sessions end (the scope is re-read at each request anyway).
SESSION_ENDING_FIELDS = frozenset({"role", "countries", "active"})

CREDENTIAL_LENGTH = 32  # hex digits of the credential fingerprint
# The messages are translated when raised (English outside a request: the command line).
WRONG_CURRENT_PASSWORD = N_("Current password: that is not your password. Check it and try again.")
SAME_PASSWORD = N_("New password: choose one other than your current password.")
NO_SUCH_ACCOUNT = N_("There is no coordinator called '%(name)s'.")
NAME_TAKEN = N_("A coordinator called '%(name)s' already exists.")
EMAIL_TAKEN = N_(
    "E-mail: another account already uses %(email)s. Each account needs its own address."
)
# Translators: %(names)s lists the names of account fields as stored (role, email...).
FIELD_UNKNOWN = N_("These cannot be changed here: %(names)s.")
LAST_ADMIN = N_(
    "%(name)s is the last active administrator. Make another account an active administrator "
    "first, so that someone can still manage the accounts."
)


@dataclass(frozen=True)
class Coordinator:
    """A person who may moderate events.

    credential fingerprints the account's creation time and password hash: it changes when the
    password does, and a removed account added again never gets its old one back (a new salt),
    so a session started before either no longer matches.
    """

    name: str
    created_at: str
    credential: str
    email: str = ""
    role: str = access.ADMIN
    countries: frozenset[str] = frozenset()
    active: bool = True
    digest: bool = False

    @property
    def scope(self) -> access.Scope:
        """Return what this account may see and do."""
        return access.Scope(self.name, self.role, self.countries)


def init_app(app: Flask) -> None:
    """Give the app its tables of coordinator accounts, their sessions, links and log."""
    add_table(app, COORDINATORS_FILE, COORDINATORS_SPEC, key="name")
    sessions.init_app(app)
    account_tokens.init_app(app)
    account_log.init_app(app)


def _table() -> Table:
    """Return the current app's coordinator table."""
    return get_table(COORDINATORS_FILE)


def add_coordinator(
    name: str,
    password: str,
    *,
    role: str = access.ADMIN,
    countries: frozenset[str] | set[str] | str = frozenset(),
    email: str = "",
    active: bool = True,
    who: str = "command line",
    action: str = "add",
) -> Coordinator:
    """Create an account with a hashed password and return it (inactive: invited, not accepted)."""
    normalised = check_name(name)
    check_password(password)
    values = stored_values({"role": role, "countries": countries, "email": email})
    check_account({"name": normalised, **values, "digest": FALSE})
    record = {
        "name": normalised,
        "password_hash": generate_password_hash(password, method=HASH_METHOD),
        "created_at": utc_now(),
        **values,
        "active": TRUE if active else FALSE,
        "digest": FALSE,
    }
    table = _table()
    if normalised in table:
        raise CoordinatorError(_(NAME_TAKEN, name=normalised), "name")
    # Checked under the lock: two processes adding the same name, or address, add it once.
    if not table.append([record], unless_stored=_email_key):
        if normalised in table:
            raise CoordinatorError(_(NAME_TAKEN, name=normalised), "name")
        raise CoordinatorError(_(EMAIL_TAKEN, email=record["email"]), "email")
    account_log.record(who, normalised, action, {k: ["", v] for k, v in values.items() if v})
    return _coordinator_of(record)


def list_coordinators() -> list[Coordinator]:
    """Return every account, by name."""
    rows = _rows(_table())
    return sorted(map(_coordinator_of, rows), key=lambda coordinator: coordinator.name)


def list_accounts(who: access.Scope) -> list[Coordinator]:
    """Return every account, by name, for an administrator."""
    who.require(who.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    return list_coordinators()


def get_coordinator(name: str) -> Coordinator | None:
    """Return the account with this name, or None."""
    row = _table().get(normalise_name(name))
    return None if row is None else _coordinator_of(row)


def get_account(name: str, who: access.Scope) -> Coordinator:
    """Return an account for an administrator (or the account's own), or raise CoordinatorError."""
    normalised = normalise_name(name)
    if who.who != normalised:
        who.require(who.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    coordinator = get_coordinator(normalised)
    if coordinator is None:
        raise CoordinatorError(_(NO_SUCH_ACCOUNT, name=normalised))
    return coordinator


def find_account(name_or_email: str) -> Coordinator | None:
    """Return the account with this name or e-mail address (any case), or None."""
    row = _find_row(name_or_email)
    return None if row is None else _coordinator_of(row)


def remove_coordinator(name: str, *, who: str = "command line") -> None:
    """Delete an account and end its sessions and links."""
    normalised = normalise_name(name)
    if not _table().delete([normalised]):
        raise CoordinatorError(_(NO_SUCH_ACCOUNT, name=normalised))
    sessions.end_all(normalised)
    account_tokens.end_all(normalised)
    account_log.record(who, normalised, "remove")


def update_account(name: str, changes: Mapping[str, object], who: access.Scope) -> Coordinator:
    """Change an account's role, countries, e-mail, active and digest; return it as stored.

    Administrators change any account; every account may change its own e-mail and digest.
    The checks that depend on the other accounts (a unique address, the last active
    administrator) are made under the lock, from the rows as they are.
    """
    normalised = normalise_name(name)
    if who.who != normalised or not set(changes) <= OWN_FIELDS:
        who.require(who.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise CoordinatorError(_(FIELD_UNKNOWN, names=", ".join(sorted(unknown))))
    values = stored_values(changes)
    if values.get("role") == access.ADMIN:
        values["countries"] = ""  # an administrator has every country
    diff: dict[str, list[str]] = {}

    def decide(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
        row = _row_in(frame, normalised)
        new = {**row, **values}
        check_account(new)
        _check_email_free(frame, normalised, new["email"])
        if _is_active_admin(row) and not _is_active_admin(new):
            _check_other_admin(frame, normalised)
        diff.clear()
        diff.update({k: [row[k], new[k]] for k in values if row[k] != new[k]})
        return {normalised: {k: new[k] for k in diff}}

    stored = _table().change_rows(decide)
    if not stored:
        return _coordinator_of(_row_in(_table().frame(), normalised))
    account_log.record(who.who, normalised, "change", diff)
    if set(diff) & SESSION_ENDING_FIELDS:
        sessions.end_all(normalised)
    if diff.get("active", ["", TRUE])[1] == FALSE or "email" in diff:
        account_tokens.end_all(normalised)  # no invitation or reset link outlives these
    return _coordinator_of(stored[0])


def set_password(
    name: str,
    password: str,
    *,
    who: str = "command line",
    action: str = "password",
    activate: bool = False,
) -> Coordinator:
    """Give an account a new password and end all its sessions; return the account.

    activate also makes the account active (an accepted invitation).
    """
    normalised = normalise_name(name)
    check_password(password)
    new_hash = generate_password_hash(password, method=HASH_METHOD)

    def decide(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
        _row_in(frame, normalised)
        return {normalised: {"password_hash": new_hash, **({"active": TRUE} if activate else {})}}

    [changed] = _table().change_rows(decide)
    sessions.end_all(normalised)
    account_log.record(who, normalised, action)
    return _coordinator_of(changed)


def change_password(name: str, current: str, new: str) -> tuple[Coordinator, str]:
    """Change a coordinator's own password, given the current one, ending all its sessions.

    Return the account and the token of a new session for the person who changed it.
    """
    if verify(name, current) is None:
        raise CoordinatorError(_(WRONG_CURRENT_PASSWORD))
    check_password(new)
    if new == current:
        raise CoordinatorError(_(SAME_PASSWORD))
    coordinator = set_password(name, new, who=normalise_name(name))
    return coordinator, sessions.start(coordinator.name, coordinator.credential)


def sign_in(name_or_email: str, password: str) -> tuple[Coordinator, str] | None:
    """Verify a password and start a session; return the account and the session's token."""
    coordinator = verify(name_or_email, password)
    if coordinator is None:
        return None
    return coordinator, sessions.start(coordinator.name, coordinator.credential)


def signed_in(token: str, last_seen: object) -> Coordinator | None:
    """Return the account of a live session whose credential still matches, or None.

    last_seen is the idle clock's stamp from the cookie (see mapapp.sessions).
    """
    session = sessions.find(token, last_seen)
    if session is None:
        return None
    coordinator = get_coordinator(session.coordinator)
    if (
        coordinator is None
        or coordinator.credential != session.credential
        or not coordinator.active
    ):
        sessions.forget(session.id)  # the account was removed, re-created or given a new password
        return None
    return coordinator


def verify(name_or_email: str, password: str) -> Coordinator | None:
    """Return the account if the password is right, or None; as slow for unknown ones."""
    row = _find_row(name_or_email)
    if row is None:
        check_password_hash(_dummy_hash(), password)  # spend the same time as a real check
        return None
    if not check_password_hash(row["password_hash"], password):
        return None
    coordinator = _coordinator_of(row)
    return coordinator if coordinator.active else None


def _find_row(name_or_email: str) -> dict[str, str] | None:
    """Return the row of an account by name, or by e-mail when the text holds an '@'."""
    typed = name_or_email.strip()
    if not typed:
        return None
    if "@" not in typed:
        return _table().get(normalise_name(typed))
    frame = _table().frame()
    matches = frame[frame["email"].str.casefold() == typed.casefold()]
    return None if matches.empty else _row_in(frame, str(matches.iloc[0]["name"]))


def _check_email_free(frame: pd.DataFrame, name: str, email: str) -> None:
    """Raise CoordinatorError when another account has this address (any case)."""
    if not email:
        return
    others = frame[(frame["name"] != name) & (frame["email"].str.casefold() == email.casefold())]
    if not others.empty:
        raise CoordinatorError(_(EMAIL_TAKEN, email=email), "email")


def _is_active_admin(row: Mapping[str, str]) -> bool:
    return row.get("role") == access.ADMIN and row.get("active") == TRUE


def _check_other_admin(frame: pd.DataFrame, name: str) -> None:
    """Raise CoordinatorError unless an account other than name is an active administrator."""
    others = frame[
        (frame["name"] != name) & (frame["role"] == access.ADMIN) & (frame["active"] == TRUE)
    ]
    if others.empty:
        raise CoordinatorError(_(LAST_ADMIN, name=name))


def _row_in(frame: pd.DataFrame, name: str) -> dict[str, str]:
    """Return an account's row from a frame, or raise CoordinatorError."""
    matches = frame[frame["name"] == name]
    if matches.empty:
        raise CoordinatorError(_(NO_SUCH_ACCOUNT, name=name))
    return {str(column): str(value) for column, value in matches.iloc[0].items()}


def _email_key(row: Mapping[str, str]) -> str:
    """Return what makes an account's address unique (accounts without one are each unique)."""
    return str(row["email"]).casefold() or "\0" + str(row["name"])


def _coordinator_of(row: Mapping[str, str]) -> Coordinator:
    """Return a stored row as a Coordinator."""
    fingerprint = hashlib.sha256(f"{row['created_at']}\0{row['password_hash']}".encode())
    return Coordinator(
        row["name"],
        row["created_at"],
        fingerprint.hexdigest()[:CREDENTIAL_LENGTH],
        email=row.get("email", ""),
        role=row.get("role") or access.ADMIN,
        countries=frozenset((row.get("countries") or "").split()),
        active=(row.get("active") or TRUE) == TRUE,
        digest=row.get("digest") == TRUE,
    )


def _rows(table: Table) -> list[dict[str, str]]:
    """Return a table's rows as dicts of strings."""
    frame = table.frame()
    return [
        dict(zip(frame.columns, values, strict=True)) for values in frame.itertuples(index=False)
    ]


@cache
def _dummy_hash() -> str:
    """Return a hash of nothing anyone knows, to verify against when the name is unknown."""
    return generate_password_hash("no such coordinator", method=HASH_METHOD)
