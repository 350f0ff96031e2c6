"""Partners' API keys under /admin/keys: list, create (the secret shown once) and revoke.

For administrators only: every route calls a mapapp.api_keys function with the signed-in
account's scope, which refuses anyone else (403).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectMultipleField, StringField

from mapapp import access, api_keys
from mapapp.forms import country_choices
from mapapp.i18n import N_, _, lazy_gettext
from mapapp.web.admin import blueprint

EXPIRED_MESSAGE = N_("The form expired; please send it again.")
REVOKED_MESSAGE = N_(
    "Revoked the key %(key_id)s of %(partner)s: its requests are refused from now on."
)


class KeyForm(FlaskForm):
    """Create a key: the partner's name, its countries, whether its events are approved at once."""

    partner = StringField(lazy_gettext("Partner"))
    countries = SelectMultipleField(lazy_gettext("Countries"), validate_choice=False)
    trusted = BooleanField(lazy_gettext("Trusted"))


class RevokeForm(FlaskForm):
    """Revoke one key."""

    key = HiddenField()


@blueprint.get("/keys")
def keys() -> ResponseReturnValue:
    """List the partners' keys, with the form to create one."""
    return _render(KeyForm(formdata=None), {})


@blueprint.post("/keys")
def create_key() -> ResponseReturnValue:
    """Create a key and show its secret, this once."""
    form = KeyForm()
    access.require_admin()  # before the form's checks: others learn nothing of it
    if not form.validate_on_submit():
        return _render(form, {"form": _(EXPIRED_MESSAGE)}, 400)
    try:
        key, secret = api_keys.create_key(
            access.current(),
            form.partner.data or "",
            form.countries.data or [],
            trusted=bool(form.trusted.data),
        )
    except api_keys.ApiKeyError as exc:
        return _render(form, {"form": str(exc)}, 422)
    return _render(KeyForm(formdata=None), {}, 201, created=(key, secret))


@blueprint.post("/keys/revoke")
def revoke_key() -> ResponseReturnValue:
    """Revoke the key named in the form."""
    form = RevokeForm()
    access.require_admin()
    if not form.validate_on_submit():
        flash(_(EXPIRED_MESSAGE), "error")
    else:
        try:
            key = api_keys.revoke_key(access.current(), form.key.data or "")
        except api_keys.ApiKeyError as exc:
            flash(str(exc), "error")
        else:
            flash(_(REVOKED_MESSAGE, key_id=key.id, partner=key.partner), "success")
    return redirect(url_for("admin.keys"), code=303)


def _render(
    form: KeyForm,
    errors: dict[str, str],
    status: int = 200,
    created: tuple[api_keys.ApiKey, str] | None = None,
) -> ResponseReturnValue:
    """Show the keys page; a new key's secret only in this one answer, kept by no cache."""
    page = render_template(
        "admin/keys.html",
        keys=api_keys.list_keys(access.current()),
        form=form,
        revoke_form=RevokeForm(formdata=None),
        countries=[choice for choice in country_choices() if choice.value],
        errors=errors,
        created=created,
    )
    return page, status, {"Cache-Control": "no-store"}
