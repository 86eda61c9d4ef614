"""Concurrent bookings never overbook, on SQLite (a file in WAL mode) and on PostgreSQL.

Every racer posts to the JSON API with a connection of its own, from a thread or from a
separate process, and a barrier releases them together. The conditional update decides
who gets a seat, a visit over several slots takes all of them or none, seats given back by
expired holds are taken again exactly once, and the check constraint refuses the rest.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError

from consular import create_app
from consular.extensions import db
from consular.models import (
    ACTIVE_STATUSES,
    Appointment,
    Office,
    OutboxMessage,
    ServiceType,
    Slot,
    Status,
    appointment_slot,
)
from tests.conftest import DEFAULT_NOW, Clock, base_config, booking_body

# Monday 2026-11-30 09:00 in Seoul; the offices' slots are 15 minutes long.
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
RACERS = 24
# Generous bounds: they only matter when something hangs, and then the test fails.
WAIT_SECONDS = 120
# Spawning two dozen interpreters on a busy two-core machine can take minutes.
STARTUP_SECONDS = 300

Outcome = tuple[int | None, Any]
Person = Callable[[Office, list[ServiceType], datetime], dict[str, Any]]


def quarter(n: int) -> datetime:
    """The start of the n-th slot after Monday 09:00."""
    return MONDAY_9 + timedelta(minutes=15 * n)


@pytest.fixture
def racing_app(app: Flask, database_url: str, clock: Clock) -> Iterator[Flask]:
    """A second app on the test database whose pool lets every racer hold a connection."""
    config = base_config(database_url, clock)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": RACERS + 2, "max_overflow": 0}
    racing = create_app(config)
    yield racing
    with racing.app_context():
        db.engine.dispose()


@pytest.fixture
def person(iins: Iterator[str]) -> Person:
    """A booking body for a new person (another IIN) each time it is called."""

    def body(office: Office, services: list[ServiceType], start: datetime) -> dict[str, Any]:
        return booking_body(office, services, start, applicant={"iin": next(iins)})

    return body


def post_booking(app: Flask, body: dict[str, Any]) -> Outcome:
    """Post one booking with a test client of its own; the status and the JSON answer."""
    response = app.test_client().post("/api/v1/appointments", json=body)
    return response.status_code, response.get_json(silent=True)


def race_in_threads(app: Flask, bodies: list[dict[str, Any]]) -> list[Outcome]:
    """Post every body from a thread of its own, all released together."""
    barrier = threading.Barrier(len(bodies))
    outcomes: list[Outcome] = [(None, "did not finish")] * len(bodies)

    def racer(index: int, body: dict[str, Any]) -> None:
        try:
            # An app context per thread: a session, and so a connection, per racer.
            with app.app_context():
                barrier.wait(timeout=WAIT_SECONDS)
                outcomes[index] = post_booking(app, body)
        except Exception:  # noqa: BLE001 - reported through the outcome
            outcomes[index] = (None, traceback.format_exc())

    threads = [threading.Thread(target=racer, args=(i, b)) for i, b in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a racer is stuck"
    return outcomes


def _process_racer(
    index: int, database_url: str, now: datetime, body: dict[str, Any], barrier: Any, results: Any
) -> None:
    """In a spawned process: an app and a connection of its own, one booking when released."""
    try:
        app = create_app(base_config(database_url, Clock(now)))
        try:
            barrier.wait(timeout=STARTUP_SECONDS)
            results.put((index, *post_booking(app, body)))
        finally:
            with app.app_context():
                db.engine.dispose()
    except Exception:  # noqa: BLE001 - reported to the parent
        results.put((index, None, traceback.format_exc()))


def race_in_processes(
    database_url: str, now: datetime, bodies: list[dict[str, Any]]
) -> list[Outcome]:
    """Post every body from a process of its own (spawned: nothing inherited), released together."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(bodies))
    results = context.Queue()
    processes = [
        context.Process(target=_process_racer, args=(i, database_url, now, b, barrier, results))
        for i, b in enumerate(bodies)
    ]
    outcomes: list[Outcome] = [(None, "did not answer")] * len(bodies)
    deadline = time.monotonic() + STARTUP_SECONDS + WAIT_SECONDS
    try:
        for process in processes:
            process.start()
        answered = 0
        while answered < len(bodies) and time.monotonic() < deadline:
            try:
                index, status, answer = results.get(timeout=1)
            except queue.Empty:
                if not any(process.is_alive() for process in processes):
                    break  # a racer died without answering
                continue
            outcomes[index] = (status, answer)
            answered += 1
    finally:
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
            process.close()
        results.close()
        results.join_thread()
    return outcomes


def count_holds(outcomes: list[Outcome]) -> int:
    """Check that every racer got 201 held or 409 slot_unavailable; the number of holds."""
    unexpected = [
        (status, answer)
        for status, answer in outcomes
        if not (status == 201 and answer["status"] == "held")
        and not (status == 409 and answer["error"] == "slot_unavailable")
    ]
    assert not unexpected, unexpected
    return sum(1 for status, _ in outcomes if status == 201)


def count(table: Any) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(table))


def booked_by_start(office_id: int) -> dict[datetime, int]:
    return dict(
        db.session.execute(
            sa.select(Slot.starts_at, Slot.booked).where(Slot.office_id == office_id)
        ).all()
    )


def assert_slots_match_appointments(office_id: int, now: datetime) -> None:
    """Each slot of the office: booked within capacity and equal to the seats held in it;
    each live appointment holds a seat in exactly the slots from its start to its end."""
    db.session.rollback()  # read what the racers committed
    holding = (
        sa.select(sa.func.count())
        .select_from(appointment_slot)
        .where(appointment_slot.c.slot_id == Slot.id, appointment_slot.c.holds_seat.is_(True))
        .scalar_subquery()
    )
    rows = db.session.execute(
        sa.select(Slot.starts_at, Slot.booked, Slot.capacity, holding.label("holding"))
        .where(Slot.office_id == office_id)
        .order_by(Slot.starts_at)
    ).all()
    wrong = [row for row in rows if not (row.booked <= row.capacity and row.booked == row.holding)]
    assert not wrong, wrong
    for appointment in db.session.scalars(sa.select(Appointment)):
        if appointment.status not in ACTIVE_STATUSES or appointment.is_hold_expired(now):
            continue
        held = db.session.scalars(
            sa.select(Slot.starts_at)
            .join(appointment_slot, appointment_slot.c.slot_id == Slot.id)
            .where(
                appointment_slot.c.appointment_id == appointment.id,
                appointment_slot.c.holds_seat.is_(True),
            )
            .order_by(Slot.starts_at)
        ).all()
        spanned = db.session.scalars(
            sa.select(Slot.starts_at)
            .where(
                Slot.office_id == office_id,
                Slot.starts_at >= appointment.starts_at,
                Slot.starts_at < appointment.ends_at,
            )
            .order_by(Slot.starts_at)
        ).all()
        assert held == spanned, appointment


def assert_only_the_slot_is_full(office_id: int, seats: int) -> None:
    """The raced slot is full with one hold per seat, and nothing else was written."""
    db.session.rollback()
    slot = db.session.execute(
        sa.select(Slot.id, Slot.booked, Slot.capacity).where(
            Slot.office_id == office_id, Slot.starts_at == MONDAY_9
        )
    ).one()
    assert slot.booked == slot.capacity == seats
    assert db.session.scalar(sa.select(sa.func.sum(Slot.booked))) == seats
    held = db.session.scalars(sa.select(Appointment.id).where(Appointment.status == Status.HELD))
    assert len(held.all()) == count(Appointment) == seats
    seats_held = db.session.execute(sa.select(appointment_slot)).all()
    assert [(s.slot_id, s.holds_seat) for s in seats_held] == [(slot.id, True)] * seats
    assert count(OutboxMessage) == seats  # a code email for each hold, none for the others
    assert_slots_match_appointments(office_id, DEFAULT_NOW)


# One slot, many people at once: exactly as many holds as seats.


@pytest.mark.parametrize("seats", [1, 3])
def test_threads_racing_for_one_slot_get_exactly_its_seats(
    app, racing_app, make_office, make_service, person, seats
) -> None:
    service = make_service()
    office = make_office(desks=seats, services=[service])
    office_id = office.id
    bodies = [person(office, [service], MONDAY_9) for _ in range(RACERS)]
    # On SQLite every transaction takes the write lock: ours must not stand in the way.
    db.session.rollback()

    outcomes = race_in_threads(racing_app, bodies)

    assert count_holds(outcomes) == seats
    assert_only_the_slot_is_full(office_id, seats)


@pytest.mark.slow
@pytest.mark.parametrize("seats", [1, 3])
def test_processes_racing_for_one_slot_get_exactly_its_seats(
    app, database_url, clock, make_office, make_service, person, seats
) -> None:
    service = make_service()
    office = make_office(desks=seats, services=[service])
    office_id = office.id
    bodies = [person(office, [service], MONDAY_9) for _ in range(RACERS)]
    db.session.rollback()

    outcomes = race_in_processes(database_url, clock(), bodies)

    assert count_holds(outcomes) == seats
    assert_only_the_slot_is_full(office_id, seats)


# Seats given back: taken again exactly once.


@pytest.mark.parametrize("seats", [1, 3])
def test_seats_of_expired_holds_go_to_exactly_as_many_racers(
    app, racing_app, client, clock, make_office, make_service, person, seats
) -> None:
    service = make_service()
    office = make_office(desks=seats, services=[service])
    office_id = office.id
    for _ in range(seats):
        body = person(office, [service], MONDAY_9)
        assert client.post("/api/v1/appointments", json=body).status_code == 201
    clock.advance(minutes=11)  # the holds last 10 minutes
    bodies = [person(office, [service], MONDAY_9) for _ in range(RACERS)]
    db.session.rollback()

    outcomes = race_in_threads(racing_app, bodies)

    assert count_holds(outcomes) == seats
    db.session.rollback()
    statuses = db.session.scalars(sa.select(Appointment.status).order_by(Appointment.id)).all()
    assert statuses == [Status.EXPIRED] * seats + [Status.HELD] * seats
    assert_slots_match_appointments(office_id, clock())


def test_people_rebooking_each_others_expired_times_all_get_them(
    app, racing_app, client, clock, make_office, make_service, person
) -> None:
    service = make_service()
    office = make_office(desks=RACERS // 2, services=[service])
    office_id = office.id
    bodies = []
    for n in range(RACERS):
        body = person(office, [service], quarter(n % 2))
        assert client.post("/api/v1/appointments", json=body).status_code == 201
        bodies.append({**body, "start": quarter(1 - n % 2).astimezone(office.zone).isoformat()})
    clock.advance(minutes=11)
    db.session.rollback()

    outcomes = race_in_threads(racing_app, bodies)

    # Each slot gives back its 12 expired holds and takes 12 new ones: room for everybody.
    assert count_holds(outcomes) == RACERS
    assert_slots_match_appointments(office_id, clock())


# A visit over several slots: all of them or none.


@pytest.mark.parametrize("full", [0, 1, 2], ids=["first-full", "middle-full", "last-full"])
def test_a_long_visit_over_a_full_slot_leaves_no_partial_booking(
    app, client, make_office, make_service, person, full
) -> None:
    short = make_service("short", duration_minutes=15)
    long = make_service("long", duration_minutes=45)
    office = make_office(desks=2, services=[short, long])
    for _ in range(2):
        body = person(office, [short], quarter(full))
        assert client.post("/api/v1/appointments", json=body).status_code == 201
    before = booked_by_start(office.id)

    response = client.post("/api/v1/appointments", json=person(office, [long], MONDAY_9))

    assert response.status_code == 409
    assert response.get_json()["error"] == "slot_unavailable"
    db.session.rollback()
    assert booked_by_start(office.id) == before
    assert count(Appointment) == count(appointment_slot) == count(OutboxMessage) == 2
    assert_slots_match_appointments(office.id, DEFAULT_NOW)


@pytest.mark.parametrize("seats", [1, 2])
def test_long_and_short_visits_racing_over_overlapping_slots_never_overbook(
    app, racing_app, make_office, make_service, person, seats
) -> None:
    short = make_service("short", duration_minutes=15)
    long = make_service("long", duration_minutes=45)
    office = make_office(desks=seats, services=[short, long])
    office_id = office.id
    bodies = [person(office, [long], quarter(n % 3)) for n in range(RACERS // 2)]
    bodies += [person(office, [short], quarter(n % 5)) for n in range(RACERS // 2)]
    db.session.rollback()

    outcomes = race_in_threads(racing_app, bodies)

    held = count_holds(outcomes)
    assert 1 <= held <= 5 * seats  # the visits span the five slots from 09:00
    assert count(Appointment) == held
    assert_slots_match_appointments(office_id, DEFAULT_NOW)


# The last line of defence: the database itself.


@pytest.mark.parametrize(
    "booked", [Slot.capacity + 1, sa.literal(-1)], ids=["over-capacity", "negative"]
)
def test_the_database_refuses_a_seat_count_outside_the_capacity(app, make_office, booked) -> None:
    office = make_office(desks=2)
    slot_id = db.session.scalar(
        sa.select(Slot.id).where(Slot.office_id == office.id, Slot.starts_at == MONDAY_9)
    )
    with pytest.raises(IntegrityError):
        db.session.execute(sa.update(Slot).where(Slot.id == slot_id).values(booked=booked))
    db.session.rollback()
    assert db.session.scalar(sa.select(Slot.booked).where(Slot.id == slot_id)) == 0
