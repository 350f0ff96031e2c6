"""A coordinator's "Erase": an event and its personal data removed everywhere, after a confirmation."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
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

from mapapp import access, erasure
from mapapp.i18n import N_, Nn_, _, ngettext
from mapapp.storage import RowNotFoundError
from mapapp.web.api import body_cache
from mapapp.web.exports import export_cache

CONFIRM_MESSAGE = N_("Tick the box to confirm that you want to erase this event for good.")
EXPIRED_MESSAGE = N_("The form expired; please confirm again.")
# Translators: %(messages)s and %(exports)s are the two counts below ("2 messages").
ERASED_MESSAGE = N_(
    "Erased “%(title)s” (%(event_id)s): the event, the values in its history, "
    "%(messages)s about it and %(exports)s."
)
ERASED_MESSAGES_COUNT = Nn_("%(num)s message", "%(num)s messages")
ERASED_EXPORTS_COUNT = Nn_("%(num)s kept export file", "%(num)s kept export files")
COPIES_MESSAGE = N_(
    "Copies set aside by the store still hold this event; delete them by hand if they are not "
    "needed: %(paths)s."
)
NO_EVENT_MESSAGE = N_("There is no event with the id %(event_id)s.")
GONE_MESSAGE = N_("There is no event with the id %(event_id)s: it may be erased already.")

blueprint = Blueprint("erase", __name__)


class EraseForm(FlaskForm):
    """The confirmation of an erase (CSRF-protected).

    Its box carries the id of the event it names, so that a confirmation can only erase that
    event (not one a stale or replayed form is posted to).
    """


@blueprint.before_request
@login_required
def require_coordinator() -> None:
    """Let only signed-in coordinators in."""


def _event(event_id: str) -> dict[str, str]:
    """Return the stored event, or answer 404."""
    try:
        return access.events().require_changeable(event_id)
    except RowNotFoundError:
        abort(404, _(NO_EVENT_MESSAGE, event_id=repr(event_id)))


@blueprint.get("/admin/events/<event_id>/erase")
def confirm(event_id: str) -> str:
    """Ask the coordinator to confirm the erase, naming the event and what goes."""
    return render_template("admin/erase.html", event=_event(event_id), form=EraseForm(), error="")


@blueprint.post("/admin/events/<event_id>/erase")
def erase(event_id: str) -> ResponseReturnValue:
    """Erase the event once confirmed; say what went and what a person must still delete."""
    event = _event(event_id)
    form = EraseForm()
    if not form.validate():
        return render_template(
            "admin/erase.html", event=event, form=form, error=_(EXPIRED_MESSAGE)
        ), 400
    if request.form.get("confirm") != event_id:
        return render_template(
            "admin/erase.html", event=event, form=form, error=_(CONFIRM_MESSAGE)
        ), 422
    try:
        erased = erasure.erase_event(
            access.events(),
            export_cache(current_app),
            event_id,
            current_user.name,
            bodies=body_cache(current_app).shared,
        )
    except RowNotFoundError:
        abort(404, _(GONE_MESSAGE, event_id=repr(event_id)))
    flash(
        _(
            ERASED_MESSAGE,
            title=erased.event["title"],
            event_id=event_id,
            messages=ngettext(*ERASED_MESSAGES_COUNT, erased.messages),
            exports=ngettext(*ERASED_EXPORTS_COUNT, erased.exports),
        ),
        "success",
    )
    if erased.copies:
        data_dir = Path(current_app.config["DATA_DIR"])
        paths = ", ".join(str(path.relative_to(data_dir)) for path in erased.copies)
        flash(_(COPIES_MESSAGE, paths=paths), "warning")  # erased: a person must look
    return redirect(url_for("admin.events"), code=303)
