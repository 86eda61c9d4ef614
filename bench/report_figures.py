"""The administrators' report over 366 days: counted from the visits, and read from daily figures.

In-process timings on PostgreSQL. A database is made for the run (and dropped after, unless
--keep) and filled in bulk with years of settled days: three offices in three zones (Seoul,
Almaty, Berlin with its changes of time), four services, weekdays of 26 slots of 15 minutes,
each slot as full as the size asks, with served visits, no-shows, cancellations, holds that
expired, visits of two services, queue tickets with their call and finish times, and
walk-ins. The data is made by SQL from random() with a fixed seed, so a size always gives
the same history; the figure triggers are off while the empty database is filled (there is
no figure to forget), and on again for the run.

Then, for the 366 days ending today (the last day counted from the visits), all offices
and one office: the report counted from the visits (`from_figures=False`), the roll-up
that stores the figures (once, as its first run after an upgrade would), and the report
read from them, checked equal to the first.

    .venv/bin/python -m bench.report_figures                      # 1,000,000 appointments
    .venv/bin/python -m bench.report_figures --appointments 100000 --runs 5

The PostgreSQL server is BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench.build import scratch_database
from consular import create_app
from consular.extensions import db
from consular.models import Base, Office, ServiceType
from consular.models.figures import WATCHES
from consular.services import figures
from consular.services.reports import build_report

# Tuesday 1 December 2026, 12:00 UTC: afternoon or evening in every office, history behind.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OFFICES = [("seoul", "Asia/Seoul"), ("almaty", "Asia/Almaty"), ("berlin", "Europe/Berlin")]
SERVICES = ["passport", "visa", "notary", "registration"]
SLOTS_PER_DAY = 26  # 09:00-12:30 and 14:00-17:00, 15 minutes each
SEATS_PER_SLOT = 20
PERIOD_DAYS = 366


def history_days(appointments: int) -> int:
    """How many calendar days of history give about this many appointments (five of seven
    are opening days, each slot gets SEATS_PER_SLOT visits at most and 90 % on average)."""
    per_day = len(OFFICES) * SLOTS_PER_DAY * SEATS_PER_SLOT * 0.9 * 5 / 7
    return max(1, round(appointments / per_day))


def fill(connection: sa.Connection, days: int) -> None:
    """Slots, appointments, their services and seats, tickets and walk-ins of `days` days
    ending yesterday (UTC), in bulk."""
    last = NOW.date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    params = {"first": first, "last": last, "seats": SEATS_PER_SLOT}
    run = lambda sql: connection.execute(sa.text(sql), params)  # noqa: E731

    run("SELECT setseed(0.2026)")
    run(
        """
        INSERT INTO slot (office_id, starts_at, ends_at, desks, capacity, booked, is_blocked,
                          outside_schedule, is_kept)
        SELECT o.id, (d::date + t) AT TIME ZONE o.timezone,
               (d::date + t + interval '15 minutes') AT TIME ZONE o.timezone,
               :seats, :seats, 0, random() < 0.01, false, false
        FROM office o
        CROSS JOIN generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d
        CROSS JOIN (SELECT time '09:00' + n * interval '15 minutes' t
                    FROM generate_series(0, 13) n
                    UNION ALL
                    SELECT time '14:00' + n * interval '15 minutes'
                    FROM generate_series(0, 11) n) hours
        WHERE extract(isodow FROM d) < 6
        """
    )
    # One visit per seat taken; r decides its outcome, r2 its lead time, r3 its services.
    run(
        """
        CREATE TEMP TABLE plan AS
        SELECT row_number() OVER (ORDER BY s.id, n) AS id, s.id AS slot_id, s.office_id,
               s.starts_at, random() AS r, random() AS r2, random() AS r3, random() AS r4
        FROM slot s CROSS JOIN generate_series(1, :seats) n
        WHERE random() < 0.9
        """
    )
    run(
        """
        INSERT INTO appointment (id, reference, office_id, starts_at, ends_at, status, language,
            given_name, family_name, iin, passport_number, email, phone, details, code_hash,
            code_attempts, code_sends, hold_expires_at, sequence, created_at, confirmed_at,
            cancelled_at, expired_at, checked_in_at, called_at, served_at, no_show_at)
        SELECT p.id, 'B-' || p.id, p.office_id, p.starts_at, p.starts_at + interval '15 minutes',
            CASE WHEN p.r < 0.07 THEN 'expired' WHEN p.r < 0.17 THEN 'cancelled'
                 WHEN p.r < 0.25 THEN 'no_show' ELSE 'served' END,
            'en', 'Given', 'Family', lpad(p.id::text, 12, '0'), 'N00000000',
            'person@example.com', '010', '{}', repeat('x', 64), 0, 1,
            p.starts_at - interval '30 days' * p.r2 + interval '10 minutes', 1,
            p.starts_at - interval '30 days' * p.r2,
            CASE WHEN p.r >= 0.07 THEN p.starts_at - interval '30 days' * p.r2
                                      + interval '5 minutes' END,
            CASE WHEN p.r >= 0.07 AND p.r < 0.17 THEN p.starts_at - interval '2 days' * p.r4 END,
            CASE WHEN p.r < 0.07 THEN p.starts_at - interval '30 days' * p.r2
                                      + interval '10 minutes' END,
            CASE WHEN p.r >= 0.25 THEN p.starts_at - interval '20 minutes' * p.r4 END,
            CASE WHEN p.r >= 0.25 THEN p.starts_at + interval '30 minutes' * p.r4 END,
            CASE WHEN p.r >= 0.25 THEN p.starts_at + interval '45 minutes' * p.r4
                                      + interval '5 minutes' END,
            CASE WHEN p.r >= 0.17 AND p.r < 0.25 THEN p.starts_at + interval '8 hours' END
        FROM plan p
        """
    )
    run("SELECT setval(pg_get_serial_sequence('appointment', 'id'), max(id)) FROM appointment")
    # Every visit has one service, a fifth of them a second one.
    run(
        """
        INSERT INTO appointment_service (appointment_id, service_type_id, iin, is_active,
                                         active_seq, snapshot)
        SELECT p.id, s.id, lpad(p.id::text, 12, '0'), false, 1, CAST('{}' AS json)
        FROM plan p JOIN service_type s ON s.sort_order = floor(p.r3 * 4)::int
        UNION ALL
        SELECT p.id, s.id, lpad(p.id::text, 12, '0'), false, 1, CAST('{}' AS json)
        FROM plan p JOIN service_type s ON s.sort_order = (floor(p.r3 * 4)::int + 1) % 4
        WHERE p.r3 * 20 - floor(p.r3 * 20) < 0.2
        """
    )
    run(
        """
        INSERT INTO appointment_slot (appointment_id, slot_id, holds_seat, release_at)
        SELECT p.id, p.slot_id, p.r >= 0.17,
               CASE WHEN p.r < 0.07 THEN p.starts_at - interval '30 days' * p.r2
                                         + interval '10 minutes'
                    WHEN p.r < 0.17 THEN p.starts_at - interval '2 days' * p.r4
                                         + interval '30 minutes' END
        FROM plan p
        """
    )
    run(
        """
        UPDATE slot SET booked = held.seats
        FROM (SELECT slot_id, count(*) AS seats FROM appointment_slot WHERE holds_seat
              GROUP BY slot_id) held
        WHERE held.slot_id = slot.id
        """
    )
    # Tickets: every visitor who came, half the no-shows (missed after a call), and about
    # one walk-in for ten booked visits.
    run(
        """
        CREATE TEMP TABLE arrivals AS
        SELECT p.office_id, (p.starts_at AT TIME ZONE o.timezone)::date AS day, p.id AS visit,
               (SELECT min(l.service_type_id) FROM appointment_service l
                WHERE l.appointment_id = p.id) AS service,
               CASE WHEN p.r >= 0.25 THEN 'served' ELSE 'missed' END AS status,
               p.starts_at AS queue_at, p.starts_at - interval '20 minutes' * p.r4 AS arrived,
               p.starts_at + interval '30 minutes' * p.r4 AS called,
               CASE WHEN p.r >= 0.25 THEN p.starts_at + interval '45 minutes' * p.r4
                                          + interval '5 minutes'
                    ELSE p.starts_at + interval '2 hours' END AS finished
        FROM plan p JOIN office o ON o.id = p.office_id
        WHERE p.r >= 0.25 OR (p.r >= 0.17 AND p.r4 < 0.5)
        UNION ALL
        SELECT p.office_id, (p.starts_at AT TIME ZONE o.timezone)::date, NULL,
               (SELECT id FROM service_type WHERE sort_order = floor(p.r2 * 4)::int),
               CASE WHEN p.r4 < 0.9 THEN 'served' WHEN p.r4 < 0.95 THEN 'missed'
                    ELSE 'cancelled' END,
               p.starts_at + interval '7 minutes', p.starts_at + interval '7 minutes',
               p.starts_at + interval '7 minutes' + interval '40 minutes' * p.r3,
               p.starts_at + interval '20 minutes' + interval '40 minutes' * p.r3
        FROM plan p JOIN office o ON o.id = p.office_id
        WHERE p.r3 < 0.1
        """
    )
    run(
        """
        INSERT INTO ticket (office_id, service_day, number, label, appointment_id,
            service_type_id, is_walk_in, is_priority, status, queue_at, arrived_at, call_count,
            first_called_at, last_called_at, finished_at, note)
        SELECT office_id, day, n, 'A-' || n, visit, service, visit IS NULL, false, status,
               queue_at, arrived, 1, called, called, finished, ''
        FROM (SELECT a.*, row_number() OVER (PARTITION BY office_id, day ORDER BY arrived) n
              FROM arrivals a) numbered
        """
    )
    run("DROP TABLE plan")
    run("DROP TABLE arrivals")


def set_triggers(connection: sa.Connection, enabled: bool) -> None:
    for watch in WATCHES:
        state = "ENABLE" if enabled else "DISABLE"
        connection.execute(sa.text(f"ALTER TABLE {watch.table} {state} TRIGGER USER"))


def timed(action: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median wall time of `runs` runs, in milliseconds, and the last result."""
    times, result = [], None
    for _ in range(runs):
        db.session.expire_all()
        started = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
    return statistics.median(times), result


def rollup(now: datetime) -> int:
    """`flask reports rollup`, in process."""
    offices = db.session.scalars(sa.select(Office).order_by(Office.id)).all()
    for office in offices:
        figures.reserve_days(db.session, office, now, 1)
    db.session.commit()
    assert figures.wait_for_writers(db.session, 60)
    stored = 0
    for office in offices:
        days = figures.pending_days(db.session, office)
        for start in range(0, len(days), figures.BATCH_DAYS):
            stored += figures.fill_days(
                db.session, office, days[start : start + figures.BATCH_DAYS], now
            )
            db.session.commit()
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each report (median)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    options = parser.parse_args()

    with scratch_database(options.keep) as url:
        app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            Base.metadata.create_all(db.engine)
            for number, (code, zone) in enumerate(OFFICES):
                db.session.add(
                    Office(
                        code=code,
                        reference_prefix=f"B{number}",
                        name={"en": code.title()},
                        timezone=zone,
                    )
                )
            for number, code in enumerate(SERVICES):
                db.session.add(ServiceType(code=code, name={"en": code.title()}, sort_order=number))
            db.session.commit()

            started = time.perf_counter()
            days = history_days(options.appointments)
            with db.engine.begin() as connection:
                set_triggers(connection, False)
                fill(connection, days)
                set_triggers(connection, True)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(sa.text("VACUUM ANALYZE"))
            counts = {
                table: db.session.scalar(sa.text(f"SELECT count(*) FROM {table}"))
                for table in ("appointment", "appointment_service", "appointment_slot", "ticket")
            }
            print(
                f"filled {days} days in {time.perf_counter() - started:.0f} s: "
                + ", ".join(f"{count:,} {table}" for table, count in counts.items())
            )

            today = NOW.date()
            first = today - timedelta(days=PERIOD_DAYS - 1)
            seoul = db.session.scalar(sa.select(Office).where(Office.code == "seoul"))
            scopes: list[tuple[str, Office | None]] = [("all offices", None), ("Seoul", seoul)]

            def report(office: Office | None, from_figures: bool) -> Any:
                return build_report(
                    db.session, office, first, today, "en", from_figures=from_figures
                )

            counted: dict[str, tuple[float, Any]] = {}
            for label, office in scopes:
                counted[label] = timed(lambda o=office: report(o, False), options.runs)

            started = time.perf_counter()
            stored = rollup(NOW)
            rollup_ms = (time.perf_counter() - started) * 1000
            size = db.session.scalar(
                sa.text(
                    "SELECT pg_total_relation_size('daily_figure')"
                    " + pg_total_relation_size('daily_service_figure')"
                )
            )
            print(
                f"roll-up: {stored:,} office-days stored in {rollup_ms / 1000:.1f} s"
                f" ({size / 1e6:.1f} MB); again: {rollup(NOW)} stored"
            )

            print(f"\n366-day report ({first} to {today}), in-process, median of {options.runs}")
            print("| scope | counted from the visits | from daily figures | speed-up |")
            print("| --- | --- | --- | --- |")
            for label, office in scopes:
                read_ms, read = timed(lambda o=office: report(o, True), options.runs)
                counted_ms, expected = counted[label]
                assert read == expected, f"{label}: the report from figures differs"
                print(
                    f"| {label} | {counted_ms:,.0f} ms | {read_ms:,.0f} ms"
                    f" | {counted_ms / read_ms:.1f}x |"
                )
            print(
                f"\n{options.appointments:,} appointments asked; bookings in the period: "
                f"{expected.total.bookings:,} (Seoul); the reports from figures are equal to "
                "the reports counted from the visits."
            )
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
