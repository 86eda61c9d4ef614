"""Two app hosts against one PostgreSQL and one Redis behave as one system (issue 14; README,
"Scale-out").

Two gunicorn processes (bench/server.py's `serve`, the repository's gunicorn.conf.py), each
on its own port, share the database, Redis (rate limits and the availability cache) and
the secret key, as two hosts behind a load balancer do. Requests split between them:

- hit a rate limit at the same count as against one host;
- see a seat taken through one host gone at once on the other, and a seat given back
  through that one free again on the first, although each may keep availability for a
  minute (AVAILABILITY_CACHE_SECONDS=60);
- let two clerks, one on each host at two desks of one office, call next at the same
  moment again and again without ever getting the same ticket, until every ticket is called;
- and two mail workers (`flask mail send --loop`, as two hosts would run them) deliver every
  queued e-mail exactly once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import server
from consular.extensions import db
from consular.models import AuditEntry, Ticket, TicketStatus
from consular.services import notifications
from tests.conftest import valid_iins
from tests.databases import missing_service, postgres_database
from tests.faults import checks
from tests.faults.data import (
    STAFF_PASSWORD,
    ZONE,
    Seeded,
    add_clerks,
    data_app,
    issue_tickets,
    seed_office,
)
from tests.faults.load import Client, Response, booking_body
from tests.faults.servers import (
    RELAXED,
    Gunicorn,
    gunicorn,
    mail_worker,
    migrate,
    slow_smtp_server,
    smtp_environment,
    wait_until,
)

pytestmark = pytest.mark.slow

# Rate-limit counters and the availability cache of these hosts: a Redis database no other
# test uses (the tests use 15, tests/test_behind_nginx.py 13, the benchmarks 12).
REDIS_URL = "redis://127.0.0.1:6379/14"
LOOK_LIMIT = 6
TICKETS = 24
MESSAGES = 30
SERVE_URL = re.compile(r'action="(/staff/[^/]+/tickets/(\d+)/serve)"')


@dataclass(frozen=True)
class Hosts:
    """The two hosts, the database and data they share, and the shared environment."""

    a: Gunicorn
    b: Gunicorn
    database_url: str
    seeded: Seeded
    clerks: list[str]
    environment: dict[str, str]
    folder: Path


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    """Two gunicorn hosts (2 workers each) on one PostgreSQL database and one Redis; their
    logs in the test's temporary folder (a/gunicorn.log, b/gunicorn.log, mail/)."""
    import redis

    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3) as connection:
            connection.ping()
    except redis.RedisError as error:
        missing_service(f"Redis is not reachable at {REDIS_URL}: {error}")
    with postgres_database() as url:
        # One environment for both: the same secret key, database and Redis.
        environment = (
            server.production_environment(url, REDIS_URL)
            | RELAXED
            | {
                "GUNICORN_WORKERS": "2",
                "AVAILABILITY_CACHE_SECONDS": "60",
                "AVAILABILITY_RATE_LIMIT": f"{LOOK_LIMIT} per minute",
                # A cancelled seat is free again at once, so that the other host can show it.
                "RELEASE_DELAY_MINUTES": "0",
                "RELEASE_JITTER_MINUTES": "0",
            }
        )
        migrate(environment)
        seeded = seed_office(url, datetime.now(UTC), starts=8)
        clerks = add_clerks(url, 2)
        folder = tmp_path_factory.mktemp("scale-out")
        server.redis_flush(REDIS_URL)
        try:
            with (
                gunicorn(folder / "a", environment, workers=2) as a,
                gunicorn(folder / "b", environment, workers=2) as b,
            ):
                yield Hosts(a, b, url, seeded, clerks, environment, folder)
        finally:
            server.redis_flush(REDIS_URL)


def look_path(seeded: Seeded, day: str | None = None) -> str:
    path = f"/api/v1/offices/{seeded.office}/availability?services={seeded.service}"
    return path + (f"&from={day}&to={day}" if day else "")


def test_a_rate_limit_counts_requests_to_both_hosts_together(hosts: Hosts) -> None:
    path = look_path(hosts.seeded)
    alone = Client(hosts.a.port, source="127.0.0.2")
    to_a, to_b = Client(hosts.a.port, source="127.0.0.3"), Client(hosts.b.port, source="127.0.0.3")
    try:
        against_one = [alone.get(path).status for _ in range(LOOK_LIMIT + 2)]
        split = [(to_a, to_b)[n % 2].get(path).status for n in range(LOOK_LIMIT + 2)]
    finally:
        for client in (alone, to_a, to_b):
            client.close()
    assert against_one == [200] * LOOK_LIMIT + [429] * 2
    assert split == against_one


def available_at(client: Client, seeded: Seeded, start: datetime) -> int:
    """The free seats the host shows for a visit at `start`."""
    answer = client.get(look_path(seeded, start.astimezone(ZONE).date().isoformat()))
    assert answer.status == 200, answer.text
    for slot in answer.json()["slots"]:
        if datetime.fromisoformat(slot["start"]) == start:
            return int(slot["available"])
    raise AssertionError(f"{start} is not among the times shown: {answer.text[:500]}")


def test_a_seat_taken_on_one_host_is_gone_on_the_other_at_once(hosts: Hosts) -> None:
    seeded, start = hosts.seeded, hosts.seeded.starts[0]
    on_a = Client(hosts.a.port, source="127.0.0.4")
    on_b = Client(hosts.b.port, source="127.0.0.4")
    try:
        # Each host has computed (and may keep, for a minute) what it shows.
        free = available_at(on_a, seeded, start)
        assert free > 0
        assert available_at(on_b, seeded, start) == free

        held = on_a.post_json("/api/v1/appointments", booking_body(seeded, start, *person()))
        assert held.status == 201, held.text
        assert available_at(on_b, seeded, start) == free - 1

        hold = held.json()
        cancelled = on_b.post_json(
            f"/api/v1/appointments/{hold['reference']}/cancel",
            {},
            headers={"Authorization": f"Bearer {hold['manage_token']}"},
        )
        assert cancelled.status == 200, cancelled.text
        assert available_at(on_a, seeded, start) == free
    finally:
        on_a.close()
        on_b.close()


_people = valid_iins()
_numbers = iter(range(10**6, 10**7))


def person() -> tuple[str, int]:
    return next(_people), next(_numbers)


@dataclass
class Clerk:
    """A clerk signed in on one host, working at one desk."""

    client: Client
    office: str
    csrf: str = ""

    def page(self, path: str) -> Response:
        answer = self.client.get(path)
        assert answer.status == 200, (path, answer.status)
        self.csrf = answer.csrf_token()
        return answer

    def sign_in(self, email: str) -> None:
        self.page("/staff/sign-in")
        answer = self.client.post_form(
            "/staff/sign-in",
            {"email": email, "password": STAFF_PASSWORD, "csrf_token": self.csrf},
        )
        assert answer.status == 302, answer.text[:500]
        self.page(f"/staff/{self.office}")

    def take_desk(self, desk_id: int) -> None:
        answer = self.client.post_form(
            f"/staff/{self.office}/desk", {"desk": str(desk_id), "csrf_token": self.csrf}
        )
        assert answer.status == 302, answer.text[:500]

    def call_next(self) -> int | None:
        """Press "Call next" and serve whoever came; the ticket's id, None if nobody waits."""
        answer = self.client.post_form(f"/staff/{self.office}/call-next", {"csrf_token": self.csrf})
        assert answer.status == 302, answer.text[:500]
        page = self.page(answer.headers["location"])
        called = SERVE_URL.search(page.text)
        if called is None:
            assert "Nobody is waiting." in page.text, page.text[:2000]
            return None
        served = self.client.post_form(called.group(1), {"csrf_token": self.csrf})
        assert served.status == 302
        return int(called.group(2))


def test_two_clerks_on_two_hosts_never_call_the_same_ticket(hosts: Hosts) -> None:
    tickets = issue_tickets(hosts.database_url, TICKETS)
    clerks = [Clerk(Client(host.port), hosts.seeded.office) for host in (hosts.a, hosts.b)]
    for clerk, email, desk in zip(clerks, hosts.clerks, hosts.seeded.desks, strict=True):
        clerk.sign_in(email)
        clerk.take_desk(desk)
    called: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    together = threading.Barrier(2, timeout=60)

    def work(index: int) -> None:
        try:
            while True:
                # Both press at the same moment, round after round, while both still call.
                try:
                    together.wait()
                except threading.BrokenBarrierError:
                    pass
                ticket = clerks[index].call_next()
                if ticket is None:
                    together.abort()
                    return
                called[index].append(ticket)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            together.abort()
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for clerk in clerks:
        clerk.client.close()
    assert not any(thread.is_alive() for thread in threads), "a clerk is stuck"
    assert not errors, errors

    every_call = called[0] + called[1]
    assert sorted(every_call) == sorted(tickets), "a ticket called twice, or never"
    assert not set(called[0]) & set(called[1])
    assert called[0] and called[1], "both clerks called visitors"
    with data_app(hosts.database_url):
        rows = db.session.execute(
            sa.select(Ticket.id, Ticket.status, Ticket.call_count).where(Ticket.id.in_(tickets))
        ).all()
        calls = db.session.scalars(
            sa.select(AuditEntry.entity_id).where(
                AuditEntry.action == "call", AuditEntry.entity == "ticket"
            )
        ).all()
    assert {(status, count) for _id, status, count in rows} == {(TicketStatus.SERVED, 1)}
    assert sorted(int(entity_id or 0) for entity_id in calls) == sorted(tickets)


def test_two_mail_workers_deliver_every_message_once(hosts: Hosts) -> None:
    with data_app(hosts.database_url):
        now = datetime.now(UTC)
        for number in range(MESSAGES):
            notifications.queue_email(
                db.session,
                kind="test",
                recipient=f"person{number}@example.com",
                subject=f"Message {number}",
                text_body="Scale-out test.",
                html_body=None,
                now=now,
            )
        db.session.commit()
    with slow_smtp_server(delay=0.05) as smtp:
        environment = hosts.environment | smtp_environment(smtp.host, smtp.port)
        with (
            mail_worker(hosts.folder / "mail", environment, name="host-a") as first,
            mail_worker(hosts.folder / "mail", environment, name="host-b") as second,
        ):
            checks.wait_for_outbox(hosts.database_url, seconds=90)
            wait_until(lambda: first.sent() + second.sent() >= len(smtp.received), 10, "the logs")
        received = list(smtp.received)
    assert len(received) >= MESSAGES
    assert not checks.mail_problems(hosts.database_url, received)
    # Each message was claimed by one of them: their own counts add up, and both worked.
    assert first.sent() + second.sent() == len(received)
    assert first.sent() > 0 and second.sent() > 0
