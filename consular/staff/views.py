"""Staff pages: each checks the account's office, calls one service, commits once."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import (
    Response,
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
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response as WerkzeugResponse

from consular import page_cache, select_locale
from consular.auth import account_gate
from consular.clock import now
from consular.extensions import db
from consular.models import (
    Appointment,
    Desk,
    Office,
    ServiceType,
    Ticket,
    TicketStatus,
    User,
)
from consular.models.i18n import localized
from consular.services import booking, desks, queue
from consular.services.announcements import call_sentence, spoken_call
from consular.services.details import DETAIL_SETS
from consular.services.errors import DomainError
from consular.services.timefmt import day_text
from consular.staff import bp
from consular.staff.day_page import (
    current_visitor_services,
    day_conditions,
    day_parameters,
    day_tickets,
    day_visits,
    masked_iin,
    page_state,
)
from consular.staff.forms import CheckInForm, DeskForm, NoShowForm, TransferForm, WalkInForm
from consular.transaction import transaction

Page = str | WerkzeugResponse | tuple[str, int]


def _user() -> User:
    return current_user._get_current_object()


def office_for_user(code: str) -> Office:
    """The office with this code if the signed-in account may see it; else 404."""
    user = _user()
    # A clerk's offices come with the account (auth.load_user): no statement for them.
    office = next((o for o in user.offices if o.code == code), None) or db.session.scalar(
        sa.select(Office).where(Office.code == code)
    )
    if office is None or not user.can_access_office(office.id):
        abort(404)
    return office


def appointment_of_office(office: Office, reference: str) -> Appointment:
    """The office's appointment with this reference; 404 for an unknown or another office's."""
    found = booking.find_by_reference(db.session, reference)
    if found is None or found.office_id != office.id:
        abort(404)
    return found


def staff_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Sign-in required, and the password must have been changed when asked."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        gate = account_gate(_user())
        if gate is not None:
            return gate
        return view(*args, **kwargs)

    return wrapped


def _desk(office: Office) -> Desk | None:
    """The desk of the office this clerk works at in this session (services/desks.py)."""
    return desks.held_desk(db.session, office, _user())


def desk_idle() -> timedelta:
    """How long a clerk may do nothing at a desk before another clerk may take it."""
    return timedelta(minutes=int(current_app.config["DESK_IDLE_MINUTES"]))


def no_show_grace() -> timedelta:
    """How long after a visit's time it may be marked a no-show."""
    return timedelta(minutes=int(current_app.config["NO_SHOW_GRACE_MINUTES"]))


# A day's bounds in a zone, and the weeks before and after it, are computed from its
# neighbours: the calendar's first and last weeks have none.
FIRST_DAY = date.min + timedelta(days=14)
LAST_DAY = date.max - timedelta(days=14)


def requested_day(office: Office, name: str = "day") -> date:
    """The day named in the query string, else the office's today; 400 beyond the calendar."""
    try:
        day = date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return queue.service_day(office, now())
    if not FIRST_DAY <= day <= LAST_DAY:
        message = _(
            "Enter a date as year-month-day, for example %(example)s.", example="2026-11-30"
        )
        abort(Response(render_template("error.html", status=400, message=message), 400))
    return day


def _day_appointments(office: Office, day: date, search: str = "") -> list[Appointment]:
    """The day's list as whole appointments, for the printout and the export."""
    query = (
        sa.select(Appointment)
        .where(*day_conditions(search))
        .options(selectinload(Appointment.service_lines))
        .order_by(Appointment.starts_at, Appointment.id)
    )
    return list(db.session.scalars(query, day_parameters(office, day)))


@bp.get("/")
@staff_page
def index() -> WerkzeugResponse:
    """Open the queue of the account's first office."""
    user = _user()
    offices = (
        list(db.session.scalars(sa.select(Office).order_by(Office.id)))
        if user.is_admin
        else user.offices
    )
    if not offices:
        abort(404)
    return redirect(url_for("staff.day", office_code=offices[0].code))


@bp.get("/<office_code>")
@staff_page
def day(office_code: str) -> str | Response:
    """Show the day's appointments and tickets, the desk's current visitor and the actions."""
    office = office_for_user(office_code)
    moment = now()
    today = queue.service_day(office, moment)
    shown = requested_day(office)
    search = request.args.get("q", "")[:100]
    user = _user()
    own_content = page_cache.has_own_content(FOCUS_KEY, STATUS_KEY)
    if request.headers.get(POLL_HEADER) and own_content:
        # The page's script refreshes its lists: what this session has to show is for the
        # next page the clerk opens, not for a refresh.
        return Response(status=204)
    # Read first: what the page then reads is at least as new as this version.
    version, desk_id = page_state(db.session, office, shown, today, user)
    if search.strip() or not page_cache.current().enabled or own_content:
        return _day_page(office, moment, today, shown, search, desk_id)
    key = (
        "staff-day",
        office.id,
        shown,
        today,
        # The waiting times are in whole minutes.
        moment.replace(second=0, microsecond=0),
        # The language's code, as Flask-Babel gets it (without parsing it into a Locale).
        select_locale(),
        user.role,
        desk_id,
        request.full_path,
    )
    return page_cache.cached_page(
        key,
        version,
        lambda holes: _day_page(office, moment, today, shown, "", desk_id, holes),
        {"account_name": user.name},
    )


def _day_page(
    office: Office,
    moment: datetime,
    today: date,
    shown: date,
    search: str,
    desk_id: int | None,
    holes: Mapping[str, Markup] | None = None,
) -> str:
    """The day page as the request sees it (`desk_id`: the clerk's desk; `holes`: the
    markers of what a kept page fills in for each request)."""
    locale = _locale()
    office_desks = db.session.execute(
        sa.select(Desk.id, Desk.name)
        .where(Desk.office_id == office.id, Desk.is_active.is_(True))
        .order_by(Desk.name)
    ).all()
    desk = next((d for d in office_desks if d.id == desk_id), None) if desk_id else None
    desk_form = DeskForm()
    desk_form.desk.choices = [(d.id, d.name) for d in office_desks]
    if desk is not None:
        desk_form.desk.data = desk.id
    services = db.session.execute(
        sa.select(ServiceType.id, ServiceType.name, ServiceType.duration_minutes)
        .where(ServiceType.is_active.is_(True), ServiceType.offices.any(Office.id == office.id))
        .order_by(ServiceType.sort_order)
    ).all()
    walk_in_form = WalkInForm()
    # The services' names as ServiceType.display_name gives them.
    # Each service with the walk-in time it takes, in the unit the time left is shown in.
    walk_in_form.service.choices = [
        (
            s.id,
            _(
                "%(service)s (%(minutes)d\u00a0min)",
                service=localized(s.name, locale),
                minutes=queue.walk_in_minutes_needed(office, s.duration_minutes),
            ),
        )
        for s in services
    ]
    transfer_form = TransferForm()
    transfer_form.service.choices = [(s.id, localized(s.name, locale)) for s in services]
    transfer_form.desk.choices = [(0, _("any desk"))] + [(d.id, d.name) for d in office_desks]
    tickets = day_tickets(db.session, office, shown, moment, locale, desk.id if desk else None)
    visits = day_visits(
        db.session,
        office,
        shown,
        today,
        locale,
        {t.appointment_id: t.label for t in tickets if t.appointment_id},
        moment,
        no_show_grace(),
        search,
    )
    current = next(
        (
            t
            for t in tickets
            if desk is not None and t.desk_id == desk.id and t.status == TicketStatus.CALLED
        ),
        None,
    )
    current_services = ""
    if current is not None:
        # A transfer to a desk alone must not change the service: start from the current one.
        transfer_form.service.data = current.service_type_id
        current_services = current_visitor_services(db.session, current, visits, locale)
    waiting = [t for t in tickets if t.status == TicketStatus.WAITING]
    return render_template(
        "staff/day.html",
        office=office,
        day=shown,
        today=today,
        search=search,
        appointments=visits,
        any_check_in=any(v.can_check_in for v in visits),
        tickets=tickets,
        desk=desk,
        desk_form=desk_form,
        check_in_form=CheckInForm(),
        walk_in_form=walk_in_form,
        transfer_form=transfer_form,
        current=current,
        current_services=current_services,
        # At a desk, those who may be called to it; else everybody waiting.
        waiting=sum(1 for t in waiting if t.for_desk) if desk is not None else len(waiting),
        waiting_all=len(waiting),
        walk_in_minutes_left=queue.walk_in_minutes_left(db.session, office, moment),
        poll_seconds=POLL_SECONDS,
        # Asked for once, by the action that led here (a reload keeps the focus at the top).
        focus=session.pop(FOCUS_KEY) if FOCUS_KEY in session else None,
        status_message=session.pop(STATUS_KEY) if STATUS_KEY in session else None,
        **(holes or {}),
    )


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "en")


# After an action the day's page opens with the focus on the control to use next, so that a
# keyboard user need not Tab through the page again: the target is kept in the session for
# site.js (data-focus-on-load) and is the URL's fragment, which scrolls to it without script.
FOCUS_KEY = "staff_focus"
# What the last action did, as a sentence naming the ticket: the page says it in its live
# region (role=status), where a screen reader reads it out.
STATUS_KEY = "staff_status"
# The page's script asks for the page again this often, with this header, and puts in the
# new lists (static/js/staff-day.js).
POLL_SECONDS = 20
POLL_HEADER = "X-Queue-Refresh"


def _back(office: Office, focus: str | None = None, day: date | None = None) -> WerkzeugResponse:
    """Back to the day's queue (of another day if given), focusing the element with this id."""
    if focus:
        session[FOCUS_KEY] = focus
    # Any: the values go to url_for's **values, not to its typed keywords such as _external.
    args: dict[str, Any] = (
        {"day": day.isoformat()} if day and day != queue.service_day(office, now()) else {}
    )
    return redirect(url_for("staff.day", office_code=office.code, _anchor=focus, **args))


def _queue_focus(office: Office) -> str:
    """The desk's next control: Served while it has a visitor, else Call next (or the desk)."""
    desk = _desk(office)
    if desk is None:
        return "desk"
    called = db.session.scalar(
        sa.select(Ticket.id)
        .where(
            # The office first, so that the queue's index (office, day, status) finds the row.
            Ticket.office_id == office.id,
            Ticket.desk_id == desk.id,
            Ticket.service_day == queue.service_day(office, now()),
            Ticket.status == TicketStatus.CALLED,
        )
        .limit(1)
    )
    return "served" if called is not None else "call-next"


def _counter_focus(office: Office, otherwise: str) -> str:
    """After a check-in or a walk-in: the desk's next control for a clerk at a desk, else the
    control the visitor was registered with, ready for the next one."""
    return _queue_focus(office) if _desk(office) is not None else otherwise


def _say(message: str) -> None:
    """Say what the action did in the day page's live region (and as the page's banner)."""
    session[STATUS_KEY] = message


def _run(
    office: Office,
    action: Callable[[], Any],
    success: Callable[[Any], str] | None = None,
    *,
    focus: str | None = None,
    day: date | None = None,
) -> WerkzeugResponse:
    """Run one queue action in one transaction; say what it did, or why it is refused."""
    if not FlaskForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return _back(office, focus or _queue_focus(office), day)
    try:
        with transaction():
            result = action()
            message = success(result) if success is not None else None
    except DomainError as error:
        flash(str(error.message), "error")
        return _back(office, focus or _queue_focus(office), day)
    if message:
        _say(message)
    return _back(office, focus or _queue_focus(office), day)


def _office_desk_choices(office: Office) -> list[tuple[int, str]]:
    return [
        (d.id, d.name)
        for d in db.session.scalars(
            sa.select(Desk).where(Desk.office_id == office.id, Desk.is_active.is_(True))
        )
    ]


@bp.post("/<office_code>/desk")
@staff_page
def choose_desk(office_code: str) -> WerkzeugResponse:
    """Take a desk for this clerk's session (leaving their other desk of the office)."""
    office = office_for_user(office_code)
    form = DeskForm()
    form.desk.choices = _office_desk_choices(office)
    if not form.validate_on_submit():
        flash(_("Choose one of this office's desks."), "error")
        return _back(office, "desk")
    desk = db.session.get(Desk, form.desk.data)
    assert desk is not None
    try:
        with transaction():
            desks.take_desk(db.session, desk, _user(), now(), desk_idle())
    except DomainError as error:
        flash(str(error.message), "error")
        return _back(office, "desk")
    _say(_("You work at desk %(desk)s.", desk=desk.name))
    return _back(office, _queue_focus(office))


@bp.post("/<office_code>/desk/leave")
@staff_page
def leave_desk(office_code: str) -> WerkzeugResponse:
    """Leave this clerk's desk, free for another clerk."""
    office = office_for_user(office_code)
    if not FlaskForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return _back(office, "desk")
    desk = _desk(office)
    if desk is not None:
        label = queue.visitor_at_desk(db.session, desk, now())
        if label is not None:
            flash(
                _(
                    "Ticket %(ticket)s is still at desk %(desk)s. Finish with them first: "
                    "served, park or transfer.",
                    ticket=label,
                    desk=desk.name,
                ),
                "error",
            )
            return _back(office, "served")
        with transaction():
            desks.leave_desk(db.session, office, _user())
        _say(_("You have left desk %(desk)s.", desk=desk.name))
    return _back(office, "desk")


@bp.post("/<office_code>/check-in")
@staff_page
def check_in(office_code: str) -> WerkzeugResponse:
    """Check a visitor in by reference and issue the ticket."""
    office = office_for_user(office_code)
    form = CheckInForm()
    # From the day's list or the appointment's page the focus returns to the list's row.
    from_list = request.form.get("origin") == "list"
    if not form.validate_on_submit():
        flash(_("Enter the booking reference."), "error")
        return _back(office, "reference")
    appointment = booking.find_by_reference(db.session, form.reference.data or "")
    if appointment is None or appointment.office_id != office.id:
        flash(_("No appointment of this office has this reference."), "error")
        return _back(office, "reference")
    row = f"appointment-{appointment.reference}"
    try:
        with transaction():
            ticket = queue.check_in(db.session, appointment, _user(), now())
            label, note = ticket.label, ticket.note
            name = f"{appointment.given_name} {appointment.family_name}"
    except DomainError as error:
        flash(str(error.message), "error")
        return _back(office, row if from_list else "reference")
    if note == "early":
        message = _(
            "Checked in: ticket %(ticket)s for %(name)s. The visitor is early.",
            ticket=label,
            name=name,
        )
    elif note == "late":
        message = _(
            "Checked in: ticket %(ticket)s for %(name)s. The visitor is late.",
            ticket=label,
            name=name,
        )
    else:
        message = _("Checked in: ticket %(ticket)s for %(name)s.", ticket=label, name=name)
    _say(message)
    return _back(office, _counter_focus(office, row if from_list else "reference"))


@bp.post("/<office_code>/walk-in")
@staff_page
def walk_in(office_code: str) -> WerkzeugResponse:
    """Issue a ticket to a visitor without a booking."""
    office = office_for_user(office_code)
    form = WalkInForm()
    form.service.choices = [(s.id, s.code) for s in office.services if s.is_active]
    if not form.validate_on_submit():
        flash(_("Choose a service."), "error")
        return _back(office, "walkin-service")
    service = db.session.get(ServiceType, form.service.data)
    assert service is not None
    try:
        with transaction():
            ticket = queue.issue_walk_in(
                db.session,
                office,
                service,
                _user(),
                now(),
                urgent=bool(form.urgent.data),
                note=form.note.data or "",
            )
            label = ticket.label
    except DomainError as error:
        flash(str(error.message), "error")
        return _back(office, "walkin-service")
    _say(_("Walk-in ticket issued: %(ticket)s.", ticket=label))
    return _back(office, _counter_focus(office, "walkin-service"))


def _called_message(ticket: Ticket, desk: Desk) -> str:
    return _("Called %(ticket)s to desk %(desk)s.", ticket=ticket.label, desk=desk.name)


@bp.post("/<office_code>/call-next")
@staff_page
def call_next(office_code: str) -> WerkzeugResponse:
    """Call the next waiting visitor to this clerk's desk."""
    office = office_for_user(office_code)
    if not FlaskForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return _back(office, _queue_focus(office))
    try:
        with transaction():
            desk = desks.work_at_desk(db.session, office, _user(), now())
            ticket = queue.call_next(db.session, office, desk, _user(), now())
            message = _called_message(ticket, desk) if ticket is not None else None
    except DomainError as error:
        flash(str(error.message), "error")
        return _back(office, "desk" if error.field == "desk" else _queue_focus(office))
    if message is None:
        flash(_("Nobody is waiting."), "info")
        return _back(office, _queue_focus(office))
    _say(message)
    return _back(office, "served")


def _ticket_of_office(office: Office, ticket_id: int) -> Ticket:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or ticket.office_id != office.id:
        abort(404)
    return ticket


@bp.post("/<office_code>/tickets/<id:ticket_id>/call")
@staff_page
def call_ticket(office_code: str, ticket_id: int) -> WerkzeugResponse:
    """Call this waiting ticket to this clerk's desk, out of the queue's order."""
    office = office_for_user(office_code)
    ticket = _ticket_of_office(office, ticket_id)
    if not FlaskForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return _back(office, _queue_focus(office))
    try:
        with transaction():
            desk = desks.work_at_desk(db.session, office, _user(), now())
            message = _called_message(
                queue.call_ticket(db.session, office, desk, ticket, _user(), now()), desk
            )
    except DomainError as error:
        flash(str(error.message), "error")
        return _back(office, "desk" if error.field == "desk" else _queue_focus(office))
    _say(message)
    return _back(office, "served")


def _recalled(ticket: Ticket) -> str:
    if ticket.status == TicketStatus.MISSED:
        return _(
            "Ticket %(ticket)s marked missed after %(num)d calls.",
            ticket=ticket.label,
            num=ticket.call_count,
        )
    desk = ticket.desk.name if ticket.desk else ""
    return _("Called %(ticket)s again to desk %(desk)s.", ticket=ticket.label, desk=desk)


TICKET_ACTIONS: dict[str, tuple[Callable[..., Ticket], Callable[[Ticket], str]]] = {
    "recall": (queue.recall, _recalled),
    "park": (queue.park, lambda t: _("Ticket %(ticket)s parked.", ticket=t.label)),
    "resume": (
        queue.resume,
        lambda t: _("Ticket %(ticket)s is back in the queue.", ticket=t.label),
    ),
    "serve": (queue.serve, lambda t: _("Ticket %(ticket)s served.", ticket=t.label)),
}


def _transferred(ticket: Ticket) -> str:
    service = ticket.service_type.display_name(_locale()) if ticket.service_type else ""
    if ticket.assigned_desk is not None:
        return _(
            "Ticket %(ticket)s transferred to desk %(desk)s for %(service)s.",
            ticket=ticket.label,
            desk=ticket.assigned_desk.name,
            service=service,
        )
    return _(
        "Ticket %(ticket)s transferred to the queue for %(service)s.",
        ticket=ticket.label,
        service=service,
    )


@bp.post("/<office_code>/tickets/<id:ticket_id>/<action>")
@staff_page
def ticket_action(office_code: str, ticket_id: int, action: str) -> WerkzeugResponse:
    """Recall, park, resume, serve or transfer a ticket of this office."""
    office = office_for_user(office_code)
    ticket = _ticket_of_office(office, ticket_id)
    if action not in {*TICKET_ACTIONS, "transfer"}:
        abort(404)
    if action == "transfer":
        form = TransferForm()
        form.service.choices = [(s.id, s.code) for s in office.services if s.is_active]
        office_desks = db.session.scalars(sa.select(Desk).where(Desk.office_id == office.id))
        form.desk.choices = [(0, "")] + [(d.id, d.name) for d in office_desks]
        if not form.validate_on_submit():
            flash(_("Choose a service."), "error")
            return _back(office, _queue_focus(office))
        service = db.session.get(ServiceType, form.service.data)
        desk = db.session.get(Desk, form.desk.data) if form.desk.data else None
        return _run(
            office,
            lambda: queue.transfer(db.session, ticket, _user(), now(), service=service, desk=desk),
            _transferred,
        )
    change, said = TICKET_ACTIONS[action]
    return _run(office, lambda: change(db.session, ticket, _user(), now()), said)


@bp.get("/<office_code>/waitlist")
@staff_page
def waiting_list(office_code: str) -> str:
    """How many wait for each service of the office, and the offers open now."""
    from consular.services import waitlist

    office = office_for_user(office_code)
    return render_template(
        "staff/waitlist.html",
        office=office,
        lengths=waitlist.lengths_by_service(db.session, office.id),
        offers=waitlist.open_offers(db.session, office.id),
    )


@bp.get("/<office_code>/appointments/<reference>")
@staff_page
def appointment(office_code: str, reference: str) -> str:
    """Show one appointment in full (the only page with unmasked personal data)."""
    office = office_for_user(office_code)
    found = appointment_of_office(office, reference)
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.appointment_id == found.id))
    moment = now()
    return render_template(
        "staff/appointment.html",
        office=office,
        appointment=found,
        details=detail_rows(found.details, _locale()),
        ticket=ticket,
        now=moment,
        no_show_from=queue.no_show_from(found.starts_at, no_show_grace()),
        can_undo_no_show=queue.can_undo_no_show_on(
            found.status,
            ticket is not None,
            found.starts_at.astimezone(office.zone).date(),
            queue.service_day(office, moment),
        ),
        action_form=FlaskForm(),
        check_in_form=CheckInForm(reference=found.reference),
    )


@bp.route("/<office_code>/appointments/<reference>/no-show", methods=["GET", "POST"])
@staff_page
def no_show(office_code: str, reference: str) -> str | WerkzeugResponse:
    """Ask to confirm, then mark a booked visitor who did not come (once the visit's time
    and the grace period have passed)."""
    office = office_for_user(office_code)
    found = appointment_of_office(office, reference)
    visit_day = found.starts_at.astimezone(office.zone).date()
    form = NoShowForm()
    if request.method == "POST" and form.validate_on_submit() and form.confirm.data:
        return _run(
            office,
            lambda: queue.mark_no_show(db.session, found, _user(), now(), grace=no_show_grace()),
            lambda _result: _(
                "%(reference)s (%(name)s) marked as a no-show. You can undo it today.",
                reference=found.reference,
                name=f"{found.given_name} {found.family_name}",
            ),
            focus=f"appointment-{found.reference}",
            day=visit_day,
        )
    return render_template(
        "staff/no_show.html",
        office=office,
        appointment=found,
        form=form,
        now=now(),
        no_show_from=queue.no_show_from(found.starts_at, no_show_grace()),
    )


@bp.post("/<office_code>/appointments/<reference>/undo-no-show")
@staff_page
def undo_no_show(office_code: str, reference: str) -> WerkzeugResponse:
    """Undo a no-show marked by mistake: the visit is confirmed again."""
    office = office_for_user(office_code)
    found = appointment_of_office(office, reference)
    return _run(
        office,
        lambda: queue.undo_no_show(db.session, found, _user(), now()),
        lambda _result: _(
            "The no-show of %(reference)s is undone: the visit is confirmed again.",
            reference=found.reference,
        ),
        focus=f"appointment-{found.reference}",
        day=found.starts_at.astimezone(office.zone).date(),
    )


def detail_rows(
    details: dict[str, dict[str, str]], locale: str
) -> list[tuple[str, list[tuple[str, str]]]]:
    """An appointment's extra details as [(group, [(field, value)])] in the staff's language:
    the booking form's labels and order (consular.services.details), dates written out.
    A group or field no longer defined keeps its stored name."""
    defined = {group.key: group for groups in DETAIL_SETS.values() for group in groups}
    keys = [key for key in defined if key in details]
    keys += [key for key in details if key not in defined]
    rows = []
    for key in keys:
        values = details[key] if isinstance(details[key], dict) else {}
        group = defined.get(key)
        fields = {field.name: field for field in group.fields} if group else {}
        names = [name for name in fields if name in values]
        names += [name for name in values if name not in fields]
        lines = []
        for name in names:
            field = fields.get(name)
            if field is None:
                lines.append((name, str(values[name])))
            else:
                lines.append((str(field.label), _detail_value(field.kind, values[name], locale)))
        rows.append((str(group.label) if group else key, lines))
    return rows


def _detail_value(kind: str, value: Any, locale: str) -> str:
    """A stored detail as text; an ISO date in the staff's language, a flag as "Yes"."""
    if kind == "flag":
        return _("Yes") if value else _("No")
    if kind in {"date", "past_date", "future_date"} and isinstance(value, str):
        try:
            return day_text(date.fromisoformat(value), locale, "long")
        except ValueError:
            pass
    return str(value)


@bp.get("/<office_code>/day.csv")
@staff_page
def day_csv(office_code: str) -> Response:
    """Export the day's appointments as CSV (IINs masked)."""
    office = office_for_user(office_code)
    shown = requested_day(office)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "time",
            "reference",
            "status",
            "given_name",
            "family_name",
            "iin",
            "phone",
            "services",
            "ticket",
        ]
    )
    labels = day_tickets(db.session, office, shown)
    tickets = {t.appointment_id: t.label for t in labels if t.appointment_id}
    for item in _day_appointments(office, shown):
        writer.writerow(
            [
                item.starts_at.astimezone(office.zone).strftime("%H:%M"),
                item.reference,
                item.status,
                _csv_safe(item.given_name),
                _csv_safe(item.family_name),
                masked_iin(item.iin),
                item.phone,
                "; ".join(str(line.snapshot.get("code")) for line in item.service_lines),
                tickets.get(item.id, ""),
            ]
        )
    return Response(
        "\ufeff" + buffer.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{office.code}-{shown.isoformat()}.csv"',
            "Cache-Control": "no-store",
        },
    )


def _csv_safe(text: str) -> str:
    """Keep spreadsheet programs from reading a cell as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@bp.get("/<office_code>/print")
@staff_page
def day_print(office_code: str) -> str:
    """A printable list of the day's appointments."""
    office = office_for_user(office_code)
    shown = requested_day(office)
    return render_template(
        "staff/print.html",
        office=office,
        day=shown,
        appointments=_day_appointments(office, shown),
        masked_iin=masked_iin,
    )


# The waiting-room display: public, ticket numbers and desks only.

public = bp  # the display lives under /staff/<office>/display but needs no sign-in


@bp.get("/<office_code>/display")
def display(office_code: str) -> str:
    """A screen for the waiting room: the latest calls, large; no names."""
    office = db.session.scalar(sa.select(Office).where(Office.code == office_code))
    if office is None:
        abort(404)
    return render_template("staff/display.html", office=office, feed=display_feed(office))


@bp.get("/<office_code>/display.json")
def display_json(office_code: str) -> Response:
    """The display's data, polled by the screen every few seconds."""
    office = db.session.scalar(sa.select(Office).where(Office.code == office_code))
    if office is None:
        abort(404)
    response = jsonify(display_feed(office))
    response.headers["Cache-Control"] = "no-store"
    return response


DISPLAY_HISTORY = 6


def _call_key(row: Any) -> str:
    """One key per call, so that a ticket called again (or called after a transfer or a
    return to the queue, its count starting again at 1) is shown as a new call."""
    return f"{row.id}-{row.call_count}-{row.last_called_at:%Y%m%d%H%M%S%f}"


def display_feed(office: Office) -> dict[str, Any]:
    """The calls at the desks now (ticket and desk only), the last calls before them, the
    number waiting and the estimated wait, as numbers and as the sentences the screen shows
    and, if the office wants them spoken, says."""
    moment = now()
    today = queue.service_day(office, moment)
    columns = (Ticket.id, Ticket.label, Desk.name, Ticket.last_called_at, Ticket.call_count)
    of_today = (
        Ticket.office_id == office.id,
        Ticket.service_day == today,
        Ticket.last_called_at.is_not(None),
    )
    calls = db.session.execute(
        sa.select(*columns)
        .join(Desk, Desk.id == Ticket.desk_id)
        .where(*of_today, Ticket.status == TicketStatus.CALLED)
        .order_by(Ticket.last_called_at.desc())
        .limit(8)
    ).all()
    # Tickets that left their desk (served, parked, missed) keep it: a ticket sent back to
    # the queue has none, and its next call will show.
    history = db.session.execute(
        sa.select(*columns)
        .join(Desk, Desk.id == Ticket.desk_id)
        .where(*of_today, Ticket.status != TicketStatus.CALLED)
        .order_by(Ticket.last_called_at.desc())
        .limit(DISPLAY_HISTORY)
    ).all()
    minutes = queue.estimated_wait_minutes(db.session, office, moment)
    waiting = (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Ticket)
            .where(
                Ticket.office_id == office.id,
                Ticket.service_day == today,
                Ticket.status == TicketStatus.WAITING,
            )
        )
        or 0
    )
    spoken = office.calls_spoken and bool(office.call_languages)
    local = moment.astimezone(office.zone)
    offset = local.utcoffset()
    return {
        "calls": [
            {
                "key": _call_key(row),
                "ticket": row.label,
                "desk": row.name,
                "text": _call_text(row.label, row.name),
                "speech": (
                    spoken_call(office.call_languages, *_spoken_label(row.label), row.name)
                    if spoken
                    else []
                ),
            }
            for row in calls
        ],
        "history": [
            {"key": _call_key(row), "ticket": row.label, "desk": row.name} for row in history
        ],
        "spoken": spoken,
        # The office's time, which the screen keeps ticking between polls: the server's
        # clock and the office's offset, never the zone of the screen's computer.
        "time": f"{local:%H:%M}",
        "now_ms": int(moment.timestamp() * 1000),
        "utc_offset_minutes": int(offset.total_seconds() // 60) if offset else 0,
        "waiting": waiting,
        "estimated_wait_minutes": minutes,
        # Whole sentences in the screen's language, which the page shows as they are.
        "waiting_text": waiting_text(waiting),
        "wait_text": wait_text(minutes),
    }


def _spoken_label(label: str) -> tuple[str, int]:
    """A ticket label such as "A-012" as its letter and number ("A", 12)."""
    prefix, _dash, digits = label.rpartition("-")
    return prefix, int(digits) if digits.isdigit() else 0


def _call_text(label: str, desk: str) -> str:
    """The call as the screen's live region announces it, in the screen's language."""
    return call_sentence(*_spoken_label(label), desk)


def waiting_text(waiting: int) -> str:
    """How many people wait, as a sentence for the waiting room."""
    return ngettext("%(num)d person waiting", "%(num)d people waiting", waiting)


def wait_text(minutes: int | None) -> str:
    """The estimated wait as a sentence for the waiting room."""
    if minutes is None:
        return _("Estimated wait: not known yet")
    if minutes == 0:
        return _("Estimated wait: none")
    return ngettext(
        "Estimated wait: about %(num)d minute", "Estimated wait: about %(num)d minutes", minutes
    )


@bp.after_request
def no_caching(response: WerkzeugResponse) -> WerkzeugResponse:
    """Staff pages show personal data: never keep them in a cache."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response
