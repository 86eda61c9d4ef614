"""Citizen pages of the waiting list: joining, the entry with its code, place and offer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as WerkzeugResponse

from consular.booking.forms import CodeForm
from consular.booking.journey import (
    office_or_404,
    remember_in_session,
    remember_token,
    remembered_in_session,
)
from consular.clock import now as clock_now
from consular.extensions import db, limiter
from consular.models import ServiceType, WaitlistEntry, WaitStatus
from consular.rate_limits import limit_entries
from consular.services import booking, waitlist
from consular.services.availability import VisitRules
from consular.services.booking_request import online_services_query
from consular.services.details import groups_for
from consular.services.errors import DomainError, NotFound, ValidationFailed, WrongCode
from consular.transaction import refusal_text, transaction
from consular.waitlist import bp
from consular.waitlist.forms import join_form_class

Page = str | WerkzeugResponse | tuple[str, int]


def _policy() -> waitlist.WaitlistPolicy:
    return waitlist.policy_from_config(current_app.config)


def _locale() -> str:
    return str(get_locale() or "en")


def _remember(reference: str, token: str) -> None:
    """Let this browser open the entry without the emailed link."""
    remember_in_session("waitlist", reference, token)


def _entry_for_browser(reference: str) -> WaitlistEntry:
    """The entry this browser may see: it holds a token of it, else 404."""
    token = remembered_in_session("waitlist", reference)
    try:
        return waitlist.find_entry(db.session, reference, token, _policy())
    except NotFound:
        abort(404)


def _chosen_services(office_id: int) -> list[ServiceType] | None:
    """The services in the address, if the office offers them all online with a list."""
    codes = [c for c in request.args.get("services", "").split(",") if c]
    if not codes or len(codes) > 5:
        return None
    found = {
        s.code: s
        for s in db.session.scalars(
            online_services_query(office_id).where(ServiceType.code.in_(codes))
        )
    }
    if any(code not in found or not waitlist.has_waitlist(found[code]) for code in codes):
        return None
    return [found[code] for code in codes]


@bp.route("/join/<office_code>", methods=["GET", "POST"])
@limit_entries
def join(office_code: str) -> Page:
    """Join the office's waiting list for the chosen services and a range of days."""
    office = office_or_404(db.session, office_code)
    services = _chosen_services(office.id)
    if services is None:
        abort(404)
    now = clock_now()
    today = now.astimezone(office.zone).date()
    last_day = VisitRules.for_services(services).last_day(office, now)
    groups = groups_for(sorted({name for s in services for name in s.detail_sets}))
    form = join_form_class(groups)()
    if request.method == "GET":
        form.first_day.data = form.first_day.data or today.isoformat()
        form.last_day.data = (
            form.last_day.data or min(last_day, today + timedelta(days=30)).isoformat()
        )
    general_errors: list[str] = []
    if request.method == "POST" and form.validate_on_submit():
        data = form.join_data() | {
            "office": office.code,
            "services": [s.code for s in services],
            "language": _locale(),
        }
        try:
            with transaction():
                parsed = waitlist.parse_join(db.session, data, now, _policy())
                made = waitlist.join(db.session, parsed, now, _policy())
                reference, token = made.entry.reference, made.token
        except ValidationFailed as error:
            general_errors = form.attach_errors(error.fields)
        except DomainError as error:  # already waiting
            general_errors = [refusal_text(error)]
        else:
            _remember(reference, token)
            return redirect(url_for("waitlist.entry", reference=reference))
    elif request.method == "POST" and "csrf_token" in form.errors:
        general_errors = [_("The form has expired. Please check your details and send it again.")]
    page = render_template(
        "waitlist/join.html",
        office=office,
        services=services,
        services_param=",".join(s.code for s in services),
        form=form,
        general_errors=general_errors,
        mode=waitlist.mode_of(services),
        today=today,
        last_day=last_day,
    )
    return (page, 422) if request.method == "POST" else page


def _render_entry(entry: WaitlistEntry, code_form: CodeForm, status: int = 200) -> Page:
    now = clock_now()
    page = render_template(
        "waitlist/entry.html",
        entry=entry,
        office=entry.office,
        code_form=code_form,
        code_expired=entry.is_code_expired(now),
        sends_left=max(0, current_app.config["CODE_MAX_SENDS"] - entry.code_sends),
        place=waitlist.place_in_line(db.session, entry),
        waiting=waitlist.waiting_count(db.session, entry),
        mode=waitlist.mode_of(entry.services),
        offer_open=entry.status == WaitStatus.OFFERED
        and entry.claim_by is not None
        and entry.claim_by > now,
        form=FlaskForm(),
        now=now,
    )
    return (page, status) if status != 200 else page


@bp.route("/<reference>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["BOOKING_RATE_LIMIT"], methods=["POST"])
def entry(reference: str) -> Page:
    """Show the entry and what happens next; before its code, ask for the code."""
    entry = _entry_for_browser(reference)
    form = CodeForm()
    if request.method == "GET":
        return _render_entry(entry, form)
    status = 422
    if entry.status == WaitStatus.UNVERIFIED and form.validate_on_submit():
        try:
            # A wrong code counts as an attempt: it is kept.
            with transaction(commit_refused=(WrongCode,)):
                waitlist.verify_entry(
                    db.session, entry, form.code.data or "", clock_now(), _policy()
                )
        except WrongCode as error:
            form.code.errors = [str(error.message)]
        except DomainError as error:
            form.code.errors = [refusal_text(error)]
            status = 409
        else:
            flash(_("You are on the waiting list. We have sent you an email."), "success")
            return redirect(url_for("waitlist.entry", reference=entry.reference))
        db.session.refresh(entry)
    return _render_entry(entry, form, status)


def _entry_action(reference: str, change: Any, done: str) -> WerkzeugResponse:
    """Run one change of the entry in one transaction, then show the entry again."""
    entry = _entry_for_browser(reference)
    if FlaskForm().validate_on_submit():
        try:
            with transaction(commit_refused=(waitlist.OfferLapsed,)):
                change(entry)
        except DomainError as error:
            flash(refusal_text(error), "error")
        else:
            flash(done, "success")
    return redirect(url_for("waitlist.entry", reference=entry.reference))


@bp.post("/<reference>/resend")
@limiter.limit(lambda: current_app.config["BOOKING_RATE_LIMIT"])
def resend_code(reference: str) -> WerkzeugResponse:
    """Send the entry's code again, a limited number of times."""
    return _entry_action(
        reference,
        lambda entry: waitlist.resend_code(db.session, entry, clock_now(), _policy()),
        _("We have sent a new code. The earlier code no longer works."),
    )


@bp.post("/<reference>/leave")
def leave(reference: str) -> WerkzeugResponse:
    """Leave the list (declining an offered seat, if there is one)."""
    return _entry_action(
        reference,
        lambda entry: waitlist.leave(db.session, entry, clock_now(), _policy()),
        _("You have left the waiting list."),
    )


@bp.post("/<reference>/claim")
def claim(reference: str) -> WerkzeugResponse:
    """Book the offered seat; the appointment's page opens with its reference and QR code."""
    entry = _entry_for_browser(reference)
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("waitlist.entry", reference=entry.reference))
    now = clock_now()
    try:
        with transaction(commit_refused=(waitlist.OfferLapsed,)):
            appointment = waitlist.claim(db.session, entry, now, _policy())
            token = booking.issue_manage_token(db.session, appointment, now, _policy().booking)
            appointment_reference = appointment.reference
    except DomainError as error:
        flash(refusal_text(error), "error")
        return redirect(url_for("waitlist.entry", reference=entry.reference))
    remember_token(appointment_reference, token)
    flash(_("Your appointment is booked. We have sent you an email."), "success")
    return redirect(url_for("booking.appointment", reference=appointment_reference))


@bp.get("/<reference>/<token>")
def entry_link(reference: str, token: str) -> WerkzeugResponse:
    """Open an entry from the link in an e-mail, then drop the token from the address."""
    try:
        found = waitlist.find_entry(db.session, reference, token, _policy())
    except NotFound:
        abort(404)
    _remember(found.reference, token)
    return redirect(url_for("waitlist.entry", reference=found.reference))


@bp.app_context_processor
def waitlist_helpers() -> dict[str, Any]:
    return {"WaitStatus": WaitStatus}


@bp.after_request
def keep_tokens_out_of_referrers(response: WerkzeugResponse) -> WerkzeugResponse:
    """Entry pages never leak their address (it may hold a token) and are never cached."""
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response
