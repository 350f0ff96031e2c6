"""Accounts under /admin: the administrators' list, invitations and edit form, a coordinator's own
settings, and the public pages that take an invitation or a password reset link.

Routes parse and render; who may do what is checked in the domain functions, which take the
acting scope (mapapp.coordinators, mapapp.invitations). Every form is CSRF-protected. The
public pages (accept an invitation, ask for and use a reset link) need no sign-in, like
auth.sign_in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import pycountry
from flask import (
    Blueprint,
    abort,
    copy_current_request_context,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from mapapp import access, account_log, account_rules, coordinators, invitations
from mapapp.account_rules import CoordinatorError
from mapapp.i18n import N_, _, country_name, lazy_gettext, sorted_names
from mapapp.storage import StoreError
from mapapp.web.admin import translated
from mapapp.web.auth import login_manager
from mapapp.web.limits import configured_limit, limit_is_off, limiter

CSRF_MESSAGE = N_("This form has expired: please send it again.")
PASSWORDS_DIFFER = N_("Password again: the two passwords differ. Type the same one twice.")
PASSWORD_REQUIRED = N_("Password: choose a password.")
INVITED = N_(
    "Invited %(name)s: the invitation is on its way to %(email)s. The link works for 7 days."
)
REINVITED = N_("Sent %(name)s a new invitation; the link sent before no longer works.")
WITHDRAWN = N_("Withdrew the invitation of %(name)s: its link no longer works.")
SAVED = N_("Saved the account of %(name)s.")
OWN_SAVED = N_("Saved your settings.")
PASSWORD_SET = N_("Your password is set. Sign in with your name or e-mail address.")
NO_SUCH_ACCOUNT = N_("There is no account called %(name)s.")
NAME_REQUIRED = N_("Name or e-mail: give the name or the address of your account.")
# The public pages that need no sign-in.
PUBLIC_ENDPOINTS = frozenset({"accounts.accept", "accounts.reset_request", "accounts.reset"})

blueprint = Blueprint("accounts", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)


def country_choices() -> list[SelectChoice]:
    """Return every country as a choice of its ISO code named in the interface language, by name."""
    names = ((country.alpha_2, country_name(country.alpha_2)) for country in pycountry.countries)
    return [SelectChoice(code, name) for code, name in sorted_names(names)]


# Labels translated when the menu is shown (access.ROLES holds the English, marked with N_).
ROLE_CHOICES = [SelectChoice(role, lazy_gettext(label)) for role, label in access.ROLES.items()]


class InviteForm(FlaskForm):
    """Invite a person: the name they sign in with, their address, role and countries."""

    name = StringField(lazy_gettext("Name (to sign in with)"), validators=[Length(max=64)])
    email = EmailField(
        lazy_gettext("E-mail address"), validators=[Length(max=account_rules.MAX_EMAIL_LENGTH)]
    )
    role = SelectField(lazy_gettext("Role"), choices=ROLE_CHOICES, validate_choice=False)
    # Checked by the domain (named in its messages), not by WTForms' "Not a valid choice".
    countries = SelectMultipleField(lazy_gettext("Countries"), validate_choice=False)


class AccountForm(FlaskForm):
    """An administrator's changes to an account."""

    role = SelectField(lazy_gettext("Role"), choices=ROLE_CHOICES, validate_choice=False)
    countries = SelectMultipleField(lazy_gettext("Countries"), validate_choice=False)
    email = EmailField(
        lazy_gettext("E-mail address"), validators=[Length(max=account_rules.MAX_EMAIL_LENGTH)]
    )
    active = BooleanField(lazy_gettext("Active: the account can sign in"))
    digest = BooleanField(lazy_gettext("Daily digest of new events by e-mail"))


class OwnForm(FlaskForm):
    """A coordinator's own e-mail address and digest choice."""

    email = EmailField(
        lazy_gettext("E-mail address"), validators=[Length(max=account_rules.MAX_EMAIL_LENGTH)]
    )
    digest = BooleanField(lazy_gettext("Send me a daily digest of the new events in my countries"))


class ButtonForm(FlaskForm):
    """A button that changes something: the CSRF token alone."""


class NewPasswordForm(FlaskForm):
    """A new password, typed twice."""

    new = PasswordField(
        lazy_gettext("New password"),
        validators=[
            DataRequired(lazy_gettext(PASSWORD_REQUIRED)),
            Length(max=account_rules.MAX_PASSWORD_LENGTH),
        ],
    )
    repeated = PasswordField(
        lazy_gettext("New password again"),
        validators=[DataRequired(), EqualTo("new", lazy_gettext(PASSWORDS_DIFFER))],
    )


class ResetRequestForm(FlaskForm):
    """Who asks for a reset link: a name or an e-mail address."""

    name = StringField(
        lazy_gettext("Name or e-mail"), validators=[Length(max=account_rules.MAX_EMAIL_LENGTH)]
    )


@blueprint.before_request
def require_coordinator() -> ResponseReturnValue | None:
    """Let only signed-in coordinators in, but to the public pages."""
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    return login_manager.unauthorized()  # type: ignore[no-any-return]


def _accept_link(token: str) -> str:
    return url_for("accounts.accept", token=token, _external=True)


def _reset_link(token: str) -> str:
    return url_for("accounts.reset", token=token, _external=True)


# Administrators' pages


@blueprint.get("/accounts")
def accounts_page() -> ResponseReturnValue:
    """List every account, with the invitation form."""
    access.require_admin()
    return _accounts_page(InviteForm(formdata=None), {}, 200)


@blueprint.post("/accounts/invite")
def invite() -> ResponseReturnValue:
    """Invite a person by e-mail: an inactive account and a one-time link to set its password."""
    scope = access.require_admin()
    form = InviteForm()
    if not form.validate():
        return _accounts_page(form, _form_errors(form), 400)
    try:
        account = invitations.invite(
            form.name.data or "",
            form.email.data or "",
            form.role.data or "",
            form.countries.data or [],
            who=scope,
            link=_accept_link,
        )
    except CoordinatorError as exc:
        return _accounts_page(form, {exc.field or "form": str(exc)}, 422)
    flash(_(INVITED, name=account.name, email=account.email), "success")
    return redirect(url_for("accounts.accounts_page"), code=303)


@blueprint.route("/accounts/<name>", methods=["GET", "POST"])
def account(name: str) -> ResponseReturnValue:
    """Show an account with its history, and save an administrator's changes to it."""
    scope = access.require_admin()
    current = _account_or_404(name, scope)
    if request.method == "GET":
        form = AccountForm(formdata=None, data=_values_of(current))
        return _account_page(current, form, {}, 200)
    form = AccountForm()
    if not form.validate():
        return _account_page(current, form, _form_errors(form), 400)
    changes = {
        "role": form.role.data or "",
        "countries": form.countries.data or [],
        "email": form.email.data or "",
        "active": bool(form.active.data),
        "digest": bool(form.digest.data),
    }
    try:
        coordinators.update_account(current.name, changes, scope)
    except CoordinatorError as exc:
        return _account_page(current, form, {exc.field or "form": str(exc)}, 422)
    flash(_(SAVED, name=current.name), "success")
    return redirect(url_for("accounts.account", name=current.name), code=303)


@blueprint.post("/accounts/<name>/invite")
def reinvite(name: str) -> ResponseReturnValue:
    """Send an inactive account a new invitation, ending the link sent before."""
    scope = access.require_admin()
    current = _account_or_404(name, scope)
    if not ButtonForm().validate():
        return _account_page(current, _form_of(current), {"form": _(CSRF_MESSAGE)}, 400)
    try:
        invitations.reinvite(current.name, who=scope, link=_accept_link)
    except CoordinatorError as exc:
        return _account_page(current, _form_of(current), {"form": str(exc)}, 422)
    flash(_(REINVITED, name=current.name), "success")
    return redirect(url_for("accounts.account", name=current.name), code=303)


@blueprint.post("/accounts/<name>/withdraw")
def withdraw(name: str) -> ResponseReturnValue:
    """End an inactive account's invitation link, so that nobody can accept it any more."""
    scope = access.require_admin()
    current = _account_or_404(name, scope)
    if not ButtonForm().validate():
        return _account_page(current, _form_of(current), {"form": _(CSRF_MESSAGE)}, 400)
    try:
        invitations.withdraw(current.name, who=scope)
    except CoordinatorError as exc:
        return _account_page(current, _form_of(current), {"form": str(exc)}, 422)
    flash(_(WITHDRAWN, name=current.name), "success")
    return redirect(url_for("accounts.account", name=current.name), code=303)


# A coordinator's own settings


@blueprint.route("/account/settings", methods=["GET", "POST"])
def own_settings() -> ResponseReturnValue:
    """Let every coordinator set their own e-mail address and daily digest."""
    scope = access.current()
    own = coordinators.get_account(current_user.name, scope)
    form = OwnForm() if request.method == "POST" else OwnForm(formdata=None, data=_values_of(own))
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if not form.validate():
            errors, status = _form_errors(form), 400
        else:
            try:
                coordinators.update_account(
                    own.name,
                    {"email": form.email.data or "", "digest": bool(form.digest.data)},
                    scope,
                )
            except CoordinatorError as exc:
                errors, status = {exc.field or "form": str(exc)}, 422
            else:
                flash(_(OWN_SAVED), "success")
                return redirect(url_for("accounts.own_settings"), code=303)
    return render_template(
        "admin/own_settings.html", form=form, errors=errors, account=own, scope=own.scope
    ), status


# Public pages: no sign-in


@blueprint.route("/invitation/<token>", methods=["GET", "POST"])
def accept(token: str) -> ResponseReturnValue:
    """Let an invited person set their password, which activates their account."""
    invited = invitations.invited(token)
    if invited is None:
        abort(404, invitations.INVALID_LINK)
    return _set_password(invited, lambda password: invitations.accept(token, password), "accept")


@blueprint.route("/reset", methods=["GET", "POST"])
@limiter.limit(
    configured_limit("RESET_RATE_LIMIT"),
    methods=["POST"],
    exempt_when=lambda: limit_is_off("RESET_RATE_LIMIT"),
)
def reset_request() -> ResponseReturnValue:
    """Take a name or e-mail and send a reset link; the answer never says whether one matched."""
    form = ResetRequestForm()
    if request.method == "GET":
        return render_template("admin/reset_request.html", form=form, errors={}), 200
    if not form.validate():
        return render_template(
            "admin/reset_request.html", form=form, errors=_form_errors(form)
        ), 400
    typed = (form.name.data or "").strip()
    if not typed:
        errors = {"name": _(NAME_REQUIRED)}
        return render_template("admin/reset_request.html", form=form, errors=errors), 422
    # The same page, at once, whether or not an account matches; the link is made and queued
    # after the answer is sent, so its timing says nothing either.
    response = make_response(render_template("admin/reset_sent.html"))
    response.call_on_close(_reset_sender(typed))
    return response


@blueprint.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> ResponseReturnValue:
    """Let a person set a new password with a reset link, ending every session of the account."""
    account = invitations.resetting(token)
    if account is None:
        abort(404, invitations.INVALID_LINK)
    return _set_password(account, lambda password: invitations.reset(token, password), "reset")


def _reset_sender(typed: str):  # type: ignore[no-untyped-def]
    """Return the work that sends a reset link, run once the answer has been sent."""

    @copy_current_request_context
    def send() -> None:
        try:
            invitations.request_reset(typed, _reset_link)
        except StoreError:
            log.exception("Could not send a password reset link asked for at /admin/reset")

    return send


def _set_password(
    account: coordinators.Coordinator,
    use: Callable[[str], coordinators.Coordinator],
    purpose: str,
) -> ResponseReturnValue:
    """Show and take the new-password form of a one-time link."""
    form = NewPasswordForm()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                use(form.new.data or "")
            except CoordinatorError as exc:
                errors, status = {exc.field or "new": str(exc)}, 422
            else:
                flash(_(PASSWORD_SET), "success")
                return redirect(url_for("auth.sign_in"), code=303)
        else:
            errors = _form_errors(form)
            status = 400 if "form" in errors else 422
    return render_template(
        "admin/set_password.html",
        form=form,
        errors=errors,
        account=account,
        purpose=purpose,
        min_password_length=account_rules.MIN_PASSWORD_LENGTH,
    ), status


# Helpers


def _account_or_404(name: str, scope: access.Scope) -> coordinators.Coordinator:
    try:
        return coordinators.get_account(name, scope)
    except CoordinatorError:
        abort(404, _(NO_SUCH_ACCOUNT, name=repr(coordinators.normalise_name(name))))


def _values_of(account: coordinators.Coordinator) -> dict[str, object]:
    return {
        "role": account.role,
        "countries": sorted(account.countries),
        "email": account.email,
        "active": account.active,
        "digest": account.digest,
    }


def _form_of(account: coordinators.Coordinator) -> AccountForm:
    return AccountForm(formdata=None, data=_values_of(account))


def _form_errors(form: FlaskForm) -> dict[str, str]:
    """Return a form's errors by field, the expired CSRF token as the whole form's."""
    errors = {name: str(messages[0]) for name, messages in form.errors.items() if messages}
    if errors.pop("csrf_token", None):
        errors["form"] = _(CSRF_MESSAGE)
    return errors


def _accounts_page(form: InviteForm, errors: Mapping[str, str], status: int) -> ResponseReturnValue:
    scope = access.current()
    form.countries.choices = country_choices()
    return render_template(
        "admin/accounts.html",
        listed=invitations.overview(scope),
        form=form,
        errors=errors,
        roles=translated(access.ROLES),
        describe=account_rules.describe_countries,
    ), status


def _account_page(
    account: coordinators.Coordinator,
    form: AccountForm,
    errors: Mapping[str, str],
    status: int,
) -> ResponseReturnValue:
    scope = access.current()
    form.countries.choices = country_choices()
    return render_template(
        "admin/account.html",
        account=account,
        form=form,
        errors=errors,
        history=account_log.history(account.name, scope),
        invited=invitations.is_invited(account),
        button_form=ButtonForm(formdata=None),
        roles=translated(access.ROLES),
        describe=account_rules.describe_countries,
    ), status
