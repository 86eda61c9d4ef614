"""Fixtures of the fault-injection suite, each a fresh one per test so that a fault never
leaks into the next test: a private PostgreSQL cluster, the schema made by migrations and
the test data, an SMTP server that records what it receives, gunicorn and the mail worker.

A test asks for what it breaks: `app_server` (gunicorn, 4 workers), `mail` (one
`flask mail send --loop`), `cluster` (stop, restart, kill9). `host_env` is the environment
of every process, so a further one (a second mail worker, a command) runs as they do.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.databases import missing_service
from tests.faults.cluster import PostgresCluster, missing_binaries, private_cluster
from tests.faults.data import Seeded, seed_office
from tests.faults.servers import (
    Gunicorn,
    MailWorker,
    gunicorn,
    host_environment,
    mail_worker,
    migrate,
    smtp_environment,
)
from tests.smtp import SMTPServer


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster on a spare port with an empty database, removed after."""
    problem = missing_binaries()
    if problem:
        missing_service(problem)
    with private_cluster() as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    """An SMTP server on loopback; `smtp.received` is every message it accepted."""
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def host_env(cluster: PostgresCluster, smtp: SMTPServer) -> dict[str, str]:
    """The environment of the app's processes: production's, on the cluster, mail to the
    test's SMTP server, the rush relaxed (tests/faults/servers.py, RELAXED). Rate limits and
    the availability cache stay in each worker's memory: one host needs no Redis (pass a
    Redis URL to `host_environment` for a fault of Redis itself)."""
    return host_environment(cluster.url()) | smtp_environment(smtp.host, smtp.port)


@pytest.fixture
def seeded(host_env: dict[str, str], cluster: PostgresCluster) -> Seeded:
    """The schema by `flask db upgrade`, then the office, service and slots of the test."""
    migrate(host_env)
    return seed_office(cluster.url(), datetime.now(UTC), starts=160)


@pytest.fixture
def app_server(seeded: Seeded, host_env: dict[str, str], tmp_path: Path) -> Iterator[Gunicorn]:
    """gunicorn with 4 workers on the seeded cluster."""
    with gunicorn(tmp_path / "gunicorn", host_env, workers=4) as running:
        yield running


@pytest.fixture
def mail(seeded: Seeded, host_env: dict[str, str], tmp_path: Path) -> Iterator[MailWorker]:
    """One mail worker delivering to `smtp`."""
    with mail_worker(tmp_path / "mail", host_env) as worker:
        yield worker
