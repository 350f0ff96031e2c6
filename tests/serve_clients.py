"""Clients of `mapapp serve` for the write tests: pages and forms read as a browser would, a
signed-in session that records what it was told, each client's mix of every kind of change, and
the checks of the store against what the clients were told.

tests/test_serve_writes.py (one host, workers killed) and tests/test_two_hosts.py (two hosts
behind one nginx) run the same clients.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import subprocess
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from mapapp import coordinators, create_app
from mapapp.events import current_edition, edition_date, validate_event
from mapapp.storage import EventStore, get_store_of
from mapapp.storage.event_store import ERASED
from tests.conftest import make_event
from tests.servers import CUT_OFF, MAPAPP, SECRET_KEY, STARTUP_SECONDS, server_env

PASSWORD = "a long test passphrase"  # only ever in a test's own data directory
DAY = edition_date(current_edition()).isoformat()
HTTP_TIMEOUT = 30  # seconds, for every request
MAX_ATTEMPTS = 6  # of one change, or of one GET, before a client gives up
OPS_PER_CLIENT = 30
# Each client's operations, shuffled; "import" is one small upload of IMPORT_ROWS events.
SCHEDULE = (
    ("submit", 4),
    ("edit", 4),
    ("approve", 3),
    ("reject", 2),
    ("place", 3),
    ("bulk", 2),
    ("organiser-edit", 4),
    ("withdraw", 1),
    ("import", 1),
    ("edit", 1),
    ("change-approve", 2),
    ("change-reject", 1),
    ("revoke", 1),
    ("erase", 1),
)
IMPORT_ROWS = 2
# The title of an organiser's change waiting for review, as read_store adds it to each event.
WAITING_TITLE = "pending_change.title"
# The audit log's name of an operation, where it differs.
AUDIT_ACTIONS = {
    "bulk": "approve",
    "change-approve": "approve-change",
    "change-reject": "reject-change",
}
# The messages an acknowledged operation queues for the organiser, by operation.
MESSAGES = {
    "submit": "submission_received",
    "approve": "approved",
    "bulk": "approved",
    "reject": "rejected",
    "change-request": "change_received",
    "change-approve": "change_approved",
    "change-reject": "change_rejected",
    "withdraw": "withdrawn",
}
FLASH = re.compile(r'<p class="flash flash-(\w+)">(.*?)</p>', re.DOTALL)
IMPORT_SUMMARY = re.compile(
    r"Read (\d+) rows: added (\d+), skipped (\d+) already on the map, rejected (\d+)"
)


# The values of an erased event that no file may hold any more.
ERASED_FIELDS = ("title", "moderation_note", "change_note")
# The field of an operation's changes noted once per operation, where it is not the status.
MESSAGE_FIELDS = {
    "submit": "title",
    "change-request": WAITING_TITLE,
    "change-approve": "title",
    "change-reject": "change_note",
}


# Pages and forms, read as a browser would


@dataclass
class Form:
    """One form of a page: its attributes and the (name, value) pairs a browser would send."""

    attrs: dict[str, str]
    fields: list[tuple[str, str]] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        """Return the fields as a dict (the forms here have no repeated names)."""
        return dict(self.fields)


class _FormParser(HTMLParser):
    """Collect every form with its fields as filled in: inputs, checked boxes, selects, textareas."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._form = Form(named)
            self.forms.append(self._form)
        elif tag == "option" and self._select is not None:
            self._select[1].append((named.get("value", ""), "selected" in named))
        elif self._form is None or "name" not in named or "form" in named:
            return  # outside a form, or belonging to another one (form="...")
        elif tag == "input":
            kind = named.get("type", "text")
            if kind in {"submit", "button", "image", "reset", "file"}:
                return
            if kind in {"radio", "checkbox"} and "checked" not in named:
                return
            default = "on" if kind in {"radio", "checkbox"} else ""
            self._form.fields.append((named["name"], named.get("value", default)))
        elif tag == "select":
            self._select = (named["name"], [])
        elif tag == "textarea":
            self._textarea = (named["name"], [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, options = self._select
            if options:  # a menu with no options (a filter with nothing to choose) sends nothing
                chosen = [value for value, selected in options if selected] or [options[0][0]]
                self._form.fields.append((name, chosen[0]))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            name, parts = self._textarea
            text = "".join(parts)
            # A browser drops the newline right after <textarea> (WTForms writes one).
            text = text[2:] if text.startswith("\r\n") else text.removeprefix("\n")
            self._form.fields.append((name, text))
            self._textarea = None


def find_form(page: str, action: str | None = None) -> Form | None:
    """Return the page's form posting to action, or (action None) the one posting to the page."""
    parser = _FormParser()
    parser.feed(page)
    for form in parser.forms:
        if form.attrs.get("action") == action if action is not None else "action" not in form.attrs:
            return form
    return None


def flashes(page: str) -> list[tuple[str, str]]:
    """Return the (category, message) flashes a page shows."""
    return [(category, html.unescape(message)) for category, message in FLASH.findall(page)]


# The store


def seed(
    data_dir: Path,
    statuses: list[str],
    names: list[str],
    settings: Mapping[str, Any] | None = None,
) -> list[str]:
    """Store valid events with these statuses and coordinator accounts; return the event ids.

    settings are more of the app's settings (the store's, say), as the servers will have them.
    """
    events = []
    for number, status in enumerate(statuses):
        event, errors = validate_event(make_event(title=f"Seeded event {number}", status=status))
        assert event is not None, errors
        events.append(event)
    config = {"ENV": "testing", "DATA_DIR": str(data_dir), "SECRET_KEY": SECRET_KEY}
    app = create_app({**config, **(settings or {})})
    store = get_store_of(app)
    try:
        ids = [event["id"] for event in store.add_many(events)]
        with app.app_context():
            for name in names:
                coordinators.add_coordinator(name, PASSWORD)
    finally:
        store.close()
    return ids


def read_store(data_dir: Path) -> tuple[dict[str, dict[str, str]], list[dict[str, str]]]:
    """Return the events by id and the audit entries as a fresh store reads them, checked whole."""
    store = EventStore(data_dir)
    try:
        frame = store.frame()
        assert store.damage == [], store.damage
        assert store.audit.damage == [], store.audit.damage
        assert frame["id"].is_unique, frame["id"][frame["id"].duplicated()].tolist()
        events = {row["id"]: row for row in frame.to_dict("records")}
        for row in events.values():
            row[WAITING_TITLE] = waiting_title(row["pending_change"])
        entries = store.audit.frame().to_dict("records")
    finally:
        store.close()
    return events, entries  # type: ignore[return-value]


def waiting_title(pending_change: str) -> str:
    """Return the title of an organiser's change waiting for review, or "" (none, or the same)."""
    return str(json.loads(pending_change or "{}").get("fields", {}).get("title", ""))


def errors_in_log(log_path: Path) -> list[str]:
    """Return the lines of the server's log that report an exception in a request."""
    lines = log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if "Exception on" in line or "Traceback" in line]


# A client: one signed-in browser session


class Outcome(Enum):
    """What one attempt at a change came to."""

    SAVED = "saved"
    CUT = "cut off"  # the request may or may not have landed
    CONFLICT = "409"
    DONE_BEFORE = "done by an earlier attempt"
    FAILED = "failed"


@dataclass
class Client:
    """A person's session against the server, recording what it was told."""

    base_url: str
    name: str
    http: requests.Session = field(default_factory=requests.Session)
    statuses: Counter[int] = field(default_factory=Counter)
    cut_offs: int = 0
    cut_posts: int = 0  # changes sent without an answer: each may or may not have landed
    conflicts: int = 0
    anomalies: list[str] = field(default_factory=list)
    # (ack | maybe, action, who, event_id, field, value), in the order the changes were made
    changes: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    ops: Counter[str] = field(default_factory=Counter)
    done_before: Counter[str] = field(default_factory=Counter)  # found done, never answered
    certificate: str = ""  # a CA file to trust: https through nginx with a test's own certificate

    def __post_init__(self) -> None:
        if self.certificate:
            self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
            self.http.verify = self.certificate

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response | None:
        """Send one request; return None when it was cut off."""
        try:
            response = self.http.request(
                method,
                urljoin(self.base_url, path),
                timeout=HTTP_TIMEOUT,
                allow_redirects=False,
                **kwargs,
            )
        except CUT_OFF:
            self.cut_offs += 1
            self.cut_posts += method == "POST"
            return None
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.anomalies.append(f"{method} {path}: {response.status_code}")
        return response

    def page(self, path: str) -> str | None:
        """GET a page, again while cut off (a GET changes nothing); None if it never came."""
        for _ in range(MAX_ATTEMPTS):
            response = self.request("GET", path)
            if response is None:
                continue
            if response.status_code == 200:
                return response.text
            self.anomalies.append(f"GET {path}: {response.status_code}")
            return None
        self.anomalies.append(f"GET {path}: cut off {MAX_ATTEMPTS} times")
        return None

    def sign_in(self) -> None:
        """Sign in through the real form."""
        for _ in range(MAX_ATTEMPTS):
            page = self.page("/admin/sign-in")
            form = find_form(page or "")
            assert form is not None, f"{self.name}: no sign-in form"
            data = {**form.values(), "name": self.name, "password": PASSWORD}
            response = self.request("POST", "/admin/sign-in", data=data)
            if response is not None:
                assert response.status_code == 302, (self.name, response.status_code)
                return
        raise AssertionError(f"{self.name}: sign-in cut off {MAX_ATTEMPTS} times")

    # Recording

    def note(self, kind: str, action: str, who: str, changes: list[tuple[str, str, str]]) -> None:
        """Record changes as acknowledged (ack) or as sent without an answer (maybe)."""
        for event_id, name, value in changes:
            self.changes.append((kind, action, who, event_id, name, value))

    def settle(
        self,
        action: str,
        changes: list[tuple[str, str, str]],
        attempt: Callable[[], Outcome],
        who: str = "",
    ) -> bool:
        """Try a change until it is acknowledged, a fresh form for each try; return whether it was."""
        who = who or self.name
        cut_before = False
        for _ in range(MAX_ATTEMPTS):
            outcome = attempt()
            if outcome is Outcome.SAVED:
                self.note("ack", action, who, changes)
                self.ops[action] += 1
                return True
            if outcome is Outcome.CUT:
                cut_before = True
                self.note("maybe", action, who, changes)
            elif outcome is Outcome.CONFLICT:
                self.conflicts += 1
                if not cut_before:  # nobody else touches this client's events
                    self.anomalies.append(f"{action} {changes[:1]}: 409 on a first attempt")
            elif outcome is Outcome.DONE_BEFORE:
                self.done_before[action] += 1
                if not cut_before:  # only an attempt without an answer can have done it
                    self.anomalies.append(f"{action} {changes[:1]}: found done on a first attempt")
                return False
            else:
                return False
        self.anomalies.append(f"{action} {changes[:1]}: not saved in {MAX_ATTEMPTS} attempts")
        return False

    def posted(self, path: str, **kwargs: Any) -> Outcome:
        """POST a form: saved (303, and the next page shows no error), cut off or a conflict."""
        response = self.request("POST", path, **kwargs)
        if response is None:
            return Outcome.CUT
        if response.status_code == 409:
            return Outcome.CONFLICT
        if response.status_code != 303:
            self.anomalies.append(f"POST {path}: {response.status_code}")
            return Outcome.FAILED
        after = self.page(response.headers["Location"])
        errors = [message for category, message in flashes(after or "") if category == "error"]
        if errors:
            self.anomalies.append(f"POST {path}: 303 but {errors}")
            return Outcome.FAILED
        return Outcome.SAVED


def admin_path(event_id: str) -> str:
    """Return the path of an event's admin edit page."""
    return f"/admin/events/{event_id}/edit"


# Test 1: a client's mix of every kind of change, on events of its own


@dataclass
class Owned:
    """An event a client works on: its status as the client last saw it, and its edit link."""

    event_id: str
    status: str
    edit_path: str = ""
    waiting: str = ""  # the title of the organiser's change waiting for review


class ClientMix:
    """One client process's work: a shuffled schedule of changes to events only it touches."""

    def __init__(
        self, base_url: str, number: int, seeded: list[tuple[str, str]], certificate: str = ""
    ) -> None:
        self.number = number
        self.client = Client(base_url, f"coordinator-{number}", certificate=certificate)
        self.rng = random.Random(number)
        self.events = [Owned(event_id, status) for event_id, status in seeded]
        self.seeded = len(self.events)
        self.erased: list[str] = []
        self.counter = 0

    def unique(self, what: str) -> str:
        """Return a value no other change of any client uses."""
        self.counter += 1
        return f"C{self.number} {what} {self.counter}"

    def run(self, seconds: float | None = None) -> None:
        """Do every operation of the schedule, in a shuffled order; stop after seconds if given."""
        schedule = [kind for kind, count in SCHEDULE for _ in range(count)]
        assert len(schedule) == OPS_PER_CLIENT
        self.rng.shuffle(schedule)
        deadline = None if seconds is None else time.monotonic() + seconds
        for kind in schedule:
            if deadline is not None and time.monotonic() > deadline:
                break
            self.operate(kind)

    def live(self, *, linked: bool = False, not_status: str = "") -> list[Owned]:
        """Return this client's events not withdrawn, with an edit link, not in a status."""
        return [
            event
            for event in self.events
            if event.status not in {"withdrawn", "erased"}
            and (event.edit_path or not linked)
            and event.status != not_status
        ]

    def waiting(self) -> list[Owned]:
        """Return this client's published events with an organiser's change waiting."""
        return [event for event in self.live() if event.status == "approved" and event.waiting]

    def operate(self, kind: str) -> None:
        """Do one operation, or a stand-in when no event of this client fits it yet."""
        if kind in {"change-approve", "change-reject"} and not self.waiting():
            kind = "organiser-edit"  # on a published event, it makes a change wait
        if kind == "erase" and not self.live()[: self.seeded]:
            kind = "edit"
        if kind in {"organiser-edit", "withdraw", "revoke"} and not self.live(linked=True):
            kind = "submit"
        needed = {"approve": ("approved", 1), "bulk": ("approved", 2), "reject": ("rejected", 1)}
        if kind in needed:
            status, count = needed[kind]
            if len(self.live(not_status=status)) < count:
                kind = "edit"
        if kind == "submit":
            self.submit()
        elif kind == "import":
            self.upload()
        elif kind == "edit":
            self.edit(self.rng.choice(self.live()))
        elif kind == "approve":
            self.approve(self.rng.choice(self.live(not_status="approved")))
        elif kind == "bulk":
            self.bulk_approve(self.rng.sample(self.live(not_status="approved"), 2))
        elif kind == "reject":
            self.reject(self.rng.choice(self.live(not_status="rejected")))
        elif kind == "place":
            self.place(self.rng.choice(self.live()))
        elif kind == "organiser-edit":
            self.organiser_edit(self.rng.choice(self.live(linked=True)))
        elif kind == "withdraw":
            self.withdraw(self.rng.choice(self.live(linked=True)))
        elif kind == "change-approve":
            self.approve_change(self.rng.choice(self.waiting()))
        elif kind == "change-reject":
            self.reject_change(self.rng.choice(self.waiting()))
        elif kind == "revoke":
            self.revoke(self.rng.choice(self.live(linked=True)))
        elif kind == "erase":
            seeded = [event for event in self.events[: self.seeded] if event.status != "withdrawn"]
            self.erase(self.rng.choice(seeded))

    def submit(self) -> None:
        """Submit an online event through the API (again if cut off: it may land twice)."""
        title = self.unique("API event")
        body = {
            "title": title,
            "category": "online",
            "format": "online",
            "country": "KE",
            "starts_at": f"{DAY}T{10 + self.counter % 8:02d}:00",
            "organiser": f"Organiser {self.number}",
            "contact_email": f"client{self.number}@example.org",
            "language": "en",
            "consent": True,
        }
        for _ in range(MAX_ATTEMPTS):
            response = self.client.request("POST", "/api/events", json=body)
            if response is None:
                continue
            if response.status_code != 201:
                self.client.anomalies.append(f"POST /api/events: {response.status_code}")
                return
            answer = response.json()
            edit_path = urlsplit(answer["edit_url"]).path
            self.events.append(Owned(answer["id"], "pending", edit_path))
            self.client.created.append(answer["id"])
            changes = [(answer["id"], "title", title), (answer["id"], "status", "pending")]
            self.client.note("ack", "submit", "organiser", changes)
            self.client.ops["submit"] += 1
            return
        self.client.anomalies.append(f"POST /api/events: cut off {MAX_ATTEMPTS} times")

    def upload(self) -> None:
        """Import a small CSV through /admin/import; a repeat skips what landed before."""
        titles = [self.unique("imported event") for _ in range(IMPORT_ROWS)]
        lines = ["Title,Category,Format,Start,Timezone,Country,Organiser,E-mail"]
        lines += [
            f"{title},talk,online,{DAY}T12:00,Europe/Paris,FR,Partner {self.number},p@example.org"
            for title in titles
        ]
        content = ("\n".join(lines) + "\n").encode()

        def attempt() -> Outcome:
            page = self.client.page("/admin/import")
            form = find_form(page or "")
            if form is None:
                return Outcome.CUT
            data = {**form.values(), "status": "pending"}
            files = {"file": (f"client-{self.number}.csv", content, "text/csv")}
            preview = self.client.request("POST", "/admin/import", data=data, files=files)
            if preview is None:
                return Outcome.CUT
            confirm = find_form(preview.text, "/admin/import/confirm")
            if preview.status_code != 200 or confirm is None:
                self.client.anomalies.append(f"POST /admin/import: {preview.status_code}")
                return Outcome.FAILED
            response = self.client.request("POST", "/admin/import/confirm", data=confirm.values())
            if response is None:
                return Outcome.CUT
            summary = IMPORT_SUMMARY.search(response.text)
            if response.status_code != 200 or summary is None:
                self.client.anomalies.append(f"POST /admin/import: {response.status_code}")
                return Outcome.FAILED
            rows, added, skipped, rejected = map(int, summary.groups())
            if (rows, added + skipped, rejected) != (IMPORT_ROWS, IMPORT_ROWS, 0):
                self.client.anomalies.append(f"POST /admin/import: {summary.group(0)}")
                return Outcome.FAILED
            return Outcome.SAVED

        if self.client.settle("import", [], attempt):
            self.client.imported.extend(titles)

    def _form(self, event: Owned) -> Form | None:
        """Return the admin edit form of an event, read fresh."""
        page = self.client.page(admin_path(event.event_id))
        return find_form(page or "")

    def edit(self, event: Owned) -> None:
        """Change the title on the admin edit page, every other field as the page fills it."""
        title = self.unique("edited title")

        def attempt() -> Outcome:
            form = self._form(event)
            if form is None:
                return Outcome.CUT
            data = {**form.values(), "title": title}
            return self.client.posted(admin_path(event.event_id), data=data)

        self.client.settle("edit", [(event.event_id, "title", title)], attempt)

    def _action(self, event: Owned, action: str, **fields: str) -> Outcome:
        """Post a moderation button with the version the edit page shows."""
        form = self._form(event)
        if form is None:
            return Outcome.CUT
        seen = form.values()
        data = {
            "csrf_token": seen["csrf_token"],
            "version": seen["version"],
            "next": admin_path(event.event_id),
            **fields,
        }
        return self.client.posted(f"/admin/events/{event.event_id}/{action}", data=data)

    def approve(self, event: Owned) -> None:
        """Approve one event."""
        changes = [(event.event_id, "status", "approved")]
        if self.client.settle("approve", changes, lambda: self._action(event, "approve")):
            event.status = "approved"

    def reject(self, event: Owned) -> None:
        """Reject one event with a reason."""
        reason = self.unique("reason")
        changes = [
            (event.event_id, "status", "rejected"),
            (event.event_id, "moderation_note", reason),
        ]
        if self.client.settle(
            "reject", changes, lambda: self._action(event, "reject", reason=reason)
        ):
            event.status = "rejected"

    def place(self, event: Owned) -> None:
        """Place an event with the place action, at a point no other change uses."""
        self.counter += 1
        latitude = f"{40 + self.number + self.counter / 1000:.6f}"
        longitude = f"{-5 + self.number + self.counter / 1000:.6f}"

        def attempt() -> Outcome:
            return self._action(event, "place", latitude=latitude, longitude=longitude)

        changes = [
            (event.event_id, "latitude", latitude),
            (event.event_id, "longitude", longitude),
            (event.event_id, "location_precision", "manual"),
        ]
        self.client.settle("place", changes, attempt)

    def bulk_approve(self, events: list[Owned]) -> None:
        """Tick two events and approve them at once, each with the version its page shows."""

        def attempt() -> Outcome:
            data: list[tuple[str, str]] = []
            for event in events:
                form = self._form(event)
                if form is None:
                    return Outcome.CUT
                seen = form.values()
                data += [("ids", event.event_id), (f"version-{event.event_id}", seen["version"])]
            data += [("csrf_token", seen["csrf_token"]), ("next", admin_path(events[0].event_id))]
            return self.client.posted("/admin/approve", data=data)

        changes = [(event.event_id, "status", "approved") for event in events]
        if self.client.settle("bulk", changes, attempt):
            for event in events:
                event.status = "approved"

    def organiser_edit(self, event: Owned) -> None:
        """Change the title through the organiser's edit link."""
        title = self.unique("organiser title")

        def attempt() -> Outcome:
            page = self.client.page(event.edit_path)
            form = find_form(page or "")
            if form is None:
                return Outcome.CUT
            return self.client.posted(event.edit_path, data={**form.values(), "title": title})

        if event.status == "approved":  # the change waits for review; the event stays as is
            changes = [(event.event_id, WAITING_TITLE, title)]
            if self.client.settle("change-request", changes, attempt, who="organiser"):
                event.waiting = title
            return
        changes = [
            (event.event_id, "title", title),
            (event.event_id, "status", "pending"),
            (event.event_id, WAITING_TITLE, ""),  # a change left from when it was published
        ]
        if self.client.settle("organiser-edit", changes, attempt, who="organiser"):
            event.status, event.waiting = "pending", ""

    def withdraw(self, event: Owned) -> None:
        """Withdraw an event through its edit link."""
        path = event.edit_path + "/withdraw"

        def attempt() -> Outcome:
            page = self.client.page(event.edit_path)
            if page is None:
                return Outcome.CUT
            form = find_form(page, action=path)
            if form is None:
                return Outcome.DONE_BEFORE if "You withdrew this event" in page else Outcome.CUT
            return self.client.posted(path, data={**form.values(), "confirm": "y"})

        changes = [(event.event_id, "status", "withdrawn"), (event.event_id, WAITING_TITLE, "")]
        self.client.settle("withdraw", changes, attempt, who="organiser")
        event.status = "withdrawn"  # saved, or landed before: either way leave it alone

    def _review(self, event: Owned, action: str, **fields: str) -> Outcome:
        """Post a review of the waiting change; found done when the edit page shows none waiting.

        (An attempt without an answer may have reviewed it: then the change is gone.)
        """
        page = self.client.page(admin_path(event.event_id))
        if page is None:
            return Outcome.CUT
        if 'id="waiting-change"' not in page:
            return Outcome.DONE_BEFORE
        return self._action(event, action, **fields)

    def approve_change(self, event: Owned) -> None:
        """Publish the organiser's waiting change (its title) from the admin side."""
        changes = [(event.event_id, "title", event.waiting), (event.event_id, WAITING_TITLE, "")]
        self.client.settle("change-approve", changes, lambda: self._review(event, "approve-change"))
        event.waiting = ""  # published, or by an attempt without an answer

    def reject_change(self, event: Owned) -> None:
        """Turn the organiser's waiting change down with a reason; the event stays as approved."""
        reason = self.unique("change reason")
        changes = [(event.event_id, WAITING_TITLE, ""), (event.event_id, "change_note", reason)]
        self.client.settle(
            "change-reject",
            changes,
            lambda: self._review(event, "reject-change", reason=reason),
        )
        event.waiting = ""  # turned down, or by an attempt without an answer

    def revoke(self, event: Owned) -> None:
        """Revoke the event's other edit links from its edit page (this one keeps working)."""
        path = event.edit_path + "/revoke"

        def attempt() -> Outcome:
            page = self.client.page(event.edit_path)
            form = find_form(page or "", action=path)
            if form is None:
                return Outcome.CUT
            return self.client.posted(path, data=form.values())

        # Nothing is written when no other link is valid; check_links checks this one still is.
        self.client.settle("revoke", [], attempt, who="organiser")

    def erase(self, event: Owned) -> None:
        """Erase one of the seeded events after the confirmation page (a repeat finds it gone)."""
        path = f"/admin/events/{event.event_id}/erase"

        def attempt() -> Outcome:
            response = self.client.request("GET", path)
            if response is None:
                return Outcome.CUT
            if response.status_code == 404:
                return Outcome.DONE_BEFORE  # an attempt without an answer erased it
            form = find_form(response.text, action=path)
            if form is None:
                return Outcome.CUT
            return self.client.posted(path, data={**form.values(), "confirm": event.event_id})

        self.client.settle("erase", [], attempt)
        event.status = "erased"  # erased, or by an attempt without an answer: leave it alone
        self.erased.append(event.event_id)

    def report(self) -> dict[str, Any]:
        """Return what this client saw, as plain data for the test process."""
        client = self.client
        return {
            "number": self.number,
            "name": client.name,
            "statuses": dict(client.statuses),
            "cut_offs": client.cut_offs,
            "cut_posts": client.cut_posts,
            "conflicts": client.conflicts,
            "anomalies": client.anomalies,
            "changes": client.changes,
            "created": client.created,
            "imported": client.imported,
            "erased": self.erased,
            "links": [
                (event.event_id, event.edit_path) for event in self.events if event.edit_path
            ],
            "ops": dict(client.ops),
            "done_before": dict(client.done_before),
        }


def run_client(
    base_url: str,
    number: int,
    seeded: list[tuple[str, str]],
    start: Any,
    results: Any,
    seconds: float | None = None,
    certificate: str = "",
) -> None:
    """Sign in, wait for every client, do this client's schedule and put its report in results.

    seconds bounds the schedule's time; certificate is the CA file of an https base_url.
    """
    try:
        mix = ClientMix(base_url, number, seeded, certificate)
        with mix.client.http:
            mix.client.sign_in()
            start.wait(timeout=STARTUP_SECONDS)
            mix.run(seconds)
        results.put(mix.report())
    except BaseException:
        start.abort()
        results.put({"number": number, "error": traceback.format_exc()})


def import_with_cli(
    data_dir: Path, tmp_path: Path, env: Mapping[str, str] | None = None
) -> list[str]:
    """Import two events with `mapapp import` while the server runs; return their titles.

    env is the command's whole environment (server_env(data_dir) when None).
    """
    titles = ["CLI imported event 1", "CLI imported event 2"]
    path = tmp_path / "cli-import.csv"
    lines = ["Title,Category,Format,Start,Timezone,Country,Organiser,E-mail"]
    lines += [
        f"{title},talk,online,{DAY}T09:00,Europe/Paris,FR,CLI,cli@example.org" for title in titles
    ]
    path.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [str(MAPAPP), "import", str(path)],
        env=server_env(data_dir) if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Read 2 rows: added 2, skipped 0 already on the map, rejected 0" in done.stdout, (
        done.stdout
    )
    return titles


def check_final_values(
    changes: list[tuple[str, str, str, str, str, str]], events: dict
) -> list[str]:
    """Return every (event, field) whose stored value is not its last acknowledged one.

    A change sent without an answer may have landed: after the last acknowledged value, the
    values of such changes are allowed too.
    """
    allowed: dict[tuple[str, str], set[str]] = {}
    for kind, _action, _who, event_id, name, value in changes:
        key = (event_id, name)
        if kind == "ack":
            allowed[key] = {value}
        elif key in allowed:
            allowed[key].add(value)
    wrong = []
    for (event_id, name), values in allowed.items():
        stored = events.get(event_id, {}).get(name)
        if stored not in values:
            wrong.append(f"{event_id}.{name}: stored {stored!r}, acknowledged {sorted(values)}")
    return wrong


def check_audit(
    changes: list[tuple[str, str, str, str, str, str]], entries: list[dict[str, str]]
) -> list[str]:
    """Return every acknowledged change the audit log does not record with its value and who."""
    recorded: set[tuple[str, str, str, str, str]] = set()
    created: set[tuple[str, str, str]] = set()
    for entry in entries:
        created.add((entry["event_id"], entry["action"], entry["who"]))
        if entry["changes"] == ERASED:
            continue
        for name, (_old, new) in json.loads(entry["changes"] or "{}").items():
            recorded.add((entry["event_id"], entry["action"], entry["who"], name, new))
            if name == "pending_change":
                recorded.add(
                    (
                        entry["event_id"],
                        entry["action"],
                        entry["who"],
                        WAITING_TITLE,
                        waiting_title(new),
                    )
                )
    missing = []
    for kind, operation, who, event_id, name, value in changes:
        if kind != "ack":
            continue
        action = AUDIT_ACTIONS.get(operation, operation)
        if action == "submit":
            found = (event_id, "submit", who) in created
        elif name == "status" and action in {"organiser-edit", "reject"}:
            continue  # written only if the status was another; the title or reason is checked
        elif name == "location_precision" or (name == WAITING_TITLE and not value):
            continue  # as above: a waiting change is cleared only if there was one
        else:
            found = (event_id, action, who, name, value) in recorded
        if not found:
            missing.append(f"{action} by {who} of {event_id}.{name} = {value!r}")
    return missing


def check_links(links: list[tuple[str, str]], events: dict) -> list[str]:
    """Return the edit links a client holds that no longer open their event."""
    lost = []
    for event_id, path in links:
        token_hash = hashlib.sha256(path.rsplit("/", 1)[1].encode()).hexdigest()
        if token_hash not in events[event_id]["edit_token_hash"].split():
            lost.append(f"{event_id}: the link {path[:24]}… is not valid any more")
    return lost


def check_messages(
    changes: list[tuple[str, str, str, str, str, str]], outbox: list[dict[str, str]]
) -> list[str]:
    """Return the acknowledged operations whose message to the organiser was never queued.

    An operation tried again after an attempt without an answer is left out: that attempt may
    have stored the change and been killed before queueing its message (see the closing note).
    """
    queued = {(row["kind"], row["event_id"]) for row in outbox}
    unanswered = {
        (MESSAGES.get(action), event_id)
        for kind, action, _, event_id, _, _ in changes
        if kind != "ack"
    }
    missing = set()
    for kind, action, _who, event_id, _name, _value in changes:
        message = MESSAGES.get(action)
        if kind != "ack" or message is None or (message, event_id) in unanswered:
            continue
        if (message, event_id) not in queued:
            missing.add(f"{action} of {event_id}: no {message} message in the outbox")
    return sorted(missing)


def check_messages_once(
    changes: list[tuple[str, str, str, str, str, str]], outbox: list[dict[str, str]]
) -> list[str]:
    """Return the notices the outbox holds more or fewer times than operations acknowledged them.

    Only events every change of which was answered are counted: an attempt without an answer
    may have queued its message too.
    """
    unanswered = {event_id for kind, _, _, event_id, _, _ in changes if kind != "ack"}
    expected: Counter[tuple[str, str]] = Counter()
    for kind, action, _who, event_id, name, _value in changes:
        message = MESSAGES.get(action)
        if kind == "ack" and message and name == MESSAGE_FIELDS.get(action, "status"):
            expected[(message, event_id)] += 1
    queued = Counter(
        (row["kind"], row["event_id"])
        for row in outbox
        if row["kind"] in set(MESSAGES.values()) and row["event_id"] not in unanswered
    )
    counted = {key: count for key, count in expected.items() if key[1] not in unanswered}
    return [
        f"{message} of {event_id}: queued {queued[(message, event_id)]} times, "
        f"acknowledged {counted.get((message, event_id), 0)}"
        for message, event_id in sorted(set(counted) | set(queued))
        if queued[(message, event_id)] != counted.get((message, event_id), 0)
    ]


def check_mail_files(data_dirs: list[Path], outbox: list[dict[str, str]]) -> list[str]:
    """Return the sent messages without their .eml file, and .eml files of no message or twice.

    Every host's senders write the messages they send into their own data directory.
    """
    files: dict[str, Path] = {}
    problems = []
    for data_dir in data_dirs:
        folder = data_dir / "mail"
        for path in sorted(folder.glob("*.eml")) if folder.is_dir() else []:
            if path.stem in files:
                problems.append(f"{path.name} written by two hosts: {files[path.stem]}, {path}")
            files[path.stem] = path
    for row in outbox:
        path = files.pop(row["id"], None)
        if row["status"] == "sent" and path is None:
            problems.append(f"message {row['id']} ({row['kind']}) sent, but no .eml file")
        elif path is not None and row["message_id"].encode() not in path.read_bytes():
            problems.append(f"{path.name} does not carry the Message-ID {row['message_id']}")
    problems += [f"{name}.eml belongs to no message in the outbox" for name in files]
    return problems


def check_erased(data_dir: Path, erased: set[str], values: dict[str, set[str]]) -> list[str]:
    """Return the files of the data directory that still hold a value of an erased event."""
    found = []
    kept_aside = {data_dir / "recovered", data_dir / "backups"}  # named to a person, not edited
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file() or any(folder in path.parents for folder in kept_aside):
            continue
        data = path.read_bytes()
        for event_id in erased:
            for value in values.get(event_id, set()):
                if re.search(re.escape(value.encode()) + rb"(?![0-9])", data):
                    found.append(f"{path.relative_to(data_dir)} still holds {value!r}")
    return found


def check_versions(events: dict, entries: list[dict[str, str]]) -> list[str]:
    """Return events whose audit versions do not ascend or do not include the stored version."""
    versions: dict[str, list[int]] = {}
    for entry in entries:
        versions.setdefault(entry["event_id"], []).append(int(entry["version"]))
    problems = []
    for event_id, numbers in versions.items():
        if numbers != sorted(set(numbers)):
            problems.append(f"{event_id}: audit versions {numbers} do not ascend")
    for event_id, event in events.items():
        if int(event["version"]) not in versions.get(event_id, []):
            problems.append(f"{event_id}: version {event['version']} has no audit entry")
    return problems


# What every client was told, put together, and the store checked against it


class Tally:
    """Every client's report put together (changes of erased events apart)."""

    def __init__(self, reports: list[dict[str, Any]], cli_titles: list[str]) -> None:
        self.reports = reports
        self.erased = {event_id for report in reports for event_id in report["erased"]}
        self.every_change: list[tuple[str, str, str, str, str, str]] = [
            change for report in reports for change in report["changes"]
        ]
        self.changes = [change for change in self.every_change if change[3] not in self.erased]
        self.erased_values: dict[str, set[str]] = {}
        for _kind, _action, _who, event_id, name, value in self.every_change:
            if event_id in self.erased and name in ERASED_FIELDS and value:
                self.erased_values.setdefault(event_id, set()).add(value)
        self.links = [
            (event_id, path)
            for report in reports
            for event_id, path in report["links"]
            if event_id not in self.erased
        ]
        self.created = [event_id for report in reports for event_id in report["created"]]
        self.imported = [title for report in reports for title in report["imported"]]
        self.imported += cli_titles
        self.statuses: Counter[int] = Counter()
        self.ops: Counter[str] = Counter()
        self.done_before: Counter[str] = Counter()
        for report in reports:
            self.statuses.update({int(code): count for code, count in report["statuses"].items()})
            self.ops.update(report["ops"])
            self.done_before.update(report["done_before"])

    def summary(self) -> str:
        """Return what the clients did and were told, for the test's output."""
        reports = self.reports
        return (
            f"{sum(self.ops.values())} acknowledged operations by kind: "
            f"{dict(sorted(self.ops.items()))}; {sum(r['cut_offs'] for r in reports)} requests "
            f"cut off and retried ({sum(r['cut_posts'] for r in reports)} of them POSTs); "
            f"{sum(r['conflicts'] for r in reports)} retries answered 409; found done by an "
            f"unanswered request: {dict(self.done_before)}; status codes: "
            f"{dict(sorted(self.statuses.items()))}"
        )


def check_store(tally: Tally, events: dict, entries: list[dict[str, str]]) -> list[str]:
    """Return every way the store differs from what the clients were told, named by check.

    Each acknowledged change is there exactly once with its last value, and its audit entry;
    no client saw a 5xx or an anomaly; erased events are gone, with their erase entries.
    """
    problems = [f"a {code} answer" for code in tally.statuses if code >= 500]
    problems += [anomaly for report in tally.reports for anomaly in report["anomalies"]]
    problems += [
        f"{event_id} created twice" for event_id, n in Counter(tally.created).items() if n > 1
    ]
    problems += [f"{event_id} not stored" for event_id in tally.created if event_id not in events]
    titles = Counter(event["title"] for event in events.values())
    problems += [
        f"{title!r} imported, stored {titles[title]} times"
        for title in tally.imported
        if titles[title] != 1
    ]
    import_audit = {(entry["event_id"], entry["action"]) for entry in entries}
    problems += [
        f"{event_id} imported without its import entry"
        for event_id, event in events.items()
        if event["title"] in tally.imported and (event_id, "import") not in import_audit
    ]
    problems += check_final_values(tally.changes, events)
    problems += check_audit(tally.changes, entries)
    problems += check_versions(events, entries)
    problems += check_links(tally.links, events)
    problems += [
        f"{event_id} erased, still stored" for event_id in tally.erased if event_id in events
    ]
    erase_audit = {entry["event_id"] for entry in entries if entry["action"] == "erase"}
    problems += [
        f"{event_id} erased without an entry" for event_id in sorted(tally.erased - erase_audit)
    ]
    return problems
