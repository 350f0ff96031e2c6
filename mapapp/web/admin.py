"""Coordinators' pages under /admin: pending queue, moderation actions, all events, audit, dashboard."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.exceptions import NotFound
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from mapapp import audit, moderation, stats
from mapapp.events import (
    CATEGORIES,
    FIELD_LABELS,
    FORMATS,
    LOCATION_PRECISIONS,
    MAX_LENGTHS,
    STATUSES,
)
from mapapp.filters import apply_filter, parse_filter
from mapapp.storage import EventNotFoundError, get_store
from mapapp.web.auth import safe_next

PER_PAGE = 25
AUDIT_PER_PAGE = 50
# The edit form's choice fields and their options; other fields are text.
CHOICES: dict[str, dict[str, str]] = {
    "status": STATUSES,
    "category": CATEGORIES,
    "format": FORMATS,
    "location_precision": LOCATION_PRECISIONS,
}
MULTILINE = frozenset({"description", "moderation_note"})

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""

    next = HiddenField()


class RejectForm(ActionForm):
    """Reject with a reason."""

    reason = TextAreaField(
        "Reason",
        validators=[
            DataRequired("Reason: say why the event is rejected."),
            Length(max=MAX_LENGTHS["moderation_note"]),
        ],
    )


class PlaceForm(ActionForm):
    """Place an event where the coordinator clicked."""

    latitude = HiddenField()
    longitude = HiddenField()


@dataclass(frozen=True)
class Paged:
    """One page of events."""

    rows: list[dict[str, str]]
    number: int
    pages: int
    total: int


@blueprint.before_request
@login_required
def require_coordinator() -> None:
    """Let only signed-in coordinators in."""


@blueprint.errorhandler(EventNotFoundError)
def event_not_found(error: EventNotFoundError) -> ResponseReturnValue:
    """Answer 404 for an event id that is not in the store."""
    missing = NotFound(f"There is no event with the id {error.args[0]!r}.")
    return current_app.handle_http_exception(missing)


@blueprint.get("/")
def queue() -> str:
    """Show the events waiting for review, oldest first, each on a small map."""
    frame = get_store().frame()
    pending = frame[frame["status"] == "pending"].sort_values("created_at", kind="stable")
    return render_template(
        "admin/queue.html",
        paged=_paginate(pending, _page_number()),
        action_form=ActionForm(),
        reject_form=RejectForm(formdata=None),
        place_form=PlaceForm(formdata=None),
    )


@blueprint.post("/approve")
def approve_many() -> ResponseReturnValue:
    """Approve the ticked events."""
    form = ActionForm()
    ids = request.form.getlist("ids")
    if not form.validate_on_submit():
        flash("The form expired; please try again.", "error")
    elif not ids:
        flash("Tick at least one event to approve.", "error")
    else:
        _report(moderation.bulk_approve(ids, current_user.name), "Approved {n} event(s).")
    return redirect(safe_next(form.next.data))


@blueprint.post("/events/<event_id>/approve")
def approve(event_id: str) -> ResponseReturnValue:
    """Approve one event."""
    form = ActionForm()
    if form.validate_on_submit():
        _report(moderation.approve(event_id, current_user.name), "Approved the event.")
    else:
        flash("The form expired; please try again.", "error")
    return redirect(safe_next(form.next.data))


@blueprint.post("/events/<event_id>/reject")
def reject(event_id: str) -> ResponseReturnValue:
    """Reject one event with a reason."""
    form = RejectForm()
    if form.validate_on_submit():
        outcome = moderation.reject(event_id, current_user.name, form.reason.data or "")
        _report(outcome, "Rejected the event.")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(error if ":" in error else f"Reason: {error}", "error")
    return redirect(safe_next(form.next.data))


@blueprint.post("/events/<event_id>/place")
def place(event_id: str) -> ResponseReturnValue:
    """Place or move an event where the coordinator clicked."""
    form = PlaceForm()
    if form.validate_on_submit():
        outcome = moderation.place(
            event_id, current_user.name, form.latitude.data or "", form.longitude.data or ""
        )
        _report(outcome, "Placed the event on the map.")
    else:
        flash("The form expired; please try again.", "error")
    return redirect(safe_next(form.next.data))


@blueprint.route("/events/<event_id>/edit", methods=["GET", "POST"])
def edit(event_id: str) -> ResponseReturnValue:
    """Show every editable field of an event and save changes."""
    form = ActionForm()
    event = get_store().get(event_id)
    if event is None:
        raise EventNotFoundError(event_id)
    errors: dict[str, str] = {}
    values = event
    if form.validate_on_submit():
        submitted = {name: request.form.get(name, "") for name in moderation.EDITABLE_FIELDS}
        outcome = moderation.edit(
            event_id, current_user.name, submitted, request.form.get("version", "")
        )
        if outcome.ok:
            flash("Saved the event.", "success")
            return redirect(url_for("admin.edit", event_id=event_id))
        errors = outcome.errors
        # After a clash show the event as it is now; otherwise keep what the person typed.
        values = event if "version" in errors else {**event, **submitted}
    elif request.method == "POST":
        errors = {"csrf_token": "The form expired; please send it again."}
    status = 400 if errors else 200
    return render_template(
        "admin/edit.html",
        event=event,
        version=moderation.fingerprint(event),
        values=values,
        errors=errors,
        form=form,
        fields=moderation.EDITABLE_FIELDS,
        labels=FIELD_LABELS,
        choices=CHOICES,
        multiline=MULTILINE,
        history=audit.page(1, AUDIT_PER_PAGE, event_id=event_id),
        place_form=PlaceForm(formdata=None),
    ), status


@blueprint.get("/events")
def events() -> str:
    """List every event, filtered by status and search, paged."""
    event_filter = parse_filter(request.args, allow_status=True)
    frame = apply_filter(get_store().frame(), event_filter)
    frame = frame.sort_values(["starts_at", "title"], kind="stable")
    return render_template(
        "admin/events.html",
        paged=_paginate(frame, _page_number()),
        event_filter=event_filter,
        statuses=STATUSES,
        args=event_filter.to_args() | _status_arg(event_filter.statuses),
    )


@blueprint.get("/audit")
def audit_log() -> str:
    """Show the audit log, newest first, paged."""
    return render_template("admin/audit.html", page=audit.page(_page_number(), AUDIT_PER_PAGE))


@blueprint.get("/stats")
def stats_page() -> str:
    """Show the dashboard: events per country, category, format and day."""
    return render_template("admin/stats.html", dashboard=stats.dashboard(get_store().frame()))


def _report(outcome: moderation.Outcome, success: str) -> None:
    """Flash what an action did, or why it saved nothing."""
    if outcome.ok:
        flash(success.format(n=len(outcome.events)), "success")
    for message in outcome.errors.values():
        flash(message, "error")


def _page_number() -> int:
    """Return the page asked for in ?page=, 1 when absent or not a number."""
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


def _paginate(frame: pd.DataFrame, number: int, per_page: int = PER_PAGE) -> Paged:
    """Return one page of a frame's rows as dicts."""
    total = len(frame)
    pages = max(1, -(-total // per_page))
    number = min(number, pages)
    chunk = frame.iloc[(number - 1) * per_page : number * per_page]
    return Paged(chunk.to_dict("records"), number, pages, total)  # type: ignore[arg-type]


def _status_arg(statuses: tuple[str, ...]) -> dict[str, str]:
    """Return the status filter as a query parameter."""
    return {"status": ",".join(statuses)} if statuses else {}
