"""What a queued message looks like when sent: its subject, plain text and HTML, and its headers.

Rendered from templates/mail/<kind>.txt (not escaped) and templates/mail/<kind>.html
(autoescaped, as Flask escapes every .html template) with the context stored in the outbox,
inside an app context, in the language its context names (LANGUAGE_KEY): subject, both bodies,
dates, times and names. The headers come from the outbox row alone (recipient, Message-ID, the
time it was queued, the language), so a message sent twice is the same message twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import render_template

from mapapp import event_times
from mapapp.events import FORMATS, LOCAL_TIME_FORMAT, UTC_TIME_FORMAT
from mapapp.i18n import N_, _, country_name, current_language, force_language
from mapapp.i18n import format_date as format_day
from mapapp.i18n import format_time as format_hour

# The context key naming the language a message is written in (an interface language's code;
# absent or empty: English). Set when it is queued (mapapp.notices), used whenever it is sent.
LANGUAGE_KEY = "language"
# Each message's subject: a whole sentence with named placeholders from its context.
SUBJECTS: dict[str, str] = {
    "submission_received": N_("We have received your event “%(title)s”"),
    "approved": N_("Your event “%(title)s” is on the map"),
    "rejected": N_("Your event “%(title)s” was not published"),
    "change_received": N_("We have received your change to “%(title)s”"),
    "change_approved": N_("Your change to “%(title)s” is published"),
    "change_rejected": N_("Your change to “%(title)s” was not published"),
    "withdrawn": N_("Your event “%(title)s” is withdrawn"),
    "edit_links": N_("Your edit links for the Rare Disease Day events map"),
    "contact_changed": N_("The contact address of “%(title)s” was changed"),
    "invitation": N_("You are invited to coordinate the Rare Disease Day events map"),
    "password_reset": N_("Reset your password for the Rare Disease Day events map"),
    "digest": N_("New events waiting in your countries on %(day)s"),
}


def message_language(context: Mapping[str, Any]) -> str:
    """Return the code of the language a message is written in (English when none is named)."""
    return str(context.get(LANGUAGE_KEY) or "")


def describe_when(context: Mapping[str, Any]) -> str:
    """Return an event's local start (and end) in words in the message's language, with its zone."""
    try:
        starts = datetime.strptime(str(context.get("starts_at", "")), LOCAL_TIME_FORMAT)
    except ValueError:
        return ""
    zone_name = str(context.get("timezone") or "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone_name, zone = "UTC", ZoneInfo("UTC")
    starts = starts.replace(tzinfo=zone)
    start_day, start_time = format_day(starts.date(), "full"), format_hour(starts)
    utc_offset = "UTC" + event_times.utc_offset(starts)
    try:
        ends = datetime.strptime(str(context.get("ends_at", "")), LOCAL_TIME_FORMAT)
    except ValueError:
        return _(
            "%(day)s, %(time)s (%(zone)s, %(offset)s)",
            day=start_day,
            time=start_time,
            zone=zone_name,
            offset=utc_offset,
        )
    ends = ends.replace(tzinfo=zone)
    if ends.date() == starts.date():
        return _(
            "%(day)s, %(start)s–%(end)s (%(zone)s, %(offset)s)",
            day=start_day,
            start=start_time,
            end=format_hour(ends),
            zone=zone_name,
            offset=utc_offset,
        )
    return _(
        "%(start_day)s, %(start)s to %(end_day)s, %(end)s (%(zone)s, %(offset)s)",
        start_day=start_day,
        start=start_time,
        end_day=format_day(ends.date(), "full"),
        end=format_hour(ends),
        zone=zone_name,
        offset=utc_offset,
    )


def template_values(kind: str, context: Mapping[str, Any], contact: str) -> dict[str, Any]:
    """Return what a message's templates may show, in the language in force.

    Its context, and what is derived from it: the time, the country's name, the format's label.
    """
    values: dict[str, Any] = {**context, "kind": kind, "contact_address": contact}
    values["mail_language"] = current_language()  # <html lang dir> of the HTML part
    if context.get("starts_at"):
        values["when"] = describe_when(context)
    values["country_name"] = country_name(str(context.get("country", "")))
    format_label = FORMATS.get(str(context.get("format", "")), "")
    values["format_name"] = _(format_label) if format_label else ""
    place = [str(context.get("city", "")), values["country_name"]]
    values["place"] = ", ".join(part for part in place if part)
    return values


def subject_of(kind: str, context: Mapping[str, Any]) -> str:
    """Return a message's subject, in the language in force."""
    subject = _(SUBJECTS[kind], title=context.get("title", ""), day=_day(context))
    return " ".join(subject.splitlines())  # every line break Python knows, for a header


def _day(context: Mapping[str, Any]) -> str:
    """Return the day a message is about (the digest's, stored as YYYY-MM-DD) in words."""
    day = str(context.get("day", ""))
    try:
        return format_day(date.fromisoformat(day))
    except ValueError:
        return day


def build_message(row: Mapping[str, Any], sender: str, contact: str) -> EmailMessage:
    """Return the e-mail for an outbox row (context decoded), plain text and HTML.

    Raises ValueError when a header would carry a line break (EmailMessage refuses it, so no
    stored value can add headers or recipients) or the recipient is not one address.
    """
    kind = str(row["kind"])
    context: Mapping[str, Any] = row["context"]
    to = str(row["to"])
    name, address = parseaddr(to)
    if not address or "@" not in address or address != to.strip():
        raise ValueError(f"Not one e-mail address: {to!r}.")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    with force_language(message_language(context)):
        values = template_values(kind, context, contact)
        message["Subject"] = subject_of(kind, context)
        text = render_template(f"mail/{kind}.txt", **values)
        html = render_template(f"mail/{kind}.html", **values)
    message["Message-ID"] = str(row["message_id"])
    message["Date"] = format_datetime(_queued_at(str(row["created_at"])))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    if contact and contact != address_of(sender).addr_spec:
        message["Reply-To"] = contact
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    # RFC 3282; after the parts, which would otherwise take it as one of their Content- headers.
    message["Content-Language"] = values["mail_language"].tag
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
