"""The audit log under /admin: filtered pages and the CSV export of what the filters keep.

Its routes join the admin blueprint (so the sign-in requirement applies); the entries come
through the coordinator's scope, and a viewer is refused (see mapapp.access).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, abort, render_template, request
from flask.typing import ResponseReturnValue

from mapapp import audit
from mapapp.web.admin import AUDIT_PER_PAGE, _page_number, blueprint, translated

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
FILENAME = "rare-disease-day-audit-{day}.csv"


@blueprint.get("/audit")
def audit_log() -> ResponseReturnValue:
    """Show the audit log, newest first, filtered and paged."""
    audit_filter = audit.parse_filter(request.args)
    who = audit.who_choices()  # refuses an account that cannot read the log, first
    if audit_filter.errors:
        page = None
        status = 400
    else:
        page = audit.page(_page_number(), AUDIT_PER_PAGE, audit_filter=audit_filter)
        status = 200
    return render_template(
        "admin/audit.html",
        page=page,
        audit_filter=audit_filter,
        args=audit_filter.to_args(),
        who_choices=who,
        actions=translated(audit.ACTIONS),
    ), status


@blueprint.get("/audit.csv")
def audit_export() -> Response:
    """Download the entries the filters keep as CSV, newest first."""
    audit_filter = audit.parse_filter(request.args)
    body = audit.render_csv(audit_filter)  # refuses an account that cannot read the log, first
    if audit_filter.errors:
        abort(400, description=" ".join(audit_filter.errors.values()))
    response = Response(body, mimetype=CSV_MEDIA_TYPE)
    day = datetime.now(UTC).date().isoformat()
    response.headers["Content-Disposition"] = f"attachment; filename={FILENAME.format(day=day)}"
    response.cache_control.no_store = True  # who changed what: never kept by any cache
    response.cache_control.private = True
    return response
