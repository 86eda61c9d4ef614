"""The waiting list: joining with a code, one place per person, freed seats offered to those
who wait before they go back on sale, claiming, declining and lapsing, first-in or random
order. Read top to bottom as the specification."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import (
    Appointment,
    OutboxMessage,
    Status,
    WaitlistEntry,
    WaitlistMode,
    WaitStatus,
    appointment_slot,
)
from consular.services import booking, waitlist
from consular.services.availability import VisitRules, visit_start_times
from consular.services.errors import DuplicateEntry, InvalidState, ValidationFailed, WrongCode
from consular.services.fair_access import QuotaReached
from tests.conftest import SECRET, booking_body, valid_iins
from tests.invariants import assert_booking_invariants

BOOKING = booking.BookingPolicy(
    secret=SECRET, hold_minutes=10, release_delay_minutes=30, release_jitter_minutes=10
)
POLICY = waitlist.WaitlistPolicy(booking=BOOKING, code_minutes=30)
MONDAY = date(2026, 11, 30)
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
PEOPLE = [
    ("850502401238", "aigerim@example.com", "010-1234-5671"),
    ("900101300027", "bolat@example.com", "010-1234-5672"),
    ("900101300126", "dana@example.com", "010-1234-5673"),
]


@pytest.fixture
def service(make_service):
    return make_service("passport-renewal", cutoff_hours=1, waitlist_mode=WaitlistMode.FIFO)


@pytest.fixture
def office(make_office, service):
    """One seat a day, Monday to Friday at 09:00."""
    return make_office("busan", periods=[(d, time(9), time(9, 15), 1) for d in range(5)],
                       services=[service])  # fmt: skip


def join_data(office, service, n: int = 0, **changes):
    iin, email, phone = PEOPLE[n]
    data = {
        "office": office.code,
        "services": [service.code],
        "first_day": MONDAY.isoformat(),
        "last_day": (MONDAY + timedelta(days=4)).isoformat(),
        "language": "en",
        "applicant": {
            "given_name": "Aigerim",
            "family_name": "Nurlanova",
            "iin": iin,
            "passport_number": "N12345678",
            "email": email,
            "phone": phone,
        },
        "details": {},
    }
    data.update(changes)
    return data


def joined(office, service, now, n: int = 0, **changes) -> WaitlistEntry:
    """Join and enter the code."""
    request = waitlist.parse_join(db.session, join_data(office, service, n, **changes), now, POLICY)
    made = waitlist.join(db.session, request, now, POLICY)
    return waitlist.verify_entry(db.session, made.entry, made.code, now, POLICY)


def book(office, service, start, now, n: int = 2) -> Appointment:
    """Someone else books `start` and confirms it."""
    iin, email, phone = PEOPLE[n]
    body = booking_body(office, [service], start,
                        applicant={"iin": iin, "email": email, "phone": phone})  # fmt: skip
    request = booking.parse_booking_request(db.session, body, now, BOOKING)
    placed = booking.place_hold(db.session, request, now, BOOKING)
    return booking.confirm_hold(db.session, placed.appointment, placed.code, now, BOOKING)


def fill_the_week(office, service, now) -> list[Appointment]:
    iins = itertools.islice(valid_iins(), 50, None)  # none of PEOPLE's
    visits = []
    for day in range(5):
        body = booking_body(office, [service], MONDAY_9 + timedelta(days=day),
                            applicant={"iin": next(iins), "email": f"p{day}@example.com",
                                       "phone": f"010-2222-000{day}"})  # fmt: skip
        request = booking.parse_booking_request(db.session, body, now, BOOKING)
        placed = booking.place_hold(db.session, request, now, BOOKING)
        visits.append(
            booking.confirm_hold(db.session, placed.appointment, placed.code, now, BOOKING)
        )
    return visits


def free_on_sale(office, service, start, now) -> int:
    rules = VisitRules.for_services([service])
    day = start.astimezone(office.zone).date()
    return next(
        (o.available for o in visit_start_times(db.session, office, rules, day, day, now)
         if o.starts_at == start),
        0,
    )  # fmt: skip


def last_mail(email: str) -> OutboxMessage:
    found = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.recipient == email)
        .order_by(OutboxMessage.id.desc())
    ).first()  # fmt: skip
    assert found is not None
    return found


# Joining


def test_joining_takes_a_place_only_once_the_code_is_entered(office, service, clock) -> None:
    fill_the_week(office, service, clock())
    request = waitlist.parse_join(db.session, join_data(office, service), clock(), POLICY)
    made = waitlist.join(db.session, request, clock(), POLICY)
    assert made.entry.status == WaitStatus.UNVERIFIED and not made.entry.takes_place
    assert made.code in last_mail("aigerim@example.com").text_body
    entry = waitlist.verify_entry(db.session, made.entry, made.code, clock(), POLICY)
    assert entry.status == WaitStatus.WAITING and entry.takes_place
    assert entry.joined_at == clock()
    assert "You are on the waiting list" in last_mail("aigerim@example.com").subject
    assert waitlist.place_in_line(db.session, entry) == 1


def test_a_seat_free_when_the_code_is_entered_is_offered_at_once(office, service, clock) -> None:
    entry = joined(office, service, clock())
    assert entry.status == WaitStatus.OFFERED
    assert entry.appointment.starts_at == MONDAY_9


def test_a_wrong_code_counts_and_the_last_one_ends_the_entry(office, service, clock) -> None:
    request = waitlist.parse_join(db.session, join_data(office, service), clock(), POLICY)
    made = waitlist.join(db.session, request, clock(), POLICY)
    for _attempt in range(BOOKING.code_max_attempts - 1):
        with pytest.raises(WrongCode):
            waitlist.verify_entry(db.session, made.entry, "000000", clock(), POLICY)
    with pytest.raises(WrongCode, match="join the list again"):
        waitlist.verify_entry(db.session, made.entry, "000000", clock(), POLICY)
    with pytest.raises(InvalidState):
        waitlist.verify_entry(db.session, made.entry, made.code, clock(), POLICY)


def test_a_service_without_a_list_and_impossible_days_are_refused(
    office, service, make_service, clock
) -> None:
    plain = make_service("visa", cutoff_hours=1)
    office.services.append(plain)
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        waitlist.parse_join(
            db.session,
            join_data(office, plain, first_day="2026-11-01", last_day="2026-10-01"),
            clock(),
            POLICY,
        )
    fields = refused.value.fields
    assert "There is no waiting list for" in fields["services"][0]
    assert fields["first_day"] == ["The first day can't be in the past."]
    with pytest.raises(ValidationFailed) as backwards:
        waitlist.parse_join(
            db.session, join_data(office, service, last_day="2026-11-29"), clock(), POLICY
        )
    assert backwards.value.fields["last_day"] == ["The last day can't be before the first day."]


def test_one_place_per_person_by_iin_email_and_phone(office, service, clock) -> None:
    fill_the_week(office, service, clock())
    joined(office, service, clock())
    db.session.commit()
    iin, _email, _phone = PEOPLE[0]
    other_iin, other_email, other_phone = PEOPLE[1]
    for applicant in (
        {"iin": iin, "email": other_email, "phone": other_phone},
        {"iin": other_iin, "email": "Aigerim@Example.com", "phone": other_phone},
        {"iin": other_iin, "email": other_email, "phone": PEOPLE[0][2]},
    ):
        data = join_data(office, service, 1)
        data["applicant"] = data["applicant"] | applicant
        request = waitlist.parse_join(db.session, data, clock(), POLICY)
        with pytest.raises(DuplicateEntry):
            waitlist.join(db.session, request, clock(), POLICY)
        db.session.rollback()


def test_the_database_refuses_a_second_waiting_place_for_the_same_iin(
    office, service, clock
) -> None:
    fill_the_week(office, service, clock())
    first = joined(office, service, clock())
    db.session.commit()
    db.session.execute(
        sa.update(WaitlistEntry).where(WaitlistEntry.id == first.id).values(email_key="x")
    )
    copy = WaitlistEntry(
        office_id=office.id, reference="TXX-W-222222", status=WaitStatus.WAITING,
        takes_place=True, first_day=MONDAY, last_day=MONDAY, given_name="A", family_name="B",
        iin=first.iin, passport_number="N1", email="y@example.com", email_key="y",
        phone="010-0000-0000", code_hash="h", code_expires_at=clock(),
    )  # fmt: skip
    db.session.add(copy)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_private_domain_has_only_a_few_places_on_the_list(office, service, clock) -> None:
    fill_the_week(office, service, clock())
    capped = waitlist.WaitlistPolicy(
        booking=replace(BOOKING, quotas=replace(BOOKING.quotas, per_private_domain=1))
    )
    first = join_data(office, service, 0)
    first["applicant"]["email"] = "a@one.slotbot.example"
    request = waitlist.parse_join(db.session, first, clock(), capped)
    made = waitlist.join(db.session, request, clock(), capped)
    waitlist.verify_entry(db.session, made.entry, made.code, clock(), capped)
    second = join_data(office, service, 1)
    second["applicant"]["email"] = "b@two.slotbot.example"
    request = waitlist.parse_join(db.session, second, clock(), capped)
    with pytest.raises(QuotaReached, match="slotbot.example"):
        waitlist.join(db.session, request, clock(), capped)


# A freed seat goes to the list first


def test_a_cancelled_seat_is_offered_to_the_first_waiting_never_put_on_sale(
    office, service, clock
) -> None:
    week = fill_the_week(office, service, clock())
    first = joined(office, service, clock(), 0)
    second = joined(office, service, clock.advance(minutes=1), 1)
    assert waitlist.place_in_line(db.session, second) == 2
    booking.cancel_appointment(db.session, week[2], "", clock(), BOOKING)
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.status == WaitStatus.OFFERED and second.status == WaitStatus.WAITING
    offer = first.appointment
    assert offer is not None and offer.status == Status.HELD
    assert offer.starts_at == MONDAY_9 + timedelta(days=2)
    assert first.claim_by == clock() + timedelta(hours=24)
    mail = last_mail("aigerim@example.com")
    assert mail.subject.startswith("A seat for you") and "/waitlist/" in mail.text_body
    # Not on sale, now or when a hold would have ended, or when the release would have come.
    for later in (clock(), clock() + timedelta(hours=1), clock() + timedelta(hours=23)):
        assert free_on_sale(office, service, offer.starts_at, later) == 0
    db.session.commit()
    assert_booking_invariants(db.session, clock())


def test_claiming_books_the_seat_and_the_entry_leaves_the_list(office, service, clock) -> None:
    week = fill_the_week(office, service, clock())
    entry = joined(office, service, clock())
    booking.cancel_appointment(db.session, week[0], "", clock(), BOOKING)
    appointment = waitlist.claim(db.session, entry, clock.advance(hours=2), POLICY)
    assert appointment.status == Status.CONFIRMED
    db.session.refresh(entry)
    assert entry.status == WaitStatus.BOOKED and not entry.takes_place
    assert "is booked" in last_mail("aigerim@example.com").subject.lower() or (
        last_mail("aigerim@example.com").appointment_id == appointment.id
    )
    db.session.commit()
    assert_booking_invariants(db.session, clock())


def test_an_unclaimed_offer_lapses_and_goes_to_the_next_one(app, office, service, clock) -> None:
    week = fill_the_week(office, service, clock())
    first = joined(office, service, clock(), 0)
    second = joined(office, service, clock.advance(minutes=1), 1)
    booking.cancel_appointment(db.session, week[3], "", clock(), BOOKING)
    db.session.commit()
    after = clock.advance(hours=24)
    output = app.test_cli_runner().invoke(args=["waitlist", "advance"])  # as cron runs it
    assert output.exit_code == 0, output.output
    assert "busan: 1 offers lapsed, 0 entries ended, 1 seats offered" in output.output
    db.session.expire_all()
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.status == WaitStatus.LAPSED and not first.takes_place
    assert second.status == WaitStatus.OFFERED
    assert second.appointment.starts_at == MONDAY_9 + timedelta(days=3)
    assert "has gone" in last_mail("aigerim@example.com").subject
    with pytest.raises(InvalidState):
        waitlist.claim(db.session, first, after, POLICY)
    db.session.commit()
    assert_booking_invariants(db.session, after)


def test_claiming_after_the_deadline_is_refused_and_passes_the_seat_on(
    office, service, clock
) -> None:
    week = fill_the_week(office, service, clock())
    first = joined(office, service, clock(), 0)
    second = joined(office, service, clock(), 1)
    booking.cancel_appointment(db.session, week[4], "", clock(), BOOKING)
    with pytest.raises(waitlist.OfferLapsed):
        waitlist.claim(db.session, first, clock() + timedelta(hours=25), POLICY)
    db.session.refresh(second)
    assert second.status == WaitStatus.OFFERED


def test_with_nobody_left_waiting_a_lapsed_seat_returns_to_sale_after_the_delay(
    office, service, clock
) -> None:
    week = fill_the_week(office, service, clock())
    entry = joined(office, service, clock())
    booking.cancel_appointment(db.session, week[4], "", clock(), BOOKING)
    db.session.refresh(entry)
    start = entry.appointment.starts_at
    lapse_at = clock() + timedelta(hours=24)
    waitlist.advance(db.session, office, lapse_at, POLICY)
    assert free_on_sale(office, service, start, lapse_at) == 0
    release_at = db.session.scalar(
        sa.select(appointment_slot.c.release_at).where(
            appointment_slot.c.appointment_id == entry.appointment_id
        )
    )
    assert lapse_at + timedelta(minutes=30) <= release_at <= lapse_at + timedelta(minutes=40)
    assert free_on_sale(office, service, start, release_at) == 1


def test_leaving_with_an_offer_gives_it_to_the_next_one(office, service, clock) -> None:
    week = fill_the_week(office, service, clock())
    first = joined(office, service, clock(), 0)
    second = joined(office, service, clock(), 1)
    booking.cancel_appointment(db.session, week[1], "", clock(), BOOKING)
    waitlist.leave(db.session, first, clock(), POLICY)
    db.session.refresh(second)
    assert first.status == WaitStatus.LEFT and second.status == WaitStatus.OFFERED
    assert second.appointment.starts_at == MONDAY_9 + timedelta(days=1)
    db.session.commit()
    assert_booking_invariants(db.session, clock())


def test_a_seat_whose_release_is_pending_goes_to_someone_who_joins_meanwhile(
    office, service, clock
) -> None:
    week = fill_the_week(office, service, clock())
    booking.cancel_appointment(db.session, week[0], "", clock(), BOOKING)  # nobody waits yet
    booking.cancel_appointment(db.session, week[1], "", clock(), BOOKING)
    db.session.commit()
    pending = dict(
        db.session.execute(
            sa.select(appointment_slot.c.appointment_id, appointment_slot.c.release_at).where(
                appointment_slot.c.appointment_id.in_([week[0].id, week[1].id])
            )
        ).all()
    )
    entry = joined(office, service, clock.advance(minutes=5), 0)
    assert entry.status == WaitStatus.OFFERED
    assert entry.appointment.starts_at == MONDAY_9
    # The seat nobody waiting took keeps its own release time.
    kept = db.session.scalar(
        sa.select(appointment_slot.c.release_at).where(
            appointment_slot.c.appointment_id == week[1].id
        )
    )
    assert kept == pending[week[1].id]
    db.session.commit()
    assert_booking_invariants(db.session, clock())


def test_a_wait_for_days_that_passed_ends(office, service, clock) -> None:
    fill_the_week(office, service, clock())
    entry = joined(office, service, clock(), last_day=MONDAY.isoformat())
    result = waitlist.advance(db.session, office, datetime(2026, 12, 1, tzinfo=UTC), POLICY)
    assert result.ended == 1
    db.session.refresh(entry)
    assert entry.status == WaitStatus.ENDED and not entry.takes_place


def test_staff_see_how_many_wait_for_each_service(office, service, clock) -> None:
    fill_the_week(office, service, clock())
    joined(office, service, clock(), 0)
    joined(office, service, clock(), 1)
    assert waitlist.lengths_by_service(db.session, office.id) == [(service, 2)]


# The order of a round


class Joiner:
    def __init__(self, id_: int, joined_at: datetime) -> None:
        self.id, self.joined_at = id_, joined_at


def test_a_first_in_list_offers_in_the_order_people_joined() -> None:
    start = datetime(2026, 11, 29, tzinfo=UTC)
    entries = [Joiner(n, start + timedelta(minutes=10 - n)) for n in range(1, 6)]
    modes = {e.id: WaitlistMode.FIFO for e in entries}
    order = waitlist.offer_order(entries, modes, random.Random(1))  # type: ignore[arg-type]
    assert [e.id for e in order] == [5, 4, 3, 2, 1]


def test_a_random_list_gives_everyone_who_joined_the_same_chance() -> None:
    start = datetime(2026, 11, 29, tzinfo=UTC)
    entries = [Joiner(n, start + timedelta(hours=n)) for n in range(3)]
    modes = {e.id: WaitlistMode.RANDOM for e in entries}
    firsts = [
        waitlist.offer_order(entries, modes, random.Random(seed))[0].id  # type: ignore[arg-type]
        for seed in range(3000)
    ]
    shares = [firsts.count(n) / len(firsts) for n in range(3)]
    assert all(0.28 < share < 0.39 for share in shares), shares
    again = [
        waitlist.offer_order(entries, modes, random.Random(7))[0].id  # type: ignore[arg-type]
        for _ in range(3)
    ]
    assert len(set(again)) == 1  # the same seed, the same order


def test_a_random_list_offers_a_seat_to_one_of_those_waiting(
    make_service, make_office, clock
) -> None:
    service = make_service("passport-renewal", cutoff_hours=1, waitlist_mode=WaitlistMode.RANDOM)
    office = make_office("busan", periods=[(d, time(9), time(9, 15), 1) for d in range(5)],
                         services=[service])  # fmt: skip
    week = fill_the_week(office, service, clock())
    entries = [joined(office, service, clock(), n) for n in range(2)]
    booking.cancel_appointment(db.session, week[0], "", clock(), BOOKING)
    statuses = sorted(db.session.scalar(sa.select(WaitlistEntry.status).where(
        WaitlistEntry.id == e.id)) for e in entries)  # fmt: skip
    assert statuses == [WaitStatus.OFFERED, WaitStatus.WAITING]
    assert waitlist.place_in_line(db.session, entries[0]) is None  # a random list has no place


def test_personal_data_of_finished_entries_is_erased(office, service, clock) -> None:
    fill_the_week(office, service, clock())
    entry = joined(office, service, clock())
    waitlist.leave(db.session, entry, clock(), POLICY)
    assert waitlist.purge_entries(db.session, clock(), clock() - timedelta(days=1)) == 0
    assert waitlist.purge_entries(db.session, clock(), clock() + timedelta(seconds=1)) == 1
    db.session.refresh(entry)
    assert (entry.iin, entry.email, entry.given_name) == ("", "", "")
    assert entry.tokens == []
