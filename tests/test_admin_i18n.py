"""The coordinators' pages go through the catalog: a pseudo-translation shows on every string.

The catalogs are filled by translators later; here a stand-in catalog wraps every message in
⟦…⟧ (and marks the plural form it chose), so a string that bypasses gettext stays bare.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import flask_babel
import pytest
from babel.support import NullTranslations
from flask.testing import FlaskClient

from mapapp.storage import EventStore
from tests.conftest import make_event

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


class PseudoTranslations(NullTranslations):
    """Every message "translated" to ⟦message⟧; plurals say which form they chose."""

    def gettext(self, message: str) -> str:
        return f"⟦{message}⟧"

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return f"⟦{singular if n == 1 else plural}|{'one' if n == 1 else 'other'}⟧"

    ugettext = gettext
    ungettext = ngettext


@pytest.fixture
def pseudo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Answer every page from the pseudo catalog."""
    monkeypatch.setattr(flask_babel.Domain, "get_translations", lambda self: PseudoTranslations())
    yield


def token(client: FlaskClient, url: str = "/admin/") -> str:
    """Return the CSRF token of a signed-in page."""
    match = CSRF.search(client.get(url).get_data(as_text=True))
    assert match
    return match.group(1)


def test_the_sign_in_page_and_its_form_labels_are_translated(
    client: FlaskClient, pseudo: None
) -> None:
    page = client.get("/admin/sign-in").get_data(as_text=True)
    assert "<h1>⟦Coordinator sign-in⟧</h1>" in page
    assert "⟦Name or e-mail⟧</label>" in page  # a WTForms label, defined at import time
    assert "⟦Sign in⟧</button>" in page
    assert "No account yet? Write to" not in page.replace("⟦No account yet? Write to", "")


def test_the_queue_its_cards_and_its_counts_are_translated(
    coordinator_client: FlaskClient, store: EventStore, pseudo: None
) -> None:
    event = store.add(make_event(status="pending", title="Lumière à Lyon", language="fr"))
    page = coordinator_client.get("/admin/").get_data(as_text=True)
    assert "⟦Pending events⟧ <span" in page
    assert "⟦Approve the ticked events⟧" in page
    assert "<dt>⟦Organiser⟧</dt>" in page
    assert "⟦Search titles, towns, organisers and countries⟧" in page
    # The organiser's words stay theirs, marked with their direction and language.
    assert 'dir="auto" lang="fr">Lumière à Lyon</a>' in page
    # The scripts' sentences come from the page, translated.
    assert r"\u27e6New place: %(lat)s, %(lon)s. Press the button to save it.\u27e7" in page
    response = coordinator_client.post(
        "/admin/approve",
        data={
            "csrf_token": token(coordinator_client),
            "ids": [event["id"]],
            f"version-{event['id']}": event["version"],
            "next": "/admin/",
        },
        follow_redirects=True,
    )
    assert "⟦Approved 1 event.|one⟧" in response.get_data(as_text=True)


def test_an_in_place_answer_is_translated(
    coordinator_client: FlaskClient, store: EventStore, pseudo: None
) -> None:
    event = store.add(make_event(status="pending"))
    response = coordinator_client.post(
        f"/admin/events/{event['id']}/approve",
        data={"csrf_token": token(coordinator_client), "version": event["version"]},
        headers={"Accept": "application/json"},
    )
    assert response.get_json()["message"] == "⟦Approved the event.⟧"


def test_the_dashboard_counts_with_plural_forms(
    coordinator_client: FlaskClient, store: EventStore, pseudo: None
) -> None:
    store.add(make_event())
    page = coordinator_client.get("/admin/stats?year=all").get_data(as_text=True)
    assert "<h1>⟦Dashboard: all editions⟧</h1>" in page
    assert '⟦<strong id="total-approved">1</strong> approved event|one⟧' in page
    assert '"counts": {' in page and "approved event. Select the country" in page


def test_the_import_page_is_translated(coordinator_client: FlaskClient, pseudo: None) -> None:
    page = coordinator_client.get("/admin/import").get_data(as_text=True)
    assert "<h1>⟦Import events from a spreadsheet⟧</h1>" in page
    assert "⟦Upload a partner's list as CSV or Excel (.xlsx)." in page
    assert "⟦Spreadsheet (CSV or Excel .xlsx)⟧" in page
    assert "⟦Upload and preview⟧" in page


@pytest.mark.parametrize(
    "path",
    ["/admin/", "/admin/events", "/admin/stats", "/admin/audit", "/admin/keys", "/admin/accounts"],
)
def test_the_coordinators_navigation_is_translated(
    client_as: object, path: str, pseudo: None
) -> None:
    client = client_as("admin")  # type: ignore[operator]
    page = client.get(path).get_data(as_text=True)
    nav = page[page.index('<nav class="admin-nav"') : page.index("</nav>", page.index("admin-nav"))]
    for text in ("Pending queue", "All events", "Dashboard", "Audit log", "Accounts", "Sign out"):
        assert f"⟦{text}⟧" in nav
