"""What organisers are told by e-mail, and when: one function per message, queued in the outbox.

The web layer knows the site's addresses, so it hands in a `Links`; everything else comes from
the event. Each function queues one message (mapapp.mail renders and sends it).

Each message's context names its language (LANGUAGE_KEY), in which it is rendered whenever it is
sent: a message about an event is in the organiser's interface language stored with the event
(empty, as for an imported event: English); a message a person asked for from a page (edit links,
an invitation, a password reset) is in that page's language; the daily digest is in English.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from mapapp import mail
from mapapp.i18n import current_code, known_language
from mapapp.mail_messages import LANGUAGE_KEY

# The coordinators' digest is queued by the mail senders, outside any request, and an account
# stores no language of its own: English, as the CLI.
DIGEST_LANGUAGE = "en"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Links:
    """How a message names the site's pages: built by the web layer (absolute URLs)."""

    # Each takes the message's language (an interface language code) last: the pages it names are
    # in the language the message is written in, not the language of whoever caused it.
    event: Callable[[str, str], str]  # event id, language -> the event's public page
    edit: Callable[[str, str], str]  # edit token, language -> the organiser's edit page
    home: Callable[[str], str]  # language -> the map


def queue_safely(send: Callable[[], str], what: str, event_id: str) -> None:
    """Queue a message after its change is stored, logging (not raising) a failure.

    A full disk or a damaged outbox.csv must not turn the stored change into an error page: the
    log says which event's message was not queued, and the person is answered as if it had been.
    """
    try:
        send()
    except Exception:  # any failure: the change it tells of is stored already
        log.exception(
            "Event %s: the %s message could not be queued (the change itself is stored)",
            event_id,
            what,
        )


def _event_context(event: Mapping[str, str], links: Links) -> dict[str, str]:
    """Return what every message about one event may show."""
    return {
        "reference": event["id"],
        "title": event["title"],
        "organiser": event.get("organiser", ""),
        "starts_at": event.get("starts_at", ""),
        "ends_at": event.get("ends_at", ""),
        "timezone": event.get("timezone", ""),
        "city": event.get("city", ""),
        "country": event.get("country", ""),
        "format": event.get("format", ""),
        "home_url": links.home(_language_of(event)),
        "event_language": event.get("language", ""),  # the title's, as its organiser wrote it
        LANGUAGE_KEY: event.get("interface_language", ""),
    }


def _language_of(event: Mapping[str, str]) -> str:
    """Return the language of the messages about an event: its organiser's, else English."""
    return known_language(event.get("interface_language", ""))


def _queue(kind: str, event: Mapping[str, str], context: Mapping[str, str]) -> str:
    """Queue a message about an event to its contact address; return the message's id.

    An event without one (imported from a list that had none) gets no message: "" is returned.
    """
    if not event.get("contact_email", "").strip():
        return ""
    return mail.queue(kind, event["contact_email"], context, event_id=event["id"])


def submission_received(event: Mapping[str, str], edit_token: str, links: Links) -> str:
    """Tell the organiser their event was received, with its edit link and reference.

    An event a partner's trusted key sent is published at once: the message says so and links
    to its page (no second "approved" message follows).
    """
    context = {
        **_event_context(event, links),
        "edit_url": links.edit(edit_token, _language_of(event)),
    }
    if event.get("status") == "approved":
        context["event_url"] = links.event(event["id"], _language_of(event))
    return _queue("submission_received", event, context)


def approved(event: Mapping[str, str], links: Links) -> str:
    """Tell the organiser their event is on the map, with its public link."""
    context = {
        **_event_context(event, links),
        "event_url": links.event(event["id"], _language_of(event)),
    }
    return _queue("approved", event, context)


def rejected(event: Mapping[str, str], reason: str, edit_token: str, links: Links) -> str:
    """Tell the organiser why their event was not published, with a link to fix it."""
    context = {
        **_event_context(event, links),
        "reason": reason,
        "edit_url": links.edit(edit_token, _language_of(event)),
    }
    return _queue("rejected", event, context)


def change_received(event: Mapping[str, str], links: Links) -> str:
    """Tell the organiser their change to a published event waits for review."""
    context = {
        **_event_context(event, links),
        "event_url": links.event(event["id"], _language_of(event)),
    }
    return _queue("change_received", event, context)


def change_approved(event: Mapping[str, str], links: Links) -> str:
    """Tell the organiser their change is published."""
    context = {
        **_event_context(event, links),
        "event_url": links.event(event["id"], _language_of(event)),
    }
    return _queue("change_approved", event, context)


def change_rejected(event: Mapping[str, str], reason: str, edit_token: str, links: Links) -> str:
    """Tell the organiser their change was not published (the event stays as it was)."""
    context = {
        **_event_context(event, links),
        "reason": reason,
        "event_url": links.event(event["id"], _language_of(event)),
        "edit_url": links.edit(edit_token, _language_of(event)),
    }
    return _queue("change_rejected", event, context)


def withdrawn(event: Mapping[str, str], links: Links) -> str:
    """Confirm to the organiser that their event was withdrawn."""
    return _queue("withdrawn", event, _event_context(event, links))


def edit_links(
    to: str, events_and_tokens: Iterable[tuple[Mapping[str, str], str]], links: Links
) -> str:
    """Send one message with a fresh edit link for each event an address holds.

    The message names every event in its event_id (space-separated), so erasing any of them
    removes it (mail.forget).
    """
    items = [
        {
            "reference": event["id"],
            "title": event["title"],
            "edit_url": links.edit(token, current_code()),
        }
        for event, token in events_and_tokens
    ]
    event_ids = " ".join(item["reference"] for item in items)
    # Asked for from a page: in its language (the events may have been added in several).
    context = {
        "home_url": links.home(current_code()),
        "events": items,
        LANGUAGE_KEY: current_code(),
    }
    return mail.queue("edit_links", to, context, event_id=event_ids)


def contact_changed(
    old_address: str, event: Mapping[str, str], links: Links, *, waiting: bool = False
) -> str:
    """Tell an event's former contact address that the contact was changed.

    waiting: the change waits for a coordinator's review (the event is published), so the old
    address stays the event's until it is approved (context "waiting" is "yes", else empty).
    """
    context = {
        **_event_context(event, links),
        "new_address": event["contact_email"],
        "waiting": "yes" if waiting else "",
    }
    return mail.queue("contact_changed", old_address, context, event_id=event["id"])


# Messages to coordinators about their accounts


def invitation(to: str, name: str, inviter: str, accept_url: str, role: str, scope: str) -> str:
    """Invite a person to their new account, with the one-time link that sets its password."""
    context = {
        "organiser": "",
        "name": name,
        "inviter": inviter,
        "accept_url": accept_url,
        "role": role,
        "scope": scope,
        LANGUAGE_KEY: current_code(),  # the page the invitation was sent from
    }
    return mail.queue("invitation", to, context)


def password_reset(to: str, name: str, reset_url: str) -> str:
    """Send an account the one-time link that sets a new password."""
    context = {"organiser": "", "name": name, "reset_url": reset_url, LANGUAGE_KEY: current_code()}
    return mail.queue("password_reset", to, context)


def digest(
    to: str, name: str, day: str, items: list[dict[str, str]], queue_url: str, once_as: str
) -> str:
    """Send a coordinator the day's new events in their scope; "" if this digest went already."""
    context = {
        "organiser": "",
        "name": name,
        "day": day,
        "events": items,
        "queue_url": queue_url,
        LANGUAGE_KEY: DIGEST_LANGUAGE,
    }
    return mail.queue("digest", to, context, once_as=once_as)
