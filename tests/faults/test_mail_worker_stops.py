"""The mail worker is stopped while it delivers: with SIGTERM, as systemd stops and restarts
it, it finishes the message the server has, records it and exits cleanly, leaving nothing
claimed; killed outright (SIGKILL) before the server accepted a message, the next worker takes
the claim over after twelve SMTP timeouts and delivers it. Either way every e-mail arrives
exactly once (by Message-ID)."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session

from consular.extensions import db
from consular.models import MailStatus, OutboxMessage
from consular.services import notifications
from tests.faults import checks
from tests.faults.cluster import PostgresCluster
from tests.faults.data import data_app
from tests.faults.servers import (
    SlowMailbox,
    host_environment,
    mail_worker,
    migrate,
    smtp_environment,
    wait_until,
)
from tests.smtp import SMTPServer

pytestmark = pytest.mark.slow


def queue_messages(database_url: str, count: int) -> None:
    with data_app(database_url):
        for number in range(count):
            notifications.queue_email(
                db.session,
                kind="code",
                recipient=f"citizen{number}@example.kz",
                subject=f"Your code {number:06d}",
                text_body=f"Your code is {number:06d}.\n",
                html_body=None,
                now=datetime.now(UTC),
            )
        db.session.commit()


def outbox_statuses(database_url: str) -> Counter[str]:
    with data_app(database_url):
        return Counter(
            str(status) for status in db.session.scalars(sa.select(OutboxMessage.status))
        )


def test_sigterm_mid_delivery_finishes_the_message_and_sends_none_twice(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    smtp = SMTPServer()
    smtp.handler = SlowMailbox(0.3)  # each message takes a while: SIGTERM finds one in hand
    smtp.start()
    try:
        environment = host_environment(cluster.url()) | smtp_environment(smtp.host, smtp.port)
        migrate(environment)
        queue_messages(cluster.url(), 30)
        for stop in range(4):
            with mail_worker(tmp_path, environment, name=f"mail{stop}") as worker:
                wanted = len(smtp.received) + 3
                wait_until(lambda: len(smtp.received) >= wanted, 30, "three deliveries")  # noqa: B023
                worker.signal(signal.SIGTERM)
                assert worker.process.wait(timeout=20) == 0, worker.log_text()
            assert "Mail worker stopped." in worker.log_text()
            assert "Traceback" not in worker.log_text()
            # Nothing is left claimed by the worker that stopped.
            assert outbox_statuses(cluster.url())[MailStatus.SENDING] == 0
        with mail_worker(tmp_path, environment, name="mail-last"):
            checks.assert_mail_once(cluster.url(), smtp.received)
    finally:
        smtp.stop()


class StallsFirstRecipient(SlowMailbox):
    """Takes seconds to answer the first RCPT TO: a worker killed then has given the server
    nothing it could deliver."""

    def __init__(self) -> None:
        super().__init__(0)
        self.stalled = False

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.stalled:
            self.stalled = True
            await asyncio.sleep(3)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def test_a_worker_killed_before_the_server_accepted_is_taken_over_once(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    smtp = SMTPServer()
    smtp.handler = StallsFirstRecipient()
    smtp.start()
    try:
        environment = host_environment(cluster.url()) | smtp_environment(smtp.host, smtp.port)
        migrate(environment)
        queue_messages(cluster.url(), 5)
        with mail_worker(tmp_path, environment, name="killed") as first:
            wait_until(lambda: smtp.handler.stalled, 30, "the first message's RCPT TO")
            first.signal(signal.SIGKILL)
            first.process.wait(timeout=10)
        assert outbox_statuses(cluster.url())[MailStatus.SENDING] == 1
        # MAIL_SMTP_TIMEOUT 1: a claim is taken over after 12 s.
        quick = environment | {"MAIL_SMTP_TIMEOUT": "1"}
        with mail_worker(tmp_path, quick, name="next"):
            checks.assert_mail_once(cluster.url(), smtp.received, seconds=40)
    finally:
        smtp.stop()
