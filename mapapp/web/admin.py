"""Coordinators' pages under /admin: pending queue, moderation actions, all events, audit.

The dashboard's pages (mapapp.web.dashboard) register on this blueprint too.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.exceptions import BadRequest, NotFound
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from mapapp import (
    access,
    admin_form,
    audit,
    event_text,
    moderation,
    notices,
    pending_changes,
    placing,
    review_queue,
    submission_rules,
)
from mapapp.events import (
    CATEGORIES,
    FIELD_LABELS,
    FORMATS,
    MAX_LENGTHS,
    STATUSES,
)
from mapapp.storage import EventNotFoundError
from mapapp.web.auth import safe_next
from mapapp.web.links import links
from mapapp.web.notify import notify

EXPIRED_MESSAGE = "The form expired; please try again."
EXPIRED_JSON_MESSAGE = "The form expired: reload the page and try again. Nothing was saved."
# An in-place action's answer that is not a success (seen by static/js/admin-queue.js).
INVALID_STATUS = 422
CONFLICT_NOTICE = (
    "Nothing was saved: someone changed this event after you loaded the page. Here it is as it "
    "is now; look at it once more."
)
# The anchor of a card or heading to come back to after an action: "event-<id>", "change-<id>".
ANCHOR_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,80}")
AUDIT_PER_PAGE = 50
# ASCII digits only (str.isdigit() also accepts "²", which int() refuses), 1 to 999999.
PAGE_PATTERN = re.compile(r"[1-9][0-9]{0,5}")
PAGE_MESSAGE = "Page: give a page number such as 2 (a whole number from 1)."
# What a bulk action did, one sentence for one event and one for several (ready for ngettext).
BULK_APPROVED = ("Approved 1 event.", "Approved {n} events.")
BULK_REJECTED = ("Rejected 1 event.", "Rejected {n} events.")

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

# Stored values as people read them, in every template: a UTC time ("Fri 15 Oct 2026, 12:00 UTC",
# not "2026-10-15T12:00:00Z") and a status ("Pending review", not "pending").
blueprint.add_app_template_filter(event_text.utc_line, "utc_time")
blueprint.add_app_template_filter(event_text.status_label, "status_label")


class ActionForm(FlaskForm):
    """A button that changes something: the CSRF token and the version of the event seen."""

    next = HiddenField()
    version = HiddenField()


class RejectForm(ActionForm):
    """Reject with a reason."""

    reason = TextAreaField(
        "Reason",
        validators=[
            DataRequired("Reason: say why the event is rejected."),
            Length(max=MAX_LENGTHS["moderation_note"]),
        ],
    )


class RejectChangeForm(ActionForm):
    """Reject an organiser's waiting change with a reason."""

    reason = TextAreaField(
        "Reason",
        validators=[
            DataRequired(moderation.CHANGE_REASON_MESSAGE),
            Length(max=MAX_LENGTHS["change_note"]),
        ],
    )


class PlaceForm(ActionForm):
    """Place an event where the coordinator clicked."""

    latitude = HiddenField()
    longitude = HiddenField()


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
def queue() -> ResponseReturnValue:
    """Show the events waiting for review, filtered, sorted and paged, each on a small map."""
    frame = access.events().frame()
    query = review_queue.parse_query(request.args.to_dict(flat=False))
    page = review_queue.paginate(review_queue.pending_events(frame, query), _page_number())
    return render_template(
        "admin/queue.html",
        page=page,
        query=query,
        choices=_choices(frame),
        forms=_forms(),
        back_url=_list_url("admin.queue", query, page.number),
        can_change=access.current().can_change,
        waiting=review_queue.waiting_changes(frame, query),
    ), 400 if query.errors else 200


@blueprint.post("/approve")
def approve_many() -> ResponseReturnValue:
    """Approve the ticked events."""
    form = ActionForm()
    ids = request.form.getlist("ids")
    if not form.validate_on_submit():
        flash(EXPIRED_MESSAGE, "error")
    elif not ids:
        flash("Tick at least one event to approve.", "error")
    else:
        versions = {event_id: request.form.get(f"version-{event_id}", "") for event_id in ids}
        outcome = moderation.bulk_approve(versions, current_user.name)
        _tell_approved(outcome)
        _report(outcome, BULK_APPROVED)
        if outcome.conflict:
            titles = ", ".join(f"“{event['title']}”" for event in outcome.conflict.values())
            flash(
                f"Not approved, because they changed since you loaded the page: {titles}. "
                "They are shown again as they are now; look at them once more.",
                "error",
            )
    return redirect(safe_next(form.next.data), code=303)


@blueprint.post("/reject")
def reject_many() -> ResponseReturnValue:
    """Reject the ticked events with one reason; each organiser is told with a fresh edit link."""
    form = ActionForm()
    ids = request.form.getlist("ids")
    if not form.validate_on_submit():
        flash(EXPIRED_MESSAGE, "error")
    elif not ids:
        flash("Tick at least one event to reject.", "error")
    else:
        versions = {event_id: request.form.get(f"version-{event_id}", "") for event_id in ids}
        outcome = moderation.bulk_reject(
            versions,
            current_user.name,
            request.form.get("reason", ""),
            str(current_app.config["SECRET_KEY"]),
        )
        for rejected in outcome.events:
            if token := outcome.edit_tokens.get(rejected["id"]):
                reason = rejected["moderation_note"]
                notify(notices.rejected, rejected, reason, token, event_id=rejected["id"])
        _report(outcome, BULK_REJECTED)
        if outcome.conflict:
            titles = ", ".join(f"“{event['title']}”" for event in outcome.conflict.values())
            flash(
                f"Not rejected, because they changed since you loaded the page: {titles}. "
                "They are shown again as they are now; look at them once more.",
                "error",
            )
    return redirect(safe_next(form.next.data), code=303)


@blueprint.post("/events/<event_id>/approve")
def approve(event_id: str) -> ResponseReturnValue:
    """Approve one event, as it was when the coordinator saw it."""
    form = ActionForm()
    if not form.validate_on_submit():
        return _expired(form.next.data)
    outcome = moderation.approve(event_id, current_user.name, form.version.data or "")
    _tell_approved(outcome)
    return _answer(outcome, "approve", "Approved the event.", form.next.data)


@blueprint.post("/events/<event_id>/reject")
def reject(event_id: str) -> ResponseReturnValue:
    """Reject one event with a reason."""
    form = RejectForm()
    if not form.validate_on_submit():
        return _invalid_form(form)
    outcome = moderation.reject(
        event_id,
        current_user.name,
        form.reason.data or "",
        form.version.data or "",
        secret_key=str(current_app.config["SECRET_KEY"]),
    )
    if outcome.edit_token:
        rejected = outcome.events[0]
        reason = rejected["moderation_note"]
        notify(notices.rejected, rejected, reason, outcome.edit_token, event_id=event_id)
    typed = {"moderation_note": form.reason.data or ""}
    return _answer(outcome, "reject", "Rejected the event.", form.next.data, typed)


@blueprint.post("/events/<event_id>/place")
def place(event_id: str) -> ResponseReturnValue:
    """Place or move an event where the coordinator clicked."""
    form = PlaceForm()
    if not form.validate_on_submit():
        return _expired(form.next.data)
    latitude, longitude = form.latitude.data or "", form.longitude.data or ""
    outcome = moderation.place(
        event_id, current_user.name, latitude, longitude, form.version.data or ""
    )
    typed = {"latitude": latitude, "longitude": longitude}
    placed = "Placed the event on the map."
    if outcome.events and (zone := outcome.events[0]["timezone"]):
        placed = f"Placed the event on the map: its times are in {zone}."
    if outcome.ok and outcome.events:  # placed: say so if the point is outside its country
        if warning := placing.outside_warning(outcome.events[0], by_hand=False):
            if _wants_json():
                placed = f"{placed} {warning}"
            else:
                flash(warning, "warning")
    return _answer(outcome, "place", placed, form.next.data, typed)


@blueprint.post("/events/<event_id>/approve-change")
def approve_change(event_id: str) -> ResponseReturnValue:
    """Publish an organiser's waiting change of an approved event."""
    form = ActionForm()
    if not form.validate_on_submit():
        return _expired(form.next.data)
    outcome = moderation.approve_change(
        event_id, current_user.name, form.version.data or "", links()
    )
    return _answer(outcome, "approve-change", "Published the organiser's change.", form.next.data)


@blueprint.post("/events/<event_id>/reject-change")
def reject_change(event_id: str) -> ResponseReturnValue:
    """Turn down an organiser's waiting change with a reason; the event stays as approved."""
    form = RejectChangeForm()
    if not form.validate_on_submit():
        return _invalid_form(form)
    outcome = moderation.reject_change(
        event_id,
        current_user.name,
        form.reason.data or "",
        form.version.data or "",
        str(current_app.config["SECRET_KEY"]),
        links(),
    )
    typed = {"change_note": form.reason.data or ""}
    success = "Turned down the organiser's change; the event stays as it was approved."
    return _answer(outcome, "reject-change", success, form.next.data, typed)


def _answer(
    outcome: moderation.Outcome,
    action: str,
    success: str,
    next_url: str | None,
    typed: dict[str, str] | None = None,
) -> ResponseReturnValue:
    """Redirect after a saved action (303); show a lost race as 409 with the event as it is now.

    To a script (Accept: application/json) the answer is JSON instead: the message, and the
    card as it is now where it stays in the list (see _json_answer).
    """
    if _wants_json():
        return _json_answer(outcome, action, success, next_url)
    if outcome.conflict:
        current = next(iter(outcome.conflict.values()))
        return render_template(
            "admin/conflict.html",
            action=action,
            current=current,
            typed=typed or {},
            labels=FIELD_LABELS,
            fields=moderation.EDITABLE_FIELDS,
            action_form=ActionForm(formdata=None),
            reject_form=RejectForm(formdata=None),
            place_form=PlaceForm(formdata=None),
            next_url=_back(next_url),
            changes=pending_changes.changes_of(current),
        ), 409
    if outcome.errors.get("version") == moderation.MISSING_VERSION_MESSAGE:
        raise BadRequest(moderation.MISSING_VERSION_MESSAGE)
    _report(outcome, success)
    return redirect(_back(next_url), code=303)


@blueprint.route("/events/<event_id>/edit", methods=["GET", "POST"])
def edit(event_id: str) -> ResponseReturnValue:
    """Show an event in the edit form (menus, date and time, the map) and save changes."""
    form = ActionForm()
    event = access.events().require_changeable(event_id)
    errors: dict[str, str] = {}
    values = admin_form.form_values(event)
    version = event["version"]
    conflict: dict[str, str] | None = None
    sent: dict[str, str] = {}
    status = 200
    if form.validate_on_submit():
        saved = admin_form.save(
            event_id, current_user.name, request.form, request.form.get("version", "")
        )
        outcome = saved.outcome
        if outcome.ok:
            flash("Saved the event.", "success")
            if warning := submission_rules.ended_warning(outcome.events[0]):
                flash(warning, "warning")
            if saved.parsed.moved and (
                warning := placing.outside_warning(outcome.events[0], by_hand=False)
            ):
                flash(warning, "warning")
            return redirect(url_for("admin.edit", event_id=event_id), code=303)
        errors = outcome.errors
        values = admin_form.refill(event, request.form)  # keep what the person typed
        if outcome.conflict:
            conflict = event = outcome.conflict[event_id]
            version = event["version"]  # saving again means: keep mine over theirs
            sent = {**conflict, **saved.parsed.values}
            status = 409
        else:
            version = request.form.get("version", "") or version
            status = 400
    elif request.method == "POST":
        errors = {"csrf_token": "The form expired; please send it again."}
        status = 400
    scope = access.current()
    return render_template(
        "admin/edit.html",
        event=event,
        version=version,
        conflict=conflict,
        conflict_now=admin_form.display(conflict or {}),
        conflict_sent=admin_form.display(sent),
        values=values,
        shown=admin_form.display(values),
        errors=errors,
        anchors=admin_form.anchors(),
        form=form,
        groups=admin_form.layout(scope),
        zone_menu=admin_form.zone_menu(scope),
        read_only=admin_form.read_only(event),
        prompts=admin_form.PROMPTS,
        moved_message=admin_form.MOVED_MESSAGE,
        statuses=STATUSES,
        fields=moderation.EDITABLE_FIELDS,
        labels=FIELD_LABELS,
        history=audit.page(1, AUDIT_PER_PAGE, event_id=event_id),
        changes=pending_changes.changes_of(event) if pending_changes.is_waiting(event) else [],
    ), status


@blueprint.get("/events")
def events() -> ResponseReturnValue:
    """List every event, filtered as the queue is and by status, sorted, paged."""
    frame = access.events().frame()
    query = review_queue.parse_query(request.args.to_dict(flat=False), list_page=True)
    page = review_queue.paginate(review_queue.listed_events(frame, query), _page_number())
    return render_template(
        "admin/events.html",
        page=page,
        query=query,
        choices=_choices(frame),
        statuses=STATUSES,
        export_args=_export_args(query),
    ), 400 if query.errors else 200


def _json_answer(
    outcome: moderation.Outcome, action: str, success: str, next_url: str | None
) -> ResponseReturnValue:
    """Answer an in-place action: 200 with the message, 409 with the card as it is now, 422.

    "removed" says whether the card leaves the list (an approved event leaves the queue; a
    placed one stays, and "html" holds its card as it is now).
    """
    kind = "change" if action.endswith("-change") else "event"
    if outcome.conflict:
        current = next(iter(outcome.conflict.values()))
        body = {"ok": False, "message": CONFLICT_NOTICE, "event_id": current["id"]}
        body["html"] = _card_html(kind, current, next_url, CONFLICT_NOTICE)
        return jsonify(body), 409
    if outcome.errors.get("version") == moderation.MISSING_VERSION_MESSAGE:
        raise BadRequest(moderation.MISSING_VERSION_MESSAGE)
    if outcome.errors or not outcome.events:
        message = " ".join(outcome.errors.values())
        return jsonify(ok=False, message=message, errors=outcome.errors), INVALID_STATUS
    event = outcome.events[0]
    if kind == "change":
        removed = not pending_changes.is_waiting(event)
    else:
        removed = event["status"] != review_queue.PENDING
    body = {
        "ok": True,
        "message": success,
        "event_id": event["id"],
        "status": event["status"],
        "removed": removed,
        "html": "" if removed else _card_html(kind, event, next_url),
    }
    return jsonify(body), 200


def _card_html(kind: str, event: dict[str, str], next_url: str | None, notice: str = "") -> str:
    """Return the queue's card of an event as it is now (its forms return to next_url)."""
    return render_template(
        "admin/_card.html",
        kind=kind,
        event=event,
        card=review_queue.card(event),
        changes=pending_changes.changes_of(event),
        forms=_forms(),
        next_url=_back(next_url),
        can_change=access.current().can_change,
        notice=notice,
    ).strip()


def _back(next_url: str | None) -> str:
    """Return where an action returns to: a path of this site, with a card's anchor if it had one."""
    path, _, anchor = (next_url or "").partition("#")
    back = safe_next(path)
    return f"{back}#{anchor}" if ANCHOR_PATTERN.fullmatch(anchor) else back


def _expired(next_url: str | None) -> ResponseReturnValue:
    """Answer a form whose CSRF token expired: 400 to a script, back to the list for a person."""
    if _wants_json():
        return jsonify(ok=False, message=EXPIRED_JSON_MESSAGE), 400
    flash(EXPIRED_MESSAGE, "error")
    return redirect(_back(next_url), code=303)


def _invalid_form(form: ActionForm) -> ResponseReturnValue:
    """Answer a form that failed its own checks (a missing reason): 422 or 400 to a script."""
    if "csrf_token" in form.errors:
        return _expired(form.next.data)
    messages = [
        error if ":" in error else f"Reason: {error}"
        for errors in form.errors.values()
        for error in errors
    ]
    if _wants_json():
        return jsonify(ok=False, message=" ".join(messages)), INVALID_STATUS
    for message in messages:
        flash(message, "error")
    return redirect(_back(form.next.data), code=303)


def _forms() -> dict[str, Any]:
    """Return the queue's forms, for their CSRF tokens."""
    return {
        "action": ActionForm(formdata=None),
        "reject": RejectForm(formdata=None),
        "place": PlaceForm(formdata=None),
        "reject_change": RejectChangeForm(formdata=None),
    }


def _choices(frame: pd.DataFrame) -> dict[str, Any]:
    """Return the filter menus' options for the events a coordinator sees."""
    return {
        "countries": review_queue.country_choices(frame),
        "categories": CATEGORIES,
        "formats": FORMATS,
        "editions": review_queue.editions(frame),
        "sorts": review_queue.SORTS,
    }


def _list_url(endpoint: str, query: review_queue.Query, number: int) -> str:
    """Return the list's address with its filters and page, where actions come back to."""
    args: dict[str, Any] = query.to_args()
    if number > 1:
        args["page"] = str(number)
    return url_for(endpoint, **args)


def _wants_json() -> bool:
    """Return whether the client is a script that asked for JSON (mapapp.web.wants_json)."""
    from mapapp.web import wants_json  # mapapp.web imports this module

    return wants_json()


def _tell_approved(outcome: moderation.Outcome) -> None:
    """Tell the organisers of the events an action has just approved."""
    for event in outcome.events:
        if event["id"] in outcome.status_changed and event["status"] == "approved":
            notify(notices.approved, event, event_id=event["id"])


def _report(outcome: moderation.Outcome, success: str | tuple[str, str]) -> None:
    """Flash what an action did, or why it saved nothing.

    A bulk action's success is a pair: the sentence for one event and the one for several.
    """
    if outcome.events and not outcome.errors:
        count = len(outcome.events)
        if isinstance(success, tuple):
            success = success[0] if count == 1 else success[1]
        flash(success.format(n=count), "success")
    for message in outcome.errors.values():
        flash(message, "error")


def _page_number() -> int:
    """Return the page asked for in ?page= (1 when absent); answer 400 for anything else."""
    raw = request.args.get("page", "").strip()
    if not raw:
        return 1
    if not PAGE_PATTERN.fullmatch(raw):
        raise BadRequest(PAGE_MESSAGE)
    return int(raw)


def _export_args(query: review_queue.Query) -> dict[str, str]:
    """Return the list's filters as the private export reads them (its "format" is the file's)."""
    args = query.event_filter.to_args() | _status_arg(query.event_filter.statuses)
    if "format" in args:
        args["event_format"] = args.pop("format")
    return args


def _status_arg(statuses: tuple[str, ...]) -> dict[str, str]:
    """Return the status filter as a query parameter."""
    return {"status": ",".join(statuses)} if statuses else {}
