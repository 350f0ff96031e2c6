"""What a queued message looks like when sent: its subject, plain text and HTML, and its headers.

Rendered from templates/mail/<kind>.txt (not escaped) and templates/mail/<kind>.html
(autoescaped, as Flask escapes every .html template) with the context stored in the outbox,
inside an app context. The headers come from the outbox row alone (recipient, Message-ID, the
time it was queued), so a message sent twice is the same message twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from flask import render_template

from mapapp.events import FORMATS, UTC_TIME_FORMAT, country_name
from mapapp.mapview import describe_when

# Each message's subject: a whole sentence with named placeholders from its context.
SUBJECTS: dict[str, str] = {
    "submission_received": "We have received your event “{title}”",
    "approved": "Your event “{title}” is on the map",
    "rejected": "Your event “{title}” was not published",
    "change_received": "We have received your change to “{title}”",
    "change_approved": "Your change to “{title}” is published",
    "change_rejected": "Your change to “{title}” was not published",
    "withdrawn": "Your event “{title}” is withdrawn",
    "edit_links": "Your edit links for the Rare Disease Day events map",
    "contact_changed": "The contact address of “{title}” was changed",
    "invitation": "You are invited to coordinate the Rare Disease Day events map",
    "password_reset": "Reset your password for the Rare Disease Day events map",
    "digest": "New events waiting in your countries on {day}",
}


def template_values(kind: str, context: Mapping[str, Any], contact: str) -> dict[str, Any]:
    """Return what a message's templates may show: its context and what is derived from it."""
    values: dict[str, Any] = {**context, "kind": kind, "contact_address": contact}
    if context.get("starts_at"):
        values["when"] = describe_when(
            {
                "starts_at": str(context["starts_at"]),
                "ends_at": str(context.get("ends_at", "")),
                "timezone": str(context.get("timezone", "")),
            }
        )
    values["country_name"] = country_name(str(context.get("country", "")))
    values["format_name"] = FORMATS.get(str(context.get("format", "")), "")
    place = [str(context.get("city", "")), values["country_name"]]
    values["place"] = ", ".join(part for part in place if part)
    return values


def subject_of(kind: str, context: Mapping[str, Any]) -> str:
    """Return a message's subject."""
    subject = SUBJECTS[kind].format(title=context.get("title", ""), day=context.get("day", ""))
    return " ".join(subject.splitlines())  # every line break Python knows, for a header


def build_message(row: Mapping[str, Any], sender: str, contact: str) -> EmailMessage:
    """Return the e-mail for an outbox row (context decoded), plain text and HTML.

    Raises ValueError when a header would carry a line break (EmailMessage refuses it, so no
    stored value can add headers or recipients) or the recipient is not one address.
    """
    kind = str(row["kind"])
    context: Mapping[str, Any] = row["context"]
    values = template_values(kind, context, contact)
    to = str(row["to"])
    name, address = parseaddr(to)
    if not address or "@" not in address or address != to.strip():
        raise ValueError(f"Not one e-mail address: {to!r}.")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject_of(kind, context)
    message["Message-ID"] = str(row["message_id"])
    message["Date"] = format_datetime(_queued_at(str(row["created_at"])))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    if contact and contact != address_of(sender).addr_spec:
        message["Reply-To"] = contact
    message.set_content(render_template(f"mail/{kind}.txt", **values))
    message.add_alternative(render_template(f"mail/{kind}.html", **values), subtype="html")
    return message


def address_of(sender: str) -> Address:
    """Return the address part of a From value such as `Name <user@host>`."""
    _name, address = parseaddr(sender)
    user, _, domain = address.rpartition("@")
    return Address(username=user, domain=domain)


def _queued_at(created_at: str) -> datetime:
    """Return when a message was queued, for its Date header."""
    try:
        return datetime.strptime(created_at, UTC_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)
