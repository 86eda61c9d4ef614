"""Lottery releases: list, announce, change, cancel, run the draw, read and check its log."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from consular.admin import bp
from consular.admin.access import acting_admin, admin_page
from consular.admin.form_base import apply_change, validated
from consular.admin.lottery_forms import ReleaseForm
from consular.clock import now
from consular.extensions import db
from consular.models import LotteryEntry, LotteryRelease, Office, ServiceType
from consular.services import lottery
from consular.services.errors import DomainError
from consular.transaction import refusal_text, transaction

Page = str | Response | tuple[str, int]


def _locale() -> str:
    return str(get_locale() or "en")


def _release_or_404(release_id: int) -> LotteryRelease:
    release = db.session.get(LotteryRelease, release_id)
    if release is None:
        abort(404)
    return release


def _prepare(form: ReleaseForm) -> None:
    locale = _locale()
    offices = db.session.scalars(sa.select(Office).order_by(Office.id)).all()
    form.office_id.choices = [(o.id, o.display_name(locale)) for o in offices]
    services = db.session.scalars(
        sa.select(ServiceType)
        .where(ServiceType.is_active.is_(True), ServiceType.is_online.is_(True))
        .order_by(ServiceType.sort_order, ServiceType.id)
    )
    form.service_ids.choices = [(s.id, s.display_name(locale)) for s in services]


def _aware(moment: datetime | None, office: Office | None) -> datetime | None:
    """A local time typed in the form, at the office's (None until an office is chosen)."""
    if moment is None or office is None:
        return None
    try:
        return lottery.local_moment(moment.date(), moment.time(), office)
    except OverflowError:  # a time at the very ends of the calendar: refused as missing
        return None


def _data_from(form: ReleaseForm) -> lottery.ReleaseData:
    office = db.session.get(Office, form.office_id.data) if form.office_id.data else None
    return lottery.ReleaseData(
        office_id=office.id if office is not None else None,
        service_ids=list(form.service_ids.data or []),
        first_day=form.first_day.data,
        last_day=form.last_day.data,
        opens_at=_aware(form.opens_at.data, office),
        closes_at=_aware(form.closes_at.data, office),
        draw_at=_aware(form.draw_at.data, office),
        confirm_hours=form.confirm_hours.data,
    )


def _render_form(
    form: ReleaseForm,
    release: LotteryRelease | None,
    status: int = 200,
    general_errors: list[str] | None = None,
) -> Page:
    moment = now()
    page = render_template(
        "admin/lottery_form.html",
        form=form,
        release=release,
        general_errors=general_errors or [],
        state=release.effective_state(moment) if release else None,
        entries=lottery.entries_count(db.session, release.id) if release else 0,
        unverified=_unverified(release.id) if release else 0,
        due=release is not None and lottery.is_due_for_draw(release, moment),
        action_form=FlaskForm(),
    )
    return (page, status) if status != 200 else page


def _unverified(release_id: int) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(LotteryEntry)
            .where(LotteryEntry.release_id == release_id, LotteryEntry.takes_place.is_(False))
        )
        or 0
    )


@bp.get("/lottery")
@admin_page
def lottery_releases() -> str:
    """List the releases, newest first, with their state and entries."""
    moment = now()
    releases = db.session.scalars(
        sa.select(LotteryRelease).order_by(LotteryRelease.first_day.desc(), LotteryRelease.id)
    ).all()
    counts: dict[int, int] = {
        release_id: count
        for release_id, count in db.session.execute(
            sa.select(LotteryEntry.release_id, sa.func.count())
            .where(LotteryEntry.takes_place.is_(True))
            .group_by(LotteryEntry.release_id)
        )
    }
    return render_template(
        "admin/lottery_releases.html",
        releases=releases,
        counts=counts,
        states={r.id: r.effective_state(moment) for r in releases},
    )


@bp.route("/lottery/new", methods=["GET", "POST"])
@admin_page
def lottery_new() -> Page:
    """Announce a release: its days leave first-come sale for its services at once."""
    general_errors: list[str] = []
    form = ReleaseForm()
    _prepare(form)
    if not form.is_submitted():
        form.process(data={"confirm_hours": 48})
    elif validated(form, lambda: lottery.check_release(db.session, _data_from(form), None, now())):
        created, release = apply_change(
            form,
            general_errors,
            lambda: lottery.create_release(db.session, acting_admin(), now(), _data_from(form)),
        )
        if created:
            assert release is not None  # created: the change returned the new release
            flash(_("The lottery is announced. Its days are no longer on first-come sale."),
                  "success")  # fmt: skip
            return redirect(url_for("admin.lottery_edit", release_id=release.id))
    return _render_form(form, None, 400 if form.is_submitted() else 200, general_errors)


@bp.route("/lottery/<id:release_id>", methods=["GET", "POST"])
@admin_page
def lottery_edit(release_id: int) -> Page:
    """Show a release with its entries and actions; change it until it is drawn."""
    release = _release_or_404(release_id)
    general_errors: list[str] = []
    form = ReleaseForm()
    _prepare(form)
    if not form.is_submitted():
        zone = release.office.zone
        form.process(
            data={
                "office_id": release.office_id,
                "service_ids": [s.id for s in release.services],
                "first_day": release.first_day,
                "last_day": release.last_day,
                "opens_at": release.opens_at.astimezone(zone).replace(tzinfo=None),
                "closes_at": release.closes_at.astimezone(zone).replace(tzinfo=None),
                "draw_at": release.draw_at.astimezone(zone).replace(tzinfo=None),
                "confirm_hours": release.confirm_hours,
            }
        )
    elif validated(
        form, lambda: lottery.check_release(db.session, _data_from(form), release, now())
    ):
        updated, _changed = apply_change(
            form,
            general_errors,
            lambda: lottery.update_release(
                db.session, acting_admin(), now(), release, _data_from(form)
            ),
        )
        if updated:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.lottery_edit", release_id=release.id))
    return _render_form(form, release, 400 if form.is_submitted() else 200, general_errors)


@bp.post("/lottery/<id:release_id>/cancel")
@admin_page
def lottery_cancel(release_id: int) -> Response:
    """Cancel a release before its draw; its entrants are told by email."""
    release = _release_or_404(release_id)
    if FlaskForm().validate_on_submit():
        try:
            with transaction():
                lottery.cancel_release(db.session, acting_admin(), now(), release)
        except DomainError as error:
            flash(refusal_text(error), "error")
        else:
            flash(_("The lottery is cancelled and its entrants are told."), "success")
    return redirect(url_for("admin.lottery_edit", release_id=release.id))


@bp.post("/lottery/<id:release_id>/draw")
@admin_page
def lottery_draw(release_id: int) -> Response:
    """Run the draw of a release whose draw time has passed (as `flask lottery draw` does)."""
    release = _release_or_404(release_id)
    if FlaskForm().validate_on_submit():
        policy = lottery.policy_from_config(current_app.config)
        with transaction():
            result = lottery.draw(db.session, release.id, now(), policy, actor=acting_admin())
        if result is None:
            flash(_("The draw can't be run: its time has not come, or it has been run."), "error")
        else:
            flash(_("The draw is made: %(offered)d seats offered, %(waiting)d people in line.",
                    offered=result.offered, waiting=result.waiting), "success")  # fmt: skip
            return redirect(url_for("admin.lottery_log", release_id=release.id))
    return redirect(url_for("admin.lottery_edit", release_id=release.id))


@bp.get("/lottery/<id:release_id>/log")
@admin_page
def lottery_log(release_id: int) -> Page:
    """Show the draw's log (seed, order, seats per person, what happened since) and, when
    asked, run it again from its seed and compare."""
    release = _release_or_404(release_id)
    if not release.draw_log:
        flash(_("This lottery has not been drawn yet."), "error")
        return redirect(url_for("admin.lottery_edit", release_id=release.id))
    log = release.draw_log
    entries = {
        e.id: e
        for e in db.session.scalars(
            sa.select(LotteryEntry).where(LotteryEntry.release_id == release.id)
        )
    }
    plan = {int(entry_id): start for entry_id, start in log["plan"]}
    check = lottery.verify_draw(db.session, release) if request.args.get("verify") else None
    return render_template(
        "admin/lottery_log.html",
        release=release,
        office=release.office,
        log=log,
        entries=entries,
        plan={k: datetime.fromisoformat(v) if v else None for k, v in plan.items()},
        events=db.session.execute(lottery.events_query(release.id)).all(),
        check=check,
        state=release.effective_state(now()),
    )
