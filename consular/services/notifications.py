"""Emails to citizens, written to the outbox in the transaction that causes them."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from consular.models import Appointment, OutboxMessage
from consular.models.i18n import localized, localized_list
from consular.services.timefmt import local_date_text, local_time_text, zone_label


def _domain() -> str:
    sender = current_app.config.get("MAIL_SENDER", "")
    address = sender.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "consular.localhost"


def queue_email(
    session: Session,
    *,
    kind: str,
    recipient: str,
    subject: str,
    text_body: str,
    html_body: str | None,
    now: datetime,
    appointment: Appointment | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> OutboxMessage:
    """Put a message in the outbox; the mail worker delivers it after the commit."""
    message = OutboxMessage(
        message_id=f"<{secrets.token_hex(16)}@{_domain()}>",
        kind=kind,
        recipient=recipient,
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        attachments=attachments or [],
        appointment_id=appointment.id if appointment is not None else None,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message


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
        "reference": appointment.reference,
        "office_name": localized(office.name, locale),
        "office_address": localized(office.address, locale),
        "office_directions": localized(office.directions, locale),
        "office_phone": office.phone,
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
    }


def _manage_url(appointment: Appointment, token: str) -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/manage/{appointment.reference}/{token}"


QR_CONTENT_ID = "reference-qr@consular"


def _calendar_attachments(
    appointment: Appointment, now: datetime, *, with_qr: bool
) -> list[dict[str, Any]]:
    from consular.services.calendar import appointment_ics, reference_qr_png

    attachments: list[dict[str, Any]] = [
        {
            "filename": f"{appointment.reference}.ics",
            "content_type": "text/calendar; method="
            + ("CANCEL" if appointment.status == "cancelled" else "PUBLISH"),
            "content": appointment_ics(appointment, now),
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


def _queue_about(
    session: Session,
    appointment: Appointment,
    kind: str,
    subject: str,
    now: datetime,
    attachments: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> OutboxMessage:
    context = appointment_context(appointment) | extra
    return queue_email(
        session,
        kind=kind,
        recipient=appointment.email,
        subject=subject,
        text_body=render_template(f"email/{kind}.txt", **context),
        html_body=render_template(f"email/{kind}.html", **context),
        now=now,
        appointment=appointment,
        attachments=attachments,
    )


def queue_code_email(
    session: Session, appointment: Appointment, code: str, now: datetime
) -> OutboxMessage:
    """Email the 6-digit code that turns a hold into a booking."""
    with force_locale(appointment.language):
        subject = _("Your confirmation code: %(code)s", code=code)
        minutes = round((appointment.hold_expires_at - now).total_seconds() / 60)
        return _queue_about(
            session, appointment, "code", subject, now, code=code, hold_minutes=max(1, minutes)
        )


def _queue_with_ticket(
    session: Session,
    appointment: Appointment,
    kind: str,
    subject: str,
    manage_token: str,
    now: datetime,
    **extra: Any,
) -> OutboxMessage:
    """An email about a booked visit: its details, the manage link, the calendar file and QR."""
    return _queue_about(
        session,
        appointment,
        kind,
        subject,
        now,
        attachments=_calendar_attachments(appointment, now, with_qr=True),
        manage_url=_manage_url(appointment, manage_token),
        qr_cid=QR_CONTENT_ID,
        **extra,
    )


def queue_confirmation_email(
    session: Session, appointment: Appointment, manage_token: str, now: datetime
) -> OutboxMessage:
    """Email the confirmed appointment with everything the citizen needs on the day."""
    with force_locale(appointment.language):
        subject = _("Appointment confirmed: %(reference)s", reference=appointment.reference)
        return _queue_with_ticket(session, appointment, "confirmation", subject, manage_token, now)


def queue_change_email(
    session: Session, appointment: Appointment, manage_token: str, now: datetime
) -> OutboxMessage:
    """Email the new time of a moved appointment, with the updated calendar file."""
    with force_locale(appointment.language):
        subject = _("New time for your appointment %(reference)s", reference=appointment.reference)
        return _queue_with_ticket(session, appointment, "change", subject, manage_token, now)


def queue_reminder_email(
    session: Session, appointment: Appointment, manage_token: str, days: int, now: datetime
) -> OutboxMessage:
    """Remind the citizen of the visit a few days before."""
    with force_locale(appointment.language):
        subject = _(
            "Reminder: your consular appointment %(reference)s", reference=appointment.reference
        )
        return _queue_with_ticket(
            session, appointment, "reminder", subject, manage_token, now, days=days
        )


def queue_cancellation_email(
    session: Session, appointment: Appointment, now: datetime
) -> OutboxMessage:
    """Email that the appointment is cancelled, with a calendar file that removes it."""
    with force_locale(appointment.language):
        subject = _("Appointment cancelled: %(reference)s", reference=appointment.reference)
        return _queue_about(
            session,
            appointment,
            "cancellation",
            subject,
            now,
            attachments=_calendar_attachments(appointment, now, with_qr=False),
            book_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/",
        )


def queue_schedule_change_email(
    session: Session, appointment: Appointment, message: str, now: datetime
) -> OutboxMessage:
    """Email that the office had to cancel the appointment, with its reason and a link to book."""
    with force_locale(appointment.language):
        subject = _(
            "Your appointment %(reference)s is cancelled by the office",
            reference=appointment.reference,
        )
        return _queue_about(
            session,
            appointment,
            "schedule_change",
            subject,
            now,
            attachments=_calendar_attachments(appointment, now, with_qr=False),
            office_message=message,
            book_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/book",
        )
