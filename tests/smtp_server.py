"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), recording what it accepts.

It can hold the first message at a chosen step (after RCPT, before DATA; or after the message
was received, before the server says it accepted it) until the test releases it, so a test can
kill a sender at exactly that moment; it can refuse recipients, offer STARTTLS, implicit TLS and
a password check.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

WAIT_SECONDS = 30


class Recorder:
    """An aiosmtpd handler keeping every message it accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.hold_at = ""  # "rcpt" or "data": hold the first message there
        self.reached = threading.Event()
        self.release = threading.Event()
        self.refused: set[str] = set()
        self.logins: list[tuple[str, str]] = []
        self.tls: list[bool] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.refused:
            return "550 5.1.1 No such mailbox here"
        if self.hold_at == "rcpt":
            await self._hold()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        self.messages.append(message)  # type: ignore[arg-type]
        self.tls.append(session.ssl is not None)
        if self.hold_at == "data":
            await self._hold()  # received in full; the "250" has not been sent yet
        return "250 Message accepted for delivery"

    async def _hold(self) -> None:
        self.hold_at = ""  # only the first message is held
        self.reached.set()
        while not self.release.is_set():
            await asyncio.sleep(0.02)

    def authenticate(self, server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == (USER, PASSWORD))

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[EmailMessage]:
        """Wait until count messages arrived and return them."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)


USER = "campaign@example.org"
PASSWORD = "p@ss:w/rd %ünï"  # every character that must be URL-encoded in MAPAPP_SMTP_URL


@contextmanager
def smtp_server(
    port: int = 0,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    auth: bool = False,
    recorder: Recorder | None = None,
) -> Iterator[tuple[Recorder, int]]:
    """Run an SMTP server on 127.0.0.1 until the block ends; yield its recorder and port."""
    recorder = recorder or Recorder()
    options: dict[str, Any] = {}
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    if implicit_tls is not None:
        options.update(ssl_context=implicit_tls)
    if auth:
        # aiosmtpd counts only STARTTLS as TLS; with implicit TLS the whole session is.
        options.update(authenticator=recorder.authenticate, auth_require_tls=not implicit_tls)
    controller = Controller(recorder, hostname="127.0.0.1", port=port or _free_port(), **options)
    controller.start()
    try:
        yield recorder, controller.port
    finally:
        recorder.release.set()
        controller.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_context(certificate: Path, key: Path) -> ssl.SSLContext:
    """Return the TLS context of a server holding this certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    return context
