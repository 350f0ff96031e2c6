"""A way back for organisers: "Send me my edit links" and "Revoke my other links".

The answer to a request for links is the same page, status and headers whether or not any event
has the address. The links are minted and queued after the answer has been sent (the response's
close), so how long the answer takes does not say either.
"""

from __future__ import annotations

import logging
import math
import time

from flask import (
    Blueprint,
    Response,
    abort,
    copy_current_request_context,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter.errors import RateLimitExceeded
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField

from mapapp import edit_links, recovery
from mapapp.i18n import N_, Nn_, _, lazy_gettext, ngettext
from mapapp.storage import ConflictError, StoreError, get_store
from mapapp.web.limits import configured_limit, limiter
from mapapp.web.links import links
from mapapp.web.submit import edit_limit_per_client, edit_limit_per_link

CSRF_MESSAGE = N_("This form has expired: please send it again.")
REVOKE_CHANGED_MESSAGE = N_(
    "Your event changed since you opened this page, so no link was revoked. "
    "Look at the page as it is now and revoke again."
)
INVALID_LINK_MESSAGE = N_("This edit link is not valid. Check that you copied all of it.")
# Whole sentences by how long to wait; %(num)s is the wait.
RATE_LIMIT_MINUTE_MESSAGE = N_(
    "You have asked for edit links too often. Please try again in a minute; "
    "any links already sent keep working."
)
RATE_LIMIT_MINUTES_MESSAGE = Nn_(
    "You have asked for edit links too often. Please try again in %(num)s minute; "
    "any links already sent keep working.",
    "You have asked for edit links too often. Please try again in %(num)s minutes; "
    "any links already sent keep working.",
)
RATE_LIMIT_HOURS_MESSAGE = Nn_(
    "You have asked for edit links too often. Please try again in %(num)s hour; "
    "any links already sent keep working.",
    "You have asked for edit links too often. Please try again in %(num)s hours; "
    "any links already sent keep working.",
)
NO_OTHER_LINKS_MESSAGE = N_("This is your event's only edit link: there were no others to revoke.")
# Translators: where the singular form also serves numbers other than 1, write %(num)s in it.
REVOKED_MESSAGE = Nn_(
    "One other edit link was revoked. This link keeps working.",
    "%(num)s other edit links were revoked. This link keeps working.",
)

# Seconds to wait when the limit that was reached cannot be read.
RETRY_AFTER_SECONDS = 3600

blueprint = Blueprint("recovery", __name__)
log = logging.getLogger(__name__)


def _typed_address() -> str:
    """Return the address a request for links names, as its rate limit counts it (a hash)."""
    secret = str(current_app.config["SECRET_KEY"])
    return recovery.counting_key(secret, str(request.form.get("email", "")))


recover_limit_per_client = limiter.shared_limit(
    configured_limit("RECOVER_RATE_LIMIT"),
    scope="recover-client",
    methods=["POST"],
)
recover_limit_per_address = limiter.shared_limit(
    configured_limit("RECOVER_ADDRESS_RATE_LIMIT"),
    scope="recover-address",
    key_func=_typed_address,
    methods=["POST"],
)


class RecoverForm(FlaskForm):
    """The address to send edit links to."""

    email = EmailField(lazy_gettext("Your e-mail address"), render_kw={"autocomplete": "email"})


class RevokeForm(FlaskForm):
    """The button that keeps only the link in use (CSRF-protected, with the version seen)."""

    version = HiddenField()


@blueprint.app_context_processor
def revoke_form() -> dict[str, object]:
    """Let the edit page make its "Revoke my other links" form (called only where shown)."""
    return {"revoke_form": lambda: RevokeForm(formdata=None)}


@blueprint.route("/edit/recover", methods=["GET", "POST"])
@recover_limit_per_client
@recover_limit_per_address
def recover() -> Response | tuple[str, int]:
    """Take an address and send a fresh edit link for every event stored with it."""
    form = RecoverForm()
    if request.method == "GET":
        return render_template("recover.html", form=form, errors={}), 200
    form.validate()
    if "csrf_token" in form.errors:
        return render_template("recover.html", form=form, errors={"form": _(CSRF_MESSAGE)}), 400
    address, error = recovery.check_address(form.email.data or "")
    if error:
        return render_template("recover.html", form=form, errors={"email": error}), 422
    response = make_response(render_template("recover_sent.html", address=address))
    response.call_on_close(_sender(address))
    return response


@blueprint.errorhandler(RateLimitExceeded)
def too_many_requests(error: RateLimitExceeded) -> ResponseReturnValue:
    """Answer 429 on the request page itself, the address kept, saying when to try again."""
    if request.endpoint != "recovery.recover":
        return current_app.handle_http_exception(error)
    limit = limiter.current_limit
    wait = max(1, int(limit.reset_at - time.time())) if limit else RETRY_AFTER_SECONDS
    if wait <= 60:
        message = _(RATE_LIMIT_MINUTE_MESSAGE)
    elif wait <= 2 * 3600:
        message = ngettext(*RATE_LIMIT_MINUTES_MESSAGE, math.ceil(wait / 60))
    else:
        message = ngettext(*RATE_LIMIT_HOURS_MESSAGE, math.ceil(wait / 3600))
    page = render_template("recover.html", form=RecoverForm(), errors={"form": message})
    return page, 429, {"Retry-After": str(wait)}


def _sender(address: str):  # type: ignore[no-untyped-def]
    """Return the work that mints and queues the links, run once the answer has been sent."""
    secret = str(current_app.config["SECRET_KEY"])

    @copy_current_request_context
    def send() -> None:
        try:
            recovery.send_edit_links(get_store(), secret, address, links())
        except StoreError:
            log.exception("Could not send edit links asked for at /edit/recover")

    return send


@blueprint.post("/edit/<token>/revoke")
@edit_limit_per_link
@edit_limit_per_client
def revoke(token: str) -> ResponseReturnValue:
    """Keep only this edit link of an event: every other link stops working."""
    store = get_store()
    current = edit_links.event_for_token(store, str(current_app.config["SECRET_KEY"]), token)
    if current is None:
        abort(404, _(INVALID_LINK_MESSAGE))
    form = RevokeForm()
    if not form.validate():
        flash(_(CSRF_MESSAGE), "error")
        return redirect(url_for("submit.edit", token=token), code=303)
    try:
        revoked = recovery.revoke_other_links(store, current, token, form.version.data or "")
    except ConflictError:
        flash(_(REVOKE_CHANGED_MESSAGE), "error")
        return redirect(url_for("submit.edit", token=token), code=303)
    if revoked.count:
        message = ngettext(*REVOKED_MESSAGE, revoked.count)
    else:
        message = _(NO_OTHER_LINKS_MESSAGE)
    flash(message, "success" if revoked.count else "info")
    return redirect(url_for("submit.edit", token=token), code=303)
