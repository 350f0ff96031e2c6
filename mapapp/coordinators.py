"""Coordinator accounts: add, list, remove, verify; kept in data/coordinators.csv as scrypt hashes.

Each account has a role (see mapapp.access: admin, national, viewer), the countries of a national
coordinator, an e-mail address, whether it is active and whether it wants the daily digest.
Accounts from before roles existed are upgraded to active administrators, as they were.
Removing or deactivating an account or changing its password ends its sessions (see
mapapp.sessions).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from flask import Flask
from werkzeug.security import check_password_hash, generate_password_hash

from mapapp import access, sessions
from mapapp.storage import CsvTable, add_table, get_table, utc_now
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
TRUE, FALSE = "true", "false"
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
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


CREDENTIAL_LENGTH = 32  # hex digits of the credential fingerprint
WRONG_CURRENT_PASSWORD = "Current password: that is not your password. Check it and try again."
SAME_PASSWORD = "New password: choose one other than your current password."


class CoordinatorError(ValueError):
    """An account cannot be added, changed or removed; the message says why."""


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
    """Give the app its tables of coordinator accounts and their sessions."""
    add_table(app, COORDINATORS_FILE, COORDINATORS_SPEC, key="name")
    sessions.init_app(app)


def _table() -> CsvTable:
    """Return the current app's coordinator table."""
    return get_table(COORDINATORS_FILE)


def normalise_name(name: str) -> str:
    """Return a sign-in name as stored: trimmed and lower-cased."""
    return name.strip().lower()


def check_name(name: str) -> str:
    """Return the normalised name, or raise CoordinatorError saying what a name may hold."""
    normalised = normalise_name(name)
    if not NAME_PATTERN.match(normalised):
        raise CoordinatorError(
            "Name: use 2 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    return normalised


def check_password(password: str) -> None:
    """Raise CoordinatorError unless the password is long enough to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CoordinatorError(
            f"Password: use at least {MIN_PASSWORD_LENGTH} characters; a few words are easiest."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise CoordinatorError(f"Password: keep it under {MAX_PASSWORD_LENGTH} characters.")


def add_coordinator(
    name: str,
    password: str,
    *,
    role: str = access.ADMIN,
    countries: frozenset[str] | set[str] = frozenset(),
    email: str = "",
) -> Coordinator:
    """Create an account with a hashed password and return it."""
    normalised = check_name(name)
    check_password(password)
    if role not in access.ROLES:
        raise CoordinatorError(f"Role: choose one of {', '.join(access.ROLES)}, not {role!r}.")
    if role == access.NATIONAL and not countries:
        raise CoordinatorError("Countries: a national coordinator needs at least one country.")
    table = _table()
    if normalised in table:
        raise CoordinatorError(f"A coordinator called {normalised!r} already exists.")
    record = {
        "name": normalised,
        "password_hash": generate_password_hash(password, method=HASH_METHOD),
        "created_at": utc_now(),
        "email": email.strip(),
        "role": role,
        "countries": " ".join(sorted(code.upper() for code in countries)),
        "active": TRUE,
        "digest": FALSE,
    }
    if not table.append([record]):  # another process added the same name meanwhile
        raise CoordinatorError(f"A coordinator called {normalised!r} already exists.")
    return _coordinator_of(record)


def list_coordinators() -> list[Coordinator]:
    """Return every account, by name."""
    rows = _rows(_table())
    return sorted(map(_coordinator_of, rows), key=lambda coordinator: coordinator.name)


def get_coordinator(name: str) -> Coordinator | None:
    """Return the account with this name, or None."""
    row = _table().get(normalise_name(name))
    return None if row is None else _coordinator_of(row)


def remove_coordinator(name: str) -> None:
    """Delete an account and end its sessions."""
    normalised = normalise_name(name)
    if not _table().delete([normalised]):
        raise CoordinatorError(f"There is no coordinator called {normalised!r}.")
    sessions.end_all(normalised)


def set_password(name: str, password: str) -> Coordinator:
    """Give an account a new password and end all its sessions; return the account."""
    normalised = normalise_name(name)
    check_password(password)
    table = _table()
    rows = _rows(table)
    if not any(row["name"] == normalised for row in rows):
        raise CoordinatorError(f"There is no coordinator called {normalised!r}.")
    new_hash = generate_password_hash(password, method=HASH_METHOD)
    for row in rows:
        if row["name"] == normalised:
            row["password_hash"] = new_hash
            changed = row
    # The table has no single-row update: the file is rewritten atomically from the rows just
    # read. Accounts change by hand, rarely; a concurrent add or remove of another account in the
    # few milliseconds between the read and the rewrite would be undone.
    table.rewrite(rows)
    sessions.end_all(normalised)
    return _coordinator_of(changed)


def change_password(name: str, current: str, new: str) -> tuple[Coordinator, str]:
    """Change a coordinator's own password, given the current one, ending all its sessions.

    Return the account and the token of a new session for the person who changed it.
    """
    if verify(name, current) is None:
        raise CoordinatorError(WRONG_CURRENT_PASSWORD)
    check_password(new)
    if new == current:
        raise CoordinatorError(SAME_PASSWORD)
    coordinator = set_password(name, new)
    return coordinator, sessions.start(coordinator.name, coordinator.credential)


def sign_in(name: str, password: str) -> tuple[Coordinator, str] | None:
    """Verify a password and start a session; return the account and the session's token."""
    coordinator = verify(name, password)
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


def verify(name: str, password: str) -> Coordinator | None:
    """Return the account if the password is right, or None; as slow for unknown names."""
    row = _table().get(normalise_name(name)) if name else None
    if row is None:
        check_password_hash(_dummy_hash(), password)  # spend the same time as a real check
        return None
    if not check_password_hash(row["password_hash"], password):
        return None
    coordinator = _coordinator_of(row)
    return coordinator if coordinator.active else None


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


def _rows(table: CsvTable) -> list[dict[str, str]]:
    """Return a table's rows as dicts of strings."""
    frame = table.frame()
    return [
        dict(zip(frame.columns, values, strict=True)) for values in frame.itertuples(index=False)
    ]


@cache
def _dummy_hash() -> str:
    """Return a hash of nothing anyone knows, to verify against when the name is unknown."""
    return generate_password_hash("no such coordinator", method=HASH_METHOD)
