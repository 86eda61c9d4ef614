"""Managers' desks page: the office's counters, what each serves, and which are in use."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from consular.clock import now
from consular.extensions import db
from consular.models import Desk, Office, ServiceType
from consular.models.i18n import localized
from consular.services import desks
from consular.services.errors import DomainError, ValidationFailed
from consular.staff import bp
from consular.staff.forms import DeskSettingsForm
from consular.staff.schedule_views import _locale, manager_page
from consular.staff.views import _user
from consular.transaction import refusal_text, transaction


def _office_desks(office: Office) -> list[Desk]:
    return list(
        db.session.scalars(
            sa.select(Desk)
            .where(Desk.office_id == office.id)
            .order_by(Desk.is_active.desc(), Desk.name)
        )
    )


def _service_choices(office: Office) -> list[tuple[int, str]]:
    locale = _locale()
    return [
        (service.id, localized(service.name, locale))
        for service in sorted(office.services, key=lambda s: s.sort_order)
        if service.is_active
    ]


def _desk_form(desk: Desk | None, office: Office, *, bound: bool = False) -> DeskSettingsForm:
    """The form of one desk (prefixed by its id, so that each field has its own id), read
    from the request when `bound`, else from the desk."""
    prefix = f"desk-{desk.id}" if desk is not None else "new"
    if bound:
        form = DeskSettingsForm(prefix=prefix)
    elif desk is not None:
        form = DeskSettingsForm(formdata=None, prefix=prefix, obj=desk)
        form.active.data = desk.is_active
        form.services.data = [service.id for service in desk.services]
    else:
        form = DeskSettingsForm(formdata=None, prefix=prefix)
    form.services.choices = _service_choices(office)
    return form


Page = str | tuple[str, int]


def _page(
    office: Office, failed: DeskSettingsForm | None = None, failed_id: int | None = None
) -> Page:
    """The page, with the form that failed (if any) in place of its desk's or the new one's."""
    rows = [
        (desk, failed if failed is not None and failed_id == desk.id else _desk_form(desk, office))
        for desk in _office_desks(office)
    ]
    new_form = failed if failed is not None and failed_id is None else _desk_form(None, office)
    page = render_template(
        "staff/desks.html",
        office=office,
        rows=rows,
        new_form=new_form,
        failed=failed,
    )
    return (page, 422) if failed is not None else page


def _attach(form: DeskSettingsForm, error: DomainError) -> None:
    """Put a refusal next to its field (the name, the services or the in-use box)."""
    fields: dict[str, list[str]] = (
        error.fields
        if isinstance(error, ValidationFailed)
        else {error.field or "active": [refusal_text(error)]}
    )
    for name, messages in fields.items():
        field = getattr(form, name, None) or form.name
        field.errors = list(field.errors or []) + [str(message) for message in messages]


def _chosen_services(office: Office, form: DeskSettingsForm) -> list[ServiceType]:
    chosen = set(form.services.data or [])
    return [service for service in office.services if service.id in chosen]


@bp.get("/<office_code>/desks")
@manager_page
def desks_page(office: Office) -> Page:
    """Show the office's desks with what each serves, and a form to add one."""
    return _page(office)


@bp.post("/<office_code>/desks")
@manager_page
def add_desk(office: Office) -> Response | Page:
    """Add a desk."""
    form = _desk_form(None, office, bound=True)
    if not form.validate_on_submit():
        return _page(office, form)
    try:
        with transaction():
            desk = desks.add_desk(
                db.session,
                office,
                form.name.data or "",
                _chosen_services(office, form),
                _user(),
                now(),
            )
            name = desk.name
    except DomainError as error:
        _attach(form, error)
        return _page(office, form)
    flash(_("Desk %(desk)s added.", desk=name), "success")
    return redirect(url_for("staff.desks_page", office_code=office.code))


@bp.post("/<office_code>/desks/<int:desk_id>")
@manager_page
def change_desk(office: Office, desk_id: int) -> Response | Page:
    """Rename a desk, choose what it serves, or take it out of use."""
    desk = db.session.get(Desk, desk_id)
    if desk is None or desk.office_id != office.id:
        abort(404)
    form = _desk_form(desk, office, bound=True)
    if not form.validate_on_submit():
        return _page(office, form, desk.id)
    try:
        with transaction():
            changed = desks.change_desk(
                db.session,
                desk,
                form.name.data or "",
                _chosen_services(office, form),
                bool(form.active.data),
                _user(),
                now(),
            )
            name = changed.name
    except DomainError as error:
        _attach(form, error)
        return _page(office, form, desk_id)
    flash(_("Desk %(desk)s saved.", desk=name), "success")
    return redirect(url_for("staff.desks_page", office_code=office.code) + f"#desk-{desk_id}")
