"""The audit-log viewer: who changed what, when and at which office, filtered, with CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_date, get_day_names
from flask import render_template, request, stream_with_context, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import Field, SelectField, StringField
from wtforms.validators import ValidationError

from consular.admin import bp
from consular.admin.access import admin_page
from consular.admin.form_base import AdminForm, choice_values
from consular.extensions import db
from consular.models import Appointment, AuditEntry, Office, Slot, User
from consular.services.audit import audit_entries_query, audit_rows_in_pages
from consular.services.schedule import local_day_bounds

KOREA = ZoneInfo("Asia/Seoul")
PER_PAGE = 50
CSV_PAGE_SIZE = 500  # rows read from the database at a time for the CSV export
MAX_PAGE = 100_000
NO_ACCOUNT = "none"  # the "who" of changes made by a command, with no account
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

ACTION_LABELS = {
    "create_account": _l("Account created"),
    "update_account": _l("Account changed"),
    "deactivate_account": _l("Account deactivated"),
    "reactivate_account": _l("Account reactivated"),
    "reset_password": _l("Password reset by an administrator"),
    "change_password": _l("Own password changed"),
    "opening_hours": _l("Opening hours changed"),
    "add_closure": _l("Closure added"),
    "remove_closure": _l("Closure removed"),
    "booking_settings": _l("Online booking settings changed"),
    "block_slot": _l("Slot blocked"),
    "reopen_slot": _l("Slot reopened"),
    "keep_outside_schedule": _l("Booking kept outside the schedule"),
    "cancel_for_schedule": _l("Booking cancelled for a schedule change"),
    "cancel_suspicious": _l("Suspicious bookings cancelled"),
    "check_in": _l("Visitor checked in"),
    "walk_in": _l("Walk-in ticket issued"),
    "start_kiosk": _l("Waiting-room kiosk started"),
    "stop_kiosks": _l("Every waiting-room kiosk stopped"),
    "call": _l("Ticket called"),
    "recall": _l("Ticket called again"),
    "served": _l("Visitor served"),
    "missed": _l("Ticket missed"),
    "park": _l("Ticket parked"),
    "resume": _l("Ticket resumed"),
    "transfer": _l("Ticket transferred"),
    "no_show": _l("Marked as no-show"),
    "add_desk": _l("Desk added"),
    "change_desk": _l("Desk changed"),
    "create_service_type": _l("Service type created"),
    "update_service_type": _l("Service type changed"),
    "retire_service_type": _l("Service type retired"),
    "reinstate_service_type": _l("Service type reinstated"),
    "delete_service_type": _l("Service type deleted"),
    "create_office": _l("Office created"),
    "update_office": _l("Office changed"),
    "send_mail_again": _l("Failed emails sent again"),
}


# The values entries record, named in the reader's language.
KEY_LABELS = {
    "open": _l("Online booking open"),
    "message": _l("Public message when closed"),
    "walk_in_share": _l("Walk-in share (percent)"),
    "blocked": _l("Blocked"),
    "first_day": _l("First day"),
    "last_day": _l("Last day"),
    "reason": _l("Reason"),
    "public": _l("Reason shown to the public"),
    "language": _l("Language"),
    "added": _l("Added"),
    "removed": _l("Removed"),
    "generation": _l("Kiosk generation"),
    "device": _l("Kiosk device"),
    "name": _l("Name"),
    "in_use": _l("In use"),
    "services": _l("Services"),
    "messages": _l("Emails"),
}
# How services/schedule.py writes a period: "0 09:00-12:30 x3 from 2026-12-14 until ...".
_PERIOD = re.compile(
    r"(?P<weekday>[0-6]) (?P<opens>\d\d:\d\d)-(?P<closes>\d\d:\d\d) x(?P<desks>\d+)"
    r"(?: from (?P<first>\d{4}-\d\d-\d\d))?(?: until (?P<last>\d{4}-\d\d-\d\d))?"
)


def korea_time(moment: datetime) -> str:
    """A moment as the date and time in Korea, e.g. "2026-11-29 12:00"."""
    return moment.astimezone(KOREA).strftime("%Y-%m-%d %H:%M")


def action_label(action: str) -> str:
    """The action in the reader's language, or its code if it has no label."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def _korea_midnight(day: date) -> datetime:
    return local_day_bounds(day, KOREA)[0]


class AuditFilterForm(AdminForm):
    """The viewer's filters, read from the query string."""

    class Meta:
        csrf = False

    who = SelectField(_l("Who"), default="", validate_choice=False)
    action = SelectField(_l("What"), default="", validate_choice=False)
    office = SelectField(_l("Office"), default="", validate_choice=False)
    date_from = StringField(
        _l("From (Korea time)"),
        description=_l("For example 2026-11-29"),
        render_kw={"type": "date"},
    )
    date_to = StringField(
        _l("To (Korea time)"),
        description=_l("Included"),
        render_kw={"type": "date"},
    )

    def set_choices(self, locale: str) -> None:
        """Offer every account, every action logged so far and every office."""
        people = db.session.execute(sa.select(User.id, User.name, User.email).order_by(User.name))
        self.who.choices = (
            [("", _("Everyone"))]
            + [(str(i), f"{name} ({email})") for i, name, email in people]
            + [(NO_ACCOUNT, _("Commands (no account)"))]
        )
        logged = set(db.session.scalars(sa.select(AuditEntry.action).distinct()))
        actions = sorted(logged | set(ACTION_LABELS), key=lambda a: action_label(a).lower())
        self.action.choices = [("", _("Every action"))] + [(a, action_label(a)) for a in actions]
        offices = db.session.scalars(sa.select(Office).order_by(Office.id))
        self.office.choices = [("", _("Every office"))] + [
            (str(o.id), o.display_name(locale)) for o in offices
        ]

    @staticmethod
    def _known(field: SelectField, message: str) -> None:
        if (field.data or "") not in choice_values(field):
            raise ValidationError(message)

    def validate_who(self, field: SelectField) -> None:
        self._known(field, _("Choose a person from the list."))

    def validate_action(self, field: SelectField) -> None:
        self._known(field, _("Choose an action from the list."))

    def validate_office(self, field: SelectField) -> None:
        self._known(field, _("Choose an office from the list."))

    @staticmethod
    def _day(field: Field) -> date | None:
        raw = (field.data or "").strip()
        if not raw:
            return None
        try:
            if not _ISO_DATE.fullmatch(raw):
                raise ValueError(raw)
            day = date.fromisoformat(raw)
            # Refuses the calendar's first and last days, whose bounds do not fit in UTC.
            _korea_midnight(day)
            _korea_midnight(day + timedelta(days=1))
        except (ValueError, OverflowError):
            raise ValidationError(_("Enter a date like 2026-11-29.")) from None
        return day

    def validate_date_from(self, field: Field) -> None:
        self._day(field)

    def validate_date_to(self, field: Field) -> None:
        last = self._day(field)
        try:
            first = self._day(self.date_from)
        except ValidationError:
            return
        if first is not None and last is not None and last < first:
            raise ValidationError(_("The end of the period must not be before its start."))

    def query(self) -> sa.Select[Any]:
        """The entries matching the (validated) filters, newest first, with account and office."""
        first, last = self._day(self.date_from), self._day(self.date_to)
        return audit_entries_query(
            user_id=int(self.who.data) if self.who.data and self.who.data != NO_ACCOUNT else None,
            by_commands=self.who.data == NO_ACCOUNT,
            action=self.action.data or None,
            office_id=int(self.office.data) if self.office.data else None,
            since=_korea_midnight(first) if first is not None else None,
            before=_korea_midnight(last + timedelta(days=1)) if last is not None else None,
        )

    def arguments(self) -> dict[str, str]:
        """The filters in use, to carry them into page links and the CSV export."""
        return {
            field.name: field.data
            for field in (self.who, self.action, self.office, self.date_from, self.date_to)
            if field.data
        }


def _value_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(_value_text(item) for item in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_value_text(item)}" for key, item in value.items()) or "—"
    return str(value)


@dataclass(frozen=True)
class Change:
    """One value an entry changed, as text."""

    key: str
    before: str
    after: str


def key_label(key: str) -> str:
    """A recorded value's name in the reader's language, or its code if it has none."""
    label = KEY_LABELS.get(key)
    return str(label) if label is not None else key


def period_text(text: str, locale: str) -> str:
    """A recorded period as the reader says it: "Monday 09:00–12:30, 3 desks"."""
    found = _PERIOD.fullmatch(text)
    if found is None:
        return text
    weekday = get_day_names("wide", locale=locale)[int(found["weekday"])]
    hours = _(
        "%(weekday)s %(opens)s–%(closes)s, %(desks)s desks",
        weekday=weekday,
        opens=found["opens"],
        closes=found["closes"],
        desks=found["desks"],
    )
    first = (
        format_date(date.fromisoformat(found["first"]), "medium", locale)
        if found["first"]
        else None
    )
    last = (
        format_date(date.fromisoformat(found["last"]), "medium", locale) if found["last"] else None
    )
    if first and last:
        return _("%(hours)s, from %(first)s until %(last)s", hours=hours, first=first, last=last)
    if first:
        return _("%(hours)s, from %(first)s", hours=hours, first=first)
    if last:
        return _("%(hours)s, until %(last)s", hours=hours, last=last)
    return hours


def changes_of(entry: AuditEntry, locale: str = "en") -> list[Change]:
    """The values before and after, key by key, as text ("—" where there was none); a change
    of opening hours as the periods it added and removed."""
    before = entry.before if isinstance(entry.before, dict) else {}
    after = entry.after if isinstance(entry.after, dict) else {}
    if entry.action == "opening_hours":
        old = [str(p) for p in before.get("periods") or []]
        new = [str(p) for p in after.get("periods") or []]
        added = [period_text(p, locale) for p in new if p not in old]
        removed = [period_text(p, locale) for p in old if p not in new]
        return [
            Change(key_label(key), "", "; ".join(items))
            for key, items in (("added", added), ("removed", removed))
            if items
        ]
    keys = list(dict.fromkeys([*before, *after]))
    return [
        Change(key_label(str(key)), _value_text(before.get(key)), _value_text(after.get(key)))
        for key in keys
    ]


def _entity_number(entry: AuditEntry) -> int | None:
    raw = entry.entity_id or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def record_texts(entries: list[AuditEntry], locale: str) -> dict[int, str]:
    """What each entry is about, as its reader names it: an appointment by its reference,
    a slot by its local time; other records by kind and number."""
    numbers = {e.id: _entity_number(e) for e in entries}
    appointment_ids = {numbers[e.id] for e in entries if e.entity == "appointment"} - {None}
    slot_ids = {numbers[e.id] for e in entries if e.entity == "slot"} - {None}
    references: dict[int | None, str] = {
        row.id: row.reference
        for row in (
            db.session.execute(
                sa.select(Appointment.id, Appointment.reference).where(
                    Appointment.id.in_(appointment_ids)
                )
            )
            if appointment_ids
            else []
        )
    }
    slots = {
        slot.id: slot
        for slot in (
            db.session.scalars(sa.select(Slot).where(Slot.id.in_(slot_ids))) if slot_ids else []
        )
    }
    texts: dict[int, str] = {}
    for entry in entries:
        number = numbers[entry.id]
        if entry.entity == "appointment" and number in references:
            texts[entry.id] = _("Appointment %(reference)s", reference=references[number])
        elif entry.entity == "slot" and number in slots:
            slot = slots[number]
            start = slot.starts_at.astimezone(slot.office.zone)
            texts[entry.id] = _(
                "Slot of %(date)s at %(time)s",
                date=format_date(start.date(), "medium", locale),
                time=f"{start:%H:%M}",
            )
        elif entry.entity == "desk" and isinstance(entry.after, dict) and entry.after.get("name"):
            texts[entry.id] = _("Desk %(desk)s", desk=entry.after["name"])
        elif entry.entity_id:
            texts[entry.id] = f"{entry.entity} #{entry.entity_id}"
        else:
            texts[entry.id] = entry.entity
    return texts


def _filters(locale: str) -> tuple[AuditFilterForm, bool]:
    form = AuditFilterForm(formdata=request.args)
    form.set_choices(locale)
    return form, form.validate()


def _page_number() -> int | None:
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        return None
    return int(raw)


def _locale() -> str:
    return str(get_locale() or "en")


@bp.get("/audit", endpoint="audit_log")
@admin_page
def audit_log() -> tuple[str, int]:
    """Show the audit log, newest first, filtered by who, what, office and period."""
    form, valid = _filters(_locale())
    page = _page_number()
    general: list[str] = []
    if page is None:
        general.append(_("There is no such page."))
    if not valid or page is None:
        return render_template(
            "admin/audit_log.html", form=form, general_errors=general, rows=[], pagination=None
        ), 400
    query = form.query()
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    pages = max(1, -(-int(total or 0) // PER_PAGE))
    found = db.session.execute(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    records = record_texts([entry for entry, _account, _office in found], _locale())
    rows = [
        {
            "entry": entry,
            "account": account,
            "office": office,
            "action": action_label(entry.action),
            "record": records[entry.id],
            "changes": changes_of(entry, _locale()),
        }
        for entry, account, office in found
    ]
    arguments: dict[str, Any] = form.arguments()  # Any: for url_for's **values
    pagination = {
        "page": page,
        "pages": pages,
        "total": int(total or 0),
        "previous": url_for("admin.audit_log", **arguments, page=page - 1) if page > 1 else None,
        "next": url_for("admin.audit_log", **arguments, page=page + 1) if page < pages else None,
        "csv": url_for("admin.audit_csv", **arguments),
    }
    return render_template(
        "admin/audit_log.html",
        form=form,
        general_errors=general,
        rows=rows,
        pagination=pagination,
        filtered=bool(arguments),
        korea_time=korea_time,
    ), 200


def _csv_safe(text: str) -> str:
    """Keep spreadsheet programs from reading a cell as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/audit.csv", endpoint="audit_csv")
@admin_page
def audit_csv() -> Response | tuple[str, int]:
    """Download the filtered audit log as CSV, times in Korea time."""
    form, valid = _filters(_locale())
    if not valid:
        return render_template(
            "admin/audit_log.html", form=form, general_errors=[], rows=[], pagination=None
        ), 400
    return Response(
        stream_with_context(_csv_lines(form.query())),
        mimetype="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="audit-log.csv"',
            "Cache-Control": "no-store",
        },
    )


def _csv_lines(query: sa.Select[Any]) -> Iterator[str]:
    """The CSV of the entries, a line at a time, read from the database a page at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: list[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield "\ufeff" + line(  # the BOM lets Excel read UTF-8
        ["time_korea", "account_email", "account_name", "office", "action", "entity", "entity_id"]
        + ["before", "after"]
    )
    for row in audit_rows_in_pages(db.session, query, CSV_PAGE_SIZE):
        yield line(
            [
                korea_time(row.at),
                _csv_safe(row.account_email or ""),
                _csv_safe(row.account_name or ""),
                row.office_code or "",
                row.action,
                row.entity,
                row.entity_id or "",
                _csv_safe(json.dumps(row.before, ensure_ascii=False)) if row.before else "",
                _csv_safe(json.dumps(row.after, ensure_ascii=False)) if row.after else "",
            ]
        )
