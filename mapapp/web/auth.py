"""Coordinator sign-in, sign-out and password changes (Flask-Login), rate limited, CSRF-protected.

The session cookie holds only a server-side session's token (see mapapp.sessions) and the idle
clock; Flask-Login's remember-me cookie is never set, and one would be refused like any cookie
without a live session and a recent idle stamp.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from mapapp import access, account_rules, coordinators, sessions
from mapapp.i18n import N_, _, lazy_gettext
from mapapp.storage import StoreUnavailableError
from mapapp.web import languages
from mapapp.web.limits import configured_limit, limit_is_off, limiter

SIGN_IN_ERROR = N_(
    "That name or e-mail and password do not match an account. Check both and try again."
)
DEFAULT_LANDING = "admin.queue"
# The key of the idle clock (see mapapp.sessions) in the signed session cookie.
SEEN_KEY = "mapapp_seen"
PASSWORD_CHANGED = N_(
    "Your password is changed. Every other session of your account is signed out."
)
PASSWORDS_DIFFER = N_("New password again: the two new passwords differ. Type the same one twice.")
SIGN_OUT_NOT_STORED = N_(
    "This browser is signed out, but the server cannot write right now and could not end the "
    "session: a copy of this browser's cookie would work until the session times out. If that "
    "worries you, change your password once the site works again, or ask an administrator for "
    "help: that signs every session of your account out."
)
# In a next= target: C0 and C1 control characters (CR and LF would split the Location header),
# and lone surrogates (not encodable as UTF-8).
UNSAFE_NEXT_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

blueprint = Blueprint("auth", __name__, url_prefix="/admin")
login_manager = LoginManager()
log = logging.getLogger(__name__)


class CoordinatorUser(UserMixin):
    """The signed-in coordinator as Flask-Login sees them."""

    def __init__(self, coordinator: coordinators.Coordinator, token: str) -> None:
        self.coordinator = coordinator
        self.name = coordinator.name
        self.token = token

    def get_id(self) -> str:
        return self.token


class SignInForm(FlaskForm):
    """The sign-in form."""

    name = StringField(
        lazy_gettext("Name or e-mail"),
        validators=[DataRequired(), Length(max=account_rules.MAX_EMAIL_LENGTH)],
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[DataRequired(), Length(max=account_rules.MAX_PASSWORD_LENGTH)],
    )


class SignOutForm(FlaskForm):
    """The sign-out button: a POST with a CSRF token, so no link can sign a person out."""


class PasswordForm(FlaskForm):
    """The form in which a coordinator changes their own password."""

    current = PasswordField(
        lazy_gettext("Current password"),
        validators=[DataRequired(), Length(max=account_rules.MAX_PASSWORD_LENGTH)],
    )
    new = PasswordField(lazy_gettext("New password"), validators=[DataRequired()])
    repeated = PasswordField(
        lazy_gettext("New password again"),
        validators=[DataRequired(), EqualTo("new", lazy_gettext(PASSWORDS_DIFFER))],
    )


def init_app(app: Flask) -> None:
    """Set up sessions, Flask-Login and the sign-in routes."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["ENV"] == "production",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=app.config["ENV"] == "production",
    )
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.sign_in"
    login_manager.init_app(app)
    app.register_blueprint(blueprint)

    @app.context_processor
    def sign_out_form() -> dict[str, object]:
        return {"sign_out_form": SignOutForm}


@login_manager.user_loader
def load_user(token: str) -> CoordinatorUser | None:
    """Return the coordinator of a live session, or None once it ended, ran out or was revoked."""
    last_seen = session.get(SEEN_KEY)
    coordinator = coordinators.signed_in(token, last_seen)
    if coordinator is None:
        session.pop(SEEN_KEY, None)
        return None
    moved = sessions.restamp(last_seen) if isinstance(last_seen, int) else None
    if moved is not None:
        session[SEEN_KEY] = moved
    access.use(coordinator.scope)  # every admin read and change of this request keeps to it
    return CoordinatorUser(coordinator, token)


def _begin(coordinator: coordinators.Coordinator, token: str) -> None:
    """Put a new server-side session into this browser's cookie."""
    login_user(CoordinatorUser(coordinator, token))
    session[SEEN_KEY] = sessions.stamp()
    access.use(coordinator.scope)


@login_manager.unauthorized_handler
def unauthorized() -> ResponseReturnValue:
    """Send a person to the sign-in page and tell an API client 401."""
    from mapapp.web import wants_json

    if wants_json():
        return jsonify(
            error="Unauthorized", message=_("Sign in as a coordinator to use this address.")
        ), 401
    return redirect(url_for("auth.sign_in", next=languages.here()))


def safe_next(target: str | None) -> str:
    """Return where to go after signing in: a path on this site, never another site.

    A target with a control character (CR, LF: a header split) or a lone surrogate is refused too.
    """
    if target and not UNSAFE_NEXT_CHARACTERS.search(target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and "\\" not in target:
            if not target.startswith("//"):
                return target
    return url_for(DEFAULT_LANDING)


@blueprint.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(
    configured_limit("LOGIN_RATE_LIMIT"),
    methods=["POST"],
    exempt_when=lambda: limit_is_off("LOGIN_RATE_LIMIT"),
)
def sign_in() -> ResponseReturnValue:
    """Show the sign-in form and sign a coordinator in."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        started = coordinators.sign_in(form.name.data or "", form.password.data or "")
        if started is not None:
            coordinator, token = started
            _begin(coordinator, token)
            log.info("Coordinator %s signed in", coordinator.name)
            return redirect(safe_next(request.args.get("next")))
        log.warning("Failed sign-in for name %r from %s", form.name.data, request.remote_addr)
        form.form_errors.append(_(SIGN_IN_ERROR))
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("admin/sign_in.html", form=form), status


@blueprint.post("/sign-out")
@login_required
def sign_out() -> ResponseReturnValue:
    """Sign the coordinator out, ending the session on the server so no copied cookie works."""
    if SignOutForm().validate_on_submit():
        name = current_user.name
        try:
            sessions.end(current_user.get_id())
        except StoreUnavailableError as exc:
            log.error("Coordinator %s signed out, but their session stays stored: %s", name, exc)
            flash(_(SIGN_OUT_NOT_STORED), "error")
        else:
            flash(_("You are signed out."), "info")
            log.info("Coordinator %s signed out", name)
        logout_user()
        session.pop(SEEN_KEY, None)
        return redirect(url_for("auth.sign_in"))
    flash(_("Your session form expired; press Sign out again."), "error")
    return redirect(url_for(DEFAULT_LANDING))


@blueprint.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit(
    configured_limit("LOGIN_RATE_LIMIT"),
    methods=["POST"],
    exempt_when=lambda: limit_is_off("LOGIN_RATE_LIMIT"),
)
def password() -> ResponseReturnValue:
    """Let a coordinator change their own password, signing out every other session."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        name = current_user.name
        try:
            coordinator, token = coordinators.change_password(
                name, form.current.data or "", form.new.data or ""
            )
        except coordinators.CoordinatorError as exc:
            form.form_errors.append(str(exc))
            status = 422
        else:
            _begin(coordinator, token)
            log.info("Coordinator %s changed their password", name)
            flash(_(PASSWORD_CHANGED), "info")
            return redirect(url_for("auth.password"))
    elif request.method == "POST":
        status = 400 if "csrf_token" in form.errors else 422
    return render_template(
        "admin/password.html", form=form, min_password_length=account_rules.MIN_PASSWORD_LENGTH
    ), status
