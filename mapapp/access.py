"""Who may see and change which events: roles, countries, and the one door every admin path uses.

A coordinator's Scope (their role and countries) is set for the request when their session is
loaded. Every coordinators' read and change of events goes through `events()`, a ScopedEvents
view of the store that answers as if the events outside the scope did not exist (a national
coordinator posting to another country's event gets 404), refuses a change that would move an
event out of the scope (per row, with a message: its country, or its pin put clearly in a
country the coordinator does not have), hides contact e-mails from viewers, and refuses
every change by a viewer. Routes never filter by country themselves; hiding a link is not a
permission.

Online events belong to their organiser's country (the form requires one). Events with no
country are the admins'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from flask import g, has_request_context

from mapapp import placing
from mapapp.events import PRIVATE_FIELDS
from mapapp.i18n import N_, _, country_name, sorted_names
from mapapp.storage import (
    Audit,
    ConflictError,
    EventNotFoundError,
    Store,
    Updated,
    get_store,
    per_frame,
)

ADMIN, NATIONAL, VIEWER = "admin", "national", "viewer"
# The roles in words (English here, as the command line shows them): `role_label` translates.
ROLES: dict[str, str] = {
    ADMIN: N_("Administrator: every country, and the accounts"),
    NATIONAL: N_("National coordinator: the events of their countries"),
    VIEWER: N_("Viewer: reads the dashboard and the events list"),
}
# Fields a viewer never sees; the edit token's hash no coordinator sees in a list.
HIDDEN_FROM_VIEWERS: frozenset[str] = PRIVATE_FIELDS
# Refusals (403 pages): kept English here, translated when raised (`Scope.require`).
READ_ONLY_MESSAGE = N_("Your account can read the events but not change them.")
ADMINS_ONLY_MESSAGE = N_("Only an administrator can do this.")
AUDIT_MESSAGE = N_("Your account cannot read the audit log.")
PRIVATE_MESSAGE = N_("Your account cannot download contact details.")
SIGN_IN_MESSAGE = N_("Sign in as a coordinator to use this address.")
# Translators: %(scope)s is "every country" or a list of country names.
POINT_MESSAGE = N_(
    "Location: this point is outside %(country)s, the event's country, and you coordinate events "
    "in %(scope)s. Place the event in %(country)s, or ask an administrator to take care of it."
)
NO_COUNTRY_REFUSAL = N_(
    "Country: choose a country; events with no country are for the international "
    "team's administrators."
)
# Translators: %(scope)s is "every country" or a list of country names.
COUNTRY_REFUSAL = N_(
    "Country: you coordinate events in %(scope)s, not in %(country)s. Ask an "
    "administrator to take care of this event."
)
# Translators: what a coordinator's countries are when they have all of them.
EVERY_COUNTRY = N_("every country")
G_KEY = "mapapp_scope"


class NotAllowed(PermissionError):
    """The signed-in account's role does not allow this; the message says what it cannot do."""


class OutOfScope(ValueError):
    """A change or a new event would put an event in a country outside the coordinator's scope."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class Scope:
    """What one coordinator may see and do: a role and, for national coordinators, countries.

    A viewer with countries reads only those countries' events; without, every country's.
    """

    who: str
    role: str
    countries: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def system(cls, who: str = "system") -> Scope:
        """Return the scope of the command line and the system itself: everything."""
        return cls(who, ADMIN)

    @property
    def everywhere(self) -> bool:
        """Return whether the scope holds every country (and events with none)."""
        return self.role == ADMIN or (self.role == VIEWER and not self.countries)

    @property
    def can_change(self) -> bool:
        """Return whether the account may change events (viewers may not)."""
        return self.role in (ADMIN, NATIONAL)

    @property
    def can_see_private(self) -> bool:
        """Return whether the account may see contact e-mails, notes and private exports."""
        return self.role in (ADMIN, NATIONAL)

    @property
    def can_read_audit(self) -> bool:
        """Return whether the account may read the audit log (of its countries)."""
        return self.role in (ADMIN, NATIONAL)

    @property
    def can_manage_accounts(self) -> bool:
        """Return whether the account may invite, change and deactivate accounts, and keys."""
        return self.role == ADMIN

    def covers_country(self, code: str) -> bool:
        """Return whether events in this country (an ISO code, "" for none) are in the scope."""
        if self.everywhere:
            return True
        return bool(code) and code.upper() in self.countries

    def covers(self, event: Mapping[str, Any]) -> bool:
        """Return whether an event is in the scope."""
        return self.covers_country(str(event.get("country") or ""))

    def describe(self) -> str:
        """Return the scope in words: 'every country' or the country names, in the language."""
        if self.everywhere:
            return _(EVERY_COUNTRY)
        names = sorted_names((code, country_name(code) or code) for code in self.countries)
        return ", ".join(name for _code, name in names)

    def refusal(self, country: str) -> str:
        """Return why an event cannot be put in this country, or '' when it can."""
        if self.covers_country(country):
            return ""
        if not country:
            return _(NO_COUNTRY_REFUSAL)
        where = country_name(country) or country
        return _(COUNTRY_REFUSAL, scope=self.describe(), country=where)

    def require(self, allowed: bool, message: str) -> None:
        """Raise NotAllowed with the message (a constant above), translated, unless allowed."""
        if not allowed:
            raise NotAllowed(_(message))


class ScopedEvents:
    """The event store as one coordinator may see and change it.

    It offers the store's reading and writing methods that the coordinators' pages, the import
    and the exports use; each keeps to the scope. Out of scope, an event is not found.
    """

    def __init__(self, store: Store, scope: Scope) -> None:
        self.store = store
        self.scope = scope

    # Reading

    @property
    def version(self) -> str:
        """Return the store's version."""
        return self.store.version

    @property
    def data_dir(self) -> Any:
        """Return the store's data directory."""
        return self.store.data_dir

    def frame(self) -> pd.DataFrame:
        """Return the events in the scope (for viewers without private fields)."""
        frame = self.store.frame()
        if not self.scope.everywhere:
            frame = _in_countries(frame, tuple(sorted(self.scope.countries)))
        if not self.scope.can_see_private:
            frame = _without_private(frame)
        return frame

    def get(self, event_id: str) -> dict[str, str] | None:
        """Return an event in the scope by id, or None (also when it is outside the scope)."""
        event = self.store.get(event_id)
        if event is None or not self.scope.covers(event):
            return None
        if not self.scope.can_see_private:
            for name in HIDDEN_FROM_VIEWERS:
                if name in event:
                    event[name] = ""
        return event

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, str) and self.get(event_id) is not None

    def require(self, event_id: str) -> dict[str, str]:
        """Return an event in the scope, or raise EventNotFoundError (a 404 for a person)."""
        event = self.get(event_id)
        if event is None:
            raise EventNotFoundError(event_id)
        return event

    def require_changeable(self, event_id: str) -> dict[str, str]:
        """Return an event this account may change; 404 outside the scope, NotAllowed if read-only."""
        self.scope.require(self.scope.can_change, READ_ONLY_MESSAGE)
        return self.require(event_id)

    def audit_frame(self) -> pd.DataFrame:
        """Return the audit entries of the events in the scope."""
        self.scope.require(self.scope.can_read_audit, AUDIT_MESSAGE)
        frame = self.store.audit.frame()
        if self.scope.everywhere:
            return frame
        return frame[frame["event_id"].isin(self.frame()["id"])]

    def private_frame(self) -> pd.DataFrame:
        """Return the events in the scope with their private fields, for private exports."""
        self.scope.require(self.scope.can_see_private, PRIVATE_MESSAGE)
        return self.frame()

    # Changing

    def check_country(self, country: str, field_name: str = "country") -> None:
        """Raise OutOfScope unless events in this country are in the scope."""
        if message := self.scope.refusal(country):
            raise OutOfScope(field_name, message)

    def update(
        self,
        event_id: str,
        changes: Mapping[str, str],
        *,
        expected: str,
        audit: Audit,
        touch: bool = True,
    ) -> dict[str, str]:
        """Change one event in the scope (see Store.update); OutOfScope if moved out."""
        self._check_changes({event_id: changes})
        try:
            return self.store.update(event_id, changes, expected=expected, audit=audit, touch=touch)
        except ConflictError as conflict:
            raise self._scoped_conflict(conflict) from None

    def update_many(
        self,
        changes: Mapping[str, Mapping[str, str]],
        *,
        expected: Mapping[str, str],
        audit: Audit,
        skip_stale: bool = False,
        touch: bool = True,
    ) -> Updated:
        """Change events in the scope (see Store.update_many)."""
        self._check_changes(changes)
        try:
            updated = self.store.update_many(
                changes, expected=expected, audit=audit, skip_stale=skip_stale, touch=touch
            )
        except ConflictError as conflict:
            raise self._scoped_conflict(conflict) from None
        stale = self._in_scope(updated.stale)
        return Updated(updated.rows, stale) if stale != updated.stale else updated

    def add_many(
        self,
        events: Iterable[Mapping[str, str]],
        *,
        audit: Audit,
        unless_stored: Callable[[Mapping[str, str]], str] | None = None,
    ) -> list[dict[str, str]]:
        """Store new events, every one in the scope (see Store.add_many)."""
        self.scope.require(self.scope.can_change, READ_ONLY_MESSAGE)
        events = list(events)
        for event in events:
            self.check_country(str(event.get("country") or ""))
            self.check_point(event)
        return self.store.add_many(events, audit=audit, unless_stored=unless_stored)

    def add(self, event: Mapping[str, str], *, audit: Audit) -> dict[str, str]:
        """Store one new event in the scope."""
        return self.add_many([event], audit=audit)[0]

    def erase(self, event_id: str, *, who: str) -> dict[str, str]:
        """Erase an event in the scope with its personal data (see Store.erase)."""
        self.scope.require(self.scope.can_change, READ_ONLY_MESSAGE)
        self.require(event_id)
        return self.store.erase(event_id, who=who)

    def check_point(self, event: Mapping[str, str]) -> None:
        """Raise OutOfScope if the event's point is in a country outside the scope (see below)."""
        if message := point_refusal(self.scope, event):
            raise OutOfScope("latitude", message)

    def _in_scope(self, rows: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
        """Return the rows still in the scope, as this account may see them.

        Rows that changed since they were read may have left the scope meanwhile (an
        administrator moved the event abroad): those are not shown, as if not found.
        """
        kept = {}
        for key, row in rows.items():
            if self.scope.covers(row):
                seen = dict(row)
                if not self.scope.can_see_private:
                    for name in HIDDEN_FROM_VIEWERS:
                        if name in seen:
                            seen[name] = ""
                kept[key] = seen
        return kept

    def _scoped_conflict(self, conflict: ConflictError) -> Exception:
        """Return the lost race as it may be shown: EventNotFoundError if it left the scope."""
        current = self._in_scope(conflict.current)
        if not current:
            return EventNotFoundError(next(iter(conflict.current), ""))
        return ConflictError(current)

    def _check_changes(self, changes: Mapping[str, Mapping[str, str]]) -> None:
        """Refuse changes by a viewer, of events out of scope, or moving events out of it."""
        self.scope.require(self.scope.can_change, READ_ONLY_MESSAGE)
        for event_id, values in changes.items():
            current = self.require(event_id)
            if "country" in values:
                self.check_country(values["country"])
            if values.keys() & {"latitude", "longitude", "country"}:
                self.check_point({**current, **values})

    def __getattr__(self, name: str) -> Any:
        # Anything else (locks, paths, health) is the store's own: reading, never an event.
        if name in {"audit", "table", "tables", "replace_all", "append", "change_rows", "delete"}:
            raise AttributeError(f"ScopedEvents has no {name!r}: use the store directly.")
        return getattr(self.store, name)


def point_refusal(scope: Scope, event: Mapping[str, str]) -> str:
    """Return why a coordinator may not put an event at its point, or "" when they may.

    The scope reads the country field, so a pin clearly outside the event's country, in a
    country the coordinator does not have, would show the event on that country's map where
    its coordinators never see it. Administrators place events anywhere.
    """
    if scope.everywhere:
        return ""
    try:
        latitude, longitude = (
            float(event.get("latitude") or ""),
            float(event.get("longitude") or ""),
        )
    except ValueError:
        return ""  # no point, or not one: validation says what is wrong
    country = str(event.get("country") or "")
    check = placing.check_point(latitude, longitude, country)
    if not check.outside or scope.covers_country(check.country):
        return ""
    where = country_name(country) or country
    return _(POINT_MESSAGE, country=where, scope=scope.describe())


@per_frame
def _in_countries(frame: pd.DataFrame, countries: tuple[str, ...]) -> pd.DataFrame:
    """Return the events of these countries (remembered per frame)."""
    return frame[frame["country"].str.upper().isin(countries)]


@per_frame
def _without_private(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the events with their private fields blanked (remembered per frame)."""
    blanked = frame.copy()
    for name in HIDDEN_FROM_VIEWERS:
        if name in blanked.columns:
            blanked[name] = ""
    return blanked


def role_label(role: str) -> str:
    """Return a role in words in the interface language (the role's code if it is unknown)."""
    return _(ROLES[role]) if role in ROLES else role


def use(scope: Scope) -> None:
    """Set the scope of this request (done once, when the coordinator's session is loaded)."""
    setattr(g, G_KEY, scope)


def current() -> Scope:
    """Return this request's scope; outside a request (the CLI, scripts), the system's.

    In a request no coordinator signed in to, this raises NotAllowed: no admin path runs
    with the system's scope by mistake.
    """
    if not has_request_context():
        return Scope.system()
    scope = getattr(g, G_KEY, None)
    if scope is None:
        raise NotAllowed(_(SIGN_IN_MESSAGE))
    return scope  # type: ignore[no-any-return]


def require_change() -> Scope:
    """Return this request's scope if it may change events; raise NotAllowed otherwise."""
    scope = current()
    scope.require(scope.can_change, READ_ONLY_MESSAGE)
    return scope


def require_admin() -> Scope:
    """Return this request's scope if it is an administrator's; raise NotAllowed otherwise."""
    scope = current()
    scope.require(scope.can_manage_accounts, ADMINS_ONLY_MESSAGE)
    return scope


def events(scope: Scope | None = None) -> ScopedEvents:
    """Return the events as this request's coordinator (or the given scope) may use them."""
    return ScopedEvents(get_store(), scope or current())
