"""The checks of the fault suite find what they look for: a slot whose count is off, a 201
without its appointment, a message delivered twice, never or not marked sent."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import MailStatus, OutboxMessage, Slot
from consular.services import notifications
from tests.faults import checks
from tests.faults.cluster import PostgresCluster
from tests.faults.data import Seeded, data_app
from tests.faults.load import Attempt
from tests.smtp import Received

pytestmark = pytest.mark.slow


def received(message_id: str) -> Received:
    message = EmailMessage()
    message["Message-ID"] = message_id
    return Received("no-reply@consular.test", ["person@example.com"], message)


def queue_messages(url: str, count: int) -> list[str]:
    with data_app(url):
        ids = [
            notifications.queue_email(
                db.session,
                kind="test",
                recipient=f"person{number}@example.com",
                subject="Test",
                text_body="Test.",
                html_body=None,
                now=datetime.now(UTC),
            ).message_id
            for number in range(count)
        ]
        db.session.commit()
        return ids


def mark_sent(url: str, message_ids: list[str]) -> None:
    with data_app(url):
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.message_id.in_(message_ids))
            .values(status=MailStatus.SENT)
        )
        db.session.commit()


def test_the_checks_pass_on_sound_data(seeded: Seeded, cluster: PostgresCluster) -> None:
    url = cluster.url()
    assert checks.seat_problems(url) == []
    assert checks.lost_bookings(url, []) == []
    assert checks.mail_problems(url, []) == []


def test_a_slot_whose_count_is_off_is_found(seeded: Seeded, cluster: PostgresCluster) -> None:
    url = cluster.url()
    with data_app(url):
        slot_id = db.session.scalars(sa.select(Slot.id).order_by(Slot.id).limit(1)).one()
        db.session.execute(sa.update(Slot).where(Slot.id == slot_id).values(booked=1))
        db.session.commit()
    assert f"slot {slot_id}: booked 1 but 0 seats held" in checks.seat_problems(url)


def test_a_201_without_its_appointment_is_found(seeded: Seeded, cluster: PostgresCluster) -> None:
    now = time.monotonic()
    ghost = Attempt(1, seeded.starts[0], "", now, now, 201, {"reference": "SEL-NOPE"})
    lost = Attempt(2, seeded.starts[0], "", now, now, None, error="RemoteDisconnected")
    problems = checks.lost_bookings(cluster.url(), [ghost, lost])
    assert len(problems) == 1 and "SEL-NOPE" in problems[0]


def test_mail_not_delivered_exactly_once_is_found(seeded: Seeded, cluster: PostgresCluster) -> None:
    url = cluster.url()
    twice, never, unmarked, pending = queue_messages(url, 4)
    mark_sent(url, [twice, never])
    problems = checks.mail_problems(
        url, [received(twice), received(twice), received(unmarked), received("<stray@x>")]
    )
    assert f"{twice}: sent, delivered 2 times" in problems
    assert f"{never}: sent, delivered 0 times" in problems
    assert f"{unmarked}: delivered 1 times, not marked sent" in problems
    assert f"{pending}: pending" in problems
    assert "<stray@x>: delivered 1 times, not in the outbox" in problems
    with pytest.raises(AssertionError, match="still waiting"):
        checks.wait_for_outbox(url, seconds=0.5)
