"""Sign in, sign out and change the password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from consular.auth import await_second_factor, sign_in_now
from consular.auth.forms import ChangePasswordForm, SignInForm
from consular.clock import now
from consular.extensions import db, limiter
from consular.services import accounts, second_factors
from consular.services.errors import DomainError, ValidationFailed
from consular.transaction import transaction
from consular.urls import local_target

bp = Blueprint("auth", __name__, url_prefix="/staff")


def _account_key() -> str:
    return "sign-in:" + (request.form.get("email") or "").strip().lower()[:254]


def _failed(response: Response) -> bool:
    return response.status_code != 302


def _safe_next(target: str | None) -> str:
    return local_target(target, url_for("staff.index"))


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit("20 per minute;100 per hour", methods=["POST"], deduct_when=_failed)
@limiter.limit("5 per 15 minutes", methods=["POST"], key_func=_account_key, deduct_when=_failed)
def sign_in() -> str | Response | tuple[str, int]:
    """Sign a member of staff in."""
    if current_user.is_authenticated:
        return redirect(url_for("staff.index"))
    form = SignInForm()
    if form.validate_on_submit():
        with transaction():
            user = accounts.authenticate(
                db.session, form.email.data or "", form.password.data or "", now()
            )
        if user is not None:
            target = _safe_next(request.args.get("next"))
            if second_factors.has_second_factor(db.session, user):
                return await_second_factor(user, target)
            return sign_in_now(user, None, target)
        form.password.errors = [_("The email address or the password is wrong.")]
    status = 422 if request.method == "POST" else 200
    return render_template("auth/sign_in.html", form=form), status


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
