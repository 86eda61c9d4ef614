"""Prometheus metrics: requests and their latency by endpoint, the domain events as they
commit, and gauges read from the database when Prometheus scrapes.

Under gunicorn every worker counts for itself; with PROMETHEUS_MULTIPROC_DIR set (before the
workers start: prometheus_client reads it when this module is imported) the counts live in
files there, and a scrape of any worker adds up all of them (README, "Health, metrics and
logs"). The gauges are not counted but read: one aggregated query each, on indexed columns.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from consular.clients import UNIX_SOCKET, TrustedProxies, trusted_proxies
from consular.config import ConfigError
from consular.extensions import db
from consular.models import MailStatus, Office, OutboxMessage, Slot, Ticket, TicketStatus
from consular.models.appointment import appointment_slot
from consular.observability import events

# The *_created series double every counter for a date Prometheus does not need.
disable_created_metrics()

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Where no route matched (a 404, or a 405 on a known path): one label for all such paths.
UNMATCHED = "(unmatched)"

# The app's own metrics, in a registry of this module's: gunicorn's master imports the
# package for its loggers and forgets it on every reload (gunicorn.conf.py, on_reload), and
# the new workers import this module again; in prometheus_client's global registry the
# second import would clash with the first and no worker would start.
APP_REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "consular_http_requests",
    "Requests answered, by Flask endpoint, method and status class (2xx, 3xx, 4xx, 5xx).",
    ["endpoint", "method", "status"],
    registry=APP_REGISTRY,
)
LATENCY = Histogram(
    "consular_http_request_duration_seconds",
    "Time from the request's start to its response being ready, by Flask endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=APP_REGISTRY,
)
DOMAIN_EVENTS = Counter(
    "consular_domain_events",
    "Committed domain events (holds, bookings, cancellations, reschedules, tickets called, "
    "served, missed, no-shows), by event and office.",
    ["event", "office"],
    registry=APP_REGISTRY,
)


def _count_event(event: events.DomainEvent) -> None:
    DOMAIN_EVENTS.labels(event=event.name, office=event.office).inc()


events.reporters.append(_count_event)


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    name = endpoint or UNMATCHED
    REQUESTS.labels(
        endpoint=name,
        method=method if method in METHODS else "other",
        status=f"{status // 100}xx",
    ).inc()
    LATENCY.labels(endpoint=name).observe(seconds)


class _OfficeRow(NamedTuple):
    id: int
    code: str
    zone: ZoneInfo


def waiting_tickets_query(offices: Iterable[_OfficeRow], now: datetime) -> sa.Select:
    """Tickets waiting at each office on its own service day, by office id."""
    today = [
        sa.and_(Ticket.office_id == row.id, Ticket.service_day == now.astimezone(row.zone).date())
        for row in offices
    ]
    return (
        sa.select(Ticket.office_id, sa.func.count())
        .where(Ticket.status == TicketStatus.WAITING, sa.or_(*today))
        .group_by(Ticket.office_id)
    )


def seats_mismatch_query(now: datetime) -> sa.Select[tuple[int]]:
    """How many slots from now on count a number of seats taken (`booked`) other than the
    seats their appointments hold (the invariant of tests/invariants.py)."""
    seat = appointment_slot.c
    holding = (
        sa.select(sa.func.count())
        .select_from(appointment_slot)
        .where(seat.slot_id == Slot.id, seat.holds_seat.is_(True))
        .scalar_subquery()
    )
    # Joined to the offices, so that each office's slots from now on are a range of the
    # (office_id, starts_at) unique index, not a scan of the years of slots kept.
    return (
        sa.select(sa.func.count())
        .select_from(Office)
        .join(Slot, Slot.office_id == Office.id)
        .where(Slot.starts_at >= now, Slot.booked != holding)
    )


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape: the outbox, the queues, the seats."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from consular.clock import now as clock_now

        up = GaugeMetricFamily(
            "consular_metrics_database_up",
            "1 if the database answered the gauges' queries at this scrape, else 0.",
        )
        try:
            with self.app.app_context():
                moment = clock_now()
                with db.engine.connect() as connection:
                    families = list(self._read(connection, moment))
        except Exception:  # noqa: BLE001 - a dead database must still leave a scrape
            self.app.logger.warning("metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self, connection: sa.Connection, now: datetime) -> Iterator[GaugeMetricFamily]:
        outbox = GaugeMetricFamily(
            "consular_outbox_messages",
            "E-mails in the outbox by status: pending (due or waiting to retry), sending, "
            "failed (given up).",
            labels=["status"],
        )
        watched = (MailStatus.PENDING, MailStatus.SENDING, MailStatus.FAILED)
        counts = dict(
            connection.execute(
                sa.select(OutboxMessage.status, sa.func.count())
                .where(OutboxMessage.status.in_(watched))
                .group_by(OutboxMessage.status)
            )
            .tuples()
            .all()
        )
        for status in watched:
            outbox.add_metric([str(status)], counts.get(status, 0))
        yield outbox

        oldest = connection.scalar(
            sa.select(sa.func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.status == MailStatus.PENDING, OutboxMessage.next_attempt_at <= now
            )
        )
        age = GaugeMetricFamily(
            "consular_outbox_oldest_due_seconds",
            "Seconds since the oldest pending e-mail became due (0: none is due): mail stuck.",
        )
        age.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield age

        offices = [
            _OfficeRow(row.id, row.code, ZoneInfo(row.timezone))
            for row in connection.execute(sa.select(Office.id, Office.code, Office.timezone))
        ]
        waiting = GaugeMetricFamily(
            "consular_queue_waiting_tickets",
            "Tickets waiting to be called at each office today (its own time zone).",
            labels=["office"],
        )
        by_office: dict[int, int] = {}
        if offices:
            by_office = dict(connection.execute(waiting_tickets_query(offices, now)).tuples().all())
        for office in offices:
            waiting.add_metric([office.code], by_office.get(office.id, 0))
        yield waiting

        mismatch = GaugeMetricFamily(
            "consular_slots_seats_mismatch",
            "Slots not yet over whose count of seats taken differs from the seats held: "
            "anything but 0 is a bug to look into.",
        )
        mismatch.add_metric([], connection.scalar(seats_mismatch_query(now)) or 0)
        yield mismatch


class _ThisProcess(Collector):
    """The metrics of this process (a single process: no gunicorn): the app's, and those of
    the default registry (the process's CPU, memory, garbage collector)."""

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        yield from APP_REGISTRY.collect()
        yield from REGISTRY.collect()


def allowed_peers(app: Flask) -> TrustedProxies:
    """METRICS_ALLOW parsed as TRUSTED_PROXIES is (only its test of an address is used)."""
    words = app.config["METRICS_ALLOW"]
    try:
        return trusted_proxies(app.wsgi_app, 0, words)
    except ConfigError as error:
        raise ConfigError(
            f"METRICS_ALLOW must list addresses, networks (CIDR) or {UNIX_SOCKET!r}, "
            f"not {' '.join(words) if not isinstance(words, str) else words!r}"
        ) from error


def may_scrape() -> bool:
    """Whether this request may read the metrics: the connection's peer and the client a
    trusted proxy speaks for must both be in METRICS_ALLOW (a request that came through
    nginx from the internet has a loopback peer, but not a loopback client), and with
    METRICS_TOKEN set the request must carry it as a bearer token."""
    allowed: TrustedProxies = current_app.extensions["consular.metrics_allow"]
    original = request.environ.get("werkzeug.proxy_fix.orig") or {}
    peer = original.get("REMOTE_ADDR", request.environ.get("REMOTE_ADDR")) or ""
    client = request.remote_addr or ""
    if not all(allowed.is_trusted(address) for address in (peer, client)):
        return False
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    scheme, _, credentials = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


def metrics_view() -> Response:
    """The metrics in Prometheus's text format, to METRICS_ALLOW only (a 404 to anyone else:
    nothing tells them the page exists)."""
    if not may_scrape():
        abort(404)
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector(current_app._get_current_object()))  # type: ignore[attr-defined]
    response = Response(generate_latest(registry), mimetype=None)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response
