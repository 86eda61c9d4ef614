"""The booking core's rules: holds, expiry, release delay, one booking per IIN, notice,
horizon, cut-off, closures and breaks. Read top to bottom as the specification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import (
    Appointment,
    AppointmentService,
    Closure,
    Slot,
    Status,
    appointment_slot,
)
from consular.services import booking
from consular.services.availability import VisitRules, visit_start_times
from consular.services.errors import (
    BookingClosed,
    CutoffPassed,
    DuplicateBooking,
    HoldExpired,
    SlotUnavailable,
    ValidationFailed,
)
from consular.services.schedule import sync_slots
from tests.conftest import SECRET, booking_body

POLICY = booking.BookingPolicy(secret=SECRET, hold_minutes=10, release_delay_minutes=30)
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
TUESDAY_9 = MONDAY_9 + timedelta(days=1)


@pytest.fixture
def one_desk(make_office, make_service):
    service = make_service("passport-renewal", duration_minutes=15, cutoff_hours=24)
    office = make_office("seoul", desks=1, services=[service])
    return office, service


def hold(office, services, start, now, iin="850502401238", **overrides):
    """Place a hold through the same parsing the API uses."""
    body = booking_body(office, services, start, applicant={"iin": iin}, **overrides)
    request = booking.parse_booking_request(db.session, body, now, POLICY)
    return booking.place_hold(db.session, request, now, POLICY)


def confirmed(placed, now):
    """Confirm a hold with its code: a person's place among their bookings is taken then."""
    booking.confirm_hold(db.session, placed.appointment, placed.code, now, POLICY)
    return placed


def free_at(office, services, start, now) -> int | None:
    rules = VisitRules.for_services(services)
    day = start.astimezone(office.zone).date()
    for option in visit_start_times(db.session, office, rules, day, day, now):
        if option.starts_at == start:
            return option.available
    return None


# Holds and their expiry


def test_a_hold_takes_a_seat_until_it_expires(one_desk, clock) -> None:
    office, service = one_desk
    now = clock()
    hold(office, [service], MONDAY_9, now)
    assert free_at(office, [service], MONDAY_9, now) == 0
    with pytest.raises(SlotUnavailable):
        hold(office, [service], MONDAY_9, now, iin="900101300126")


def test_an_expired_hold_frees_its_seat_without_any_background_job(one_desk, clock) -> None:
    office, service = one_desk
    first = hold(office, [service], MONDAY_9, clock())
    db.session.commit()
    later = clock.advance(minutes=10)
    assert free_at(office, [service], MONDAY_9, later) == 1
    second = hold(office, [service], MONDAY_9, later, iin="900101300126")
    db.session.commit()
    assert db.session.get(Slot, second.appointment.slots[0].id).booked == 1
    db.session.refresh(first.appointment)
    assert first.appointment.status == Status.EXPIRED
    assert first.appointment.expired_at == later


def test_an_expired_hold_cannot_be_confirmed(one_desk, clock) -> None:
    office, service = one_desk
    placed = hold(office, [service], MONDAY_9, clock())
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(HoldExpired):
        booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)


def test_a_confirmed_booking_keeps_its_seat_after_the_hold_time(one_desk, clock) -> None:
    office, service = one_desk
    placed = hold(office, [service], MONDAY_9, clock())
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    later = clock.advance(hours=2)
    assert free_at(office, [service], MONDAY_9, later) == 0
    with pytest.raises(SlotUnavailable):
        hold(office, [service], MONDAY_9, later, iin="900101300126")


# Cancellation and the release delay


def test_a_cancelled_seat_comes_back_only_after_the_release_delay(
    make_office, make_service, clock
) -> None:
    service = make_service(cutoff_hours=1)
    office = make_office(desks=1, services=[service])
    placed = hold(office, [service], MONDAY_9, clock())
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    booking.cancel_appointment(db.session, placed.appointment, "plans changed", clock(), POLICY)
    db.session.commit()
    assert free_at(office, [service], MONDAY_9, clock()) == 0
    with pytest.raises(SlotUnavailable):
        hold(office, [service], MONDAY_9, clock.advance(minutes=29), iin="900101300126")
    db.session.rollback()
    clock.advance(minutes=1)
    assert free_at(office, [service], MONDAY_9, clock()) == 1
    hold(office, [service], MONDAY_9, clock(), iin="900101300126")
    assert db.session.scalar(sa.select(Slot.booked).where(Slot.starts_at == MONDAY_9)) == 1


def test_release_times_are_stored_as_instants_whatever_the_zone_of_now(
    make_office, make_service, clock
) -> None:
    service = make_service(cutoff_hours=1)
    office = make_office(desks=1, services=[service])
    placed = hold(office, [service], MONDAY_9, clock())
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    in_seoul = clock().astimezone(ZoneInfo("Asia/Seoul"))
    booking.cancel_appointment(db.session, placed.appointment, "", in_seoul, POLICY)
    db.session.commit()
    stored = db.session.scalar(sa.select(appointment_slot.c.release_at))
    assert stored == clock() + timedelta(minutes=30)


def test_cancellation_is_refused_after_the_cutoff(one_desk, clock) -> None:
    office, service = one_desk  # 24-hour cut-off; Monday 09:00 is 21 hours away
    placed = hold(office, [service], MONDAY_9, clock())
    with pytest.raises(CutoffPassed):
        booking.cancel_appointment(db.session, placed.appointment, "", clock(), POLICY)
    staff = booking.cancel_appointment(
        db.session, placed.appointment, "", clock(), POLICY, enforce_cutoff=False
    )
    assert staff.status == Status.CANCELLED


# One active booking per IIN and service


def test_one_active_booking_per_iin_and_service(one_desk, make_service, clock) -> None:
    office, service = one_desk
    other = make_service("birth-registration")
    office.services.append(other)
    db.session.commit()
    placed = hold(office, [service], MONDAY_9, clock())
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    with pytest.raises(DuplicateBooking):
        hold(office, [service], TUESDAY_9, clock())
    db.session.rollback()
    hold(office, [other], TUESDAY_9, clock())  # another service is fine


def test_the_database_refuses_a_second_active_line_for_the_same_person(one_desk, clock) -> None:
    office, service = one_desk
    placed = hold(office, [service], MONDAY_9, clock())
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    db.session.commit()
    copy = AppointmentService(
        appointment_id=placed.appointment.id, service_type_id=service.id, iin="850502401238"
    )
    db.session.add(copy)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_service_may_allow_several_active_bookings_per_person(
    make_office, make_service, clock
) -> None:
    service = make_service(max_active_bookings=2)
    office = make_office(desks=2, services=[service])
    first = confirmed(hold(office, [service], MONDAY_9, clock()), clock())
    second = confirmed(hold(office, [service], TUESDAY_9, clock()), clock())
    places = [line.active_seq for a in (first, second) for line in a.appointment.service_lines]
    assert places == [1, 2]
    with pytest.raises(DuplicateBooking):
        hold(office, [service], TUESDAY_9 + timedelta(hours=1), clock())
    db.session.rollback()


def test_a_freed_place_is_taken_again_and_the_database_refuses_a_taken_one(
    make_office, make_service, clock
) -> None:
    service = make_service(max_active_bookings=2, cutoff_hours=1)
    office = make_office(desks=2, services=[service])
    first = confirmed(hold(office, [service], MONDAY_9, clock()), clock())
    confirmed(hold(office, [service], TUESDAY_9, clock()), clock())
    booking.cancel_appointment(db.session, first.appointment, "", clock(), POLICY)
    third = confirmed(hold(office, [service], TUESDAY_9 + timedelta(hours=1), clock()), clock())
    assert third.appointment.service_lines[0].active_seq == 1
    db.session.commit()
    db.session.add(
        AppointmentService(
            appointment_id=first.appointment.id,
            service_type_id=service.id,
            iin="850502401238",
            active_seq=2,
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_the_same_person_can_book_again_after_expiry_or_cancellation(
    make_office, make_service, clock
) -> None:
    service = make_service(cutoff_hours=1)
    office = make_office(desks=2, services=[service])
    hold(office, [service], MONDAY_9, clock())
    clock.advance(minutes=11)
    second = hold(office, [service], TUESDAY_9, clock())
    booking.cancel_appointment(db.session, second.appointment, "", clock(), POLICY)
    hold(office, [service], TUESDAY_9 + timedelta(hours=1), clock())
    statuses = db.session.scalars(sa.select(Appointment.status).order_by(Appointment.id)).all()
    assert statuses == [Status.EXPIRED, Status.CANCELLED, Status.HELD]


# Notice, horizon, closures, breaks, closed offices, retired services


def test_minimum_notice(make_office, make_service, clock) -> None:
    service = make_service(min_notice_hours=48)
    office = make_office(services=[service])
    with pytest.raises(ValidationFailed) as error:
        hold(office, [service], MONDAY_9, clock())
    assert "start" in error.value.fields
    days = {
        s.starts_at.date()
        for s in visit_start_times(
            db.session,
            office,
            VisitRules.for_services([service]),
            MONDAY_9.date(),
            MONDAY_9.date() + timedelta(days=3),
            clock(),
        )
    }
    assert min(days) == datetime(2026, 12, 1).date() and MONDAY_9.date() not in days


def test_booking_horizon(make_office, make_service, clock) -> None:
    service = make_service(horizon_days=7)
    office = make_office(services=[service])
    with pytest.raises(ValidationFailed):
        hold(office, [service], MONDAY_9 + timedelta(days=14), clock())
    starts = visit_start_times(
        db.session,
        office,
        VisitRules.for_services([service]),
        MONDAY_9.date(),
        MONDAY_9.date() + timedelta(days=30),
        clock(),
    )
    assert (
        max(s.starts_at for s in starts).astimezone(office.zone).date().isoformat() == "2026-12-04"
    )


def test_a_closed_day_offers_no_times(make_office, make_service, clock) -> None:
    service = make_service()
    office = make_office(services=[service])
    db.session.add(
        Closure(
            office=office,
            first_day=MONDAY_9.date(),
            last_day=MONDAY_9.date(),
            reason="Demo closure",
        )
    )
    db.session.flush()
    db.session.refresh(office)
    sync_slots(db.session, office, clock(), 60)
    assert free_at(office, [service], MONDAY_9, clock()) is None
    with pytest.raises(SlotUnavailable):
        hold(office, [service], MONDAY_9, clock())


def test_a_visit_never_spans_the_lunch_break(make_office, make_service, clock) -> None:
    service = make_service(duration_minutes=45)
    office = make_office(services=[service])  # 09:00-12:30 and 14:00-17:00
    rules = VisitRules.for_services([service])
    starts = visit_start_times(db.session, office, rules, MONDAY_9.date(), MONDAY_9.date(), clock())
    local = [s.starts_at.astimezone(office.zone).strftime("%H:%M") for s in starts]
    assert "11:45" in local and "12:00" not in local and "12:15" not in local
    assert local[-1] == "16:15"
    with pytest.raises(SlotUnavailable):
        hold(office, [service], MONDAY_9.replace(hour=3), clock())  # 12:00 local


def test_several_services_take_the_sum_of_their_durations(make_office, make_service, clock) -> None:
    first = make_service(duration_minutes=30)
    second = make_service(duration_minutes=20)
    office = make_office(services=[first, second])
    placed = hold(office, [first, second], MONDAY_9, clock())
    appointment = placed.appointment
    assert appointment.ends_at - appointment.starts_at == timedelta(minutes=60)  # 4 slots of 15
    assert len(appointment.slots) == 4


def test_a_start_between_slots_is_unavailable(one_desk, clock) -> None:
    office, service = one_desk
    with pytest.raises(SlotUnavailable):
        hold(office, [service], MONDAY_9 + timedelta(minutes=7), clock())


def test_closed_online_booking_is_refused(one_desk, clock) -> None:
    office, service = one_desk
    office.booking_open = False
    with pytest.raises(BookingClosed):
        hold(office, [service], MONDAY_9, clock())


def test_a_retired_service_or_another_offices_service_is_refused(
    make_office, make_service, clock
) -> None:
    retired = make_service(is_active=False)
    elsewhere = make_service()
    office = make_office(services=[retired])
    make_office(services=[elsewhere])
    for service in (retired, elsewhere):
        with pytest.raises(ValidationFailed) as error:
            hold(office, [service], MONDAY_9, clock())
        assert "services" in error.value.fields


def test_a_staff_only_service_is_not_booked_online(make_office, make_service, clock) -> None:
    counter_only = make_service(is_online=False)
    office = make_office(services=[counter_only])
    with pytest.raises(ValidationFailed) as error:
        hold(office, [counter_only], MONDAY_9, clock())
    assert "services" in error.value.fields


def test_only_combinable_services_share_a_visit(make_office, make_service, clock) -> None:
    passport = make_service()
    marriage = make_service(combinable=False)
    birth = make_service()  # combinable with both made before it
    office = make_office(desks=2, services=[passport, marriage, birth])
    with pytest.raises(ValidationFailed) as error:
        hold(office, [passport, marriage], MONDAY_9, clock())
    assert "same visit" in error.value.fields["services"][0]
    db.session.rollback()
    placed = hold(office, [marriage, birth], MONDAY_9, clock())
    assert len(placed.appointment.service_lines) == 2


def test_the_iin_must_match_the_birth_date_given_for_a_spouse(
    make_office, make_service, clock
) -> None:
    service = make_service(detail_sets=["spouse"])
    office = make_office(services=[service])
    spouse = {
        "given_name": "Dana",
        "family_name": "Kim",
        "birth_date": "1990-01-02",
        "iin": "900101300126",
    }
    with pytest.raises(ValidationFailed) as error:
        hold(office, [service], MONDAY_9, clock(), details={"spouse": spouse})
    assert "details.spouse.iin" in error.value.fields
    spouse["birth_date"] = "1990-01-01"
    hold(office, [service], MONDAY_9, clock(), details={"spouse": spouse})


def test_a_foreign_spouse_needs_a_passport_instead_of_an_iin(
    make_office, make_service, clock
) -> None:
    service = make_service(detail_sets=["spouse"])
    office = make_office(services=[service])
    spouse = {"given_name": "Minji", "family_name": "Park", "birth_date": "1992-04-05"}
    with pytest.raises(ValidationFailed) as error:
        hold(office, [service], MONDAY_9, clock(), details={"spouse": spouse})
    assert list(error.value.fields) == ["details.spouse.iin"]
    spouse["foreign_passport"] = "M1234 5678"
    placed = hold(office, [service], MONDAY_9, clock(), details={"spouse": spouse})
    assert placed.appointment.details["spouse"]["foreign_passport"] == "M12345678"


def test_times_are_stored_in_utc_and_refuse_naive_values(one_desk, clock) -> None:
    office, service = one_desk
    placed = hold(office, [service], MONDAY_9, clock())
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Appointment, placed.appointment.id)
    assert stored.starts_at == MONDAY_9 and stored.starts_at.tzinfo is not None
    stored.confirmed_at = datetime(2026, 11, 29, 12, 0)
    with pytest.raises(sa.exc.StatementError):
        db.session.flush()
    db.session.rollback()


def test_office_in_a_dst_zone_offers_wall_clock_times(make_office, make_service) -> None:
    service = make_service()
    now = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    office = make_office(timezone="Europe/Berlin", services=[service], generate=False)
    sync_slots(db.session, office, now, 14)
    rules = VisitRules.for_services([service])
    starts = visit_start_times(
        db.session, office, rules, now.date(), now.date() + timedelta(days=10), now
    )
    by_day: dict[str, set[str]] = {}
    for s in starts:
        local = s.starts_at.astimezone(office.zone)
        by_day.setdefault(local.date().isoformat(), set()).add(local.strftime("%H:%M"))
    assert by_day["2026-10-23"] == by_day["2026-10-26"]  # Friday in summer time, Monday after
    assert "09:00" in by_day["2026-10-26"]
