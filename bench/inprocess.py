"""In-process medians of the interesting routes, with the trivial route timed in the same run.

Each route goes through the whole app (hooks, session, templates, JSON) with Flask's test
client, so the figures are what a worker spends, without the network and the WSGI server.
Writes (hold, confirm, reschedule) each take a seat of their own, at free times spread over
the month, so no measured request is refused. Holds carry a proof of work solved beforehand
(untimed): the server's side of it, checking and spending the proof, is in the hold's time.
The work the browser does is left out (`POW_BASE_MAX_NUMBER` 1, no rise); the challenge is
issued at the production cost (`POW_COST`), which is what issuing costs the server.
"""

from __future__ import annotations

import itertools
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from bench.build import ADMIN, CLERK, PASSWORD, BenchDatabase, bench_app, booking_body, made_up_iins
from consular.extensions import db

OFFICE = "seoul"
SERVICES = "passport-renewal"

ROUTES: tuple[tuple[str, str], ...] = (
    ("trivial", "trivial route /__ping"),
    ("availability", "month availability (API)"),
    ("availability_uncached", "month availability (API), cache off"),
    ("calendar", "citizen calendar page, one month"),
    ("calendar_uncached", "citizen calendar page, cache off"),
    ("challenge", "proof-of-work challenge (GET /api/v1/challenge)"),
    ("hold", "hold (POST /api/v1/appointments, with its proof of work)"),
    ("hold_without_pow", "hold, proof of work off"),
    ("confirm", "confirm (POST .../confirm)"),
    ("reschedule", "reschedule (service)"),
    ("staff_day", "staff day page"),
    ("report", "admin report, 366 days"),
)


@dataclass
class Context:
    app: Flask
    citizen: FlaskClient
    clerk: FlaskClient
    admin: FlaskClient
    today: date
    busy_day: date
    visits_on_busy_day: int
    free_starts: Iterator[str]
    iins: Iterator[str]
    numbers: Iterator[int]


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/staff/sign-in", data={"email": email, "password": PASSWORD})
    if answer.status_code != 302:
        raise RuntimeError(f"could not sign in {email}: {answer.status_code}")
    return client


def free_start_times(client: FlaskClient, today: date) -> Iterator[str]:
    """Free start times of the coming weeks, each offered as often as it has free seats."""
    answer = client.get(
        f"/api/v1/offices/{OFFICE}/availability",
        query_string={
            "services": SERVICES,
            "from": (today + timedelta(days=3)).isoformat(),
            "to": (today + timedelta(days=50)).isoformat(),
        },
    )
    starts = [slot["start"] for slot in answer.get_json()["slots"] if slot["available"] > 0]
    # One seat each, round the month, so that consecutive holds land on different slots.
    return itertools.cycle(starts)


def busiest_recent_day(app: Flask, today: date) -> tuple[date, int]:
    """The past day of the office with the most visits among the last two weeks."""
    with app.app_context():
        row = db.session.execute(
            sa.text(
                """
                SELECT (a.starts_at AT TIME ZONE o.timezone)::date AS day, count(*) AS visits
                FROM appointment a JOIN office o ON o.id = a.office_id
                WHERE o.code = :office AND a.starts_at >= :since AND a.starts_at < :until
                GROUP BY 1 ORDER BY 2 DESC, 1 DESC LIMIT 1
                """
            ),
            {"office": OFFICE, "since": today - timedelta(days=14), "until": today},
        ).one()
        return row.day, int(row.visits)


# Proof of work on, at the production cost of a challenge, with no work to speak of for the
# bench's client (whose requests all come from one address, so the rise would otherwise grow).
PROOF_OF_WORK = {
    "POW_ENABLED": True,
    "POW_COST": 1000,
    "POW_BASE_MAX_NUMBER": 1,
    "POW_OFFICE_MAX_FACTOR": 1,
    "POW_NETWORK_MAX_FACTOR": 1,
}


def context(database: BenchDatabase) -> Context:
    app = bench_app(database.url, WTF_CSRF_ENABLED=False, **PROOF_OF_WORK)
    today = datetime.now().astimezone().date()
    citizen = app.test_client()
    busy_day, visits = busiest_recent_day(app, today)
    return Context(
        app=app,
        citizen=citizen,
        clerk=signed_in(app, CLERK),
        admin=signed_in(app, ADMIN),
        today=today,
        busy_day=busy_day,
        visits_on_busy_day=visits,
        free_starts=free_start_times(citizen, today),
        iins=made_up_iins(database.appointments + int(time.time())),
        numbers=itertools.count(1),
    )


def _expect(answer: Any, status: int, what: str) -> Any:
    if answer.status_code != status:
        raise RuntimeError(f"{what}: {answer.status_code} {answer.get_data(as_text=True)[:300]}")
    return answer


def _proof(ctx: Context) -> str | None:
    """A solved proof of work for a hold, as a client of the API makes it; None when the app
    asks none (an older checkout, or proof of work off)."""
    answer = ctx.citizen.get("/api/v1/challenge", query_string={"office": OFFICE})
    if answer.status_code == 404 or not ctx.app.config.get("POW_ENABLED"):
        return None
    import altcha

    challenge = altcha.Challenge.from_dict(_expect(answer, 200, "challenge").get_json())
    solution = altcha.solve_challenge(challenge, timeout=60)
    if solution is None:
        raise RuntimeError("the bench's challenge could not be solved")
    return altcha.Payload(challenge, solution).to_base64()


def _hold_body(ctx: Context) -> dict[str, Any]:
    """The body of a hold at the next free time, for a new person, with its proof of work."""
    body = booking_body(
        OFFICE, datetime.fromisoformat(next(ctx.free_starts)), next(ctx.iins), next(ctx.numbers)
    )
    proof = _proof(ctx)
    return body if proof is None else body | {"proof_of_work": proof}


def _post_hold(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    return _expect(ctx.citizen.post("/api/v1/appointments", json=body), 201, "hold").get_json()


def _hold(ctx: Context) -> dict[str, Any]:
    return _post_hold(ctx, _hold_body(ctx))


def _code_of(ctx: Context, reference: str) -> str:
    """The code of a hold, read from the outbox's email as the citizen would read it."""
    from consular.models import Appointment, OutboxMessage

    with ctx.app.app_context():
        text = db.session.scalars(
            sa.select(OutboxMessage.text_body)
            .join(Appointment, Appointment.id == OutboxMessage.appointment_id)
            .where(Appointment.reference == reference)
            .order_by(OutboxMessage.id.desc())
        ).first()
        found = re.search(r"\b(\d{6})\b", text or "")
        if found is None:
            raise RuntimeError(f"no code in the email of {reference}")
        return found.group(1)


def operations(ctx: Context) -> dict[str, Callable[[], Callable[[], None]]]:
    """For each route, a preparation (untimed) that returns the timed call."""
    month = {
        "services": SERVICES,
        "from": ctx.today.isoformat(),
        "to": (ctx.today + timedelta(days=30)).isoformat(),
    }

    def trivial() -> Callable[[], None]:
        return lambda: _expect(ctx.citizen.get("/__ping"), 200, "ping") and None

    def availability() -> Callable[[], None]:
        url = f"/api/v1/offices/{OFFICE}/availability"
        return lambda: (
            _expect(ctx.citizen.get(url, query_string=month), 200, "availability") and None
        )

    def calendar() -> Callable[[], None]:
        url = f"/book/{OFFICE}/time"
        return lambda: (
            _expect(ctx.citizen.get(url, query_string={"services": SERVICES}), 200, "calendar")
            and None
        )

    def uncached(prepare: Callable[[], Callable[[], None]]) -> Callable[[], Callable[[], None]]:
        def prepared() -> Callable[[], None]:
            call = prepare()
            cache = ctx.app.extensions.get("availability_cache")
            if cache is None:  # an older checkout, without the cache
                return call

            def timed() -> None:
                ttl, cache.ttl = cache.ttl, 0
                try:
                    call()
                finally:
                    cache.ttl = ttl

            return timed

        return prepared

    def challenge() -> Callable[[], None]:
        url = "/api/v1/challenge"
        query = {"office": OFFICE}
        return lambda: _expect(ctx.citizen.get(url, query_string=query), 200, "challenge") and None

    def hold() -> Callable[[], None]:
        body = _hold_body(ctx)
        return lambda: _post_hold(ctx, body) and None

    def hold_without_pow() -> Callable[[], None]:
        ctx.app.config["POW_ENABLED"] = False
        body = _hold_body(ctx)

        def timed() -> None:
            try:
                _post_hold(ctx, body)
            finally:
                ctx.app.config["POW_ENABLED"] = True

        return timed

    def confirm() -> Callable[[], None]:
        reference = _hold(ctx)["reference"]
        code = _code_of(ctx, reference)
        url = f"/api/v1/appointments/{reference}/confirm"
        return lambda: _expect(ctx.citizen.post(url, json={"code": code}), 200, "confirm") and None

    def reschedule() -> Callable[[], None]:
        from consular.models import Appointment
        from consular.services import booking

        reference = _hold(ctx)["reference"]
        code = _code_of(ctx, reference)
        _expect(
            ctx.citizen.post(f"/api/v1/appointments/{reference}/confirm", json={"code": code}),
            200,
            "confirm",
        )
        new_start = datetime.fromisoformat(next(ctx.free_starts))

        def move() -> None:
            with ctx.app.test_request_context():
                appointment = db.session.scalar(
                    sa.select(Appointment).where(Appointment.reference == reference)
                )
                assert appointment is not None
                policy = booking.policy_from_config(ctx.app.config)
                booking.reschedule_appointment(
                    db.session, appointment, new_start, datetime.now().astimezone(), policy
                )
                db.session.commit()

        return move

    def staff_day() -> Callable[[], None]:
        url = f"/staff/{OFFICE}"
        query = {"day": ctx.busy_day.isoformat()}
        return lambda: _expect(ctx.clerk.get(url, query_string=query), 200, "staff day") and None

    def report() -> Callable[[], None]:
        query = {
            "office": "",
            "from": (ctx.today - timedelta(days=365)).isoformat(),
            "to": ctx.today.isoformat(),
        }
        return lambda: (
            _expect(ctx.admin.get("/admin/reports", query_string=query), 200, "report") and None
        )

    return {
        "trivial": trivial,
        "availability": availability,
        "calendar": calendar,
        "availability_uncached": uncached(availability),
        "calendar_uncached": uncached(calendar),
        "challenge": challenge,
        "hold": hold,
        "hold_without_pow": hold_without_pow,
        "confirm": confirm,
        "reschedule": reschedule,
        "staff_day": staff_day,
        "report": report,
    }


def medians(database: BenchDatabase, repeats: int, *, slow_repeats: int = 5) -> dict[str, float]:
    """Median milliseconds of each route; the trivial route is timed between the others'."""
    ctx = context(database)
    prepared = operations(ctx)
    times: dict[str, list[float]] = {name: [] for name, _ in ROUTES}
    for name, _title in ROUTES:
        count = slow_repeats if name == "report" else repeats
        for attempt in range(count + 1):
            timed = prepared[name]()
            started = time.perf_counter()
            timed()
            elapsed = (time.perf_counter() - started) * 1000
            if attempt:  # the first one warms caches up
                times[name].append(elapsed)
            ping = prepared["trivial"]()
            started = time.perf_counter()
            ping()
            times["trivial"].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}
