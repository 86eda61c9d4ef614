"""Fair access: how much one person, one address book or one office's rush may hold at once.

Checked on every hold, pages and API alike, after the visit's time is known to be free and
before anything is written. Counts are read in one statement from partial indexes that hold
only live visits, so the check costs the same whatever the history. On PostgreSQL the
identities being counted are locked for the rest of the transaction (advisory locks, in a
fixed order), so two concurrent holds of the same person can't both slip under a limit;
SQLite runs one writing transaction at a time anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import gettext as _
from publicsuffixlist import PublicSuffixList

from consular.database import SessionLike
from consular.models import Appointment, AppointmentService, Office, ServiceType
from consular.models.appointment import is_live_visit
from consular.models.base import UTCDateTime
from consular.services.errors import DomainError
from consular.services.timefmt import local_date_text

# Google delivers "a.b.c+tag@gmail.com" to "abc@gmail.com": dots don't count there.
DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}


class QuotaReached(DomainError):
    """A limit on active holds and bookings would be passed (409 in the API)."""

    code = "quota_reached"


class OfficeBusy(DomainError):
    """More holds at the office in the last minute than it takes (409 in the API)."""

    code = "office_busy"


class TooSoonAgain(DomainError):
    """The person booked this service recently, and the service allows one booking in N
    days (409 in the API)."""

    code = "booked_recently"


@dataclass(frozen=True)
class Quotas:
    """Limits on live holds and bookings (0: no limit), from the configuration."""

    per_iin: int = 3
    per_email: int = 5
    per_phone: int = 5
    per_private_domain: int = 5
    per_office_minute: int = 0
    public_domains: frozenset[str] = frozenset()


def quotas_from_config(config: Mapping[str, Any]) -> Quotas:
    return Quotas(
        per_iin=config["QUOTA_PER_IIN"],
        per_email=config["QUOTA_PER_EMAIL"],
        per_phone=config["QUOTA_PER_PHONE"],
        per_private_domain=config["QUOTA_PER_PRIVATE_DOMAIN"],
        per_office_minute=config["QUOTA_HOLDS_PER_OFFICE_MINUTE"],
        public_domains=frozenset(d.lower() for d in config["PUBLIC_EMAIL_DOMAINS"]),
    )


def normalized_email(address: str) -> str:
    """The mailbox an address reaches, for counting: lower case, without a `+tag`, and
    without dots where the provider ignores them (Gmail)."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at or not local:
        return address.strip().lower()
    domain = DOMAIN_ALIASES.get(domain, domain)
    local = local.split("+", 1)[0] or local
    if domain in DOTLESS_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled with the package: nothing is fetched


def full_email_domain(address: str) -> str:
    """The domain of an address as written, lower case, without a trailing dot."""
    domain = address.strip().lower().rpartition("@")[2].rstrip(".")
    return DOMAIN_ALIASES.get(domain, domain)


def registrable_domain(domain: str) -> str:
    """The domain one registers that a domain belongs to (mail.example.co.kr: example.co.kr),
    by the Public Suffix List; a provider's aliases folded."""
    registrable = _suffixes().privatesuffix(domain) or domain
    return DOMAIN_ALIASES.get(registrable, registrable)


def email_domain(address: str) -> str:
    """The registrable domain of an address, as the quotas count it: every subdomain of a
    wildcard catch-all (x.bot.example, y.bot.example) counts as its one domain."""
    return registrable_domain(full_email_domain(address))


def refuse_crowded_domain(
    session: SessionLike, email: str, quotas: Quotas, places_taken: Callable[[str], int]
) -> None:
    """Raise QuotaReached when a private domain already has its share of places in a lottery
    or a waiting list (`places_taken` counts them): one catch-all domain can't enter a
    thousand made-up people. Locked on PostgreSQL, so two entries at once are counted in
    turn."""
    domain = email_domain(email)
    if not quotas.per_private_domain or domain in quotas.public_domains:
        return
    _lock_identities(session, [f"domain:{domain}"])
    if places_taken(domain) >= quotas.per_private_domain:
        raise QuotaReached(
            _(
                "Too many entries use addresses at %(domain)s. Please use your own personal "
                "email address.",
                domain=domain,
            ),
            "applicant.email",
        )


@lru_cache(maxsize=1)
def _counts_query() -> sa.Select:
    """Live holds and bookings sharing the person's IIN (confirmed ones, and holds made with
    the same e-mail: someone who only knows an IIN can't lock its owner out), e-mail, phone
    or private domain, and the office's holds of the last minute."""
    key: sa.BindParameter[str] = sa.bindparam("email_key")
    confirmed = Appointment.confirmed_at.is_not(None)

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    iin_match = Appointment.iin == sa.bindparam("iin")
    email_match = Appointment.email_key == key
    phone_match = Appointment.phone == sa.bindparam("phone")
    domain_match = Appointment.email_domain == sa.bindparam("domain")
    office_minute = (
        sa.select(sa.func.count())
        .where(
            Appointment.office_id == sa.bindparam("office_id"),
            Appointment.created_at > sa.bindparam("minute_ago", type_=UTCDateTime),
        )
        .scalar_subquery()
    )
    return sa.select(
        count(sa.and_(iin_match, sa.or_(confirmed, email_match))).label("iin"),
        count(email_match).label("email"),
        count(phone_match).label("phone"),
        count(domain_match).label("domain"),
        office_minute.label("office_minute"),
    ).where(
        is_live_visit(),
        Appointment.ends_at > sa.bindparam("now", type_=UTCDateTime),
        sa.or_(iin_match, email_match, phone_match, domain_match),
    )


def _lock_identities(session: SessionLike, keys: Collection[str]) -> None:
    """Hold PostgreSQL advisory locks on these identities until the transaction ends, taken
    in one order so that two transactions never wait on each other in a circle."""
    if session.get_bind().dialect.name != "postgresql" or not keys:
        return
    numbers = sorted(
        int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        for key in set(keys)
    )
    session.execute(sa.select(*(sa.func.pg_advisory_xact_lock(n) for n in numbers)))


def check_quotas(
    session: SessionLike,
    office: Office,
    *,
    iin: str,
    email: str,
    phone: str,
    now: datetime,
    quotas: Quotas,
) -> None:
    """Raise QuotaReached or OfficeBusy when one more hold would pass a limit."""
    key = normalized_email(email)
    domain = email_domain(email)
    private_domain = domain if domain not in quotas.public_domains else None
    _lock_identities(
        session,
        [f"iin:{iin}", f"email:{key}", f"phone:{phone}"]
        + ([f"domain:{private_domain}"] if private_domain and quotas.per_private_domain else []),
    )
    counts = session.execute(
        _counts_query(),
        {
            "iin": iin,
            "email_key": key,
            "phone": phone,
            # Public providers' domains are never counted: NULL matches nothing.
            "domain": private_domain,
            "office_id": office.id,
            "minute_ago": now - timedelta(minutes=1),
            "now": now,
        },
    ).one()
    if quotas.per_office_minute and counts.office_minute >= quotas.per_office_minute:
        raise OfficeBusy(
            _("Many people are booking at this office right now. Please try again in a minute.")
        )
    if quotas.per_iin and counts.iin >= quotas.per_iin:
        raise QuotaReached(
            _(
                "This IIN already has %(count)d active bookings. Cancel one before booking "
                "another.",
                count=counts.iin,
            ),
            "applicant.iin",
        )
    if quotas.per_email and counts.email >= quotas.per_email:
        raise QuotaReached(
            _(
                "This email address already has %(count)d active bookings or holds. Cancel "
                "one, or use another address.",
                count=counts.email,
            ),
            "applicant.email",
        )
    if quotas.per_phone and counts.phone >= quotas.per_phone:
        raise QuotaReached(
            _(
                "This phone number already has %(count)d active bookings or holds. Cancel one "
                "before booking another.",
                count=counts.phone,
            ),
            "applicant.phone",
        )
    if private_domain and quotas.per_private_domain and counts.domain >= quotas.per_private_domain:
        raise QuotaReached(
            _(
                "Too many active bookings use addresses at %(domain)s. Please use your own "
                "personal email address.",
                domain=private_domain,
            ),
            "applicant.email",
        )


@lru_cache(maxsize=1)
def _booked_recently_query() -> sa.Select:
    return (
        sa.select(AppointmentService.service_type_id, sa.func.max(Appointment.created_at))
        .join(Appointment, Appointment.id == AppointmentService.appointment_id)
        .where(
            Appointment.iin == sa.bindparam("iin"),
            Appointment.confirmed_at.is_not(None),
            AppointmentService.service_type_id.in_(
                sa.bindparam("service_type_ids", expanding=True)
            ),
            Appointment.created_at > sa.bindparam("since", type_=UTCDateTime),
        )
        .group_by(AppointmentService.service_type_id)
    )


def check_booking_window(
    session: SessionLike, office: Office, iin: str, services: list[ServiceType], now: datetime
) -> None:
    """Raise TooSoonAgain when a service allows one booking per IIN in N days and this IIN
    booked it within them. Every booking counts, cancelled and missed ones too, so that
    cancelling and booking again gains nothing."""
    windows = {s.id: s.iin_window_days for s in services if s.iin_window_days}
    if not windows:
        return
    since = now - timedelta(days=max(windows.values()))
    rows = session.execute(
        _booked_recently_query(),
        {"iin": iin, "service_type_ids": list(windows), "since": since},
    ).all()
    for service_type_id, booked_at in rows:
        days = windows[service_type_id]
        if booked_at > now - timedelta(days=days):
            service = next(s for s in services if s.id == service_type_id)
            locale = str(get_locale() or "en")
            raise TooSoonAgain(
                _(
                    "%(service)s can be booked once in %(days)d days for each IIN, and this IIN "
                    "booked it on %(date)s. Reschedule that booking instead, or book again "
                    "from %(again)s.",
                    service=service.display_name(locale),
                    days=days,
                    date=local_date_text(booked_at, office.zone, locale),
                    again=local_date_text(booked_at + timedelta(days=days), office.zone, locale),
                ),
                "services",
            )
