"""/metrics (issue 14): counters of requests and of domain events that move only once a
change commits, gauges read from the database that match it, and the page shown only to
the addresses and the token the settings name; under gunicorn, the workers' counts add up."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from consular import create_app
from consular.config import ConfigError
from consular.extensions import db
from consular.models import (
    Base,
    MailStatus,
    OutboxMessage,
    Role,
    Slot,
    Ticket,
    TicketStatus,
    User,
)
from consular.models.queue import Desk
from consular.observability.metrics import APP_REGISTRY as REGISTRY
from consular.services import booking, queue
from consular.services.passwords import hash_password
from tests.conftest import DEFAULT_NOW, SECRET, Clock, base_config, booking_body

POLICY = booking.BookingPolicy(secret=SECRET)
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul


def events(name: str, office: str) -> float:
    """How many `name` events this process has counted at the office."""
    value = REGISTRY.get_sample_value(
        "consular_domain_events_total", {"event": name, "office": office}
    )
    return value or 0.0


def scrape(client: FlaskClient, **kwargs: object) -> dict[tuple[str, tuple], float]:
    """The metrics page as {(sample name, sorted labels): value}."""
    response = client.get("/metrics", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


@pytest.fixture
def seoul(make_office, make_service):
    service = make_service("passport-renewal", duration_minutes=15, cutoff_hours=0)
    return make_office("seoul", desks=2, services=[service]), service


def hold(office, service, now, iin: str, start: datetime = MONDAY_9) -> booking.HoldPlaced:
    body = booking_body(office, [service], start, applicant={"iin": iin})
    request = booking.parse_booking_request(db.session, body, now, POLICY)
    return booking.place_hold(db.session, request, now, POLICY)


# Domain events: counted when their transaction commits, never when it rolls back


def test_a_committed_booking_counts_its_hold_and_confirmation(seoul, clock, iins) -> None:
    office, service = seoul
    before = events("hold_placed", "seoul"), events("booking_confirmed", "seoul")
    placed = hold(office, service, clock(), next(iins))
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    # Flushed, not committed: nothing is counted yet.
    assert (events("hold_placed", "seoul"), events("booking_confirmed", "seoul")) == before
    db.session.commit()
    assert events("hold_placed", "seoul") == before[0] + 1
    assert events("booking_confirmed", "seoul") == before[1] + 1


def test_a_rolled_back_booking_counts_nothing(seoul, clock, iins) -> None:
    office, service = seoul
    before = events("hold_placed", "seoul"), events("booking_confirmed", "seoul")
    placed = hold(office, service, clock(), next(iins))
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    db.session.rollback()
    # The next commit of the same session does not bring them back.
    db.session.commit()
    assert (events("hold_placed", "seoul"), events("booking_confirmed", "seoul")) == before


def test_a_rolled_back_savepoint_drops_only_its_own_events(seoul, clock, iins) -> None:
    office, service = seoul
    before = events("hold_placed", "seoul")
    hold(office, service, clock(), next(iins))
    savepoint = db.session.begin_nested()
    hold(office, service, clock() + timedelta(seconds=1), next(iins))
    savepoint.rollback()
    db.session.commit()
    assert events("hold_placed", "seoul") == before + 1


def test_cancellations_reschedules_and_the_queue_are_counted(seoul, clock, iins) -> None:
    office, service = seoul
    names = (
        "booking_cancelled",
        "booking_rescheduled",
        "ticket_called",
        "ticket_served",
        "ticket_missed",
    )
    before = {name: events(name, "seoul") for name in names}
    first = hold(office, service, clock(), next(iins))
    booking.confirm_hold(db.session, first.appointment, first.code, clock(), POLICY)
    booking.cancel_appointment(db.session, first.appointment, "", clock(), POLICY)
    moved = hold(office, service, clock(), next(iins))
    booking.confirm_hold(db.session, moved.appointment, moved.code, clock(), POLICY)
    booking.reschedule_appointment(
        db.session, moved.appointment, MONDAY_9 + timedelta(minutes=15), clock(), POLICY
    )
    served = hold(office, service, clock(), next(iins), MONDAY_9 + timedelta(minutes=30))
    booking.confirm_hold(db.session, served.appointment, served.code, clock(), POLICY)
    missed = hold(office, service, clock(), next(iins), MONDAY_9 + timedelta(minutes=45))
    booking.confirm_hold(db.session, missed.appointment, missed.code, clock(), POLICY)
    db.session.commit()

    clerk = User(
        email="clerk@example.org",
        name="Clerk",
        role=Role.CLERK,
        password_hash=hash_password("x" * 12),
        offices=[office],
    )
    desk = Desk(office=office, name="1")
    db.session.add_all([clerk, desk])
    db.session.commit()
    clock.set(MONDAY_9)
    queue.check_in(db.session, served.appointment, clerk, clock())
    queue.check_in(db.session, missed.appointment, clerk, clock())
    ticket = queue.call_next(db.session, office, desk, clerk, clock())
    assert ticket is not None
    queue.serve(db.session, ticket, clerk, clock())
    ticket = queue.call_next(db.session, office, desk, clerk, clock())
    assert ticket is not None
    for _ in range(3):
        queue.recall(db.session, ticket, clerk, clock())
    assert ticket.status == TicketStatus.MISSED
    db.session.commit()
    moved_by = {name: events(name, "seoul") - before[name] for name in names}
    assert moved_by == {
        "booking_cancelled": 1,
        "booking_rescheduled": 1,
        "ticket_called": 2,
        "ticket_served": 1,
        "ticket_missed": 1,
    }


def test_requests_are_counted_by_endpoint_never_by_path(client) -> None:
    labels = {"endpoint": "ping", "method": "GET", "status": "2xx"}
    before = REGISTRY.get_sample_value("consular_http_requests_total", labels) or 0
    client.get("/__ping")
    assert REGISTRY.get_sample_value("consular_http_requests_total", labels) == before + 1
    client.get("/no/such/page/850502401238")
    samples = scrape(client)
    endpoints = {
        dict(labels)["endpoint"]
        for (name, labels) in samples
        if name == "consular_http_requests_total"
    }
    assert "(unmatched)" in endpoints
    assert not any("/" in endpoint or "850502401238" in endpoint for endpoint in endpoints)
    assert ("consular_http_request_duration_seconds_count", (("endpoint", "ping"),)) in samples


# Gauges read from the database


def test_the_gauges_match_the_database(app, client, seoul, clock) -> None:
    office, service = seoul
    now = clock()
    due = [now - timedelta(minutes=7), now - timedelta(minutes=2)]
    messages = [
        (MailStatus.PENDING, due[0]),
        (MailStatus.PENDING, due[1]),
        (MailStatus.PENDING, now + timedelta(hours=1)),  # waiting to retry: not stuck yet
        (MailStatus.SENDING, now),
        (MailStatus.FAILED, now),
        (MailStatus.SENT, now),
    ]
    for number, (status, next_attempt_at) in enumerate(messages):
        db.session.add(
            OutboxMessage(
                message_id=f"<{number}@consular.test>",
                kind="test",
                recipient="someone@example.com",
                subject="s",
                text_body="b",
                status=status,
                next_attempt_at=next_attempt_at,
            )
        )
    today = now.astimezone(office.zone).date()
    for number, (day, status) in enumerate(
        [
            (today, TicketStatus.WAITING),
            (today, TicketStatus.WAITING),
            (today, TicketStatus.CALLED),
            (today - timedelta(days=1), TicketStatus.WAITING),  # yesterday's: not today's queue
        ],
        start=1,
    ):
        db.session.add(
            Ticket(
                office=office,
                service_day=day,
                number=number,
                label=f"A{number}",
                status=status,
                queue_at=now,
                is_walk_in=True,
            )
        )
    db.session.commit()
    samples = scrape(client)
    assert samples[("consular_metrics_database_up", ())] == 1
    assert samples[("consular_outbox_messages", (("status", "pending"),))] == 3
    assert samples[("consular_outbox_messages", (("status", "sending"),))] == 1
    assert samples[("consular_outbox_messages", (("status", "failed"),))] == 1
    assert samples[("consular_outbox_oldest_due_seconds", ())] == pytest.approx(7 * 60)
    assert samples[("consular_queue_waiting_tickets", (("office", "seoul"),))] == 2
    assert samples[("consular_slots_seats_mismatch", ())] == 0


@pytest.mark.corrupts_data
def test_a_seat_count_that_drifts_shows(app, client, seoul, clock) -> None:
    future = db.session.scalars(
        sa.select(Slot).where(Slot.starts_at > clock()).order_by(Slot.starts_at).limit(2)
    ).all()
    past = Slot(
        office=seoul[0],
        starts_at=clock() - timedelta(days=3),
        ends_at=clock() - timedelta(days=3) + timedelta(minutes=15),
        capacity=2,
        booked=1,
    )
    db.session.add(past)  # a past slot's drift is history, not an alarm
    for slot in future:
        slot.booked = 1
    db.session.commit()
    assert scrape(client)[("consular_slots_seats_mismatch", ())] == 2


# Who may read the page


def status_of(app: Flask, address: str, **headers: str) -> int:
    client = app.test_client()
    return client.get(
        "/metrics", environ_base={"REMOTE_ADDR": address}, headers=headers
    ).status_code


def test_only_the_allowed_addresses_see_the_metrics(app_with, database_url) -> None:
    app = app_with(database_url)
    assert status_of(app, "127.0.0.1") == 200
    assert status_of(app, "::1") == 200
    assert status_of(app, "203.0.113.5") == 404
    assert status_of(app, "10.0.0.7") == 404
    wider = app_with(database_url, METRICS_ALLOW=("10.0.0.0/8",))
    assert status_of(wider, "10.0.0.7") == 200
    assert status_of(wider, "127.0.0.1") == 404


def test_a_wrong_allow_list_refuses_to_start(app_with, database_url) -> None:
    with pytest.raises(ConfigError, match="METRICS_ALLOW"):
        app_with(database_url, METRICS_ALLOW=("127.0.0.1", "localhost"))


def test_a_request_through_the_proxy_is_judged_by_its_client(app_with, database_url) -> None:
    app = app_with(database_url, PROXY_COUNT=1)
    # nginx on this machine forwards a citizen's request: the peer is loopback, the client not.
    assert status_of(app, "127.0.0.1", **{"X-Forwarded-For": "203.0.113.5"}) == 404
    # Prometheus on this machine, through nginx or straight to gunicorn.
    assert status_of(app, "127.0.0.1", **{"X-Forwarded-For": "127.0.0.1"}) == 200
    assert status_of(app, "127.0.0.1") == 200
    # A client that claims to be loopback is not believed: its peer is not a proxy.
    assert status_of(app, "203.0.113.5", **{"X-Forwarded-For": "127.0.0.1"}) == 404


def test_with_a_token_the_token_is_needed_too(app_with, database_url) -> None:
    app = app_with(database_url, METRICS_TOKEN="s3cret-token")
    assert status_of(app, "127.0.0.1") == 404
    assert status_of(app, "127.0.0.1", Authorization="Bearer wrong") == 404
    assert status_of(app, "127.0.0.1", Authorization="Bearer s3cret-token") == 200
    assert status_of(app, "203.0.113.5", Authorization="Bearer s3cret-token") == 404


def test_a_dead_database_leaves_a_scrape_that_says_so(tmp_path) -> None:
    from bench.server import free_port

    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing"
    app = create_app(base_config(url, Clock(DEFAULT_NOW)))
    app.instance_path = str(tmp_path)
    samples = scrape(app.test_client())
    assert samples[("consular_metrics_database_up", ())] == 0
    assert not any(name.startswith("consular_outbox") for name, _labels in samples)


# Under gunicorn, in multiprocess mode


@pytest.mark.slow
def test_the_counts_of_two_gunicorn_workers_add_up(tmp_path) -> None:
    from bench import server

    database = tmp_path / "consular.sqlite3"
    engine = sa.create_engine(f"sqlite:///{database}")
    Base.metadata.create_all(engine)
    engine.dispose()
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = server.free_port()
    environment = server.production_environment(f"sqlite:///{database}", "memory://") | {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    environment.pop("LOG_FORMAT", None)
    answered: list[int] = []

    def ping(_number: int) -> None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("GET", "/__ping", headers={"Connection": "close"})
                if connection.getresponse().status == 200:
                    answered.append(1)
            finally:
                connection.close()
        except OSError:
            pass  # not listening yet

    def burst(count: int) -> None:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(ping, range(count)))

    def both_workers_answer() -> bool:
        """Ready once the app's request lines come from two processes: both workers have
        loaded the app (each takes a while to), not only the first."""
        burst(8)
        log = tmp_path / "gunicorn.log"
        written = log.read_text() if log.exists() else ""
        entries = lines_of(written[: written.rfind("\n") + 1])  # a line being written waits
        pids = {entry["pid"] for entry in entries if entry["logger"] == "consular.request"}
        return len(pids) == 2

    with server.serve(tmp_path, environment, both_workers_answer):
        burst(40)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        text = response.read().decode()
        connection.close()
    assert len(workers_that_counted(folder)) == 2
    pings = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "consular_http_requests_total" and sample.labels["endpoint"] == "ping"
    ]
    assert sum(pings) == len(answered)
    assert sum(workers_that_counted(folder).values()) == sum(pings)
    # gunicorn's own lines and the app's are JSON (lines_of fails on any other), and there
    # is no access log line in another format doubling each request.
    parsed = lines_of((tmp_path / "gunicorn.log").read_text())
    assert any(entry["logger"] == "gunicorn.error" for entry in parsed)
    assert any(entry["logger"] == "consular.request" for entry in parsed)


def lines_of(text: str) -> list[dict]:
    """Every line of a log, each of which must be a JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def workers_that_counted(folder: Path) -> dict[str, float]:
    """The pings each worker's file in the multiprocess folder has counted, by file."""
    from prometheus_client import multiprocess

    counted: dict[str, float] = {}
    for path in folder.glob("counter_*.db"):
        for metric in multiprocess.MultiProcessCollector.merge([str(path)]):
            for sample in metric.samples:
                if sample.name == "consular_http_requests_total" and (
                    sample.labels.get("endpoint") == "ping"
                ):
                    counted[path.name] = counted.get(path.name, 0) + sample.value
    return {name: value for name, value in counted.items() if value > 0}
