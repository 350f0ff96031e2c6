"""The accounts' own audit log: who changed which account, when and how (data/accounts_log.csv).

Append-only: each entry is one row (time, who, account, action, and the changes as JSON
{field: [old, new]}); a password change is recorded as an action, never with its hash. The
events' audit log stays the events' (mapapp.audit).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask

from mapapp import access
from mapapp.i18n import N_, _
from mapapp.storage import Table, add_table, get_table, utc_now

LOG_FILE = "accounts_log.csv"
COLUMNS = ("id", "time", "who", "account", "action", "changes")
# What was done to an account, in words (translated where shown: `Entry.action_label`).
ACTIONS: dict[str, str] = {
    "add": N_("Account added"),
    "invite": N_("Invited by e-mail"),
    "reinvite": N_("Invitation sent again"),
    "withdraw": N_("Invitation withdrawn"),
    "accept": N_("Invitation accepted, password set"),
    "change": N_("Account changed"),
    "password": N_("Password changed"),
    "reset": N_("Password reset by e-mail"),
    "remove": N_("Account removed"),
}
# Fields whose values are never written to the log.
SECRET_FIELDS = frozenset({"password_hash"})
ID_BYTES = 12

Changes = dict[str, list[str]]


@dataclass(frozen=True)
class Entry:
    """One recorded change to one account."""

    time: str
    who: str
    account: str
    action: str
    changes: Changes

    @property
    def action_label(self) -> str:
        """Return the action in words, in the interface language."""
        return _(ACTIONS[self.action]) if self.action in ACTIONS else self.action


def init_app(app: Flask) -> None:
    """Give the app its accounts log."""
    add_table(app, LOG_FILE, COLUMNS, key="id")


def _table() -> Table:
    return get_table(LOG_FILE)


def record(
    who: str, account: str, action: str, changes: Mapping[str, list[str]] | None = None
) -> None:
    """Append one entry (secret fields left out)."""
    kept = {name: list(values) for name, values in (changes or {}).items()}
    for name in SECRET_FIELDS:
        kept.pop(name, None)
    _table().append(
        [
            {
                "id": secrets.token_hex(ID_BYTES),
                "time": utc_now(),
                "who": who,
                "account": account,
                "action": action,
                "changes": json.dumps(kept, ensure_ascii=False, sort_keys=True),
            }
        ]
    )


def history(account: str, who: access.Scope) -> list[Entry]:
    """Return an account's entries, newest first (administrators only)."""
    who.require(who.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    frame = _table().frame()
    rows = frame[frame["account"] == account].to_dict("records")
    entries = [
        Entry(
            str(row["time"]),
            str(row["who"]),
            str(row["account"]),
            str(row["action"]),
            json.loads(str(row["changes"]) or "{}"),
        )
        for row in rows
    ]
    return entries[::-1]


def last_changes(who: access.Scope) -> dict[str, str]:
    """Return when each account was last changed (administrators only)."""
    who.require(who.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    frame = _table().frame()
    return {
        str(name): str(time) for name, time in zip(frame["account"], frame["time"], strict=True)
    }
