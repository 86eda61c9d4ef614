"""What must hold after every fault, each as a function that returns the problems found
(empty when sound) and an `assert_*` that fails listing them:

1. the booking invariants of tests/invariants.py, first of them that for every slot `booked`
   equals the seats held (`seat_problems`);
2. every 201 the load generator recorded has its appointment in the database, at the time
   it was answered for (`lost_bookings`);
3. every message of the outbox was delivered exactly once, by Message-ID, and none is left
   to send (`mail_problems`, after `wait_for_outbox`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from consular.extensions import db
from consular.models import Appointment, MailStatus, OutboxMessage
from tests.faults.data import data_app
from tests.faults.load import Attempt
from tests.invariants import invariant_violations
from tests.smtp import Received


def seat_problems(database_url: str, now: datetime | None = None) -> list[str]:
    """Every broken booking invariant (tests/invariants.py): a slot whose `booked` is not
    the number of seats held, a slot over capacity, a seat held by an ended visit …"""
    with data_app(database_url):
        return invariant_violations(db.session(), now or datetime.now(UTC))


def lost_bookings(database_url: str, attempts: Iterable[Attempt]) -> list[str]:
    """The 201 answers whose appointment the database does not have (by reference), or
    has at another office or time."""
    created = {a.reference: a for a in attempts if a.reference is not None}
    if not created:
        return []
    with data_app(database_url):
        found = {
            reference: starts_at
            for reference, starts_at in db.session.execute(
                sa.select(Appointment.reference, Appointment.starts_at).where(
                    Appointment.reference.in_(list(created))
                )
            )
        }
    problems = []
    for reference, attempt in sorted(created.items()):
        if reference not in found:
            problems.append(f"201 for {reference} (start {attempt.start}) but no such appointment")
        elif found[reference] != attempt.start:
            problems.append(f"{reference}: held for {attempt.start}, stored at {found[reference]}")
    return problems


def _outbox(database_url: str) -> list[tuple[str, MailStatus]]:
    with data_app(database_url):
        return [
            (message_id, status)
            for message_id, status in db.session.execute(
                sa.select(OutboxMessage.message_id, OutboxMessage.status)
            )
        ]


def wait_for_outbox(database_url: str, seconds: float = 60) -> None:
    """Wait until no message is pending or being sent (the mail worker has caught up)."""
    deadline = time.monotonic() + seconds
    while True:
        waiting = [
            s for _id, s in _outbox(database_url) if s in (MailStatus.PENDING, MailStatus.SENDING)
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(waiting)} messages still waiting after {seconds:g} s")
        time.sleep(0.2)


def mail_problems(database_url: str, received: Iterable[Received]) -> list[str]:
    """Messages of the outbox not delivered exactly once (by Message-ID), received messages
    the outbox does not have, and messages not sent (pending, sending, failed)."""
    outbox = _outbox(database_url)
    delivered = Counter(str(r.message["Message-ID"]) for r in received)
    problems = [f"{message_id}: {status}" for message_id, status in outbox if status != "sent"]
    sent = {message_id for message_id, status in outbox if status == MailStatus.SENT}
    for message_id in sorted(sent):
        if delivered[message_id] != 1:
            problems.append(f"{message_id}: sent, delivered {delivered[message_id]} times")
    known = {message_id for message_id, _status in outbox}
    for message_id, times in sorted(delivered.items()):
        if message_id not in known:
            problems.append(f"{message_id}: delivered {times} times, not in the outbox")
        elif message_id not in sent:
            problems.append(f"{message_id}: delivered {times} times, not marked sent")
    return problems


def _assert_none(problems: list[str], what: str) -> None:
    assert not problems, f"{what}:\n" + "\n".join(problems[:50])


def assert_seats_sound(database_url: str) -> None:
    _assert_none(seat_problems(database_url), "booking invariants broken")


def assert_no_lost_bookings(database_url: str, attempts: Iterable[Attempt]) -> None:
    _assert_none(lost_bookings(database_url, attempts), "answered 201 but not stored")


def assert_mail_once(database_url: str, received: Iterable[Received], seconds: float = 60) -> None:
    wait_for_outbox(database_url, seconds)
    _assert_none(mail_problems(database_url, received), "mail not delivered exactly once")


def assert_sound(
    database_url: str, attempts: Iterable[Attempt], received: Iterable[Received]
) -> None:
    """The three checks after a fault."""
    assert_seats_sound(database_url)
    assert_no_lost_bookings(database_url, attempts)
    assert_mail_once(database_url, received)
