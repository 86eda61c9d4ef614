"""Citizen pages: book a visit, confirm it with the emailed code, manage it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from consular import availability_cache, from_loopback
from consular.booking import bp
from consular.booking.forms import (
    CancelForm,
    CodeForm,
    EmailCorrectionForm,
    LookupForm,
    RescheduleForm,
    answer_text,
    applicant_form_class,
)
from consular.booking.journey import (
    bookable_services,
    chosen_services,
    journey_seconds,
    month_view,
    next_free_times,
    office_or_404,
    parse_day,
    parse_month,
    remember_token,
    remembered_token,
    restart_journey_clock,
    start_journey_clock,
)
from consular.clients import client_of
from consular.clock import now as clock_now
from consular.extensions import db, limiter
from consular.models import Appointment, Office, OutboxMessage, Status
from consular.models.i18n import LANGUAGES
from consular.rate_limits import limit_holds, limit_looks
from consular.services import (
    booking,
    booking_request,
    drafts,
    lottery,
    notifications,
    predicates,
    proof_of_work,
    schedule,
    suspicion,
    timefmt,
    waitlist,
)
from consular.services.availability import VisitRules
from consular.services.calendar import appointment_ics, calendar_method, reference_qr_svg
from consular.services.details import groups_for
from consular.services.errors import (
    DomainError,
    HoldExpired,
    NotFound,
    SlotUnavailable,
    ValidationFailed,
    WrongCode,
)
from consular.transaction import transaction
from consular.urls import local_target

Page = str | WerkzeugResponse | tuple[str, int]


def _policy() -> booking.BookingPolicy:
    return booking.policy_from_config(current_app.config)


def _locale() -> str:
    return str(get_locale() or "en")


@bp.get("/")
def home() -> str:
    """Show what the service is, the offices and what each offers."""
    offices = db.session.scalars(sa.select(Office).order_by(Office.id)).all()
    services = {office.id: bookable_services(db.session, office) for office in offices}
    now = clock_now()
    lotteries = {office.id: lottery.shown_releases(db.session, office, now) for office in offices}
    return render_template(
        "booking/home.html",
        offices=offices,
        services=services,
        lotteries=lotteries,
        now=now,
    )


# The pages a booking journey may begin with; the review of bookings times a hold from the
# first of them this browser saw.
JOURNEY_PAGES = frozenset(
    {"booking.choose_office", "booking.choose_services", "booking.choose_time", "booking.details"}
)


@bp.before_request
def start_the_journey_clock() -> None:
    """Note when this browser's booking journey began, if it is beginning now."""
    if request.method == "GET" and request.endpoint in JOURNEY_PAGES:
        start_journey_clock(clock_now())


@bp.post("/language")
def set_language() -> WerkzeugResponse:
    """Remember the visitor's language and go back to the page they were on."""
    language = request.form.get("language", "")
    target = local_target(request.form.get("next"), url_for("booking.home"))
    if language in LANGUAGES:
        session["language"] = language
        hold = _hold_of_code_page(target)
        if hold is not None:
            # The e-mails still to come are written in the language the citizen reads now.
            with transaction():
                notifications.set_hold_language(db.session, hold, language)
    return redirect(target)


def _hold_of_code_page(path: str) -> Appointment | None:
    """The hold whose code page is at `path`, if this browser holds its token."""
    try:
        endpoint, values = current_app.url_map.bind("").match(urlsplit(path).path, method="GET")
    except HTTPException:
        return None
    if endpoint != "booking.hold":
        return None
    reference = str(values["reference"])
    try:
        return booking.find_managed(db.session, reference, remembered_token(reference), _policy())
    except NotFound:
        return None


# Choosing the office, the services and the time


@bp.get("/book")
def choose_office() -> str:
    """Ask which office the citizen wants to visit."""
    offices = db.session.scalars(sa.select(Office).order_by(Office.id)).all()
    return render_template("booking/choose_office.html", offices=offices)


@bp.route("/book/<office_code>", methods=["GET", "POST"])
def choose_services(office_code: str) -> Page:
    """Ask which services the visit is for."""
    office = office_or_404(db.session, office_code)
    services = bookable_services(db.session, office)
    form = FlaskForm()
    selected = [c for c in request.values.get("services", "").split(",") if c]
    error = None
    if request.method == "POST" and form.validate_on_submit():
        selected = request.form.getlist("service")
        offered = {s.code: s for s in services}
        # The same rule as the booking request's, so six services are never cut to five.
        if booking_request.service_codes_problem(selected):
            error = _("Choose at least one service (at most five).")
        else:
            error = booking_request.combination_problem(
                [offered[c] for c in selected if c in offered], _locale()
            )
        if error is None and not chosen_services(db.session, office, ",".join(selected)):
            error = _("Choose at least one service (at most five).")
        if error is None:
            return redirect(
                url_for("booking.choose_time", office_code=office.code, services=",".join(selected))
            )
    status = 400 if error else 200
    page = render_template(
        "booking/choose_services.html",
        office=office,
        services=services,
        selected=selected,
        form=form,
        error=error,
        lotteries=lottery.shown_releases(db.session, office, clock_now()),
        now=clock_now(),
    )
    return (page, status) if error else page


@bp.get("/book/<office_code>/time")
@limit_looks
def choose_time(office_code: str) -> Page:
    """Show a month calendar of free days and the free times of the chosen day."""
    # What the page shows depends on these alone (and the time): the same question gets the
    # same content for a moment, without reading the database again.
    key = json.dumps(
        [
            "time-page",
            office_code,
            *(request.args.get(name, "") for name in ("services", "month", "day")),
            _locale(),
        ]
    )
    content = availability_cache.cached_text(key, clock_now())
    if content is None:
        generation = availability_cache.generation()
        office = office_or_404(db.session, office_code)
        services = chosen_services(db.session, office, request.args.get("services"))
        if not services:
            return redirect(url_for("booking.choose_services", office_code=office.code))
        content = _time_choice(office, services, VisitRules.for_services(services), mode="book")
        availability_cache.keep_text(key, clock_now(), content, generation)
    return render_template("booking/choose_time.html", content=Markup(content))


def _time_choice(
    office: Office,
    services: list,
    rules: VisitRules,
    *,
    mode: str,
    appointment: Appointment | None = None,
) -> str:
    """The time page's content, offering what `rules` allow: those of the services for a new
    booking, those the appointment was booked with for a reschedule (the rules it is checked
    by)."""
    now = clock_now()
    today = now.astimezone(office.zone).date()
    day = parse_day(request.args.get("day"))
    view = month_view(
        db.session, office, rules, parse_month(request.args.get("month"), day or today), now
    )
    if day is None or day not in view.times_by_day:
        day = view.first_free_day()
    releases = view.releases
    return render_template(
        "booking/_time_choice.html",
        office=office,
        services=services,
        services_param=",".join(s.code for s in services),
        view=view,
        day=day,
        times=view.times_by_day.get(day, []) if day else [],
        upcoming=next_free_times(db.session, office, rules, now),
        mode=mode,
        appointment=appointment,
        waitlist_open=mode == "book" and all(waitlist.has_waitlist(s) for s in services),
        reschedule_form=RescheduleForm() if mode == "reschedule" else None,
        duration=rules.duration_minutes,
        zone=timefmt.zone_label(office.zone, now, _locale()),
        lotteries=releases,
        lottery_days={d: r for r in releases for d in lottery.release_days(r)},
        closed_days=schedule.public_closed_days(
            db.session,
            office,
            max(today, view.month),
            (view.month + timedelta(days=31)).replace(day=1) - timedelta(days=1),
            _locale(),
        ),
        now=now,
    )


# The applicant's details, the review and the hold


def _visit_from_request(office_code: str) -> tuple[Office, list, datetime]:
    office = office_or_404(db.session, office_code)
    services = chosen_services(db.session, office, request.values.get("services"))
    try:
        start = datetime.fromisoformat(request.values.get("start", ""))
    except ValueError:
        start = None
    if not services or start is None or start.tzinfo is None:
        abort(404)
    return office, services, start


def _applicant_form(services: list, **kwargs: Any):
    groups = groups_for(sorted({name for s in services for name in s.detail_sets}))
    return applicant_form_class(groups)(**kwargs)


def _prefill_from_expired(form, reference: str | None) -> None:
    """Fill the form from this browser's expired hold, so the citizen need not type again."""
    if not reference or not remembered_token(reference):
        return
    try:
        previous = booking.find_managed(
            db.session, reference, remembered_token(reference), _policy()
        )
    except NotFound:
        return
    for name in ("given_name", "family_name", "iin", "passport_number", "email", "phone"):
        form[name].data = getattr(previous, name)
    for group, fields in form.detail_fields():
        for field in fields:
            field.data = previous.details.get(group.key, {}).get(field.name.split("__", 1)[1], "")


# The session key of this browser's booking draft (services/drafts.py).
DRAFT_KEY = "booking_draft"


def _draft_answers() -> dict[str, Any] | None:
    return drafts.load_draft(db.session, session.get(DRAFT_KEY), clock_now())


def _answers(form) -> dict[str, str]:
    """What the citizen typed in the details form, field by field."""
    return {field.name: answer_text(field.data) for field in form if field.type != "CSRFTokenField"}


def _details_url(office: Office, services: list, start: datetime) -> str:
    return url_for(
        "booking.details",
        office_code=office.code,
        services=",".join(s.code for s in services),
        start=start.isoformat(),
    )


def _time_url(office: Office, services: list, start: datetime) -> str:
    local = start.astimezone(office.zone)
    return url_for(
        "booking.choose_time",
        office_code=office.code,
        services=",".join(s.code for s in services),
        day=local.date().isoformat(),
        month=local.strftime("%Y-%m"),
    )


@bp.route("/book/<office_code>/details", methods=["GET", "POST"])
def details(office_code: str) -> Page:
    """Ask for the applicant's details; keep them, and when they are right show the review.

    The answers are kept as a draft whatever their state, so that Change time, the review's
    Change links and the browser's Back button all come back to what was typed."""
    office, services, start = _visit_from_request(office_code)
    if request.method == "GET":
        answers = _draft_answers()
        form = _applicant_form(services, formdata=None, data=answers or {})
        if answers is None:
            _prefill_from_expired(form, session.get("last_hold"))
        return _render_details(office, services, start, form, [])
    form = _applicant_form(services)
    if not form.validate_on_submit():
        general_errors = [_("The form has expired. Please check your details and send it again.")]
        return _render_details(office, services, start, form, general_errors), 422
    with transaction():
        session[DRAFT_KEY] = drafts.save_draft(
            db.session, session.get(DRAFT_KEY), _answers(form), clock_now()
        )
    if request.form.get("change") == "time":
        return redirect(_time_url(office, services, start), 303)
    try:
        booking.parse_booking_request(
            db.session, _booking_data(form, office, services, start), clock_now(), _policy()
        )
    except ValidationFailed as error:
        general_errors = form.attach_errors(error.fields)
        return _render_details(office, services, start, form, general_errors), 422
    return redirect(
        url_for(
            "booking.review",
            office_code=office.code,
            services=",".join(s.code for s in services),
            start=start.isoformat(),
        ),
        303,
    )


@bp.get("/book/<office_code>/review")
def review(office_code: str) -> Page:
    """Show everything the booking will be made with, each part with a link to change it."""
    office, services, start = _visit_from_request(office_code)
    answers = _draft_answers()
    if answers is None:
        return redirect(_details_url(office, services, start))
    form = _applicant_form(services, formdata=None, data=answers)
    try:
        booking.parse_booking_request(
            db.session, _booking_data(form, office, services, start), clock_now(), _policy()
        )
    except ValidationFailed as error:
        # The services changed since, and ask for more (or the draft was tampered with).
        general_errors = form.attach_errors(error.fields)
        return _render_details(office, services, start, form, general_errors), 422
    return _render_review(office, services, start, form)


def _booking_data(form, office: Office, services: list, start: datetime) -> dict[str, Any]:
    """The form's values and the chosen visit, as the booking service reads them."""
    return form.booking_data() | {
        "office": office.code,
        "services": [s.code for s in services],
        "start": start.isoformat(),
        "language": _locale(),
    }


def _render_details(
    office: Office, services: list, start: datetime, form, general_errors: list[str]
) -> str:
    return render_template(
        "booking/details.html",
        office=office,
        services=services,
        start=start,
        form=form,
        general_errors=general_errors,
        services_param=",".join(s.code for s in services),
        end=start + timedelta(minutes=VisitRules.for_services(services).duration_minutes),
    )


def _render_review(office: Office, services: list, start: datetime, form, **extra: Any) -> str:
    duration = VisitRules.for_services(services).duration_minutes
    return render_template(
        "booking/review.html",
        office=office,
        services=services,
        start=start,
        end=start + timedelta(minutes=duration),
        duration=duration,
        form=form,
        services_param=",".join(s.code for s in services),
        details_url=_details_url(office, services, start),
        time_url=_time_url(office, services, start),
        **extra,
    )


@bp.post("/book/<office_code>/hold")
@limit_holds
def place_hold(office_code: str) -> Page:
    """Hold the chosen time and send the code; if the time is gone, offer the nearest."""
    office, services, start = _visit_from_request(office_code)
    form = _applicant_form(services)
    if not form.validate_on_submit():
        return redirect(
            url_for(
                "booking.choose_time",
                office_code=office.code,
                services=request.values.get("services"),
            )
        )
    now = clock_now()
    try:
        # Spent in a transaction of its own, so that a refused hold still spends it.
        with transaction():
            proof_of_work.require_proof(
                db.session,
                office.code,
                request.form.get("proof_of_work"),
                request.form.get("device_fingerprint"),
                client_of(request),
                now,
                proof_of_work.settings_from_config(current_app.config),
            )
    except proof_of_work.ProofOfWorkRefused as error:
        return _render_review(office, services, start, form, proof_error=error.message), 422
    except DomainError as error:  # a concurrent change
        page = render_template("booking/refused.html", office=office, message=error.message)
        return page, 409
    data = _booking_data(form, office, services, start)
    try:
        with transaction():
            parsed = booking.parse_booking_request(db.session, data, now, _policy())
            placed = booking.place_hold(
                db.session, parsed, now, _policy(), replacing=session.get("last_hold")
            )
            suspicion.record_origin(
                db.session,
                placed.appointment,
                client_of(request),
                fingerprint=proof_of_work.clean_fingerprint(request.form.get("device_fingerprint")),
                seconds=journey_seconds(now),
            )
            reference = placed.appointment.reference
    except SlotUnavailable:
        alternatives = next_free_times(
            db.session, office, VisitRules.for_services(services), now, around=start
        )
        page = _render_review(office, services, start, form, taken=True, alternatives=alternatives)
        return page, 409
    except ValidationFailed as error:
        general_errors = form.attach_errors(error.fields)
        page = _render_details(office, services, start, form, general_errors)
        return page, 422
    except DomainError as error:  # a duplicate booking, booking closed, a concurrent change
        page = render_template("booking/refused.html", office=office, message=error.message)
        return page, 409
    remember_token(reference, placed.manage_token)
    session["last_hold"] = reference
    restart_journey_clock(now)
    return redirect(url_for("booking.hold", reference=reference))


def _appointment_for_browser(reference: str) -> Appointment:
    """The appointment this browser may see: it holds its manage token, else 404."""
    try:
        return booking.find_managed(db.session, reference, remembered_token(reference), _policy())
    except NotFound:
        abort(404)


@bp.route("/book/hold/<reference>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["BOOKING_RATE_LIMIT"], methods=["POST"])
def hold(reference: str) -> Page:
    """Ask for the emailed code that turns the hold into a booking."""
    appointment = _appointment_for_browser(reference)
    now = clock_now()
    if appointment.status == Status.CONFIRMED:
        return redirect(url_for("booking.appointment", reference=appointment.reference))
    form = CodeForm()
    status = 200
    if request.method == "POST" and appointment.status == Status.HELD and form.validate_on_submit():
        try:
            # A wrong code counts as an attempt and an ended hold frees its seats: both stay.
            with transaction(commit_refused=(WrongCode, HoldExpired)):
                booking.confirm_hold(db.session, appointment, form.code.data or "", now, _policy())
                drafts.discard_draft(db.session, session.pop(DRAFT_KEY, None))
        except WrongCode as error:
            form.code.errors = [str(error.message)]
            status = 422
        except HoldExpired:
            pass
        except DomainError as error:  # confirmed meanwhile, or a concurrent change
            form.code.errors = [str(error.message)]
            status = 409
        else:
            session.pop("last_hold", None)
            return redirect(url_for("booking.appointment", reference=appointment.reference))
        db.session.refresh(appointment)
    elif request.method == "POST":
        status = 422
    expired = booking.effective_status(appointment, now) != Status.HELD
    page = _render_hold(appointment, form)
    return page, (410 if expired and request.method == "POST" else status)


def _render_hold(
    appointment: Appointment, form: CodeForm, *, email_form: EmailCorrectionForm | None = None
) -> str:
    now = clock_now()
    return render_template(
        "booking/hold.html",
        appointment=appointment,
        office=appointment.office,
        form=form,
        email_form=email_form or EmailCorrectionForm(formdata=None),
        expired=booking.effective_status(appointment, now) != Status.HELD,
        too_many_codes=appointment.code_attempts >= _policy().code_max_attempts,
        seconds_left=max(0, int((appointment.hold_expires_at - now).total_seconds())),
        sends_left=max(0, current_app.config["CODE_MAX_SENDS"] - appointment.code_sends),
        services_param=",".join(
            str(line.snapshot.get("code")) for line in appointment.service_lines
        ),
    )


@bp.post("/book/hold/<reference>/email")
@limiter.limit(lambda: current_app.config["BOOKING_RATE_LIMIT"])
def correct_email(reference: str) -> Page:
    """Send the code to the right address when the one typed was wrong."""
    appointment = _appointment_for_browser(reference)
    form = EmailCorrectionForm()
    if form.validate_on_submit():
        try:
            with transaction():
                booking.resend_code(
                    db.session, appointment, clock_now(), _policy(), new_email=form.email.data
                )
        except ValidationFailed as error:
            form.email.errors = list(error.fields.get("email", [])) or [str(error.message)]
        except DomainError as error:
            form.email.errors = [str(error.message)]
        else:
            flash(
                _("We have sent a new code to %(email)s. The earlier code no longer works.",
                  email=appointment.email),
                "success",
            )  # fmt: skip
            return redirect(url_for("booking.hold", reference=appointment.reference))
    db.session.refresh(appointment)
    return _render_hold(appointment, CodeForm(formdata=None), email_form=form), 422


@bp.post("/book/hold/<reference>/resend")
@limiter.limit(lambda: current_app.config["BOOKING_RATE_LIMIT"])
def resend_code(reference: str) -> WerkzeugResponse:
    """Send the code again, a limited number of times."""
    appointment = _appointment_for_browser(reference)
    if FlaskForm().validate_on_submit():
        try:
            with transaction():
                booking.resend_code(db.session, appointment, clock_now(), _policy())
        except DomainError as error:
            flash(str(error.message), "error")
        else:
            flash(_("We have sent a new code. The earlier code no longer works."), "success")
    return redirect(url_for("booking.hold", reference=appointment.reference))


# The booked appointment


@bp.get("/appointment/<reference>")
def appointment(reference: str) -> Page:
    """Show the booked appointment with everything needed on the day, and what can be done."""
    appointment = _appointment_for_browser(reference)
    now = clock_now()
    if booking.effective_status(appointment, now) == Status.HELD:
        return redirect(url_for("booking.hold", reference=appointment.reference))
    return render_template(
        "booking/appointment.html",
        appointment=appointment,
        office=appointment.office,
        status=booking.effective_status(appointment, now),
        qr_svg=reference_qr_svg(appointment.reference),
        deadline=booking.cancellation_deadline(appointment),
        now=now,
    )


@bp.get("/appointment/<reference>/calendar.ics")
def calendar_file(reference: str) -> Response:
    """Download the appointment as a calendar file (one that removes it, once cancelled)."""
    appointment = _appointment_for_browser(reference)
    link = notifications.manage_url(appointment.reference, remembered_token(reference))
    body = appointment_ics(appointment, clock_now(), link)
    return Response(
        body,
        content_type=f"text/calendar; charset=utf-8; method={calendar_method(appointment)}",
        headers={
            "Content-Disposition": f'attachment; filename="{appointment.reference}.ics"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/appointment/<reference>/cancel", methods=["GET", "POST"])
def cancel(reference: str) -> Page:
    """Ask whether to cancel the appointment, with an optional reason; cancel on yes."""
    appointment = _appointment_for_browser(reference)
    now = clock_now()
    if request.method == "GET" and not predicates.can_change(appointment, now):
        return redirect(url_for("booking.appointment", reference=appointment.reference))
    form = CancelForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            with transaction():
                booking.cancel_appointment(
                    db.session, appointment, form.reason.data or "", now, _policy()
                )
        except DomainError as error:
            flash(str(error.message), "error")
        else:
            flash(_("Your appointment is cancelled. We have sent you an email."), "success")
        return redirect(url_for("booking.appointment", reference=appointment.reference))
    page = render_template(
        "booking/cancel.html", appointment=appointment, office=appointment.office, form=form
    )
    return (page, 422) if request.method == "POST" else page


@bp.route("/appointment/<reference>/reschedule", methods=["GET", "POST"])
def reschedule(reference: str) -> Page:
    """Choose another time; the current one stays booked until the new one is secured."""
    appointment = _appointment_for_browser(reference)
    office = appointment.office
    if request.method == "POST":
        form = RescheduleForm()
        try:
            new_start = datetime.fromisoformat(form.start.data or "")
        except ValueError:
            new_start = None
        if not form.validate_on_submit() or new_start is None or new_start.tzinfo is None:
            flash(_("Choose one of the free times."), "error")
            return redirect(url_for("booking.reschedule", reference=appointment.reference))
        try:
            with transaction():
                booking.reschedule_appointment(
                    db.session, appointment, new_start, clock_now(), _policy()
                )
        except DomainError as error:
            flash(str(error.message), "error")
            return redirect(url_for("booking.reschedule", reference=appointment.reference))
        flash(_("Your appointment has been moved. We have sent you an email."), "success")
        return redirect(url_for("booking.appointment", reference=appointment.reference))
    if not predicates.can_change(appointment, clock_now()):
        return redirect(url_for("booking.appointment", reference=appointment.reference))
    services = [line.service_type for line in appointment.service_lines]
    rules = booking.booked_rules(appointment)
    content = _time_choice(office, services, rules, mode="reschedule", appointment=appointment)
    return render_template(
        "booking/choose_time.html", content=Markup(content), title=_("Choose a new time")
    )


# Finding an appointment again


@bp.route("/manage", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def manage_lookup() -> Page:
    """Open an appointment by its reference and the applicant's IIN."""
    form = LookupForm()
    if form.validate_on_submit():
        with transaction():
            moment = clock_now()
            found = booking.look_up(
                db.session, form.reference.data or "", form.iin.data or "", moment
            )
            token = (
                booking.issue_manage_token(db.session, found, moment, _policy())
                if found is not None
                else None
            )
            reference = found.reference if found is not None else ""
        if token is not None:
            remember_token(reference, token)
            return redirect(url_for("booking.appointment", reference=reference))
        form.reference.errors = [
            _("No appointment matches this reference and IIN. Check both and try again.")
        ]
    status = 422 if request.method == "POST" else 200
    return render_template("booking/manage_lookup.html", form=form), status


@bp.get("/manage/<reference>/<token>")
def manage_link(reference: str, token: str) -> WerkzeugResponse:
    """Open an appointment from the link in an email, then drop the token from the address."""
    try:
        found = booking.find_managed(db.session, reference, token, _policy())
    except NotFound:
        abort(404)
    remember_token(found.reference, token)
    return redirect(url_for("booking.appointment", reference=found.reference))


@bp.get("/dev/mailbox")
def dev_mailbox() -> str:
    """Show the outbox, newest first, when no SMTP server is configured: in debug mode (or
    tests) and to this machine only, as it shows every citizen's codes and links."""
    config = current_app.config
    development = current_app.debug or config.get("DEBUG_MODE") or config.get("TESTING")
    if not (config["MAIL_DEV_MAILBOX"] and development and from_loopback()):
        abort(404)
    messages = db.session.scalars(
        sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(50)
    ).all()
    return render_template("booking/dev_mailbox.html", messages=messages)


@bp.after_request
def keep_tokens_out_of_referrers(response: WerkzeugResponse) -> WerkzeugResponse:
    """Pages of the booking journey never leak their address (it may hold a token)."""
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint and request.endpoint != "booking.home":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
