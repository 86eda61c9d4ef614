"""The hot lookups can use the indexes made for them, on both databases.

PostgreSQL is told to avoid sequential scans, so a plan names the index exactly when its
condition lets the planner use it (a partial index whose condition the query does not
repeat can't be used at all, however the planner is pushed).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AppointmentService
from consular.models.appointment import line_counts_as_booking
from consular.services.availability import free_seats_parameters, free_seats_query
from consular.services.queue_reports import arrivals_query, desk_tickets_query, served_query

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def plan_of(query: sa.Executable, backend: str, parameters: dict | None = None) -> str:
    captured: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany) -> None:
        captured.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", grab)
    try:
        db.session.execute(query, parameters).all()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", grab)
    statement, driver_parameters = captured[-1]
    # On the session's own connection: SQLite lets one writer in at a time.
    connection = db.session.connection()
    if backend == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", driver_parameters).all()
    else:
        rows = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", driver_parameters
        ).all()
    return "\n".join(" ".join(str(part) for part in row) for row in rows)


def test_seats_that_may_come_back_are_found_through_their_index(app, backend, make_office):
    office = make_office()
    parameters = free_seats_parameters(office.id, NOW, NOW + timedelta(days=31), NOW)
    plan = plan_of(free_seats_query(), backend, parameters)
    if backend == "postgresql":
        assert "ix_appointment_slot_may_come_back" in plan
    else:
        # Without statistics SQLite takes either index on slot_id; both read only the seats
        # of the slots asked about, never the whole table.
        assert "SEARCH appointment_slot USING INDEX ix_appointment_slot_" in plan
        assert "SCAN appointment_slot" not in plan


def test_a_persons_bookings_are_found_through_the_partial_unique_index(app, backend):
    query = sa.select(AppointmentService.service_type_id, AppointmentService.active_seq).where(
        AppointmentService.iin == "900101300012",
        AppointmentService.service_type_id.in_([1, 2]),
        line_counts_as_booking(),
    )
    assert "uq_appointment_service_active_iin" in plan_of(query, backend)


@pytest.mark.parametrize("query", [arrivals_query, served_query, desk_tickets_query])
def test_the_queue_reports_read_a_period_of_tickets_through_the_queue_index(
    app, backend, make_office, query
):
    office = make_office()
    plan = plan_of(query(office, date(2026, 6, 1), date(2026, 11, 30)), backend)
    # Only the period's days are read, through an index that starts with the day or with the
    # office and the day (which one depends on the statistics), never the whole table.
    if backend == "postgresql":
        assert re.search(r"Index Cond: .*service_day >=", plan), plan
        assert "Seq Scan" not in plan
    else:
        assert re.search(r"SEARCH ticket USING INDEX \S+ \(.*service_day>\?", plan), plan
        assert "SCAN ticket" not in plan
