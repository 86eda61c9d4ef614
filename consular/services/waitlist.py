"""The waiting list: joining it, offering freed seats to those who wait, claiming an offer.

A citizen who finds nothing free joins the list of an office for some services and a range
of days; the entry waits once its e-mailed code is entered, and the database refuses a
second waiting entry with the same IIN, e-mail address or phone at the office.

`offer_seats` is the one place seats go to the list. It runs after every cancellation of a
visit for a service with a list (in the cancelling transaction, so the seat never goes on
sale first), after a declined offer, and from `flask waitlist advance` for lapsed offers
and for seats that freed any other way. For each waiting entry, in the list's order (first
in, first out, or a random order drawn anew at each round among those who joined before
it), it offers the earliest free start that fits the entry's services and days: a hold made
through the booking service, whose seat has no hold end, so that the clock never puts it
back on sale; the waitlist alone passes it on when the offer lapses. Seats due back later
(a cancellation's release delay) count as free for those who wait: a seat whose release is
pending goes to the list first, and only returns to sale at its release time when nobody
waiting can use it.
"""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

import sqlalchemy as sa
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError
from sqlalchemy.exc import IntegrityError

from consular.database import SessionLike, rows_changed
from consular.models import (
    Appointment,
    LotteryEntry,
    Office,
    OutboxMessage,
    ServiceType,
    Status,
    WaitlistEntry,
    WaitlistMode,
    WaitlistToken,
    WaitStatus,
    waitlist_entry_service,
)
from consular.models.waitlist import PLACE_STATUSES
from consular.services import booking, booking_request, entry_codes, waitlist_mail
from consular.services.availability import StartTime, VisitRules, visit_start_times
from consular.services.booking import BookingPolicy, hash_secret
from consular.services.booking_request import ApplicantInput, translated_errors
from consular.services.errors import (
    DomainError,
    DuplicateEntry,
    HoldExpired,
    InvalidState,
    NotFound,
    ValidationFailed,
)
from consular.services.fair_access import email_domain, normalized_email, refuse_crowded_domain
from consular.services.seats import (
    end_visits,
    pending_releases,
    set_release_times,
    settle_hold,
)

REFERENCE_ALPHABET = booking.REFERENCE_ALPHABET
# The office's prefix, a W (never in the alphabet) and six characters: PUS-W-7K3QX9.
ENTRY_REFERENCE_PATTERN = re.compile(r"[A-Z]{3}-W-[2-9A-HJKMNP-Z]{6}")
# An offer leaves at least this long to claim it: a start sooner than that is not offered.
MIN_CLAIM_TIME = timedelta(hours=1)
# Offer rounds look at this many waiting entries at most (the rest wait for the next round).
ROUND_SIZE = 200

DUPLICATE_MESSAGES: dict[str, LazyString] = {
    "iin": _l("This IIN is already on this office's waiting list."),
    "email_key": _l("This email address is already on this office's waiting list."),
    "phone": _l("This phone number is already on this office's waiting list."),
}
DUPLICATE_FIELDS = {
    "iin": "applicant.iin",
    "email_key": "applicant.email",
    "phone": "applicant.phone",
}


class OfferLapsed(DomainError):
    """The time to claim the offered seat has passed; it went to the next person waiting."""

    code = "offer_lapsed"


@dataclass(frozen=True)
class WaitlistPolicy:
    """Settings of the waiting list, with the booking settings its offers' holds use."""

    booking: BookingPolicy
    code_minutes: int = 30

    @property
    def claim_time(self) -> timedelta:
        """How long an offer is held for the entrant to claim (less when the visit is near)."""
        return timedelta(hours=self.booking.waitlist_claim_hours)


def policy_from_config(config: Mapping[str, Any]) -> WaitlistPolicy:
    return WaitlistPolicy(
        booking=booking.policy_from_config(config),
        code_minutes=config["WAITLIST_CODE_MINUTES"],
    )


def has_waitlist(service: ServiceType) -> bool:
    return service.waitlist_mode != WaitlistMode.OFF


def mode_of(services: Iterable[ServiceType]) -> WaitlistMode:
    """An entry's order: random if any of its services draws at random, else first in."""
    modes = {s.waitlist_mode for s in services}
    return WaitlistMode.RANDOM if WaitlistMode.RANDOM in modes else WaitlistMode.FIFO


# Joining


def _refuse(message: str) -> Any:
    raise PydanticCustomError("consular", "{message}", {"message": message})


def _context(info: ValidationInfo) -> Mapping[str, Any]:
    return info.context or {}


def _services(value: Any, info: ValidationInfo) -> list[ServiceType]:
    services = booking_request._services(value, info)
    without = [s for s in services if not has_waitlist(s)]
    if without:
        locale = info.data.get("language") or "en"
        _refuse(
            _(
                "There is no waiting list for: %(names)s.",
                names=", ".join(s.display_name(locale) for s in without),
            )
        )
    return services


def _day(value: Any) -> date:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else _refuse("")
    except ValueError:
        return _refuse(_("Enter a date such as 2026-12-14."))


def _first_day(value: Any, info: ValidationInfo) -> date:
    if not value:
        _refuse(_("Enter the first day you could come."))
    day = _day(value)
    if day < _context(info)["today"]:
        _refuse(_("The first day can't be in the past."))
    return day


def _last_day(value: Any, info: ValidationInfo) -> date:
    if not value:
        _refuse(_("Enter the last day you could come."))
    day = _day(value)
    first = info.data.get("first_day")
    if first is not None and day < first:
        _refuse(_("The last day can't be before the first day."))
    services: list[ServiceType] = info.data.get("services") or []
    office: Office | None = info.data.get("office")
    if services and office is not None:
        last = VisitRules.for_services(services).last_day(office, _context(info)["now"])
        if day > last:
            _refuse(_("Appointments can be booked until %(day)s.", day=last.isoformat()))
    return day


class JoinBody(BaseModel):
    """A request to join the waiting list, as its form sends it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    office: Annotated[Office, PlainValidator(booking_request._office)]
    language: Annotated[str, PlainValidator(booking_request._language)] = "en"
    services: Annotated[list[ServiceType], PlainValidator(_services)]
    first_day: Annotated[date, PlainValidator(_first_day)] = Field(
        default=None, validate_default=True
    )
    last_day: Annotated[date, PlainValidator(_last_day)] = Field(
        default=None, validate_default=True
    )
    applicant: ApplicantInput
    details: Annotated[dict[str, dict[str, str]], PlainValidator(booking_request._details)] = Field(
        default=None, validate_default=True
    )


@dataclass(frozen=True)
class JoinRequest:
    office: Office
    services: list[ServiceType]
    first_day: date
    last_day: date
    applicant: booking_request.Applicant
    language: str
    details: dict[str, dict[str, str]]


def parse_join(
    session: SessionLike, data: Mapping[str, Any], now: datetime, policy: WaitlistPolicy
) -> JoinRequest:
    """Check a request to join member by member; raise ValidationFailed with every problem."""
    office = session.scalar(sa.select(Office).where(Office.code == data.get("office")))
    today = now.astimezone(office.zone).date() if office is not None else now.date()
    try:
        body = JoinBody.model_validate(
            dict(data),
            context={
                "session": session,
                "now": now,
                "today": today,
                "passport_pattern": policy.booking.passport_pattern,
            },
        )
    except ValidationError as error:
        raise ValidationFailed(translated_errors(error)) from None
    a = body.applicant
    return JoinRequest(
        office=body.office,
        services=body.services,
        first_day=body.first_day,
        last_day=body.last_day,
        applicant=booking_request.Applicant(
            a.given_name, a.family_name, a.iin, a.passport_number, a.email, a.phone
        ),
        language=body.language,
        details=body.details,
    )


@dataclass(frozen=True)
class Joined:
    entry: WaitlistEntry
    token: str
    code: str


def _new_reference(session: SessionLike, office: Office) -> str:
    # The office's prefix and a W (never in the alphabet): PUS-W-7K3QX9.
    return booking.new_reference(session, WaitlistEntry.reference, f"{office.reference_prefix}-W")


def _places_taken(session: SessionLike, entry: WaitlistEntry) -> list[str]:
    """Which of the person's identifiers already have a place on the office's list."""
    rows = session.execute(
        sa.select(WaitlistEntry.iin, WaitlistEntry.email_key, WaitlistEntry.phone).where(
            WaitlistEntry.office_id == entry.office_id,
            WaitlistEntry.takes_place.is_(True),
            WaitlistEntry.id != entry.id,
            sa.or_(
                WaitlistEntry.iin == entry.iin,
                WaitlistEntry.email_key == entry.email_key,
                WaitlistEntry.phone == entry.phone,
            ),
        )
    ).all()
    return [
        column
        for column in ("iin", "email_key", "phone")
        if any(getattr(row, column) == getattr(entry, column) for row in rows)
    ]


def _refuse_crowded_domain(
    session: SessionLike, office_id: int, email: str, policy: WaitlistPolicy
) -> None:
    """A private domain has only a few places on an office's list (QUOTA_PER_PRIVATE_DOMAIN)."""

    def places(domain: str) -> int:
        return int(
            session.scalar(
                sa.select(sa.func.count()).where(
                    WaitlistEntry.office_id == office_id,
                    WaitlistEntry.takes_place.is_(True),
                    WaitlistEntry.email_domain == domain,
                )
            )
            or 0
        )

    refuse_crowded_domain(session, email, policy.booking.quotas, places)


def _refuse_duplicate(taken: list[str]) -> None:
    if taken:
        raise DuplicateEntry(str(DUPLICATE_MESSAGES[taken[0]]), DUPLICATE_FIELDS[taken[0]])


def join(
    session: SessionLike, request: JoinRequest, now: datetime, policy: WaitlistPolicy
) -> Joined:
    """Make an entry and e-mail the code that puts it on the list."""
    applicant = request.applicant
    code = entry_codes.new_code()
    token = secrets.token_urlsafe(32)
    reference = _new_reference(session, request.office)
    entry = WaitlistEntry(
        office=request.office,
        office_id=request.office.id,
        reference=reference,
        status=WaitStatus.UNVERIFIED,
        takes_place=False,
        language=request.language,
        first_day=request.first_day,
        last_day=request.last_day,
        given_name=applicant.given_name,
        family_name=applicant.family_name,
        iin=applicant.iin,
        passport_number=applicant.passport_number,
        email=applicant.email,
        email_key=normalized_email(applicant.email),
        email_domain=email_domain(applicant.email),
        phone=applicant.phone,
        details=request.details,
        code_hash=entry_codes.code_hash(policy.booking.secret, reference, code),
        code_expires_at=now + timedelta(minutes=policy.code_minutes),
        created_at=now,
    )
    entry.services = list(request.services)
    _refuse_duplicate(_places_taken(session, entry))
    _refuse_crowded_domain(session, request.office.id, applicant.email, policy)
    entry.tokens.append(
        WaitlistToken(token_hash=hash_secret(policy.booking.secret, token), created_at=now)
    )
    session.add(entry)
    session.flush()
    waitlist_mail.queue_entry_email(session, entry, "code", now, code=code)
    return Joined(entry=entry, token=token, code=code)


def join_from_lottery(
    session: SessionLike,
    lottery_entry: LotteryEntry,
    place: int,
    now: datetime,
    policy: WaitlistPolicy,
) -> WaitlistEntry | None:
    """Put an entrant the draw gave no seat on the office's list, as they asked: for the
    release's days still ahead, behind those already waiting and in draw order among the
    release's entrants. Their address was verified when they entered. None when a service has
    no list or they already have a place on it."""
    release = lottery_entry.release
    office = release.office
    services = list(lottery_entry.services)
    if not lottery_entry.wants_waitlist or not all(has_waitlist(s) for s in services):
        return None
    first = max(release.first_day, now.astimezone(office.zone).date())
    if first > release.last_day:
        return None
    entry = WaitlistEntry(
        office=office,
        office_id=office.id,
        reference=_new_reference(session, office),
        status=WaitStatus.WAITING,
        takes_place=True,
        language=lottery_entry.language,
        first_day=first,
        last_day=release.last_day,
        given_name=lottery_entry.given_name,
        family_name=lottery_entry.family_name,
        iin=lottery_entry.iin,
        passport_number=lottery_entry.passport_number,
        email=lottery_entry.email,
        email_key=normalized_email(lottery_entry.email),
        email_domain=email_domain(lottery_entry.email),
        phone=lottery_entry.phone,
        details=dict(lottery_entry.details),
        code_hash="",
        code_expires_at=now,
        created_at=now,
        joined_at=now + timedelta(microseconds=place),
    )
    entry.services = services
    try:
        with session.begin_nested():
            session.add(entry)
            session.flush()
    except IntegrityError:
        return None  # already waiting at the office
    token = issue_token(session, entry, now, policy)
    waitlist_mail.queue_entry_email(session, entry, "joined", now, token=token)
    return entry


def leave_when_booked(session: SessionLike, office_id: int, iin: str, now: datetime) -> int:
    """The person has booked another way (a lottery's seat): their waiting ends."""
    changed = session.execute(
        sa.update(WaitlistEntry)
        .where(
            WaitlistEntry.office_id == office_id,
            WaitlistEntry.iin == iin,
            WaitlistEntry.status == WaitStatus.WAITING,
        )
        .values(status=WaitStatus.LEFT, takes_place=False, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(changed)


def normalize_reference(value: str) -> str:
    cleaned = re.sub(r"[\s\-]", "", value or "").upper()
    if len(cleaned) == 10 and cleaned[3] == "W":
        cleaned = f"{cleaned[:3]}-W-{cleaned[4:]}"
    return cleaned


def find_entry(
    session: SessionLike, reference: str, token: str, policy: WaitlistPolicy
) -> WaitlistEntry:
    """The entry a token opens; NotFound alike for a wrong token or reference."""
    entry = (
        session.scalar(
            sa.select(WaitlistEntry).where(
                WaitlistEntry.reference == normalize_reference(reference)
            )
        )
        if token
        else None
    )
    if entry is None or entry.personal_data_purged_at is not None:
        raise NotFound(_("No such entry."))
    wanted = hash_secret(policy.booking.secret, token)
    if not any(secrets.compare_digest(t.token_hash, wanted) for t in entry.tokens):
        raise NotFound(_("No such entry."))
    return entry


def issue_token(
    session: SessionLike, entry: WaitlistEntry, now: datetime, policy: WaitlistPolicy
) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        WaitlistToken(
            entry=entry, token_hash=hash_secret(policy.booking.secret, token), created_at=now
        )
    )
    session.flush()
    return token


def verify_entry(
    session: SessionLike, entry: WaitlistEntry, code: str, now: datetime, policy: WaitlistPolicy
) -> WaitlistEntry:
    """Put the entry on the list with the e-mailed code, then offer it a seat if one is free.

    A wrong code raises WrongCode after counting the attempt (the caller commits it); the
    last allowed wrong attempt ends the entry's time for a code. A person already waiting
    (by IIN, e-mail or phone) is refused by the unique indexes, whichever comes second.
    """
    session.refresh(entry)
    if entry.status != WaitStatus.UNVERIFIED:
        raise InvalidState(_("This entry is already on the waiting list."))
    if entry.is_code_expired(now):
        raise InvalidState(
            _("The time to enter the code has passed. Please join the list again."), "code"
        )
    if not entry_codes.code_matches(entry, code, policy.booking.secret):
        entry_codes.count_wrong_code(
            session,
            entry,
            now,
            policy.booking.code_max_attempts,
            pending=WaitStatus.UNVERIFIED,
            too_many=_("The code is wrong. Too many wrong codes: please join the list again."),
        )
    # Counted again at the place's taking: entries made at once all passed `join`.
    _refuse_crowded_domain(session, entry.office_id, entry.email, policy)
    try:
        with session.begin_nested():
            changed = session.execute(
                sa.update(WaitlistEntry)
                .where(WaitlistEntry.id == entry.id, WaitlistEntry.status == WaitStatus.UNVERIFIED)
                .values(status=WaitStatus.WAITING, takes_place=True, joined_at=now)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        _refuse_duplicate(_places_taken(session, entry))
        raise
    if rows_changed(changed) != 1:
        raise InvalidState(_("This entry is already on the waiting list."))
    session.refresh(entry)
    token = issue_token(session, entry, now, policy)
    waitlist_mail.queue_entry_email(session, entry, "joined", now, token=token)
    # A seat may be free already (freed since the citizen looked): offer it at once.
    offer_seats(session, entry.office, now, policy)
    session.refresh(entry)
    return entry


def resend_code(
    session: SessionLike, entry: WaitlistEntry, now: datetime, policy: WaitlistPolicy
) -> None:
    """Send a new code, a limited number of times; the earlier code stops working."""
    if entry.status != WaitStatus.UNVERIFIED or entry.is_code_expired(now):
        raise InvalidState(_("The time to enter the code has passed. Please join the list again."))
    code = entry_codes.new_code()
    updated = session.execute(
        sa.update(WaitlistEntry)
        .where(
            WaitlistEntry.id == entry.id,
            WaitlistEntry.status == WaitStatus.UNVERIFIED,
            WaitlistEntry.code_sends < policy.booking.code_max_sends,
        )
        .values(
            code_sends=WaitlistEntry.code_sends + 1,
            code_hash=entry_codes.code_hash(policy.booking.secret, entry.reference, code),
        )
        .execution_options(synchronize_session=False)
    )
    if rows_changed(updated) != 1:
        raise InvalidState(
            _("The code cannot be sent again. Check your spam folder, or join the list again."),
            "code",
        )
    session.refresh(entry)
    waitlist_mail.queue_entry_email(session, entry, "code", now, code=code)


def _set_status(
    session: SessionLike,
    entry: WaitlistEntry,
    old: Sequence[WaitStatus],
    new: WaitStatus,
    now: datetime,
) -> bool:
    """Move the entry from one of `old` to `new` in one conditional statement."""
    changed = session.execute(
        sa.update(WaitlistEntry)
        .where(WaitlistEntry.id == entry.id, WaitlistEntry.status.in_(old))
        .values(status=new, takes_place=new in PLACE_STATUSES, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(entry)
    return rows_changed(changed) == 1


def _give_back(
    session: SessionLike,
    appointment: Appointment | None,
    now: datetime,
    policy: WaitlistPolicy,
    reason: str,
) -> bool:
    """End an offer's hold. Its seats are due back as a cancellation's are (after the delay,
    at an unpredictable moment), and the offer round that follows gives them to the next
    person waiting at once."""
    if appointment is None or appointment.status != Status.HELD:
        return False
    ended = end_visits(
        session,
        [appointment.id],
        Status.CANCELLED,
        now,
        release_at=policy.booking.release_time(now),
        where=[Appointment.status == Status.HELD],
        cancel_reason=reason,
        sequence=Appointment.sequence + 1,
    )
    session.expire(appointment)
    return bool(ended)


def leave(
    session: SessionLike, entry: WaitlistEntry, now: datetime, policy: WaitlistPolicy
) -> WaitlistEntry:
    """Take the entry off the list; an offered seat goes to the next person waiting."""
    session.refresh(entry)
    if entry.status not in (WaitStatus.UNVERIFIED, *PLACE_STATUSES):
        raise InvalidState(_("This entry is not on the waiting list."))
    offered = entry.status == WaitStatus.OFFERED
    appointment = entry.appointment
    if not _set_status(
        session, entry, (WaitStatus.UNVERIFIED, *PLACE_STATUSES), WaitStatus.LEFT, now
    ):
        raise InvalidState(_("This entry is not on the waiting list."))
    if offered and _give_back(session, appointment, now, policy, "declined the waiting-list offer"):
        offer_seats(session, entry.office, now, policy)
    session.refresh(entry)
    return entry


def claim(
    session: SessionLike, entry: WaitlistEntry, now: datetime, policy: WaitlistPolicy
) -> Appointment:
    """Book the offered seat (the confirmation e-mail goes out); the entry leaves the list.

    An offer past its time raises OfferLapsed after passing the seat on (the caller commits).
    """
    session.refresh(entry)
    if entry.status != WaitStatus.OFFERED or entry.appointment is None:
        raise InvalidState(_("There is no seat waiting for you to claim."))
    appointment = entry.appointment
    try:
        booking.confirm_lottery_hold(session, appointment, now, policy.booking)
    except HoldExpired:
        advance(session, entry.office, now, policy)
        raise OfferLapsed(
            _("The time to claim the seat has passed: it has gone to the next person waiting.")
        ) from None
    _set_status(session, entry, (WaitStatus.OFFERED,), WaitStatus.BOOKED, now)
    return appointment


# Offering


def offer_order(
    entries: Sequence[WaitlistEntry],
    modes: Mapping[int, WaitlistMode],
    rng: random.Random,
) -> list[WaitlistEntry]:
    """The order a round offers seats in. First-in entries keep the order they joined in;
    each random-mode entry is given a moment drawn uniformly between the first joining of
    those waiting and now (its turn among the first-in ones), so that every one who joined
    before the round has the same chance, however long they have waited."""
    joined = [e.joined_at for e in entries if e.joined_at is not None]
    if not joined:
        return []
    start, end = min(joined), max(joined)
    span = (end - start).total_seconds()

    def key(entry: WaitlistEntry) -> tuple[datetime, int]:
        assert entry.joined_at is not None
        if modes[entry.id] == WaitlistMode.RANDOM:
            return start + timedelta(seconds=rng.uniform(0, span)), entry.id
        return entry.joined_at, entry.id

    return sorted((e for e in entries if e.joined_at is not None), key=key)


def _lock_office_list(session: SessionLike, office_id: int) -> None:
    """Serialise offer rounds of one office (PostgreSQL; SQLite writes one at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(0x57A17, office_id)))


def _first_fit(
    session: SessionLike, entry: WaitlistEntry, now: datetime, policy: WaitlistPolicy
) -> tuple[StartTime, datetime] | None:
    """The earliest free start the entry can be offered, with its claim deadline."""
    office = entry.office
    rules = VisitRules.for_services(entry.services)
    today = now.astimezone(office.zone).date()
    first, last = max(entry.first_day, today), entry.last_day
    if first > last:
        return None
    for start in visit_start_times(session, office, rules, first, last, now):
        if start.available <= 0:
            continue
        claim_by = min(now + policy.claim_time, start.starts_at - rules.min_notice)
        if claim_by - now >= MIN_CLAIM_TIME:
            return start, claim_by
    return None


def _offer(
    session: SessionLike,
    entry: WaitlistEntry,
    start: StartTime,
    claim_by: datetime,
    now: datetime,
    policy: WaitlistPolicy,
) -> bool:
    request = booking_request.BookingRequest(
        office=entry.office,
        services=list(entry.services),
        starts_at=start.starts_at,
        applicant=booking_request.Applicant(
            entry.given_name,
            entry.family_name,
            entry.iin,
            entry.passport_number,
            entry.email,
            entry.phone,
        ),
        language=entry.language,
        details=dict(entry.details),
    )
    try:
        with session.begin_nested():
            placed = booking.place_lottery_hold(
                session, request, now, policy.booking, hold_expires_at=claim_by
            )
            # The waitlist passes the seat on if the offer lapses, never the clock.
            settle_hold(session, placed.appointment.id)
            changed = session.execute(
                sa.update(WaitlistEntry)
                .where(WaitlistEntry.id == entry.id, WaitlistEntry.status == WaitStatus.WAITING)
                .values(
                    status=WaitStatus.OFFERED,
                    appointment_id=placed.appointment.id,
                    offered_at=now,
                    claim_by=claim_by,
                    offers=WaitlistEntry.offers + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if rows_changed(changed) != 1:
                raise InvalidState("the entry stopped waiting")
    except DomainError:
        return False
    session.expire(entry)
    token = issue_token(session, entry, now, policy)
    waitlist_mail.queue_entry_email(session, entry, "offered", now, token=token)
    return True


@lru_cache(maxsize=1)
def _waiting_query() -> sa.Select:
    return (
        sa.select(WaitlistEntry)
        .where(
            WaitlistEntry.office_id == sa.bindparam("office_id"),
            WaitlistEntry.status == WaitStatus.WAITING,
        )
        .order_by(WaitlistEntry.joined_at, WaitlistEntry.id)
        .limit(ROUND_SIZE)
    )


def offer_seats(
    session: SessionLike,
    office: Office,
    now: datetime,
    policy: WaitlistPolicy,
    *,
    rng: random.Random | None = None,
) -> int:
    """Offer the office's free seats (and those due back later) to the entries waiting, in
    the list's order; return how many offers were made."""
    _lock_office_list(session, office.id)
    waiting = list(session.scalars(_waiting_query(), {"office_id": office.id}))
    if not waiting:
        return 0
    pending = pending_releases(session, office.id, now)
    # For this round only, seats due back later are free: a seat taken now goes to the
    # list; any other returns to its own release time below.
    set_release_times(session, [(a, s, now) for a, s, _at in pending])
    modes = {e.id: mode_of(e.services) for e in waiting}
    made = 0
    for entry in offer_order(waiting, modes, rng or random.SystemRandom()):
        fit = _first_fit(session, entry, now, policy)
        if fit is not None and _offer(session, entry, fit[0], fit[1], now, policy):
            made += 1
    set_release_times(session, pending)
    return made


def _lapse_due_offers(
    session: SessionLike, office: Office, now: datetime, policy: WaitlistPolicy
) -> int:
    """Mark the office's offers not claimed in time as lapsed and free their seats."""
    due = list(
        session.scalars(
            sa.select(WaitlistEntry).where(
                WaitlistEntry.office_id == office.id,
                WaitlistEntry.status == WaitStatus.OFFERED,
                sa.or_(
                    WaitlistEntry.claim_by <= now,
                    # The hold ended another way (the person booked a time themselves).
                    WaitlistEntry.appointment_id.in_(
                        sa.select(Appointment.id).where(Appointment.status != Status.HELD)
                    ),
                ),
            )
        )
    )
    for entry in due:
        appointment = entry.appointment
        if _set_status(session, entry, (WaitStatus.OFFERED,), WaitStatus.LAPSED, now):
            _give_back(session, appointment, now, policy, "the waiting-list offer was not claimed")
            waitlist_mail.queue_entry_email(session, entry, "lapsed", now)
    return len(due)


def _end_past_entries(session: SessionLike, office: Office, now: datetime) -> int:
    """Entries whose last day has passed leave the list."""
    today = now.astimezone(office.zone).date()
    changed = session.execute(
        sa.update(WaitlistEntry)
        .where(
            WaitlistEntry.office_id == office.id,
            WaitlistEntry.status.in_((WaitStatus.UNVERIFIED, WaitStatus.WAITING)),
            WaitlistEntry.last_day < today,
        )
        .values(status=WaitStatus.ENDED, takes_place=False, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(changed)


@dataclass(frozen=True)
class AdvanceResult:
    lapsed: int
    ended: int
    offered: int


def advance(
    session: SessionLike, office: Office, now: datetime, policy: WaitlistPolicy
) -> AdvanceResult:
    """Lapse the offers past their time, end the entries past their days, offer free seats."""
    _lock_office_list(session, office.id)
    lapsed = _lapse_due_offers(session, office, now, policy)
    ended = _end_past_entries(session, office, now)
    offered = offer_seats(session, office, now, policy)
    return AdvanceResult(lapsed, ended, offered)


def offices_to_advance(session: SessionLike) -> list[Office]:
    """The offices with someone waiting or an offer open."""
    return list(
        session.scalars(
            sa.select(Office)
            .where(
                Office.id.in_(
                    sa.select(WaitlistEntry.office_id).where(
                        WaitlistEntry.status.in_(PLACE_STATUSES)
                    )
                )
            )
            .order_by(Office.id)
        )
    )


def after_cancellation(
    session: SessionLike, appointment: Appointment, now: datetime, policy: BookingPolicy
) -> None:
    """Offer a cancelled visit's seats to the list first, when its services have one and
    someone at the office waits."""
    if not any(
        line.service_type.waitlist_mode != WaitlistMode.OFF for line in appointment.service_lines
    ):
        return
    someone_waits = session.scalar(
        sa.select(
            sa.exists().where(
                WaitlistEntry.office_id == appointment.office_id,
                WaitlistEntry.status == WaitStatus.WAITING,
            )
        )
    )
    if someone_waits:
        offer_seats(session, appointment.office, now, WaitlistPolicy(booking=policy))


# What citizens and staff see


def place_in_line(session: SessionLike, entry: WaitlistEntry) -> int | None:
    """For a first-in list: how many waiting for any of the same services joined before
    this entry, plus one. None when the entry does not wait or its list draws at random."""
    if entry.status != WaitStatus.WAITING or entry.joined_at is None:
        return None
    if mode_of(entry.services) == WaitlistMode.RANDOM:
        return None
    service_ids = [s.id for s in entry.services]
    before = session.scalar(
        sa.select(sa.func.count(sa.distinct(WaitlistEntry.id)))
        .join(waitlist_entry_service, waitlist_entry_service.c.entry_id == WaitlistEntry.id)
        .where(
            WaitlistEntry.office_id == entry.office_id,
            WaitlistEntry.status == WaitStatus.WAITING,
            waitlist_entry_service.c.service_type_id.in_(service_ids),
            sa.or_(
                WaitlistEntry.joined_at < entry.joined_at,
                sa.and_(WaitlistEntry.joined_at == entry.joined_at, WaitlistEntry.id < entry.id),
            ),
        )
    )
    return int(before or 0) + 1


def waiting_count(session: SessionLike, entry: WaitlistEntry) -> int:
    """How many wait at the office for any of the entry's services (the entry included)."""
    return int(
        session.scalar(
            sa.select(sa.func.count(sa.distinct(WaitlistEntry.id)))
            .join(waitlist_entry_service, waitlist_entry_service.c.entry_id == WaitlistEntry.id)
            .where(
                WaitlistEntry.office_id == entry.office_id,
                WaitlistEntry.status == WaitStatus.WAITING,
                waitlist_entry_service.c.service_type_id.in_([s.id for s in entry.services]),
            )
        )
        or 0
    )


def lengths_by_service(session: SessionLike, office_id: int) -> list[tuple[ServiceType, int]]:
    """How many wait for each service of the office (an entry counts for each of its
    services), services with a list only, in their order."""
    counts: dict[int, int] = {
        row[0]: int(row[1])
        for row in session.execute(
            sa.select(waitlist_entry_service.c.service_type_id, sa.func.count())
            .join(WaitlistEntry, WaitlistEntry.id == waitlist_entry_service.c.entry_id)
            .where(
                WaitlistEntry.office_id == office_id,
                WaitlistEntry.status == WaitStatus.WAITING,
            )
            .group_by(waitlist_entry_service.c.service_type_id)
        )
    }
    office = session.get(Office, office_id)
    services = [s for s in (office.services if office else []) if has_waitlist(s)]
    return [(s, int(counts.get(s.id, 0))) for s in sorted(services, key=lambda s: s.sort_order)]


def open_offers(session: SessionLike, office_id: int) -> list[WaitlistEntry]:
    """The office's seats held for someone on the list now, soonest visit first."""
    return list(
        session.scalars(
            sa.select(WaitlistEntry)
            .join(Appointment, Appointment.id == WaitlistEntry.appointment_id)
            .where(
                WaitlistEntry.office_id == office_id,
                WaitlistEntry.status == WaitStatus.OFFERED,
            )
            .order_by(Appointment.starts_at, WaitlistEntry.id)
        )
    )


def purge_entries(session: SessionLike, now: datetime, cutoff: datetime) -> int:
    """Erase the personal data of entries that left the list (or ended) before `cutoff`."""
    ids = list(
        session.scalars(
            sa.select(WaitlistEntry.id).where(
                WaitlistEntry.personal_data_purged_at.is_(None),
                WaitlistEntry.status.not_in(PLACE_STATUSES),
                sa.func.coalesce(WaitlistEntry.ended_at, WaitlistEntry.created_at) < cutoff,
            )
        )
    )
    if not ids:
        return 0
    # Their e-mails carry the name and the address: erased with them (the waitlist's mails
    # are known by their kind and recipient; an entry's address has no other booking here).
    emails = list(session.scalars(sa.select(WaitlistEntry.email).where(WaitlistEntry.id.in_(ids))))
    session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.kind.like("waitlist\\_%", escape="\\"),
            OutboxMessage.recipient.in_(emails),
        )
        .values(
            recipient="", subject="", text_body="", html_body=None, attachments=[], last_error=None
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(sa.delete(WaitlistToken).where(WaitlistToken.entry_id.in_(ids)))
    session.execute(
        sa.update(WaitlistEntry)
        .where(WaitlistEntry.id.in_(ids))
        .values(
            given_name="",
            family_name="",
            iin="",
            passport_number="",
            email="",
            email_key="",
            phone="",
            details={},
            code_hash="",
            personal_data_purged_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, WaitlistEntry | OutboxMessage):
            session.expire(loaded)
    return len(ids)
