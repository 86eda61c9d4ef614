"""Fair access in the booking core: quotas on identities, one booking per IIN in N days, a
person's new hold replacing their own, holds that take no place until confirmed, and cancelled
seats that return at a moment nobody can predict."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import Appointment, AppointmentService, OutboxMessage, Slot, Status
from consular.models.appointment import appointment_slot
from consular.services import booking
from consular.services.fair_access import email_domain, normalized_email
from tests.conftest import booking_body
from tests.test_concurrency import race_in_threads, racing_app  # noqa: F401 - a fixture

# Wednesday 2026-12-02 in Seoul, 09:00 (past the cancellation cut-off of the test clock's
# Sunday noon), and the quarter hours after it.
MONDAY_9 = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def at(quarter: int) -> datetime:
    return MONDAY_9 + timedelta(minutes=15 * quarter)


@pytest.fixture
def visit(app, make_office, make_service):
    service = make_service("consular-registration", max_active_bookings=3)
    office = make_office("seoul", services=[service], desks=4)
    return office, service


@pytest.fixture
def quotas(app):
    """The production defaults of the quotas (the test config turns them off)."""
    app.config.update(
        QUOTA_PER_IIN=3, QUOTA_PER_EMAIL=5, QUOTA_PER_PHONE=5, QUOTA_PER_PRIVATE_DOMAIN=5
    )
    return app.config


def hold(client, office, service, start=MONDAY_9, **applicant):
    body = booking_body(office, [service], start, applicant=applicant)
    return client.post("/api/v1/appointments", json=body)


def code_of(reference: str) -> str:
    text = db.session.scalars(
        sa.select(OutboxMessage.text_body)
        .join(Appointment, Appointment.id == OutboxMessage.appointment_id)
        .where(Appointment.reference == reference)
        .order_by(OutboxMessage.id.desc())
    ).first()
    return re.search(r"\b(\d{6})\b", text).group(1)


def confirm(client, reference: str):
    return client.post(
        f"/api/v1/appointments/{reference}/confirm", json={"code": code_of(reference)}
    )


def phone(n: int) -> str:
    return f"010-2000-{n:04d}"


@pytest.mark.parametrize(
    "address, mailbox, domain",
    [
        ("Aigerim@Example.com", "aigerim@example.com", "example.com"),
        ("a.i.g.e.r.i.m+consulate@gmail.com", "aigerim@gmail.com", "gmail.com"),
        ("A.Igerim@googlemail.com", "aigerim@gmail.com", "gmail.com"),
        ("first.last+x@naver.com", "first.last@naver.com", "naver.com"),
        ("bot+0001@catch-all.example", "bot@catch-all.example", "catch-all.example"),
        ("+tag@example.com", "+tag@example.com", "example.com"),
        ("  Someone@Mail.RU ", "someone@mail.ru", "mail.ru"),
        # Every subdomain of a wildcard catch-all is the one registrable domain.
        ("x@a1.slotbot.example", "x@a1.slotbot.example", "slotbot.example"),
        ("x@b.c.bot.co.kr", "x@b.c.bot.co.kr", "bot.co.kr"),
        ("someone@mail.naver.com", "someone@mail.naver.com", "naver.com"),
    ],
)
def test_the_mailbox_an_address_reaches(address: str, mailbox: str, domain: str) -> None:
    assert normalized_email(address) == mailbox
    assert email_domain(address) == domain


def test_one_mailbox_however_it_is_written_holds_only_its_quota(
    client, visit, quotas, iins
) -> None:
    office, service = visit
    quotas["QUOTA_PER_EMAIL"] = 2
    spellings = ["aigerim.n@gmail.com", "AigerimN+1@gmail.com", "a.i.g.e.r.i.m.n+2@googlemail.com"]
    answers = [
        hold(client, office, service, at(n), iin=next(iins), email=e, phone=phone(n))
        for n, e in enumerate(spellings)
    ]
    assert [a.status_code for a in answers] == [201, 201, 409]
    assert answers[2].get_json()["error"] == "quota_reached"
    assert answers[2].get_json()["field"] == "applicant.email"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 2


def test_a_catch_all_domain_holds_only_a_few_visits_but_a_public_one_is_not_counted(
    client, visit, quotas, iins
) -> None:
    office, service = visit
    quotas["QUOTA_PER_PRIVATE_DOMAIN"] = 3
    bot = [
        hold(
            client,
            office,
            service,
            at(n),
            iin=next(iins),
            email=f"u{n}@slots.example",
            phone=phone(n),
        )  # fmt: skip
        for n in range(5)
    ]
    assert [a.status_code for a in bot] == [201, 201, 201, 409, 409]
    assert "slots.example" in bot[3].get_json()["message"]
    people = [
        hold(
            client,
            office,
            service,
            at(n),
            iin=next(iins),
            email=f"person{n}@naver.com",
            phone=phone(100 + n),
        )  # fmt: skip
        for n in range(5)
    ]
    assert [a.status_code for a in people] == [201] * 5


def test_a_phone_number_holds_only_its_quota(client, visit, quotas, iins) -> None:
    office, service = visit
    quotas["QUOTA_PER_PHONE"] = 2
    answers = [
        hold(
            client,
            office,
            service,
            at(n),
            iin=next(iins),
            email=f"p{n}@naver.com",
            phone="+82 10 3000 4000" if n % 2 else "010-3000-4000",
        )  # fmt: skip
        for n in range(3)
    ]
    assert [a.status_code for a in answers] == [201, 201, 409]
    assert answers[2].get_json()["field"] == "applicant.phone"


def test_ended_visits_and_past_visits_do_not_count(client, clock, visit, quotas, iins) -> None:
    office, service = visit
    quotas["QUOTA_PER_EMAIL"] = 1
    first = hold(client, office, service, at(0), iin=next(iins), phone=phone(1))
    assert first.status_code == 201
    assert hold(client, office, service, at(1), iin=next(iins), phone=phone(2)).status_code == 409
    reference = first.get_json()["reference"]
    token = first.get_json()["manage_token"]
    cancelled = client.post(
        f"/api/v1/appointments/{reference}/cancel", headers={"Authorization": f"Bearer {token}"}
    )
    assert cancelled.status_code == 200, cancelled.get_json()
    assert hold(client, office, service, at(1), iin=next(iins), phone=phone(3)).status_code == 201


def test_the_iin_quota_counts_bookings_and_the_persons_own_holds_only(
    client, visit, quotas
) -> None:
    """Someone who only knows an IIN can't lock its owner out with holds they never confirm."""
    office, service = visit
    quotas["QUOTA_PER_IIN"] = 2
    iin = "850502401238"
    for n in range(3):
        strangers = hold(client, office, service, at(n), iin=iin, email=f"x{n}@naver.com",
                         phone=phone(n))  # fmt: skip
        assert strangers.status_code == 201
    owner = [hold(client, office, service, at(5 + n), iin=iin, phone=phone(50)) for n in range(2)]
    # The owner's second hold replaces their first (same IIN and e-mail): one stays.
    assert [a.status_code for a in owner] == [201, 201]
    assert confirm(client, owner[1].get_json()["reference"]).status_code == 200
    one_more = hold(client, office, service, at(9), iin=iin, email="own2@naver.com",
                    phone=phone(51))  # fmt: skip
    assert one_more.status_code == 201  # one confirmed booking and this hold: at the limit
    assert confirm(client, one_more.get_json()["reference"]).status_code == 200
    third = hold(client, office, service, at(10), iin=iin, email="own3@naver.com",
                 phone=phone(52))  # fmt: skip
    assert third.status_code == 409
    assert third.get_json()["field"] == "applicant.iin"


def test_holds_take_no_place_and_the_first_confirmed_wins(
    client, make_office, make_service
) -> None:
    service = make_service("passport-renewal", max_active_bookings=1)
    office = make_office("busan", services=[service])
    iin = "850502401238"
    mine = hold(client, office, service, at(0), iin=iin)
    theirs = hold(client, office, service, at(1), iin=iin, email="someone@else.example",
                  phone=phone(9))  # fmt: skip
    assert (mine.status_code, theirs.status_code) == (201, 201)
    lines = db.session.scalars(sa.select(AppointmentService.is_active)).all()
    assert lines == [False, False]
    assert confirm(client, mine.get_json()["reference"]).status_code == 200
    second = confirm(client, theirs.get_json()["reference"])
    assert second.status_code == 409
    assert second.get_json()["error"] == "duplicate_booking"
    statuses = db.session.scalars(sa.select(Appointment.status).order_by(Appointment.id)).all()
    assert statuses == [Status.CONFIRMED, Status.HELD]
    # And now that the place is taken, a new hold is refused at once.
    again = hold(client, office, service, at(2), iin=iin, email="third@else.example",
                 phone=phone(10))  # fmt: skip
    assert again.get_json()["error"] == "duplicate_booking"


def test_a_new_hold_replaces_the_persons_own_and_frees_its_seat(client, visit) -> None:
    office, service = visit
    first = hold(client, office, service, at(0), email="Aigerim@Example.com")
    second = hold(client, office, service, at(4), email="aigerim@example.com")
    assert (first.status_code, second.status_code) == (201, 201)
    replaced = db.session.scalar(
        sa.select(Appointment).where(Appointment.reference == first.get_json()["reference"])
    )
    assert replaced.status == Status.CANCELLED
    assert replaced.cancel_reason == booking.REPLACED_REASON
    booked = dict(db.session.execute(sa.select(Slot.starts_at, Slot.booked)).tuples().all())
    assert booked[at(0)] == 0 and booked[at(4)] == 1
    seats = (
        db.session.execute(
            sa.select(appointment_slot.c.holds_seat).where(
                appointment_slot.c.appointment_id == replaced.id
            )
        )
        .scalars()
        .all()
    )
    assert seats == [False]
    # The replaced hold's code no longer confirms anything.
    # The replaced hold is gone: confirming it answers as for any reference without a hold.
    assert confirm(client, first.get_json()["reference"]).status_code == 404


def test_a_hold_with_another_email_does_not_replace(client, visit) -> None:
    office, service = visit
    first = hold(client, office, service, at(0))
    second = hold(client, office, service, at(1), email="other@example.com", phone=phone(3))
    assert (first.status_code, second.status_code) == (201, 201)
    statuses = db.session.scalars(sa.select(Appointment.status)).all()
    assert statuses == [Status.HELD, Status.HELD]


def test_the_browser_that_made_a_hold_replaces_it_with_another_email(app, clock, visit) -> None:
    office, service = visit
    now = clock()
    policy = booking.policy_from_config(app.config)

    def place(start, email):
        body = booking_body(office, [service], start, applicant={"email": email})
        with app.test_request_context():
            request = booking.parse_booking_request(db.session, body, now, policy)
            return request

    typo = booking.place_hold(db.session, place(at(0), "aigerim@exmaple.com"), now, policy)
    db.session.commit()
    fixed = booking.place_hold(
        db.session,
        place(at(0), "aigerim@example.com"),
        now,
        policy,
        replacing=typo.appointment.reference,
    )
    db.session.commit()
    assert typo.appointment.status == Status.CANCELLED
    assert fixed.appointment.status == Status.HELD
    assert db.session.scalar(sa.select(Slot.booked).where(Slot.starts_at == at(0))) == 1


def test_one_booking_per_iin_in_n_days_counts_cancelled_ones(
    client, clock, make_office, make_service, iins
) -> None:
    service = make_service("passport-renewal", max_active_bookings=3)
    service.iin_window_days = 30
    db.session.commit()
    office = make_office("seoul", services=[service])
    first = hold(client, office, service, at(0))
    # An unconfirmed hold is not a booking: a second hold of the same person is allowed.
    assert first.status_code == 201
    assert confirm(client, first.get_json()["reference"]).status_code == 200
    token = first.get_json()["manage_token"]
    cancel = client.post(
        f"/api/v1/appointments/{first.get_json()['reference']}/cancel",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert cancel.status_code == 200
    again = hold(client, office, service, at(3))
    assert again.status_code == 409
    assert again.get_json()["error"] == "booked_recently"
    assert "30\u00a0days" in again.get_json()["message"]
    # Another person, or the same one 31 days later, may book.
    assert hold(client, office, service, at(3), iin=next(iins), email="b@naver.com",
                phone=phone(7)).status_code == 201  # fmt: skip
    clock.advance(days=31)
    later = hold(client, office, service, MONDAY_9 + timedelta(days=35))
    assert later.status_code == 201


def test_an_office_takes_only_so_many_holds_a_minute(client, clock, visit, iins) -> None:
    office, service = visit
    client.application.config["QUOTA_HOLDS_PER_OFFICE_MINUTE"] = 3
    answers = [
        hold(
            client, office, service, at(n), iin=next(iins), email=f"m{n}@naver.com", phone=phone(n)
        )  # fmt: skip
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [201, 201, 201, 409]
    assert answers[3].get_json()["error"] == "office_busy"
    clock.advance(seconds=61)
    assert hold(client, office, service, at(5), iin=next(iins), email="late@naver.com",
                phone=phone(90)).status_code == 201  # fmt: skip


def test_a_cancelled_seat_returns_at_a_moment_nobody_can_predict(app, client, clock, visit) -> None:
    office, service = visit
    app.config["RELEASE_JITTER_MINUTES"] = 30
    releases = []
    for n in range(12):
        answer = hold(client, office, service, at(n), email=f"c{n}@naver.com", phone=phone(n))
        reference = answer.get_json()["reference"]
        assert confirm(client, reference).status_code == 200
        cancelled = client.post(
            f"/api/v1/appointments/{reference}/cancel",
            headers={"Authorization": f"Bearer {answer.get_json()['manage_token']}"},
        )
        assert cancelled.status_code == 200
        releases.append(
            db.session.scalar(
                sa.select(appointment_slot.c.release_at)
                .join(Appointment, Appointment.id == appointment_slot.c.appointment_id)
                .where(Appointment.reference == reference)
            )
        )
    delays = [(r - clock()).total_seconds() / 60 for r in releases]
    assert all(30 <= d <= 60 for d in delays)
    assert len({round(d, 3) for d in delays}) > 6  # spread, not one fixed moment


@pytest.mark.postgresql_only
def test_concurrent_holds_of_one_mailbox_never_pass_its_quota(
    racing_app,  # noqa: F811 - the fixture imported above
    visit,
    iins,
) -> None:
    office, service = visit
    racing_app.config["QUOTA_PER_EMAIL"] = 2
    bodies = [
        booking_body(office, [service], at(n), applicant={"iin": next(iins), "phone": phone(n)})
        for n in range(8)
    ]
    outcomes = race_in_threads(racing_app, bodies)
    assert sorted(status for status, _ in outcomes) == [201, 201] + [409] * 6, outcomes
    assert {body["error"] for status, body in outcomes if status == 409} == {"quota_reached"}
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 2
