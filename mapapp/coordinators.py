"""Coordinator accounts: add, list, remove, verify; kept in data/coordinators.csv as scrypt hashes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from flask import Flask
from werkzeug.security import check_password_hash, generate_password_hash

from mapapp.storage import CsvTable, add_table, get_table, utc_now

COORDINATORS_FILE = "coordinators.csv"
COLUMNS = ("name", "password_hash", "created_at")
HASH_METHOD = "scrypt"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


class CoordinatorError(ValueError):
    """An account cannot be added or removed; the message says why."""


@dataclass(frozen=True)
class Coordinator:
    """A person who may moderate events."""

    name: str
    created_at: str


def init_app(app: Flask) -> None:
    """Give the app its table of coordinator accounts in the data directory."""
    add_table(app, COORDINATORS_FILE, COLUMNS, key="name")


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


def add_coordinator(name: str, password: str) -> Coordinator:
    """Create an account with a hashed password and return it."""
    normalised = check_name(name)
    check_password(password)
    table = _table()
    if normalised in table:
        raise CoordinatorError(f"A coordinator called {normalised!r} already exists.")
    record = {
        "name": normalised,
        "password_hash": generate_password_hash(password, method=HASH_METHOD),
        "created_at": utc_now(),
    }
    if not table.append([record]):  # another process added the same name meanwhile
        raise CoordinatorError(f"A coordinator called {normalised!r} already exists.")
    return Coordinator(normalised, record["created_at"])


def list_coordinators() -> list[Coordinator]:
    """Return every account, by name."""
    frame = _table().frame()
    return sorted(
        (
            Coordinator(name, created)
            for name, created in zip(frame["name"], frame["created_at"], strict=True)
        ),
        key=lambda coordinator: coordinator.name,
    )


def get_coordinator(name: str) -> Coordinator | None:
    """Return the account with this name, or None."""
    row = _table().get(normalise_name(name))
    return None if row is None else Coordinator(row["name"], row["created_at"])


def remove_coordinator(name: str) -> None:
    """Delete an account; its sessions stop working at their next request."""
    normalised = normalise_name(name)
    if not _table().delete([normalised]):
        raise CoordinatorError(f"There is no coordinator called {normalised!r}.")


def verify(name: str, password: str) -> Coordinator | None:
    """Return the account if the password is right, or None; as slow for unknown names."""
    row = _table().get(normalise_name(name)) if name else None
    if row is None:
        check_password_hash(_dummy_hash(), password)  # spend the same time as a real check
        return None
    if not check_password_hash(row["password_hash"], password):
        return None
    return Coordinator(row["name"], row["created_at"])


@cache
def _dummy_hash() -> str:
    """Return a hash of nothing anyone knows, to verify against when the name is unknown."""
    return generate_password_hash("no such coordinator", method=HASH_METHOD)
