"""Organisers' pages: the event form, its location preview, the confirmation and the edit link."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from mapapp import edit_links, notices, organiser_edits, pending_changes, submissions, timezones
from mapapp.duplicates import public_warning
from mapapp.events import FIELD_LABELS
from mapapp.forms import ConfirmForm, EditForm, SubmitForm, WithdrawForm, zone_choices
from mapapp.i18n import N_, _, current_code, current_locale, format_date, format_time
from mapapp.storage import ConflictError, get_store
from mapapp.web.limits import configured_limit, keeps_form, limiter
from mapapp.web.links import links
from mapapp.web.notify import notify

SESSION_TOKEN_KEY = "mapapp.edit_token"
CSRF_MESSAGE = N_("This form has expired: please send it again.")
# The preview's place choice is a candidate's index in ASCII digits (str.isdigit() takes "²" too).
PLACE_PATTERN = re.compile(r"[0-9]{1,3}")
INVALID_LINK_MESSAGE = N_("This edit link is not valid. Check that you copied all of it.")
# Translators: "Place" names the field (the place of the event on the map), as its legend says.
PLACE_MESSAGE = N_("Place: choose one of the places listed, or type the coordinates.")

# What the organiser is told after an edit, by what it came to (organiser_edits.edit_result).
EDIT_MESSAGES = {
    organiser_edits.SAVED: (
        "success",
        N_("Your changes are saved. A coordinator will review the event again."),
    ),
    organiser_edits.WAITING: (
        "success",
        N_(
            "Your change is saved and waits for a coordinator's review; the map shows the "
            "approved version until then."
        ),
    ),
    organiser_edits.CANCELLED: (
        "success",
        N_("Your event is as it was approved, so the change that was waiting is cancelled."),
    ),
    organiser_edits.UNCHANGED: ("info", N_("Nothing changed.")),
}

blueprint = Blueprint("submit", __name__)
log = logging.getLogger(__name__)
submit_limit = limiter.shared_limit(configured_limit("SUBMIT_RATE_LIMIT"), scope="submit")
# Previews geocode and search for duplicates: counted apart from the submissions they lead to.
preview_limit = limiter.shared_limit(configured_limit("PREVIEW_RATE_LIMIT"), scope="preview")
# Changes through edit links, counted per link and per client: each one rewrites the store.
edit_limit_per_link = limiter.shared_limit(
    configured_limit("EDIT_RATE_LIMIT"),
    scope="edit-link",
    key_func=lambda: str((request.view_args or {}).get("token", ""))[-32:],
    methods=["POST"],
)
edit_limit_per_client = limiter.shared_limit(
    configured_limit("EDIT_RATE_LIMIT"), scope="edit-client", methods=["POST"]
)


@blueprint.app_template_filter("event_start")
def event_start(value: str) -> str:
    """Return a local start ("2027-02-28T18:00") as the reader's language writes a day and time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    # CLDR's own way of joining a day and a time ("{1}, {0}"; "{1} à {0}").
    joined = str(current_locale().datetime_formats["medium"])
    return joined.replace("{1}", format_date(moment, "medium")).replace(
        "{0}", format_time(moment, "short")
    )


def _render_edit(
    event: dict[str, str],
    form: EditForm | None,
    errors: dict[str, str],
    *,
    conflict: bool = False,
    version: str = "",
) -> tuple[str, int]:
    """Show the edit page: the form as typed (or as stored), the event now after a lost race."""
    if form is None:  # the event as the organiser last sent it: with their waiting change
        shown = pending_changes.proposed(event)
        form = EditForm(formdata=None, data=submissions.form_values(shown))
        form.latitude.data, form.longitude.data = shown["latitude"], shown["longitude"]
    typed = {name: str(request.form.get(name, "")) for name in organiser_edits.CONTENT_FIELDS}
    status = 409 if conflict else (422 if errors else 200)
    return render_template(
        "edit.html",
        form=form,
        event=event,
        errors=errors,
        withdraw=WithdrawForm(formdata=None),
        # After a lost race the form keeps what was typed, and saving again overrides.
        version=version or event["version"],
        conflict=event if conflict and request.form.get("title") is not None else None,
        typed=typed,
        fields=organiser_edits.CONTENT_FIELDS,
        labels=FIELD_LABELS,
        change_waiting=pending_changes.is_waiting(event),
    ), status


def _secret() -> str:
    """Return the key that signs drafts, form times and edit links."""
    return str(current_app.config["SECRET_KEY"])


def _csrf_errors(form: SubmitForm | ConfirmForm | EditForm | WithdrawForm) -> dict[str, str]:
    """Return a form-level error when the CSRF token is missing or stale."""
    form.validate()
    return {"form": _(CSRF_MESSAGE)} if "csrf_token" in form.errors else {}


def _render_form(form: SubmitForm, errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    """Show the event form with its errors and a fresh signed start time."""
    form.started.data = submissions.sign_started(_secret())
    form.homepage.data = ""
    return render_template("submit.html", form=form, errors=errors), status


def _render_preview(
    preview: submissions.Preview, errors: dict[str, str], status: int = 200
) -> tuple[str, int]:
    """Show the location preview of a draft."""
    form = ConfirmForm()
    form.draft.data = submissions.sign_draft(_secret(), preview)
    return render_template(
        "submit_preview.html",
        form=form,
        preview=preview,
        errors=errors,
        candidates=submissions.candidate_choices(preview.candidates),
        # Pending events' titles and organisers are nobody's business but theirs and ours.
        duplicates=public_warning(preview.duplicates),
        zone=_zone_view(preview),
    ), status


def _zone_view(preview: submissions.Preview) -> dict[str, object]:
    """Return what the preview says about the time zone: a statement, or the zones to pick from."""
    event = preview.event
    statement = (
        timezones.describe_times(event["starts_at"], preview.timezone) if preview.timezone else ""
    )
    choices = [] if preview.timezone_from_place else zone_choices(event["country"])
    hint = (
        _("Choose the zone of the times you gave: the zones listed are those of the country.")
        if preview.timezone
        else _("There are several time zones in this country: choose the one your times are in.")
    )
    return {"statement": statement, "choices": choices, "hint": hint}


def _render_already_submitted() -> tuple[str, int]:
    """Answer a second confirmation of a draft: its event is stored once, already."""
    page = render_template("submit_used.html", message=_(submissions.ALREADY_SUBMITTED_MESSAGE))
    return page, 409


# Past a rate limit, each step shows its form again as it was posted (see web/limits.py).


@keeps_form("submit.submit_details")
def _details_kept(message: str) -> tuple[str, int]:
    """Show the event form as typed, with the message saying when to send it again."""
    return _render_form(SubmitForm(), {"form": message}, 429)


@keeps_form("submit.submit_confirm")
def _preview_kept(message: str) -> tuple[str, int] | None:
    """Show the preview again with the same signed draft, so that confirming later works."""
    try:
        preview = submissions.load_draft(_secret(), request.form.get("draft", ""))
    except submissions.DraftError:
        return None
    # With its duplicates, so that a ticked "submit it anyway" is shown ticked again.
    preview = submissions.with_duplicates(
        get_store().frame(),
        preview,
        choice=request.form.get("place", "").strip(),
        latitude=request.form.get("latitude", ""),
        longitude=request.form.get("longitude", ""),
    )
    return _render_preview(preview, {"form": message}, 429)


@keeps_form("submit.edit")
def _edit_kept(message: str) -> tuple[str, int] | None:
    """Show the edit page with the changes as typed."""
    token = str((request.view_args or {}).get("token", ""))
    current = edit_links.event_for_token(get_store(), _secret(), token)
    if current is None or current["status"] == "withdrawn":
        return None
    return _render_edit(
        current, EditForm(), {"form": message}, version=request.form.get("version", "")
    )[0], 429


@blueprint.get("/submit")
def submit_form() -> tuple[str, int]:
    """Show the empty event form."""
    return _render_form(SubmitForm(), {})


@blueprint.post("/submit")
@preview_limit
def submit_details() -> tuple[str, int]:
    """Check the form and show where the event would go on the map."""
    form = SubmitForm()
    if errors := _csrf_errors(form):
        return _render_form(form, errors, 400)
    outcome = submissions.review_submission(
        get_store().frame(),
        request.form,
        consent=bool(form.consent.data),
        honeypot=form.homepage.data or "",
        started=form.started.data or "",
        secret_key=_secret(),
        min_seconds=float(current_app.config["SUBMIT_MIN_SECONDS"]),
    )
    if outcome.already_submitted:
        return _render_already_submitted()
    if outcome.errors or outcome.preview is None:
        return _render_form(form, outcome.errors, 422)
    return _render_preview(outcome.preview, {})


@blueprint.post("/submit/back")
def submit_back() -> tuple[str, int]:
    """Return from the preview to the filled form."""
    form = ConfirmForm()
    if _csrf_errors(form):
        return _render_form(SubmitForm(formdata=None), {"form": _(CSRF_MESSAGE)}, 400)
    try:
        preview = submissions.load_draft(_secret(), form.draft.data or "")
    except submissions.DraftError as exc:
        return _render_form(SubmitForm(formdata=None), {"form": _(str(exc))}, 400)
    filled = SubmitForm(formdata=None, data=submissions.form_values(preview.event))
    filled.consent.data = True
    return _render_form(filled, {})


@blueprint.post("/submit/confirm")
@submit_limit
def submit_confirm() -> Response | tuple[str, int]:
    """Store the previewed event as pending and show its edit link."""
    form = ConfirmForm()
    if _csrf_errors(form):
        return _render_form(SubmitForm(formdata=None), {"form": _(CSRF_MESSAGE)}, 400)
    choice = request.form.get("place", "").strip()
    try:
        if choice and not PLACE_PATTERN.fullmatch(choice):
            preview = submissions.load_draft(_secret(), form.draft.data or "")
            return _render_preview(preview, {"place": _(PLACE_MESSAGE)}, 422)
        outcome = submissions.confirm_submission(
            get_store(),
            _secret(),
            form.draft.data or "",
            choice=choice,
            latitude=form.latitude.data or "",
            longitude=form.longitude.data or "",
            submit_anyway=bool(form.submit_anyway.data),
            keep_point=bool(form.keep_point.data),
            timezone=str(request.form.get("timezone", "")),
            interface_language=current_code(),
        )
    except submissions.DraftError as exc:
        return _render_form(SubmitForm(formdata=None), {"form": _(str(exc))}, 400)
    if outcome.already_submitted:
        return _render_already_submitted()
    if outcome.event is None:
        assert outcome.preview is not None
        return _render_preview(outcome.preview, outcome.errors, 422)
    log.info("Event %s submitted, pending review", outcome.event["id"])
    notify(notices.submission_received, outcome.event, outcome.token, event_id=outcome.event["id"])
    session[SESSION_TOKEN_KEY] = outcome.token
    return redirect(url_for("submit.submit_thanks"), code=303)


@blueprint.get("/submit/thanks")
def submit_thanks() -> Response | str:
    """Show the confirmation with the private edit link, again on reload in the same browser.

    The link stays in the signed session cookie (the browser's session: it goes when the browser
    closes) until another event is submitted; once revoked or erased it is shown no more.
    """
    token = session.get(SESSION_TOKEN_KEY)
    if not token:
        return redirect(url_for("submit.submit_form"))
    event = edit_links.event_for_token(get_store(), _secret(), token)
    if event is None:
        session.pop(SESSION_TOKEN_KEY, None)
        return redirect(url_for("recovery.recover"))
    return render_template(
        "submit_thanks.html",
        event=event,
        edit_url=url_for("submit.edit", token=token, _external=True),
    )


@blueprint.route("/edit/<token>", methods=["GET", "POST"])
@edit_limit_per_link
@edit_limit_per_client
def edit(token: str) -> Response | tuple[str, int]:
    """Let the organiser change their event through its private link."""
    store = get_store()
    current = edit_links.event_for_token(store, _secret(), token)
    if current is None:
        abort(404, _(INVALID_LINK_MESSAGE))
    if request.method == "GET" or current["status"] == "withdrawn":
        return _render_edit(current, None, {})
    form = EditForm()
    errors = _csrf_errors(form)
    outcome = (
        submissions.Outcome(errors=errors)
        if errors
        else (organiser_edits.edit_submission(store, current, request.form))
    )
    if outcome.conflict is not None:
        return _render_edit(outcome.conflict, form, outcome.errors, conflict=True)
    if outcome.event is None:
        return _render_edit(current, form, outcome.errors, version=request.form.get("version", ""))
    result = organiser_edits.edit_result(current, outcome.event)
    log.info("Event %s edited by its organiser: %s", current["id"], result)
    category, message = EDIT_MESSAGES[result]
    flash(_(message), category)
    organiser_edits.send_notices(current, outcome.event, links())
    return redirect(url_for("submit.edit", token=token), code=303)


@blueprint.post("/edit/<token>/withdraw")
@edit_limit_per_link
@edit_limit_per_client
def withdraw(token: str) -> Response | tuple[str, int]:
    """Withdraw the event behind an edit link."""
    store = get_store()
    current = edit_links.event_for_token(store, _secret(), token)
    if current is None:
        abort(404, _(INVALID_LINK_MESSAGE))
    form = WithdrawForm()
    if _csrf_errors(form) or not form.confirm.data:
        flash(_("Tick the box to confirm you want to withdraw the event."), "error")
        return redirect(url_for("submit.edit", token=token), code=303)
    version = request.form.get("version", "")
    if not version:
        return _render_edit(current, None, {"version": _(organiser_edits.MISSING_VERSION_MESSAGE)})[
            0
        ], 400
    try:
        withdrawn = organiser_edits.withdraw_event(store, current["id"], version)
    except ConflictError as conflict:
        now = conflict.current[current["id"]]
        errors = {"version": _(organiser_edits.CHANGED_MESSAGE)}
        return _render_edit(now, None, errors, conflict=True)[0], 409
    log.info("Event %s withdrawn by its organiser", current["id"])
    if current["status"] != "withdrawn":
        notify(notices.withdrawn, withdrawn, event_id=current["id"])
    flash(_("Your event is withdrawn: it will not appear on the map."), "success")
    return redirect(url_for("submit.edit", token=token), code=303)
