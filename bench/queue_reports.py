"""The queue's reports (by hour of the day, by desk) over 366 days, on PostgreSQL.

The same history as bench/report_figures.py (three offices in three zones, queue tickets
with their call and finish times, walk-ins), its called tickets spread over four desks an
office; then, for the 366 days ending today, each report for all offices and for Seoul.

    .venv/bin/python -m bench.queue_reports --appointments 300000 --runs 3

The PostgreSQL server is BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import sqlalchemy as sa

from bench.build import scratch_database
from bench.report_figures import (
    NOW,
    OFFICES,
    PERIOD_DAYS,
    SERVICES,
    fill,
    history_days,
    set_triggers,
    timed,
)
from consular import create_app
from consular.extensions import db
from consular.models import Base, Desk, Office, ServiceType
from consular.services.queue_reports import build_desk_report, build_hour_report

DESKS_PER_OFFICE = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--appointments", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each report (median)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    options = parser.parse_args()

    with scratch_database(options.keep) as url:
        app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            Base.metadata.create_all(db.engine)
            for number, (code, zone) in enumerate(OFFICES):
                office = Office(
                    code=code,
                    reference_prefix=f"B{number}",
                    name={"en": code.title()},
                    timezone=zone,
                )
                db.session.add(office)
                for desk in range(1, DESKS_PER_OFFICE + 1):
                    db.session.add(Desk(office=office, name=str(desk)))
            for number, code in enumerate(SERVICES):
                db.session.add(ServiceType(code=code, name={"en": code.title()}, sort_order=number))
            db.session.commit()

            started = time.perf_counter()
            days = history_days(options.appointments)
            with db.engine.begin() as connection:
                set_triggers(connection, False)
                fill(connection, days)
                # Each called ticket at one of its office's desks.
                connection.execute(
                    sa.text(
                        "UPDATE ticket SET desk_id = (SELECT d.id FROM desk d"
                        " WHERE d.office_id = ticket.office_id"
                        f" ORDER BY d.id OFFSET ticket.number % {DESKS_PER_OFFICE} LIMIT 1)"
                        " WHERE first_called_at IS NOT NULL AND status <> 'cancelled'"
                    )
                )
                set_triggers(connection, True)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(sa.text("VACUUM ANALYZE"))
            tickets = db.session.scalar(sa.text("SELECT count(*) FROM ticket"))
            print(
                f"filled {days} days in {time.perf_counter() - started:.0f} s: {tickets:,} tickets"
            )

            today = NOW.date()
            first = today - timedelta(days=PERIOD_DAYS - 1)
            seoul = db.session.scalar(sa.select(Office).where(Office.code == "seoul"))
            for label, office in (("all offices", None), ("Seoul", seoul)):
                for name, build in (("by hour", build_hour_report), ("by desk", build_desk_report)):
                    ms, _report = timed(
                        lambda b=build, o=office: b(db.session, o, first, today), options.runs
                    )
                    print(f"{name}, {label}, {PERIOD_DAYS} days: {ms:.0f} ms")


if __name__ == "__main__":
    main()
