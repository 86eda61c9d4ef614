"""Profile the staff day page: a day of 300 visits on a fresh PostgreSQL database, timed
in-process with Flask's test client against a trivial route of the same app.

    .venv/bin/python -m bench.staff_day                     # medians and the ratio
    .venv/bin/python -m bench.staff_day --history 1000,100000,1000000
    .venv/bin/python -m bench.staff_day --profile           # where a request's time goes
    .venv/bin/python -m bench.staff_day --cache-off         # the page rendered every time

The day is made through the services, as clerks and citizens would make it: visits booked
and confirmed days before (some cancelled), then the morning played desk by desk (checked in,
called, served, no-shows, walk-ins, a parked and a missed ticket), stopped at 14:30 with
visitors waiting and at desks. The history (other days' visits, served or cancelled, with
their tickets) is written by SQL in bulk: it is only there to be skipped by the page's
queries. Self-contained: needs only PostgreSQL (TEST_POSTGRES_URL, as the tests use).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bench.build import scratch_database
from consular import create_app
from consular.extensions import db
from consular.models import (
    Appointment,
    Base,
    Desk,
    Office,
    OpeningPeriod,
    Role,
    ServiceType,
    Slot,
    Status,
    Ticket,
    User,
)
from consular.services import booking, queue, schedule
from consular.services.catalog import set_combinations
from consular.services.identity import iin_check_digit
from consular.services.passwords import hash_password

SECRET = "bench-secret-key-not-for-production"
ZONE = ZoneInfo("Asia/Seoul")
DAY = date(2027, 3, 2)  # a Tuesday
STOP = datetime.combine(DAY, clock_time(14, 30), ZONE).astimezone(UTC)  # the page's "now"
DESKS = 8
SLOT_MINUTES = 10
VISITS = 300
EMAIL = "clerk@bench.example"
PASSWORD = "bench password for the clerk"


class Clock:
    """The app's CLOCK: the time the day is built at, then the moment the page is read."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@contextmanager
def existing_database(url: str) -> Iterator[str]:
    yield url


def make_app(url: str, clock: Clock, **config: Any) -> Any:
    """The app as production runs it (CSRF and rate limits on); /__ping is its trivial route,
    answered through every app-wide hook."""
    return create_app(
        {
            **config,
            "SECRET_KEY": SECRET,
            "SQLALCHEMY_DATABASE_URI": url,
            "CLOCK": clock,
            "MAIL_SMTP_HOST": "",
            "MAIL_DEV_MAILBOX": True,
            "SESSION_COOKIE_SECURE": False,  # the test client speaks plain HTTP
            "PUBLIC_BASE_URL": "http://consular.bench",
        }
    )


def _iins() -> Iterator[str]:
    for serial in range(1, 100_000):
        first = f"9001013{serial:04d}"
        check = iin_check_digit(first)
        if check is not None:
            yield f"{first}{check}"


GIVEN = ["Aigerim", "Daniyar", "Asel", "Nurlan", "Madina", "Yerlan", "Dana", "Arman", "Zhanna"]
FAMILY = ["Nurlanova", "Omarov", "Seitkali", "Abenov", "Kim", "Park", "Tulegenova", "Li"]


def build_day(clock: Clock, rng: random.Random) -> Office:
    """An office with 8 desks, a day of 300 visits in every state, and a clerk."""
    session = db.session
    renewal = ServiceType(
        code="passport-renewal",
        name={"en": "Passport renewal", "ru": "Замена паспорта", "kk": "Паспортты ауыстыру"},
        documents={"en": ["Passport"]},
        fee={"en": "Paid at the desk"},
        duration_minutes=SLOT_MINUTES,
        detail_sets=[],
        min_notice_hours=2,
        cutoff_hours=24,
        sort_order=1,
    )
    certificate = ServiceType(
        code="certificate",
        name={"en": "Certificate", "ru": "Справка", "kk": "Анықтама"},
        documents={"en": ["Passport"]},
        fee={"en": "Free"},
        duration_minutes=SLOT_MINUTES,
        detail_sets=[],
        min_notice_hours=2,
        cutoff_hours=24,
        sort_order=2,
    )
    session.add_all([renewal, certificate])
    session.flush()
    set_combinations(session, certificate, [renewal])
    office = Office(
        code="seoul",
        reference_prefix="SEO",
        name={"en": "Embassy in Seoul", "ru": "Посольство в Сеуле", "kk": "Сеулдегі елшілік"},
        address={"en": "1 Bench Street"},
        timezone="Asia/Seoul",
        slot_minutes=SLOT_MINUTES,
        ticket_prefix="S",
        walk_in_share=5,
        services=[renewal, certificate],
    )
    for weekday in range(5):
        for opens, closes in ((clock_time(9), clock_time(13)), (clock_time(14), clock_time(18))):
            office.opening_periods.append(
                OpeningPeriod(weekday=weekday, opens_at=opens, closes_at=closes, desks=DESKS)
            )
    session.add(office)
    session.flush()
    desks = [Desk(office=office, name=str(number)) for number in range(1, DESKS + 1)]
    clerk = User(email=EMAIL, name="Bench Clerk", role=Role.CLERK, offices=[office])
    clerk.password_hash = hash_password(PASSWORD)
    session.add_all([*desks, clerk])
    clock.moment = datetime.combine(DAY - timedelta(days=5), clock_time(10), ZONE).astimezone(UTC)
    schedule.sync_slots(session, office, clock(), 30)
    session.commit()

    # Booked and confirmed days before, in every slot of the day until 300 visits.
    policy = booking.BookingPolicy(secret=SECRET)
    iins = _iins()
    starts = [
        datetime.combine(DAY, clock_time(hour, minute), ZONE)
        for hour in (*range(9, 13), *range(14, 18))
        for minute in range(0, 60, SLOT_MINUTES)
    ]
    visits: list[Appointment] = []
    day_start, day_end = schedule.local_day_bounds(DAY, ZONE)
    seats_left = {
        slot.starts_at.astimezone(ZONE): slot.capacity  # the walk-in share is withheld
        for slot in session.scalars(
            sa.select(Slot).where(Slot.starts_at >= day_start, Slot.starts_at < day_end)
        )
    }
    while len(visits) < VISITS:
        start = rng.choice([s for s in starts if seats_left[s] > 0])
        two = rng.random() < 0.15 and start + timedelta(minutes=SLOT_MINUTES) in seats_left
        two = two and seats_left[start + timedelta(minutes=SLOT_MINUTES)] > 0
        services = (
            ["passport-renewal", "certificate"]
            if two
            else [rng.choice(("passport-renewal", "certificate"))]
        )
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        body = {
            "office": office.code,
            "services": services,
            "start": start.isoformat(),
            "language": rng.choice(("kk", "ru", "en", "ko")),
            "applicant": {
                "given_name": given,
                "family_name": family,
                "iin": next(iins),
                "passport_number": f"N{rng.randrange(10**8):08d}",
                "email": f"{given}.{family}.{len(visits)}@example.com".lower(),
                "phone": f"010-{rng.randrange(2000, 9999)}-{rng.randrange(10_000):04d}",
            },
            "details": {},
        }
        request = booking.parse_booking_request(session, body, clock(), policy)
        placed = booking.place_hold(session, request, clock(), policy)
        booking.confirm_hold(session, placed.appointment, placed.code, clock(), policy)
        session.commit()
        seats_left[start] -= 1
        if two:
            seats_left[start + timedelta(minutes=SLOT_MINUTES)] -= 1
        visits.append(placed.appointment)

    # Two days before, some cancel.
    clock.moment += timedelta(days=3)
    for visit in rng.sample(visits, 21):
        booking.cancel_appointment(session, visit, "plans changed", clock(), policy)
    session.commit()

    # The day: slot by slot until 14:30, arrivals checked in a few minutes early, each free
    # desk serving whoever it called before and calling the next; some never come.
    by_start: dict[datetime, list[Appointment]] = {}
    for visit in visits:
        by_start.setdefault(visit.starts_at, []).append(visit)
    no_shows = {v.id for v in rng.sample(visits, 30) if v.status == Status.CONFIRMED}
    at_desk: dict[int, Ticket] = {}
    moment = datetime.combine(DAY, clock_time(8, 50), ZONE).astimezone(UTC)
    while moment < STOP:
        clock.moment = moment
        for visit in by_start.get(moment + timedelta(minutes=SLOT_MINUTES), []):
            if visit.status == Status.CONFIRMED and visit.id not in no_shows:
                queue.check_in(session, visit, clerk, moment)
        if rng.random() < 0.5:
            service = rng.choice([renewal, certificate])
            urgent = rng.random() < 0.1
            queue.issue_walk_in(session, office, service, clerk, moment, urgent=urgent)
        lunch = clock_time(13) <= moment.astimezone(ZONE).time() < clock_time(14)
        for desk in desks:
            ticket = at_desk.pop(desk.id, None)
            if ticket is not None:
                if rng.random() < 0.03:
                    queue.park(session, ticket, clerk, moment)
                else:
                    queue.serve(session, ticket, clerk, moment)
            if lunch:
                continue
            called = queue.call_next(session, office, desk, clerk, moment)
            if called is not None:
                at_desk[desk.id] = called
        for visit in by_start.get(moment - timedelta(minutes=30), []):
            if visit.id in no_shows:
                queue.mark_no_show(session, visit, clerk, moment)
        session.commit()
        moment += timedelta(minutes=SLOT_MINUTES)
    clock.moment = STOP
    # Now: the next half hour's visitors wait (some very early), walk-ins too; at the desks
    # one visitor was called twice, another three times and missed.
    for offset in (10, 20, 40):
        for visit in by_start.get(STOP + timedelta(minutes=offset), []):
            if visit.status == Status.CONFIRMED and visit.id not in no_shows:
                queue.check_in(session, visit, clerk, STOP)
    for urgent in (False, False, True):
        queue.issue_walk_in(session, office, renewal, clerk, STOP, urgent=urgent)
    at_desks = list(at_desk.values())
    if len(at_desks) >= 2:
        queue.recall(session, at_desks[0], clerk, STOP)
        for _call in range(queue.MAX_CALLS):
            queue.recall(session, at_desks[1], clerk, STOP)
    session.commit()
    return office


def add_history(office: Office, total: int) -> None:
    """Grow the office's past to `total` appointments: 300 a day on the days before the
    day, 8 in 10 served with a ticket, the rest cancelled or no-shows (bulk SQL)."""
    stored = db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) or 0
    first, last = stored - VISITS + 1, total - VISITS  # serials of the history rows to add
    if last < first:
        return
    service_id = db.session.scalar(sa.select(ServiceType.id).order_by(ServiceType.id).limit(1))
    parameters = {
        "office": office.id,
        "service": service_id,
        "first": first,
        "last": last,
        "day": DAY,
    }
    # Serial i is visit i % 300 of the (i // 300 + 1)-th day before DAY, from 09:00 local.
    db.session.execute(
        sa.text(
            """
            INSERT INTO appointment (
                reference, office_id, starts_at, ends_at, status, language, given_name,
                family_name, iin, passport_number, email, phone, details, code_hash,
                code_attempts, code_sends, hold_expires_at, sequence, created_at, confirmed_at,
                served_at, cancelled_at, no_show_at)
            SELECT 'H' || lpad(i::text, 9, '0'), :office, s, s + interval '10 minutes',
                CASE WHEN i % 10 < 8 THEN 'served' WHEN i % 10 = 8 THEN 'cancelled'
                     ELSE 'no_show' END,
                'ru', 'Past', 'Visitor', lpad((i % 999999999999)::text, 12, '0'), 'N00000000',
                'past@example.com', '+821000000000', '{}', md5(i::text), 0, 1,
                s - interval '7 days', 1, s - interval '7 days', s - interval '7 days',
                CASE WHEN i % 10 < 8 THEN s + interval '10 minutes' END,
                CASE WHEN i % 10 = 8 THEN s - interval '3 days' END,
                CASE WHEN i % 10 = 9 THEN s + interval '9 hours' END
            FROM (
                SELECT i, ((CAST(:day AS date) - CAST(1 + i / 300 AS integer)) + time '09:00')
                    AT TIME ZONE 'Asia/Seoul' + (i % 300) * interval '1 minute' AS s
                FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS i
            ) AS serial
            """
        ),
        parameters,
    )
    db.session.execute(
        sa.text(
            """
            INSERT INTO appointment_service (
                appointment_id, service_type_id, iin, is_active, active_seq, snapshot)
            SELECT id, :service, iin, false, 1, '{"code": "passport-renewal",
                "name": {"en": "Passport renewal"}}'
            FROM appointment
            WHERE reference >= 'H' || lpad(CAST(:first AS text), 9, '0')
              AND reference <= 'H' || lpad(CAST(:last AS text), 9, '0')
              AND reference LIKE 'H%'
            """
        ),
        parameters,
    )
    db.session.execute(
        sa.text(
            """
            INSERT INTO ticket (
                office_id, service_day, number, label, appointment_id, service_type_id,
                is_walk_in, is_priority, status, queue_at, arrived_at, call_count,
                first_called_at, last_called_at, finished_at, note)
            SELECT office_id, CAST(starts_at AT TIME ZONE 'Asia/Seoul' AS date),
                CAST(substr(reference, 2) AS bigint) % 300 + 1,
                'S-' || lpad((CAST(substr(reference, 2) AS bigint) % 300 + 1)::text, 3, '0'),
                id, :service, false, false, 'served', starts_at, starts_at, 1, starts_at,
                starts_at, served_at, ''
            FROM appointment
            WHERE reference >= 'H' || lpad(CAST(:first AS text), 9, '0')
              AND reference <= 'H' || lpad(CAST(:last AS text), 9, '0')
              AND reference LIKE 'H%' AND status = 'served'
            """
        ),
        parameters,
    )
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")


def sign_in(client: Any) -> None:
    """Sign the clerk in through the form, CSRF token and all."""
    page = client.get("/staff/sign-in").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None, "no CSRF token on the sign-in page"
    response = client.post(
        "/staff/sign-in",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert response.status_code == 302, response.status_code


@contextmanager
def counted_statements(engine: sa.Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def remember(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)


def timed_statements(engine: sa.Engine, client: Any, path: str, runs: int = 50) -> None:
    """Median time of each statement of the page, from sending it to its answer."""
    times: dict[int, list[float]] = {}
    texts: dict[int, str] = {}
    position = [0]
    started = [0.0]

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started[0] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        texts.setdefault(position[0], statement)
        times.setdefault(position[0], []).append(time.perf_counter() - started[0])
        position[0] += 1

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        for _run in range(runs):
            position[0] = 0
            client.get(path)
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
    for index, text in texts.items():
        flat = " ".join(text.split())
        print(f"  {statistics.median(times[index]) * 1000:6.3f} ms  {flat[:160]}")


def measure(client: Any, paths: list[str], runs: int, warmup: int = 20) -> dict[str, float]:
    """Median seconds per GET of each path, the paths interleaved so that both see the
    same machine (2 shared cores: neighbours' load comes and goes)."""
    times: dict[str, list[float]] = {path: [] for path in paths}
    for index in range(warmup + runs):
        for path in paths:
            started = time.perf_counter()
            response = client.get(path)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, (path, response.status_code)
            if index >= warmup:
                times[path].append(elapsed)
    return {path: statistics.median(values) for path, values in times.items()}


def profile(client: Any, path: str, runs: int, limit: int) -> None:
    """cProfile of `runs` GETs: the functions that take the time, by own and total time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _run in range(runs):
        client.get(path)
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order)
        stats.print_stats(limit)
        print(f"--- {runs} GETs of {path}, by {order} ---")
        print(out.getvalue().split("\n", 6)[-1] if order == "tottime" else out.getvalue())


def describe(office_id: int, page: str) -> str:
    """What the day holds, to show the page is the real thing."""
    start, end = schedule.local_day_bounds(DAY, ZONE)
    statuses = Counter(
        db.session.scalars(
            sa.select(Appointment.status).where(
                Appointment.office_id == office_id,
                Appointment.starts_at >= start,
                Appointment.starts_at < end,
            )
        )
    )
    tickets = Counter(
        db.session.scalars(
            sa.select(Ticket.status).where(Ticket.office_id == office_id, Ticket.service_day == DAY)
        )
    )
    walk_ins = db.session.scalar(
        sa.select(sa.func.count()).where(Ticket.service_day == DAY, Ticket.is_walk_in.is_(True))
    )
    return (
        f"visits {sum(statuses.values())}: "
        + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
        + f"; tickets {sum(tickets.values())} ({walk_ins} walk-ins): "
        + ", ".join(f"{s} {n}" for s, n in sorted(tickets.items()))
        + f"; page {len(page) // 1024} KiB, {page.count('<tr>')} table rows"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="timed GETs of each route")
    parser.add_argument(
        "--history",
        default="1000",
        help="comma-separated numbers of stored appointments to measure at, e.g. 1000,1000000",
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the page")
    parser.add_argument("--profile-runs", type=int, default=100)
    parser.add_argument("--limit", type=int, default=35, help="lines of each profile table")
    parser.add_argument("--language", default="en", help="the clerk's language (kk, ru, en, ko)")
    parser.add_argument("--statements", action="store_true", help="print each statement's time")
    parser.add_argument("--keep", action="store_true", help="keep the database for --reuse")
    parser.add_argument("--reuse", metavar="URL", help="a database kept by --keep: no build")
    parser.add_argument(
        "--cache-off", action="store_true", help="render the page every time (no page cache)"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.history.split(",")]

    with existing_database(args.reuse) if args.reuse else scratch_database(args.keep) as url:
        clock = Clock(STOP)
        if not args.reuse:
            engine = sa.create_engine(url)
            Base.metadata.create_all(engine)
            engine.dispose()
        app = make_app(url, clock, **({"STAFF_PAGE_CACHE_SECONDS": 0} if args.cache_off else {}))
        with app.app_context():
            built = time.perf_counter()
            if args.reuse:
                office = db.session.scalars(sa.select(Office).where(Office.code == "seoul")).one()
            else:
                office = build_day(clock, random.Random(10))
                print(f"day built in {time.perf_counter() - built:.1f} s")
            office_id, page_path = office.id, f"/staff/{office.code}"
            desk_id = db.session.scalar(sa.select(Desk.id).where(Desk.name == "1"))
            app_engine = db.engine
        # Requests run outside any app context, as in production: each has its own session
        # (an empty identity map) and its own `g`.
        client = app.test_client()
        sign_in(client)
        if args.language != "en":
            client.post("/language", data={"language": args.language, "next": "/"})
        # The clerk works at desk 1, so the page shows its current visitor too.
        with client.session_transaction() as browser:
            browser["desks"] = {str(office_id): desk_id}
        print(f"{'stored':>9}  {'page ms':>8}  {'trivial ms':>10}  {'ratio':>6}  statements")
        for size in sizes:
            with app.app_context():
                add_history(db.session.get_one(Office, office_id), size)
                stored = db.session.scalar(sa.select(sa.func.count()).select_from(Appointment))
            page = client.get(page_path).text
            with counted_statements(app_engine) as statements:
                client.get(page_path)
            if args.statements:
                timed_statements(app_engine, client, page_path)
            medians = measure(client, [page_path, "/__ping"], args.runs)
            day_ms, ping_ms = medians[page_path] * 1000, medians["/__ping"] * 1000
            print(
                f"{stored:>9}  {day_ms:>8.2f}  {ping_ms:>10.3f}  {ping_ms / day_ms:>6.1%}"
                f"  {len(statements)}",
                flush=True,
            )
        with app.app_context():
            print(describe(office_id, page))
        if args.profile:
            profile(client, page_path, args.profile_runs, args.limit)
        app_engine.dispose()


if __name__ == "__main__":
    main()
