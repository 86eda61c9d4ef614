"""The booking core: place a hold, confirm it with the emailed code, cancel."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from consular.database import SessionLike, rows_changed
from consular.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentService,
    ManageToken,
    Office,
    ServiceType,
    Status,
    User,
)
from consular.models.appointment import line_counts_as_booking
from consular.models.base import UTCDateTime
from consular.observability.events import appointment_event
from consular.services import audit, notifications, transitions
from consular.services.availability import (
    FreeSeats,
    VisitRules,
    free_seats_parameters,
    free_seats_query,
    slot_is_full,
)

# Parsing a request lives in booking_request; these names stay importable from here.
from consular.services.booking_request import MAX_SERVICES_PER_VISIT as MAX_SERVICES_PER_VISIT
from consular.services.booking_request import Applicant as Applicant
from consular.services.booking_request import BookingRequest as BookingRequest
from consular.services.booking_request import combination_problem as combination_problem
from consular.services.booking_request import online_services_query as online_services_query
from consular.services.booking_request import parse_booking_request as parse_booking_request
from consular.services.booking_request import read_start
from consular.services.errors import (
    BookingClosed,
    CutoffPassed,
    DuplicateBooking,
    HoldExpired,
    InvalidState,
    NotFound,
    SlotUnavailable,
    ValidationFailed,
    WrongCode,
)
from consular.services.fair_access import (
    Quotas,
    check_booking_window,
    check_quotas,
    email_domain,
    normalized_email,
    quotas_from_config,
)
from consular.services.identity import normalize_email, parse_iin
from consular.services.lottery_days import refuse_lottery_start
from consular.services.seats import (
    apply_seat_changes,
    claim_due_seats,
    end_visits,
    move_seats,
    record_seats,
    release_due_seats,
    settle_hold,
)

# Letters and digits that can't be confused when read aloud or handwritten (no 0/O, 1/I/L).
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_PATTERN = re.compile(r"[A-Z]{3}-[2-9A-HJKMNP-Z]{6}")
DUPLICATE_MESSAGE = _l(
    "You already have an appointment for this service. Cancel it before booking another."
)
TAKEN_MESSAGE = _l("Someone else has just taken this time. Please choose another.")
INVALID_EMAIL_MESSAGE = _l("Enter an email address such as name@example.com.")


@dataclass(frozen=True)
class BookingPolicy:
    """Settings of the booking core, read from the app's configuration by the caller."""

    secret: str
    hold_minutes: int = 10
    release_delay_minutes: int = 30
    code_max_attempts: int = 5
    code_max_sends: int = 3
    passport_pattern: str = r"[A-Z][0-9]{8}"
    # A cancelled seat returns at a random moment up to this long after the release delay,
    # so that nobody can be waiting for it at the second it reappears.
    release_jitter_minutes: int = 0
    # How long a waiting-list offer is held for the entrant to claim (services/waitlist.py).
    waitlist_claim_hours: int = 24
    quotas: Quotas = Quotas(per_iin=0, per_email=0, per_phone=0, per_private_domain=0)

    def release_time(self, now: datetime) -> datetime:
        """When seats given up now go back on sale: after the delay, at a moment nobody can
        predict within the jitter."""
        jitter = secrets.randbelow(self.release_jitter_minutes * 60 + 1)
        return now + timedelta(minutes=self.release_delay_minutes, seconds=jitter)


def policy_from_config(config: Mapping[str, Any]) -> BookingPolicy:
    """The booking settings of an app's configuration."""
    return BookingPolicy(
        secret=config["SECRET_KEY"],
        hold_minutes=config["HOLD_MINUTES"],
        release_delay_minutes=config["RELEASE_DELAY_MINUTES"],
        code_max_attempts=config["CODE_MAX_ATTEMPTS"],
        code_max_sends=config["CODE_MAX_SENDS"],
        passport_pattern=config["PASSPORT_PATTERN"],
        release_jitter_minutes=config["RELEASE_JITTER_MINUTES"],
        waitlist_claim_hours=config["WAITLIST_CLAIM_HOURS"],
        quotas=quotas_from_config(config),
    )


@dataclass(frozen=True)
class HoldPlaced:
    appointment: Appointment
    manage_token: str
    code: str


def hash_secret(secret: str, value: str) -> str:
    """A keyed hash, so that tokens and codes are never stored as such."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def normalize_reference(value: str) -> str:
    """Upper-case a reference as typed or read aloud, with or without its dash."""
    cleaned = re.sub(r"[\s\-]", "", value or "").upper()
    if len(cleaned) == 9:
        cleaned = f"{cleaned[:3]}-{cleaned[3:]}"
    return cleaned


@lru_cache(maxsize=8)
def _reference_taken_query(column: Any) -> sa.Select:
    return sa.select(column).where(column == sa.bindparam("reference"))


def new_reference(session: SessionLike, column: Any, prefix: str) -> str:
    """A reference not yet in `column` (an appointment's, a lottery or waiting-list entry's):
    the office's prefix, then six characters that can't be misread."""
    while True:
        body = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
        reference = f"{prefix}-{body}"
        if session.scalar(_reference_taken_query(column), {"reference": reference}) is None:
            return reference


def _visit_slots(
    session: SessionLike,
    office: Office,
    starts_at: datetime,
    needed: int,
    now: datetime,
    *,
    refuse_full: bool,
) -> list[FreeSeats]:
    """The consecutive slots a visit starting then would take, with their free seats, or
    SlotUnavailable. With `refuse_full`, a slot already full is refused at once: nothing is
    written or locked for a seat that a conditional update would refuse anyway."""
    # Slots are unique by start and as long as the office's slot length: at most `needed`.
    rows = session.execute(
        free_seats_query(),
        free_seats_parameters(
            office.id, starts_at, starts_at + timedelta(minutes=office.slot_minutes * needed), now
        ),
    ).all()
    slots = [FreeSeats(row.id, row.starts_at, row.ends_at, row.free) for row in rows]
    contiguous = all(a.ends_at == b.starts_at for a, b in zip(slots, slots[1:], strict=False))
    if (
        len(slots) != needed
        or slots[0].starts_at != starts_at
        or not contiguous
        or any(row.is_blocked for row in rows)
    ):
        raise SlotUnavailable(
            _("There is no appointment time at %(time)s.", time=starts_at.isoformat()), "start"
        )
    if refuse_full and any(slot.free <= 0 for slot in slots):
        raise SlotUnavailable(str(TAKEN_MESSAGE), "start")
    return slots


def refuse_taken_start(
    session: SessionLike, office_code: object, start: object, now: datetime
) -> None:
    """Raise SlotUnavailable at once when a request asks for a start time whose first slot is
    full, before the rest of the request is read. When a day opens, most holds ask for a time
    just taken; refusing them costs one statement instead of the whole check and a rollback.
    Anything it can't read is left to the full check, which says what is wrong."""
    starts_at = read_start(start)
    if isinstance(office_code, str) and starts_at is not None:
        if slot_is_full(session, office_code, starts_at, now):
            raise SlotUnavailable(str(TAKEN_MESSAGE), "start")


def _check_rules(
    session: SessionLike, office: Office, starts_at: datetime, rules: VisitRules, now: datetime
) -> None:
    if not office.booking_open:
        raise BookingClosed(_("Online booking at this office is closed for now."), "office")
    if starts_at < rules.earliest_start(now):
        raise ValidationFailed(
            {
                "start": [
                    _(
                        "This time is too soon: book at least %(hours)d hours ahead.",
                        hours=int(rules.min_notice.total_seconds() // 3600),
                    )
                ]
            }
        )
    if not rules.allows_start(office, starts_at, now):
        raise ValidationFailed(
            {
                "start": [
                    _(
                        "This time is too far ahead: book at most %(days)d days ahead.",
                        days=rules.horizon_days,
                    )
                ]
            }
        )
    refuse_lottery_start(session, office, starts_at, rules.service_ids)


@lru_cache(maxsize=1)
def _places_taken_query() -> sa.Select:
    """The places a person's bookings take among some services; parameters `iin` and
    `service_type_ids`."""
    return sa.select(AppointmentService.service_type_id, AppointmentService.active_seq).where(
        AppointmentService.iin == sa.bindparam("iin"),
        AppointmentService.service_type_id.in_(sa.bindparam("service_type_ids", expanding=True)),
        line_counts_as_booking(),
    )


def _free_active_places(
    session: SessionLike, iin: str, services: list[ServiceType]
) -> dict[int, int] | None:
    """For each service, the lowest free place 1..max_active_bookings this person may take.

    None when a service already has all its places taken. The partial unique index on
    (iin, service, active_seq) refuses a place that a concurrent booking took meanwhile.
    """
    taken: dict[int, set[int]] = {}
    for service_type_id, seq in session.execute(
        _places_taken_query(), {"iin": iin, "service_type_ids": [s.id for s in services]}
    ):
        taken.setdefault(service_type_id, set()).add(seq)
    places: dict[int, int] = {}
    for service in services:
        free = [
            n
            for n in range(1, service.max_active_bookings + 1)
            if n not in taken.get(service.id, set())
        ]
        if not free:
            return None
        places[service.id] = free[0]
    return places


REPLACED_REASON = "replaced by a new hold of the same person"


@lru_cache(maxsize=2)
def _own_holds_query(with_reference: bool) -> sa.Select:
    """Live unconfirmed holds of one person: the same IIN and e-mail, or (from a browser)
    the hold that browser made last."""
    same_person = sa.and_(
        Appointment.iin == sa.bindparam("iin"),
        Appointment.email_key == sa.bindparam("email_key"),
    )
    who = (
        sa.or_(same_person, Appointment.reference == sa.bindparam("reference"))
        if with_reference
        else same_person
    )
    return (
        sa.select(Appointment.id)
        .where(
            Appointment.status == Status.HELD,
            Appointment.hold_expires_at > sa.bindparam("now", type_=UTCDateTime),
            who,
        )
        .order_by(Appointment.id)
    )


def _replace_own_holds(
    session: SessionLike, applicant: Applicant, replacing: str | None, now: datetime
) -> list[int]:
    """End the person's own unconfirmed holds, which the new hold replaces (a mistyped
    e-mail is then no dead end); their seats are due at once. Returns their ids."""
    values = {"iin": applicant.iin, "email_key": normalized_email(applicant.email), "now": now}
    if replacing:
        values["reference"] = replacing
    held = session.scalars(_own_holds_query(bool(replacing)), values).all()
    if not held:
        return []
    return end_visits(
        session,
        held,
        Status.CANCELLED,
        now,
        release_at=now,
        only_from=[Status.HELD],
        cancel_reason=REPLACED_REASON,
    )


def place_hold(
    session: SessionLike,
    request: BookingRequest,
    now: datetime,
    policy: BookingPolicy,
    *,
    replacing: str | None = None,
) -> HoldPlaced:
    """Hold the seats of a visit for a short time and email the confirmation code.

    Seats are taken by conditional updates in slot order, all or nothing: if any slot is
    full, SlotUnavailable is raised and the caller rolls the transaction back. The person's
    own unconfirmed holds (same IIN and e-mail, or `replacing`, the reference of the hold the
    same browser made) are replaced. A hold takes no place among the person's bookings of a
    service: confirming it does, so that someone who only knows an IIN can't lock its owner
    out with holds they never confirm.
    """
    rules = VisitRules.for_services(request.services)
    _check_rules(session, request.office, request.starts_at, rules, now)
    return _hold(
        session,
        request,
        rules,
        now,
        policy,
        hold_expires_at=now + timedelta(minutes=policy.hold_minutes),
        send_code=True,
        first_come=True,
        replacing=replacing,
    )


def book_for_caller(
    session: SessionLike,
    actor: User,
    request: BookingRequest,
    now: datetime,
    policy: BookingPolicy,
) -> HoldPlaced:
    """Book a visit for someone who called or came to the counter, confirmed at once.

    The services' booking rules apply as they do online (notice, horizon, capacity, one
    booking per IIN and service, the IIN window, the live bookings of one IIN); the limits
    against automated booking by address, phone, domain and office rate do not: an
    accountable clerk books, and the audit log names them. The confirmation is emailed when
    the caller gave an address; otherwise the clerk tells them the reference.
    """
    rules = VisitRules.for_services(request.services)
    _check_rules(session, request.office, request.starts_at, rules, now)
    clerk_quotas = replace(
        policy.quotas, per_email=0, per_phone=0, per_private_domain=0, per_office_minute=0
    )
    placed = _hold(
        session,
        request,
        rules,
        now,
        replace(policy, quotas=clerk_quotas),
        hold_expires_at=now + timedelta(minutes=policy.hold_minutes),
        send_code=False,
        first_come=True,
    )
    _confirm(session, placed.appointment, now, policy)
    audit.record(
        session,
        actor,
        now,
        "appointment.booked_for_caller",
        placed.appointment,
        office_id=request.office.id,
        after={
            "reference": placed.appointment.reference,
            "starts_at": placed.appointment.starts_at.isoformat(),
            "services": [service.code for service in request.services],
            "emailed": bool(placed.appointment.email),
        },
    )
    return placed


def place_lottery_hold(
    session: SessionLike,
    request: BookingRequest,
    now: datetime,
    policy: BookingPolicy,
    *,
    hold_expires_at: datetime,
) -> HoldPlaced:
    """Hold the seats a lottery gives a winner until `hold_expires_at`, for them to confirm.

    The release decided the day, so the first-come rules (booking open, horizon, days kept
    for lotteries) are not applied; seats, places and constraints are as for any hold. No
    code is sent: the entrant's address was verified when they entered, and the lottery
    e-mails the offer.
    """
    rules = VisitRules.for_services(request.services)
    return _hold(
        session,
        request,
        rules,
        now,
        policy,
        hold_expires_at=hold_expires_at,
        send_code=False,
        first_come=False,
    )


def _hold(
    session: SessionLike,
    request: BookingRequest,
    rules: VisitRules,
    now: datetime,
    policy: BookingPolicy,
    *,
    hold_expires_at: datetime,
    send_code: bool,
    first_come: bool,
    replacing: str | None = None,
) -> HoldPlaced:
    """Hold the visit's seats. A first-come hold replaces the person's own unconfirmed holds
    and passes the fair-access checks; a lottery's seat was given by its draw, whose entries
    were limited one per person already."""
    office = request.office

    slots = _visit_slots(
        session,
        office,
        request.starts_at,
        rules.slots_needed(office.slot_minutes),
        now,
        refuse_full=True,
    )
    slot_ids = sorted(slot.slot_id for slot in slots)
    applicant = request.applicant
    replaced: list[int] = []
    if first_come:
        replaced = _replace_own_holds(session, applicant, replacing, now)
        check_booking_window(session, office, applicant.iin, request.services, now)
        check_quotas(
            session,
            office,
            iin=applicant.iin,
            email=applicant.email,
            phone=applicant.phone,
            now=now,
            quotas=policy.quotas,
        )
    # Expired holds and past-delay cancellations of these slots, or of this person, and the
    # seats of the holds just replaced, go first: their seats are given back in the same
    # ordered pass that takes the new ones.
    release = claim_due_seats(
        session, now, slot_ids=slot_ids, iin=applicant.iin, appointment_ids=replaced
    )
    if _free_active_places(session, applicant.iin, request.services) is None:
        raise DuplicateBooking(str(DUPLICATE_MESSAGE), "services")

    manage_token = secrets.token_urlsafe(32)
    code = f"{secrets.randbelow(1_000_000):06d}"
    reference = new_reference(session, Appointment.reference, office.reference_prefix)
    appointment = Appointment(
        reference=reference,
        office=office,
        starts_at=slots[0].starts_at,
        ends_at=slots[-1].ends_at,
        status=Status.HELD,
        language=request.language,
        given_name=applicant.given_name,
        family_name=applicant.family_name,
        iin=applicant.iin,
        passport_number=applicant.passport_number,
        email=applicant.email,
        email_key=normalized_email(applicant.email) if applicant.email else None,
        email_domain=email_domain(applicant.email) if applicant.email else None,
        phone=applicant.phone,
        details=request.details,
        code_hash=hash_secret(policy.secret, f"{reference}:{code}"),
        hold_expires_at=hold_expires_at,
        created_at=now,
    )
    appointment.manage_tokens.append(
        ManageToken(token_hash=hash_secret(policy.secret, manage_token), created_at=now)
    )
    for service in request.services:
        # The line takes its place among the person's bookings when the hold is confirmed.
        appointment.service_lines.append(
            AppointmentService(
                service_type=service,
                iin=applicant.iin,
                is_active=False,
                snapshot=service.snapshot(),
            )
        )
    session.add(appointment)
    if send_code:
        notifications.queue_code_email(session, appointment, code, now)
    try:
        session.flush()
    except IntegrityError as error:
        if "iin" in str(error.orig).lower():
            raise DuplicateBooking(
                str(DUPLICATE_MESSAGE),
                "services",
            ) from error
        raise
    # The seats are taken last: a slot's row stays locked from its seat taken to the commit,
    # and in a rush every other citizen wanting that slot waits for that lock.
    if not apply_seat_changes(session, slot_ids, release.seats_by_slot):
        raise SlotUnavailable(str(TAKEN_MESSAGE), "start")
    record_seats(session, appointment.id, slot_ids, hold_until=appointment.hold_expires_at)
    appointment_event(session, "hold_placed", appointment)
    return HoldPlaced(appointment=appointment, manage_token=manage_token, code=code)


def find_by_reference(session: SessionLike, reference: str) -> Appointment | None:
    """The appointment with this reference, or None."""
    normalized = normalize_reference(reference)
    if not REFERENCE_PATTERN.fullmatch(normalized):
        return None
    return session.scalar(sa.select(Appointment).where(Appointment.reference == normalized))


# Wrong IINs for one reference, from any address, before looking it up by IIN pauses, and
# for how long after the last of them.
LOOKUP_MAX_FAILURES = 5
LOOKUP_PAUSE = timedelta(hours=24)


def look_up(session: SessionLike, reference: str, iin: str, now: datetime) -> Appointment | None:
    """The appointment with this reference and the applicant's IIN, or None alike for an
    unknown reference, a wrong IIN, or a reference whose look-up is paused.

    Each wrong IIN is counted on the appointment itself (a conditional update), so that many
    addresses trying IINs for one reference meet the same limit: after LOOKUP_MAX_FAILURES
    the look-up by IIN is paused for LOOKUP_PAUSE (the e-mailed link still opens it). The
    citizen is e-mailed when the pause begins, and when their booking is opened after wrong
    tries, with how many there were."""
    found = find_by_reference(session, reference)
    if found is None:
        return None
    paused = (
        found.lookup_failures >= LOOKUP_MAX_FAILURES
        and found.lookup_failed_at is not None
        and now - found.lookup_failed_at < LOOKUP_PAUSE
    )
    given = iin.strip()
    matches = parse_iin(given) is not None and hmac.compare_digest(
        found.iin.encode(), given.encode()
    )
    if not paused and matches:
        failures = found.lookup_failures
        if failures:
            session.execute(
                sa.update(Appointment)
                .where(Appointment.id == found.id)
                .values(lookup_failures=0, lookup_failed_at=None)
                .execution_options(synchronize_session=False)
            )
            session.refresh(found, ["lookup_failures", "lookup_failed_at"])
            _alert_lookup(session, found, failures, now, paused=False)
        return found
    session.execute(
        sa.update(Appointment)
        .where(Appointment.id == found.id)
        .values(lookup_failures=Appointment.lookup_failures + 1, lookup_failed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(found, ["lookup_failures", "lookup_failed_at"])
    if found.lookup_failures == LOOKUP_MAX_FAILURES:
        _alert_lookup(session, found, found.lookup_failures, now, paused=True)
    return None


def _alert_lookup(
    session: SessionLike, appointment: Appointment, failures: int, now: datetime, *, paused: bool
) -> None:
    if appointment.email:
        notifications.queue_lookup_alert_email(session, appointment, failures, now, paused=paused)


def find_managed(
    session: SessionLike, reference: str, token: str, policy: BookingPolicy
) -> Appointment:
    """The appointment a manage token opens; NotFound alike for a wrong token or reference."""
    appointment = find_by_reference(session, reference)
    if appointment is not None and token and len(token) <= 200:
        wanted = hash_secret(policy.secret, token)
        if any(hmac.compare_digest(t.token_hash, wanted) for t in appointment.manage_tokens):
            return appointment
    raise NotFound(_("No appointment matches this reference and link."))


def issue_manage_token(
    session: SessionLike, appointment: Appointment, now: datetime, policy: BookingPolicy
) -> str:
    """Create another manage token for the appointment (one per email that carries a link)."""
    token = secrets.token_urlsafe(32)
    session.add(
        ManageToken(
            appointment=appointment, token_hash=hash_secret(policy.secret, token), created_at=now
        )
    )
    session.flush()
    return token


def effective_status(appointment: Appointment, now: datetime) -> str:
    """The status as a citizen should see it: a hold past its time is expired."""
    if appointment.is_hold_expired(now):
        return Status.EXPIRED
    return appointment.status


def active_condition(now: datetime) -> sa.ColumnElement[bool]:
    """SQL condition: the appointment is confirmed, or held and still within its time."""
    return sa.or_(
        Appointment.status == Status.CONFIRMED,
        sa.and_(Appointment.status == Status.HELD, Appointment.hold_expires_at > now),
    )


def _release_now(session: SessionLike, appointment: Appointment, now: datetime) -> None:
    if end_visits(session, [appointment.id], Status.EXPIRED, now, release_at=now):
        release_due_seats(session, now, appointment_ids=[appointment.id])


@lru_cache(maxsize=1)
def _take_place_statement() -> sa.Update:
    return (
        sa.update(AppointmentService)
        .where(AppointmentService.id == sa.bindparam("line_id"))
        .values(is_active=True, active_seq=sa.bindparam("place"))
        .execution_options(synchronize_session=False)
    )


def _take_places(session: SessionLike, appointment: Appointment) -> None:
    """Give a visit just confirmed its places among the person's bookings of its services.

    DuplicateBooking when the person has meanwhile booked a service as often as it allows,
    through another hold confirmed first; the partial unique index on the places refuses
    the second of two confirmations racing for the last place, and that is the same answer.
    """
    lines = appointment.service_lines
    places = _free_active_places(session, appointment.iin, [line.service_type for line in lines])
    if places is None:
        raise DuplicateBooking(str(DUPLICATE_MESSAGE), "services")
    try:
        with session.begin_nested():
            for line in lines:
                session.execute(
                    _take_place_statement(),
                    {"line_id": line.id, "place": places[line.service_type_id]},
                )
    except IntegrityError as error:
        raise DuplicateBooking(str(DUPLICATE_MESSAGE), "services") from error
    for line in lines:
        session.expire(line)


def confirm_hold(
    session: SessionLike, appointment: Appointment, code: str, now: datetime, policy: BookingPolicy
) -> Appointment:
    """Confirm a held appointment with the emailed code.

    A wrong code raises WrongCode after counting the attempt (the caller commits it);
    the last allowed wrong attempt releases the hold.
    """
    if appointment.status == Status.CONFIRMED:
        raise InvalidState(_("This appointment is already confirmed."))
    if appointment.status != Status.HELD:
        raise HoldExpired(_("This hold has ended. Please book again."))
    if appointment.is_hold_expired(now):
        release_due_seats(session, now, appointment_ids=[appointment.id])
        raise HoldExpired(_("The time to confirm has passed. Please book again."))
    given = (code or "").strip()
    if not (
        len(given) == 6
        and given.isdigit()
        and hmac.compare_digest(
            appointment.code_hash, hash_secret(policy.secret, f"{appointment.reference}:{given}")
        )
    ):
        session.execute(
            sa.update(Appointment)
            .where(Appointment.id == appointment.id, Appointment.status == Status.HELD)
            .values(code_attempts=Appointment.code_attempts + 1)
            .execution_options(synchronize_session=False)
        )
        session.refresh(appointment, ["code_attempts"])
        attempts_left = max(0, policy.code_max_attempts - appointment.code_attempts)
        if attempts_left == 0:
            _release_now(session, appointment, now)
            raise WrongCode(
                _(
                    "The code is wrong. Too many wrong codes: "
                    "the hold is released, please book again."
                ),
                0,
            )
        raise WrongCode(
            _("The code is wrong. Attempts left: %(count)d.", count=attempts_left), attempts_left
        )
    return _confirm(session, appointment, now, policy)


def confirm_lottery_hold(
    session: SessionLike, appointment: Appointment, now: datetime, policy: BookingPolicy
) -> Appointment:
    """Confirm a hold a lottery gave, on the winner's word: their address was verified by a
    code when they entered, and only the holder of their entry's link can ask."""
    if appointment.status != Status.HELD or appointment.is_hold_expired(now):
        raise HoldExpired(_("The time to confirm has passed."))
    return _confirm(session, appointment, now, policy)


def _confirm(
    session: SessionLike, appointment: Appointment, now: datetime, policy: BookingPolicy
) -> Appointment:
    if not transitions.change_one(
        session,
        appointment,
        Status.CONFIRMED,
        now,
        where=[Appointment.hold_expires_at > now],
        sequence=Appointment.sequence + 1,
    ):
        raise HoldExpired(_("This hold has ended. Please book again."))
    _take_places(session, appointment)
    settle_hold(session, appointment.id)
    appointment_event(session, "booking_confirmed", appointment)
    if appointment.email:  # a caller booked by staff may have given none
        notifications.queue_confirmation_email(
            session, appointment, issue_manage_token(session, appointment, now, policy), now
        )
    return appointment


def resend_code(
    session: SessionLike,
    appointment: Appointment,
    now: datetime,
    policy: BookingPolicy,
    *,
    new_email: str | None = None,
) -> None:
    """Send a new code for a hold, a limited number of times; with `new_email`, to that
    address instead, which the hold keeps from now on (a mistyped address is no dead end).

    The address is checked like a booking's and against its quota; each correction counts as
    a sending, so a hold can't be used to send codes to any number of addresses."""
    if appointment.status != Status.HELD or appointment.is_hold_expired(now):
        raise HoldExpired(_("This hold has ended. Please book again."))
    changes: dict[str, Any] = {}
    if new_email is not None:
        email = normalize_email(new_email)
        if email is None:
            raise ValidationFailed({"email": [str(INVALID_EMAIL_MESSAGE)]})
        if normalized_email(email) != appointment.email_key:
            check_quotas(
                session,
                appointment.office,
                iin=appointment.iin,
                email=email,
                phone=appointment.phone,
                now=now,
                quotas=replace(policy.quotas, per_iin=0, per_phone=0, per_office_minute=0),
            )
        changes = {
            "email": email,
            "email_key": normalized_email(email),
            "email_domain": email_domain(email),
        }
    code = f"{secrets.randbelow(1_000_000):06d}"
    updated = session.execute(
        sa.update(Appointment)
        .where(
            Appointment.id == appointment.id,
            Appointment.status == Status.HELD,
            Appointment.code_sends < policy.code_max_sends,
        )
        .values(
            code_sends=Appointment.code_sends + 1,
            code_hash=hash_secret(policy.secret, f"{appointment.reference}:{code}"),
            **changes,
        )
        .execution_options(synchronize_session=False)
    )
    if rows_changed(updated) != 1:
        raise InvalidState(
            _("The code cannot be sent again. Check your spam folder, or book again."), "code"
        )
    session.refresh(appointment)
    notifications.queue_code_email(session, appointment, code, now)


def cancellation_deadline(appointment: Appointment) -> datetime:
    """The last moment a citizen may cancel or reschedule, by the strictest of its services."""
    hours = max(
        (
            int(line.snapshot.get("cutoff_hours", line.service_type.cutoff_hours))
            for line in appointment.service_lines
        ),
        default=0,
    )
    return appointment.starts_at - timedelta(hours=hours)


def cancel_appointment(
    session: SessionLike,
    appointment: Appointment,
    reason: str,
    now: datetime,
    policy: BookingPolicy,
    *,
    enforce_cutoff: bool = True,
    notify: bool = True,
) -> Appointment:
    """Cancel a held or confirmed appointment; its seats return after the release delay.

    `notify=False` leaves the email to the caller (a schedule change sends its own).
    """
    if appointment.status not in ACTIVE_STATUSES or appointment.is_hold_expired(now):
        raise InvalidState(_("This appointment is not active."))
    if enforce_cutoff and now > cancellation_deadline(appointment):
        raise CutoffPassed(_("It is too late to cancel online. Please call the office."))
    was_confirmed = appointment.status == Status.CONFIRMED
    cancelled = end_visits(
        session,
        [appointment.id],
        Status.CANCELLED,
        now,
        release_at=policy.release_time(now),
        where=[active_condition(now)],
        cancel_reason=(reason or "").strip()[:500] or None,
        sequence=Appointment.sequence + 1,
    )
    session.refresh(appointment)
    if not cancelled:
        raise InvalidState(_("This appointment is not active."))
    appointment_event(session, "booking_cancelled", appointment)
    if was_confirmed and notify:
        notifications.queue_cancellation_email(session, appointment, now)
    # The seats go to those waiting for them first. Imported here: the waitlist books its
    # offers through this module.
    from consular.services import waitlist

    waitlist.after_cancellation(session, appointment, now, policy)
    return appointment


def booked_rules(appointment: Appointment) -> VisitRules:
    """The rules the appointment was booked with (its services' snapshots), which a change of
    its time is offered and checked by, whatever the services' rules are now."""
    rules = VisitRules.from_snapshots([line.snapshot for line in appointment.service_lines])
    return replace(
        rules, service_ids=frozenset(line.service_type_id for line in appointment.service_lines)
    )


def reschedule_appointment(
    session: SessionLike,
    appointment: Appointment,
    new_start: datetime,
    now: datetime,
    policy: BookingPolicy,
) -> Appointment:
    """Move a confirmed appointment to another time.

    The new seats are taken first; only when all are secured are the seats it leaves put
    back on sale, after the release delay like a cancellation. Seats the old and new times
    share are simply kept.
    """
    if appointment.status != Status.CONFIRMED:
        raise InvalidState(_("Only a confirmed appointment can be moved."))
    if now > cancellation_deadline(appointment):
        raise CutoffPassed(_("It is too late to change the time online. Please call the office."))
    if new_start == appointment.starts_at:
        raise InvalidState(_("This is already the time of your appointment."), "start")
    office = appointment.office
    rules = booked_rules(appointment)
    _check_rules(session, office, new_start, rules, now)
    slots = _visit_slots(
        session, office, new_start, rules.slots_needed(office.slot_minutes), now, refuse_full=False
    )
    # Moving the appointment first locks its row: two changes of the same visit queue up.
    moved = session.execute(
        sa.update(Appointment)
        .where(Appointment.id == appointment.id, Appointment.status == Status.CONFIRMED)
        .values(
            starts_at=slots[0].starts_at,
            ends_at=slots[-1].ends_at,
            sequence=Appointment.sequence + 1,
            reminder_3d_sent_at=None,
            reminder_1d_sent_at=None,
            rescheduled_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if rows_changed(moved) != 1:
        raise InvalidState(_("Only a confirmed appointment can be moved."))
    if not move_seats(
        session,
        appointment.id,
        [slot.slot_id for slot in slots],
        now,
        leave_release_at=policy.release_time(now),
    ):
        raise SlotUnavailable(str(TAKEN_MESSAGE), "start")
    session.refresh(appointment)
    session.expire(appointment, ["slots"])
    appointment_event(session, "booking_rescheduled", appointment)
    notifications.queue_change_email(
        session, appointment, issue_manage_token(session, appointment, now, policy), now
    )
    return appointment


def visit_date(appointment: Appointment) -> date:
    """The local day of the visit at its office."""
    return appointment.starts_at.astimezone(appointment.office.zone).date()
