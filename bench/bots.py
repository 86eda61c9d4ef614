"""A bot against 20 people, on a production-like server: does fair access hold?

`python -m bench.bots` (first come, first served) or `python -m bench.bots --mode lottery`.

It builds its own PostgreSQL database (`consular_bots`): the Busan office with one service and
the seats of its next 10 working days (2 desks, 09:00-12:00 and 14:00-17:00, 30-minute slots).
It serves the app as production does: gunicorn with `gunicorn.conf.py` on a Unix socket that
only nginx reaches, nginx in front (`X-Forwarded-For` set as README's "Fair access" says,
`PROXY_COUNT=1`), rate limits and the availability cache in Redis, proof of work on at the
production difficulty, quotas at their defaults, a random secret key, no debug mode. Without
nginx it says so and serves gunicorn alone on TCP with `PROXY_COUNT=0`.

At the same moment a bot and 20 scripted people start. The bot does what an attacker with a
catch-all mail domain does: it binds its connections to many loopback addresses in 50
different /24 networks (Linux routes all of 127.0.0.0/8 to the loopback device), forges
`X-Forwarded-For` with random addresses, makes up valid IINs, passport and phone numbers,
writes from `<name>@slotbot.example`, solves every proof of work with the `altcha` package,
and confirms every hold with the code it reads from "its mailbox": the outbox table of the
database, which is what a catch-all domain gives it. The people each come from an address of
their own, with an address at a public provider; they look once, solve one proof, hold a
time, read the code and confirm, with a human pause of 1 to 3 s between steps, and look again
when their time was taken. In lottery mode everybody enters a release of the same days
instead, through the pages; the draw runs as cron runs it (`flask lottery draw`) and every
winner confirms.

It prints a Markdown summary with PASS or FAIL against issue 11's target, and drops the
server, nginx, the Redis counters and the database at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bench import server as serving
from bench.build import ADMIN_URL, drop_database, made_up_iins, sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "consular_bots"
# Rate-limit counters and the availability cache of the run, flushed before and after: a
# database number nothing else uses (the tests use 15).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
OFFICE = "busan"
SERVICE = "passport-renewal"
ZONE = ZoneInfo("Asia/Seoul")
WORKING_DAYS = 10
DESKS = 2
PERIODS = ((clock_time(9), clock_time(12)), (clock_time(14), clock_time(17)))
SLOT_MINUTES = 30
PEOPLE = 20
BOT_NETWORKS = 50
BOT_ADDRESSES_PER_NETWORK = 4
BOT_DOMAIN = "slotbot.example"
PUBLIC_PROVIDERS = ("gmail.com", "naver.com", "daum.net", "mail.ru", "yandex.kz", "icloud.com")
GIVEN_NAMES = ("Aigerim", "Daniyar", "Aruzhan", "Nursultan", "Madina", "Yerlan", "Dana", "Askar")
FAMILY_NAMES = ("Akhmetova", "Bekov", "Omarova", "Seitkali", "Kim", "Li", "Nurlanov", "Ivanova")
TARGET_FIRST_COME_SHARE = 0.05
# An address at the public provider of a person; the bot's are at its own domain.
_CODE = re.compile(r"(?<![\w-])(\d{6})(?![\w-])")


# Identities and addresses (pure, tested in tests/test_bench_bots.py)


def korean_mobile(rng: random.Random) -> str:
    """A valid Korean mobile number as people write it (010-XXXX-XXXX)."""
    from consular.services.identity import normalize_phone

    while True:
        number = f"010-{rng.randrange(2000, 10000):04d}-{rng.randrange(10000):04d}"
        if normalize_phone(number) is not None:  # a few blocks are not assigned
            return number


def passport_number(rng: random.Random) -> str:
    """A passport number of the default pattern: N and 8 digits."""
    return f"N{rng.randrange(10**8):08d}"


def bot_addresses(
    networks: int = BOT_NETWORKS, per_network: int = BOT_ADDRESSES_PER_NETWORK
) -> list[str]:
    """The bot's loopback source addresses: `per_network` in each of `networks` /24s, in an
    order that takes one address of every network before the second of any."""
    return [
        f"127.{100 + n // 256}.{n % 256}.{10 + k}"
        for k in range(per_network)
        for n in range(networks)
    ]


def person_address(number: int) -> str:
    """The loopback address of the scripted person `number`: a /24 of their own."""
    return f"127.200.{number}.10"


def forged_forwarded_for(rng: random.Random) -> str:
    """A random public-looking address for a forged X-Forwarded-For."""
    return (
        f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    )


def bot_email(number: int, subdomains: bool) -> str:
    """The bot's address number `number` at its catch-all domain (or a subdomain of it)."""
    domain = f"m{number % 1000}.{BOT_DOMAIN}" if subdomains else BOT_DOMAIN
    return f"x{number}@{domain}"


def is_bot_email(address: str) -> bool:
    domain = address.rpartition("@")[2].lower()
    return domain == BOT_DOMAIN or domain.endswith(f".{BOT_DOMAIN}")


def code_in(text: str) -> str | None:
    """The 6-digit code of an e-mail's text, if it has one."""
    found = _CODE.search(text)
    return found.group(1) if found else None


def working_days(after: date, count: int = WORKING_DAYS) -> list[date]:
    """The `count` weekdays after `after`."""
    days: list[date] = []
    day = after
    while len(days) < count:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


# The summaries (pure, tested)


@dataclass
class FirstComeSummary:
    seats: int
    proxy: str
    bot_holds_attempted: int = 0
    bot_outcomes: Counter[str] = field(default_factory=Counter)
    bot_other_refusals: Counter[str] = field(default_factory=Counter)
    bot_booked: int = 0
    people: int = PEOPLE
    people_booked: int = 0
    people_holds_attempted: int = 0
    people_refusals: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def bot_share(self) -> float:
        return self.bot_booked / self.seats if self.seats else 0.0

    @property
    def bot_passes(self) -> bool:
        return self.bot_share < TARGET_FIRST_COME_SHARE

    @property
    def people_pass(self) -> bool:
        return self.people_booked == self.people

    @property
    def passed(self) -> bool:
        return self.bot_passes and self.people_pass

    def markdown(self) -> str:
        refused = sum(n for reason, n in self.bot_outcomes.items() if reason != "held (201)")
        lines = [
            "## Bot simulation: first come, first served",
            "",
            f"Server: {self.proxy}",
            "",
            "| figure | value |",
            "|---|---|",
            f"| seats in total | {self.seats} |",
            f"| bot hold requests sent | {self.bot_holds_attempted} |",
            f"| of which held | {self.bot_outcomes.get('held (201)', 0)} |",
            f"| of which refused | {refused} |",
            *(
                f"| refused: {reason} | {n} |"
                for reason, n in sorted(self.bot_outcomes.items(), key=lambda item: -item[1])
                if reason != "held (201)"
            ),
            *(
                f"| before a hold: {reason} | {n} |"
                for reason, n in sorted(self.bot_other_refusals.items(), key=lambda item: -item[1])
            ),
            f"| bot bookings confirmed | {self.bot_booked} |",
            f"| bot share of the seats | {self.bot_share:.1%} |",
            f"| people with a seat | {self.people_booked}/{self.people} |",
            f"| people's hold requests | {self.people_holds_attempted} |",
            *(
                f"| people refused: {reason} | {n} |"
                for reason, n in sorted(self.people_refusals.items(), key=lambda item: -item[1])
            ),
            f"| time span | {self.seconds:.0f} s |",
            "",
            f"- bot under {TARGET_FIRST_COME_SHARE:.0%} of the seats: "
            f"{'PASS' if self.bot_passes else 'FAIL'} ({self.bot_share:.1%})",
            f"- every person a seat: {'PASS' if self.people_pass else 'FAIL'} "
            f"({self.people_booked}/{self.people})",
            f"- **{'PASS' if self.passed else 'FAIL'}**",
        ]
        return "\n".join(lines)


def draw_allowance(entries: int, bot_entries: int, seats_given: int) -> float:
    """How far above its share of the entries the bot's share of the seats may lie by chance.

    The seats given out go to a uniformly random subset of the entries, so the bot's number
    of seats is hypergeometric: standard deviation of its share
    sqrt(p(1-p)/n * (N-n)/(N-1)) for N entries, a share p of them the bot's and n seats.
    Three of them (a one-sided chance of about 0.13 % for a fair draw), plus one seat for
    rounding. With every entry served (n >= N) the share is exact: one seat's rounding only.
    """
    if entries <= 0 or seats_given <= 0:
        return 0.0
    share = bot_entries / entries
    if seats_given >= entries or entries == 1:
        return 1 / seats_given
    spread = math.sqrt(share * (1 - share) / seats_given * (entries - seats_given) / (entries - 1))
    return 3 * spread + 1 / seats_given


@dataclass
class LotterySummary:
    seats: int
    proxy: str
    bot_entries: int = 0
    bot_entry_outcomes: Counter[str] = field(default_factory=Counter)
    people: int = PEOPLE
    people_entries: int = 0
    bot_offers: int = 0
    people_offers: int = 0
    bot_booked: int = 0
    people_booked: int = 0
    draw_output: str = ""
    seconds: float = 0.0

    @property
    def entries(self) -> int:
        return self.bot_entries + self.people_entries

    @property
    def bot_entry_share(self) -> float:
        return self.bot_entries / self.entries if self.entries else 0.0

    @property
    def seats_given(self) -> int:
        return self.bot_offers + self.people_offers

    @property
    def bot_seat_share(self) -> float:
        return self.bot_offers / self.seats_given if self.seats_given else 0.0

    @property
    def allowance(self) -> float:
        return draw_allowance(self.entries, self.bot_entries, self.seats_given)

    @property
    def draw_passes(self) -> bool:
        return self.bot_seat_share <= self.bot_entry_share + self.allowance

    @property
    def everyone_fits(self) -> bool:
        return self.seats >= self.entries

    @property
    def people_pass(self) -> bool:
        """Every person who entered has a seat (asked only when the seats are enough)."""
        return self.people_booked == self.people_entries or not self.everyone_fits

    @property
    def everyone_served(self) -> bool:
        """Issue 11's target: every scripted person has a seat."""
        return self.people_booked == self.people

    @property
    def passed(self) -> bool:
        return self.draw_passes and self.people_pass and self.everyone_served

    def markdown(self) -> str:
        fits = "yes" if self.everyone_fits else "no"
        lines = [
            "## Bot simulation: lottery release",
            "",
            f"Server: {self.proxy}",
            "",
            "| figure | value |",
            "|---|---|",
            f"| seats in total | {self.seats} |",
            f"| valid entries (verified) | {self.entries} |",
            f"| bot entries | {self.bot_entries} |",
            *(
                f"| bot entry attempts: {reason} | {n} |"
                for reason, n in sorted(self.bot_entry_outcomes.items(), key=lambda x: -x[1])
            ),
            f"| people's entries | {self.people_entries}/{self.people} |",
            f"| seats given by the draw | {self.seats_given} |",
            f"| bot share of the valid entries | {self.bot_entry_share:.1%} |",
            f"| bot share of the seats given | {self.bot_seat_share:.1%} |",
            f"| statistical allowance (3 sd + 1 seat) | {self.allowance:.1%} |",
            f"| bot bookings confirmed | {self.bot_booked} |",
            f"| people with a seat | {self.people_booked}/{self.people_entries} |",
            f"| seats at least the entries | {fits} |",
            f"| time span | {self.seconds:.0f} s |",
            "",
            f"- bot's share of the seats within its share of the entries: "
            f"{'PASS' if self.draw_passes else 'FAIL'} "
            f"({self.bot_seat_share:.1%} <= {self.bot_entry_share:.1%} + {self.allowance:.1%})",
            "- every person who entered a seat, when the seats are enough: "
            + ("PASS" if self.people_pass else "FAIL")
            + f" ({self.people_booked}/{self.people_entries}"
            + ("" if self.everyone_fits else f"; {self.seats} seats for {self.entries} entries")
            + ")",
            f"- issue 11's target, every scripted person a seat: "
            f"{'PASS' if self.everyone_served else 'FAIL'} "
            f"({self.people_booked}/{self.people})",
            f"- **{'PASS' if self.passed else 'FAIL'}**",
        ]
        return "\n".join(lines)


# The database


@dataclass(frozen=True)
class Office:
    url: str
    seats: int
    days: list[date]
    service_id: int
    office_id: int


def build_database(now: datetime) -> Office:
    """Drop and create `consular_bots`: migrations, the Busan office, one service, the seats
    of its next 10 working days and no others."""
    import psycopg

    drop_database(DATABASE)
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    return fill_database(sqlalchemy_url(DATABASE), now)


def fill_database(url: str, now: datetime) -> Office:
    """Bring an empty database to the schema's head and add the office, service and seats."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from bench.build import bench_app
    from consular.extensions import db
    from consular.models import Office as OfficeRow
    from consular.models import OpeningPeriod, ServiceType, Slot
    from consular.services import schedule

    days = working_days(now.astimezone(ZONE).date())
    with bench_app(url).app_context():
        upgrade()
        office = OfficeRow(
            code=OFFICE,
            reference_prefix="BSN",
            name={"en": "Consulate General of the Republic of Kazakhstan in Busan"},
            address={"en": "Busan (bench data)"},
            timezone=str(ZONE),
            slot_minutes=SLOT_MINUTES,
            booking_open=True,
            ticket_prefix="B",
            walk_in_share=0,
        )
        for weekday in range(5):
            for opens, closes in PERIODS:
                office.opening_periods.append(
                    OpeningPeriod(weekday=weekday, opens_at=opens, closes_at=closes, desks=DESKS)
                )
        service = ServiceType(
            code=SERVICE,
            name={"en": "Passport renewal"},
            duration_minutes=SLOT_MINUTES,
            detail_sets=[],
            min_notice_hours=1,
            horizon_days=30,
            cutoff_hours=24,
            max_active_bookings=1,
            is_online=True,
        )
        service.offices.append(office)
        db.session.add_all([office, service])
        db.session.flush()
        schedule.sync_slots(db.session, office, now, (days[-1] - days[0]).days + 3)
        first = schedule.local_day_bounds(days[0], ZONE)[0]
        last = schedule.local_day_bounds(days[-1], ZONE)[1]
        db.session.execute(
            sa.delete(Slot).where(
                Slot.office_id == office.id, (Slot.starts_at < first) | (Slot.starts_at >= last)
            )
        )
        seats = db.session.scalar(
            sa.select(sa.func.sum(Slot.capacity)).where(Slot.office_id == office.id)
        )
        db.session.commit()
        built = Office(url, int(seats or 0), days, service.id, office.id)
        db.session.remove()
        db.engine.dispose()  # nothing left connected to a database that is dropped later
        return built


class Mailbox:
    """What a mailbox shows: the latest message of a kind to an address, from the outbox."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._connection = psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        )
        self._lock = threading.Lock()

    def code(self, recipient: str, kind: str, wait: float = 10.0) -> str | None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self._lock:
                row = self._connection.execute(
                    "SELECT subject, text_body FROM outbox_message"
                    " WHERE recipient = %s AND kind = %s ORDER BY id DESC LIMIT 1",
                    (recipient, kind),
                ).fetchone()
            if row is not None:
                return code_in(row[0]) or code_in(row[1])
            time.sleep(0.2)
        return None

    def close(self) -> None:
        self._connection.close()


# The server: gunicorn behind nginx


@dataclass(frozen=True)
class Server:
    port: int
    environment: dict[str, str]
    description: str


NGINX_SITE = """
    server_tokens off;
    upstream consular {{
        server unix:{socket};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://consular;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # README, "Fair access": the proxy appends the address it saw (or overwrites).
            proxy_set_header X-Forwarded-For {forwarded_for};
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
"""
FORWARDED_FOR = {"append": "$proxy_add_x_forwarded_for", "overwrite": "$remote_addr"}


@contextmanager
def production_server(url: str, workers: int, forwarded_for: str) -> Iterator[Server]:
    """gunicorn (the repository's gunicorn.conf.py) behind nginx, production settings."""
    folder = Path(tempfile.mkdtemp(prefix="consular-bots-"))
    folder.chmod(0o755)  # nginx's workers may run as another user: they reach the socket
    nginx = serving.find_nginx()
    port = serving.free_port()
    environment = serving.production_environment(url, REDIS_URL) | {
        "POW_ENABLED": "1",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_ACCESS_LOG": "",
    }
    site = None
    if nginx:
        socket_path = folder / "gunicorn.sock"
        environment |= {"GUNICORN_BIND": f"unix:{socket_path}", "PROXY_COUNT": "1"}
        description = (
            f"nginx ({FORWARDED_FOR[forwarded_for]}) in front of gunicorn on a Unix socket, "
            f"{workers} gthread workers × 4 threads, PROXY_COUNT=1"
        )
        site = NGINX_SITE.format(
            socket=socket_path, port=port, forwarded_for=FORWARDED_FOR[forwarded_for]
        )
    else:
        print(
            "nginx is not installed (apt-get install nginx): gunicorn alone on TCP with "
            "PROXY_COUNT=0, so a forged X-Forwarded-For is never read at all."
        )
        environment |= {"GUNICORN_BIND": f"127.0.0.1:{port}", "PROXY_COUNT": "0"}
        description = f"gunicorn alone (no nginx), {workers} gthread workers × 4, PROXY_COUNT=0"
    serving.redis_flush(REDIS_URL)
    try:
        with serving.serve(folder, environment, lambda: serving.ping(port), site):
            yield Server(port, environment, description)
    finally:
        serving.redis_flush(REDIS_URL)
        _report_server_errors(folder / "gunicorn.log")
        shutil.rmtree(folder, ignore_errors=True)


def _report_server_errors(log: Path) -> None:
    """Say how many requests failed inside the app (each a 500), with the first traceback: a
    rule that refuses must refuse with its own answer, never with an error."""
    text = log.read_text(errors="replace") if log.exists() else ""
    failures = text.count("unhandled error")
    if not failures:
        print("server: no unhandled errors", file=sys.stderr)
        return
    start = text.find("Traceback")
    print(f"server: {failures} unhandled errors; the first:\n{text[start:start + 3000]}",
          file=sys.stderr)  # fmt: skip


# HTTP from a chosen source address


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body)
        except ValueError:
            return {}

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Browser:
    """Keep-alive HTTP from one source address, with a cookie jar and, for the bot, a forged
    X-Forwarded-For on every request."""

    def __init__(self, port: int, source: str, forge: random.Random | None = None) -> None:
        self.port, self.source, self.forge = port, source, forge
        self.cookies: dict[str, str] = {}
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> Answer:
        headers = {"Accept-Language": "en", "User-Agent": "Mozilla/5.0 (bench.bots)"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.forge is not None:
            headers["X-Forwarded-For"] = forged_forwarded_for(self.forge)
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=60, source_address=(self.source, 0)
                )
            try:
                self._connection.request(method, path, body=body, headers=headers)
                response = self._connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                continue
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    pair = value.split(";", 1)[0]
                    key, _sep, cookie = pair.partition("=")
                    self.cookies[key.strip()] = cookie.strip()
            answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
            if response.will_close:
                self.close()
            return answer
        raise AssertionError("unreachable")

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post_json(self, path: str, body: Any) -> Answer:
        import json

        return self.request("POST", path, json.dumps(body).encode(), "application/json")

    def post_form(self, path: str, fields: dict[str, str]) -> Answer:
        return self.request(
            "POST", path, urlencode(fields).encode(), "application/x-www-form-urlencoded"
        )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None


def solve(browser: Browser, timeout: float = 600) -> tuple[str | None, str]:
    """Fetch a challenge for the office and solve it as the widget does: (payload, refusal)."""
    import altcha

    answer = browser.get(f"/api/v1/challenge?office={OFFICE}")
    if answer.status != 200:
        return None, f"challenge {answer.status}"
    challenge = altcha.Challenge.from_dict(answer.json())
    solution = altcha.solve_challenge(challenge, timeout=max(1.0, timeout))
    if solution is None:
        return None, "challenge not solved in the time left"
    return altcha.Payload(challenge, solution).to_base64(), ""


def free_starts(browser: Browser, days: list[date]) -> tuple[list[str] | None, int]:
    """The free start times of the days, in order, or None with the refusal's status."""
    answer = browser.get(
        f"/api/v1/offices/{OFFICE}/availability?services={SERVICE}"
        f"&from={days[0].isoformat()}&to={days[-1].isoformat()}"
    )
    if answer.status != 200:
        return None, answer.status
    return [slot["start"] for slot in answer.json().get("slots", []) if slot["available"]], 200


@dataclass(frozen=True)
class Person:
    given_name: str
    family_name: str
    iin: str
    passport_number: str
    email: str
    phone: str

    def applicant(self) -> dict[str, str]:
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "iin": self.iin,
            "passport_number": self.passport_number,
            "email": self.email,
            "phone": self.phone,
        }


def made_up_person(rng: random.Random, iins: Iterator[str], email: str) -> Person:
    return Person(
        rng.choice(GIVEN_NAMES),
        rng.choice(FAMILY_NAMES),
        next(iins),
        passport_number(rng),
        email,
        korean_mobile(rng),
    )


def scripted_people(seed: int) -> list[tuple[str, Person]]:
    """The 20 people: each an address of their own and a mailbox at a public provider."""
    rng = random.Random(seed)
    iins = made_up_iins(seed)
    people = []
    for number in range(PEOPLE):
        provider = PUBLIC_PROVIDERS[number % len(PUBLIC_PROVIDERS)]
        email = f"person.{number}.{rng.randrange(10**6)}@{provider}"
        people.append((person_address(number), made_up_person(rng, iins, email)))
    return people


def human_pause(rng: random.Random) -> None:
    time.sleep(rng.uniform(1, 3))


def hold_body(person: Person, start: str, proof: str) -> dict[str, Any]:
    return {
        "office": OFFICE,
        "services": [SERVICE],
        "start": start,
        "language": "en",
        "applicant": person.applicant(),
        "details": {},
        "proof_of_work": proof,
    }


# The first words of the proof-of-work refusals' messages (consular/services/proof_of_work.py).
POW_REASONS = {
    "The check that a person is booking has expired": "expired",
    "This check has already been used": "used",
    "Many people are booking right now": "difficulty rose since solved",
    "The check that a person is booking could not": "wrong",
}


def refusal(answer: Answer) -> str:
    """A refusal's reason as the summary counts it: the API's error code and status, with
    the field of a quota or a validation and the kind of a refused proof of work."""
    body = answer.json() if answer.body[:1] == b"{" else {}
    error = body.get("error", "") if isinstance(body, dict) else ""
    if not error:
        return f"HTTP {answer.status}"
    detail = ""
    if error == "validation":
        detail = ", ".join(sorted(body.get("fields", {})))
    elif error == "quota_reached":
        message = str(body.get("message", ""))
        private = message.startswith("Too many active bookings use addresses at")
        detail = "private domain" if private else str(body.get("field", ""))
    elif error == "proof_of_work_invalid":
        message = str(body.get("message", ""))
        detail = next((v for k, v in POW_REASONS.items() if message.startswith(k)), "")
    return f"{error} ({answer.status}{', ' + detail if detail else ''})"


# First come, first served


@dataclass
class Tally:
    """Counters shared by the threads of one side."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    holds: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    other: Counter[str] = field(default_factory=Counter)
    booked: int = 0

    def count(self, counter: Counter[str], reason: str) -> None:
        with self.lock:
            counter[reason] += 1


def first_come(office: Office, server: Server, mailbox: Mailbox, args: argparse.Namespace) -> Any:
    """The bot and the people at once; the summary."""
    seed = args.seed
    bot, people = Tally(), Tally()
    sources = itertools.cycle(bot_addresses())
    numbers = itertools.count(1)
    iins = made_up_iins(seed + 1)
    shared = threading.Lock()
    go = threading.Event()
    deadline = time.monotonic() + 10**6  # set when the day opens
    sold_out = threading.Event()

    def bot_task(task: int) -> None:
        rng = random.Random(seed * 1000 + task)
        go.wait()
        while time.monotonic() < deadline and not sold_out.is_set():
            with shared:
                source, number, iin = next(sources), next(numbers), next(iins)
            person = Person(
                rng.choice(GIVEN_NAMES),
                rng.choice(FAMILY_NAMES),
                iin,
                passport_number(rng),
                bot_email(number, args.subdomains),
                korean_mobile(rng),
            )
            browser = Browser(server.port, source, forge=rng)
            try:
                # Solve first, then look and hold at once: the time is least likely taken.
                proof, why = solve(browser, timeout=deadline - time.monotonic())
                if proof is None:
                    bot.count(bot.other, why)
                    continue
                starts, status = free_starts(browser, office.days)
                if starts is None:
                    bot.count(bot.other, f"availability {status}")
                    continue
                if not starts:
                    sold_out.set()
                    break
                answer = browser.post_json(
                    "/api/v1/appointments", hold_body(person, rng.choice(starts), proof)
                )
                with bot.lock:
                    bot.holds += 1
                if answer.status != 201:
                    bot.count(bot.outcomes, refusal(answer))
                    continue
                bot.count(bot.outcomes, "held (201)")
                reference = answer.json()["reference"]
                code = mailbox.code(person.email, "code")
                if code is None:
                    bot.count(bot.other, "no code in the mailbox")
                    continue
                confirmed = browser.post_json(
                    f"/api/v1/appointments/{reference}/confirm", {"code": code}
                )
                if confirmed.status != 200:
                    bot.count(bot.other, f"confirm {refusal(confirmed)}")
            except (OSError, http.client.HTTPException) as error:
                bot.count(bot.other, f"connection: {type(error).__name__}")
            finally:
                browser.close()

    def person_task(number: int, source: str, person: Person) -> None:
        rng = random.Random(seed * 7919 + number)
        browser = Browser(server.port, source)
        go.wait()
        try:
            starts, status = free_starts(browser, office.days)
            for _attempt in range(5):
                if not starts:
                    return
                human_pause(rng)  # reading the times, choosing one, typing the details
                start = rng.choice(starts[:5])
                proof, _why = solve(browser)  # the widget solves while the review is read
                if proof is None:
                    return
                human_pause(rng)
                answer = browser.post_json("/api/v1/appointments", hold_body(person, start, proof))
                with people.lock:
                    people.holds += 1
                if answer.status == 201:
                    reference = answer.json()["reference"]
                    human_pause(rng)  # opening the mailbox
                    code = mailbox.code(person.email, "code")
                    if code is not None:
                        confirmed = browser.post_json(
                            f"/api/v1/appointments/{reference}/confirm", {"code": code}
                        )
                        if confirmed.status == 200:
                            with people.lock:
                                people.booked += 1
                    return
                people.count(people.outcomes, refusal(answer))
                human_pause(rng)
                starts, status = free_starts(browser, office.days)
        finally:
            browser.close()

    crowd = scripted_people(seed)
    with ThreadPoolExecutor(args.bot_tasks + PEOPLE) as pool:
        futures = [pool.submit(bot_task, n) for n in range(args.bot_tasks)]
        futures += [pool.submit(person_task, n, *entry) for n, entry in enumerate(crowd)]
        started = time.monotonic()
        deadline = started + args.seconds
        go.set()
        for future in futures:
            future.result()
        seconds = time.monotonic() - started
    summary = FirstComeSummary(seats=office.seats, proxy=server.description, seconds=seconds)
    summary.bot_holds_attempted = bot.holds
    summary.bot_outcomes = bot.outcomes
    summary.bot_other_refusals = +bot.other
    summary.people_holds_attempted = people.holds
    summary.bot_booked, summary.people_booked = confirmed_bookings(office.url)
    summary.people_refusals = people.outcomes
    return summary


def confirmed_bookings(url: str) -> tuple[int, int]:
    """Confirmed appointments of the bot and of the people, from the database."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        rows = connection.execute(
            "SELECT email FROM appointment WHERE status = 'confirmed'"
        ).fetchall()
    bot = sum(1 for (email,) in rows if is_bot_email(email))
    return bot, len(rows) - bot


# The lottery


def create_release(office: Office, now: datetime, entry_seconds: int) -> tuple[int, datetime]:
    """A release of the 10 working days, open now, closing and drawn `entry_seconds` on."""
    from bench.build import bench_app
    from consular.extensions import db
    from consular.services import lottery

    closes = now + timedelta(seconds=entry_seconds)
    with bench_app(office.url).app_context():
        release = lottery.create_release(
            db.session,
            None,
            now,
            lottery.ReleaseData(
                office_id=office.office_id,
                service_ids=[office.service_id],
                first_day=office.days[0],
                last_day=office.days[-1],
                opens_at=now - timedelta(minutes=1),
                closes_at=closes,
                draw_at=closes,
                confirm_hours=24,
            ),
        )
        db.session.commit()
        release_id = release.id
        db.session.remove()
        db.engine.dispose()
        return release_id, closes


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Entrant:
    browser: Browser
    person: Person
    is_bot: bool
    reference: str = ""
    csrf: str = ""


def enter(
    entrant: Entrant,
    release_id: int,
    days: list[date],
    mailbox: Mailbox,
    pause: Callable[[], None],
) -> str:
    """Enter the release through its pages and put the entry in the draw; '' or a refusal."""
    browser = entrant.browser
    page = browser.get(f"/lottery/{release_id}/enter")
    token = _CSRF.search(page.text)
    if page.status != 200 or token is None:
        return f"entry page {page.status}"
    entrant.csrf = token.group(1)
    pause()
    rng = random.Random(entrant.person.iin)
    day = rng.choice([""] + [d.isoformat() for d in days])
    fields = {
        "csrf_token": entrant.csrf,
        **entrant.person.applicant(),
        "preference_day_1": day,
        "preference_part_1": rng.choice(["", "morning", "afternoon"]),
        "accept_any": "y",
    }
    answer = browser.post_form(f"/lottery/{release_id}/enter", fields)
    location = answer.headers.get("location", "")
    if answer.status != 302 or "/lottery/entries/" not in location:
        return f"entry refused ({answer.status})"
    entrant.reference = location.rstrip("/").rsplit("/", 1)[-1]
    pause()
    code = mailbox.code(entrant.person.email, "lottery_code")
    if code is None:
        return "no code in the mailbox"
    answer = browser.post_form(
        f"/lottery/entries/{entrant.reference}", {"csrf_token": entrant.csrf, "code": code}
    )
    if answer.status != 302:
        return f"code {answer.status}"
    return ""


def lottery_run(office: Office, server: Server, mailbox: Mailbox, args: argparse.Namespace) -> Any:
    """Everybody enters, the draw runs when entries close, every winner confirms."""
    seed = args.seed
    started = time.monotonic()
    release_id, closes = create_release(office, datetime.now().astimezone(), args.seconds)
    sources = itertools.cycle(bot_addresses())
    numbers = itertools.count(1)
    iins = made_up_iins(seed + 1)
    shared = threading.Lock()
    outcomes: Counter[str] = Counter()
    entrants: list[Entrant] = []
    go = threading.Event()

    def still_open() -> bool:
        return datetime.now().astimezone() < closes - timedelta(seconds=1)

    def bot_task(task: int) -> None:
        rng = random.Random(seed * 1000 + task)
        go.wait()
        while still_open():
            with shared:
                source, number, iin = next(sources), next(numbers), next(iins)
            person = made_up_person(rng, iter([iin]), bot_email(number, args.subdomains))
            entrant = Entrant(Browser(server.port, source, forge=rng), person, is_bot=True)
            try:
                why = enter(entrant, release_id, office.days, mailbox, lambda: None)
            except (OSError, http.client.HTTPException) as error:
                why = f"connection: {type(error).__name__}"
            with shared:
                outcomes[why or "in the draw"] += 1
                if not why:
                    entrants.append(entrant)
            entrant.browser.close()

    def person_task(number: int, source: str, person: Person) -> None:
        rng = random.Random(seed * 7919 + number)
        entrant = Entrant(Browser(server.port, source), person, is_bot=False)
        go.wait()
        why = enter(entrant, release_id, office.days, mailbox, lambda: human_pause(rng))
        if why:
            print(f"person {number} could not enter: {why}")
        else:
            with shared:
                entrants.append(entrant)
        entrant.browser.close()

    crowd = scripted_people(seed)
    with ThreadPoolExecutor(args.bot_tasks + PEOPLE) as pool:
        futures = [pool.submit(bot_task, n) for n in range(args.bot_tasks)]
        futures += [pool.submit(person_task, n, *entry) for n, entry in enumerate(crowd)]
        go.set()
        for future in futures:
            future.result()
    while datetime.now().astimezone() < closes:
        time.sleep(0.2)
    # What cron does every few minutes, once the draw time has passed.
    draw = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "lottery", "draw"],
        cwd=ROOT,
        env=server.environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if draw.returncode != 0:
        raise RuntimeError(f"flask lottery draw failed:\n{draw.stdout}\n{draw.stderr}")
    offered = offered_references(office.url)
    summary = LotterySummary(seats=office.seats, proxy=server.description)
    summary.draw_output = draw.stdout.strip()

    def confirm(entrant: Entrant) -> None:
        if entrant.reference not in offered:
            return
        if not entrant.is_bot:
            human_pause(random.Random(entrant.person.iin))
        try:
            answer = entrant.browser.post_form(
                f"/lottery/entries/{entrant.reference}/confirm", {"csrf_token": entrant.csrf}
            )
            if answer.status != 302 or "/lottery/" in answer.headers.get("location", ""):
                print(f"confirming {entrant.reference}: {answer.status}")
        finally:
            entrant.browser.close()

    with ThreadPoolExecutor(args.bot_tasks + PEOPLE) as pool:
        list(pool.map(confirm, entrants))
    summary.bot_entries = sum(1 for e in entrants if e.is_bot)
    summary.people_entries = sum(1 for e in entrants if not e.is_bot)
    summary.bot_entry_outcomes = outcomes
    summary.bot_offers = sum(1 for e in entrants if e.is_bot and e.reference in offered)
    summary.people_offers = sum(1 for e in entrants if not e.is_bot and e.reference in offered)
    summary.bot_booked, summary.people_booked = confirmed_bookings(office.url)
    summary.seconds = time.monotonic() - started
    return summary


def offered_references(url: str) -> set[str]:
    """The entries the draw offered a seat to."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        rows = connection.execute(
            "SELECT reference FROM lottery_entry WHERE appointment_id IS NOT NULL"
        ).fetchall()
    return {reference for (reference,) in rows}


# The command


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bots", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--mode", choices=("first-come", "lottery"), default="first-come")
    parser.add_argument(
        "--seconds",
        type=int,
        default=None,
        help="how long the bot keeps trying (first come; default 120) or entries stay open "
        "(lottery; default 60)",
    )
    parser.add_argument("--bot-tasks", type=int, default=20, help="the bot's concurrent tasks")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2 to 4)")
    parser.add_argument(
        "--forwarded-for",
        choices=sorted(FORWARDED_FOR),
        default="append",
        help="how nginx sets X-Forwarded-For (README's 'nginx in front' overwrites it)",
    )
    parser.add_argument(
        "--subdomains",
        action="store_true",
        help="the bot writes from a different subdomain of its domain each time "
        "(a wildcard catch-all), not from one domain",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 120 if args.mode == "first-come" else 60

    # Ctrl-C and a terminating signal both unwind through the `finally` blocks below.
    signal.signal(signal.SIGTERM, _interrupt)
    now = datetime.now().astimezone()
    print(f"building {DATABASE} …", flush=True)
    office = build_database(now)
    print(
        f"{office.seats} seats: {WORKING_DAYS} working days from {office.days[0]} to "
        f"{office.days[-1]}, {DESKS} desks, 09:00-12:00 and 14:00-17:00, "
        f"{SLOT_MINUTES}-minute slots",
        flush=True,
    )
    mailbox = Mailbox(office.url)
    try:
        with production_server(office.url, args.workers, args.forwarded_for) as server:
            print(f"server: {server.description}", flush=True)
            print(
                f"the day opens: a bot with {args.bot_tasks} tasks from "
                f"{BOT_NETWORKS * BOT_ADDRESSES_PER_NETWORK} addresses in {BOT_NETWORKS} /24s, "
                f"and {PEOPLE} people",
                flush=True,
            )
            run = first_come if args.mode == "first-come" else lottery_run
            summary = run(office, server, mailbox, args)
    finally:
        mailbox.close()
        if not args.keep:
            drop_database(DATABASE)
    if isinstance(summary, LotterySummary) and summary.draw_output:
        print(summary.draw_output)
    print()
    print(summary.markdown())
    return 0 if summary.passed else 1


if __name__ == "__main__":
    sys.exit(main())
