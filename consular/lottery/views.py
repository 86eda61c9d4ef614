"""Citizen pages of lottery releases: the release, the entry form, the entry and its result."""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as WerkzeugResponse

from consular.booking.journey import remember_in_session, remember_token, remembered_in_session
from consular.clock import now as clock_now
from consular.extensions import db, limiter
from consular.lottery import bp
from consular.lottery.forms import EntryCodeForm, day_choices, entry_form_class
from consular.models import EntryStatus, LotteryEntry, LotteryRelease, ReleaseState
from consular.rate_limits import limit_entries
from consular.services import booking, lottery, timefmt
from consular.services.booking_request import combination_problem, service_codes_problem
from consular.services.details import groups_for
from consular.services.errors import (
    DomainError,
    NotFound,
    ValidationFailed,
    WrongCode,
)
from consular.transaction import refusal_text, transaction

Page = str | WerkzeugResponse | tuple[str, int]


def _policy() -> lottery.LotteryPolicy:
    return lottery.policy_from_config(current_app.config)


def _locale() -> str:
    return str(get_locale() or "en")


def _release_or_404(release_id: int) -> LotteryRelease:
    release = db.session.get(LotteryRelease, release_id)
    if release is None:
        abort(404)
    return release


def _remember(reference: str, token: str) -> None:
    """Let this browser open the entry without the emailed link."""
    remember_in_session("lottery", reference, token)


def _entry_for_browser(reference: str) -> LotteryEntry:
    """The entry this browser may see: it holds a token of it, else 404."""
    token = remembered_in_session("lottery", reference)
    try:
        return lottery.find_entry(db.session, reference, token, _policy())
    except NotFound:
        abort(404)


@bp.get("/<id:release_id>")
def release(release_id: int) -> str:
    """Explain a release: its days, when entries are taken, when the draw is, what follows."""
    release = _release_or_404(release_id)
    now = clock_now()
    return render_template(
        "lottery/release.html",
        release=release,
        office=release.office,
        state=release.effective_state(now),
        entries=lottery.entries_count(db.session, release.id),
        now=now,
    )


def _entry_services(release: LotteryRelease) -> list[Any] | None:
    """The services chosen for the entry (all of them when the release has one), or None."""
    if len(release.services) == 1:
        return list(release.services)
    codes = [c for c in request.values.get("services", "").split(",") if c]
    offered = {s.code: s for s in release.services}
    if not codes or any(code not in offered for code in codes):
        return None
    chosen = [offered[code] for code in codes]
    if service_codes_problem(codes) or combination_problem(chosen, _locale()):
        return None
    return chosen


def _entry_form(release: LotteryRelease, services: list[Any]) -> Any:
    groups = groups_for(sorted({name for s in services for name in s.detail_sets}))
    locale = _locale()
    days = day_choices(lottery.release_days(release), lambda d: timefmt.day_text(d, locale))
    return entry_form_class(groups, days)()


@bp.route("/<id:release_id>/enter", methods=["GET", "POST"])
@limit_entries
def enter(release_id: int) -> Page:
    """Take an entry: the services, the applicant's details and preferences; send the code."""
    release = _release_or_404(release_id)
    now = clock_now()
    if not release.is_open(now):
        flash(_("This lottery does not take entries now."), "error")
        return redirect(url_for("lottery.release", release_id=release.id))
    services = _entry_services(release)
    if services is None:
        chosen = request.values.getlist("service")
        if chosen:
            return redirect(
                url_for("lottery.enter", release_id=release.id, services=",".join(chosen))
            )
        submitted = "choose" in request.args
        error = _("Choose at least one service (at most five).") if submitted else None
        page = render_template(
            "lottery/choose_services.html", release=release, office=release.office, error=error
        )
        return (page, 400) if error else page
    form = _entry_form(release, services)
    general_errors: list[str] = []
    if request.method == "POST" and form.validate_on_submit():
        data = form.entry_data() | {"services": [s.code for s in services], "language": _locale()}
        try:
            with transaction():
                parsed = lottery.parse_entry(db.session, release, data, now, _policy())
                placed = lottery.enter(db.session, parsed, now, _policy())
                reference = placed.entry.reference
        except ValidationFailed as error:
            general_errors = form.attach_errors(error.fields)
        except DomainError as error:  # already entered, or the window closed meanwhile
            general_errors = [refusal_text(error)]
        else:
            _remember(reference, placed.token)
            return redirect(url_for("lottery.entry", reference=reference))
    elif request.method == "POST" and "csrf_token" in form.errors:
        general_errors = [_("The form has expired. Please check your details and send it again.")]
    page = render_template(
        "lottery/enter.html",
        release=release,
        office=release.office,
        services=services,
        services_param=",".join(s.code for s in services),
        form=form,
        general_errors=general_errors,
    )
    failed = request.method == "POST"
    return (page, 422) if failed else page


def _render_entry(entry: LotteryEntry, code_form: EntryCodeForm, status: int = 200) -> Page:
    now = clock_now()
    release = entry.release
    page = render_template(
        "lottery/entry.html",
        entry=entry,
        release=release,
        office=release.office,
        status=lottery.offer_status(entry, now),
        release_state=release.effective_state(now),
        code_form=code_form,
        code_expired=entry.is_code_expired(now),
        sends_left=max(0, current_app.config["CODE_MAX_SENDS"] - entry.code_sends),
        place=lottery.place_in_line(db.session, entry),
        drawn=len(release.draw_log["order"]) if release.draw_log else 0,
        preferences=[lottery.Preference.from_json(p) for p in entry.preferences],
        form=FlaskForm(),
        now=now,
    )
    return (page, status) if status != 200 else page


@bp.route("/entries/<reference>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["BOOKING_RATE_LIMIT"], methods=["POST"])
def entry(reference: str) -> Page:
    """Show the entry and what happens next; before its code, ask for the code."""
    entry = _entry_for_browser(reference)
    form = EntryCodeForm()
    if request.method == "GET":
        return _render_entry(entry, form)
    status = 422
    if entry.status == EntryStatus.UNVERIFIED and form.validate_on_submit():
        try:
            # A wrong code counts as an attempt: it is kept.
            with transaction(commit_refused=(WrongCode,)):
                lottery.verify_entry(
                    db.session, entry, form.code.data or "", clock_now(), _policy()
                )
        except WrongCode as error:
            form.code.errors = [str(error.message)]
        except DomainError as error:
            form.code.errors = [refusal_text(error)]
            status = 409
        else:
            flash(_("Your entry is in the draw. We have sent you an email."), "success")
            return redirect(url_for("lottery.entry", reference=entry.reference))
        db.session.refresh(entry)
    return _render_entry(entry, form, status)


def _entry_action(reference: str, change: Any, done: str) -> WerkzeugResponse:
    """Run one change of the entry in one transaction, then show the entry again."""
    entry = _entry_for_browser(reference)
    if FlaskForm().validate_on_submit():
        try:
            with transaction(commit_refused=(lottery.OfferLapsed,)):
                change(entry)
        except DomainError as error:
            flash(refusal_text(error), "error")
        else:
            flash(done, "success")
    return redirect(url_for("lottery.entry", reference=entry.reference))


@bp.post("/entries/<reference>/resend")
@limiter.limit(lambda: current_app.config["BOOKING_RATE_LIMIT"])
def resend_code(reference: str) -> WerkzeugResponse:
    """Send the entry's code again, a limited number of times."""
    return _entry_action(
        reference,
        lambda entry: lottery.resend_entry_code(db.session, entry, clock_now(), _policy()),
        _("We have sent a new code. The earlier code no longer works."),
    )


@bp.post("/entries/<reference>/withdraw")
def withdraw(reference: str) -> WerkzeugResponse:
    """Take the entry out of the draw."""
    return _entry_action(
        reference,
        lambda entry: lottery.withdraw_entry(db.session, entry, clock_now()),
        _("Your entry is withdrawn. You can enter again while entries are open."),
    )


@bp.post("/entries/<reference>/waitlist")
def waitlist(reference: str) -> WerkzeugResponse:
    """Record whether the entrant wants to join the waiting list without a seat."""
    wanted = request.form.get("wanted") == "1"
    return _entry_action(
        reference,
        lambda entry: lottery.set_waitlist_wish(db.session, entry, wanted),
        _("We have noted that you want to join the waiting list.")
        if wanted
        else _("We have noted that you don't want to join the waiting list."),
    )


@bp.post("/entries/<reference>/decline")
def decline(reference: str) -> WerkzeugResponse:
    """Give the offered seat up, for the next person in line."""
    return _entry_action(
        reference,
        lambda entry: lottery.decline_offer(db.session, entry, clock_now(), _policy()),
        _("You have declined the appointment. It goes to the next person in line."),
    )


@bp.post("/entries/<reference>/confirm")
def confirm(reference: str) -> WerkzeugResponse:
    """Book the offered seat; the appointment's page opens with its reference and QR code."""
    entry = _entry_for_browser(reference)
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("lottery.entry", reference=entry.reference))
    now = clock_now()
    try:
        with transaction(commit_refused=(lottery.OfferLapsed,)):
            appointment = lottery.confirm_offer(db.session, entry, now, _policy())
            token = booking.issue_manage_token(db.session, appointment, now, _policy().booking)
            appointment_reference = appointment.reference
    except DomainError as error:
        flash(refusal_text(error), "error")
        return redirect(url_for("lottery.entry", reference=entry.reference))
    remember_token(appointment_reference, token)
    flash(_("Your appointment is booked. We have sent you an email."), "success")
    return redirect(url_for("booking.appointment", reference=appointment_reference))


@bp.get("/entries/<reference>/<token>")
def entry_link(reference: str, token: str) -> WerkzeugResponse:
    """Open an entry from the link in an email, then drop the token from the address."""
    try:
        found = lottery.find_entry(db.session, reference, token, _policy())
    except NotFound:
        abort(404)
    _remember(found.reference, token)
    return redirect(url_for("lottery.entry", reference=found.reference))


@bp.app_context_processor
def lottery_helpers() -> dict[str, Any]:
    """Names the lottery templates share: state and status wording, release times."""
    from consular.lottery.texts import ENTRY_STATUS_TEXT, EVENT_TEXT, PART_TEXT, STATE_TEXT

    return {
        "lottery_state_text": lambda state: STATE_TEXT.get(str(state), str(state)),
        "lottery_status_text": lambda status: ENTRY_STATUS_TEXT.get(str(status), str(status)),
        "lottery_part_text": lambda part: PART_TEXT.get(part or "", PART_TEXT[""]),
        "lottery_event_text": lambda kind: EVENT_TEXT.get(kind, kind),
        "ReleaseState": ReleaseState,
        "EntryStatus": EntryStatus,
    }


@bp.after_request
def keep_tokens_out_of_referrers(response: WerkzeugResponse) -> WerkzeugResponse:
    """Entry pages never leak their address (it may hold a token) and are never cached."""
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response
