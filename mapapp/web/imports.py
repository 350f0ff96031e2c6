"""The coordinators' upload form for bulk import at /admin/import."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField, SelectField
from wtforms.fields.choices import SelectChoice

from mapapp import access
from mapapp.import_files import (
    FileTooLargeError,
    ImportFileError,
    UnreadableFileError,
    check_size,
    too_large,
)
from mapapp.imports import ImportReport, import_events

# Room in the body for the form's other fields and the multipart boundaries around the file.
FORM_OVERHEAD_BYTES = 16 * 1024
PROBLEM_STATUSES: tuple[tuple[type[ImportFileError], int], ...] = (
    (FileTooLargeError, 413),
    (UnreadableFileError, 422),
    (ImportFileError, 400),
)

blueprint = Blueprint("imports", __name__)


class ImportForm(FlaskForm):
    """The file to import, the status its events get, and whether to only try it."""

    file = FileField(
        "Spreadsheet (CSV or Excel .xlsx)",
        validators=[
            FileRequired("File: choose the spreadsheet to import."),
            FileAllowed(["csv", "xlsx"], "File: choose a .csv or .xlsx file."),
        ],
    )
    status = SelectField(
        "Imported events are",
        choices=[SelectChoice("pending", "Pending review"), SelectChoice("approved", "Approved")],
        default="pending",
    )
    dry_run = BooleanField("Dry run: check the file and show the report, but add nothing")


@blueprint.route("/admin/import", methods=["GET", "POST"])
@login_required
def upload() -> tuple[str, int]:
    """Show the upload form; import the uploaded file and show the report."""
    access.require_change()  # viewers read; importing is a change
    limit = int(current_app.config["IMPORT_MAX_BYTES"])
    # Set before the body is read: this view alone takes more than MAX_CONTENT_LENGTH.
    request.max_content_length = limit + FORM_OVERHEAD_BYTES
    try:
        if request.method == "POST":
            check_size((request.content_length or 0) - FORM_OVERHEAD_BYTES, limit)
        form = ImportForm()  # reads the body
    except (FileTooLargeError, RequestEntityTooLarge):
        return _render(ImportForm(formdata=None), None, str(too_large(limit)), 413)
    report: ImportReport | None = None
    try:
        if form.validate_on_submit():
            content = form.file.data.read()
            check_size(len(content), limit)
            report = import_events(
                content,
                form.file.data.filename or "",
                access.events(),
                status=form.status.data,
                dry_run=form.dry_run.data,
                who=current_user.name,
            )
    except ImportFileError as exc:
        status = next(code for kind, code in PROBLEM_STATUSES if isinstance(exc, kind))
        return _render(form, None, str(exc), status)
    return _render(form, report, "", 400 if form.errors else 200)


def _render(
    form: ImportForm, report: ImportReport | None, problem: str, status: int
) -> tuple[str, int]:
    """Show the upload form with the report or the problem."""
    page = render_template("admin/import.html", form=form, report=report, problem=problem)
    return page, status
