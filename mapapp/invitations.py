"""Invitations and password resets by e-mail: one-time links that set an account's password.

An administrator invites a person by name and e-mail: the account is stored inactive, with a
password nobody knows, and the message carries a link that sets the password and activates it
(7 days, once; inviting again ends the old link). Anyone can ask for a reset link by name or
e-mail; only an active account with an address gets one (1 hour, once), and whoever asked is
answered the same either way (see mapapp.web.accounts). Using a reset link ends every session
of the account. The links themselves are kept as hashes (mapapp.account_tokens).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mapapp import access, account_log, account_tokens, coordinators, notices
from mapapp.account_rules import CoordinatorError, check_email, check_password
from mapapp.account_tokens import INVITE, RESET
from mapapp.i18n import N_, _

# The role as the invitation's sentence says it: "... as a national coordinator (Netherlands)".
# Marked for the catalog; translated in the language of the page the invitation is sent from.
INVITED_AS = {
    access.ADMIN: N_("an administrator"),
    access.NATIONAL: N_("a national coordinator"),
    access.VIEWER: N_("a viewer"),
}
# The messages are translated when raised (English outside a request: the command line).
INVITE_NEEDS_EMAIL = N_("E-mail: give the address the invitation is sent to.")
ALREADY_ACTIVE = N_(
    "%(name)s can sign in already, so there is no invitation to send. If they forgot their "
    "password, they can ask for a new one on the sign-in page."
)
INVALID_LINK = N_(
    "This link does not work any more: it was used already, it expired, or part of it was lost "
    "when it was copied. Ask an administrator to invite you again, or ask for a new password "
    "link on the sign-in page."
)
NO_INVITATION = N_(
    "There is no invitation of %(name)s waiting to be accepted, so there is nothing to withdraw."
)
# Long enough that nobody guesses it; never shown, never sent.
UNKNOWN_PASSWORD_BYTES = 32

Link = Callable[[str], str]  # token -> the absolute address of the page that takes it

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listed:
    """An account as the accounts page lists it."""

    account: coordinators.Coordinator
    last_change: str  # when the accounts log last recorded a change ("" for never)
    invited: bool  # inactive with a live invitation: waiting for the person to accept


def overview(who: access.Scope) -> list[Listed]:
    """Return every account with its last change and whether its invitation waits (admins only)."""
    accounts = coordinators.list_accounts(who)
    last = account_log.last_changes(who)
    return [
        Listed(
            account,
            last.get(account.name, ""),
            is_invited(account),
        )
        for account in accounts
    ]


def invite(
    name: str,
    email: str,
    role: str,
    countries: str | Iterable[str],
    *,
    who: access.Scope,
    link: Link,
) -> coordinators.Coordinator:
    """Add an account that is inactive until its invitation is accepted, and send the link."""
    who.require(who.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    if not check_email(email):
        raise CoordinatorError(_(INVITE_NEEDS_EMAIL), "email")
    coordinator = coordinators.add_coordinator(
        name,
        secrets.token_urlsafe(UNKNOWN_PASSWORD_BYTES),
        role=role,
        countries=countries if isinstance(countries, str) else set(countries),
        email=email,
        active=False,
        who=who.who,
        action="invite",
    )
    _send_invitation(coordinator, who.who, link)
    return coordinator


def reinvite(name: str, *, who: access.Scope, link: Link) -> coordinators.Coordinator:
    """Send an inactive account a new invitation; the link sent before stops working."""
    who.require(who.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    coordinator = coordinators.get_account(name, who)
    if coordinator.active:
        raise CoordinatorError(_(ALREADY_ACTIVE, name=coordinator.name))
    if not coordinator.email:
        raise CoordinatorError(_(INVITE_NEEDS_EMAIL), "email")
    _send_invitation(coordinator, who.who, link)
    account_log.record(who.who, coordinator.name, "reinvite")
    return coordinator


def withdraw(name: str, *, who: access.Scope) -> coordinators.Coordinator:
    """End an inactive account's invitation links, so nobody can accept them any more.

    Unticking "Active" cannot do this: an invited account is inactive already, so saving it so
    changes nothing, and its link would still activate it.
    """
    who.require(who.can_manage_accounts, access.ADMINS_ONLY_MESSAGE)
    coordinator = coordinators.get_account(name, who)
    if coordinator.active or not account_tokens.end_all(coordinator.name, INVITE):
        raise CoordinatorError(_(NO_INVITATION, name=coordinator.name))
    account_log.record(who.who, coordinator.name, "withdraw")
    log.info("Invitation of %s withdrawn by %s", coordinator.name, who.who)
    return coordinator


def is_invited(account: coordinators.Coordinator) -> bool:
    """Return whether an account is inactive with a live invitation waiting to be accepted."""
    return not account.active and account_tokens.pending(account.name, INVITE)


def invited(token: str) -> coordinators.Coordinator | None:
    """Return the account a live invitation link is for, or None."""
    return _account_of(token, INVITE)


def accept(token: str, password: str) -> coordinators.Coordinator:
    """Set the password of an invited account and activate it; the link then stops working."""
    check_password(password)
    found = account_tokens.use(token, INVITE)
    if found is None:
        raise CoordinatorError(_(INVALID_LINK))
    coordinator = coordinators.set_password(
        found.account, password, who=found.account, action="accept", activate=True
    )
    log.info("Coordinator %s accepted their invitation", coordinator.name)
    return coordinator


def request_reset(name_or_email: str, link: Link) -> bool:
    """Send a reset link to an active account with an address; return whether one was sent.

    Whoever asked must be answered the same either way: the return value is for logs and tests.
    """
    account = coordinators.find_account(name_or_email)
    if account is None or not account.active or not account.email:
        return False
    token = account_tokens.create(account.name, RESET)
    notices.password_reset(account.email, account.name, link(token))
    log.info("Coordinator %s was sent a password reset link", account.name)
    return True


def resetting(token: str) -> coordinators.Coordinator | None:
    """Return the active account a live reset link is for, or None."""
    account = _account_of(token, RESET)
    return account if account is not None and account.active else None


def reset(token: str, password: str) -> coordinators.Coordinator:
    """Set a new password through a reset link, ending every session and reset link of the account."""
    check_password(password)
    found = account_tokens.use(token, RESET)
    account = None if found is None else coordinators.get_coordinator(found.account)
    if found is None or account is None or not account.active:
        raise CoordinatorError(_(INVALID_LINK))
    coordinator = coordinators.set_password(
        found.account, password, who=found.account, action="reset"
    )
    account_tokens.end_all(found.account, RESET)
    log.info("Coordinator %s set a new password with a reset link", coordinator.name)
    return coordinator


def _account_of(token: str, purpose: str) -> coordinators.Coordinator | None:
    found = account_tokens.find(token, purpose)
    return None if found is None else coordinators.get_coordinator(found.account)


def _send_invitation(coordinator: coordinators.Coordinator, inviter: str, link: Link) -> None:
    """Make a new invitation link (ending the one before) and queue its message."""
    token = account_tokens.create(coordinator.name, INVITE, replace=True)
    notices.invitation(
        coordinator.email,
        coordinator.name,
        inviter,
        link(token),
        # In the language of the page it is sent from, as the message is (mapapp.notices).
        _(INVITED_AS[coordinator.role])
        if coordinator.role in INVITED_AS
        else access.role_label(coordinator.role),
        coordinator.scope.describe(),
    )
