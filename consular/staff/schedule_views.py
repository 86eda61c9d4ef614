"""Managers' schedule pages: hours and desks, closures, online booking, walk-in share,
single slots, the week's load, and the bookings a change leaves outside the schedule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time, timedelta
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from consular.clock import now
from consular.extensions import db
from consular.models import Closure, Office, OpeningPeriod, Slot
from consular.models.i18n import LANGUAGE_NAMES, LANGUAGES
from consular.services import booking, predicates, queue, schedule
from consular.services.errors import DomainError, ValidationFailed
from consular.staff import bp
from consular.staff.schedule_forms import BreakForm, PeriodForm, RemovalForm
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
            note = _outside_note(action(), office)
    except DomainError as error:
        flash(refusal_text(error), "error")
        return _back(office)
    flash(success + note, "success")
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


def _periods(office: Office) -> list[schedule.PeriodSpec]:
    return [schedule.PeriodSpec.of(p) for p in office.opening_periods]


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
    periods = _periods(office) + [schedule.PeriodSpec(d, opens, closes, desks) for d in weekdays]
    return _changed(
        office,
        lambda: schedule.replace_opening_periods(
            db.session, office, periods, _user(), now(), _horizon()
        ),
        _("The opening hours are saved and the slots updated."),
    )


T = TypeVar("T")


def _given(value: T | None) -> T:
    """A required field's value, once its form is valid."""
    if value is None:
        raise ValidationFailed({"periods": [_("Fill in every field.")]})
    return value


def _outside_note(changes: object, office: Office) -> str:
    """What to add to a change's message when bookings now wait for a decision (said only
    when the page lists some: bookings already kept need none)."""
    if (
        isinstance(changes, schedule.SlotChanges)
        and changes.orphaned
        and schedule.has_affected_appointments(db.session, office)
    ):
        return " " + _(
            "Some booked appointments are now outside the schedule: "
            "decide below what happens to them."
        )
    return ""


def _period_or_404(office: Office, period_id: int) -> OpeningPeriod:
    period = next((p for p in office.opening_periods if p.id == period_id), None)
    if period is None:
        abort(404)
    return period


def _render_period(
    office: Office,
    period: OpeningPeriod,
    *,
    change: PeriodForm | None = None,
    split: BreakForm | None = None,
    removal: RemovalForm | None = None,
    general_errors: list[str] | None = None,
) -> tuple[str, int]:
    """The page of one block of opening hours: change it, add a break, or remove it."""
    if change is None:
        change = PeriodForm(
            prefix="change",
            formdata=None,
            data={
                "opens_at": period.opens_at,
                "closes_at": period.closes_at,
                "desks": period.desks,
            },
        )
    split = split or BreakForm(prefix="break", formdata=None)
    removal = removal or RemovalForm(prefix="remove", formdata=None)
    removal_day = removal.effective_from.data if not removal.effective_from.errors else None
    impact = db.session.scalars(
        schedule.removal_impact_query(office, period, removal_day, now())
    ).all()
    failed = bool(general_errors) or any(f.errors for f in (change, split, removal))
    page = render_template(
        "staff/schedule_period.html",
        office=office,
        period=period,
        change=change,
        split=split,
        removal=removal,
        impact=impact,
        general_errors=general_errors or [],
    )
    return page, 422 if failed else 200


def _period_change(
    office: Office,
    period: OpeningPeriod,
    form: PeriodForm | BreakForm | RemovalForm,
    action: Callable[[], Any],
    success: str,
    **forms: Any,
) -> Response | tuple[str, int]:
    """Run a change of one period from its page; on bad input or a refusal, show the page
    again with the values kept and the messages by their fields."""
    if not form.validate_on_submit():
        return _render_period(office, period, **forms)
    general: list[str] = []
    try:
        with transaction():
            note = _outside_note(action(), office)
    except ValidationFailed as error:
        for name, messages in error.fields.items():
            target = form._fields.get(name) or (
                form._fields.get("starts_at") if name == "break" else None
            )
            if target is not None:
                target.errors = [*(target.errors or []), *messages]
            else:
                general.extend(str(m) for m in messages)
        return _render_period(office, period, general_errors=general, **forms)
    except DomainError as error:
        return _render_period(office, period, general_errors=[refusal_text(error)], **forms)
    flash(success + note, "success")
    return _back(office)


@bp.get("/<office_code>/schedule/periods/<id:period_id>")
@manager_page
def period_page(office: Office, period_id: int) -> tuple[str, int]:
    """Show one block of opening hours with the forms to change, split or remove it."""
    return _render_period(office, _period_or_404(office, period_id))


@bp.post("/<office_code>/schedule/periods/<id:period_id>")
@manager_page
def change_period(office: Office, period_id: int) -> Response | tuple[str, int]:
    """Change one block's hours and desks in place, from a day on."""
    period = _period_or_404(office, period_id)
    form = PeriodForm(prefix="change")
    return _period_change(
        office,
        period,
        form,
        lambda: schedule.change_period(
            db.session,
            office,
            period.id,
            _given(form.opens_at.data),
            _given(form.closes_at.data),
            _given(form.desks.data),
            form.effective_from.data,
            _user(),
            now(),
            _horizon(),
        ),
        _("The opening hours are saved and the slots updated."),
        change=form,
    )


@bp.post("/<office_code>/schedule/periods/<id:period_id>/break")
@manager_page
def add_break(office: Office, period_id: int) -> Response | tuple[str, int]:
    """Split one block of opening hours by a break, in one step."""
    period = _period_or_404(office, period_id)
    form = BreakForm(prefix="break")
    return _period_change(
        office,
        period,
        form,
        lambda: schedule.add_break(
            db.session,
            office,
            period.id,
            _given(form.starts_at.data),
            _given(form.ends_at.data),
            form.effective_from.data,
            _user(),
            now(),
            _horizon(),
        ),
        _("The break is added and the slots updated."),
        split=form,
    )


@bp.post("/<office_code>/schedule/periods/<id:period_id>/delete")
@manager_page
def delete_period(office: Office, period_id: int) -> Response | tuple[str, int]:
    """Remove one block of opening hours, once the manager has confirmed it."""
    period = _period_or_404(office, period_id)
    form = RemovalForm(prefix="remove")
    return _period_change(
        office,
        period,
        form,
        lambda: schedule.remove_period(
            db.session, office, period.id, form.effective_from.data, _user(), now(), _horizon()
        ),
        _("The opening hours are saved and the slots updated."),
        removal=form,
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
