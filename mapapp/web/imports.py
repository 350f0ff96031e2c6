"""The coordinators' bulk import at /admin/import: upload, preview, confirm, and the template.

Uploading shows how the file will be read (its columns matched, its first rows) and keeps the
file for the confirmation (mapapp.import_preview); nothing is added until the coordinator
confirms. With "dry run" the preview also shows the whole report of what the import would do.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField, HiddenField, SelectField
from wtforms.fields.choices import SelectChoice

from mapapp import access, import_preview
from mapapp.i18n import N_, _, lazy_gettext
from mapapp.import_files import (
    FileTooLargeError,
    ImportFileError,
    UnreadableFileError,
    check_size,
    too_large,
)
from mapapp.import_preview import ImportPreview, StagedFileError
from mapapp.import_template import (
    CSV_NAME,
    CSV_TYPE,
    XLSX_NAME,
    XLSX_TYPE,
    template_csv,
    template_xlsx,
)
from mapapp.imports import ImportReport, import_events
from mapapp.storage.staging import staging_of

# Room in the body for the form's other fields and the multipart boundaries around the file.
FORM_OVERHEAD_BYTES = 16 * 1024
PROBLEM_STATUSES: tuple[tuple[type[ImportFileError], int], ...] = (
    (FileTooLargeError, 413),
    (UnreadableFileError, 422),
    (ImportFileError, 400),
)
CONFIRM_EXPIRED = N_(
    "This confirmation cannot be used: the form has expired; upload the file again."
)

blueprint = Blueprint("imports", __name__)


class ImportForm(FlaskForm):
    """The file to import, the status its events get, and whether to only try it."""

    file = FileField(
        lazy_gettext("Spreadsheet (CSV or Excel .xlsx)"),
        validators=[
            FileRequired(lazy_gettext("File: choose the spreadsheet to import.")),
            FileAllowed(["csv", "xlsx"], lazy_gettext("File: choose a .csv or .xlsx file.")),
        ],
    )
    status = SelectField(
        lazy_gettext("Imported events are"),
        choices=[
            # Translators: the status imported events get (a menu's choice).
            SelectChoice("pending", lazy_gettext("Pending review")),
            # Translators: the status imported events get (a menu's choice).
            SelectChoice("approved", lazy_gettext("Approved")),
        ],
        default="pending",
    )
    dry_run = BooleanField(
        lazy_gettext("Dry run: also check every row and show the report, adding nothing")
    )


class ConfirmForm(FlaskForm):
    """The token of the previewed file to import."""

    token = HiddenField()


@blueprint.route("/admin/import", methods=["GET", "POST"])
@login_required
def upload() -> tuple[str, int]:
    """Show the upload form; preview an uploaded file (and with dry run, its whole report)."""
    access.require_change()  # viewers read; importing is a change
    limit = int(current_app.config["IMPORT_MAX_BYTES"])
    # Set before the body is read: this view alone takes more than MAX_CONTENT_LENGTH.
    request.max_content_length = limit + FORM_OVERHEAD_BYTES
    try:
        if request.method == "POST":
            check_size((request.content_length or 0) - FORM_OVERHEAD_BYTES, limit)
        form = ImportForm()  # reads the body
    except (FileTooLargeError, RequestEntityTooLarge):
        return _render(ImportForm(formdata=None), problem=str(too_large(limit)), status=413)
    if not form.validate_on_submit():
        return _render(form, status=400 if form.errors else 200)
    preview: ImportPreview | None = None
    report: ImportReport | None = None
    try:
        content = form.file.data.read()
        check_size(len(content), limit)
        filename = form.file.data.filename or ""
        preview = import_preview.preview_file(content, filename, status=form.status.data)
        events = access.events()
        if form.dry_run.data:
            report = import_events(
                content,
                filename,
                events,
                status=form.status.data,
                dry_run=True,
                who=current_user.name,
            )
        preview.token = import_preview.stage(
            staging_of(current_app),
            content,
            filename,
            who=current_user.name,
            status=form.status.data,
        )
    except ImportFileError as exc:
        status = next(code for kind, code in PROBLEM_STATUSES if isinstance(exc, kind))
        return _render(form, problem=str(exc), status=status)
    return _render(form, preview=preview, report=report)


@blueprint.route("/admin/import/confirm", methods=["POST"])
@login_required
def confirm() -> tuple[str, int]:
    """Import the file previewed, and show the report."""
    access.require_change()
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _render(ImportForm(formdata=None), problem=_(CONFIRM_EXPIRED))
    events = access.events()
    token = str(form.token.data or "")
    try:
        staged = import_preview.take(staging_of(current_app), token, who=current_user.name)
    except StagedFileError as exc:
        return _render(ImportForm(formdata=None), problem=str(exc), status=400)
    try:
        report = import_events(
            staged.content, staged.filename, events, status=staged.status, who=current_user.name
        )
    except ImportFileError as exc:  # read once already at the preview; kept for safety
        status = next(code for kind, code in PROBLEM_STATUSES if isinstance(exc, kind))
        return _render(ImportForm(formdata=None), problem=str(exc), status=status)
    import_preview.discard(staging_of(current_app), token)
    return _render(ImportForm(formdata=None), report=report)


@blueprint.route("/admin/import/template.csv")
@login_required
def template_csv_file() -> Response:
    """Download the import's template as CSV."""
    access.require_change()
    return _download(template_csv(), CSV_TYPE, CSV_NAME)


@blueprint.route("/admin/import/template.xlsx")
@login_required
def template_xlsx_file() -> Response:
    """Download the import's template as an Excel workbook with notes on every column."""
    access.require_change()
    return _download(template_xlsx(), XLSX_TYPE, XLSX_NAME)


def _download(content: bytes, media_type: str, filename: str) -> Response:
    """Return a file to save, not to show."""
    response = Response(content, content_type=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _render(
    form: ImportForm,
    *,
    preview: ImportPreview | None = None,
    report: ImportReport | None = None,
    problem: str = "",
    status: int = 200,
) -> tuple[str, int]:
    """Show the upload form with the preview, the report or the problem."""
    if problem and status == 200:
        status = 400
    page = render_template(
        "admin/import.html",
        form=form,
        confirm_form=ConfirmForm(formdata=None),
        preview=preview,
        report=report,
        problem=problem,
    )
    return page, status
