"""The mail server is away for a while during a rush: nothing is lost or sent twice, no
attempt is counted against the messages (the outage is the server's), the worker logs the
outage once, and everything written meanwhile goes out within a minute of the server's
return, not one message per round.

After it: the booking invariants hold, every 201 has its appointment, and every e-mail
written was delivered exactly once.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import OutboxMessage
from tests.faults import checks
from tests.faults.cluster import PostgresCluster
from tests.faults.data import Seeded, data_app
from tests.faults.load import rush
from tests.faults.servers import Gunicorn, MailWorker
from tests.smtp import SMTPServer

pytestmark = pytest.mark.slow


def test_smtp_server_away_mid_rush(
    app_server: Gunicorn,
    mail: MailWorker,
    seeded: Seeded,
    smtp: SMTPServer,
    cluster: PostgresCluster,
) -> None:
    with rush(app_server.port, seeded, threads=2, per_thread=80) as load:
        load.wait_for(10)
        smtp.stop()
        time.sleep(12)
    smtp.start()
    back = time.monotonic()
    checks.assert_sound(cluster.url(), load.recorded(), smtp.received)
    # The worker's wait after a failed round is at most a minute (jittered, and growing
    # only while the server is away): it caught up well within that of the server's return.
    assert time.monotonic() - back < 60
    with data_app(cluster.url()):
        attempts = set(db.session.scalars(sa.select(OutboxMessage.attempts)))
    assert attempts == {1}  # each message was attempted once: when it went
    log = mail.log_text()
    assert log.count("mail delivery paused: the SMTP server is unavailable") == 1, log
    assert "mail delivery resumed" in log
