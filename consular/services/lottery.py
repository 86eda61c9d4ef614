"""Lottery releases: announcing them, entering, the seeded draw, offering seats in draw order.

A release gives an office's days for some services to entrants in a random order instead of
to the fastest. Entering takes a place in the release only once the e-mailed code is
entered, and the database refuses a second place for the same IIN, e-mail address or phone.
At the draw time `draw` puts the entries in an order drawn from a stored seed, reads the
free seats of the release's days and plans, in that order, the first seat each entrant's
preferences allow (`plan_offers`, a pure function of the logged seed, entries and seats,
so that anyone can run it again and get the same result: `verify_draw`). Each planned
seat becomes a hold through the booking service, kept for the winner longer than an
ordinary hold; a seat declined or not confirmed in time goes to the next entrant in draw
order who has not been served (`advance`, run by the scheduler and after each decline).

Entering, withdrawing, confirming, declining and the draw all lock the release's row first
(the draw by its conditional change of state), so none of them can interleave with the
draw. Seats are only ever taken and given back by the booking service and seats.py.
"""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError
from sqlalchemy.exc import IntegrityError

from consular.database import SessionLike, rows_changed
from consular.models import (
    Appointment,
    EntryStatus,
    LotteryEntry,
    LotteryEntryToken,
    LotteryEvent,
    LotteryRelease,
    Office,
    OutboxMessage,
    ReleaseState,
    ServiceType,
    Status,
    User,
    lottery_release_service,
)
from consular.models.lottery import RESERVING_STATES, UNDRAWN_STATES
from consular.services import (
    audit,
    booking,
    booking_request,
    entry_codes,
    lottery_mail,
    waitlist,
)
from consular.services.availability import FreeSeats, VisitRules, free_seats_between
from consular.services.booking import BookingPolicy, hash_secret
from consular.services.booking_request import (
    ApplicantInput,
    combination_problem,
    service_codes_problem,
    translated_errors,
)
from consular.services.errors import (
    DomainError,
    DuplicateBooking,
    DuplicateEntry,
    EntriesClosed,
    HoldExpired,
    InvalidState,
    NotFound,
    SlotUnavailable,
    ValidationFailed,
)
from consular.services.fair_access import email_domain, normalized_email, refuse_crowded_domain
from consular.services.schedule import local_day_bounds, local_instant

MAX_PREFERENCES = 3
DAY_PARTS = ("morning", "afternoon")
# Morning is before noon in the office's zone; afternoon from noon.
NOON = time(12)
# An offer leaves the winner at least this long to confirm: later seats are not offered.
MIN_CONFIRM_TIME = timedelta(hours=1)
MAX_RELEASE_DAYS = 92
# How far ahead a release may give days out (slots are made SLOT_HORIZON_DAYS ahead).
MAX_DAYS_AHEAD = 400
REFERENCE_ALPHABET = booking.REFERENCE_ALPHABET
# The office's prefix, an L (never in the alphabet) and six characters: SEL-L-7K3QX9.
ENTRY_REFERENCE_PATTERN = re.compile(r"[A-Z]{3}-L-[2-9A-HJKMNP-Z]{6}")
DRAW_LOG_VERSION = 1

DUPLICATE_MESSAGES: dict[str, LazyString] = {
    "iin": _l("There is already an entry for this IIN in this lottery."),
    "email_key": _l("There is already an entry with this email address in this lottery."),
    "phone": _l("There is already an entry with this phone number in this lottery."),
}
DUPLICATE_FIELDS = {
    "iin": "applicant.iin",
    "email_key": "applicant.email",
    "phone": "applicant.phone",
}


class OfferLapsed(DomainError):
    """The winner did not confirm the offered seat in time; it goes to the next entrant."""

    code = "offer_lapsed"


@dataclass(frozen=True)
class LotteryPolicy:
    """Settings of lottery entries, with the booking settings the winners' holds use."""

    booking: BookingPolicy
    code_minutes: int = 30


def policy_from_config(config: Mapping[str, Any]) -> LotteryPolicy:
    """The lottery settings of an app's configuration."""
    return LotteryPolicy(
        booking=booking.policy_from_config(config),
        code_minutes=config["LOTTERY_CODE_MINUTES"],
    )


def entry_email_key(email: str) -> str:
    """An e-mail address as the one-entry rule compares it: as the booking quotas do, with
    case, and the dots and +tags of the providers that ignore them, folded."""
    return normalized_email(email)


def _refuse_crowded_domain(
    session: SessionLike, release_id: int, email: str, policy: LotteryPolicy
) -> None:
    """A private domain has only a few places in a release (QUOTA_PER_PRIVATE_DOMAIN)."""

    def places(domain: str) -> int:
        return int(
            session.scalar(
                sa.select(sa.func.count()).where(
                    LotteryEntry.release_id == release_id,
                    LotteryEntry.takes_place.is_(True),
                    LotteryEntry.email_domain == domain,
                )
            )
            or 0
        )

    refuse_crowded_domain(session, email, policy.booking.quotas, places)


# Reading a release


def lock_release(session: SessionLike, release_id: int) -> LotteryRelease:
    """The release, its row locked until the commit (PostgreSQL; SQLite writes one at a
    time anyway): entering, withdrawing, offering and the draw are done one after another."""
    release = session.scalar(
        sa.select(LotteryRelease)
        .where(LotteryRelease.id == release_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if release is None:
        raise NotFound(_("There is no such lottery."))
    return release


def release_days(release: LotteryRelease) -> list[date]:
    """Every local day the release covers, in order."""
    count = (release.last_day - release.first_day).days + 1
    return [release.first_day + timedelta(days=n) for n in range(count)]


def release_bounds(release: LotteryRelease) -> tuple[datetime, datetime]:
    """The UTC instants the release's first day begins and the day after its last begins."""
    zone = release.office.zone
    return local_day_bounds(release.first_day, zone)[0], local_day_bounds(release.last_day, zone)[1]


def shown_releases_query(office_id: int, today: date) -> sa.Select[tuple[LotteryRelease]]:
    """The releases of an office a citizen should hear about: not over, not cancelled."""
    return (
        sa.select(LotteryRelease)
        .where(
            LotteryRelease.office_id == office_id,
            LotteryRelease.state.in_(RESERVING_STATES),
            LotteryRelease.last_day >= today,
        )
        .order_by(LotteryRelease.first_day, LotteryRelease.id)
    )


def shown_releases(
    session: SessionLike, office: Office, now: datetime, services: Iterable[ServiceType] = ()
) -> list[LotteryRelease]:
    """The office's releases to show (of any of the services, when given), soonest first."""
    today = now.astimezone(office.zone).date()
    releases = list(session.scalars(shown_releases_query(office.id, today)))
    wanted = {s.id for s in services}
    if wanted:
        releases = [r for r in releases if wanted & {s.id for s in r.services}]
    return releases


def entries_count(session: SessionLike, release_id: int) -> int:
    """How many verified entries take part in the release."""
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(LotteryEntry)
            .where(LotteryEntry.release_id == release_id, LotteryEntry.takes_place.is_(True))
        )
        or 0
    )


# Administrators: announcing, changing and cancelling releases


@dataclass(frozen=True)
class ReleaseData:
    """A release as an administrator's form gives it; times are aware (UTC or the office's)."""

    office_id: int | None
    service_ids: list[int]
    first_day: date | None
    last_day: date | None
    opens_at: datetime | None
    closes_at: datetime | None
    draw_at: datetime | None
    confirm_hours: int | None


def local_moment(day: date, at: time, office: Office) -> datetime:
    """A wall-clock time at the office as a UTC instant."""
    return local_instant(day, at, office.zone)


def _has_entries(session: SessionLike, release_id: int) -> bool:
    return (
        session.scalar(sa.select(LotteryEntry.id).where(LotteryEntry.release_id == release_id))
        is not None
    )


def check_release(
    session: SessionLike, data: ReleaseData, release: LotteryRelease | None, now: datetime
) -> None:
    """Refuse a release that can't be run: every problem by its field (ValidationFailed)."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    office = session.get(Office, data.office_id) if data.office_id else None
    if office is None:
        add("office_id", _("Choose the office."))
    services: list[ServiceType] = []
    if not data.service_ids:
        add("service_ids", _("Choose at least one service."))
    elif office is not None:
        offered = {s.id: s for s in session.scalars(booking.online_services_query(office.id))}
        services = [offered[i] for i in data.service_ids if i in offered]
        if len(services) != len(set(data.service_ids)):
            add("service_ids", _("Choose services this office offers online."))
    if data.first_day is None:
        add("first_day", _("Enter the first day."))
    if data.last_day is None:
        add("last_day", _("Enter the last day."))
    if data.first_day and data.last_day:
        if data.last_day < data.first_day:
            add("last_day", _("The last day is before the first day."))
        elif (data.last_day - data.first_day).days >= MAX_RELEASE_DAYS:
            add("last_day", _("A release covers at most %(days)d days.", days=MAX_RELEASE_DAYS))
        elif not now.date() < data.first_day <= now.date() + timedelta(days=MAX_DAYS_AHEAD):
            add(
                "first_day",
                _("Choose days within the next %(days)d days.", days=MAX_DAYS_AHEAD),
            )
    for name, value in (
        ("opens_at", data.opens_at),
        ("closes_at", data.closes_at),
        ("draw_at", data.draw_at),
    ):
        if value is None:
            add(name, _("Enter a date and time."))
    if data.opens_at and data.closes_at and data.closes_at <= data.opens_at:
        add("closes_at", _("Entries must close after they open."))
    if data.closes_at and data.draw_at and data.draw_at < data.closes_at:
        add("draw_at", _("The draw must be at or after the closing time."))
    if data.closes_at and data.closes_at <= now and (release is None or release.closes_at > now):
        add("closes_at", _("The closing time has passed."))
    if office is not None and data.draw_at and data.first_day:
        if data.draw_at.astimezone(office.zone).date() >= data.first_day:
            add("draw_at", _("The draw must be before the first day it gives out."))
    if data.confirm_hours is None or not 1 <= data.confirm_hours <= 336:
        add("confirm_hours", _("Give between 1 and 336 hours."))
    if release is not None:
        _check_change(session, data, release, now, add)
    if office is not None and services and data.first_day and data.last_day and not errors:
        overlapping = session.scalar(
            sa.select(LotteryRelease.id).where(
                LotteryRelease.office_id == office.id,
                LotteryRelease.state.in_(RESERVING_STATES),
                LotteryRelease.id != (release.id if release else -1),
                LotteryRelease.first_day <= data.last_day,
                LotteryRelease.last_day >= data.first_day,
                LotteryRelease.id.in_(
                    sa.select(lottery_release_service.c.release_id).where(
                        lottery_release_service.c.service_type_id.in_([s.id for s in services])
                    )
                ),
            )
        )
        if overlapping is not None:
            add("first_day", _("Another lottery already gives out some of these days."))
    if errors:
        raise ValidationFailed(errors)


def _check_change(
    session: SessionLike, data: ReleaseData, release: LotteryRelease, now: datetime, add: Any
) -> None:
    """What may no longer change in a release that has begun."""
    if release.state not in UNDRAWN_STATES:
        add("draw_at", _("This lottery has been drawn or cancelled: it can't be changed."))
        return
    if _has_entries(session, release.id):
        same = (
            data.office_id == release.office_id
            and sorted(set(data.service_ids)) == sorted(s.id for s in release.services)
            and data.first_day == release.first_day
            and data.last_day == release.last_day
        )
        if not same:
            add(
                "first_day",
                _("People have entered: the office, services and days can no longer change."),
            )
    if release.opens_at <= now and data.opens_at != release.opens_at:
        add("opens_at", _("Entries have opened: the opening time can no longer change."))


def _audited(release: LotteryRelease) -> dict[str, Any]:
    return {
        "office": release.office.code if release.office else release.office_id,
        "services": sorted(s.code for s in release.services),
        "first_day": release.first_day.isoformat(),
        "last_day": release.last_day.isoformat(),
        "opens_at": release.opens_at.isoformat(),
        "closes_at": release.closes_at.isoformat(),
        "draw_at": release.draw_at.isoformat(),
        "confirm_hours": release.confirm_hours,
        "state": str(release.state),
    }


def _apply(session: SessionLike, release: LotteryRelease, data: ReleaseData) -> None:
    assert data.first_day and data.last_day and data.opens_at and data.closes_at
    assert data.draw_at and data.confirm_hours and data.office_id
    release.office = session.get(Office, data.office_id)  # type: ignore[assignment]
    release.services = list(
        session.scalars(sa.select(ServiceType).where(ServiceType.id.in_(data.service_ids)))
    )
    release.first_day, release.last_day = data.first_day, data.last_day
    release.opens_at, release.closes_at = data.opens_at, data.closes_at
    release.draw_at, release.confirm_hours = data.draw_at, data.confirm_hours


def create_release(
    session: SessionLike, actor: User | None, now: datetime, data: ReleaseData
) -> LotteryRelease:
    """Announce a release: its days leave first-come sale for its services at once."""
    check_release(session, data, None, now)
    release = LotteryRelease(state=ReleaseState.ANNOUNCED, created_at=now, updated_at=now)
    _apply(session, release, data)
    session.add(release)
    session.flush()
    audit.record(
        session,
        actor,
        now,
        "create_lottery_release",
        release,
        office_id=release.office_id,
        after=_audited(release),
    )
    return release


def update_release(
    session: SessionLike,
    actor: User | None,
    now: datetime,
    release: LotteryRelease,
    data: ReleaseData,
) -> LotteryRelease:
    """Change a release that has not been drawn (its office, services and days only while
    nobody has entered)."""
    release = lock_release(session, release.id)
    check_release(session, data, release, now)
    before = _audited(release)
    _apply(session, release, data)
    release.updated_at = now
    session.flush()
    after = _audited(release)
    if before != after:
        audit.record(
            session,
            actor,
            now,
            "update_lottery_release",
            release,
            office_id=release.office_id,
            before=before,
            after=after,
        )
    return release


def cancel_release(
    session: SessionLike, actor: User | None, now: datetime, release: LotteryRelease
) -> LotteryRelease:
    """Cancel a release before its draw; its entrants are told, its days go back on sale."""
    release = lock_release(session, release.id)
    before = _audited(release)
    changed = session.execute(
        sa.update(LotteryRelease)
        .where(LotteryRelease.id == release.id, LotteryRelease.state.in_(UNDRAWN_STATES))
        .values(state=ReleaseState.CANCELLED, cancelled_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(changed) != 1:
        raise InvalidState(_("Only a lottery that has not been drawn can be cancelled."))
    session.refresh(release)
    for entry in session.scalars(
        sa.select(LotteryEntry)
        .where(LotteryEntry.release_id == release.id, LotteryEntry.takes_place.is_(True))
        .order_by(LotteryEntry.id)
    ):
        lottery_mail.queue_entry_email(session, entry, "cancelled", now)
    audit.record(
        session,
        actor,
        now,
        "cancel_lottery_release",
        release,
        office_id=release.office_id,
        before=before,
        after=_audited(release),
    )
    return release


# Entering


@dataclass(frozen=True)
class Preference:
    """A preferred day and part of the day; None for either means any."""

    day: date | None
    part: str | None

    def allows(self, local_start: datetime) -> bool:
        """Whether a visit starting at this local time meets the preference."""
        if self.day is not None and local_start.date() != self.day:
            return False
        if self.part == "morning":
            return local_start.time() < NOON
        if self.part == "afternoon":
            return local_start.time() >= NOON
        return True

    def as_json(self) -> dict[str, str | None]:
        return {"day": self.day.isoformat() if self.day else None, "part": self.part}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Preference:
        day = value.get("day")
        return cls(date.fromisoformat(day) if day else None, value.get("part") or None)


@dataclass(frozen=True)
class EntryRequest:
    """A checked entry: the services of the visit, the applicant and the wishes."""

    release: LotteryRelease
    services: list[ServiceType]
    applicant: booking_request.Applicant
    language: str
    details: dict[str, Any]
    preferences: tuple[Preference, ...]
    accept_any: bool
    wants_waitlist: bool


def _refuse(message: str) -> Any:
    raise PydanticCustomError("consular", "{message}", {"message": message})


def _context(info: ValidationInfo) -> Mapping[str, Any]:
    return info.context or {}


def _entry_services(value: Any, info: ValidationInfo) -> list[ServiceType]:
    release: LotteryRelease = _context(info)["release"]
    offered = {s.code: s for s in release.services}
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        _refuse(str(booking_request.SERVICES_COUNT_MESSAGE))
    problem = service_codes_problem(value)
    if problem:
        _refuse(problem)
    missing = [code for code in value if code not in offered]
    if missing:
        _refuse(_("This lottery does not give out: %(codes)s.", codes=", ".join(missing)))
    services = [offered[code] for code in value]
    problem = combination_problem(services, info.data.get("language"))
    if problem:
        _refuse(problem)
    return services


def _preferences(value: Any, info: ValidationInfo) -> tuple[Preference, ...]:
    release: LotteryRelease = _context(info)["release"]
    days = set(release_days(release))
    rows = value if isinstance(value, list) else []
    found: list[Preference] = []
    for row in rows:
        if not isinstance(row, Mapping):
            _refuse(_("Choose a day and a part of the day for each preference."))
        raw_day, raw_part = row.get("day") or None, row.get("part") or None
        if raw_day is None and raw_part is None:
            continue  # an empty row of the form
        try:
            day = date.fromisoformat(raw_day) if isinstance(raw_day, str) else None
        except ValueError:
            day = None
        if (raw_day is not None and day not in days) or raw_part not in (None, *DAY_PARTS):
            _refuse(_("Choose days of this lottery and a part of the day for each preference."))
        preference = Preference(day, raw_part)
        if preference in found:
            _refuse(_("Give each preference only once."))
        found.append(preference)
    if len(found) > MAX_PREFERENCES:
        _refuse(_("Give at most %(count)d preferences.", count=MAX_PREFERENCES))
    return tuple(found)


def _flag(value: Any) -> bool:
    return value in (True, "y", "on", "1", "true")


class LotteryEntryBody(BaseModel):
    """An entry in a lottery release, as its form sends it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    # Validated in this order: services need the language, details the services.
    office: Annotated[Office, PlainValidator(booking_request._office)]
    language: Annotated[str, PlainValidator(booking_request._language)] = "en"
    services: Annotated[list[ServiceType], PlainValidator(_entry_services)]
    applicant: ApplicantInput
    details: Annotated[dict[str, dict[str, str]], PlainValidator(booking_request._details)] = Field(
        default=None, validate_default=True
    )
    preferences: Annotated[tuple[Preference, ...], PlainValidator(_preferences)] = Field(
        default=None, validate_default=True
    )
    accept_any: Annotated[bool, PlainValidator(_flag)] = False
    wants_waitlist: Annotated[bool, PlainValidator(_flag)] = False


def parse_entry(
    session: SessionLike,
    release: LotteryRelease,
    data: Mapping[str, Any],
    now: datetime,
    policy: LotteryPolicy,
) -> EntryRequest:
    """Check an entry member by member, as a booking request is checked; raise
    ValidationFailed with every problem."""
    try:
        body = LotteryEntryBody.model_validate(
            dict(data) | {"office": release.office.code},
            context={
                "session": session,
                "now": now,
                "release": release,
                "passport_pattern": policy.booking.passport_pattern,
            },
        )
    except ValidationError as error:
        raise ValidationFailed(translated_errors(error)) from None
    if not body.preferences and not body.accept_any:
        raise ValidationFailed(
            {"preferences": [_("Give at least one preference, or accept any free time.")]}
        )
    applicant = body.applicant
    return EntryRequest(
        release=release,
        services=body.services,
        applicant=booking_request.Applicant(
            applicant.given_name,
            applicant.family_name,
            applicant.iin,
            applicant.passport_number,
            applicant.email,
            applicant.phone,
        ),
        language=body.language,
        details=body.details,
        preferences=body.preferences,
        accept_any=body.accept_any,
        wants_waitlist=body.wants_waitlist,
    )


@dataclass(frozen=True)
class EntryPlaced:
    entry: LotteryEntry
    token: str
    code: str


def _places_taken(
    session: SessionLike, release_id: int, iin: str, email_key: str, phone: str
) -> list[str]:
    """Which of the person's identifiers already have a place in the release."""
    rows = session.execute(
        sa.select(LotteryEntry.iin, LotteryEntry.email_key, LotteryEntry.phone).where(
            LotteryEntry.release_id == release_id,
            LotteryEntry.takes_place.is_(True),
            sa.or_(
                LotteryEntry.iin == iin,
                LotteryEntry.email_key == email_key,
                LotteryEntry.phone == phone,
            ),
        )
    ).all()
    taken = []
    for column, value in (("iin", iin), ("email_key", email_key), ("phone", phone)):
        if any(getattr(row, column) == value for row in rows):
            taken.append(column)
    return taken


def _refuse_duplicate(taken: list[str]) -> None:
    if taken:
        raise DuplicateEntry(str(DUPLICATE_MESSAGES[taken[0]]), DUPLICATE_FIELDS[taken[0]])


def enter(
    session: SessionLike, request: EntryRequest, now: datetime, policy: LotteryPolicy
) -> EntryPlaced:
    """Make an entry and e-mail the code that puts it in the draw.

    The release's row is locked first, as the code's check locks it before the domain's
    count: an entry's row takes a share lock on the release, so the other order could
    deadlock with a code being entered."""
    release = lock_release(session, request.release.id)
    if not release.is_open(now):
        raise EntriesClosed(_("This lottery does not take entries now."))
    applicant = request.applicant
    email_key = entry_email_key(applicant.email)
    _refuse_duplicate(_places_taken(session, release.id, applicant.iin, email_key, applicant.phone))
    _refuse_crowded_domain(session, release.id, applicant.email, policy)
    code = entry_codes.new_code()
    token = secrets.token_urlsafe(32)
    reference = booking.new_reference(
        session, LotteryEntry.reference, f"{release.office.reference_prefix}-L"
    )
    entry = LotteryEntry(
        release=release,
        reference=reference,
        status=EntryStatus.UNVERIFIED,
        takes_place=False,
        language=request.language,
        given_name=applicant.given_name,
        family_name=applicant.family_name,
        iin=applicant.iin,
        passport_number=applicant.passport_number,
        email=applicant.email,
        email_key=email_key,
        email_domain=email_domain(applicant.email),
        phone=applicant.phone,
        details=request.details,
        preferences=[p.as_json() for p in request.preferences],
        accept_any=request.accept_any,
        wants_waitlist=request.wants_waitlist,
        code_hash=entry_codes.code_hash(policy.booking.secret, reference, code),
        code_expires_at=now + timedelta(minutes=policy.code_minutes),
        created_at=now,
    )
    entry.services = list(request.services)
    entry.tokens.append(
        LotteryEntryToken(token_hash=hash_secret(policy.booking.secret, token), created_at=now)
    )
    session.add(entry)
    session.flush()
    lottery_mail.queue_entry_email(session, entry, "code", now, code=code)
    return EntryPlaced(entry=entry, token=token, code=code)


def normalize_entry_reference(value: str) -> str:
    """Upper-case an entry reference as typed, with or without its dashes."""
    cleaned = re.sub(r"[\s\-]", "", value or "").upper()
    if len(cleaned) == 10 and cleaned[3] == "L":
        cleaned = f"{cleaned[:3]}-L-{cleaned[4:]}"
    return cleaned


def find_entry(
    session: SessionLike, reference: str, token: str, policy: LotteryPolicy
) -> LotteryEntry:
    """The entry a token opens; NotFound alike for a wrong token or reference."""
    normalized = normalize_entry_reference(reference)
    entry = (
        session.scalar(sa.select(LotteryEntry).where(LotteryEntry.reference == normalized))
        if ENTRY_REFERENCE_PATTERN.fullmatch(normalized)
        else None
    )
    if entry is not None and token and len(token) <= 200:
        wanted = hash_secret(policy.booking.secret, token)
        if any(secrets.compare_digest(t.token_hash, wanted) for t in entry.tokens):
            return entry
    raise NotFound(_("No lottery entry matches this reference and link."))


def issue_entry_token(
    session: SessionLike, entry: LotteryEntry, now: datetime, policy: LotteryPolicy
) -> str:
    """Another token for the entry's link (one per e-mail that carries a link)."""
    token = secrets.token_urlsafe(32)
    session.add(
        LotteryEntryToken(
            entry=entry, token_hash=hash_secret(policy.booking.secret, token), created_at=now
        )
    )
    session.flush()
    return token


def verify_entry(
    session: SessionLike, entry: LotteryEntry, code: str, now: datetime, policy: LotteryPolicy
) -> LotteryEntry:
    """Put the entry in the draw with the e-mailed code.

    A wrong code raises WrongCode after counting the attempt (the caller commits it); the
    last allowed wrong attempt ends the entry's time for a code. A person who has a place
    already (by IIN, e-mail or phone) is refused by the unique indexes, whichever of two
    entries made at once comes second.
    """
    release = lock_release(session, entry.release_id)
    session.refresh(entry)
    if entry.status != EntryStatus.UNVERIFIED:
        raise InvalidState(_("This entry is already in the draw."))
    if not release.is_open(now):
        raise EntriesClosed(_("This lottery does not take entries now."))
    if entry.is_code_expired(now):
        raise InvalidState(_("The time to enter the code has passed. Please enter again."), "code")
    if not entry_codes.code_matches(entry, code, policy.booking.secret):
        entry_codes.count_wrong_code(
            session,
            entry,
            now,
            policy.booking.code_max_attempts,
            pending=EntryStatus.UNVERIFIED,
            too_many=_("The code is wrong. Too many wrong codes: please enter again."),
        )
    # Counted again at the place's taking: entries made at once all passed `enter`.
    _refuse_crowded_domain(session, release.id, entry.email, policy)
    try:
        with session.begin_nested():
            changed = session.execute(
                sa.update(LotteryEntry)
                .where(LotteryEntry.id == entry.id, LotteryEntry.status == EntryStatus.UNVERIFIED)
                .values(status=EntryStatus.ENTERED, takes_place=True, entered_at=now)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        _refuse_duplicate(
            _places_taken(session, release.id, entry.iin, entry.email_key, entry.phone)
        )
        raise
    if rows_changed(changed) != 1:
        raise InvalidState(_("This entry is already in the draw."))
    session.refresh(entry)
    token = issue_entry_token(session, entry, now, policy)
    lottery_mail.queue_entry_email(session, entry, "entered", now, token=token)
    return entry


def resend_entry_code(
    session: SessionLike, entry: LotteryEntry, now: datetime, policy: LotteryPolicy
) -> None:
    """Send a new code for an entry, a limited number of times."""
    if entry.status != EntryStatus.UNVERIFIED or entry.is_code_expired(now):
        raise InvalidState(_("The time to enter the code has passed. Please enter again."))
    code = entry_codes.new_code()
    updated = session.execute(
        sa.update(LotteryEntry)
        .where(
            LotteryEntry.id == entry.id,
            LotteryEntry.status == EntryStatus.UNVERIFIED,
            LotteryEntry.code_sends < policy.booking.code_max_sends,
        )
        .values(
            code_sends=LotteryEntry.code_sends + 1,
            code_hash=entry_codes.code_hash(policy.booking.secret, entry.reference, code),
        )
        .execution_options(synchronize_session=False)
    )
    if rows_changed(updated) != 1:
        raise InvalidState(
            _("The code cannot be sent again. Check your spam folder, or enter again."), "code"
        )
    session.refresh(entry)
    lottery_mail.queue_entry_email(session, entry, "code", now, code=code)


def withdraw_entry(session: SessionLike, entry: LotteryEntry, now: datetime) -> LotteryEntry:
    """Take the entry out of the draw before it is drawn; the person may enter again."""
    release = lock_release(session, entry.release_id)
    if release.state not in UNDRAWN_STATES:
        raise InvalidState(_("The draw has been made: the entry can no longer be withdrawn."))
    changed = session.execute(
        sa.update(LotteryEntry)
        .where(
            LotteryEntry.id == entry.id,
            LotteryEntry.status.in_((EntryStatus.UNVERIFIED, EntryStatus.ENTERED)),
        )
        .values(status=EntryStatus.WITHDRAWN, takes_place=False, withdrawn_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(changed) != 1:
        raise InvalidState(_("This entry is not in the draw."))
    session.refresh(entry)
    return entry


def set_waitlist_wish(session: SessionLike, entry: LotteryEntry, wanted: bool) -> LotteryEntry:
    """Record whether the entrant wants to join the waiting list without a seat."""
    if entry.status in (EntryStatus.BOOKED, EntryStatus.WITHDRAWN):
        raise InvalidState(_("This entry does not need the waiting list."))
    entry.wants_waitlist = wanted
    session.flush()
    return entry


# The draw


@dataclass(frozen=True)
class Wish:
    """What an entrant asked for, as the planner reads it (and the draw log keeps it)."""

    entry_id: int
    slots_needed: int
    min_notice_hours: int
    preferences: tuple[Preference, ...]
    accept_any: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.entry_id,
            "slots": self.slots_needed,
            "notice_hours": self.min_notice_hours,
            "preferences": [p.as_json() for p in self.preferences],
            "accept_any": self.accept_any,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Wish:
        return cls(
            entry_id=int(value["id"]),
            slots_needed=int(value["slots"]),
            min_notice_hours=int(value["notice_hours"]),
            preferences=tuple(Preference.from_json(p) for p in value["preferences"]),
            accept_any=bool(value["accept_any"]),
        )


def draw_order(seed: str, entry_ids: Iterable[int]) -> list[int]:
    """The entries in the order a seed draws: each entry, by increasing id, gets the next
    number of `random.Random(seed)`, and the order is by those numbers.

    `random()` is the one sequence Python guarantees to stay the same across versions for
    the same integer seed (shuffling is not guaranteed to), so the order can be checked
    again on any later Python.
    """
    generator = random.Random(int(seed, 16))
    keys = {entry_id: generator.random() for entry_id in sorted(set(entry_ids))}
    return sorted(keys, key=lambda entry_id: (keys[entry_id], entry_id))


def plan_offers(
    order: Sequence[int],
    wishes: Mapping[int, Wish],
    seats: Sequence[FreeSeats],
    zone: ZoneInfo,
    now: datetime,
) -> list[tuple[int, datetime | None]]:
    """The start time each entrant gets, in draw order, from the free seats given: the first
    time (earliest first) that meets their first preference that can be met, else any free
    time if they accept one, else none. Each time given takes a seat in each of its slots
    before the next entrant's turn. Pure: the same arguments always give the same plan."""
    slots = sorted(seats, key=lambda s: s.starts_at)
    free = {s.slot_id: max(0, s.free) for s in slots}
    joined = [a.ends_at == b.starts_at for a, b in zip(slots, slots[1:], strict=False)]
    runs: dict[int, list[tuple[datetime, datetime, tuple[int, ...]]]] = {}

    def runs_of(needed: int) -> list[tuple[datetime, datetime, tuple[int, ...]]]:
        if needed not in runs:
            runs[needed] = [
                (
                    slots[i].starts_at,
                    slots[i].starts_at.astimezone(zone),
                    tuple(s.slot_id for s in slots[i : i + needed]),
                )
                for i in range(len(slots) - needed + 1)
                if all(joined[i : i + needed - 1])
            ]
        return runs[needed]

    plan: list[tuple[int, datetime | None]] = []
    for entry_id in order:
        wish = wishes[entry_id]
        earliest = now + timedelta(hours=wish.min_notice_hours) + MIN_CONFIRM_TIME
        candidates = [
            (start, local, ids)
            for start, local, ids in runs_of(wish.slots_needed)
            if start >= earliest and all(free[i] > 0 for i in ids)
        ]
        chosen = None
        for preference in wish.preferences:
            chosen = next((c for c in candidates if preference.allows(c[1])), None)
            if chosen is not None:
                break
        if chosen is None and wish.accept_any and candidates:
            chosen = candidates[0]
        if chosen is None:
            plan.append((entry_id, None))
            continue
        for slot_id in chosen[2]:
            free[slot_id] -= 1
        plan.append((entry_id, chosen[0]))
    return plan


def _wish(entry: LotteryEntry, office: Office) -> Wish:
    rules = VisitRules.for_services(entry.services)
    return Wish(
        entry_id=entry.id,
        slots_needed=rules.slots_needed(office.slot_minutes),
        min_notice_hours=int(rules.min_notice.total_seconds() // 3600),
        preferences=tuple(Preference.from_json(p) for p in entry.preferences),
        accept_any=entry.accept_any,
    )


def _seats(session: SessionLike, release: LotteryRelease, now: datetime) -> list[FreeSeats]:
    start, end = release_bounds(release)
    return free_seats_between(session, release.office, start, end, now)


def _seats_json(seats: Sequence[FreeSeats]) -> list[list[Any]]:
    return [[s.slot_id, s.starts_at.isoformat(), s.ends_at.isoformat(), s.free] for s in seats]


def _seats_from_json(rows: Sequence[Sequence[Any]]) -> list[FreeSeats]:
    return [
        FreeSeats(int(r[0]), datetime.fromisoformat(r[1]), datetime.fromisoformat(r[2]), int(r[3]))
        for r in rows
    ]


def _plan_json(plan: Sequence[tuple[int, datetime | None]]) -> list[list[Any]]:
    return [[entry_id, start.isoformat() if start else None] for entry_id, start in plan]


def _event(
    session: SessionLike,
    release: LotteryRelease,
    entry: LotteryEntry | None,
    kind: str,
    now: datetime,
    *,
    starts_at: datetime | None = None,
    appointment_id: int | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        LotteryEvent(
            release_id=release.id,
            entry_id=entry.id if entry is not None else None,
            at=now,
            kind=kind,
            starts_at=starts_at,
            appointment_id=appointment_id,
            detail=detail,
        )
    )


def offer_expiry(
    release: LotteryRelease, entry: LotteryEntry, start: datetime, now: datetime
) -> datetime:
    """When an offer of a visit starting at `start` ends: after the release's confirmation
    time, but no later than the services' notice before the visit."""
    notice = VisitRules.for_services(entry.services).min_notice
    return min(now + timedelta(hours=release.confirm_hours), start - notice)


def _offer(
    session: SessionLike,
    release: LotteryRelease,
    entry: LotteryEntry,
    start: datetime,
    now: datetime,
    policy: LotteryPolicy,
) -> bool:
    """Hold the seats of `start` for the entrant through the booking service and e-mail the
    offer; False (and the entry stays in line, or becomes ineligible) when it can't be held."""
    request = booking_request.BookingRequest(
        office=release.office,
        services=list(entry.services),
        starts_at=start,
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
                session,
                request,
                now,
                policy.booking,
                hold_expires_at=offer_expiry(release, entry, start, now),
            )
    except DuplicateBooking:
        session.execute(
            sa.update(LotteryEntry)
            .where(LotteryEntry.id == entry.id, LotteryEntry.status == EntryStatus.WAITING)
            .values(status=EntryStatus.INELIGIBLE, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        _event(session, release, entry, "refused", now, starts_at=start, detail="already booked")
        session.expire(entry)
        return False
    except SlotUnavailable as error:
        _event(session, release, entry, "refused", now, starts_at=start, detail=error.code)
        return False
    appointment = placed.appointment
    changed = session.execute(
        sa.update(LotteryEntry)
        .where(LotteryEntry.id == entry.id, LotteryEntry.status == EntryStatus.WAITING)
        .values(status=EntryStatus.OFFERED, appointment_id=appointment.id, offered_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(changed) != 1:  # the release's lock makes this impossible
        raise InvalidState(_("This entry is not waiting for a seat."))
    session.expire(entry)
    _event(
        session,
        release,
        entry,
        "offered",
        now,
        starts_at=appointment.starts_at,
        appointment_id=appointment.id,
    )
    token = issue_entry_token(session, entry, now, policy)
    lottery_mail.queue_entry_email(session, entry, "won", now, token=token)
    return True


def _waiting_entries(session: SessionLike, release_id: int) -> list[LotteryEntry]:
    return list(
        session.scalars(
            sa.select(LotteryEntry)
            .where(
                LotteryEntry.release_id == release_id, LotteryEntry.status == EntryStatus.WAITING
            )
            .order_by(LotteryEntry.draw_position)
        )
    )


def _serve_line(
    session: SessionLike, release: LotteryRelease, now: datetime, policy: LotteryPolicy
) -> int:
    """Offer the free seats of the release's days to the entrants still in line, in draw
    order, by their preferences; how many offers were made."""
    waiting = _waiting_entries(session, release.id)
    if not waiting:
        return 0
    office = release.office
    wishes = {entry.id: _wish(entry, office) for entry in waiting}
    plan = plan_offers(
        [entry.id for entry in waiting], wishes, _seats(session, release, now), office.zone, now
    )
    by_id = {entry.id: entry for entry in waiting}
    return sum(
        _offer(session, release, by_id[entry_id], start, now, policy)
        for entry_id, start in plan
        if start is not None
    )


@dataclass
class DrawResult:
    """What one draw did."""

    release_id: int
    seed: str
    entries: int = 0
    offered: int = 0
    waiting: int = 0


def draw(
    session: SessionLike,
    release_id: int,
    now: datetime,
    policy: LotteryPolicy,
    *,
    actor: User | None = None,
    seed: str | None = None,
) -> DrawResult | None:
    """Draw a release whose draw time has come; None when it is not due or was drawn (by
    another run of the draw: the conditional change of state lets only one through).

    The seed comes from `secrets` (tests may give one). The order, the seats read, every
    entrant's wishes and the plan are logged on the release; then each planned seat is held
    for its winner, who is e-mailed, and the others are told their place in line.
    """
    seed = seed or secrets.token_hex(16)
    changed = session.execute(
        sa.update(LotteryRelease)
        .where(
            LotteryRelease.id == release_id,
            LotteryRelease.state.in_(UNDRAWN_STATES),
            LotteryRelease.draw_at <= now,
        )
        .values(state=ReleaseState.DRAWN, seed=seed, drawn_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(changed) != 1:
        return None
    release = lock_release(session, release_id)
    office = release.office
    entries = list(
        session.scalars(
            sa.select(LotteryEntry)
            .where(
                LotteryEntry.release_id == release.id, LotteryEntry.status == EntryStatus.ENTERED
            )
            .order_by(LotteryEntry.id)
        )
    )
    wishes = {entry.id: _wish(entry, office) for entry in entries}
    order = draw_order(seed, wishes)
    if order:
        table = cast(sa.Table, LotteryEntry.__table__)
        session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("entry_id"), table.c.status == EntryStatus.ENTERED)
            .values(draw_position=sa.bindparam("position"), status=EntryStatus.WAITING),
            [{"entry_id": entry_id, "position": n} for n, entry_id in enumerate(order, 1)],
        )
        for entry in entries:
            session.expire(entry)
    seats = _seats(session, release, now)
    plan = plan_offers(order, wishes, seats, office.zone, now)
    release.draw_log = {
        "version": DRAW_LOG_VERSION,
        "seed": seed,
        "at": now.isoformat(),
        "zone": office.timezone,
        "entries": [wishes[entry_id].as_json() for entry_id in sorted(wishes)],
        "seats": _seats_json(seats),
        "order": order,
        "plan": _plan_json(plan),
    }
    session.flush()
    result = DrawResult(release_id=release.id, seed=seed, entries=len(entries))
    by_id = {entry.id: entry for entry in entries}
    for entry_id, start in plan:
        if start is not None:
            result.offered += _offer(session, release, by_id[entry_id], start, now, policy)
    # Seats a planned hold could not take (someone else's booking of another service came
    # first) go on down the line at once.
    result.offered += _serve_line(session, release, now, policy)
    waiting = _waiting_entries(session, release.id)
    result.waiting = len(waiting)
    for place, entry in enumerate(waiting, 1):
        lottery_mail.queue_entry_email(
            session,
            entry,
            "not_won",
            now,
            token=issue_entry_token(session, entry, now, policy),
            place=place,
        )
        # Those who asked wait on the office's list too: it offers them the release's days
        # that come back on sale after the release, in draw order.
        waitlist.join_from_lottery(
            session, entry, place, now, waitlist.WaitlistPolicy(booking=policy.booking)
        )
    audit.record(
        session,
        actor,
        now,
        "draw_lottery_release",
        release,
        office_id=release.office_id,
        after={
            "seed": seed,
            "entries": result.entries,
            "offered": result.offered,
            "waiting": result.waiting,
        },
    )
    _finish_if_done(session, release, now)
    return result


def draw_due(session: SessionLike, now: datetime, policy: LotteryPolicy) -> list[int]:
    """The ids of releases whose draw time has come and that are not drawn yet."""
    return list(
        session.scalars(
            sa.select(LotteryRelease.id)
            .where(LotteryRelease.state.in_(UNDRAWN_STATES), LotteryRelease.draw_at <= now)
            .order_by(LotteryRelease.draw_at, LotteryRelease.id)
        )
    )


def is_due_for_draw(release: LotteryRelease, now: datetime) -> bool:
    """Whether the release may be drawn now."""
    return release.state in UNDRAWN_STATES and release.draw_at <= now


# After the draw: confirming, declining, and the line moving on


def offer_status(entry: LotteryEntry, now: datetime) -> EntryStatus:
    """The entry's status as the entrant should see it: an offer past its time is lapsed."""
    if entry.status == EntryStatus.OFFERED:
        appointment = entry.appointment
        if appointment is None or not appointment.is_active or appointment.is_hold_expired(now):
            if appointment is not None and appointment.status == Status.CONFIRMED:
                return EntryStatus.BOOKED
            return EntryStatus.LAPSED
    return entry.status


def place_in_line(session: SessionLike, entry: LotteryEntry) -> int | None:
    """How many entrants still waiting come before this one, plus one; None if not in line."""
    if entry.status != EntryStatus.WAITING or entry.draw_position is None:
        return None
    before = session.scalar(
        sa.select(sa.func.count())
        .select_from(LotteryEntry)
        .where(
            LotteryEntry.release_id == entry.release_id,
            LotteryEntry.status == EntryStatus.WAITING,
            LotteryEntry.draw_position < entry.draw_position,
        )
    )
    return int(before or 0) + 1


def _decide(session: SessionLike, entry: LotteryEntry, new: EntryStatus, now: datetime) -> bool:
    changed = session.execute(
        sa.update(LotteryEntry)
        .where(LotteryEntry.id == entry.id, LotteryEntry.status == EntryStatus.OFFERED)
        .values(status=new, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(entry)
    return rows_changed(changed) == 1


def confirm_offer(
    session: SessionLike, entry: LotteryEntry, now: datetime, policy: LotteryPolicy
) -> Appointment:
    """Book the offered seat for the winner (their confirmation e-mail goes out).

    An offer past its time raises OfferLapsed, after marking it lapsed and offering its seat
    down the line (the caller commits that).
    """
    release = lock_release(session, entry.release_id)
    session.refresh(entry)
    if entry.status != EntryStatus.OFFERED or entry.appointment is None:
        raise InvalidState(_("There is no seat waiting for your confirmation."))
    appointment = entry.appointment
    try:
        booking.confirm_lottery_hold(session, appointment, now, policy.booking)
    except HoldExpired:
        if _decide(session, entry, EntryStatus.LAPSED, now):
            _event(session, release, entry, "lapsed", now, appointment_id=appointment.id)
        _advance_locked(session, release, now, policy)
        raise OfferLapsed(
            _("The time to confirm has passed: the seat has gone to the next person in line.")
        ) from None
    _decide(session, entry, EntryStatus.BOOKED, now)
    waitlist.leave_when_booked(session, release.office_id, entry.iin, now)
    _event(
        session,
        release,
        entry,
        "confirmed",
        now,
        starts_at=appointment.starts_at,
        appointment_id=appointment.id,
    )
    _finish_if_done(session, release, now)
    return appointment


def decline_offer(
    session: SessionLike, entry: LotteryEntry, now: datetime, policy: LotteryPolicy
) -> LotteryEntry:
    """Give the offered seat up: it goes to the next entrant in draw order at once."""
    release = lock_release(session, entry.release_id)
    session.refresh(entry)
    if entry.status != EntryStatus.OFFERED:
        raise InvalidState(_("There is no seat waiting for your confirmation."))
    appointment = entry.appointment
    if appointment is not None and appointment.is_active and not appointment.is_hold_expired(now):
        # Given back at once, not after the usual delay: the next in line takes it now.
        booking.cancel_appointment(
            session,
            appointment,
            "declined the lottery offer",
            now,
            replace(policy.booking, release_delay_minutes=0),
            enforce_cutoff=False,
            notify=False,
        )
    if _decide(session, entry, EntryStatus.DECLINED, now):
        _event(
            session,
            release,
            entry,
            "declined",
            now,
            appointment_id=appointment.id if appointment else None,
        )
    _advance_locked(session, release, now, policy)
    return entry


@dataclass
class AdvanceResult:
    """What one pass down the line did."""

    release_id: int
    lapsed: int = 0
    offered: int = 0
    finished: bool = False


def advance(
    session: SessionLike, release_id: int, now: datetime, policy: LotteryPolicy
) -> AdvanceResult | None:
    """Settle the offers of a drawn release (confirmed, declined, not confirmed in time) and
    offer the free seats to the next entrants in line; None if the release is not drawn."""
    release = lock_release(session, release_id)
    if release.state != ReleaseState.DRAWN:
        return None
    return _advance_locked(session, release, now, policy)


def _advance_locked(
    session: SessionLike, release: LotteryRelease, now: datetime, policy: LotteryPolicy
) -> AdvanceResult:
    result = AdvanceResult(release_id=release.id)
    if release.state != ReleaseState.DRAWN:
        return result
    release.advanced_at = now
    offered = session.scalars(
        sa.select(LotteryEntry)
        .where(LotteryEntry.release_id == release.id, LotteryEntry.status == EntryStatus.OFFERED)
        .order_by(LotteryEntry.draw_position)
    ).all()
    for entry in offered:
        appointment = entry.appointment
        seen = offer_status(entry, now)
        if seen == EntryStatus.BOOKED:
            _decide(session, entry, EntryStatus.BOOKED, now)
            waitlist.leave_when_booked(session, release.office_id, entry.iin, now)
        elif seen == EntryStatus.LAPSED:
            declined = appointment is not None and appointment.status == Status.CANCELLED
            new = EntryStatus.DECLINED if declined else EntryStatus.LAPSED
            if _decide(session, entry, new, now):
                result.lapsed += 1
                _event(
                    session,
                    release,
                    entry,
                    str(new),
                    now,
                    appointment_id=appointment.id if appointment else None,
                )
    if now >= release_bounds(release)[1]:
        for entry in _waiting_entries(session, release.id):
            session.execute(
                sa.update(LotteryEntry)
                .where(LotteryEntry.id == entry.id, LotteryEntry.status == EntryStatus.WAITING)
                .values(status=EntryStatus.NOT_SERVED, decided_at=now)
                .execution_options(synchronize_session=False)
            )
            session.expire(entry)
            _event(session, release, entry, "not_served", now)
    else:
        result.offered = _serve_line(session, release, now, policy)
    result.finished = _finish_if_done(session, release, now)
    return result


def _finish_if_done(session: SessionLike, release: LotteryRelease, now: datetime) -> bool:
    """Finish a drawn release nobody waits in any more: its days go back on ordinary sale."""
    pending = session.scalar(
        sa.select(LotteryEntry.id).where(
            LotteryEntry.release_id == release.id,
            LotteryEntry.status.in_((EntryStatus.WAITING, EntryStatus.OFFERED)),
        )
    )
    if pending is not None:
        return False
    changed = session.execute(
        sa.update(LotteryRelease)
        .where(LotteryRelease.id == release.id, LotteryRelease.state == ReleaseState.DRAWN)
        .values(state=ReleaseState.FINISHED, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(changed) != 1:
        return False
    session.refresh(release)
    _event(session, release, None, "finished", now)
    return True


def releases_to_advance(session: SessionLike) -> list[int]:
    """The ids of the drawn releases, for the scheduler's pass down the line."""
    return list(
        session.scalars(
            sa.select(LotteryRelease.id)
            .where(LotteryRelease.state == ReleaseState.DRAWN)
            .order_by(LotteryRelease.id)
        )
    )


# Checking a draw from its log


@dataclass(frozen=True)
class DrawCheck:
    """A draw run again from its logged seed, entries and seats, compared with the log and
    with what is stored."""

    order_matches: bool
    plan_matches: bool
    entries_match: bool
    positions_match: bool
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.order_matches and self.plan_matches and self.entries_match and self.positions_match
        )


def replay(log: Mapping[str, Any]) -> tuple[list[int], list[list[Any]]]:
    """The order and the plan that a logged draw gives when run again."""
    wishes = {wish.entry_id: wish for wish in (Wish.from_json(w) for w in log["entries"])}
    order = draw_order(log["seed"], wishes)
    plan = plan_offers(
        order,
        wishes,
        _seats_from_json(log["seats"]),
        ZoneInfo(log["zone"]),
        datetime.fromisoformat(log["at"]),
    )
    return order, _plan_json(plan)


def verify_draw(session: SessionLike, release: LotteryRelease) -> DrawCheck:
    """Run the release's draw again from its log and compare: the order from the seed, the
    plan from the order, the logged entries with the entries stored, and their positions."""
    log = release.draw_log
    if not log or release.seed is None:
        raise InvalidState(_("This lottery has not been drawn yet."))
    problems: list[str] = []
    order, plan = replay(log)
    order_matches = order == list(log["order"]) and log["seed"] == release.seed
    if not order_matches:
        problems.append(_("The seed does not give the logged order."))
    plan_matches = plan == [list(row) for row in log["plan"]]
    if not plan_matches:
        problems.append(_("The logged order and seats do not give the logged seats per person."))
    drawn = list(
        session.scalars(
            sa.select(LotteryEntry)
            .where(LotteryEntry.release_id == release.id, LotteryEntry.draw_position.is_not(None))
            .order_by(LotteryEntry.id)
        )
    )
    stored = [_wish(entry, release.office).as_json() for entry in drawn]
    entries_match = stored == list(log["entries"])
    if not entries_match:
        problems.append(_("The logged entries differ from the entries stored."))
    positions = {entry.id: entry.draw_position for entry in drawn}
    positions_match = positions == {entry_id: n for n, entry_id in enumerate(log["order"], 1)}
    if not positions_match:
        problems.append(_("The stored places differ from the logged order."))
    return DrawCheck(order_matches, plan_matches, entries_match, positions_match, problems)


def events_query(release_id: int) -> sa.Select[tuple[LotteryEvent, LotteryEntry]]:
    """The release's events after the draw, oldest first, each with its entry (None for the
    release's own events: the outer join's None is not in the type)."""
    return (
        sa.select(LotteryEvent, LotteryEntry)
        .outerjoin(LotteryEntry, LotteryEntry.id == LotteryEvent.entry_id)
        .where(LotteryEvent.release_id == release_id)
        .order_by(LotteryEvent.id)
    )


# The retention purge


def purge_entries(session: SessionLike, now: datetime, cutoff: datetime) -> int:
    """Erase the personal data of entries in releases whose days ended (or that were
    cancelled) before `cutoff`, with their links and e-mails; how many were erased.

    The entry keeps its release, services, status and place, so the draw log still checks.
    """
    over = [
        release
        for release in session.scalars(
            sa.select(LotteryRelease).where(
                sa.or_(
                    LotteryRelease.state == ReleaseState.CANCELLED,
                    LotteryRelease.last_day < cutoff.date(),
                )
            )
        )
        if (release.cancelled_at or release_bounds(release)[1]) < cutoff
    ]
    if not over:
        return 0
    ids = session.scalars(
        sa.select(LotteryEntry.id).where(
            LotteryEntry.release_id.in_([r.id for r in over]),
            LotteryEntry.personal_data_purged_at.is_(None),
        )
    ).all()
    if not ids:
        return 0
    erased = ""  # what the retention purge leaves in personal text columns
    session.execute(
        sa.update(LotteryEntry)
        .where(LotteryEntry.id.in_(ids))
        .values(
            given_name=erased,
            family_name=erased,
            iin=erased,
            passport_number=erased,
            email=erased,
            email_key=erased,
            phone=erased,
            details={},
            takes_place=False,
            personal_data_purged_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(sa.delete(LotteryEntryToken).where(LotteryEntryToken.entry_id.in_(ids)))
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.lottery_entry_id.in_(ids))
        .values(
            recipient=erased,
            subject=erased,
            text_body=erased,
            html_body=None,
            attachments=[],
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, LotteryEntry | OutboxMessage):
            session.expire(loaded)
    return len(ids)
