"""The coordinators' upload form for bulk import at /admin/import."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, SelectField
from wtforms.fields.choices import SelectChoice

from mapapp.imports import ImportFileError, ImportReport, import_events
from mapapp.storage import get_store

MAX_UPLOAD_BYTES = 20 * 1024 * 1024

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
def upload() -> tuple[str, int] | str:
    """Show the upload form; import the uploaded file and show the report."""
    form = ImportForm()
    report: ImportReport | None = None
    problem = ""
    if form.validate_on_submit():
        content = form.file.data.read(MAX_UPLOAD_BYTES + 1)
        try:
            if len(content) > MAX_UPLOAD_BYTES:
                raise ImportFileError(
                    f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MB; split it."
                )
            report = import_events(
                content,
                form.file.data.filename or "",
                get_store(),
                status=form.status.data,
                dry_run=form.dry_run.data,
                who=current_user.name,
            )
        except ImportFileError as exc:
            problem = str(exc)
    status = 400 if problem or form.errors else 200
    page = render_template("admin/import.html", form=form, report=report, problem=problem)
    return (page, status) if status != 200 else page
