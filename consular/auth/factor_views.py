"""The second sign-in step, and the account's security page where second factors are set up."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import segno
from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.wrappers import Response

from consular.admin.audit_views import korea_time
from consular.auth import (
    PENDING,
    SECOND_FACTOR,
    pending_account,
    relying_party,
    second_factor_missing,
    sign_in_now,
)
from consular.auth.factor_forms import (
    AuthenticatorCodeForm,
    ConfirmWithPasswordForm,
    RecoveryCodeForm,
)
from consular.auth.views import bp
from consular.clock import now
from consular.extensions import db, limiter
from consular.models import User
from consular.services import second_factors
from consular.services.errors import DomainError, ValidationFailed
from consular.services.passwords import verify_password
from consular.transaction import transaction

# The challenge a passkey must sign, kept in the signed session until it is answered.
_PASSKEY_CHALLENGE = "staff_passkey_challenge"


def _pending_key() -> str:
    pending = session.get(PENDING)
    account = pending.get("account") if isinstance(pending, dict) else None
    return "second-step:" + str(account or request.remote_addr)


def _refused(response: Response) -> bool:
    return response.status_code >= 400


def _remember_challenge(challenge: bytes) -> None:
    session[_PASSKEY_CHALLENGE] = base64.urlsafe_b64encode(challenge).decode()


def _take_challenge() -> bytes | None:
    """The challenge of the passkey request in progress, usable once."""
    value = session.pop(_PASSKEY_CHALLENGE, None)
    if not isinstance(value, str):
        return None
    try:
        return base64.urlsafe_b64decode(value.encode())
    except ValueError:
        return None


def _credential_text() -> str | None:
    """The authenticator's answer from a JSON body, as the JSON text the library parses."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
        return None
    return json.dumps(body["credential"])


def _json_error(message: str, status: int) -> tuple[Response, int]:
    return jsonify(error="refused", message=message), status


# The second step of signing in


def _back_to_sign_in() -> Response:
    session.pop(PENDING, None)
    flash(_("Please sign in again: the second step was not completed in time."), "info")
    return redirect(url_for("auth.sign_in"))


@bp.route("/sign-in/verify", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"], deduct_when=_refused)
@limiter.limit("10 per 15 minutes", methods=["POST"], key_func=_pending_key, deduct_when=_refused)
def second_step() -> str | Response | tuple[str, int]:
    """Ask the account whose password was right for its passkey, app code or recovery code."""
    pending = pending_account()
    if pending is None:
        return _back_to_sign_in()
    user, target = pending
    factors = second_factors.factors_of(db.session, user)
    code_form = AuthenticatorCodeForm(prefix="app")
    recovery_form = RecoveryCodeForm(prefix="recovery")
    method = request.form.get("method")
    if request.method == "POST" and method == "authenticator_app" and code_form.validate():
        with transaction():
            accepted = second_factors.verify_totp(
                db.session, user, code_form.code.data or "", now()
            )
        if accepted:
            return sign_in_now(user, "authenticator_app", target)
        code_form.code.errors = [_("This code is not right, or it was used already.")]
    elif request.method == "POST" and method == "recovery_code" and recovery_form.validate():
        with transaction():
            accepted = second_factors.use_recovery_code(
                db.session, user, recovery_form.recovery_code.data or "", now()
            )
            left = second_factors.factors_of(db.session, user).recovery_codes_left
        if accepted:
            response = sign_in_now(user, "recovery_code", target)
            flash(
                ngettext(
                    "You signed in with a recovery code. %(num)d code is left.",
                    "You signed in with a recovery code. %(num)d codes are left.",
                    left,
                ),
                "warning",
            )
            return response
        recovery_form.recovery_code.errors = [
            _("This recovery code is not right, or it was used already.")
        ]
    elif request.method == "POST" and method not in ("authenticator_app", "recovery_code"):
        abort(400)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "auth/second_step.html",
        factors=factors,
        code_form=code_form,
        recovery_form=recovery_form,
        show_recovery=method == "recovery_code" or not factors.any,
    ), status


@bp.post("/sign-in/passkey/options")
@limiter.limit("30 per minute")
def passkey_sign_in_options() -> Response | tuple[Response, int]:
    """The challenge for the pending account's passkeys (navigator.credentials.get)."""
    pending = pending_account()
    if pending is None:
        return _json_error(_("Please sign in again."), 401)
    options, challenge = second_factors.authentication_options(
        db.session, pending[0], relying_party()
    )
    _remember_challenge(challenge)
    return Response(options, mimetype="application/json", headers={"Cache-Control": "no-store"})


@bp.post("/sign-in/passkey")
@limiter.limit("30 per minute", deduct_when=_refused)
@limiter.limit("10 per 15 minutes", key_func=_pending_key, deduct_when=_refused)
def passkey_sign_in() -> Response | tuple[Response, int]:
    """Finish signing in with a passkey's signed answer."""
    pending = pending_account()
    if pending is None:
        return _json_error(_("Please sign in again."), 401)
    user, target = pending
    challenge, credential = _take_challenge(), _credential_text()
    if challenge is None or credential is None:
        return _json_error(_("The passkey could not be used. Please try again."), 400)
    with transaction():
        accepted = second_factors.verify_passkey(
            db.session, user, credential, challenge, relying_party(), now()
        )
    if not accepted:
        return _json_error(_("The passkey could not be used. Please try again."), 422)
    response = sign_in_now(user, "passkey", target)
    return jsonify(redirect=response.location)


# The account's security page


def _me() -> User:
    return current_user._get_current_object()


def _password_confirmed(form: ConfirmWithPasswordForm) -> bool:
    if not form.validate_on_submit():
        return False
    if verify_password(_me(), form.password.data or ""):
        return True
    form.password.errors = [_("The password is wrong.")]
    return False


def _roles() -> tuple[str, ...]:
    return tuple(current_app.config["STAFF_SECOND_FACTOR_ROLES"])


def _enrolled() -> None:
    """This session has set up a second factor: the staff pages are open to it now."""
    session.setdefault(SECOND_FACTOR, "enrolled")


def _security_page(
    password_form: ConfirmWithPasswordForm | None = None, status: int = 200
) -> tuple[str, int]:
    user = _me()
    return render_template(
        "auth/security.html",
        factors=second_factors.factors_of(db.session, user),
        required=second_factors.required_for(user, _roles()),
        missing=second_factor_missing(user),
        password_form=password_form or ConfirmWithPasswordForm(),
        korea_time=korea_time,
    ), status


@bp.get("/security")
@login_required
def security() -> tuple[str, int]:
    """The account's passkeys, authenticator app and recovery codes."""
    return _security_page()


def _qr_svg(text: str) -> Markup:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(
        buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, dark="#111"
    )
    return Markup(buffer.getvalue().decode())  # noqa: S704  (segno's own SVG, no user text)


@bp.route("/security/authenticator-app", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per 15 minutes", methods=["POST"], deduct_when=_refused)
def authenticator_app() -> str | Response | tuple[str, int]:
    """Set up the authenticator app: scan the QR code, then enter the code it shows."""
    user = _me()
    form = AuthenticatorCodeForm()
    try:
        with transaction():
            app = second_factors.start_authenticator_app(db.session, user, now())
    except DomainError as error:
        flash(str(error.message), "info")
        return redirect(url_for("auth.security"))
    if form.validate_on_submit():
        try:
            with transaction():
                second_factors.confirm_authenticator_app(
                    db.session, user, form.code.data or "", now()
                )
                first = second_factors.factors_of(db.session, user).recovery_codes_left == 0
                codes = (
                    second_factors.new_recovery_codes(
                        db.session, user, now(), with_first_factor=True
                    )
                    if first
                    else []
                )
        except ValidationFailed as error:
            form.code.errors = list(error.fields.get("code", []))
        else:
            _enrolled()
            flash(_("The authenticator app is set up."), "success")
            return _show_codes(codes) if codes else redirect(url_for("auth.security"))
    party = relying_party()
    uri = second_factors.provisioning_uri(app, user, party.id)
    secret = " ".join(app.secret[i : i + 4] for i in range(0, len(app.secret), 4))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "auth/authenticator_app.html", form=form, qr=_qr_svg(uri), secret=secret
    ), status


@bp.post("/security/authenticator-app/remove")
@login_required
@limiter.limit("10 per 15 minutes", deduct_when=_refused)
def remove_authenticator_app() -> str | Response | tuple[str, int]:
    """Remove the authenticator app, after the password."""
    form = ConfirmWithPasswordForm()
    if not _password_confirmed(form):
        return _security_page(form, 422)
    user = _me()
    try:
        with transaction():
            if second_factors.factors_of(db.session, user).authenticator_app:
                second_factors.check_removal_keeps_a_factor(db.session, user, _roles())
            second_factors.remove_authenticator_app(db.session, user, now())
    except DomainError as error:
        flash(str(error.message), "error")
        return _security_page(form, 409)
    flash(_("The authenticator app is removed."), "success")
    return redirect(url_for("auth.security"))


@bp.post("/security/passkeys/options")
@login_required
@limiter.limit("30 per minute")
def passkey_options() -> Response:
    """The options for registering a new passkey (navigator.credentials.create)."""
    options, challenge = second_factors.registration_options(db.session, _me(), relying_party())
    _remember_challenge(challenge)
    return Response(options, mimetype="application/json", headers={"Cache-Control": "no-store"})


@bp.post("/security/passkeys")
@login_required
@limiter.limit("10 per 15 minutes", deduct_when=_refused)
def add_passkey() -> Response | tuple[Response, int]:
    """Keep the passkey the browser has just created."""
    challenge, credential = _take_challenge(), _credential_text()
    if challenge is None or credential is None:
        return _json_error(_("The passkey could not be added. Please try again."), 400)
    body: dict[str, Any] = request.get_json(silent=True) or {}
    name = body.get("name") if isinstance(body.get("name"), str) else ""
    user = _me()
    try:
        with transaction():
            second_factors.register_passkey(
                db.session, user, credential, challenge, relying_party(), str(name), now()
            )
    except DomainError as error:
        return _json_error(str(error.message), 422)
    _enrolled()
    flash(_("The passkey is added."), "success")
    return jsonify(redirect=url_for("auth.security"))


@bp.post("/security/passkeys/<int:passkey_id>/remove")
@login_required
@limiter.limit("10 per 15 minutes", deduct_when=_refused)
def remove_passkey(passkey_id: int) -> str | Response | tuple[str, int]:
    """Remove one of the account's passkeys, after the password."""
    form = ConfirmWithPasswordForm()
    if not _password_confirmed(form):
        return _security_page(form, 422)
    user = _me()
    try:
        with transaction():
            second_factors.check_removal_keeps_a_factor(db.session, user, _roles())
            second_factors.remove_passkey(db.session, user, passkey_id, now())
    except DomainError as error:
        flash(str(error.message), "error")
        return _security_page(form, 409)
    flash(_("The passkey is removed."), "success")
    return redirect(url_for("auth.security"))


def _show_codes(codes: list[str]) -> str:
    """The new recovery codes, shown on this one answer only (never kept in the cookie)."""
    return render_template("auth/recovery_codes.html", codes=codes)


@bp.post("/security/recovery-codes")
@login_required
@limiter.limit("10 per 15 minutes", deduct_when=_refused)
def recovery_codes() -> str | Response | tuple[str, int]:
    """Make new recovery codes (the old ones stop working), after the password."""
    form = ConfirmWithPasswordForm()
    if not _password_confirmed(form):
        return _security_page(form, 422)
    user = _me()
    if not second_factors.has_second_factor(db.session, user):
        flash(_("Set up a passkey or an authenticator app first."), "error")
        return redirect(url_for("auth.security"))
    with transaction():
        codes = second_factors.new_recovery_codes(db.session, user, now())
    return _show_codes(codes)
