"""Sign in, sign out and change the password."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from consular.auth import await_second_factor, sign_in_now
from consular.auth.forms import ChangePasswordForm, SignInForm
from consular.clients import client_of
from consular.clock import now
from consular.extensions import db, limiter
from consular.services import accounts, proof_of_work, second_factors, sign_in_throttle
from consular.services.errors import DomainError, ValidationFailed
from consular.transaction import transaction
from consular.urls import local_target

bp = Blueprint("auth", __name__, url_prefix="/staff")


def _failed(response: Response) -> bool:
    return response.status_code != 302


def _safe_next(target: str | None) -> str:
    return local_target(target, url_for("staff.index"))


def _throttle() -> sign_in_throttle.ThrottleSettings:
    return sign_in_throttle.settings_from_config(current_app.config)


def _sign_in_page(
    form: SignInForm, refused: sign_in_throttle.SignInRefused | None = None
) -> Response:
    """The sign-in form again after a POST, with the proof of work when the account needs it."""
    proof_error = None
    if refused is not None and refused.field == proof_of_work.FIELD:
        proof_error = refused.message
    elif refused is not None:
        form.password.errors = [refused.message]
    wants_proof = sign_in_throttle.needs_proof(
        db.session, form.email.data or "", now(), _throttle()
    )
    page = render_template(
        "auth/sign_in.html", form=form, wants_proof=wants_proof, proof_error=proof_error
    )
    response = make_response(page, 422 if refused is None else refused.http_status)
    if refused is not None and refused.retry_after:
        response.headers["Retry-After"] = str(refused.retry_after)
    return response


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["SIGN_IN_RATE_LIMIT"], methods=["POST"], deduct_when=_failed
)
def sign_in() -> str | Response | tuple[str, int]:
    """Sign a member of staff in."""
    if current_user.is_authenticated:
        return redirect(url_for("staff.index"))
    form = SignInForm()
    if form.validate_on_submit():
        try:
            with transaction():
                user = sign_in_throttle.authenticate(
                    db.session,
                    form.email.data or "",
                    form.password.data or "",
                    request.form.get(proof_of_work.FIELD),
                    client_of(request),
                    now(),
                    _throttle(),
                    sign_in_throttle.hashing_slots(current_app),
                )
        except sign_in_throttle.SignInRefused as refused:
            return _sign_in_page(form, refused)
        if user is not None:
            target = _safe_next(request.args.get("next"))
            if second_factors.has_second_factor(db.session, user):
                return await_second_factor(user, target)
            return sign_in_now(user, None, target)
        form.password.errors = [_("The email address or the password is wrong.")]
    if request.method == "POST":
        return _sign_in_page(form)
    return render_template("auth/sign_in.html", form=form)


@bp.get("/sign-in/challenge")
@limiter.limit(lambda: current_app.config["POW_CHALLENGE_RATE_LIMIT"])
def sign_in_challenge() -> Response:
    """Give a proof-of-work challenge for the sign-in form."""
    response = jsonify(sign_in_throttle.issue_challenge(now(), _throttle()))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/sign-out")
@login_required
def sign_out() -> Response:
    """Sign out, ending this account's sessions on the server."""
    with transaction():
        accounts.end_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password() -> str | Response | tuple[str, int]:
    """Change the password; every other session of the account ends."""
    form = ChangePasswordForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            with transaction():
                accounts.change_password(
                    db.session,
                    user,
                    form.current_password.data or "",
                    form.new_password.data or "",
                    form.repeat_password.data or "",
                    now(),
                )
        except ValidationFailed as error:
            for name, messages in error.fields.items():
                form[name].errors = list(form[name].errors or []) + list(messages)
        except DomainError as error:
            form.new_password.errors = [*(form.new_password.errors or []), str(error.message)]
        else:
            login_user(user)  # this session goes on with the new session version
            flash(_("Your password is changed. Other sessions have been signed out."), "success")
            return redirect(url_for("staff.index"))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/change_password.html", form=form), status
