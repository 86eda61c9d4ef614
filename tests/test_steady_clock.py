"""The process's clock keeps time through a step of the system clock: a step undone within
the grace never reaches the data (holds, retry times), one that lasts is believed, and a
suspend (counted by CLOCK_BOOTTIME) is no step."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from consular.extensions import db
from consular.services import booking
from consular.steady_clock import SteadyClock
from tests.conftest import SECRET, booking_body

START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC).timestamp()  # Monday 09:00 in Seoul


class Machine:
    """A wall clock that can be stepped, and the steady clock beside it that can't."""

    def __init__(self) -> None:
        self.true_seconds = 0.0
        self.step = 0.0

    def wall(self) -> float:
        return START + self.true_seconds + self.step

    def steady(self) -> float:
        return 1000.0 + self.true_seconds

    def wait(self, seconds: float) -> None:
        self.true_seconds += seconds

    def true_time(self) -> datetime:
        return datetime.fromtimestamp(START + self.true_seconds, UTC)


@pytest.fixture
def machine() -> Machine:
    return Machine()


def clock_of(machine: Machine, grace: float = 600) -> SteadyClock:
    return SteadyClock(grace, wall=machine.wall, steady=machine.steady)


def test_it_tells_the_wall_time_while_the_clocks_agree(machine: Machine) -> None:
    clock = clock_of(machine)
    assert clock() == machine.true_time()
    machine.wait(3600)
    machine.step = 0.4  # NTP's small corrections are followed at once
    assert clock().timestamp() == machine.wall()


@pytest.mark.parametrize("step", [-15 * 60, 15 * 60, -3 * 3600])
def test_a_step_undone_within_the_grace_never_shows(
    machine: Machine, step: float, caplog: pytest.LogCaptureFixture
) -> None:
    clock = clock_of(machine)
    clock()
    with caplog.at_level(logging.WARNING, logger="consular.steady_clock"):
        machine.wait(10)
        machine.step = step
        for _ in range(5):
            assert clock() == machine.true_time()
            machine.wait(60)
        machine.step = 0
        assert clock() == machine.true_time()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "stepped by" in messages[0] and "back in step" in messages[1]


def test_a_step_that_lasts_the_grace_is_believed(machine: Machine) -> None:
    clock = clock_of(machine, grace=600)
    clock()
    machine.step = -7200  # the clock was two hours fast, and is now set right
    assert clock() == machine.true_time()
    machine.wait(599)
    assert clock() == machine.true_time()
    machine.wait(1)
    assert clock().timestamp() == machine.wall()
    machine.wait(30)
    assert clock().timestamp() == machine.wall()  # and followed from then on


def test_with_no_grace_it_is_the_wall_clock(machine: Machine) -> None:
    clock = clock_of(machine, grace=0)
    clock()
    machine.step = -900
    assert clock().timestamp() == machine.wall()


def test_a_hold_made_during_a_backward_step_lasts_its_ten_minutes(
    app: Flask, make_office, make_service, machine: Machine
) -> None:
    """The fault: holds made while the clock was 15 minutes slow expired the moment it was
    set right. With the steady clock they end ten minutes after they were really made."""
    office = make_office(services=[make_service()])
    db.session.commit()
    clock = clock_of(machine)
    app.config["CLOCK"] = clock
    clock()
    machine.wait(30)
    machine.step = -15 * 60
    policy = booking.BookingPolicy(secret=SECRET)
    start = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 10:00 in Seoul
    body = booking_body(office, [office.services[0]], start)

    made_at = clock()
    request = booking.parse_booking_request(db.session, body, made_at, policy)
    placed = booking.place_hold(db.session, request, made_at, policy)
    db.session.commit()
    machine.wait(60)
    machine.step = 0

    expires = placed.appointment.hold_expires_at
    assert made_at == machine.true_time() - timedelta(seconds=60)
    assert expires == made_at + timedelta(minutes=policy.hold_minutes)
    assert expires > clock() + timedelta(minutes=8)
