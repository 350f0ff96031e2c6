"""Coordinators' pages under /admin: the blueprint, its forms, the edit form and all events.

The queue and its actions (mapapp.web.moderate), the dashboard (mapapp.web.dashboard), the audit
log (mapapp.web.audit_views) and the API keys (mapapp.web.key_views) register on this blueprint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd
from flask import (
    Blueprint,
    current_app,
    flash,
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
from mapapp.i18n import N_, Nn_, _, format_number, lazy_gettext
from mapapp.storage import EventNotFoundError

AUDIT_PER_PAGE = 50
# ASCII digits only (str.isdigit() also accepts "²", which int() refuses), 1 to 999999.
PAGE_PATTERN = re.compile(r"[1-9][0-9]{0,5}")
PAGE_MESSAGE = N_("Page: give a page number such as 2 (a whole number from 1).")
# What a bulk action did, one sentence for one event and one for several (for ngettext).
BULK_APPROVED = Nn_("Approved %(num)s event.", "Approved %(num)s events.")
BULK_REJECTED = Nn_("Rejected %(num)s event.", "Rejected %(num)s events.")

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

# Stored values as people read them, in every template: a UTC time ("Fri 15 Oct 2026, 12:00 UTC",
# not "2026-10-15T12:00:00Z") and a status ("Pending review", not "pending").
blueprint.add_app_template_filter(event_text.utc_line, "utc_time")
blueprint.add_app_template_filter(event_text.status_label, "status_label")
# A count as the interface language writes it ("12 345" in French).
blueprint.add_app_template_filter(format_number, "number")


class ActionForm(FlaskForm):
    """A button that changes something: the CSRF token and the version of the event seen."""

    next = HiddenField()
    version = HiddenField()


class RejectForm(ActionForm):
    """Reject with a reason."""

    reason = TextAreaField(
        lazy_gettext("Reason"),
        validators=[
            DataRequired(lazy_gettext("Reason: say why the event is rejected.")),
            Length(max=MAX_LENGTHS["moderation_note"]),
        ],
    )


class RejectChangeForm(ActionForm):
    """Reject an organiser's waiting change with a reason."""

    reason = TextAreaField(
        lazy_gettext("Reason"),
        validators=[
            DataRequired(lazy_gettext(moderation.CHANGE_REASON_MESSAGE)),
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
    missing = NotFound(_("There is no event with the id %(id)s.", id=repr(error.args[0])))
    return current_app.handle_http_exception(missing)


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
            flash(_("Saved the event."), "success")
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
        errors = {"csrf_token": _("The form expired; please send it again.")}
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
        prompts=translated(admin_form.PROMPTS),
        moved_message=_(admin_form.MOVED_MESSAGE),
        statuses=translated(STATUSES),
        fields=moderation.EDITABLE_FIELDS,
        labels=translated(FIELD_LABELS),
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
        statuses=translated(STATUSES),
        export_args=_export_args(query),
    ), 400 if query.errors else 200


def _choices(frame: pd.DataFrame) -> dict[str, Any]:
    """Return the filter menus' options for the events a coordinator sees."""
    return {
        "countries": review_queue.country_choices(frame),
        "categories": translated(CATEGORIES),
        "formats": translated(FORMATS),
        "editions": review_queue.editions(frame),
        "sorts": translated(review_queue.SORTS),
    }


def translated(labels: Mapping[str, str]) -> dict[str, str]:
    """Return a table of English labels (marked with N_) in the interface language."""
    return {code: _(label) for code, label in labels.items()}


def _page_number() -> int:
    """Return the page asked for in ?page= (1 when absent); answer 400 for anything else."""
    raw = request.args.get("page", "").strip()
    if not raw:
        return 1
    if not PAGE_PATTERN.fullmatch(raw):
        raise BadRequest(_(PAGE_MESSAGE))
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
