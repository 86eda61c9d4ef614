"""The review of suspicious bookings: where each hold came from, clusters of the bookings that
share a signal (two at least, one still active, in the scope's offices and period), and the
bulk cancellation of a cluster's selected bookings, each citizen emailed in their language,
audited once, and erased with the personal data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from consular.clients import Client
from consular.extensions import db
from consular.models import (
    Appointment,
    AppointmentOrigin,
    AuditEntry,
    OutboxMessage,
    Role,
    Status,
    User,
)
from consular.services import booking, email_texts, suspicion
from consular.services.errors import InvalidState, NotFound, ValidationFailed
from consular.services.passwords import hash_password
from consular.services.retention import purge_personal_data
from consular.services.suspicion import Signal
from tests.conftest import SECRET, booking_body

POLICY = booking.BookingPolicy(secret=SECRET)
MONDAY = datetime(2026, 11, 30, tzinfo=UTC).date()
SLOW = 120.0  # seconds: a person's journey


def visit_starts(office, clock) -> Iterator[datetime]:
    """Every start time of the office's weekday mornings from Monday 30 November on, once,
    skipping those too soon to book at the clock's time."""
    day = MONDAY
    while True:
        if day.weekday() < 5:
            moment = datetime.combine(day, time(9), tzinfo=office.zone)
            while moment.time() < time(12, 30):
                if moment > clock() + timedelta(hours=3):
                    yield moment
                moment += timedelta(minutes=15)
        day += timedelta(days=1)


@dataclass
class Holds:
    """Places holds as citizens would, each with an origin; every detail differs unless told."""

    offices: dict[str, Any]
    service: Any
    clock: Any
    iins: Iterator[str]
    starts: dict[str, Iterator[datetime]]
    number: int = 0

    def __call__(
        self,
        office: str = "seoul",
        *,
        network: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        fingerprint: str | None = None,
        seconds: float | None = SLOW,
        language: str = "en",
        user_agent: str = "Mozilla/5.0",
        confirm: bool = False,
    ) -> Appointment:
        self.number += 1
        n = self.number
        place = self.offices[office]
        body = booking_body(
            place,
            [self.service],
            next(self.starts[office]),
            applicant={
                "iin": next(self.iins),
                "email": email or f"person{n}@gmail.com",
                "phone": phone or f"010-7{n:03d}-{n:04d}",
                "given_name": "Aigerim",
                "family_name": "Nurlanova",
            },
            language=language,
        )
        request = booking.parse_booking_request(db.session, body, self.clock(), POLICY)
        placed = booking.place_hold(db.session, request, self.clock(), POLICY)
        network = network or f"10.{n // 256}.{n % 256}.0/24"
        suspicion.record_origin(
            db.session,
            placed.appointment,
            Client(address=network.split("/")[0], network=network, user_agent=user_agent),
            fingerprint=fingerprint,
            seconds=seconds,
        )
        if confirm:
            booking.confirm_hold(db.session, placed.appointment, placed.code, self.clock(), POLICY)
        db.session.commit()
        return placed.appointment


@pytest.fixture
def offices(make_office, make_service):
    service = make_service("passport")
    seoul = make_office("seoul", services=[service])
    busan = make_office("busan", services=[service])
    return {"seoul": seoul, "busan": busan}, service


@pytest.fixture
def holds(offices, clock, iins) -> Holds:
    places, service = offices
    return Holds(
        offices=places,
        service=service,
        clock=clock,
        iins=iins,
        starts={code: visit_starts(office, clock) for code, office in places.items()},
    )


@pytest.fixture
def settings(app) -> suspicion.ReviewSettings:
    return suspicion.settings_from_config(app.config)


@pytest.fixture
def scope(offices, clock) -> Callable[..., suspicion.ReviewScope]:
    places, _service = offices

    def make(*codes: str, days: int = 1) -> suspicion.ReviewScope:
        return suspicion.ReviewScope(
            office_ids=tuple(places[c].id for c in codes or ("seoul", "busan")),
            since=clock() - timedelta(days=days),
            until=clock() + timedelta(days=1),
        )

    return make


@pytest.fixture
def admin(app) -> User:
    user = User(
        email="admin@example.org",
        name="Admin",
        role=Role.ADMIN,
        password_hash=hash_password("x" * 12),
    )
    db.session.add(user)
    db.session.commit()
    return user


def clusters(scope, settings, clock) -> list[tuple[str, str, int]]:
    """(signal, value, bookings) of every cluster, largest first."""
    return [
        (c.signal, c.value, c.bookings)
        for c in suspicion.find_clusters(db.session, scope, settings, clock())
    ]


# Where a hold came from


def test_the_origin_keeps_the_network_and_domain_and_hashes_the_device(holds, app) -> None:
    appointment = holds(
        network="203.0.113.0/24",
        email="Aigerim@Mail.Example.CO.KR",
        fingerprint="device-7 \x00",
        seconds=41.9,
        user_agent="Bot/1.0",
    )
    origin = db.session.get(AppointmentOrigin, appointment.id)
    assert origin is not None
    assert (origin.network, origin.email_domain, origin.email_base_domain) == (
        "203.0.113.0/24",
        "mail.example.co.kr",
        "example.co.kr",
    )
    assert origin.is_public_domain is False
    assert origin.seconds == 41
    assert origin.recorded_at == appointment.created_at
    # Neither the device nor the user agent is stored as such.
    assert origin.fingerprint == suspicion.keyed_hash(SECRET, "fingerprint", "device-7")
    assert origin.user_agent_hash == suspicion.keyed_hash(SECRET, "user-agent", "Bot/1.0")
    assert "device-7" not in str(origin.fingerprint) and "Bot" not in origin.user_agent_hash


@pytest.mark.parametrize(
    ("email", "public"),
    [("a@gmail.com", True), ("a@NAVER.com", True), ("a@mail.ru", True), ("a@gmail.co", False)],
)
def test_public_providers_come_from_the_configured_list(holds, email, public) -> None:
    origin = db.session.get(AppointmentOrigin, holds(email=email).id)
    assert origin is not None and origin.is_public_domain is public


@pytest.mark.parametrize("seconds", [None, -3.0, float("nan")])
def test_an_unknown_or_impossible_duration_is_kept_as_unknown(holds, seconds) -> None:
    origin = db.session.get(AppointmentOrigin, holds(seconds=seconds).id)
    assert origin is not None and origin.seconds is None


@pytest.mark.parametrize("reported", [None, "", "   ", 42])
def test_no_fingerprint_reported_is_none(holds, reported) -> None:
    origin = db.session.get(AppointmentOrigin, holds(fingerprint=reported).id)
    assert origin is not None and origin.fingerprint is None


@pytest.mark.parametrize(
    ("domain", "base"),
    [
        ("gmail.com", "gmail.com"),
        ("x.catchall.kz", "catchall.kz"),
        ("a.b.catchall.kz", "catchall.kz"),
        ("example.co.kr", "example.co.kr"),
        ("mail.example.co.kr", "example.co.kr"),
        ("shop.com.kz", "shop.com.kz"),
        ("localhost", "localhost"),
    ],
)
def test_the_registrable_domain(domain, base) -> None:
    assert suspicion.base_domain(domain) == base


# Clusters, one signal at a time


SHARED: dict[Signal, tuple[dict[str, Any], Callable[[], str]]] = {
    Signal.NETWORK: ({"network": "198.51.100.0/24"}, lambda: "198.51.100.0/24"),
    Signal.DOMAIN: ({"email": "{n}@catchall.example"}, lambda: "catchall.example"),
    Signal.PHONE: ({"phone": "010-5555-0001"}, lambda: "+821055550001"),
    Signal.FINGERPRINT: (
        {"fingerprint": "device-1"},
        lambda: suspicion.keyed_hash(SECRET, "fingerprint", "device-1"),
    ),
    Signal.SPEED: ({"seconds": 3.0}, lambda: suspicion.FAST),
}


def _shared(signal: Signal, n: int) -> dict[str, Any]:
    values, _value = SHARED[signal]
    return {
        key: value.format(n=n) if isinstance(value, str) else value for key, value in values.items()
    }


@pytest.mark.parametrize("signal", list(Signal))
def test_bookings_that_share_one_signal_make_one_cluster(holds, scope, settings, clock, signal):
    for n in range(3):
        holds(**_shared(signal, n))
    holds()  # shares nothing
    holds(fingerprint="another-device")  # a device of its own
    assert clusters(scope(), settings, clock) == [(signal, SHARED[signal][1](), 3)]
    (found,) = suspicion.find_clusters(db.session, scope(), settings, clock())
    assert found.active == 3 and found.networks == (1 if signal == Signal.NETWORK else 3)
    assert found.user_agents == 1
    assert found.key == suspicion.cluster_key(SECRET, signal, found.value)


@pytest.mark.parametrize("signal", list(Signal))
def test_a_cluster_of_one_is_not_a_cluster(holds, scope, settings, clock, signal) -> None:
    holds(**_shared(signal, 0))
    holds()
    assert clusters(scope(), settings, clock) == []


def test_the_largest_cluster_comes_first_and_a_booking_may_be_in_several(
    holds, scope, settings, clock
) -> None:
    for n in range(4):
        holds(network="198.51.100.0/24", email=f"{n}@catchall.example" if n < 2 else None)
    for _n in range(3):
        holds(phone="010-5555-0001")
    assert clusters(scope(), settings, clock) == [
        (Signal.NETWORK, "198.51.100.0/24", 4),
        (Signal.PHONE, "+821055550001", 3),
        (Signal.DOMAIN, "catchall.example", 2),
    ]


def test_public_domains_never_cluster_by_domain(holds, scope, settings, clock) -> None:
    for n in range(3):
        holds(email=f"person.{n}@gmail.com")
        holds(email=f"person.{n}@naver.com")
    assert clusters(scope(), settings, clock) == []


def test_a_domain_that_became_public_no_longer_clusters(holds, scope, settings, clock) -> None:
    for n in range(2):
        holds(email=f"{n}@newmail.example")
    assert clusters(scope(), settings, clock) == [(Signal.DOMAIN, "newmail.example", 2)]
    now_public = suspicion.ReviewSettings(
        secret=settings.secret,
        public_domains=settings.public_domains | {"newmail.example"},
        fast_seconds=settings.fast_seconds,
    )
    assert clusters(scope(), now_public, clock) == []


def test_sub_domains_of_a_catch_all_cluster_together(holds, scope, settings, clock) -> None:
    holds(email="a@x1.catchall.kz")
    holds(email="b@x2.catchall.kz")
    holds(email="c@one.co.kr")
    holds(email="d@two.co.kr")
    assert clusters(scope(), settings, clock) == [(Signal.DOMAIN, "catchall.kz", 2)]


def test_the_speed_threshold_comes_from_the_settings(holds, scope, settings, clock) -> None:
    assert settings.fast_seconds == 20
    holds(seconds=19.9)
    holds(seconds=20)
    holds(seconds=0)
    assert clusters(scope(), settings, clock) == [(Signal.SPEED, suspicion.FAST, 2)]


def test_a_cluster_needs_a_booking_still_active(holds, scope, settings, clock) -> None:
    first = holds(network="198.51.100.0/24")
    holds(network="198.51.100.0/24")
    clock.advance(minutes=POLICY.hold_minutes + 1)  # both holds run out unconfirmed
    assert clusters(scope(), settings, clock) == []
    holds(network="198.51.100.0/24")
    (found,) = suspicion.find_clusters(db.session, scope(), settings, clock())
    assert (found.bookings, found.active) == (3, 1)
    members = suspicion.cluster_members(db.session, scope(), found, settings, clock())
    assert [(m.reference, m.status, m.is_active) for m in members][0] == (
        first.reference,
        "expired",
        False,
    )


def test_only_the_scope_offices_and_period_count(holds, scope, settings, clock, offices) -> None:
    places, _service = offices
    holds("seoul", network="198.51.100.0/24")
    holds("busan", network="198.51.100.0/24")
    assert clusters(scope("seoul"), settings, clock) == []
    assert clusters(scope("busan"), settings, clock) == []
    (both,) = suspicion.find_clusters(db.session, scope(), settings, clock())
    assert both.office_ids == (places["seoul"].id, places["busan"].id)
    clock.advance(days=3)
    holds("seoul", network="198.51.100.0/24")
    assert clusters(scope("seoul", days=1), settings, clock) == []
    assert clusters(scope("seoul", days=5), settings, clock) == [
        (Signal.NETWORK, "198.51.100.0/24", 2)
    ]


def test_holds_without_an_origin_are_not_read(holds, scope, settings, clock) -> None:
    holds(network="198.51.100.0/24")
    other = holds(network="198.51.100.0/24")
    db.session.execute(
        sa.delete(AppointmentOrigin).where(AppointmentOrigin.appointment_id == other.id)
    )
    db.session.commit()
    assert clusters(scope(), settings, clock) == []


def test_members_are_listed_masked_oldest_first(holds, scope, settings, clock) -> None:
    made = []
    for n in range(3):
        made.append(holds(network="198.51.100.0/24", email=f"bot.{n}@catchall.example"))
        clock.advance(seconds=30)
    cluster = suspicion.find_cluster(
        db.session,
        scope(),
        Signal.NETWORK,
        suspicion.cluster_key(SECRET, Signal.NETWORK, "198.51.100.0/24"),
        settings,
        clock(),
    )
    members = suspicion.cluster_members(db.session, scope(), cluster, settings, clock())
    assert [m.reference for m in members] == [a.reference for a in made]
    assert {m.masked_name for m in members} == {"A•••••• N••••••"}
    assert [m.masked_email for m in members] == ["b•••@catchall.example"] * 3
    assert all(m.is_active and m.status == "held" for m in members)


def test_an_unknown_cluster_is_not_found(holds, scope, settings, clock) -> None:
    holds(network="198.51.100.0/24")
    holds(network="198.51.100.0/24")
    with pytest.raises(NotFound):
        suspicion.find_cluster(db.session, scope(), Signal.NETWORK, "0" * 24, settings, clock())
    # The key names a signal's value: the same value under another signal is another cluster.
    key = suspicion.cluster_key(SECRET, Signal.NETWORK, "198.51.100.0/24")
    with pytest.raises(NotFound):
        suspicion.find_cluster(db.session, scope(), Signal.DOMAIN, key, settings, clock())


# Cancelling a cluster


MESSAGES = {
    "kk": "Бронь жойылды: kk-хабар.",
    "ru": "Запись отменена: сообщение ru.",
    "en": "Cancelled: the English message.",
    "ko": "예약이 취소되었습니다: 한국어 메시지.",
}


@pytest.fixture
def bot_cluster(holds, scope, settings, clock) -> tuple[suspicion.Cluster, list[Appointment]]:
    """Five bookings from one network, one in each language (two in English), three confirmed."""
    made = [
        holds(network="198.51.100.0/24", language=language, confirm=n % 2 == 0)
        for n, language in enumerate(["kk", "ru", "en", "ko", "en"])
    ]
    cluster = suspicion.find_cluster(
        db.session,
        scope(),
        Signal.NETWORK,
        suspicion.cluster_key(SECRET, Signal.NETWORK, "198.51.100.0/24"),
        settings,
        clock(),
    )
    return cluster, made


def cancel(scope, cluster, references, admin, clock, settings, messages=MESSAGES):
    done = suspicion.cancel_cluster(
        db.session, scope, cluster, references, messages, admin, clock(), settings, POLICY
    )
    db.session.commit()
    return done


def test_bulk_cancel_cancels_exactly_the_selected(
    bot_cluster, holds, scope, settings, clock, admin
) -> None:
    cluster, made = bot_cluster
    outsider = holds()
    chosen = [made[0], made[1], made[3]]
    done = cancel(
        scope(),
        cluster,
        [a.reference.lower() for a in chosen] + [outsider.reference],
        admin,
        clock,
        settings,
    )
    assert sorted(done.cancelled) == sorted(a.reference for a in chosen)
    assert done.skipped == [outsider.reference]  # not in the cluster
    db.session.expire_all()
    assert [a.status for a in made] == [
        "cancelled",
        "cancelled",
        "confirmed",
        "cancelled",
        "confirmed",
    ]
    assert outsider.status == Status.HELD
    assert [a.cancel_reason for a in chosen] == [MESSAGES["kk"], MESSAGES["ru"], MESSAGES["ko"]]
    # Through the booking service's cancel: the seats wait for the release delay.
    seats = db.session.execute(
        sa.text("SELECT release_at FROM appointment_slot WHERE appointment_id = :id"),
        {"id": made[0].id},
    ).scalar_one()
    assert seats is not None


def test_each_citizen_is_emailed_in_their_language(bot_cluster, scope, settings, clock, admin):
    cluster, made = bot_cluster
    cancel(scope(), cluster, [a.reference for a in made], admin, clock, settings)
    sent = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "review_cancellation")
    ).all()
    by_appointment = {message.appointment_id: message for message in sent}
    assert set(by_appointment) == {a.id for a in made}
    for appointment in made:
        message = by_appointment[appointment.id]
        assert message.recipient == appointment.email
        with force_locale(appointment.language):
            subject = email_texts.default_text("review_cancellation", appointment.language).subject
        assert message.subject == subject.replace("{{ reference }}", appointment.reference)
        assert MESSAGES[appointment.language] in message.text_body
        others = [text for language, text in MESSAGES.items() if language != appointment.language]
        assert not any(text in message.text_body for text in others)
        assert "http://consular.test/book" in message.text_body
        # A calendar file that removes the visit only for those who had one.
        was_confirmed = made.index(appointment) % 2 == 0
        assert bool(message.attachments) is was_confirmed


def test_one_audit_entry_lists_the_references(bot_cluster, scope, settings, clock, admin, offices):
    cluster, made = bot_cluster
    done = cancel(scope(), cluster, [a.reference for a in made[:3]], admin, clock, settings)
    (entry,) = db.session.scalars(sa.select(AuditEntry)).all()
    assert (entry.action, entry.entity, entry.user_id) == ("cancel_suspicious", "cluster", admin.id)
    assert entry.office_id == offices[0]["seoul"].id
    assert entry.after is not None
    assert entry.after["references"] == done.cancelled == [a.reference for a in made[:3]]
    assert entry.after["signal"] == "network" and entry.after["shared"] == "198.51.100.0/24"
    assert entry.after["messages"] == MESSAGES
    linked = db.session.scalars(
        sa.select(AppointmentOrigin.appointment_id).where(
            AppointmentOrigin.review_audit_entry_id == entry.id
        )
    ).all()
    assert sorted(linked) == sorted(a.id for a in made[:3])


def test_bookings_no_longer_active_are_skipped(bot_cluster, scope, settings, clock, admin):
    cluster, made = bot_cluster
    booking.cancel_appointment(db.session, made[0], "", clock(), POLICY, enforce_cutoff=False)
    db.session.commit()
    done = cancel(scope(), cluster, [made[0].reference, made[2].reference], admin, clock, settings)
    assert (done.cancelled, done.skipped) == ([made[2].reference], [made[0].reference])
    with pytest.raises(InvalidState):
        cancel(scope(), cluster, [made[0].reference, made[2].reference], admin, clock, settings)
    db.session.rollback()


def test_visits_already_begun_are_not_cancelled(bot_cluster, scope, settings, clock, admin):
    cluster, made = bot_cluster
    clock.set(made[2].starts_at)
    with pytest.raises(InvalidState):
        cancel(scope(), cluster, [made[2].reference], admin, clock, settings)
    db.session.rollback()
    assert db.session.get(Appointment, made[2].id).status == Status.CONFIRMED


@pytest.mark.parametrize("missing", ["kk", "ko"])
def test_a_message_in_every_language_is_required(
    bot_cluster, scope, settings, clock, admin, missing
) -> None:
    cluster, made = bot_cluster
    with pytest.raises(ValidationFailed) as refused:
        cancel(
            scope(),
            cluster,
            [made[0].reference],
            admin,
            clock,
            settings,
            messages=MESSAGES | {missing: "  "},
        )
    assert list(refused.value.fields) == [f"message_{missing}"]
    db.session.rollback()
    assert db.session.get(Appointment, made[0].id).status == Status.CONFIRMED
    with pytest.raises(ValidationFailed):
        cancel(scope(), cluster, [], admin, clock, settings)
    db.session.rollback()


@pytest.mark.parametrize("language", ["kk", "ru", "en", "ko"])
def test_the_default_message_is_translated_and_says_how_to_book_again(app, language) -> None:
    text = suspicion.default_message(language)
    english = suspicion.default_message("en")
    assert text and (text != english) is (language != "en")
    assert "book" in english and "link below" in english


# Retention


def test_the_purge_takes_the_origin_and_the_reference_out_of_the_review(
    bot_cluster, scope, settings, clock, admin
) -> None:
    cluster, made = bot_cluster
    cancel(scope(), cluster, [a.reference for a in made[:2]], admin, clock, settings)
    clock.set(max(a.ends_at for a in made) + timedelta(days=181))
    report = purge_personal_data(db.session, clock(), 180)
    db.session.commit()
    # The cancelled bookings and the hold never confirmed go; confirmed visits never ended.
    assert report.origins == 3
    kept = db.session.scalars(sa.select(AppointmentOrigin.appointment_id)).all()
    assert sorted(kept) == [made[2].id, made[4].id]
    (entry,) = db.session.scalars(sa.select(AuditEntry)).all()
    assert entry.after is not None
    assert entry.after["references"] == [] and entry.after["erased"] == 2
    dumped = str(entry.after)
    assert not any(a.reference in dumped for a in made)


def test_the_purge_leaves_the_origins_of_visits_still_kept(holds, clock) -> None:
    early = holds(network="198.51.100.0/24")
    clock.advance(days=30)
    late = holds("busan", network="198.51.100.0/24")
    clock.set(early.ends_at + timedelta(days=181))
    assert late.ends_at + timedelta(days=180) > clock()
    report = purge_personal_data(db.session, clock(), 180)
    db.session.commit()
    assert report.origins == 1
    assert db.session.scalars(sa.select(AppointmentOrigin.appointment_id)).all() == [late.id]
