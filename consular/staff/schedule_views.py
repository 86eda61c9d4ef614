"""Managers' schedule pages: hours and desks, closures, online booking, walk-in share,
single slots, the week's load, and the bookings a change leaves outside the schedule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time, timedelta
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from consular.clock import now
from consular.extensions import db
from consular.models import Closure, Office, Slot
from consular.models.i18n import LANGUAGE_NAMES, LANGUAGES
from consular.services import booking, predicates, queue, schedule
from consular.services.errors import DomainError
from consular.staff import bp
from consular.staff.views import (
    _user,
    appointment_of_office,
    office_for_user,
    requested_day,
    staff_page,
)
from consular.transaction import refusal_text, transaction


def manager_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Staff page for managers and administrators of the office; clerks get 403."""

    @wraps(view)
    @staff_page
    def wrapped(office_code: str, *args: Any, **kwargs: Any) -> Any:
        office = office_for_user(office_code)
        if not predicates.can_manage_schedule(_user()):
            abort(403)
        return view(office, *args, **kwargs)

    return wrapped


def _locale() -> str:
    return str(get_locale() or "en")


def _horizon() -> int:
    return int(current_app.config["SLOT_HORIZON_DAYS"])


def _back(office: Office) -> Response:
    return redirect(url_for("staff.schedule_page", office_code=office.code))


def _changed(office: Office, action: Callable[[], Any], success: str) -> Response:
    """Run one schedule change in one transaction and report it, or say why it was refused."""
    if not FlaskForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return _back(office)
    try:
        with transaction():
            changes = action()
            # Said only when the page lists them: bookings already kept need no decision.
            orphaned = (
                isinstance(changes, schedule.SlotChanges)
                and bool(changes.orphaned)
                and schedule.has_affected_appointments(db.session, office)
            )
    except DomainError as error:
        flash(refusal_text(error), "error")
        return _back(office)
    message = success
    if orphaned:
        message += " " + _(
            "Some booked appointments are now outside the schedule: "
            "decide below what happens to them."
        )
    flash(message, "success")
    return _back(office)


def _parse_time(raw: str | None) -> time | None:
    try:
        return time.fromisoformat(raw or "")
    except ValueError:
        return None


def _parse_date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        return None


@bp.get("/<office_code>/schedule")
@manager_page
def schedule_page(office: Office) -> str:
    """Show the office's hours, desks, closures and booking settings, with forms to change them."""
    moment = now()
    today = queue.service_day(office, moment)
    closures = db.session.scalars(
        sa.select(Closure)
        .where(
            Closure.office_id == office.id, Closure.is_active.is_(True), Closure.last_day >= today
        )
        .order_by(Closure.first_day)
    ).all()
    return render_template(
        "staff/schedule.html",
        office=office,
        closures=closures,
        closure_text=lambda closure: schedule.closure_text(closure, _locale()),
        affected=db.session.scalars(schedule.affected_appointments_query(office)).all(),
        cancellation_messages=schedule.default_cancellation_messages(),
        language_names=LANGUAGE_NAMES,
        languages=LANGUAGES,
        form=FlaskForm(),
    )


def _periods(office: Office) -> list[tuple[int, time, time, int]]:
    return [(p.weekday, p.opens_at, p.closes_at, p.desks) for p in office.opening_periods]


@bp.post("/<office_code>/schedule/periods")
@manager_page
def add_period(office: Office) -> Response:
    """Add opening hours on one or more weekdays."""
    weekdays = [int(d) for d in request.form.getlist("weekday") if d.isdigit() and int(d) < 7]
    opens = _parse_time(request.form.get("opens_at"))
    closes = _parse_time(request.form.get("closes_at"))
    try:
        desks = int(request.form.get("desks", ""))
    except ValueError:
        desks = 0
    if not weekdays or opens is None or closes is None or desks < 1:
        flash(
            _("Choose the days, the opening and closing times, and the number of desks."), "error"
        )
        return _back(office)
    periods = _periods(office) + [(d, opens, closes, desks) for d in weekdays]
    return _changed(
        office,
        lambda: schedule.replace_opening_periods(
            db.session, office, periods, _user(), now(), _horizon()
        ),
        _("The opening hours are saved and the slots updated."),
    )


@bp.post("/<office_code>/schedule/periods/<id:period_id>/delete")
@manager_page
def delete_period(office: Office, period_id: int) -> Response:
    """Remove one block of opening hours."""
    if not any(p.id == period_id for p in office.opening_periods):
        abort(404)
    periods = [
        (p.weekday, p.opens_at, p.closes_at, p.desks)
        for p in office.opening_periods
        if p.id != period_id
    ]
    return _changed(
        office,
        lambda: schedule.replace_opening_periods(
            db.session, office, periods, _user(), now(), _horizon()
        ),
        _("The opening hours are saved and the slots updated."),
    )


@bp.post("/<office_code>/schedule/closures")
@manager_page
def add_closure(office: Office) -> Response:
    """Close the office for a day or a range of days."""
    first = _parse_date(request.form.get("first_day"))
    last = _parse_date(request.form.get("last_day")) or first
    reason = (request.form.get("reason") or "").strip()
    is_public = request.form.get("reason_shown", "public") != "staff"
    if first is None or last is None or not reason:
        flash(_("Give the first day and a reason."), "error")
        return _back(office)
    return _changed(
        office,
        lambda: schedule.add_closure(
            db.session,
            office,
            first,
            last,
            reason,
            _user(),
            now(),
            _horizon(),
            is_reason_public=is_public,
        ),
        _("The closure is saved and the slots updated."),
    )


@bp.post("/<office_code>/schedule/closures/<id:closure_id>/remove")
@manager_page
def remove_closure(office: Office, closure_id: int) -> Response:
    """Reopen the days of a closure (a removed public holiday stays removed)."""
    closure = db.session.get(Closure, closure_id)
    if closure is None or closure.office_id != office.id:
        abort(404)
    return _changed(
        office,
        lambda: schedule.remove_closure(db.session, closure, _user(), now(), _horizon()),
        _("The closure is removed and the slots updated."),
    )


@bp.post("/<office_code>/schedule/booking")
@manager_page
def booking_settings(office: Office) -> Response:
    """Open or close online booking, with a public message, and set the walk-in share."""

    try:
        share = int(request.form.get("walk_in_share", office.walk_in_share))
    except ValueError:
        share = -1
    messages = {lang: request.form.get(f"message_{lang}") or "" for lang in LANGUAGES}
    is_open = request.form.get("booking_open") == "1"

    def change() -> schedule.SlotChanges:
        return schedule.update_booking_settings(
            db.session, office, is_open, messages, share, _user(), now(), _horizon()
        )

    return _changed(office, change, _("The booking settings are saved."))


@bp.post("/<office_code>/schedule/affected/<reference>/keep")
@manager_page
def keep_affected(office: Office, reference: str) -> Response:
    """Keep an appointment outside the new schedule: its slot stays, over capacity."""
    appointment = appointment_of_office(office, reference)
    return _changed(
        office,
        lambda: schedule.keep_affected(db.session, appointment, _user(), now()),
        _("The appointment is kept."),
    )


@bp.post("/<office_code>/schedule/affected/<reference>/cancel")
@manager_page
def cancel_affected(office: Office, reference: str) -> Response:
    """Cancel an appointment outside the new schedule and email the citizen the message
    written in their language."""
    appointment = appointment_of_office(office, reference)
    messages = {lang: request.form.get(f"message_{lang}") or "" for lang in LANGUAGES}
    return _changed(
        office,
        lambda: schedule.cancel_affected(
            db.session,
            appointment,
            messages,
            _user(),
            now(),
            booking.policy_from_config(current_app.config),
        ),
        _("The appointment is cancelled and the citizen emailed."),
    )


@bp.get("/<office_code>/week")
@manager_page
def week(office: Office) -> str:
    """The week's slots with their load; single slots can be blocked or reopened."""
    first = requested_day(office, "start")
    first = first - timedelta(days=first.weekday())
    start = schedule.local_day_bounds(first, office.zone)[0]
    end = schedule.local_day_bounds(first + timedelta(days=6), office.zone)[1]
    slots = db.session.scalars(
        sa.select(Slot)
        .where(
            Slot.office_id == office.id,
            Slot.starts_at >= start,
            Slot.starts_at < end,
        )
        .order_by(Slot.starts_at)
    ).all()
    days: dict[date, list[Slot]] = {first + timedelta(days=n): [] for n in range(7)}
    for slot in slots:
        days.setdefault(slot.starts_at.astimezone(office.zone).date(), []).append(slot)
    return render_template(
        "staff/week.html",
        office=office,
        days=days,
        first=first,
        previous=first - timedelta(days=7),
        following=first + timedelta(days=7),
        form=FlaskForm(),
    )


@bp.post("/<office_code>/slots/<id:slot_id>/<action>")
@manager_page
def slot_action(office: Office, slot_id: int, action: str) -> Response:
    """Block a slot from online booking, or reopen it."""
    slot = db.session.get(Slot, slot_id)
    if slot is None or slot.office_id != office.id or action not in ("block", "reopen"):
        abort(404)
    if FlaskForm().validate_on_submit():
        try:
            with transaction():
                schedule.set_slot_blocked(db.session, slot, action == "block", _user(), now())
        except DomainError as error:
            flash(refusal_text(error), "error")
        else:
            flash(
                _("The slot is blocked.") if action == "block" else _("The slot is open again."),
                "success",
            )
    day = slot.starts_at.astimezone(office.zone).date()
    return redirect(url_for("staff.week", office_code=office.code, start=day.isoformat()))
