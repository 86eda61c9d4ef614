"""The app under gunicorn on a bench database: throughput against the trivial route, latency
at 50 connections, worker models side by side, and a day opening to a rush of citizens."""

from __future__ import annotations

import asyncio
import http.client
import itertools
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import sqlalchemy as sa

from bench import load
from bench.build import CLERK, PASSWORD, BenchDatabase, bench_app, booking_body, made_up_iins
from consular.extensions import db

ROOT = Path(__file__).resolve().parent.parent
# The app to serve: this checkout, or another one (an older commit, to compare with).
APP_ROOT = Path(os.environ.get("BENCH_APP_ROOT") or ROOT)
HOST = "127.0.0.1"
OFFICE = "seoul"
SERVICES = "passport-renewal"


@dataclass(frozen=True)
class WorkerModel:
    name: str
    workers: int
    worker_class: str = "sync"
    threads: int = 1

    @property
    def label(self) -> str:
        threads = f" × {self.threads} threads" if self.threads > 1 else ""
        return f"{self.workers} {self.worker_class} workers{threads}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(database: BenchDatabase, model: WorkerModel, **env: str) -> Iterator[int]:
    """gunicorn with the project's gunicorn.conf.py on the bench database; yields its port."""
    port = _free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database.url,
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "RATELIMIT_ENABLED": "0",
        "SESSION_COOKIE_SECURE": "0",
        # The load comes from one address and solves nothing: proof of work is off here, and
        # its server-side cost is measured in process (bench/inprocess.py).
        "POW_ENABLED": "0",
        "GUNICORN_BIND": f"{HOST}:{port}",
        "GUNICORN_WORKERS": str(model.workers),
        "GUNICORN_WORKER_CLASS": model.worker_class,
        "GUNICORN_THREADS": str(model.threads),
        "GUNICORN_ACCESS_LOG": "",
        "PYTHONPATH": f"{APP_ROOT}{os.pathsep}{ROOT}",
        **env,
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    # The app logs a line a request, as in production (to journald there): into a file, since
    # a pipe nobody reads until the end would fill and stop the workers mid-run.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [str(gunicorn), "-c", str(ROOT / "gunicorn.conf.py"), "app:app"],
        cwd=APP_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection(HOST, port, timeout=2)
                connection.request("GET", "/__ping")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                errors = log.read().decode(errors="replace")
                raise RuntimeError(f"gunicorn did not start:\n{errors[-3000:]}")
            time.sleep(0.2)  # gunicorn gives no signal when its workers listen: poll /__ping
        # Every worker answers once before anything is measured.
        for _ in range(model.workers * model.threads * 4):
            connection = http.client.HTTPConnection(HOST, port, timeout=10)
            connection.request("GET", f"/api/v1/offices/{OFFICE}/availability?services={SERVICES}")
            connection.getresponse().read()
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def sign_in(port: int, email: str) -> str:
    """Sign in through the real form (CSRF token and all); returns the session cookie."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    connection.request("GET", "/staff/sign-in")
    answer = connection.getresponse()
    page = answer.read().decode()
    cookie = (answer.getheader("Set-Cookie") or "").split(";", 1)[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("no CSRF token on the sign-in page")
    from urllib.parse import urlencode

    body = urlencode({"csrf_token": token.group(1), "email": email, "password": PASSWORD})
    connection.request(
        "POST",
        "/staff/sign-in",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    answer = connection.getresponse()
    answer.read()
    if answer.status != 302:
        raise RuntimeError(f"sign-in refused: {answer.status}")
    return (answer.getheader("Set-Cookie") or "").split(";", 1)[0]


def _availability(port: int, first: date, last: date, office: str = OFFICE) -> list[dict]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request(
        "GET",
        f"/api/v1/offices/{office}/availability?services={SERVICES}"
        f"&from={first.isoformat()}&to={last.isoformat()}",
    )
    import json

    return json.loads(connection.getresponse().read())["slots"]


def hold_requests(port: int, today: date, seed: int) -> Callable[[], bytes]:
    """Bodies of holds at free times of the coming weeks, one per free seat, so that none is
    refused for want of a seat; a new person each time."""
    starts: list[str] = []
    for first in range(2, 60, 30):
        slots = _availability(
            port, today + timedelta(days=first), today + timedelta(days=first + 29)
        )
        starts += [slot["start"] for slot in slots for _ in range(slot["available"])]
    random.Random(seed).shuffle(starts)
    pool = iter(starts)
    iins = made_up_iins(seed)
    numbers = itertools.count(seed * 1_000_000)
    host = f"{HOST}:{port}"

    def make() -> bytes:
        start = datetime.fromisoformat(next(pool))
        body = booking_body(OFFICE, start, next(iins), next(numbers))
        return load.post_json("/api/v1/appointments", host, body)

    return make


def busiest_recent_day(database: BenchDatabase, today: date) -> date:
    from bench.inprocess import busiest_recent_day as busiest

    return busiest(bench_app(database.url), today)[0]


@dataclass
class RouteFigures:
    title: str
    rate: float
    trivial_rate: float
    p95_ms: float
    failures: int
    statuses: dict[int, int]

    @property
    def share(self) -> float:
        return self.rate / self.trivial_rate if self.trivial_rate else 0.0


def throughput(
    database: BenchDatabase,
    model: WorkerModel,
    *,
    seconds: float,
    rounds: int,
    connections: int = 50,
    routes: tuple[str, ...] = ("offices", "availability", "calendar", "staff_day", "hold"),
    env: dict[str, str] | None = None,
) -> dict[str, RouteFigures]:
    """Each route interleaved with the trivial one: requests a second, share, p95."""
    today = datetime.now().astimezone().date()
    figures: dict[str, RouteFigures] = {}
    with server(database, model, **(env or {})) as port:
        host = f"{HOST}:{port}"
        month = f"from={today.isoformat()}&to={(today + timedelta(days=30)).isoformat()}"
        cookie = sign_in(port, CLERK) if "staff_day" in routes else ""
        busy_day = busiest_recent_day(database, today)
        fixed = {
            "offices": ("GET /api/v1/offices", "/api/v1/offices"),
            "availability": (
                "month availability (API)",
                f"/api/v1/offices/{OFFICE}/availability?services={SERVICES}&{month}",
            ),
            "calendar": (
                "citizen calendar page, one month",
                f"/book/{OFFICE}/time?services={SERVICES}",
            ),
            "staff_day": ("staff day page", f"/staff/{OFFICE}?day={busy_day.isoformat()}"),
        }
        trivial_request = load.get("/__ping", host)
        for name in routes:
            expect = 200
            if name == "hold":
                title = "hold (POST /api/v1/appointments)"
                make = hold_requests(port, today, seed=int(time.time()))
                expect = 201
            else:
                title, path = fixed[name]
                request = load.get(path, host, cookie=cookie if name == "staff_day" else "")
                make = lambda request=request: request  # noqa: E731
            trivial_run, route_run = load.interleaved(
                HOST,
                port,
                lambda: trivial_request,
                make,
                connections=connections,
                seconds=seconds,
                rounds=rounds,
                expect=expect,
            )
            figures[name] = RouteFigures(
                title=title,
                rate=route_run.rate,
                trivial_rate=trivial_run.rate,
                p95_ms=route_run.percentile(0.95) * 1000,
                failures=route_run.failures,
                statuses=route_run.statuses,
            )
        figures["trivial"] = RouteFigures(
            title="trivial route /__ping",
            rate=trivial_run.rate,
            trivial_rate=trivial_run.rate,
            p95_ms=trivial_run.percentile(0.95) * 1000,
            failures=trivial_run.failures,
            statuses=trivial_run.statuses,
        )
    return figures


# The day opening: a new office whose one opening day has exactly 100 seats, and a crowd.


@dataclass
class RushFigures:
    clients: int
    concurrency: int
    seats: int
    held: int
    distinct_seats_held: int
    clients_without_seat: int
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    last_client_s: float
    overbooked_slots: int
    statuses: dict[int, int]
    look_p50_ms: float = 0.0
    look_p99_ms: float = 0.0
    hold_p50_ms: float = 0.0
    hold_p99_ms: float = 0.0


RUSH_SEATS = 100


def _rush_office(database: BenchDatabase) -> tuple[str, date]:
    """An office opening one weekday, 09:00–09:50, 10 desks, 5-minute slots, nothing kept for
    walk-ins: exactly 100 seats on its next opening day, which is `day`."""
    from consular.models import Office, OpeningPeriod, ServiceType
    from consular.services import schedule

    app = bench_app(database.url)
    now = datetime.now().astimezone()
    with app.app_context():
        stamp = int(time.time())
        code = f"rush-{stamp}"
        taken = set(db.session.scalars(sa.select(Office.reference_prefix)))
        prefix = next(
            p
            for p in ("".join(letters) for letters in itertools.product("RSTUVWXYZ", repeat=3))
            if p not in taken
        )
        day = now.date() + timedelta(days=7)
        office = Office(
            code=code,
            reference_prefix=prefix,
            name={"en": "Rush test office"},
            address={"en": "Nowhere"},
            directions={},
            map_url="",
            phone="",
            email="rush@example.com",
            timezone="Asia/Seoul",
            slot_minutes=5,
            booking_open=True,
            ticket_prefix="R",
            walk_in_share=0,
        )
        office.opening_periods.append(
            OpeningPeriod(
                weekday=day.weekday(),
                opens_at=clock_time(9, 0),
                closes_at=clock_time(9, 50),
                desks=10,
            )
        )
        db.session.add(office)
        service = db.session.scalar(sa.select(ServiceType).where(ServiceType.code == "rush"))
        if service is None:
            template = db.session.scalar(sa.select(ServiceType).where(ServiceType.code == SERVICES))
            assert template is not None
            service = ServiceType(
                code="rush",
                name={"en": "Rush visit"},
                description={},
                documents={},
                fee={},
                duration_minutes=5,
                detail_sets=[],
                min_notice_hours=0,
                horizon_days=30,
                cutoff_hours=0,
                max_active_bookings=1,
                is_online=True,
            )
            db.session.add(service)
        service.offices.append(office)
        db.session.flush()
        schedule.sync_slots(db.session, office, now, 30)
        db.session.commit()
        seats = db.session.scalar(
            sa.select(sa.func.sum(sa.text("capacity")))
            .select_from(sa.text("slot"))
            .where(sa.text("office_id = :office AND starts_at >= :start AND starts_at < :end")),
            {
                "office": office.id,
                "start": schedule.local_day_bounds(day, office.zone)[0],
                "end": schedule.local_day_bounds(day, office.zone)[1],
            },
        )
        if seats != RUSH_SEATS:
            raise RuntimeError(f"the rush day has {seats} seats, not {RUSH_SEATS}")
        return code, day


def rush(
    database: BenchDatabase,
    *,
    clients: int = 1000,
    concurrency: int = 200,
    worker_class: str = "sync",
    threads: int = 1,
) -> RushFigures:
    """`clients` citizens, `concurrency` at once, each looking at the day's free times and
    holding one, looking again after a refusal, until it has a seat or none is left."""
    code, day = _rush_office(database)
    model = WorkerModel("rush", workers=4, worker_class=worker_class, threads=threads)
    iins = made_up_iins(int(time.time()))
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {"look": [], "hold": []}
    statuses: dict[int, int] = {}
    errors = 0
    held: list[str] = []
    without = 0
    finished_at: list[float] = []

    with server(database, model) as port:
        host = f"{HOST}:{port}"
        availability = load.get(
            f"/api/v1/offices/{code}/availability?services=rush&from={day}&to={day}", host
        )
        gate = asyncio.Semaphore(concurrency)

        async def citizen(number: int, started: float) -> None:
            nonlocal errors, without
            import json

            async with gate:
                connection = load.Connection(HOST, port)
                rng = random.Random(number)
                try:
                    for _attempt in range(50):
                        t0 = time.perf_counter()
                        answer = await connection.send(availability)
                        latencies.append(time.perf_counter() - t0)
                        by_kind["look"].append(latencies[-1])
                        statuses[answer.status] = statuses.get(answer.status, 0) + 1
                        if answer.status != 200:
                            errors += 1
                            return
                        free = [
                            s["start"] for s in json.loads(answer.body)["slots"] if s["available"]
                        ]
                        if not free:
                            without += 1
                            return
                        body = {
                            **booking_body(
                                code, datetime.fromisoformat(rng.choice(free)), next(iins), number
                            ),
                            "services": ["rush"],
                            "details": {},
                        }
                        t0 = time.perf_counter()
                        answer = await connection.send(
                            load.post_json("/api/v1/appointments", host, body)
                        )
                        latencies.append(time.perf_counter() - t0)
                        by_kind["hold"].append(latencies[-1])
                        statuses[answer.status] = statuses.get(answer.status, 0) + 1
                        if answer.status == 201:
                            held.append(json.loads(answer.body)["reference"])
                            return
                        if answer.status != 409:
                            errors += 1
                            return
                    errors += 1  # fifty refusals in a row: that is a failure too
                except (ConnectionError, asyncio.IncompleteReadError, OSError):
                    errors += 1
                finally:
                    finished_at.append(time.perf_counter() - started)
                    await connection.close()

        async def crowd() -> None:
            started = time.perf_counter()
            await asyncio.gather(*(citizen(n, started) for n in range(clients)))

        asyncio.run(crowd())

    app = bench_app(database.url)
    with app.app_context():
        office_id = db.session.scalar(sa.text("SELECT id FROM office WHERE code = :c"), {"c": code})
        overbooked = db.session.scalar(
            sa.text("SELECT count(*) FROM slot WHERE office_id = :o AND booked > capacity"),
            {"o": office_id},
        )
        distinct = db.session.scalar(
            sa.text(
                """
                SELECT count(*) FROM appointment_slot s
                JOIN appointment a ON a.id = s.appointment_id
                WHERE a.office_id = :o AND s.holds_seat
                """
            ),
            {"o": office_id},
        )
        booked = db.session.scalar(
            sa.text("SELECT sum(booked) FROM slot WHERE office_id = :o"), {"o": office_id}
        )
        if booked != distinct:
            raise RuntimeError(f"the rush office counts {booked} seats booked but {distinct} held")
    ordered = sorted(latencies)
    return RushFigures(
        clients=clients,
        concurrency=concurrency,
        seats=RUSH_SEATS,
        held=len(held),
        distinct_seats_held=int(distinct or 0),
        clients_without_seat=without,
        requests=len(latencies),
        errors=errors,
        p50_ms=ordered[len(ordered) // 2] * 1000 if ordered else float("nan"),
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        if ordered
        else float("nan"),
        last_client_s=max(finished_at) if finished_at else float("nan"),
        overbooked_slots=int(overbooked or 0),
        statuses=statuses,
        look_p50_ms=_percentile(by_kind["look"], 0.5),
        look_p99_ms=_percentile(by_kind["look"], 0.99),
        hold_p50_ms=_percentile(by_kind["hold"], 0.5),
        hold_p99_ms=_percentile(by_kind["hold"], 0.99),
    )


def _percentile(seconds: list[float], share: float) -> float:
    if not seconds:
        return float("nan")
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000
