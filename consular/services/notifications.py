"""Emails to citizens, written to the outbox in the transaction that causes them.

Each email is the wording from `email_texts` (an administrator's or the built-in one) inside
the application's layout: the visit's details, documents, links, calendar file and QR code.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from consular.database import SessionLike, rows_changed
from consular.models import Appointment, Office, OutboxMessage, Status
from consular.models.i18n import LANGUAGES, localized, localized_list
from consular.services import email_texts
from consular.services.timefmt import (
    local_date_text,
    local_time_text,
    opening_hours,
    weekday_names,
    zone_label,
)


def _domain() -> str:
    sender = current_app.config.get("MAIL_SENDER", "")
    address = sender.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "consular.localhost"


def queue_email(
    session: SessionLike,
    *,
    kind: str,
    recipient: str,
    subject: str,
    text_body: str,
    html_body: str | None,
    now: datetime,
    appointment: Appointment | None = None,
    attachments: list[dict[str, Any]] | None = None,
    language: str | None = None,
    sender_name: str | None = None,
) -> OutboxMessage:
    """Put a message in the outbox; the mail worker delivers it after the commit.

    `language` is the one the message is written in (its Content-Language header);
    `sender_name` is the name its From header shows beside the configured address."""
    message = OutboxMessage(
        message_id=f"<{secrets.token_hex(16)}@{_domain()}>",
        kind=kind,
        recipient=recipient,
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        attachments=attachments or [],
        language=language,
        # One line: a name an administrator typed must not break the header.
        sender_name=" ".join((sender_name or "").split())[:255] or None,
        appointment_id=appointment.id if appointment is not None else None,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message


def queue_notice_email(
    session: SessionLike,
    *,
    kind: str,
    recipient: str,
    language: str,
    content: Callable[[], dict[str, Any]],
    now: datetime,
    appointment: Appointment | None = None,
) -> OutboxMessage:
    """Queue a plain notice (the lottery's and the waiting list's: a title, paragraphs, facts
    and one link), its content made in the recipient's language."""
    with force_locale(language):
        made = content()
        text_body = render_template("email/notice.txt", **made)
        html_body = render_template("email/notice.html", **made)
    return queue_email(
        session,
        kind=kind,
        recipient=recipient,
        subject=made["title"],
        text_body=text_body,
        html_body=html_body,
        now=now,
        appointment=appointment,
        language=language,
        sender_name=made.get("office_name"),
    )


def set_hold_language(session: SessionLike, appointment: Appointment, language: str) -> bool:
    """Write the e-mails of a hold from now on in `language` (the citizen switched to it on
    the code page): the code sent again, the confirmation, reminders and cancellation.

    Only a hold changes (a conditional update): whether it did is returned."""
    if language not in LANGUAGES:
        return False
    changed = session.execute(
        sa.update(Appointment)
        .where(Appointment.id == appointment.id, Appointment.status == Status.HELD)
        .values(language=language)
        .execution_options(synchronize_session=False)
    )
    session.refresh(appointment, ["language"])
    return rows_changed(changed) == 1


def office_facts(office: Office, locale: str, week_from: date) -> dict[str, Any]:
    """What a citizen needs before going, as the pages' "Before you go" shows it: the address
    in Korean script for a taxi or a map app, the opening hours of the visit's week, the phone,
    and how long after their time a late visitor is still expected."""
    korean = (office.address or {}).get("ko", "")
    return {
        "office_address_ko": (
            f"({office.postal_code}) {korean}" if korean and office.postal_code else korean
        ),
        "office_hours": opening_hours(office, weekday_names(locale), week_from),
        "office_phone": office.phone,
        "late_minutes": current_app.config.get("NO_SHOW_GRACE_MINUTES", 15),
    }


def appointment_context(appointment: Appointment) -> dict[str, Any]:
    """What every email about an appointment shows, in the appointment's language."""
    locale = appointment.language
    office = appointment.office
    zone = office.zone
    documents: list[str] = []
    for line in appointment.service_lines:
        for document in localized_list(line.snapshot.get("documents"), locale):
            if document not in documents:
                documents.append(document)
    return {
        "appointment": appointment,
        "language": locale,
        "reference": appointment.reference,
        "office_name": localized(office.name, locale),
        "office_address": localized(office.address, locale),
        "office_directions": localized(office.directions, locale),
        "visit_date": local_date_text(appointment.starts_at, zone, locale),
        "visit_time": local_time_text(appointment.starts_at, zone, locale),
        "zone_name": zone_label(zone, appointment.starts_at, locale),
        "services": [
            localized(line.snapshot.get("name"), locale) for line in appointment.service_lines
        ],
        "fees": [
            fee
            for line in appointment.service_lines
            if (fee := localized(line.snapshot.get("fee"), locale))
        ],
        "documents": documents,
        "given_name": appointment.given_name,
    } | office_facts(office, locale, appointment.starts_at.astimezone(zone).date())


def manage_url(reference: str, token: str) -> str:
    """The link that opens the appointment to see, change or cancel it."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/manage/{reference}/{token}"


QR_CONTENT_ID = "reference-qr@consular"
SAMPLE_ZONE = "Asia/Seoul"


def _calendar_attachments(
    appointment: Appointment, now: datetime, *, with_qr: bool, link: str | None = None
) -> list[dict[str, Any]]:
    from consular.services.calendar import appointment_ics, calendar_method, reference_qr_png

    attachments: list[dict[str, Any]] = [
        {
            "filename": f"{appointment.reference}.ics",
            "content_type": f"text/calendar; method={calendar_method(appointment)}",
            "content": appointment_ics(appointment, now, link),
        }
    ]
    if with_qr:
        attachments.append(
            {
                "filename": f"{appointment.reference}.png",
                "content_type": "image/png",
                "encoding": "base64",
                "content": base64.b64encode(reference_qr_png(appointment.reference)).decode(),
                "content_id": QR_CONTENT_ID,
            }
        )
    return attachments


def placeholder_values(context: dict[str, Any]) -> dict[str, str]:
    """The values of the placeholders an email text may use, from an email's context."""
    values = {
        "reference": context["reference"],
        "name": context["given_name"],
        "office": context["office_name"],
        "date": context["visit_date"],
        "time": context["visit_time"],
        "code": context.get("code"),
        "minutes": context.get("hold_minutes"),
        "days": context.get("days"),
        "manage_link": context.get("manage_url"),
        "book_link": context.get("book_url"),
    }
    return {name: str(value) for name, value in values.items() if value is not None}


def render_email(
    kind: str, context: dict[str, Any], wording: email_texts.RenderedText
) -> tuple[str, str]:
    """The text and HTML parts of an email: the wording inside the application's layout."""
    context = context | {
        "title": wording.subject,
        "message_text": wording.text,
        "message_html": wording.html,
    }
    return (
        render_template(f"email/{kind}.txt", **context),
        render_template(f"email/{kind}.html", **context),
    )


def _queue_about(
    session: SessionLike,
    appointment: Appointment,
    kind: str,
    now: datetime,
    attachments: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> OutboxMessage:
    context = appointment_context(appointment) | extra
    wording = email_texts.render(session, kind, appointment.language, placeholder_values(context))
    text_body, html_body = render_email(kind, context, wording)
    return queue_email(
        session,
        kind=kind,
        recipient=appointment.email,
        subject=wording.subject,
        text_body=text_body,
        html_body=html_body,
        now=now,
        appointment=appointment,
        attachments=attachments,
        language=appointment.language,
        sender_name=context["office_name"],
    )


def queue_code_email(
    session: SessionLike, appointment: Appointment, code: str, now: datetime
) -> OutboxMessage:
    """Email the 6-digit code that turns a hold into a booking."""
    with force_locale(appointment.language):
        minutes = round((appointment.hold_expires_at - now).total_seconds() / 60)
        return _queue_about(
            session, appointment, "code", now, code=code, hold_minutes=max(1, minutes)
        )


def _queue_with_ticket(
    session: SessionLike,
    appointment: Appointment,
    kind: str,
    manage_token: str,
    now: datetime,
    **extra: Any,
) -> OutboxMessage:
    """An email about a booked visit: its details, the manage link, the calendar file and QR."""
    link = manage_url(appointment.reference, manage_token)
    return _queue_about(
        session,
        appointment,
        kind,
        now,
        attachments=_calendar_attachments(appointment, now, with_qr=True, link=link),
        manage_url=link,
        qr_cid=QR_CONTENT_ID,
        **extra,
    )


def queue_confirmation_email(
    session: SessionLike, appointment: Appointment, manage_token: str, now: datetime
) -> OutboxMessage:
    """Email the confirmed appointment with everything the citizen needs on the day."""
    with force_locale(appointment.language):
        return _queue_with_ticket(session, appointment, "confirmation", manage_token, now)


def queue_change_email(
    session: SessionLike, appointment: Appointment, manage_token: str, now: datetime
) -> OutboxMessage:
    """Email the new time of a moved appointment, with the updated calendar file."""
    with force_locale(appointment.language):
        return _queue_with_ticket(session, appointment, "change", manage_token, now)


def queue_reminder_email(
    session: SessionLike, appointment: Appointment, manage_token: str, days: int, now: datetime
) -> OutboxMessage:
    """Remind the citizen of the visit a few days before."""
    with force_locale(appointment.language):
        return _queue_with_ticket(session, appointment, "reminder", manage_token, now, days=days)


def _book_url(path: str = "/") -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def queue_cancellation_email(
    session: SessionLike, appointment: Appointment, now: datetime
) -> OutboxMessage:
    """Email that the appointment is cancelled, with a calendar file that removes it."""
    with force_locale(appointment.language):
        return _queue_about(
            session,
            appointment,
            "cancellation",
            now,
            attachments=_calendar_attachments(appointment, now, with_qr=False),
            book_url=_book_url(),
        )


def queue_lookup_alert_email(
    session: SessionLike, appointment: Appointment, failures: int, now: datetime, *, paused: bool
) -> OutboxMessage:
    """Tell the citizen that their booking was looked up with wrong IINs: the look-up is now
    paused (`paused`), or it was opened after those tries."""
    with force_locale(appointment.language):
        return _queue_about(
            session,
            appointment,
            "lookup_alert",
            now,
            failures=failures,
            paused=paused,
            opened_at=local_time_text(now, appointment.office.zone, appointment.language),
            opened_on=local_date_text(now, appointment.office.zone, appointment.language),
        )


def queue_schedule_change_email(
    session: SessionLike, appointment: Appointment, message: str, now: datetime
) -> OutboxMessage:
    """Email that the office had to cancel the appointment, with its reason and a link to book."""
    with force_locale(appointment.language):
        return _queue_about(
            session,
            appointment,
            "schedule_change",
            now,
            attachments=_calendar_attachments(appointment, now, with_qr=False),
            office_message=message,
            book_url=_book_url("/book"),
        )


def queue_review_cancellation_email(
    session: SessionLike,
    appointment: Appointment,
    message: str,
    now: datetime,
    *,
    with_calendar: bool,
) -> OutboxMessage:
    """Email that the office cancelled the booking after a review of suspicious bookings, with
    its message and a link to book again; `with_calendar` adds the file that removes the visit
    from a calendar (a confirmed visit's)."""
    with force_locale(appointment.language):
        return _queue_about(
            session,
            appointment,
            "review_cancellation",
            now,
            attachments=(
                _calendar_attachments(appointment, now, with_qr=False) if with_calendar else []
            ),
            office_message=message,
            book_url=_book_url("/book"),
        )


@dataclass(frozen=True)
class EmailPreview:
    """How an email looks with sample values: its subject, text part and HTML part."""

    subject: str
    text: str
    html: str


def _sample_context(
    session: SessionLike, kind: str, language: str, now: datetime
) -> dict[str, Any]:
    """A made-up visit about a week ahead at the first office, in the language, for previews."""
    office = session.scalar(sa.select(Office).order_by(Office.id).limit(1))
    service = office.services[0] if office is not None and office.services else None
    zone = office.zone if office is not None else ZoneInfo(SAMPLE_ZONE)
    day = (now.astimezone(zone) + timedelta(days=7)).date()
    while day.weekday() >= 5:  # a working day
        day += timedelta(days=1)
    starts_at = datetime.combine(day, time(10, 30), tzinfo=zone)
    reference = f"{office.reference_prefix if office is not None else 'KZ'}-7Q4M2P"
    context: dict[str, Any] = {
        "language": language,
        "reference": reference,
        "office_name": "",
        "office_address": "",
        "office_directions": "",
        "office_phone": "",
        "office_address_ko": "",
        "office_hours": [],
        "late_minutes": current_app.config.get("NO_SHOW_GRACE_MINUTES", 15),
        "visit_date": local_date_text(starts_at, zone, language),
        "visit_time": local_time_text(starts_at, zone, language),
        "zone_name": zone_label(zone, starts_at, language),
        "services": [_("Service")],
        "fees": [],
        "documents": [_("Current passport")],
        "given_name": "Aigerim",
    }
    if office is not None:
        context |= {
            "office_name": localized(office.name, language),
            "office_address": localized(office.address, language),
            "office_directions": localized(office.directions, language),
        } | office_facts(office, language, day)
    if service is not None:
        fee = localized(service.fee, language)
        context |= {
            "services": [localized(service.name, language)],
            "fees": [fee] if fee else [],
            "documents": localized_list(service.documents, language),
        }
    sample_link = manage_url(reference, "sample")
    extra: dict[str, dict[str, Any]] = {
        "code": {"code": "123456", "hold_minutes": 15},
        "confirmation": {"manage_url": sample_link},
        "change": {"manage_url": sample_link},
        "reminder": {"manage_url": sample_link, "days": 2},
        "cancellation": {"book_url": _book_url()},
        "lookup_alert": {"failures": 5, "paused": True, "opened_at": "", "opened_on": ""},
        "schedule_change": {
            "book_url": _book_url("/book"),
            "office_message": _("Here the office explains why the appointment was cancelled."),
        },
        "review_cancellation": {
            "book_url": _book_url("/book"),
            "office_message": _("Here the office explains why the appointment was cancelled."),
        },
    }
    return context | extra.get(kind, {})


def preview_email(
    session: SessionLike, kind: str, language: str, subject: str, body: str, now: datetime
) -> EmailPreview:
    """Render a wording (saved or not) as the email would look, with sample values.

    Raises ValidationFailed, as saving would, for a text that is more than placeholders.
    """
    subject, body = email_texts.normalize(subject, body)
    # Checked first, so that a problem is told in the administrator's language, not the email's.
    email_texts.validate(kind, subject, body)
    with force_locale(language):
        context = _sample_context(session, kind, language, now)
        wording = email_texts.render_wording(
            kind,
            email_texts.EmailWording(subject=subject, body=body),
            placeholder_values(context),
        )
        text_body, html_body = render_email(kind, context, wording)
    return EmailPreview(subject=wording.subject, text=text_body, html=html_body)
