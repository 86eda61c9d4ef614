"""Calendar files (.ics) and QR codes for an appointment."""

from __future__ import annotations

import io
from datetime import datetime
from email.utils import parseaddr

import icalendar
import segno
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from consular.models import Appointment, Status
from consular.models.i18n import localized, localized_list

UID_DOMAIN = "appointments.consular"


def appointment_uid(appointment: Appointment) -> str:
    """The calendar UID: fixed for the life of the appointment, so updates replace the event."""
    return f"{appointment.reference}@{UID_DOMAIN}"


def calendar_method(appointment: Appointment) -> str:
    """The iTIP method of the appointment's calendar file: CANCEL once it is cancelled (the
    calendar then removes the event of the same UID), PUBLISH before."""
    return "CANCEL" if appointment.status == Status.CANCELLED else "PUBLISH"


def organizer_address(appointment: Appointment) -> str:
    """The address the event is organised from: the office's, else the configured sender's."""
    return appointment.office.email or parseaddr(current_app.config["MAIL_SENDER"])[1]


def appointment_ics(appointment: Appointment, now: datetime, manage_url: str | None = None) -> str:
    """An iCalendar file with the visit; SEQUENCE rises with every change, and once the
    appointment is cancelled the file cancels the event. ORGANIZER is the office; URL, when
    given, is the link to see, change or cancel the appointment."""
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
    calendar.add("method", calendar_method(appointment))
    event = icalendar.Event()
    event.add("uid", appointment_uid(appointment))
    event.add("sequence", appointment.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", appointment.starts_at)
    event.add("dtend", appointment.ends_at)
    event.add("summary", summary)
    event.add(
        "organizer",
        icalendar.vCalAddress(f"mailto:{organizer_address(appointment)}"),
        parameters={"CN": localized(office.name, locale)},
    )
    if manage_url:
        event.add("url", manage_url)
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
