"""The review of suspicious bookings: where each hold came from, the clusters of bookings
that share it, and the bulk cancellation of a cluster.

A hold records its origin (`record_origin`) in its own transaction. The review reads the
holds of a period at the offices the reader may see and groups them by each signal: the
client's network, a private email domain, a phone number, a device fingerprint, and a
journey faster than a person can book. A group of two or more bookings, one at least still
active, is a cluster. Nothing here decides that a booking is a bot's: staff read the
evidence, and an administrator may cancel a cluster's bookings through the booking
service's cancel, each citizen emailed in their own language, in one audited action.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import LazyString, force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import InstrumentedAttribute

from consular.clients import Client
from consular.database import SessionLike, rows_changed
from consular.models import Appointment, AppointmentOrigin, AuditEntry, Status, User
from consular.models.i18n import FALLBACK_LANGUAGE, LANGUAGES
from consular.services import booking, fair_access, notifications
from consular.services.audit import record
from consular.services.errors import InvalidState, NotFound, ValidationFailed

# A cluster is at least this many bookings: one booking alone shares nothing.
MIN_CLUSTER_SIZE = 2
# The page lists at most this many clusters, and this many bookings of a cluster.
MAX_CLUSTERS = 100
MAX_MEMBERS = 1000
MESSAGE_MAX_LENGTH = 1000
FINGERPRINT_MAX_LENGTH = 512
AUDIT_ACTION = "cancel_suspicious"
# The one value the bookings made too fast share.
FAST = "fast"

_PRINTABLE = re.compile(r"[^\x21-\x7e]")


class Signal(StrEnum):
    """What the bookings of a cluster share."""

    NETWORK = "network"
    DOMAIN = "domain"
    PHONE = "phone"
    FINGERPRINT = "fingerprint"
    SPEED = "speed"


SIGNAL_LABELS: dict[Signal, LazyString] = {
    Signal.NETWORK: _l("The same network"),
    Signal.DOMAIN: _l("The same private email domain"),
    Signal.PHONE: _l("The same phone number"),
    Signal.FINGERPRINT: _l("The same device"),
    Signal.SPEED: _l("Booked implausibly fast"),
}


# Where a hold came from


def email_domain(email: str) -> str:
    """The domain of an email address as written (lower case, a provider's aliases folded)."""
    return fair_access.full_email_domain(email)


def base_domain(domain: str) -> str:
    """The registrable domain a domain belongs to (mail.example.co.kr: example.co.kr), so that
    a catch-all's sub-domains count as one: the one the quotas count."""
    return fair_access.registrable_domain(domain)


def is_public_email_domain(domain: str, public_domains: Collection[str]) -> bool:
    """Whether the domain is one of the public email providers (PUBLIC_EMAIL_DOMAINS)."""
    return domain in public_domains


def keyed_hash(secret: str, purpose: str, value: str) -> str:
    """A keyed hash of a value, so that the value itself is never stored."""
    return hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def reported_fingerprint(value: object) -> str | None:
    """The device fingerprint as the client reported it, or None if it reported none usable."""
    if not isinstance(value, str):
        return None
    cleaned = _PRINTABLE.sub("", value)[:FINGERPRINT_MAX_LENGTH]
    return cleaned or None


def record_origin(
    session: SessionLike,
    appointment: Appointment,
    client: Client,
    *,
    fingerprint: str | None,
    seconds: float | None,
) -> AppointmentOrigin:
    """Record where a hold just placed came from, in the hold's transaction.

    `fingerprint` is what the proof-of-work widget reported (None if nothing), `seconds` the
    time from the first page of the journey (or the API's challenge) to the hold, if known.
    """
    config = current_app.config
    secret = config["SECRET_KEY"]
    domain = email_domain(appointment.email)
    reported = reported_fingerprint(fingerprint)
    origin = AppointmentOrigin(
        appointment_id=appointment.id,
        recorded_at=appointment.created_at,
        network=client.network[:64],
        email_domain=domain[:254],
        email_base_domain=base_domain(domain)[:254],
        is_public_domain=is_public_email_domain(domain, config["PUBLIC_EMAIL_DOMAINS"]),
        fingerprint=keyed_hash(secret, "fingerprint", reported) if reported else None,
        seconds=(
            math.floor(seconds)
            if seconds is not None and math.isfinite(seconds) and seconds >= 0
            else None
        ),
        user_agent_hash=keyed_hash(secret, "user-agent", client.user_agent),
    )
    session.add(origin)
    session.flush()
    return origin


def erase_origins(session: SessionLike, appointment_ids: Sequence[int]) -> int:
    """Delete the origins of appointments whose personal data goes, and take their references
    out of the review's audit entries that name them; return how many origins went."""
    origin = AppointmentOrigin
    entry_ids = session.scalars(
        sa.select(origin.review_audit_entry_id)
        .where(
            origin.appointment_id.in_(appointment_ids), origin.review_audit_entry_id.is_not(None)
        )
        .distinct()
    ).all()
    if entry_ids:
        references = set(
            session.scalars(
                sa.select(Appointment.reference).where(Appointment.id.in_(appointment_ids))
            )
        )
        for entry in session.scalars(sa.select(AuditEntry).where(AuditEntry.id.in_(entry_ids))):
            after = dict(entry.after or {})
            listed = list(after.get("references") or [])
            kept = [reference for reference in listed if reference not in references]
            after["references"] = kept
            after["erased"] = int(after.get("erased") or 0) + len(listed) - len(kept)
            entry.after = after
    deleted = session.execute(
        sa.delete(origin)
        .where(origin.appointment_id.in_(appointment_ids))
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    return rows_changed(deleted)


# Clusters


@dataclass(frozen=True)
class ReviewSettings:
    """The review's settings, read from the app's configuration by the caller."""

    secret: str
    public_domains: frozenset[str]
    fast_seconds: int


def settings_from_config(config: Mapping[str, Any]) -> ReviewSettings:
    """The review settings of an app's configuration."""
    return ReviewSettings(
        secret=config["SECRET_KEY"],
        public_domains=frozenset(config["PUBLIC_EMAIL_DOMAINS"]),
        fast_seconds=config["REVIEW_FAST_SECONDS"],
    )


@dataclass(frozen=True)
class ReviewScope:
    """Which bookings the review reads: those held in [since, until) at these offices."""

    office_ids: tuple[int, ...]
    since: datetime
    until: datetime


@dataclass(frozen=True)
class Cluster:
    """Bookings that share one signal's value, with the evidence."""

    signal: Signal
    value: str
    key: str
    bookings: int
    active: int
    first_at: datetime
    last_at: datetime
    networks: int
    user_agents: int
    office_ids: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        """What the bookings share, in the reader's language."""
        return str(SIGNAL_LABELS[self.signal])

    @property
    def shown_value(self) -> str:
        """The shared value as the page may show it: a phone number and a device masked."""
        if self.signal == Signal.PHONE:
            return masked_phone(self.value)
        if self.signal == Signal.FINGERPRINT:
            return self.value[:10]
        return self.value


@dataclass(frozen=True)
class Member:
    """One booking of a cluster, as the review lists it (name and email masked)."""

    appointment_id: int
    reference: str
    office_id: int
    recorded_at: datetime
    starts_at: datetime
    status: str
    is_active: bool
    masked_name: str
    masked_email: str
    network: str
    seconds: int | None
    language: str


def masked_name(given_name: str, family_name: str) -> str:
    """A name with the first letter of each part shown, for lists."""
    return " ".join(
        f"{part[0]}{'•' * min(len(part) - 1, 6)}" for part in (given_name, family_name) if part
    )


def masked_email(email: str) -> str:
    """An email address with its local part hidden but its first letter; the domain shows."""
    local, _at, domain = email.rpartition("@")
    if not local:
        return "•••"
    return f"{local[0]}•••@{domain}"


def masked_phone(phone: str) -> str:
    """A phone number with all but its last 4 digits hidden."""
    return "•" * max(len(phone) - 4, 0) + phone[-4:]


def cluster_key(secret: str, signal: Signal, value: str) -> str:
    """An opaque name of a cluster for its page's address (no phone number in a URL)."""
    return keyed_hash(secret, f"review-{signal}", value)[:24]


def _is_active(now: datetime) -> sa.ColumnElement[bool]:
    """SQL condition: the booking can still be cancelled (active, and its time is ahead)."""
    return sa.and_(booking.active_condition(now), Appointment.starts_at > now)


def _signal(
    signal: Signal, settings: ReviewSettings
) -> tuple[InstrumentedAttribute[Any] | None, list[sa.ColumnElement[bool]]]:
    """The value a signal groups by (None: all such bookings are one group), and which
    bookings have one."""
    origin = AppointmentOrigin
    if signal == Signal.NETWORK:
        return origin.network, []
    if signal == Signal.DOMAIN:
        public = sorted(settings.public_domains)
        # Public providers never cluster, whether they were one when the hold was made or now.
        return origin.email_base_domain, [
            origin.is_public_domain.is_(False),
            origin.email_domain.not_in(public),
            origin.email_base_domain != "",
        ]
    if signal == Signal.PHONE:
        return Appointment.phone, [Appointment.phone != ""]
    if signal == Signal.FINGERPRINT:
        return origin.fingerprint, [origin.fingerprint.is_not(None)]
    return None, [origin.seconds.is_not(None), origin.seconds < settings.fast_seconds]


def _in_scope(scope: ReviewScope) -> list[sa.ColumnElement[bool]]:
    return [
        AppointmentOrigin.recorded_at >= scope.since,
        AppointmentOrigin.recorded_at < scope.until,
        Appointment.office_id.in_(scope.office_ids),
    ]


def _signal_clusters(
    session: SessionLike,
    scope: ReviewScope,
    signal: Signal,
    settings: ReviewSettings,
    now: datetime,
    *,
    limit: int | None,
) -> list[Cluster]:
    value, has_signal = _signal(signal, settings)
    origin = AppointmentOrigin
    count = sa.func.count()
    active = sa.func.coalesce(sa.func.sum(sa.case((_is_active(now), 1), else_=0)), 0)
    columns = [
        count.label("bookings"),
        active.label("active"),
        sa.func.min(origin.recorded_at).label("first_at"),
        sa.func.max(origin.recorded_at).label("last_at"),
        sa.func.count(sa.distinct(origin.network)).label("networks"),
        sa.func.count(sa.distinct(origin.user_agent_hash)).label("user_agents"),
    ]
    conditions = [*_in_scope(scope), *has_signal]
    if value is None:
        query = sa.select(*columns)
    else:
        query = sa.select(value.label("value"), *columns).group_by(value)
    query = query.select_from(origin).join(Appointment, Appointment.id == origin.appointment_id)
    query = query.where(*conditions)
    if value is not None:
        query = query.having(count >= MIN_CLUSTER_SIZE, active >= 1).order_by(
            count.desc(), sa.func.max(origin.recorded_at).desc()
        )
        if limit is not None:
            query = query.limit(limit)
    rows = [
        (str(row.value) if value is not None else FAST, row)
        for row in session.execute(query)
        if row.bookings >= MIN_CLUSTER_SIZE and row.active >= 1
    ]
    if not rows:
        return []
    offices: dict[str, set[int]] = {}
    if value is None:
        offices[FAST] = set(
            session.scalars(
                sa.select(Appointment.office_id)
                .select_from(origin)
                .join(Appointment, Appointment.id == origin.appointment_id)
                .where(*conditions)
                .distinct()
            )
        )
    else:
        for shared, office_id in session.execute(
            sa.select(value, Appointment.office_id)
            .select_from(origin)
            .join(Appointment, Appointment.id == origin.appointment_id)
            .where(*conditions, value.in_([shared for shared, _row in rows]))
            .distinct()
        ):
            offices.setdefault(str(shared), set()).add(office_id)
    return [
        Cluster(
            signal=signal,
            value=shared,
            key=cluster_key(settings.secret, signal, shared),
            bookings=int(row.bookings),
            active=int(row.active),
            first_at=row.first_at,
            last_at=row.last_at,
            networks=int(row.networks),
            user_agents=int(row.user_agents),
            office_ids=tuple(sorted(offices.get(shared, ()))),
        )
        for shared, row in rows
    ]


def find_clusters(
    session: SessionLike, scope: ReviewScope, settings: ReviewSettings, now: datetime
) -> list[Cluster]:
    """The clusters of the scope's bookings by every signal, the largest first."""
    if not scope.office_ids:
        return []
    clusters = [
        cluster
        for signal in Signal
        for cluster in _signal_clusters(session, scope, signal, settings, now, limit=MAX_CLUSTERS)
    ]
    clusters.sort(key=lambda c: (-c.bookings, -c.last_at.timestamp(), c.signal, c.key))
    return clusters[:MAX_CLUSTERS]


def find_cluster(
    session: SessionLike,
    scope: ReviewScope,
    signal: Signal,
    key: str,
    settings: ReviewSettings,
    now: datetime,
) -> Cluster:
    """The scope's cluster of this signal with this key, or NotFound."""
    if scope.office_ids:
        for cluster in _signal_clusters(session, scope, signal, settings, now, limit=None):
            if hmac.compare_digest(cluster.key, key):
                return cluster
    raise NotFound(_("There is no such cluster in this period and these offices."))


def _members_query(
    scope: ReviewScope, cluster: Cluster, settings: ReviewSettings
) -> sa.Select[Any]:
    value, has_signal = _signal(cluster.signal, settings)
    conditions = [*_in_scope(scope), *has_signal]
    if value is not None:
        conditions.append(value == cluster.value)
    return (
        sa.select(Appointment, AppointmentOrigin)
        .join(AppointmentOrigin, AppointmentOrigin.appointment_id == Appointment.id)
        .where(*conditions)
        .order_by(AppointmentOrigin.recorded_at, Appointment.id)
    )


def can_be_cancelled(appointment: Appointment, now: datetime) -> bool:
    """Whether the review may cancel the booking: active, and its time still ahead."""
    return (
        appointment.status == Status.CONFIRMED
        or (appointment.status == Status.HELD and not appointment.is_hold_expired(now))
    ) and appointment.starts_at > now


def cluster_members(
    session: SessionLike,
    scope: ReviewScope,
    cluster: Cluster,
    settings: ReviewSettings,
    now: datetime,
) -> list[Member]:
    """The cluster's bookings, oldest hold first (at most MAX_MEMBERS)."""
    rows = session.execute(_members_query(scope, cluster, settings).limit(MAX_MEMBERS)).all()
    return [
        Member(
            appointment_id=appointment.id,
            reference=appointment.reference,
            office_id=appointment.office_id,
            recorded_at=origin.recorded_at,
            starts_at=appointment.starts_at,
            status=str(booking.effective_status(appointment, now)),
            is_active=can_be_cancelled(appointment, now),
            masked_name=masked_name(appointment.given_name, appointment.family_name),
            masked_email=masked_email(appointment.email),
            network=origin.network,
            seconds=origin.seconds,
            language=appointment.language,
        )
        for appointment, origin in rows
    ]


# Cancelling a cluster


def default_message(language: str) -> str:
    """The message to the citizens of a cancelled cluster, as the form offers it first."""
    with force_locale(language):
        return _(
            "We have cancelled this appointment because it was made together with other "
            "bookings in a way that points to an automated booking program or a reseller. "
            "Booking a consular appointment is free, and each person books for themselves "
            "on this website. If you made this booking yourself, please accept our "
            "apologies and book a new time with the link below; the office can also help you "
            "by phone."
        )


def clean_messages(messages: Mapping[str, str]) -> dict[str, str]:
    """The message in each language, or ValidationFailed naming the ones that are missing."""
    cleaned = {language: (messages.get(language) or "").strip() for language in LANGUAGES}
    errors: dict[str, list[str]] = {}
    for language, text in cleaned.items():
        if not text:
            errors[f"message_{language}"] = [_("Write the message in this language.")]
        elif len(text) > MESSAGE_MAX_LENGTH:
            errors[f"message_{language}"] = [
                _("Keep the message under %(count)d characters.", count=MESSAGE_MAX_LENGTH)
            ]
    if errors:
        raise ValidationFailed(errors)
    return cleaned


@dataclass
class BulkCancellation:
    """What a bulk cancellation did."""

    cancelled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    audit_entry: AuditEntry | None = None


def cancel_cluster(
    session: SessionLike,
    scope: ReviewScope,
    cluster: Cluster,
    references: Collection[str],
    messages: Mapping[str, str],
    actor: User,
    now: datetime,
    settings: ReviewSettings,
    policy: booking.BookingPolicy,
) -> BulkCancellation:
    """Cancel the selected bookings of a cluster and email each citizen in their language.

    Only bookings of the cluster (in the scope) that are still active are cancelled, each
    through the booking service's cancel (their seats come back after the release delay);
    the others selected are skipped. One audit entry lists the references cancelled.
    """
    texts = clean_messages(messages)
    wanted = {booking.normalize_reference(reference) for reference in references}
    if not wanted:
        raise ValidationFailed({"reference": [_("Select at least one booking to cancel.")]})
    result = BulkCancellation()
    chosen = session.execute(
        _members_query(scope, cluster, settings).where(Appointment.reference.in_(sorted(wanted)))
    ).all()
    found = set()
    for appointment, _origin in sorted(chosen, key=lambda row: row[0].id):
        found.add(appointment.reference)
        if not can_be_cancelled(appointment, now):
            result.skipped.append(appointment.reference)
            continue
        message = texts.get(appointment.language) or texts[FALLBACK_LANGUAGE]
        was_confirmed = appointment.status == Status.CONFIRMED
        try:
            booking.cancel_appointment(
                session, appointment, message, now, policy, enforce_cutoff=False, notify=False
            )
        except InvalidState:  # cancelled or expired meanwhile
            result.skipped.append(appointment.reference)
            continue
        notifications.queue_review_cancellation_email(
            session, appointment, message, now, with_calendar=was_confirmed
        )
        result.cancelled.append(appointment.reference)
    result.skipped.extend(sorted(wanted - found))
    if not result.cancelled:
        raise InvalidState(_("None of the selected bookings can be cancelled any more."))
    cancelled = [row[0] for row in chosen if row[0].reference in set(result.cancelled)]
    office_ids = {appointment.office_id for appointment in cancelled}
    result.audit_entry = record(
        session,
        actor,
        now,
        AUDIT_ACTION,
        cluster,
        office_id=office_ids.pop() if len(office_ids) == 1 else None,
        after={
            "signal": str(cluster.signal),
            "shared": cluster.shown_value,
            "references": result.cancelled,
            "skipped": len(result.skipped),
            "messages": texts,
        },
    )
    session.flush()
    session.execute(
        sa.update(AppointmentOrigin)
        .where(AppointmentOrigin.appointment_id.in_([a.id for a in cancelled]))
        .values(review_audit_entry_id=result.audit_entry.id)
        .execution_options(synchronize_session=False)
    )
    return result
