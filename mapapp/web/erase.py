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
from mapapp.storage import RowNotFoundError
from mapapp.web.exports import export_cache

CONFIRM_MESSAGE = "Tick the box to confirm that you want to erase this event for good."
EXPIRED_MESSAGE = "The form expired; please confirm again."
ERASED_MESSAGE = (
    "Erased “{title}” ({event_id}): the event, the values in its history, "
    "{messages} message(s) about it and {exports} kept export file(s)."
)
COPIES_MESSAGE = (
    "Copies set aside by the store still hold this event; delete them by hand if they are not "
    "needed: {paths}."
)

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
        abort(404, f"There is no event with the id {event_id!r}.")


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
            "admin/erase.html", event=event, form=form, error=EXPIRED_MESSAGE
        ), 400
    if request.form.get("confirm") != event_id:
        return render_template(
            "admin/erase.html", event=event, form=form, error=CONFIRM_MESSAGE
        ), 422
    try:
        erased = erasure.erase_event(
            access.events(), export_cache(current_app), event_id, current_user.name
        )
    except RowNotFoundError:
        abort(404, f"There is no event with the id {event_id!r}: it may be erased already.")
    flash(
        ERASED_MESSAGE.format(
            title=erased.event["title"],
            event_id=event_id,
            messages=erased.messages,
            exports=erased.exports,
        ),
        "success",
    )
    if erased.copies:
        data_dir = Path(current_app.config["DATA_DIR"])
        paths = ", ".join(str(path.relative_to(data_dir)) for path in erased.copies)
        flash(COPIES_MESSAGE.format(paths=paths), "warning")  # erased: a person must look
    return redirect(url_for("admin.events"), code=303)
