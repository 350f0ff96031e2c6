"""Coordinator sign-in and sign-out (Flask-Login), rate limited, with CSRF-protected forms."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
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
from wtforms.validators import DataRequired, Length

from mapapp import coordinators
from mapapp.web.limits import configured_limit, limit_is_off, limiter

SIGN_IN_ERROR = "That name and password do not match an account. Check both and try again."
DEFAULT_LANDING = "admin.queue"

blueprint = Blueprint("auth", __name__, url_prefix="/admin")
login_manager = LoginManager()
log = logging.getLogger(__name__)


class CoordinatorUser(UserMixin):
    """The signed-in coordinator as Flask-Login sees them."""

    def __init__(self, coordinator: coordinators.Coordinator) -> None:
        self.coordinator = coordinator
        self.name = coordinator.name

    def get_id(self) -> str:
        return self.name


class SignInForm(FlaskForm):
    """The sign-in form."""

    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=coordinators.MAX_PASSWORD_LENGTH)]
    )


class SignOutForm(FlaskForm):
    """The sign-out button: a POST with a CSRF token, so no link can sign a person out."""


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
def load_user(name: str) -> CoordinatorUser | None:
    """Return the coordinator of a session, or None once their account is removed."""
    coordinator = coordinators.get_coordinator(name)
    return None if coordinator is None else CoordinatorUser(coordinator)


@login_manager.unauthorized_handler
def unauthorized() -> ResponseReturnValue:
    """Send a person to the sign-in page and tell an API client 401."""
    from mapapp.web import wants_json

    if wants_json():
        return jsonify(
            error="Unauthorized", message="Sign in as a coordinator to use this address."
        ), 401
    return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))


def safe_next(target: str | None) -> str:
    """Return where to go after signing in: a path on this site, never another site."""
    if target:
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
        coordinator = coordinators.verify(form.name.data or "", form.password.data or "")
        if coordinator is not None:
            login_user(CoordinatorUser(coordinator))
            log.info("Coordinator %s signed in", coordinator.name)
            return redirect(safe_next(request.args.get("next")))
        log.warning("Failed sign-in for name %r from %s", form.name.data, request.remote_addr)
        form.form_errors.append(SIGN_IN_ERROR)
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("admin/sign_in.html", form=form), status


@blueprint.post("/sign-out")
@login_required
def sign_out() -> ResponseReturnValue:
    """Sign the coordinator out."""
    if SignOutForm().validate_on_submit():
        logout_user()
        flash("You are signed out.", "info")
        return redirect(url_for("auth.sign_in"))
    flash("Your session form expired; press Sign out again.", "error")
    return redirect(url_for(DEFAULT_LANDING))
