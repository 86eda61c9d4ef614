"""Service types: list with missing translations flagged, create, edit, retire, delete."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from consular.admin import bp
from consular.admin.access import acting_admin, admin_page
from consular.admin.catalog_forms import (
    DETAIL_SET_LABELS,
    LANGUAGE_CHOICES,
    SERVICE_TEXT_FIELDS,
    CheckboxesField,
    ServiceTypeForm,
    fill_texts,
    texts_from,
)
from consular.admin.form_base import apply_change, choice_values, validated
from consular.clock import now
from consular.extensions import db
from consular.models import Office, ServiceType
from consular.models.i18n import LANGUAGE_NAMES, LANGUAGES
from consular.services import catalog
from consular.services.errors import DomainError
from consular.transaction import transaction

Page = str | Response | tuple[str, int]


def _locale() -> str:
    return str(get_locale() or "en")


def _service_or_404(service_id: int) -> ServiceType:
    service = db.session.get(ServiceType, service_id)
    if service is None:
        abort(404)
    return service


def _prepare(form: ServiceTypeForm, service: ServiceType | None) -> None:
    locale = _locale()
    offices = db.session.scalars(sa.select(Office).order_by(Office.id))
    form.offices.choices = [(o.id, o.display_name(locale)) for o in offices]
    form.detail_sets.choices = list(DETAIL_SET_LABELS.items())
    form.waitlist_mode.choices = [
        ("off", _("None: a cancelled seat goes back on sale after its delay")),
        ("fifo", _("First come, first served: a freed seat goes to whoever has waited longest")),
        ("random", _("At random: a freed seat goes to one of those waiting, drawn at random")),
    ]
    others = db.session.scalars(
        sa.select(ServiceType)
        .where(ServiceType.id != (service.id if service else -1))
        .order_by(ServiceType.is_active.desc(), ServiceType.sort_order, ServiceType.id)
    )
    form.combinable.choices = [
        (s.id, s.display_name(locale) if s.is_active else _("%(name)s (retired)",
                                                            name=s.display_name(locale)))
        for s in others
    ]  # fmt: skip


def _offered(field: CheckboxesField) -> list[int]:
    offered = choice_values(field)
    return [value for value in field.data or [] if value in offered]


def _data_from(form: ServiceTypeForm) -> catalog.ServiceTypeData:
    documents = {
        language: (form[f"documents_{language}"].data or "").splitlines() for language in LANGUAGES
    }
    return catalog.ServiceTypeData(
        code=(form.code.data or "").strip(),
        name=texts_from(form, "name"),
        description=texts_from(form, "description"),
        documents=documents,
        fee=texts_from(form, "fee"),
        duration_minutes=form.duration_minutes.data or 0,
        detail_sets=list(form.detail_sets.data or []),
        min_notice_hours=form.min_notice_hours.data or 0,
        horizon_days=form.horizon_days.data or 0,
        cutoff_hours=form.cutoff_hours.data or 0,
        max_active_bookings=form.max_active_bookings.data or 0,
        iin_window_days=form.iin_window_days.data or 0,
        waitlist_mode=form.waitlist_mode.data or "",
        is_online=bool(form.is_online.data),
        sort_order=form.sort_order.data or 0,
        # Only what the form offered: anything else was never on the page.
        office_ids=_offered(form.offices),
        combinable_ids=_offered(form.combinable),
    )


def _render_form(
    form: ServiceTypeForm,
    service: ServiceType | None,
    status: int = 200,
    general_errors: list[str] | None = None,
) -> Page:
    page = render_template(
        "admin/service_form.html",
        form=form,
        general_errors=general_errors or [],
        service=service,
        languages=LANGUAGE_CHOICES,
        text_fields=list(SERVICE_TEXT_FIELDS),
        has_history=service is not None and catalog.has_history(db.session, service),
    )
    return (page, status) if status != 200 else page


@bp.get("/services")
@admin_page
def services() -> str:
    """List the service types, flagging missing translations."""
    rows = db.session.scalars(
        sa.select(ServiceType)
        .options(selectinload(ServiceType.offices))
        .order_by(ServiceType.is_active.desc(), ServiceType.sort_order, ServiceType.id)
    ).all()
    return render_template(
        "admin/services.html",
        services=rows,
        missing={
            s.id: [LANGUAGE_NAMES[code] for code in catalog.missing_translations(s)] for s in rows
        },
        detail_labels=DETAIL_SET_LABELS,
    )


@bp.route("/services/new", methods=["GET", "POST"])
@admin_page
def service_new() -> Page:
    """Add a service type."""
    general_errors: list[str] = []
    form = ServiceTypeForm()
    _prepare(form, None)
    if not form.is_submitted():
        form.process(
            data={"duration_minutes": 15, "min_notice_hours": 24, "horizon_days": 60,
                  "cutoff_hours": 24, "max_active_bookings": 1, "iin_window_days": 0,
                  "waitlist_mode": "off", "is_online": True,
                  "sort_order": 100}
        )  # fmt: skip
    elif validated(form, lambda: catalog.check_service_type(db.session, _data_from(form), None)):
        created, service = apply_change(
            form,
            general_errors,
            lambda: catalog.create_service_type(
                db.session, acting_admin(), now(), _data_from(form)
            ),
        )
        if created:
            assert service is not None  # created: the change returned the new service type
            flash(_("Service type %(name)s added.", name=service.display_name(_locale())),
                  "success")  # fmt: skip
            return redirect(url_for("admin.services"))
    return _render_form(form, None, 400 if form.is_submitted() else 200, general_errors)


@bp.route("/services/<id:service_id>", methods=["GET", "POST"])
@admin_page
def service_edit(service_id: int) -> Page:
    """Change a service type's texts, rules and offices (new bookings only)."""
    general_errors: list[str] = []
    service = _service_or_404(service_id)
    form = ServiceTypeForm()
    _prepare(form, service)
    form.code.data = service.code  # in web addresses and API clients: it never changes
    if not form.is_submitted():
        form.process(obj=service)
        for text in SERVICE_TEXT_FIELDS:
            fill_texts(form, text, getattr(service, text) or {})
        form.offices.data = [o.id for o in service.offices]
        form.combinable.data = [s.id for s in service.combinable_with]
    elif validated(form, lambda: catalog.check_service_type(db.session, _data_from(form), service)):
        updated, _nothing = apply_change(
            form,
            general_errors,
            lambda: catalog.update_service_type(
                db.session, acting_admin(), now(), service, _data_from(form)
            ),
        )
        if updated:
            flash(_("Saved. The change applies to new bookings; booked appointments keep "
                    "what they were booked with."), "success")  # fmt: skip
            return redirect(url_for("admin.service_edit", service_id=service.id))
    return _render_form(form, service, 400 if form.is_submitted() else 200, general_errors)


def _service_action(service_id: int, action: str) -> Response:
    service = _service_or_404(service_id)
    if not FlaskForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return redirect(url_for("admin.service_edit", service_id=service.id))
    name = service.display_name(_locale())
    try:
        with transaction():
            if action == "delete":
                catalog.delete_service_type(db.session, acting_admin(), now(), service)
            else:
                catalog.set_service_type_active(
                    db.session, acting_admin(), now(), service, action == "reinstate"
                )
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.service_edit", service_id=service_id))
    messages = {
        "retire": _("%(name)s is retired: it can no longer be booked. Its history is kept.",
                    name=name),
        "reinstate": _("%(name)s can be booked again.", name=name),
        "delete": _("%(name)s was deleted.", name=name),
    }  # fmt: skip
    flash(messages[action], "success")
    return redirect(url_for("admin.services"))


@bp.post("/services/<id:service_id>/retire")
@admin_page
def service_retire(service_id: int) -> Response:
    """Stop new bookings of a service type, keeping its history."""
    return _service_action(service_id, "retire")


@bp.post("/services/<id:service_id>/reinstate")
@admin_page
def service_reinstate(service_id: int) -> Response:
    """Offer a retired service type again."""
    return _service_action(service_id, "reinstate")


@bp.post("/services/<id:service_id>/delete")
@admin_page
def service_delete(service_id: int) -> Response:
    """Delete a service type that was never used."""
    return _service_action(service_id, "delete")
