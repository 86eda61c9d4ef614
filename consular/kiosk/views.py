"""Kiosk pages: each checks the device's pass, calls one service, commits once, and answers
a POST with a redirect, so that a double tap or a reload never issues a second ticket."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as WerkzeugResponse

from consular.clock import now
from consular.extensions import db
from consular.kiosk import bp
from consular.models import Office, ServiceType, Ticket
from consular.models.i18n import LANGUAGES
from consular.rate_limits import KIOSK_COOKIE, limit_kiosk
from consular.services import kiosk, queue
from consular.services.errors import DomainError
from consular.services.timefmt import local_time_text
from consular.staff.views import _user, office_for_user, staff_page, wait_text
from consular.transaction import transaction
from consular.urls import local_target

# Browsers keep a cookie at most 400 days; the manager starts the kiosk again after that.
PASS_DAYS = 400
# The tickets this device issued lately, which its ticket pages may show (none other's).
TICKETS_KEY = "kiosk_tickets"
# What the visitor typed, kept for the form after a refusal.
REFERENCE_KEY = "kiosk_reference"
# After this long without a touch the ticket page goes back to the start (static/js/kiosk.js).
IDLE_SECONDS = 60


def _secret() -> str:
    """The app's secret, which signs the kiosks' passes (with a salt of their own)."""
    return str(current_app.config["SECRET_KEY"] or "")


def _office(code: str) -> Office:
    office = db.session.scalar(sa.select(Office).where(Office.code == code))
    if office is None:
        abort(404)
    return office


def kiosk_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """The office's kiosk, for a device with a valid pass; else a 403 page saying how to
    start it."""

    @wraps(view)
    def wrapped(office_code: str, **kwargs: Any) -> Any:
        office = _office(office_code)
        device = kiosk.read_pass(_secret(), request.cookies.get(KIOSK_COOKIE))
        if not kiosk.is_valid_pass(device, office):
            return render_template("kiosk/not_started.html", office=office), 403
        return view(office, **kwargs)

    return wrapped


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "en")


def _page(template: str, office: Office, **context: Any) -> str:
    return render_template(
        template,
        office=office,
        languages=[("kk", "Қазақша"), ("ru", "Русский"), ("en", "English"), ("ko", "한국어")],
        form=FlaskForm(),
        **context,
    )


@bp.get("/<office_code>")
@kiosk_page
def start(office: Office) -> str:
    """The kiosk's first screen: with an appointment, or without one."""
    return _page("kiosk/start.html", office)


@bp.get("/<office_code>/appointment")
@kiosk_page
def appointment(office: Office) -> str:
    """Ask for the booking reference (typed, or scanned from the confirmation's QR code)."""
    return _page("kiosk/appointment.html", office, reference=session.pop(REFERENCE_KEY, "")[:40])


def _expired(office: Office, endpoint: str) -> WerkzeugResponse | None:
    """Back to the page when the form's token has expired (the tablet was idle for long)."""
    if FlaskForm().validate_on_submit():
        return None
    flash(_("Something went wrong. Please try again."), "error")
    return redirect(url_for(endpoint, office_code=office.code), 303)


def _remember(ticket: Ticket) -> WerkzeugResponse:
    """Let this device show the ticket, and show it."""
    kept = [t for t in session.get(TICKETS_KEY, []) if t != ticket.id][-4:]
    session[TICKETS_KEY] = [*kept, ticket.id]
    return redirect(
        url_for("kiosk.ticket", office_code=ticket.office.code, ticket_id=ticket.id), 303
    )


@bp.post("/<office_code>/appointment")
@limit_kiosk
@kiosk_page
def check_in(office: Office) -> WerkzeugResponse:
    """Check the visitor in by reference and show the ticket; or say why not."""
    expired = _expired(office, "kiosk.appointment")
    if expired is not None:
        return expired
    reference = request.form.get("reference", "").strip()[:40]
    if not reference:
        flash(_("Type or scan the reference of your booking."), "error")
        return redirect(url_for("kiosk.appointment", office_code=office.code), 303)
    try:
        with transaction():
            ticket = kiosk.check_in_by_reference(db.session, office, reference, now())
            shown = _remember(ticket)
    except kiosk.KioskRefusal as refusal:
        if refusal.ticket is not None and refusal.ticket.office_id == office.id:
            flash(str(refusal.message), "info")
            return _remember(refusal.ticket)
        flash(str(refusal.message), "error")
        session[REFERENCE_KEY] = reference
        return redirect(url_for("kiosk.appointment", office_code=office.code), 303)
    except DomainError as error:
        flash(str(error.message), "error")
        session[REFERENCE_KEY] = reference
        return redirect(url_for("kiosk.appointment", office_code=office.code), 303)
    return shown


@bp.get("/<office_code>/walk-in")
@kiosk_page
def walk_in_services(office: Office) -> str:
    """The services a visitor without an appointment may take a ticket for."""
    choices = kiosk.walk_in_choices(db.session, office, now())
    return _page(
        "kiosk/walk_in.html",
        office,
        services=[(s.id, s.display_name(_locale()), fits) for s, fits in choices],
        any_fits=any(fits for _service, fits in choices),
    )


@bp.post("/<office_code>/walk-in")
@limit_kiosk
@kiosk_page
def walk_in(office: Office) -> WerkzeugResponse:
    """Issue a walk-in ticket for the chosen service."""
    expired = _expired(office, "kiosk.walk_in_services")
    if expired is not None:
        return expired
    try:
        service_id = int(request.form.get("service", ""))
    except ValueError:
        service_id = 0
    try:
        with transaction():
            ticket = kiosk.issue_walk_in(db.session, office, service_id, now())
            shown = _remember(ticket)
    except queue.WalkInsUsedUp:
        return redirect(url_for("kiosk.used_up", office_code=office.code), 303)
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("kiosk.walk_in_services", office_code=office.code), 303)
    return shown


@bp.get("/<office_code>/walk-in/used-up")
@kiosk_page
def used_up(office: Office) -> str:
    """Today's walk-in tickets are all taken: where to go instead."""
    return _page(
        "kiosk/used_up.html",
        office,
        booking_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/")
        + url_for("booking.choose_services", office_code=office.code),
    )


@bp.get("/<office_code>/ticket/<id:ticket_id>")
@kiosk_page
def ticket(office: Office, ticket_id: int) -> str:
    """The ticket just taken: its number, service and the wait, to read or to print."""
    if ticket_id not in session.get(TICKETS_KEY, []):
        abort(404)
    found = db.session.get(Ticket, ticket_id)
    moment = now()
    if (
        found is None
        or found.office_id != office.id
        or found.service_day != queue.service_day(office, moment)
    ):
        abort(404)
    locale = _locale()
    services = _ticket_services(found, locale)
    before = kiosk.people_before(db.session, found)
    note = ""
    if found.note == "early" and found.appointment is not None:
        note = _(
            "You are early: you will be called close to your appointment time, %(time)s.",
            time=local_time_text(found.appointment.starts_at, office.zone, locale),
        )
    elif found.note == "late":
        note = _("You are late: you will be called as soon as a desk is free.")
    return _page(
        "kiosk/ticket.html",
        office,
        ticket=found,
        services=services,
        issued=local_time_text(found.arrived_at, office.zone, locale),
        before_text=ngettext("%(num)d person before you", "%(num)d people before you", before),
        wait_text=wait_text(queue.estimated_wait_minutes(db.session, office, moment)),
        note=note,
        idle_seconds=IDLE_SECONDS,
    )


def _ticket_services(found: Ticket, locale: str) -> list[str]:
    """The services of the ticket: the booking's lines, or the walk-in's service."""
    if found.appointment is not None and found.appointment.service_lines:
        ids = [line.service_type_id for line in found.appointment.service_lines]
        names = {
            s.id: s.display_name(locale)
            for s in db.session.scalars(sa.select(ServiceType).where(ServiceType.id.in_(ids)))
        }
        return [names[i] for i in ids if i in names]
    return [found.service_type.display_name(locale)] if found.service_type else []


@bp.post("/<office_code>/done")
@kiosk_page
def done(office: Office) -> WerkzeugResponse:
    """Back to the start for the next visitor: this visitor's tickets and language forgotten."""
    session.pop(TICKETS_KEY, None)
    session.pop(REFERENCE_KEY, None)
    session.pop("language", None)
    return redirect(url_for("kiosk.start", office_code=office.code), 303)


@bp.post("/<office_code>/language")
@kiosk_page
def language(office: Office) -> WerkzeugResponse:
    """Show the kiosk in the language the visitor touched."""
    chosen = request.form.get("language", "")
    if chosen in LANGUAGES:
        session["language"] = chosen
    target = local_target(request.form.get("next"), url_for("kiosk.start", office_code=office.code))
    if not target.startswith(url_for("kiosk.start", office_code=office.code)):
        target = url_for("kiosk.start", office_code=office.code)
    return redirect(target, 303)


# Starting and stopping, from the staff day page


@bp.app_template_global()
def can_run_kiosk(user: Any, office: Office) -> bool:
    """For the day page: whether the signed-in account may start and stop the kiosks."""
    return bool(getattr(user, "is_authenticated", False)) and kiosk.can_run_kiosk(user, office)


def _manager_office(office_code: str) -> Office:
    office = office_for_user(office_code)
    if not kiosk.can_run_kiosk(_user(), office):
        abort(403)
    return office


@bp.post("/<office_code>/start")
@staff_page
def start_kiosk(office_code: str) -> WerkzeugResponse:
    """Make this device the office's waiting-room kiosk (a manager's act)."""
    office = _manager_office(office_code)
    if not FlaskForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return redirect(url_for("staff.day", office_code=office.code))
    with transaction():
        token = kiosk.start_kiosk(db.session, office, _user(), now(), _secret())
    response = redirect(url_for("kiosk.start", office_code=office.code), 303)
    response.set_cookie(
        KIOSK_COOKIE,
        token,
        max_age=PASS_DAYS * 86400,
        path=url_for("kiosk.start", office_code=office.code),
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        httponly=True,
        samesite="Lax",
    )
    return response


@bp.post("/<office_code>/stop")
@staff_page
def stop_kiosks(office_code: str) -> WerkzeugResponse:
    """Stop every kiosk of the office: their passes no longer open it."""
    office = _manager_office(office_code)
    if not FlaskForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return redirect(url_for("staff.day", office_code=office.code))
    with transaction():
        kiosk.stop_kiosks(db.session, office, _user(), now())
    flash(_("Every kiosk of this office is stopped."), "success")
    return redirect(url_for("staff.day", office_code=office.code), 303)


@bp.after_request
def no_caching(response: WerkzeugResponse) -> WerkzeugResponse:
    """A ticket is one visitor's: never keep a kiosk page in a cache."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response
