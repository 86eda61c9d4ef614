"""Offices: list, add and edit; their schedules use the managers' schedule pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from consular.admin import bp
from consular.admin.access import acting_admin, admin_page
from consular.admin.catalog_forms import (
    LANGUAGE_CHOICES,
    OFFICE_TEXT_FIELDS,
    OfficeForm,
    fill_texts,
    texts_from,
)
from consular.admin.form_base import apply_change, validated
from consular.clock import now
from consular.extensions import db
from consular.models import Office
from consular.services import catalog

Page = str | Response | tuple[str, int]


def _office_or_404(office_id: int) -> Office:
    office = db.session.get(Office, office_id)
    if office is None:
        abort(404)
    return office


def _data_from(form: OfficeForm) -> catalog.OfficeData:
    return catalog.OfficeData(
        code=(form.code.data or "").strip(),
        reference_prefix=(form.reference_prefix.data or "").strip().upper(),
        ticket_prefix=(form.ticket_prefix.data or "").strip().upper(),
        name=texts_from(form, "name"),
        address=texts_from(form, "address"),
        directions=texts_from(form, "directions"),
        map_url=(form.map_url.data or "").strip(),
        phone=(form.phone.data or "").strip(),
        email=(form.email.data or "").strip(),
        postal_code=(form.postal_code.data or "").strip(),
        timezone=(form.timezone.data or "").strip(),
        slot_minutes=form.slot_minutes.data or 0,
        calls_spoken=bool(form.calls_spoken.data),
        call_languages=list(form.call_languages.data or []),
    )


def _render_form(
    form: OfficeForm,
    office: Office | None,
    status: int = 200,
    general_errors: list[str] | None = None,
) -> Page:
    page = render_template(
        "admin/office_form.html",
        form=form,
        general_errors=general_errors or [],
        office=office,
        languages=LANGUAGE_CHOICES,
        text_fields=list(OFFICE_TEXT_FIELDS),
    )
    return (page, status) if status != 200 else page


@bp.get("/offices")
@admin_page
def offices() -> str:
    """List the offices with links to their settings and schedules."""
    rows = db.session.scalars(sa.select(Office).order_by(Office.id)).all()
    return render_template("admin/offices.html", offices=rows)


@bp.route("/offices/new", methods=["GET", "POST"])
@admin_page
def office_new() -> Page:
    """Add an office."""
    general_errors: list[str] = []
    form = OfficeForm()
    if not form.is_submitted():
        form.process(
            data={"timezone": "Asia/Seoul", "slot_minutes": 15, "call_languages": ["ko", "ru"]}
        )
    elif validated(form, lambda: catalog.check_office(db.session, _data_from(form), None)):
        created, office = apply_change(
            form,
            general_errors,
            lambda: catalog.create_office(db.session, acting_admin(), now(), _data_from(form)),
        )
        if created:
            assert office is not None  # created: the change returned the new office
            flash(
                _("%(name)s added. Set its opening hours and desks so that it offers times.",
                  name=office.display_name(str(get_locale()))),
                "success",
            )  # fmt: skip
            return redirect(url_for("staff.schedule_page", office_code=office.code))
    return _render_form(form, None, 400 if form.is_submitted() else 200, general_errors)


@bp.route("/offices/<id:office_id>", methods=["GET", "POST"])
@admin_page
def office_edit(office_id: int) -> Page:
    """Change an office's names, address, contacts, zone or slot length."""
    general_errors: list[str] = []
    office = _office_or_404(office_id)
    form = OfficeForm()
    form.code.data = office.code  # in staff and display addresses: it never changes
    if not form.is_submitted():
        form.process(obj=office)
        for text in OFFICE_TEXT_FIELDS:
            fill_texts(form, text, getattr(office, text) or {})
    elif validated(form, lambda: catalog.check_office(db.session, _data_from(form), office)):
        updated, changes = apply_change(
            form,
            general_errors,
            lambda: catalog.update_office(
                db.session,
                acting_admin(),
                now(),
                office,
                _data_from(form),
                int(current_app.config["SLOT_HORIZON_DAYS"]),
            ),
        )
        if updated:
            assert changes is not None  # updated: the change returned what it did to the slots
            flash(_("Saved."), "success")
            if changes.orphaned:
                flash(
                    ngettext(
                        "%(num)d booked time no longer fits the new slots: keep or cancel "
                        "its appointments on the schedule page.",
                        "%(num)d booked times no longer fit the new slots: keep or cancel "
                        "their appointments on the schedule page.",
                        changes.orphaned,
                    ),
                    "error",
                )
                return redirect(url_for("staff.schedule_page", office_code=office.code))
            return redirect(url_for("admin.office_edit", office_id=office.id))
    return _render_form(form, office, 400 if form.is_submitted() else 200, general_errors)
