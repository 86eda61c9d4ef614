"""The review of suspicious bookings: clusters for managers (their offices) and administrators,
and the bulk cancellation of a cluster's bookings (administrators)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import Field, SelectField, StringField
from wtforms.validators import ValidationError

from consular.admin import bp
from consular.admin.access import acting_admin
from consular.admin.form_base import AdminForm, choice_values
from consular.auth import account_gate
from consular.clock import now
from consular.extensions import db
from consular.models import Office, User
from consular.models.i18n import LANGUAGE_NAMES, LANGUAGES
from consular.services import booking, predicates, suspicion
from consular.services.errors import DomainError, NotFound, ValidationFailed
from consular.services.schedule import local_day_bounds
from consular.transaction import refusal_text, transaction

KOREA = ZoneInfo("Asia/Seoul")
DEFAULT_DAYS = 30  # the period shown first: the holds of the last 30 days, today included
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def reviewer_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Sign-in required, the password changed when asked, and a manager's or an
    administrator's role; else 403."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = acting_admin()
        gate = account_gate(user)
        if gate is not None:
            return gate
        if not predicates.can_review_bookings(user):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _visible_offices(user: User) -> list[Office]:
    """The offices whose bookings the account may review: all for an administrator."""
    if user.is_admin:
        return list(db.session.scalars(sa.select(Office).order_by(Office.id)))
    return list(user.offices)


def _today() -> date:
    return now().astimezone(KOREA).date()


class ReviewFilterForm(AdminForm):
    """The review's filters, read from the query string."""

    class Meta:
        csrf = False

    office = SelectField(_l("Office"), default="", validate_choice=False)
    date_from = StringField(
        _l("Held from (Korea time)"),
        description=_l("For example 2026-11-29"),
        render_kw={"type": "date"},
    )
    date_to = StringField(
        _l("To (Korea time)"), description=_l("Included"), render_kw={"type": "date"}
    )

    def set_choices(self, offices: list[Office], locale: str) -> None:
        """Offer the offices the account may review, and all of them together."""
        every = _("Every office") if len(offices) > 1 else offices[0].display_name(locale)
        self.office.choices = [("", every)] + (
            [(o.code, o.display_name(locale)) for o in offices] if len(offices) > 1 else []
        )

    def validate_office(self, field: SelectField) -> None:
        if (field.data or "") not in choice_values(field):
            raise ValidationError(_("Choose an office from the list."))

    @staticmethod
    def _day(field: Field) -> date | None:
        raw = (field.data or "").strip()
        if not raw:
            return None
        try:
            if not _ISO_DATE.fullmatch(raw):
                raise ValueError(raw)
            day = date.fromisoformat(raw)
            local_day_bounds(day, KOREA)
            local_day_bounds(day + timedelta(days=1), KOREA)
        except (ValueError, OverflowError):
            raise ValidationError(_("Enter a date like 2026-11-29.")) from None
        return day

    def validate_date_from(self, field: Field) -> None:
        self._day(field)

    def validate_date_to(self, field: Field) -> None:
        last = self._day(field) or _today()
        try:
            first = self._day(self.date_from)
        except ValidationError:
            return
        if first is not None and last < first:
            raise ValidationError(_("The end of the period must not be before its start."))

    def scope(self, offices: list[Office]) -> suspicion.ReviewScope:
        """The bookings the (validated) filters choose: held in the period at the offices."""
        last = self._day(self.date_to) or _today()
        first = self._day(self.date_from) or last - timedelta(days=DEFAULT_DAYS - 1)
        chosen = [o for o in offices if not self.office.data or o.code == self.office.data]
        return suspicion.ReviewScope(
            office_ids=tuple(o.id for o in chosen),
            since=local_day_bounds(first, KOREA)[0],
            until=local_day_bounds(last, KOREA)[1],
        )

    def arguments(self) -> dict[str, Any]:
        """The filters in use, to carry them into the links to a cluster and back (Any: for
        url_for's **values)."""
        return {
            name: value
            for name, value in (
                ("office", self.office.data),
                ("from", self.date_from.data),
                ("to", self.date_to.data),
            )
            if value
        }


def _filters(offices: list[Office]) -> tuple[ReviewFilterForm, bool]:
    values = request.values
    form = ReviewFilterForm(
        formdata=None,
        office=values.get("office", ""),
        date_from=values.get("from", ""),
        date_to=values.get("to", ""),
    )
    form.set_choices(offices, _locale())
    valid = form.validate()
    if valid and not form.date_from.data and not form.date_to.data:
        # Show the period the page reads.
        last = _today()
        form.date_from.data = (last - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        form.date_to.data = last.isoformat()
    return form, valid


def _locale() -> str:
    return str(get_locale() or "en")


def _settings() -> suspicion.ReviewSettings:
    return suspicion.settings_from_config(current_app.config)


def korea_time(moment: Any) -> str:
    """A moment as the date and time in Korea, e.g. "2026-11-29 12:00"."""
    return moment.astimezone(KOREA).strftime("%Y-%m-%d %H:%M")


def _signal_or_404(name: str) -> suspicion.Signal:
    try:
        return suspicion.Signal(name)
    except ValueError:
        abort(404)


def _cluster_or_404(
    form: ReviewFilterForm, offices: list[Office], signal: str, key: str
) -> tuple[suspicion.ReviewScope, suspicion.Cluster]:
    scope = form.scope(offices)
    try:
        cluster = suspicion.find_cluster(
            db.session, scope, _signal_or_404(signal), key, _settings(), now()
        )
    except NotFound:
        abort(404)
    return scope, cluster


@bp.get("/review", endpoint="review")
@reviewer_page
def review() -> tuple[str, int]:
    """List the clusters of bookings that share a network, a private email domain, a phone,
    a device or implausible speed, the largest first."""
    user = acting_admin()
    offices = _visible_offices(user)
    if not offices:
        abort(403)
    form, valid = _filters(offices)
    clusters = (
        suspicion.find_clusters(db.session, form.scope(offices), _settings(), now())
        if valid
        else []
    )
    return render_template(
        "admin/review.html",
        form=form,
        valid=valid,
        clusters=clusters,
        offices={o.id: o for o in offices},
        arguments=form.arguments(),
        fast_seconds=current_app.config["REVIEW_FAST_SECONDS"],
        korea_time=korea_time,
    ), (200 if valid else 400)


@bp.get("/review/<signal>/<key>", endpoint="review_cluster")
@reviewer_page
def review_cluster(signal: str, key: str) -> tuple[str, int]:
    """Show a cluster's evidence and its bookings; administrators may select some to cancel."""
    user = acting_admin()
    offices = _visible_offices(user)
    form, valid = _filters(offices)
    if not valid:
        abort(404)
    scope, cluster = _cluster_or_404(form, offices, signal, key)
    members = suspicion.cluster_members(db.session, scope, cluster, _settings(), now())
    return render_template(
        "admin/review_cluster.html",
        cluster=cluster,
        members=members,
        offices={o.id: o for o in offices},
        arguments=form.arguments(),
        can_cancel=predicates.can_cancel_reviewed_bookings(user),
        form=FlaskForm(),
        korea_time=korea_time,
        language_names=LANGUAGE_NAMES,
        fast_seconds=current_app.config["REVIEW_FAST_SECONDS"],
    ), 200


def _messages_from_request() -> dict[str, str]:
    return {language: request.form.get(f"message_{language}", "") for language in LANGUAGES}


@bp.route("/review/<signal>/<key>/cancel", methods=["GET", "POST"], endpoint="review_cancel")
@reviewer_page
def review_cancel(signal: str, key: str) -> Response | tuple[str, int]:
    """Confirm the cancellation of the selected bookings of a cluster with a message in each
    language, then cancel them and email each citizen in their own language."""
    user = acting_admin()
    if not predicates.can_cancel_reviewed_bookings(user):
        abort(403)
    offices = _visible_offices(user)
    form, valid = _filters(offices)
    if not valid:
        abort(404)
    back = url_for("admin.review_cluster", signal=signal, key=key, **form.arguments())
    if request.method == "GET" or not FlaskForm().validate_on_submit():
        # The selection travels in the form only: without it, start again from the cluster.
        return redirect(back)
    scope, cluster = _cluster_or_404(form, offices, signal, key)
    selected = request.form.getlist("reference")
    moment = now()
    errors: dict[str, list[str]] = {}
    if request.form.get("confirm") == "1":
        try:
            with transaction():
                done = suspicion.cancel_cluster(
                    db.session,
                    scope,
                    cluster,
                    selected,
                    _messages_from_request(),
                    user,
                    moment,
                    _settings(),
                    booking.policy_from_config(current_app.config),
                )
        except ValidationFailed as error:
            errors = error.fields
        except DomainError as error:
            flash(refusal_text(error), "error")
            return redirect(back)
        else:
            message = ngettext(
                "%(num)d booking is cancelled and its citizen emailed.",
                "%(num)d bookings are cancelled and their citizens emailed.",
                len(done.cancelled),
            )
            if done.skipped:
                message += " " + ngettext(
                    "%(num)d selected booking was no longer active and is left as it is.",
                    "%(num)d selected bookings were no longer active and are left as they are.",
                    len(done.skipped),
                )
            flash(message, "success")
            return redirect(url_for("admin.review", **form.arguments()))
    wanted = set(selected)
    members = [
        m
        for m in suspicion.cluster_members(db.session, scope, cluster, _settings(), moment)
        if m.reference in wanted and m.is_active
    ]
    if not members:
        flash(_("Select at least one booking that is still active."), "error")
        return redirect(back)
    messages = (
        _messages_from_request()
        if errors
        else {language: suspicion.default_message(language) for language in LANGUAGES}
    )
    return render_template(
        "admin/review_cancel.html",
        cluster=cluster,
        members=members,
        offices={o.id: o for o in offices},
        arguments=form.arguments(),
        messages=messages,
        errors=errors,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        by_language={code: sum(1 for m in members if m.language == code) for code in LANGUAGES},
        form=FlaskForm(),
        korea_time=korea_time,
        fast_seconds=current_app.config["REVIEW_FAST_SECONDS"],
    ), (422 if errors else 200)
