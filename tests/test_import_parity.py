"""The import and the submission form decide alike: one table of cases run through both.

The form side goes through the real submission path (mapapp.submissions: review, then confirm);
the import side through import_events on a CSV of the same values, one column per field. Each
side's verdict is accepted, accepted with a warning, or refused with a message naming the field.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask

from mapapp.events import FIELD_LABELS, current_edition, edition_date
from mapapp.imports import import_events
from mapapp.storage import EventStore
from mapapp.submission_rules import SUBMITTED_FIELDS
from mapapp.submissions import confirm_submission, review_submission, sign_draft, sign_started
from tests.conftest import make_submission

SECRET = "test-secret-key"
DAY = edition_date(current_edition())
PAST = edition_date(current_edition() - 1)  # over, and within the previous edition's window
ACCEPTED, WARNING, REFUSED = "accepted", "accepted with a warning", "refused"
ONLINE = {"format": "online", "venue": "", "city": "", "country": "KE", "timezone": ""}


@dataclass(frozen=True)
class Verdict:
    """What became of an event: accepted, with a warning, or refused naming a field."""

    outcome: str
    field: str = ""


def refused(name: str) -> Verdict:
    """Return the verdict of a refusal whose message names the field."""
    return Verdict(REFUSED, name)


# (case, the fields changed from a valid in-person submission, the verdict of both sides)
CASES: list[tuple[str, dict[str, str], Verdict]] = [
    ("valid in person", {}, Verdict(ACCEPTED)),
    ("valid online", ONLINE, Verdict(ACCEPTED)),
    (
        "a July date",
        {"starts_at": f"{DAY.year}-07-15T18:00", "ends_at": f"{DAY.year}-07-15T20:00"},
        refused("starts_at"),
    ),
    ("no title", {"title": ""}, refused("title")),
    ("a title too long", {"title": "x" * 201}, refused("title")),
    ("no organiser", {"organiser": ""}, refused("organiser")),
    ("no contact e-mail", {"contact_email": ""}, refused("contact_email")),
    ("a broken contact e-mail", {"contact_email": "not-an-email"}, refused("contact_email")),
    ("no city for an event in person", {"city": "", "venue": ""}, refused("city")),
    ("an online event without a country", {**ONLINE, "country": ""}, refused("country")),
    ("an unknown country", {"country": "XX"}, refused("country")),
    ("an unknown category", {"category": "Disco"}, refused("category")),
    ("an unknown format", {"format": "teleported"}, refused("format")),
    ("an end before the start", {"ends_at": f"{DAY}T17:00"}, refused("ends_at")),
    (
        "an event of more than 90 days",
        {"ends_at": f"{DAY + timedelta(days=100)}T10:00"},
        refused("ends_at"),
    ),
    ("an unknown language", {"language": "xx"}, refused("language")),
    ("a website that is not an address", {"website": "not a website"}, refused("website")),
    (
        "an online zone of another country",
        {**ONLINE, "country": "AU", "timezone": "Asia/Tokyo"},
        refused("timezone"),
    ),
    ("a town nobody knows", {"city": "Zzyzxville"}, Verdict(WARNING)),
]
# Ended events: refused for organisers' new submissions, imported with a warning within the
# recent editions' window (issue 11, item 6): the one place where the two sides differ on purpose.
ENDED = {"starts_at": f"{PAST}T10:00", "ends_at": f"{PAST}T12:00"}


def form_verdict(app: Flask, store: EventStore, values: dict[str, str]) -> tuple[Verdict, str]:
    """Send the values through the form's review and confirmation; return the verdict."""
    with app.test_request_context():
        outcome = review_submission(
            store.frame(),
            values,
            consent=True,
            honeypot="",
            started=sign_started(SECRET),
            secret_key=SECRET,
            min_seconds=0,
        )
        if not outcome.errors:
            assert outcome.preview is not None
            preview = outcome.preview
            outcome = confirm_submission(
                store,
                SECRET,
                sign_draft(SECRET, preview),
                choice="0",
                latitude="",
                longitude="",
                submit_anyway=True,
                timezone=values.get("timezone", ""),
            )
    if outcome.errors:
        assert len(outcome.errors) == 1, outcome.errors
        (name, message), *_ = outcome.errors.items()
        return refused(name), message
    assert outcome.event is not None
    if preview.status == "not_found":
        return Verdict(WARNING), preview.message
    return Verdict(ACCEPTED), ""


def import_verdict(app: Flask, store: EventStore, values: dict[str, str]) -> tuple[Verdict, str]:
    """Import a CSV of the values, one column per submitted field; return the verdict."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SUBMITTED_FIELDS)
    writer.writerow([values.get(name, "") for name in SUBMITTED_FIELDS])
    with app.app_context():
        report = import_events(buffer.getvalue().encode(), "case.csv", store)
    if report.rejected:
        (note,) = report.rejected
        label = note.message.split(":", 1)[0]
        names = [name for name, text in FIELD_LABELS.items() if text == label]
        return refused(names[0] if names else label), note.message
    (added,) = report.added
    if report.warnings:
        return Verdict(WARNING), report.warnings[0].message
    return Verdict(ACCEPTED), ""


@pytest.mark.parametrize(
    ("values", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_the_import_and_the_form_decide_alike(
    app: Flask, store: EventStore, values: dict[str, str], expected: Verdict
) -> None:
    submission = make_submission(**values)
    imported, import_message = import_verdict(app, store, submission)
    submitted, form_message = form_verdict(app, store, submission)
    assert imported == submitted == expected, (import_message, form_message)
    if expected.outcome == REFUSED:  # each message names its field first, as "Start: ..."
        label = FIELD_LABELS[expected.field]
        assert import_message.startswith(f"{label}:"), import_message
        assert form_message.startswith(f"{label}:"), form_message


def test_a_july_date_gets_the_same_message_from_both(app: Flask, store: EventStore) -> None:
    values = make_submission(starts_at=f"{DAY.year}-07-15T18:00", ends_at="")
    _, import_message = import_verdict(app, store, values)
    _, form_message = form_verdict(app, store, values)
    assert import_message == form_message
    assert import_message.startswith(
        "Start: Rare Disease Day events take place around the last day of February;"
    )


def test_an_ended_event_is_refused_by_the_form_and_imported_with_a_warning(
    app: Flask, store: EventStore
) -> None:
    values = make_submission(**ENDED)
    imported, import_message = import_verdict(app, store, values)
    submitted, form_message = form_verdict(app, store, values)
    assert imported == Verdict(WARNING)
    assert import_message == (
        f"This event ended on {PAST.day} {PAST:%B %Y}: it is imported all the same, as past "
        "events of a recent edition may be."
    )
    assert submitted == refused("ends_at")
    assert form_message.startswith(f"This event ended on {PAST.day} {PAST:%B %Y}")
