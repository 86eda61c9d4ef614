"""Calendar files (.ics) and QR codes for an appointment."""

from __future__ import annotations

import io
from datetime import datetime

import icalendar
import segno
from flask_babel import force_locale
from flask_babel import gettext as _

from consular.models import Appointment, Status
from consular.models.i18n import localized, localized_list

UID_DOMAIN = "appointments.consular"


def appointment_uid(appointment: Appointment) -> str:
    """The calendar UID: fixed for the life of the appointment, so updates replace the event."""
    return f"{appointment.reference}@{UID_DOMAIN}"


def appointment_ics(appointment: Appointment, now: datetime) -> str:
    """An iCalendar file with the visit; SEQUENCE rises with every change."""
    locale = appointment.language
    office = appointment.office
    with force_locale(locale):
        services = ", ".join(
            localized(line.snapshot.get("name"), locale) for line in appointment.service_lines
        )
        documents: list[str] = []
        for line in appointment.service_lines:
            for document in localized_list(line.snapshot.get("documents"), locale):
                if document not in documents:
                    documents.append(document)
        summary = _("Consular appointment %(reference)s", reference=appointment.reference)
        description_lines = [
            _("Reference: %(reference)s", reference=appointment.reference),
            _("Services: %(services)s", services=services),
        ]
        if documents:
            description_lines.append(_("Documents to bring:"))
            description_lines.extend(f"- {d}" for d in documents)
        description = "\n".join(description_lines)
    cancelled = appointment.status == Status.CANCELLED
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//consular//appointments//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = icalendar.Event()
    event.add("uid", appointment_uid(appointment))
    event.add("sequence", appointment.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", appointment.starts_at)
    event.add("dtend", appointment.ends_at)
    event.add("summary", summary)
    event.add(
        "location",
        ", ".join(
            filter(None, [localized(office.name, locale), localized(office.address, locale)])
        ),
    )
    event.add("description", description)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if not cancelled:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", summary)
        alarm.add("trigger", icalendar.vDuration.from_ical("-PT2H"))
        event.add_component(alarm)
    calendar.add_component(event)
    return calendar.to_ical().decode("utf-8")


def reference_qr(reference: str) -> segno.QRCode:
    """The reference as a regular QR code: never a Micro QR, which desk scanners and zbar
    don't read (segno picks one for a short text unless told not to)."""
    return segno.make(reference, error="m", micro=False)


def reference_qr_svg(reference: str) -> str:
    """The reference as a QR code in inline SVG, for scanning at the desk."""
    return reference_qr(reference).svg_inline(scale=6, border=2, title=reference, omitsize=True)


def reference_qr_png(reference: str) -> bytes:
    """The reference as a QR code in PNG, for emails."""
    buffer = io.BytesIO()
    reference_qr(reference).save(buffer, kind="png", scale=6, border=2)
    return buffer.getvalue()
