"""The app's processes see the system clock step while they work (their wall clock moved by
tests/faults/stepped_clock/sitecustomize.py; the steady clock and PostgreSQL's untouched).

- Stepped back 15 minutes during a rush of holds, then set right: the holds made meanwhile
  still run their ten minutes of real time (before, they expired the moment the clock
  returned).
- Stepped forward 15 minutes while the mail server refuses for now, then set right: the
  messages are delivered within a minute or two of the server accepting again (before, they
  waited about 14 minutes more).

After each: the booking invariants hold, every 201 has its appointment, and every e-mail
written was delivered exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session

from consular.extensions import db
from consular.models import Appointment, Status
from tests.faults import checks
from tests.faults.cluster import PostgresCluster
from tests.faults.data import Seeded, data_app
from tests.faults.load import rush
from tests.faults.servers import (
    Gunicorn,
    MailWorker,
    host_environment,
    smtp_environment,
    wait_until,
)
from tests.smtp import MailboxHandler, SMTPServer

pytestmark = pytest.mark.slow

STEPPED_CLOCK = Path(__file__).resolve().parent / "stepped_clock"


@pytest.fixture
def clock_offset(tmp_path: Path) -> Path:
    offset = tmp_path / "clock-offset"
    offset.write_text("0")
    return offset


@pytest.fixture
def host_env(cluster: PostgresCluster, smtp: SMTPServer, clock_offset: Path) -> dict[str, str]:
    """The fault suite's host environment, with a wall clock the test can step."""
    return (
        host_environment(cluster.url())
        | smtp_environment(smtp.host, smtp.port)
        | {"PYTHONPATH": str(STEPPED_CLOCK), "FAULT_CLOCK_OFFSET_FILE": str(clock_offset)}
    )


class RefusesForNow(MailboxHandler):
    """Answers every recipient "451 try again later" while `refusing`."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = False
        self.refused = 0

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.refusing:
            self.refused += 1
            return "451 4.3.0 Try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.handler = RefusesForNow()
    server.start()
    yield server
    server.stop()


def held_appointments(database_url: str) -> list[tuple[datetime, datetime]]:
    with data_app(database_url):
        return [
            (row.created_at, row.hold_expires_at)
            for row in db.session.execute(
                sa.select(Appointment.created_at, Appointment.hold_expires_at).where(
                    Appointment.status == Status.HELD
                )
            )
        ]


def test_holds_made_while_the_clock_was_slow_keep_their_ten_minutes(
    app_server: Gunicorn,
    mail: MailWorker,
    seeded: Seeded,
    smtp: SMTPServer,
    cluster: PostgresCluster,
    clock_offset: Path,
) -> None:
    with rush(app_server.port, seeded) as load:
        load.wait_for(20)
        # Every process is running when the clock steps (the mail worker has delivered): a
        # process started during a step takes the stepped time for its own.
        wait_until(lambda: len(smtp.received) > 0, 30, "the mail worker's first delivery")
        clock_offset.write_text(str(-15 * 60))
        stepped = load.count()
        load.wait_for(stepped + 40)
        clock_offset.write_text("0")
        load.wait_for(load.count() + 10)
    attempts = load.recorded()
    made_in_the_step = [a for a in attempts[stepped:] if a.status == 201]
    assert made_in_the_step, load.statuses()
    now = datetime.now(UTC)
    holds = held_appointments(cluster.url())
    assert len(holds) >= len(made_in_the_step)
    # Every hold was made in the last minute or so of real time and ends ten minutes after.
    for created, expires in holds:
        assert now - timedelta(minutes=2) < created <= now + timedelta(seconds=5)
        assert expires - created == timedelta(minutes=10)
    assert "stepped by -900 s" in app_server.log_text()
    checks.assert_sound(cluster.url(), attempts, smtp.received)


def test_mail_refused_while_the_clock_was_fast_goes_soon_after(
    app_server: Gunicorn,
    mail: MailWorker,
    seeded: Seeded,
    smtp: SMTPServer,
    cluster: PostgresCluster,
    clock_offset: Path,
) -> None:
    handler = smtp.handler
    assert isinstance(handler, RefusesForNow)
    handler.refusing = True
    with rush(app_server.port, seeded, threads=2, per_thread=15) as load:
        wait_until(lambda: handler.refused > 0, 30, "the mail worker's first attempt")
        clock_offset.write_text(str(15 * 60))
        load.wait_for(30)
    deadline = time.monotonic() + 30
    while handler.refused < 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert handler.refused >= 10
    clock_offset.write_text("0")
    handler.refusing = False
    # The first retry is a minute after each refusal: all of it goes within two minutes.
    back = time.monotonic()
    checks.assert_seats_sound(cluster.url())
    checks.assert_no_lost_bookings(cluster.url(), load.recorded())
    checks.assert_mail_once(cluster.url(), smtp.received, seconds=120)
    # For `pytest -rP` (issue 14: held back about 14 minutes).
    print(f"{len(smtp.received)} e-mails delivered {time.monotonic() - back:.0f} s after")
