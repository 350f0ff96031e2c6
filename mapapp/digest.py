"""The daily digest: each coordinator who opts in gets the day's new events in their scope.

An account gets one when it wants it (digest), is active and has an e-mail address, and only when
there is something to tell: the events created in the 24 hours before the run, as its scope sees
them (access.events(account.scope)). Each message has the fixed outbox id of its account and
day, so running the digest twice on a day (two workers, or `mapapp mail digest` by hand) queues
nothing new. The mail senders run it once a day, at MAPAPP_DIGEST_HOUR UTC (mapapp.mail_sender).
It is written in English (notices.DIGEST_LANGUAGE): it is queued outside any request, and an
account has no language of its own.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask, url_for

from mapapp import access, coordinators, notices
from mapapp.config import ConfigError
from mapapp.events import STATUSES, UTC_TIME_FORMAT
from mapapp.i18n import _, country_name, force_language

WINDOW = timedelta(days=1)
DIGEST_HOUR_MESSAGE = "MAPAPP_DIGEST_HOUR must be a whole hour from 0 to 23 (UTC), not {value!r}."

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DigestLinks:
    """How a digest names the coordinators' pages: absolute addresses."""

    queue: str
    event: Callable[[str], str]  # event id -> its page for coordinators


def init_app(app: Flask) -> None:
    """Check the hour of the daily digest."""
    value = app.config["DIGEST_HOUR"]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 23:
        raise ConfigError(DIGEST_HOUR_MESSAGE.format(value=value))


def now() -> datetime:
    """Return the current UTC time (the one clock of this module, replaced in tests)."""
    return datetime.now(UTC)


def message_id(account: str, day: date) -> str:
    """Return the outbox id of an account's digest of a day (outbox ids hold no dots)."""
    digest = hashlib.sha256(account.encode()).hexdigest()[:24]
    return f"digest-{day:%Y%m%d}-{digest}"


def queue_digests(links: DigestLinks, at: datetime | None = None) -> int:
    """Queue the digest of every account that wants one and has news; return how many were new."""
    moment = at or now()
    since = (moment - WINDOW).strftime(UTC_TIME_FORMAT)
    until = moment.strftime(UTC_TIME_FORMAT)
    day = moment.date()
    queued = 0
    for account in coordinators.list_coordinators():
        if not (account.digest and account.active and account.email):
            continue
        frame = access.events(account.scope).frame()
        new = frame[(frame["created_at"] > since) & (frame["created_at"] <= until)]
        if new.empty:
            continue
        rows = new.sort_values("created_at", kind="stable").to_dict("records")
        items = [_digest_item(row, links) for row in rows]
        if notices.digest(
            account.email,
            account.name,
            day.isoformat(),
            items,
            links.queue,
            message_id(account.name, day),
        ):
            queued += 1
            log.info("Queued the daily digest of %s: %d new events", account.name, len(items))
    return queued


def _digest_item(row: Mapping[Any, Any], links: DigestLinks) -> dict[str, str]:
    """Return how the digest lists one event, its labels in the digest's language."""
    status = str(row["status"])
    with force_language(notices.DIGEST_LANGUAGE):
        return {
            "title": str(row["title"]),
            "country": country_name(str(row["country"])) or _("no country"),
            "status": _(STATUSES[status]) if status in STATUSES else status,
            "url": links.event(str(row["id"])),
        }


def run(app: Flask, at: datetime | None = None) -> int:
    """Queue the day's digests in an app, its links built from MAPAPP_PUBLIC_URL."""
    base_url = str(app.config.get("PUBLIC_URL") or "") or "http://localhost"
    # Outside a request, url_for needs one to build absolute addresses from.
    with app.test_request_context("/", base_url=base_url):
        links = DigestLinks(
            queue=url_for("admin.queue", _external=True),
            event=lambda event_id: url_for("admin.edit", event_id=event_id, _external=True),
        )
        return queue_digests(links, at)


def due(moment: datetime, hour: int, last_day: date | None) -> bool:
    """Return whether a sender that last ran the digest on last_day should run it now."""
    return moment.hour >= hour and last_day != moment.date()
