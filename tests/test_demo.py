"""The demo's four weeks of past visits: what the reports show, and that it stays in the past."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from consular.demo import HISTORY_DAYS, seed, seed_history
from consular.extensions import db
from consular.models import (
    Appointment,
    AppointmentService,
    Base,
    Desk,
    Office,
    Slot,
    Status,
    Ticket,
    TicketCounter,
    TicketStatus,
    User,
    appointment_slot,
    now_utc,
)
from consular.services.identity import parse_iin
from consular.services.reports import build_report
from consular.services.retention import purge_personal_data
from consular.services.schedule import local_instant
from tests.conftest import Clock

seat = appointment_slot.c
MINUTE = timedelta(minutes=1)


def counts() -> dict[str, int]:
    """How many rows the history touches, by table."""
    tables = (Appointment, AppointmentService, Ticket, TicketCounter, Slot)
    return {
        model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in tables
    } | {
        "appointment_slot": db.session.scalar(
            sa.select(sa.func.count()).select_from(appointment_slot)
        )
    }


@pytest.fixture
def seeded(app: Flask, clock: Clock) -> datetime:
    """The demo data seeded at the test clock's time; returns that time."""
    seed(db.session, clock(), app.config["SLOT_HORIZON_DAYS"])
    db.session.commit()
    return clock()


def offices() -> list[Office]:
    return list(db.session.scalars(sa.select(Office).order_by(Office.id)))


def test_seed_demo_gives_the_reports_four_weeks_of_numbers(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    for office in offices():
        today = now_utc().astimezone(office.zone).date()
        report = build_report(
            db.session,
            office,
            today - timedelta(days=HISTORY_DAYS),
            today - timedelta(days=1),
            "en",
        )
        total = report.total
        assert total.bookings > 100, office.code
        assert total.attended > total.no_shows > 0
        assert total.cancellations > 0 and total.walk_ins > 0
        assert total.pending == 0  # every past day is closed
        assert 0.03 < (total.no_show_rate or 0) < 0.25
        assert report.capacity.offered > 0
        assert 0.4 < (report.capacity.use or 0) <= 1
        assert report.times.lead.count == total.bookings
        assert report.times.lead.median is not None and report.times.lead.median > timedelta(days=1)
        assert report.times.wait.count > 0 and report.times.service.count > 0
        wait, service = report.times.wait, report.times.service
        assert wait.median is not None and 3 * MINUTE <= wait.median <= 25 * MINUTE
        assert service.median is not None and 5 * MINUTE <= service.median <= 20 * MINUTE
        assert {row.code for row in report.services} == {
            "passport-renewal",
            "marriage-registration",
            "birth-registration",
        }
        assert all(row.counts.bookings > 0 for row in report.services)
        opening_days = [row for row in report.days if row.capacity.offered]
        assert len(opening_days) >= 12
        assert all(row.counts.bookings > 0 for row in opening_days)

    before = counts()
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0, again.output
    assert counts() == before
    assert seed_history(db.session, now_utc()) == 0
    assert counts() == before


def test_the_history_stays_in_the_past_and_within_retention(app: Flask, seeded) -> None:
    for office in offices():
        zone = office.zone
        today = seeded.astimezone(zone).date()
        midnight = local_instant(today, time(0), zone)
        oldest = local_instant(today - timedelta(days=HISTORY_DAYS), time(0), zone)
        visits = db.session.scalars(
            sa.select(Appointment).where(Appointment.office_id == office.id)
        ).all()
        assert visits
        for visit in visits:
            assert oldest <= visit.starts_at < visit.ends_at < midnight
            moments = [
                visit.created_at,
                visit.hold_expires_at,
                visit.confirmed_at,
                visit.cancelled_at,
                visit.expired_at,
                visit.checked_in_at,
                visit.called_at,
                visit.served_at,
                visit.no_show_at,
                visit.reminder_3d_sent_at,
                visit.reminder_1d_sent_at,
            ]
            assert all(m.tzinfo is not None and m < midnight for m in moments if m is not None)
        tickets = db.session.scalars(sa.select(Ticket).where(Ticket.office_id == office.id)).all()
        assert tickets
        for ticket in tickets:
            assert ticket.service_day < today
            assert ticket.finished_at is not None and ticket.finished_at < midnight
        assert all(
            day < today
            for day in db.session.scalars(
                sa.select(TicketCounter.service_day).where(TicketCounter.office_id == office.id)
            )
        )
        seat_starts = db.session.scalars(
            sa.select(Slot.starts_at)
            .join(appointment_slot, seat.slot_id == Slot.id)
            .where(Slot.office_id == office.id)
        ).all()
        assert seat_starts and max(seat_starts) < midnight

    purged = purge_personal_data(db.session, seeded, app.config["RETENTION_DAYS"])
    assert purged.appointments == 0


def test_the_history_looks_like_the_booking_core_and_the_queue_left_it(seeded) -> None:
    visits = db.session.scalars(sa.select(Appointment)).all()
    statuses = Counter(visit.status for visit in visits)
    assert set(statuses) == {Status.SERVED, Status.NO_SHOW, Status.CANCELLED, Status.EXPIRED}
    references = [visit.reference for visit in visits]
    assert len(set(references)) == len(references)
    for visit in visits:
        assert parse_iin(visit.iin) is not None, visit.iin
        assert visit.email.endswith("@example.com")
        assert re.fullmatch(r"\+8210\d{8}", visit.phone)
        assert re.fullmatch(r"[A-Z]\d{8}", visit.passport_number)
        for group in visit.details.values():
            if "iin" in group:
                assert parse_iin(group["iin"]) is not None, group
        assert visit.service_lines
        for line in visit.service_lines:
            assert not line.is_active and line.iin == visit.iin
            assert line.snapshot["code"] == line.service_type.code
        if visit.status == Status.EXPIRED:
            assert visit.confirmed_at is None and visit.expired_at is not None
        else:
            assert visit.confirmed_at is not None
            assert visit.starts_at - visit.confirmed_at >= timedelta(days=1)
        if visit.status == Status.CANCELLED:
            assert visit.confirmed_at < visit.cancelled_at < visit.starts_at  # type: ignore[operator]
        if visit.status == Status.SERVED:
            assert visit.checked_in_at < visit.called_at < visit.served_at  # type: ignore[operator]

    # Seats: served and missed visits keep theirs; the others' went back on sale.
    rows = db.session.execute(
        sa.select(seat.slot_id, seat.holds_seat, seat.release_at, Appointment.status).join(
            Appointment, Appointment.id == seat.appointment_id
        )
    ).all()
    holding: Counter[int] = Counter()
    for slot_id, holds_seat, release_at, status in rows:
        if status in (Status.SERVED, Status.NO_SHOW):
            assert holds_seat and release_at is None
            holding[slot_id] += 1
        else:
            assert not holds_seat and release_at is not None
    past_slots = db.session.scalars(sa.select(Slot).where(Slot.starts_at < seeded)).all()
    assert past_slots
    for slot in past_slots:
        assert slot.booked == holding[slot.id] <= slot.capacity <= slot.desks

    # Tickets: numbered from S-001 (B-001) each day, at desks and by staff of the office.
    tickets = db.session.scalars(sa.select(Ticket).order_by(Ticket.id)).all()
    by_day: dict[Any, list[Ticket]] = {}
    for ticket in tickets:
        by_day.setdefault((ticket.office_id, ticket.service_day), []).append(ticket)
        assert ticket.label == f"{ticket.office.ticket_prefix}-{ticket.number:03d}"
        if ticket.status == TicketStatus.SERVED:
            assert ticket.desk is not None and ticket.desk.office_id == ticket.office_id
            assert ticket.clerk is not None and ticket.clerk.can_access_office(ticket.office_id)
            assert ticket.first_called_at is not None and ticket.finished_at is not None
            wait = ticket.first_called_at - ticket.arrived_at
            assert 3 * MINUTE <= wait <= 25 * MINUTE
            assert 5 * MINUTE <= ticket.finished_at - ticket.first_called_at <= 20 * MINUTE
        else:
            assert ticket.status == TicketStatus.MISSED and ticket.is_walk_in
    counters = {
        (c.office_id, c.service_day): c.last_number
        for c in db.session.scalars(sa.select(TicketCounter))
    }
    assert counters.keys() == by_day.keys()
    for key, day_tickets in by_day.items():
        assert sorted(t.number for t in day_tickets) == list(range(1, len(day_tickets) + 1))
        assert counters[key] == len(day_tickets)
    assert any(t.is_walk_in for t in tickets) and any(t.is_priority for t in tickets)
    attended = {t.appointment_id for t in tickets if t.appointment_id is not None}
    assert attended == {v.id for v in visits if v.status == Status.SERVED}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Desk)) == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 4


def test_the_history_is_the_same_every_time(app: Flask, clock: Clock) -> None:

    def fingerprint() -> list[tuple[Any, ...]]:
        seed(db.session, clock(), app.config["SLOT_HORIZON_DAYS"])
        db.session.commit()
        return [
            tuple(row)
            for row in db.session.execute(
                sa.select(
                    Appointment.reference,
                    Appointment.status,
                    Appointment.starts_at,
                    Appointment.iin,
                    Appointment.confirmed_at,
                ).order_by(Appointment.id)
            )
        ]

    first = fingerprint()
    db.session.remove()
    with db.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    assert fingerprint() == first
