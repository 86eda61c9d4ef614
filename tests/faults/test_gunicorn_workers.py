"""gunicorn's workers die or are replaced in the middle of a rush of holds, and nothing is
lost or counted twice: a worker killed with SIGKILL (the OOM killer) takes its requests in
flight with it, whose transactions PostgreSQL rolls back, and the master starts another; a
SIGHUP reload (`systemctl reload`) replaces every worker while requests keep coming.

After each: the booking invariants hold, every 201 has its appointment, and every e-mail
written was delivered exactly once.
"""

from __future__ import annotations

import pytest

from tests.faults import checks
from tests.faults.cluster import PostgresCluster
from tests.faults.data import Seeded
from tests.faults.load import rush
from tests.faults.servers import Gunicorn, MailWorker
from tests.smtp import SMTPServer

pytestmark = pytest.mark.slow

KILLS = 3


def test_workers_killed_mid_rush(
    app_server: Gunicorn,
    mail: MailWorker,
    seeded: Seeded,
    smtp: SMTPServer,
    cluster: PostgresCluster,
) -> None:
    with rush(app_server.port, seeded) as load:
        load.wait_for(20)
        for kill in range(KILLS):
            victim = app_server.worker_pids()[kill % app_server.workers]
            app_server.kill_worker(victim)
            app_server.wait_for_workers(replacing=[victim])
            load.wait_for(load.count() + 15)
        after_kills = load.count()
        load.wait_for(after_kills + 20)
    attempts = load.recorded()
    # The server came back: holds were answered after the last kill.
    assert any(a.status == 201 for a in attempts[after_kills:]), load.statuses()
    assert {a.status for a in attempts} <= {201, 409, None}, load.statuses()
    checks.assert_sound(cluster.url(), attempts, smtp.received)


def test_reload_mid_rush(
    app_server: Gunicorn,
    mail: MailWorker,
    seeded: Seeded,
    smtp: SMTPServer,
    cluster: PostgresCluster,
) -> None:
    # A connection per request: a request lost would be one gunicorn had accepted.
    with rush(app_server.port, seeded, keep_alive=False) as load:
        load.wait_for(20)
        before = app_server.worker_pids()
        app_server.reload()
        app_server.wait_for_workers(replacing=before)
        after_reload = load.count()
        load.wait_for(after_reload + 30)
    attempts = load.recorded()
    assert any(a.status == 201 for a in attempts[after_reload:]), load.statuses()
    # A graceful reload answers every request it accepted, old workers and new.
    assert {a.status for a in attempts} <= {201, 409}, load.statuses()
    checks.assert_sound(cluster.url(), attempts, smtp.received)
