"""The catalogue administrators keep: service types and offices.

A change applies to new bookings only: appointments keep the snapshot of each service
they were booked with (consular.models.service.ServiceType.snapshot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from consular.database import SessionLike
from consular.models import AppointmentService, Office, ServiceType, Ticket, User
from consular.models.i18n import FALLBACK_LANGUAGE, LANGUAGES
from consular.services import schedule
from consular.services.announcements import SPOKEN_LANGUAGES, spoken_order
from consular.services.audit import record
from consular.services.details import DETAIL_SETS
from consular.services.errors import ConcurrentChange, InvalidState, ValidationFailed
from consular.services.identity import normalize_email, normalize_phone

CODE_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
REFERENCE_PREFIX_PATTERN = re.compile(r"[A-Z]{3}")
TICKET_PREFIX_PATTERN = re.compile(r"[A-Z]{1,2}")

# The texts of a service type kept in each language.
SERVICE_TEXTS = ("name", "description", "documents", "fee")


@dataclass
class ServiceTypeData:
    """What an administrator sets for a service type."""

    code: str
    name: dict[str, str]
    description: dict[str, str] = field(default_factory=dict)
    documents: dict[str, list[str]] = field(default_factory=dict)
    fee: dict[str, str] = field(default_factory=dict)
    duration_minutes: int = 15
    detail_sets: list[str] = field(default_factory=list)
    min_notice_hours: int = 24
    horizon_days: int = 60
    cutoff_hours: int = 24
    max_active_bookings: int = 1
    iin_window_days: int = 0
    waitlist_mode: str = "off"
    is_online: bool = True
    sort_order: int = 0
    office_ids: list[int] = field(default_factory=list)
    combinable_ids: list[int] = field(default_factory=list)


@dataclass
class OfficeData:
    """What an administrator sets for an office (its schedule has pages of its own)."""

    code: str
    reference_prefix: str
    ticket_prefix: str
    name: dict[str, str]
    address: dict[str, str] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    map_url: str = ""
    phone: str = ""
    email: str = ""
    postal_code: str = ""
    timezone: str = "Asia/Seoul"
    slot_minutes: int = 15
    calls_spoken: bool = False
    call_languages: list[str] = field(default_factory=lambda: ["ko", "ru"])


def _clean_texts(texts: dict[str, str]) -> dict[str, str]:
    return {lang: texts[lang].strip() for lang in LANGUAGES if (texts.get(lang) or "").strip()}


def _clean_lists(texts: dict[str, list[str]]) -> dict[str, list[str]]:
    cleaned = {
        lang: [item.strip() for item in texts.get(lang) or [] if item.strip()] for lang in LANGUAGES
    }
    return {lang: items for lang, items in cleaned.items() if items}


def missing_translations(service: ServiceType) -> list[str]:
    """Languages in which a text the service has in English is missing (English shows instead)."""
    missing = []
    for language in LANGUAGES:
        if language == FALLBACK_LANGUAGE:
            continue
        for text in SERVICE_TEXTS:
            values = getattr(service, text) or {}
            if values.get(FALLBACK_LANGUAGE) and not values.get(language):
                missing.append(language)
                break
    return missing


def service_audit_values(service: ServiceType) -> dict[str, Any]:
    """The service's settings as the audit log records them."""
    return {
        "code": service.code,
        "name": dict(service.name or {}),
        "description": dict(service.description or {}),
        "documents": {k: list(v) for k, v in (service.documents or {}).items()},
        "fee": dict(service.fee or {}),
        "duration_minutes": service.duration_minutes,
        "detail_sets": list(service.detail_sets or []),
        "min_notice_hours": service.min_notice_hours,
        "horizon_days": service.horizon_days,
        "cutoff_hours": service.cutoff_hours,
        "max_active_bookings": service.max_active_bookings,
        "iin_window_days": service.iin_window_days,
        "waitlist_mode": service.waitlist_mode,
        "is_online": service.is_online,
        "is_active": service.is_active,
        "sort_order": service.sort_order,
        "offices": sorted(o.code for o in service.offices),
        "combinable_with": sorted(s.code for s in service.combinable_with),
    }


def check_service_type(
    session: SessionLike, data: ServiceTypeData, service: ServiceType | None
) -> None:
    """Raise ValidationFailed with every problem of the data the form can't see itself."""
    errors: dict[str, list[str]] = {}
    if not CODE_PATTERN.fullmatch(data.code or "") or len(data.code) > 64:
        errors["code"] = [
            _("Use lower-case Latin letters, digits and single hyphens, e.g. passport-renewal.")
        ]
    else:
        taken = session.scalar(
            sa.select(ServiceType.id).where(
                ServiceType.code == data.code,
                ServiceType.id != (service.id if service is not None else -1),
            )
        )
        if taken is not None:
            errors["code"] = [_("Another service type already has this code.")]
    if not (data.name.get(FALLBACK_LANGUAGE) or "").strip():
        errors[f"name_{FALLBACK_LANGUAGE}"] = [
            _("Enter the name in English: it is shown wherever a translation is missing.")
        ]
    if data.waitlist_mode not in {"off", "fifo", "random"}:
        errors["waitlist_mode"] = [_("Choose how the waiting list works.")]
    unknown = [name for name in data.detail_sets if name not in DETAIL_SETS]
    if unknown:
        errors["detail_sets"] = [_("Choose details from the list.")]
    known_offices = set(session.scalars(sa.select(Office.id).where(Office.id.in_(data.office_ids))))
    if known_offices != set(data.office_ids):
        errors["offices"] = [_("Choose offices from the list.")]
    if errors:
        raise ValidationFailed(errors)


def _apply_service(session: SessionLike, service: ServiceType, data: ServiceTypeData) -> None:
    service.code = data.code
    service.name = _clean_texts(data.name)
    service.description = _clean_texts(data.description)
    service.documents = _clean_lists(data.documents)
    service.fee = _clean_texts(data.fee)
    service.duration_minutes = data.duration_minutes
    service.detail_sets = [name for name in DETAIL_SETS if name in data.detail_sets]
    service.min_notice_hours = data.min_notice_hours
    service.horizon_days = data.horizon_days
    service.cutoff_hours = data.cutoff_hours
    service.max_active_bookings = data.max_active_bookings
    service.iin_window_days = data.iin_window_days
    service.waitlist_mode = data.waitlist_mode
    service.is_online = data.is_online
    service.sort_order = data.sort_order
    service.offices = list(
        session.scalars(sa.select(Office).where(Office.id.in_(data.office_ids)).order_by(Office.id))
    )
    session.flush()
    others = list(
        session.scalars(
            sa.select(ServiceType).where(
                ServiceType.id.in_(data.combinable_ids), ServiceType.id != service.id
            )
        )
    )
    set_combinations(session, service, others)


def _lock_services(session: SessionLike, service_ids: list[int]) -> None:
    """Lock the service rows a change touches, in id order, so that two administrators
    changing combinations of the same services wait for each other (PostgreSQL; SQLite
    writes one transaction at a time anyway)."""
    session.execute(
        sa.select(ServiceType.id)
        .where(ServiceType.id.in_(sorted(set(service_ids))))
        .order_by(ServiceType.id)
        .with_for_update()
    ).all()


def create_service_type(
    session: SessionLike, actor: User, now: datetime, data: ServiceTypeData
) -> ServiceType:
    """Add a service type with its texts, rules and offices."""
    check_service_type(session, data, None)
    _lock_services(session, data.combinable_ids)
    service = ServiceType(code=data.code, name={})
    try:
        session.add(service)
        _apply_service(session, service, data)
    except IntegrityError as error:  # another administrator took the code meanwhile
        raise ConcurrentChange("code") from error
    record(session, actor, now, "create_service_type", service, office_id=None,
           after=service_audit_values(service))  # fmt: skip
    return service


def update_service_type(
    session: SessionLike, actor: User, now: datetime, service: ServiceType, data: ServiceTypeData
) -> None:
    """Change a service type; appointments already booked keep what they were booked with."""
    check_service_type(session, data, service)
    _lock_services(session, [service.id, *data.combinable_ids])
    before = service_audit_values(service)
    try:
        _apply_service(session, service, data)
    except IntegrityError as error:
        raise ConcurrentChange() from error
    after = service_audit_values(service)
    if before != after:
        record(session, actor, now, "update_service_type", service, office_id=None,
               before=before, after=after)  # fmt: skip


def set_service_type_active(
    session: SessionLike, actor: User, now: datetime, service: ServiceType, active: bool
) -> None:
    """Retire a service type (no new bookings; history kept) or offer it again."""
    if service.is_active == active:
        return
    service.is_active = active
    session.flush()
    record(session, actor, now, "reinstate_service_type" if active else "retire_service_type",
           service, office_id=None, before={"is_active": not active},
           after={"is_active": active})  # fmt: skip


def has_history(session: SessionLike, service: ServiceType) -> bool:
    """Whether any appointment or ticket ever used the service."""
    used = session.scalar(
        sa.select(AppointmentService.id).where(AppointmentService.service_type_id == service.id)
    )
    ticketed = session.scalar(sa.select(Ticket.id).where(Ticket.service_type_id == service.id))
    return used is not None or ticketed is not None


def delete_service_type(
    session: SessionLike, actor: User, now: datetime, service: ServiceType
) -> None:
    """Delete a service type that was never used; one with history can only be retired."""
    if has_history(session, service):
        raise InvalidState(
            _("This service type has appointments or tickets: retire it instead."), "service"
        )
    before = service_audit_values(service)
    record(session, actor, now, "delete_service_type", service, office_id=None, before=before)
    set_combinations(session, service, [])
    session.delete(service)
    try:
        session.flush()
    except IntegrityError as error:  # a booking of it was made meanwhile
        raise InvalidState(
            _("This service type has appointments or tickets: retire it instead."), "service"
        ) from error


def set_combinations(session: SessionLike, service: ServiceType, others: list[ServiceType]) -> None:
    """Make `service` combinable with exactly `others`, keeping the relation symmetric."""
    wanted = {other.id: other for other in others if other.id != service.id}
    for previous in list(service.combinable_with):
        if previous.id not in wanted:
            service.combinable_with.remove(previous)
            if service in previous.combinable_with:
                previous.combinable_with.remove(service)
    current = {s.id for s in service.combinable_with}
    for other in wanted.values():
        if other.id not in current:
            service.combinable_with.append(other)
        if all(s.id != service.id for s in other.combinable_with):
            other.combinable_with.append(service)
    session.flush()


# Offices


def office_audit_values(office: Office) -> dict[str, Any]:
    """The office's settings as the audit log records them."""
    return {
        "code": office.code,
        "reference_prefix": office.reference_prefix,
        "ticket_prefix": office.ticket_prefix,
        "name": dict(office.name or {}),
        "address": dict(office.address or {}),
        "directions": dict(office.directions or {}),
        "map_url": office.map_url,
        "phone": office.phone,
        "email": office.email,
        "postal_code": office.postal_code,
        "timezone": office.timezone,
        "slot_minutes": office.slot_minutes,
        "calls_spoken": office.calls_spoken,
        "call_languages": list(office.call_languages or []),
    }


def check_office(session: SessionLike, data: OfficeData, office: Office | None) -> OfficeData:
    """Normalise the contacts; raise ValidationFailed with every problem of the data."""
    errors: dict[str, list[str]] = {}
    other = Office.id != (office.id if office is not None else -1)

    def taken(column: Any, value: str) -> bool:
        return session.scalar(sa.select(Office.id).where(column == value, other)) is not None

    if not CODE_PATTERN.fullmatch(data.code or "") or len(data.code) > 32:
        errors["code"] = [_("Use lower-case Latin letters, digits and single hyphens, e.g. busan.")]
    elif taken(Office.code, data.code):
        errors["code"] = [_("Another office already has this code.")]
    if not REFERENCE_PREFIX_PATTERN.fullmatch(data.reference_prefix or ""):
        errors["reference_prefix"] = [_("Use three capital Latin letters, e.g. PUS.")]
    elif taken(Office.reference_prefix, data.reference_prefix):
        errors["reference_prefix"] = [_("Another office already uses these letters.")]
    if not TICKET_PREFIX_PATTERN.fullmatch(data.ticket_prefix or ""):
        errors["ticket_prefix"] = [_("Use one or two capital Latin letters, e.g. B.")]
    if not (data.name.get(FALLBACK_LANGUAGE) or "").strip():
        errors[f"name_{FALLBACK_LANGUAGE}"] = [
            _("Enter the name in English: it is shown wherever a translation is missing.")
        ]
    if data.timezone not in available_timezones():
        errors["timezone"] = [_("Choose a time zone from the list, e.g. Asia/Seoul.")]
    phone = data.phone
    if data.phone.strip():
        phone = normalize_phone(data.phone) or ""
        if not phone:
            errors["phone"] = [_("Enter a phone number such as +82 51 123 4567.")]
    email = data.email
    if data.email.strip():
        email = normalize_email(data.email) or ""
        if not email:
            errors["email"] = [_("Enter an email address such as name@example.com.")]
    data.postal_code = (data.postal_code or "").strip()
    if data.postal_code and not re.fullmatch(r"\d{5}", data.postal_code):
        errors["postal_code"] = [_("Enter the 5-digit Korean postal code, e.g. 04520.")]
    if data.map_url and not re.fullmatch(r"https://\S+", data.map_url):
        errors["map_url"] = [_("Enter a web address starting with https://.")]
    unknown = [code for code in data.call_languages if code not in SPOKEN_LANGUAGES]
    if unknown:
        errors["call_languages"] = [_("Choose among Korean, Kazakh and Russian.")]
    elif data.calls_spoken and not data.call_languages:
        errors["call_languages"] = [
            _("Choose at least one language to say the calls in, or don't have them spoken.")
        ]
    if errors:
        raise ValidationFailed(errors)
    data.phone, data.email = phone, email
    data.call_languages = spoken_order(data.call_languages)
    return data


def _apply_office(office: Office, data: OfficeData) -> None:
    office.code = data.code
    office.reference_prefix = data.reference_prefix
    office.ticket_prefix = data.ticket_prefix
    office.name = _clean_texts(data.name)
    office.address = _clean_texts(data.address)
    office.directions = _clean_texts(data.directions)
    office.map_url = data.map_url.strip()
    office.phone = data.phone
    office.email = data.email
    office.postal_code = data.postal_code
    office.timezone = data.timezone
    office.slot_minutes = data.slot_minutes
    office.calls_spoken = data.calls_spoken
    office.call_languages = list(data.call_languages)


def create_office(session: SessionLike, actor: User, now: datetime, data: OfficeData) -> Office:
    """Add an office; it offers no times until its opening hours are set."""
    check_office(session, data, None)
    office = Office(code=data.code, name={}, timezone=data.timezone)
    _apply_office(office, data)
    session.add(office)
    try:
        session.flush()
    except IntegrityError as error:  # a concurrent admin took the code or the letters
        raise ConcurrentChange("code") from error
    record(session, actor, now, "create_office", office, office_id=office.id,
           after=office_audit_values(office))  # fmt: skip
    return office


def update_office(
    session: SessionLike, actor: User, now: datetime, office: Office, data: OfficeData,
    horizon_days: int,
) -> schedule.SlotChanges:  # fmt: skip
    """Change an office; a new zone or slot length re-generates its future slots.

    Booked appointments that no longer fit stay in their slots, listed on the schedule
    page for a manager to keep or cancel (see consular.services.schedule.sync_slots).
    """
    data.code = office.code  # the code is in staff and display URLs: it never changes
    check_office(session, data, office)
    before = office_audit_values(office)
    _apply_office(office, data)
    try:
        session.flush()
    except IntegrityError as error:  # another office took the letters meanwhile
        raise ConcurrentChange() from error
    changes = schedule.SlotChanges()
    if (before["timezone"], before["slot_minutes"]) != (office.timezone, office.slot_minutes):
        changes = schedule.sync_slots(session, office, now, horizon_days)
    after = office_audit_values(office)
    if before != after:
        record(session, actor, now, "update_office", office, office_id=office.id,
               before=before, after=after)  # fmt: skip
    return changes
