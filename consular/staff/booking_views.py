"""Booking on behalf of a caller: phone or counter bookings, and the services only staff book."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from consular.booking.forms import applicant_form_class
from consular.booking.journey import parse_day
from consular.clock import now as clock_now
from consular.extensions import db
from consular.models import Office, ServiceType
from consular.models.i18n import LANGUAGES
from consular.services import booking, booking_request
from consular.services.availability import StartTime, VisitRules, visit_start_times
from consular.services.details import groups_for
from consular.services.errors import DomainError, ValidationFailed
from consular.staff import bp
from consular.staff.views import office_for_user, staff_page
from consular.transaction import transaction

Page = str | WerkzeugResponse | tuple[str, int]


def _services_of(office: Office) -> list[ServiceType]:
    return list(
        db.session.scalars(booking_request.online_services_query(office.id, with_staff_only=True))
    )


def _chosen(offered: list[ServiceType], codes: list[str]) -> tuple[list[ServiceType], str | None]:
    """The chosen services, or a message saying why they can't share one visit."""
    if not codes:
        return [], None
    problem = booking_request.service_codes_problem(codes)
    by_code = {service.code: service for service in offered}
    chosen = [by_code[code] for code in codes if code in by_code]
    if problem is None and len(chosen) != len(codes):
        problem = _("Choose services this office offers.")
    return chosen, problem or booking_request.combination_problem(chosen)


def _is(option: StartTime, start_text: str) -> bool:
    """Whether the start time sent is this option's."""
    try:
        return datetime.fromisoformat(start_text) == option.starts_at
    except ValueError:
        return False


def _free_times(office: Office, services: list[ServiceType], day: date) -> list[StartTime]:
    rules = VisitRules.for_services(services)
    options = visit_start_times(db.session, office, rules, day, day, clock_now())
    return [option for option in options if option.available > 0]


@bp.route("/<office_code>/book", methods=["GET", "POST"])
@staff_page
def book_for_caller(office_code: str) -> Page:
    """Book a visit for someone who called or came to the counter, with the online rules."""
    office = office_for_user(office_code)
    offered = _services_of(office)
    codes = [code for code in request.values.getlist("service") if code]
    services, problem = _chosen(offered, codes)
    today = clock_now().astimezone(office.zone).date()
    day = parse_day(request.values.get("day")) or today
    times = _free_times(office, services, day) if services and not problem else []
    form_class = applicant_form_class(
        groups_for(sorted({n for s in services for n in s.detail_sets}))
    )
    form = form_class(formdata=request.form if request.method == "POST" else None)
    language = request.values.get("language", "")
    general_errors: list[str] = []
    start_text = request.form.get("start", "")
    if request.method == "POST" and services and not problem:
        if not form.validate_on_submit():
            general_errors = [
                _("The form has expired. Please check the details and send it again.")
            ]
        else:
            data: dict[str, Any] = form.booking_data() | {
                "office": office.code,
                "services": [service.code for service in services],
                "start": start_text,
                "language": language,
            }
            try:
                with transaction():
                    parsed = booking.parse_booking_request(
                        db.session, data, clock_now(), _policy(), by_staff=True
                    )
                    placed = booking.book_for_caller(
                        db.session, current_user, parsed, clock_now(), _policy()
                    )
                    reference = placed.appointment.reference
            except ValidationFailed as error:
                # The time, the language and the services have no field of the form.
                general_errors = form.attach_errors(error.fields)
            except DomainError as error:
                general_errors = [str(error.message)]
            else:
                flash(
                    _("Booked: %(reference)s. Tell the caller this reference.",
                      reference=reference),
                    "success",
                )  # fmt: skip
                return redirect(
                    url_for("staff.appointment", office_code=office.code, reference=reference)
                )
    page = render_template(
        "staff/book.html",
        office=office,
        offered=offered,
        services=services,
        codes=codes,
        problem=problem,
        day=day,
        today=today,
        times=[
            (option, option.starts_at.astimezone(office.zone).isoformat(), _is(option, start_text))
            for option in times
        ],
        form=form,
        language=language if language in LANGUAGES else "",
        languages=LANGUAGES,
        general_errors=general_errors,
    )
    failed = bool(problem or general_errors or form.errors)
    return (page, 422) if request.method == "POST" and failed else page


def _policy() -> booking.BookingPolicy:
    return booking.policy_from_config(current_app.config)
