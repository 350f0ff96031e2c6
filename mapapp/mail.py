"""E-mail to organisers: a durable outbox in the data directory (the only module that speaks SMTP).

Domain code queues a message with `queue(kind, to, context, event_id=...)`: one row in
outbox.csv, kept until it is sent. What is sent is rendered from templates/mail/<kind>.txt and
.html with the stored context (mapapp.mail_messages).

A row's status is `queued` (due at next_attempt_at; empty: now), `sending` (claimed by a sender
until next_attempt_at, its lease), `sent` or `failed` (given up after MAIL_MAX_ATTEMPTS, or
refused for good by the server; kept and listed by `mapapp mail list`). A sender claims one due
row at a time under the table's lock, counting the attempt, and records the outcome only if its
claim still holds (same status and attempt number). A sender killed while sending leaves its
claim to expire, then the message is sent again with the same Message-ID: delivery is at least
once, and a copy the server accepted just before the kill is the one possible duplicate.

With no MAPAPP_SMTP_URL every message is written as data/mail/<id>.eml instead. Senders run
in mapapp.mail_sender.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import smtplib
import ssl
import threading
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import pandas as pd
from flask import Flask, current_app
from jinja2 import TemplateError

from mapapp.config import ConfigError
from mapapp.events import UTC_TIME_FORMAT
from mapapp.mail_messages import build_message
from mapapp.storage import Table, add_table, get_table, utc_now
from mapapp.storage.maildrop import MAIL_DIR, MailDrop

OUTBOX_FILE = "outbox.csv"
COLUMNS = (
    "id",
    "created_at",
    "kind",
    "to",
    "event_id",
    "context",
    "message_id",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "sent_at",
)
# The messages the app sends, by kind: each has templates/mail/<kind>.txt and .html. These are
# the messages to organisers about their events.
EVENT_KINDS: tuple[str, ...] = (
    "submission_received",
    "approved",
    "rejected",
    "change_received",
    "change_approved",
    "change_rejected",
    "withdrawn",
    "edit_links",
    "contact_changed",
)
# The messages to coordinators about their accounts and their daily digest.
ACCOUNT_KINDS: tuple[str, ...] = ("invitation", "password_reset", "digest")
KINDS = EVENT_KINDS + ACCOUNT_KINDS
STATUSES = ("queued", "sending", "sent", "failed")
MESSAGE_ID_BYTES = 18
SMTP_PORTS = {"smtp": 587, "smtps": 465}  # submission with STARTTLS; implicit TLS
# Retries wait MAIL_RETRY_SECONDS, then twice as long each time, up to this.
MAX_RETRY_SECONDS = 6 * 3600
# The longest a sender sleeps between two looks at the outbox, whatever MAIL_POLL_SECONDS says.
MAX_POLL_SECONDS = 60.0
LAST_ERROR_LENGTH = 300
# Due rows a claim looks through: given-up ones are marked failed on the way to a sendable one.
CLAIM_LOOKAHEAD = 20
# Context keys dropped from a message's row once it is sent: links that open an event's edit page,
# and an account's one-time links.
SECRET_KEYS = frozenset({"edit_url", "accept_url", "reset_url"})
EXTENSION = "mapapp.mail"

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A message could not be delivered; permanent when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpServer:
    """Where MAPAPP_SMTP_URL says to send: smtp:// (STARTTLS when offered) or smtps://."""

    scheme: str
    host: str
    port: int
    user: str = ""
    password: str = ""


@dataclass(frozen=True)
class MailSettings:
    """The mail settings of one app, checked once."""

    server: SmtpServer | None
    sender: str  # the From header
    contact: str  # how to reach the campaign (Reply-To)
    timeout: float
    ca_file: str
    max_attempts: int
    retry_seconds: float
    lease_seconds: float
    poll_seconds: float
    retention_days: int
    in_server: bool


@dataclass
class Counts:
    """What one pass of a sender did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    waiting: int = 0
    removed: int = 0

    def sentence(self) -> str:
        """Return the counts as people read them."""
        return (
            f"Sent: {self.sent}. To try again later: {self.retrying}. Failed: {self.failed}. "
            f"Still waiting in the outbox: {self.waiting}. "
            f"Removed after the retention period: {self.removed}."
        )


def parse_smtp_url(url: str) -> SmtpServer | None:
    """Return the server a MAPAPP_SMTP_URL names (None when empty), or raise ConfigError."""
    if not url.strip():
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in SMTP_PORTS or not parts.hostname:
        raise ConfigError(
            "MAPAPP_SMTP_URL must look like smtp://user:password@host:587 (STARTTLS) or "
            f"smtps://user:password@host:465 (TLS), not {_without_password(url)!r}."
        )
    try:
        port = parts.port or SMTP_PORTS[parts.scheme]
    except ValueError as exc:
        raise ConfigError(
            f"MAPAPP_SMTP_URL has an invalid port: {_without_password(url)!r}."
        ) from exc
    return SmtpServer(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def settings_of(app: Flask) -> MailSettings:
    """Return an app's mail settings."""
    settings: MailSettings = app.extensions[EXTENSION]["settings"]
    return settings


def init_app(app: Flask) -> None:
    """Give the app its outbox table, its .eml directory and its checked mail settings."""
    add_table(app, OUTBOX_FILE, COLUMNS, key="id")
    config = app.config
    host = urlsplit(config["PUBLIC_URL"]).hostname or "localhost"
    sender = str(config["MAIL_FROM"]).strip() or f"Rare Disease Day events <events@{host}>"
    _name, address = parseaddr(sender)
    if "@" not in address or any(character in sender for character in "\r\n"):
        raise ConfigError(
            f"MAPAPP_MAIL_FROM must be an address such as 'Events team <events@example.org>', "
            f"not {sender!r}."
        )
    contact = str(config.get("CONTACT_EMAIL") or "").strip() or address
    settings = MailSettings(
        server=parse_smtp_url(str(config["SMTP_URL"])),
        sender=sender,
        contact=contact,
        timeout=float(config["SMTP_TIMEOUT"]),
        ca_file=str(config["SMTP_CA_FILE"]),
        max_attempts=max(1, int(config["MAIL_MAX_ATTEMPTS"])),
        retry_seconds=max(0.0, float(config["MAIL_RETRY_SECONDS"])),
        lease_seconds=max(1.0, float(config["MAIL_LEASE_SECONDS"])),
        poll_seconds=min(MAX_POLL_SECONDS, max(0.05, float(config["MAIL_POLL_SECONDS"]))),
        retention_days=max(0, int(config["MAIL_RETENTION_DAYS"])),
        in_server=str(config["MAIL_SENDER"]).strip().lower() == "server",
    )
    if str(config["MAIL_SENDER"]).strip().lower() not in {"server", "off"}:
        raise ConfigError(
            f"MAPAPP_MAIL_SENDER must be server or off, not {config['MAIL_SENDER']!r}."
        )
    drop = MailDrop(Path(config["DATA_DIR"]) / MAIL_DIR, file_mode=config["DATA_FILE_MODE"])
    app.extensions[EXTENSION] = {"settings": settings, "drop": drop, "wake": threading.Event()}


def _outbox() -> Table:
    """Return the current app's outbox table."""
    return get_table(OUTBOX_FILE)


def _drop() -> MailDrop:
    """Return the current app's directory of .eml files."""
    drop: MailDrop = current_app.extensions[EXTENSION]["drop"]
    return drop


# Queueing


def queue(
    kind: str, to: str, context: Mapping[str, Any], *, event_id: str = "", once_as: str = ""
) -> str:
    """Keep a message in the outbox until it is sent and return its id.

    Its Message-ID is fixed here, so every copy a retry sends is the same message. once_as
    gives the message a fixed id (letters, digits, '-' and '_'): a message with that id in the
    outbox already is not queued again (checked under the lock), and "" is returned.
    """
    if kind not in KINDS:
        raise ValueError(f"No such message: {kind!r}.")
    if not to.strip() or "@" not in to or any(character in to for character in "\r\n"):
        raise ValueError(f"Not an e-mail address: {to!r}.")
    settings = settings_of(current_app)
    domain = parseaddr(settings.sender)[1].rpartition("@")[2]
    row_id = once_as or secrets.token_urlsafe(MESSAGE_ID_BYTES)
    stored = _outbox().append(
        [
            {
                "id": row_id,
                "created_at": utc_now(),
                "kind": kind,
                "to": to.strip(),
                "event_id": event_id,
                "context": json.dumps(dict(context), ensure_ascii=False, sort_keys=True),
                "message_id": f"<{row_id}@{domain}>",
                "status": "queued",
                "attempts": "0",
                "next_attempt_at": "",
                "last_error": "",
                "sent_at": "",
            }
        ]
    )
    if not stored:
        return ""
    current_app.extensions[EXTENSION]["wake"].set()  # this process's sender, if any, looks now
    return row_id


def _about(frame: pd.DataFrame, event_id: str) -> pd.Series:
    """Return which outbox rows are about an event (edit_links names several, space-separated)."""
    return frame["event_id"].map(lambda ids: event_id in str(ids).split())


def queued(event_id: str = "") -> list[dict[str, Any]]:
    """Return the outbox's rows (of one event, if given), oldest first, context decoded."""
    frame = _outbox().frame()
    if event_id:
        frame = frame[_about(frame, event_id)]
    rows: list[dict[str, Any]] = [
        {str(name): value for name, value in row.items()} for row in frame.to_dict("records")
    ]
    for row in rows:
        row["context"] = json.loads(row["context"] or "{}")
    return rows


def forget(event_id: str) -> int:
    """Remove every message about an event from the outbox, and its .eml file; return how many.

    A message listing several events (the edit links) goes too when it names this one.
    """
    rows = queued()
    ids = [
        row["id"]
        for row in rows
        if event_id in str(row["event_id"]).split()
        or any(
            isinstance(item, Mapping) and item.get("reference") == event_id
            for item in row["context"].get("events", [])
        )
    ]
    if not ids:
        return 0
    _drop().remove(ids)  # the files first: a crash in between leaves rows, never lost files
    return _outbox().delete(ids)


# Sending


def _time(offset_seconds: float = 0.0) -> str:
    """Return the UTC time offset_seconds from now, as the outbox writes it."""
    moment = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return moment.strftime(UTC_TIME_FORMAT)


def _claim(settings: MailSettings, tried: set[str], counts: Counts) -> dict[str, str] | None:
    """Claim the oldest due message for this sender (one attempt, one lease) and return it.

    A message whose sender's lease ran out is due again; one that ran out on its last attempt
    is given up. Messages in tried (this pass's) wait for the next pass.
    """
    now = _time()
    lease_until = _time(settings.lease_seconds)

    def due(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[
            frame["status"].isin(["queued", "sending"])
            & (frame["next_attempt_at"] <= now)  # "" (now) sorts first
            & ~frame["id"].isin(tried)
        ]

    if due(_outbox().frame()).empty:  # looked at without the lock: an idle sender takes none
        return None

    def decide(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
        changes: dict[str, dict[str, str]] = {}
        for row in due(frame).head(CLAIM_LOOKAHEAD).to_dict("records"):
            attempts = int(str(row["attempts"]) or 0)
            if row["status"] == "sending" and attempts >= settings.max_attempts:
                changes[str(row["id"])] = {
                    "status": "failed",
                    "last_error": "The sender stopped during the last attempt.",
                }
                continue
            changes[str(row["id"])] = {
                "status": "sending",
                "attempts": str(attempts + 1),
                "next_attempt_at": lease_until,
            }
            break
        return changes

    rows = _outbox().change_rows(decide)
    for row in rows:
        if row["status"] == "failed":
            counts.failed += 1
            log.error(
                "Message %s (%s) failed for good: %s", row["id"], row["kind"], row["last_error"]
            )
    return next((row for row in rows if row["status"] == "sending"), None)


def _record(claimed: Mapping[str, str], changes: Mapping[str, str]) -> bool:
    """Store the outcome of an attempt if the claim still holds; return whether it did."""

    def decide(frame: pd.DataFrame) -> dict[str, Mapping[str, str]]:
        now = frame[frame["id"] == claimed["id"]]
        if now.empty:
            return {}
        row = now.iloc[0]
        if row["status"] != "sending" or row["attempts"] != claimed["attempts"]:
            return {}  # another sender took it over after our lease ran out
        return {claimed["id"]: changes}

    return bool(_outbox().change_rows(decide))


class Transport(Protocol):
    """Hands a message over: to an SMTP server, or to a file."""

    def deliver(self, message: EmailMessage, row: Mapping[str, str]) -> None:
        """Deliver one message or raise DeliveryError."""
        ...

    def close(self) -> None:
        """Let go of what deliver opened."""
        ...


class FileTransport:
    """Writes each message as data/mail/<id>.eml (no SMTP server configured)."""

    def __init__(self, drop: MailDrop) -> None:
        self.drop = drop

    def deliver(self, message: EmailMessage, row: Mapping[str, str]) -> None:
        try:
            self.drop.put(row["id"], message.as_bytes())
        except OSError as exc:
            raise DeliveryError(f"Could not write {self.drop.path(row['id'])}: {exc}") from exc

    def close(self) -> None:
        pass


class SmtpTransport:
    """Sends through one SMTP connection, opened at the first message and kept for the next."""

    def __init__(self, settings: MailSettings) -> None:
        assert settings.server is not None
        self.server = settings.server
        self.settings = settings
        self.connection: smtplib.SMTP | None = None

    def _tls(self) -> ssl.SSLContext:
        """Return the TLS context: the system's CAs, or only MAPAPP_SMTP_CA_FILE's when set."""
        return ssl.create_default_context(cafile=self.settings.ca_file or None)

    def _connect(self) -> smtplib.SMTP:
        server, timeout = self.server, self.settings.timeout
        connection: smtplib.SMTP
        if server.scheme == "smtps":
            connection = smtplib.SMTP_SSL(
                server.host, server.port, timeout=timeout, context=self._tls()
            )
        else:
            connection = smtplib.SMTP(server.host, server.port, timeout=timeout)
        try:
            connection.ehlo()
            if server.scheme == "smtp" and connection.has_extn("starttls"):
                connection.starttls(context=self._tls())
                connection.ehlo()
            elif server.scheme == "smtp" and server.user:
                raise DeliveryError(
                    f"{server.host}:{server.port} does not offer STARTTLS, so the password was "
                    "not sent. Use a server that offers it, or smtps://."
                )
            if server.user:
                _login(connection, server.user, server.password)
        except BaseException:
            with suppress(Exception):
                connection.close()
            raise
        return connection

    def deliver(self, message: EmailMessage, row: Mapping[str, str]) -> None:
        try:
            if self.connection is None:
                self.connection = self._connect()
            envelope_from = parseaddr(self.settings.sender)[1]
            self.connection.send_message(message, from_addr=envelope_from, to_addrs=[row["to"]])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(_reply(code, reply), permanent=code >= 500) from exc
        except smtplib.SMTPDataError as exc:
            raise DeliveryError(
                _reply(exc.smtp_code, exc.smtp_error), permanent=exc.smtp_code >= 500
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self._drop_connection()
            raise DeliveryError(_reply(exc.smtp_code, exc.smtp_error)) from exc
        except DeliveryError:
            self._drop_connection()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self._drop_connection()
            raise DeliveryError(
                f"Could not reach {self.server.host}:{self.server.port}: {exc}"
            ) from exc

    def _drop_connection(self) -> None:
        if self.connection is not None:
            with suppress(Exception):
                self.connection.close()
        self.connection = None

    def close(self) -> None:
        if self.connection is not None:
            with suppress(Exception):
                self.connection.quit()
        self._drop_connection()


def _login(connection: smtplib.SMTP, user: str, password: str) -> None:
    """Sign in; a password beyond ASCII goes as AUTH PLAIN in UTF-8 (RFC 4616), which smtplib cannot."""
    if (user + password).isascii():
        connection.login(user, password)
        return
    if "plain" not in connection.esmtp_features.get("auth", "").lower().split():
        raise DeliveryError("The SMTP server does not take AUTH PLAIN, needed for this password.")
    credentials = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, reply = connection.docmd("AUTH", f"PLAIN {credentials}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _reply(code: int, reply: bytes | str) -> str:
    """Return an SMTP server's reply as text."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"The server answered {code} {text}"


def _transport(settings: MailSettings) -> Transport:
    """Return how this app delivers: SMTP when configured, else .eml files."""
    if settings.server is None:
        return FileTransport(_drop())
    return SmtpTransport(settings)


def _retry_after(settings: MailSettings, attempts: int) -> float:
    """Return the seconds to wait after a failed attempt (exponential backoff)."""
    return float(min(MAX_RETRY_SECONDS, settings.retry_seconds * 2 ** (attempts - 1)))


def send_due(limit: int | None = None) -> Counts:
    """Send the messages that are due now, one claim at a time; return what happened."""
    settings = settings_of(current_app)
    counts = Counts()
    transport = _transport(settings)
    tried: set[str] = set()
    try:
        while limit is None or len(tried) < limit:
            claimed = _claim(settings, tried, counts)
            if claimed is None:
                break
            tried.add(claimed["id"])
            _attempt(settings, transport, claimed, counts)
    finally:
        transport.close()
    frame = _outbox().frame()
    counts.waiting = int(frame["status"].isin(["queued", "sending"]).sum())
    return counts


def _attempt(
    settings: MailSettings, transport: Transport, claimed: dict[str, str], counts: Counts
) -> None:
    """Send one claimed message and record the outcome."""
    attempts = int(claimed["attempts"])
    try:
        row: dict[str, Any] = {**claimed, "context": json.loads(claimed["context"] or "{}")}
        message = build_message(row, settings.sender, settings.contact)
        transport.deliver(message, claimed)
    except (DeliveryError, ValueError, TemplateError) as exc:
        permanent = not isinstance(exc, DeliveryError) or exc.permanent
        error = str(exc)[:LAST_ERROR_LENGTH]
        if permanent or attempts >= settings.max_attempts:
            _record(claimed, {"status": "failed", "last_error": error, "next_attempt_at": ""})
            counts.failed += 1
            log.error("Message %s (%s) failed for good: %s", claimed["id"], claimed["kind"], error)
        else:
            wait = _retry_after(settings, attempts)
            _record(
                claimed,
                {"status": "queued", "last_error": error, "next_attempt_at": _time(wait)},
            )
            counts.retrying += 1
            log.warning(
                "Message %s (%s) not sent (attempt %d), trying again in %d s: %s",
                claimed["id"],
                claimed["kind"],
                attempts,
                wait,
                error,
            )
        return
    _record(
        claimed,
        {
            "status": "sent",
            "sent_at": utc_now(),
            "next_attempt_at": "",
            "last_error": "",
            "context": _without_edit_links(row["context"]),
        },
    )
    counts.sent += 1
    log.info(
        "Message %s (%s) sent for event %s",
        claimed["id"],
        claimed["kind"],
        claimed["event_id"] or "-",
    )


def _without_edit_links(context: Mapping[str, Any]) -> str:
    """Return a sent message's context, encoded, without the edit links it carried.

    Only hashes of edit links are stored with events; a sent message's row need not keep the
    links themselves for the retention period.
    """
    kept = {name: value for name, value in context.items() if name not in SECRET_KEYS}
    if isinstance(kept.get("events"), list):
        kept["events"] = [
            {name: value for name, value in item.items() if name not in SECRET_KEYS}
            for item in kept["events"]
            if isinstance(item, Mapping)
        ]
    return json.dumps(kept, ensure_ascii=False, sort_keys=True)


def purge() -> int:
    """Remove sent and failed messages (rows and .eml files) older than the retention; return how many rows."""
    settings = settings_of(current_app)
    keep_seconds = settings.retention_days * 86400.0
    cutoff = _time(-keep_seconds)
    frame = _outbox().frame()
    old = frame[
        ((frame["status"] == "sent") & (frame["sent_at"] < cutoff))
        | ((frame["status"] == "failed") & (frame["created_at"] < cutoff))
    ]
    ids = old["id"].tolist()
    _drop().remove(ids)
    _drop().remove_older_than(keep_seconds)
    return _outbox().delete(ids) if ids else 0


def _without_password(url: str) -> str:
    """Return an SMTP URL with its password hidden, for messages."""
    parts = urlsplit(url.strip())
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
