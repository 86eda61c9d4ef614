"""Accounts: the list, new accounts, changes, deactivation and password resets."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from consular.admin import bp
from consular.admin.access import acting_admin, admin_page
from consular.admin.account_forms import (
    AccountFilterForm,
    EditAccountForm,
    NewAccountForm,
    role_label,
)
from consular.admin.audit_views import korea_time
from consular.clock import now
from consular.extensions import db
from consular.models import Office, User
from consular.services import accounts, second_factors
from consular.services.errors import DomainError, ValidationFailed
from consular.transaction import transaction

# The session key of a temporary password waiting to be shown once.
TEMPORARY_PASSWORD_KEY = "admin_temporary_password"


def _locale() -> str:
    return str(get_locale() or "en")


def _all_offices() -> list[Office]:
    return list(db.session.scalars(sa.select(Office).order_by(Office.id)))


def _account_or_404(user_id: int) -> User:
    return db.get_or_404(User, user_id)


def _chosen_offices(form: EditAccountForm | NewAccountForm, offices: list[Office]) -> list[Office]:
    by_id = {office.id: office for office in offices}
    return [by_id[office_id] for office_id in form.office_ids() if office_id in by_id]


def _attach_errors(form: FlaskForm, error: DomainError) -> list[str]:
    """Put a service's messages next to their fields; return those that belong to none."""
    fields = error.fields if isinstance(error, ValidationFailed) else {error.field: [error.message]}
    general: list[str] = []
    for name, messages in fields.items():
        field = form._fields.get(name) if name else None
        if field is None:
            general.extend(str(message) for message in messages)
        else:
            field.errors = list(field.errors or []) + [str(message) for message in messages]
    return general


def _keep_password_for_next_page(user: User, password: str) -> None:
    """Keep the temporary password for the next page to show once: sealed in a server-side
    record, whose pad alone is in this session (the password itself never is)."""
    handover_id, pad = accounts.seal_password(db.session, user, acting_admin(), password, now())
    session[TEMPORARY_PASSWORD_KEY] = {"user_id": user.id, "handover": handover_id, "pad": pad}


def _account_template_values() -> dict[str, Any]:
    return {"role_label": role_label, "korea_time": korea_time}


@bp.get("/accounts", endpoint="accounts")
@admin_page
def accounts_list() -> tuple[str, int]:
    """List the accounts, filtered by role, office and status, or searched by name or email."""
    offices = _all_offices()
    form = AccountFilterForm(formdata=request.args)
    form.set_choices(offices, _locale())
    found: list[User] = []
    status = 200
    if form.validate():
        query = accounts.accounts_query(
            role=form.role.data or None,
            office_id=int(form.office.data) if form.office.data else None,
            active={"active": True, "inactive": False}.get(form.status.data or ""),
            search=form.q.data,
        )
        found = list(db.session.scalars(query))
    else:
        status = 400
    filtered = any(request.args.get(name) for name in ("role", "office", "status", "q"))
    return render_template(
        "admin/accounts.html",
        form=form,
        found=found,
        filtered=filtered,
        **_account_template_values(),
    ), status


@bp.route("/accounts/new", methods=["GET", "POST"])
@admin_page
def account_new() -> str | Response | tuple[str, int]:
    """Create an account with a temporary password, shown once on the next page."""
    offices = _all_offices()
    form = NewAccountForm()
    form.set_choices(offices, _locale())
    if request.method == "GET":
        form.language.data = _locale()
    general: list[str] = []
    if form.validate_on_submit():
        try:
            with transaction():
                user, password = accounts.create_account(
                    db.session,
                    acting_admin(),
                    now(),
                    form.email.data or "",
                    form.name.data or "",
                    form.role.data or "",
                    _chosen_offices(form, offices),
                    form.language.data or "",
                    allow_localhost=bool(current_app.debug or current_app.config["DEBUG_MODE"]),
                )
                _keep_password_for_next_page(user, password)
        except DomainError as error:
            general = _attach_errors(form, error)
        else:
            flash(_("The account of %(name)s is created.", name=user.name), "success")
            return redirect(url_for("admin.account_password", user_id=user.id))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/account_new.html", form=form, general_errors=general), status


@bp.route("/accounts/<id:user_id>", methods=["GET", "POST"])
@admin_page
def account_edit(user_id: int) -> str | Response | tuple[str, int]:
    """Show an account and change its name, role, offices, language and whether it is active."""
    user = _account_or_404(user_id)
    offices = _all_offices()
    form = EditAccountForm()
    form.set_choices(offices, _locale())
    if request.method == "GET":
        form.name.data = user.name
        form.role.data = str(user.role)
        form.offices.data = [str(office.id) for office in user.offices]
        form.language.data = user.language
        form.active.data = user.active
    general: list[str] = []
    if form.validate_on_submit():
        try:
            with transaction():
                changed = accounts.update_account(
                    db.session,
                    acting_admin(),
                    now(),
                    user,
                    name=form.name.data or "",
                    role=form.role.data or "",
                    offices=_chosen_offices(form, offices),
                    language=form.language.data or "",
                    active=bool(form.active.data),
                )
        except DomainError as error:
            general = _attach_errors(form, error)
        else:
            if changed:
                flash(_("The account of %(name)s is saved.", name=user.name), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return redirect(url_for("admin.account_edit", user_id=user.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "admin/account_edit.html",
        form=form,
        account=user,
        factors=second_factors.factors_of(db.session, user),
        general_errors=general,
        **_account_template_values(),
    ), status


def _action(user_id: int, change: str) -> Response:
    """Deactivate or reactivate an account, then go back to its page."""
    user = _account_or_404(user_id)
    service = accounts.deactivate_account if change == "deactivate" else accounts.reactivate_account
    try:
        with transaction():
            service(db.session, acting_admin(), now(), user)
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        if change == "deactivate":
            flash(
                _("%(name)s is deactivated and signed out everywhere.", name=user.name),
                "success",
            )
        else:
            flash(_("%(name)s can sign in again.", name=user.name), "success")
    return redirect(url_for("admin.account_edit", user_id=user_id))


@bp.post("/accounts/<id:user_id>/deactivate")
@admin_page
def account_deactivate(user_id: int) -> Response:
    """Deactivate an account: it cannot sign in and its sessions end at once."""
    return _action(user_id, "deactivate")


@bp.post("/accounts/<id:user_id>/reactivate")
@admin_page
def account_reactivate(user_id: int) -> Response:
    """Let a deactivated account sign in again."""
    return _action(user_id, "reactivate")


@bp.post("/accounts/<id:user_id>/reset-password")
@admin_page
def account_reset_password(user_id: int) -> Response:
    """Give an account a new temporary password and end its sessions."""
    user = _account_or_404(user_id)
    try:
        with transaction():
            password = accounts.reset_password(db.session, acting_admin(), now(), user)
            _keep_password_for_next_page(user, password)
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("admin.account_edit", user_id=user_id))
    flash(
        _("The password of %(name)s is reset and their sessions ended.", name=user.name), "success"
    )
    return redirect(url_for("admin.account_password", user_id=user.id))


@bp.post("/accounts/<id:user_id>/reset-second-factors")
@admin_page
def account_reset_second_factors(user_id: int) -> Response:
    """Remove an account's passkeys, authenticator app and recovery codes (the person lost
    them) and end its sessions; it sets up new ones at its next sign-in."""
    user = _account_or_404(user_id)
    if user.id == acting_admin().id:
        abort(403)  # another administrator must do it: nobody lowers their own protection
    with transaction():
        second_factors.reset(db.session, acting_admin(), user, now())
    flash(
        _("The second factors of %(name)s are removed and their sessions ended.", name=user.name),
        "success",
    )
    return redirect(url_for("admin.account_edit", user_id=user.id))


@bp.get("/accounts/<id:user_id>/password")
@admin_page
def account_password(user_id: int) -> Response:
    """Show a new temporary password once, with advice on handing it over."""
    user = _account_or_404(user_id)
    waiting = session.pop(TEMPORARY_PASSWORD_KEY, None)
    password = None
    if isinstance(waiting, dict) and waiting.get("user_id") == user.id:
        with transaction():
            password = accounts.open_password(
                db.session,
                int(waiting.get("handover") or 0),
                str(waiting.get("pad") or ""),
                user,
                acting_admin(),
                now(),
            )
    response = make_response(
        render_template("admin/account_password.html", account=user, password=password)
    )
    response.headers["Cache-Control"] = "no-store"
    return response
