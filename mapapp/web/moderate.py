"""The pending queue and the moderation actions, answered in place (JSON) or by a redirect.

Registered on the admin blueprint (mapapp.web.admin): the same /admin addresses and endpoints.
An action posted by static/js/admin-queue.js gets JSON (the card as it is now, or why nothing was
saved); a plain form post is redirected back to the card it came from.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.exceptions import BadRequest

from mapapp import (
    access,
    event_text,
    moderation,
    notices,
    pending_changes,
    placing,
    review_queue,
)
from mapapp.events import FIELD_LABELS
from mapapp.i18n import N_, _, ngettext
from mapapp.web.admin import (
    BULK_APPROVED,
    BULK_REJECTED,
    ActionForm,
    PlaceForm,
    RejectChangeForm,
    RejectForm,
    _choices,
    _page_number,
    blueprint,
    translated,
)
from mapapp.web.auth import safe_next
from mapapp.web.links import links
from mapapp.web.notify import notify

EXPIRED_MESSAGE = N_("The form expired; please try again.")
EXPIRED_JSON_MESSAGE = N_("The form expired: reload the page and try again. Nothing was saved.")
# An in-place action's answer that is not a success (seen by static/js/admin-queue.js).
INVALID_STATUS = 422
CONFLICT_NOTICE = N_(
    "Nothing was saved: someone changed this event after you loaded the page. Here it is as it "
    "is now; look at it once more."
)
# Which ticked events a bulk action left alone: whole sentences, for the translation catalog.
NOT_APPROVED_MEANWHILE = N_(
    "Not approved, because they changed since you loaded the page: %(titles)s. They are shown "
    "again as they are now; look at them once more."
)
NOT_REJECTED_MEANWHILE = N_(
    "Not rejected, because they changed since you loaded the page: %(titles)s. They are shown "
    "again as they are now; look at them once more."
)
# The anchor of a card or heading to come back to after an action: "event-<id>", "change-<id>".
ANCHOR_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,80}")


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
        flash(_(EXPIRED_MESSAGE), "error")
    elif not ids:
        flash(_("Tick at least one event to approve."), "error")
    else:
        versions = {event_id: request.form.get(f"version-{event_id}", "") for event_id in ids}
        outcome = moderation.bulk_approve(versions, current_user.name)
        _tell_approved(outcome)
        _report(outcome, BULK_APPROVED)
        _report_changed_meanwhile(outcome, NOT_APPROVED_MEANWHILE)
    return redirect(safe_next(form.next.data), code=303)


@blueprint.post("/reject")
def reject_many() -> ResponseReturnValue:
    """Reject the ticked events with one reason; each organiser is told with a fresh edit link."""
    form = ActionForm()
    ids = request.form.getlist("ids")
    if not form.validate_on_submit():
        flash(_(EXPIRED_MESSAGE), "error")
    elif not ids:
        flash(_("Tick at least one event to reject."), "error")
    else:
        versions = {event_id: request.form.get(f"version-{event_id}", "") for event_id in ids}
        outcome = moderation.bulk_reject(
            versions,
            current_user.name,
            request.form.get("reason", ""),
            str(current_app.config["SECRET_KEY"]),
        )
        for rejected in outcome.events:
            _tell_rejected(rejected, outcome.edit_tokens.get(rejected["id"], ""))
        _report(outcome, BULK_REJECTED)
        _report_changed_meanwhile(outcome, NOT_REJECTED_MEANWHILE)
    return redirect(safe_next(form.next.data), code=303)


@blueprint.post("/events/<event_id>/approve")
def approve(event_id: str) -> ResponseReturnValue:
    """Approve one event, as it was when the coordinator saw it."""
    form = ActionForm()
    if not form.validate_on_submit():
        return _expired(form.next.data)
    outcome = moderation.approve(event_id, current_user.name, form.version.data or "")
    _tell_approved(outcome)
    return _answer(outcome, "approve", _("Approved the event."), form.next.data)


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
        _tell_rejected(outcome.events[0], outcome.edit_token)
    typed = {"moderation_note": form.reason.data or ""}
    return _answer(outcome, "reject", _("Rejected the event."), form.next.data, typed)


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
    placed = _("Placed the event on the map.")
    if outcome.events and (zone := outcome.events[0]["timezone"]):
        placed = _("Placed the event on the map: its times are in %(zone)s.", zone=zone)
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
    published = _("Published the organiser's change.")
    return _answer(outcome, "approve-change", published, form.next.data)


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
    success = _("Turned down the organiser's change; the event stays as it was approved.")
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
            when=event_text.when_line(current),
            where=event_text.place_line(current),
            typed=typed or {},
            labels=translated(FIELD_LABELS),
            fields=moderation.EDITABLE_FIELDS,
            action_form=ActionForm(formdata=None),
            reject_form=RejectForm(formdata=None),
            place_form=PlaceForm(formdata=None),
            next_url=_back(next_url),
            changes=pending_changes.changes_of(current),
        ), 409
    if _missing_version(outcome):
        raise BadRequest(_(moderation.MISSING_VERSION_MESSAGE))
    _report(outcome, success)
    return redirect(_back(next_url), code=303)


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
        notice = _(CONFLICT_NOTICE)
        body = {"ok": False, "message": notice, "event_id": current["id"]}
        body["html"] = _card_html(kind, current, next_url, notice)
        return jsonify(body), 409
    if _missing_version(outcome):
        raise BadRequest(_(moderation.MISSING_VERSION_MESSAGE))
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
    path, _hash, anchor = (next_url or "").partition("#")
    back = safe_next(path)
    return f"{back}#{anchor}" if ANCHOR_PATTERN.fullmatch(anchor) else back


def _expired(next_url: str | None) -> ResponseReturnValue:
    """Answer a form whose CSRF token expired: 400 to a script, back to the list for a person."""
    if _wants_json():
        return jsonify(ok=False, message=_(EXPIRED_JSON_MESSAGE)), 400
    flash(_(EXPIRED_MESSAGE), "error")
    return redirect(_back(next_url), code=303)


def _invalid_form(form: ActionForm) -> ResponseReturnValue:
    """Answer a form that failed its own checks (a missing reason): 422 or 400 to a script."""
    if "csrf_token" in form.errors:
        return _expired(form.next.data)
    messages = [
        str(error) if ":" in str(error) else _("Reason: %(error)s", error=str(error))
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


def _tell_rejected(event: dict[str, str], edit_token: str) -> None:
    """Tell an event's organiser why it was rejected, with the fresh edit link stored with it."""
    if edit_token:
        reason = event["moderation_note"]
        notify(notices.rejected, event, reason, edit_token, event_id=event["id"])


def _report_changed_meanwhile(outcome: moderation.Outcome, message: str) -> None:
    """Flash which ticked events a bulk action left alone because they changed meanwhile."""
    if outcome.conflict:
        # Translators: an event's title in quotation marks, in a list of titles.
        quoted = (_("“%(title)s”", title=event["title"]) for event in outcome.conflict.values())
        flash(_(message, titles=", ".join(quoted)), "error")


def _tell_approved(outcome: moderation.Outcome) -> None:
    """Tell the organisers of the events an action has just approved."""
    for event in outcome.events:
        if event["id"] in outcome.status_changed and event["status"] == "approved":
            notify(notices.approved, event, event_id=event["id"])


def _missing_version(outcome: moderation.Outcome) -> bool:
    """Return whether the form came without the version of the event seen (a broken client)."""
    missing = moderation.MISSING_VERSION_MESSAGE
    return outcome.errors.get("version") in (missing, _(missing))


def _report(outcome: moderation.Outcome, success: str | tuple[str, str]) -> None:
    """Flash what an action did (translated), or why it saved nothing.

    A bulk action's success is a pair (marked with Nn_): the singular and plural sentences.
    """
    if outcome.events and not outcome.errors:
        count = len(outcome.events)
        if isinstance(success, tuple):
            success = ngettext(success[0], success[1], count)
        flash(success, "success")
    for message in outcome.errors.values():
        flash(message, "error")
