"""Staff sign-in under attack (issue 13, finding 5), on gunicorn as production runs it.

The review found that 60 failed sign-ins within the limits raised `/api/v1/offices` from
10 ms to 1.3 s (argon2 on every try, with nothing bounding it), that 5 wrong passwords from
anywhere locked the real user out for 15 minutes, and that a deactivated account answered in
50 ms where another took 800 ms. This run repeats those measurements:

1. `/api/v1/offices` and the trivial `/__ping`, alone: the baseline.
2. The same while 60 sign-ins fail as fast as 20 attackers can send them, from 20 addresses
   (forged in `X-Forwarded-For`, which gunicorn trusts from loopback here, as it trusts
   nginx): once against one account, once sprayed over 60 unknown e-mail addresses (each a
   full password verification).
3. The real user then signs in from their own address, with the right password.
4. The answer times of a wrong password, an unknown e-mail and a deactivated account.

    python -m bench.sign_in            # prints a Markdown report; needs PostgreSQL and Redis

The database `consular_sign_in` is dropped and made again each run.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import server as serving
from bench.bots import fill_database
from bench.build import ADMIN_URL, bench_app, drop_database, sqlalchemy_url

DATABASE = "consular_sign_in"
REDIS_URL = "redis://127.0.0.1:6379/12"
PASSWORD = "quiet lantern orbit meadow"
REAL_USER = "clerk@bench.example"
RETIRED = "retired@bench.example"
ATTACKERS = 20
FAILED_SIGN_INS = 60
PROBES = 60
_TOKEN = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def build(now: datetime) -> str:
    """A fresh database: the bench office, an active clerk and a deactivated one."""
    from consular.extensions import db
    from consular.models import Role, User
    from consular.services.passwords import hash_password

    drop_database(DATABASE)
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    url = sqlalchemy_url(DATABASE)
    fill_database(url, now)
    with bench_app(url).app_context():
        for email, active in ((REAL_USER, True), (RETIRED, False)):
            db.session.add(
                User(
                    email=email,
                    name="Bench Clerk",
                    role=Role.CLERK,
                    password_hash=hash_password(PASSWORD),
                    active=active,
                )
            )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return url


class Browser:
    """One client: its cookies, and the address it claims through X-Forwarded-For."""

    def __init__(self, port: int, address: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.address = address
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _NoRedirect(),
        )

    def get(self, path: str) -> tuple[int, str, float]:
        return self._open(urllib.request.Request(self.base + path))

    def sign_in(self, email: str, password: str) -> tuple[int, float]:
        """Open the form (for its CSRF token) and send it; the status and the POST's time."""
        _status, page, _took = self.get("/staff/sign-in")
        found = _TOKEN.search(page)
        token = (found.group(1) or found.group(2)) if found else ""
        body = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": password})
        request = urllib.request.Request(
            self.base + "/staff/sign-in",
            data=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        status, _text, took = self._open(request)
        return status, took

    def _open(self, request: urllib.request.Request) -> tuple[int, str, float]:
        request.add_header("X-Forwarded-For", self.address)
        request.add_header("Accept-Language", "en")
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=60) as response:
                text = response.read().decode(errors="replace")
                return response.status, text, time.perf_counter() - started
        except urllib.error.HTTPError as error:
            with error:
                text = error.read().decode(errors="replace")
            return error.code, text, time.perf_counter() - started


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def _ms(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def probe(port: int, path: str, count: int, stop: threading.Event | None = None) -> list[float]:
    """Answer times of `path` from a bystander, one request after another."""
    bystander = Browser(port, "198.51.100.7")
    times = []
    for _ in range(count):
        if stop is not None and stop.is_set():
            break
        status, _text, took = bystander.get(path)
        assert status == 200, (path, status)
        times.append(took)
    return times


def attack(port: int, emails: list[str]) -> tuple[list[float], Counter[int], float]:
    """The probe's times while the failed sign-ins run; their statuses; how long they took."""
    stop = threading.Event()
    times: list[float] = []
    prober = threading.Thread(
        target=lambda: times.extend(probe(port, "/api/v1/offices", 10_000, stop))
    )
    prober.start()
    statuses: Counter[int] = Counter()

    def one(index: int) -> int:
        attacker = Browser(port, f"203.0.113.{index % ATTACKERS + 1}")
        return attacker.sign_in(emails[index], "not the password at all")[0]

    started = time.perf_counter()
    with ThreadPoolExecutor(ATTACKERS) as pool:
        statuses.update(pool.map(one, range(len(emails))))
    took = time.perf_counter() - started
    stop.set()
    prober.join()
    return times, statuses, took


def run(workers: int) -> str:
    now = datetime.now(UTC)
    url = build(now)
    serving.redis_flush(REDIS_URL)
    port = serving.free_port()
    environment = serving.production_environment(url, REDIS_URL) | {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_ACCESS_LOG": "",
        "PROXY_COUNT": "1",
        # The run speaks plain HTTP to gunicorn: a Secure session cookie would never come
        # back, and every sign-in would fail its CSRF check (400) before the password.
        "SESSION_COOKIE_SECURE": "0",
    }
    lines = [
        "# Staff sign-in under attack",
        "",
        f"gunicorn ({workers} gthread workers × 4), PostgreSQL, Redis; production argon2; "
        f"{FAILED_SIGN_INS} failed sign-ins from {ATTACKERS} addresses; "
        f"`/api/v1/offices` probed by a bystander meanwhile.",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="consular-sign-in-") as folder:
        with serving.serve(Path(folder), environment, lambda: serving.ping(port)):
            ping = probe(port, "/__ping", PROBES)
            quiet = probe(port, "/api/v1/offices", PROBES)
            lines += [
                "| Phase | `/api/v1/offices` median | p95 | `/__ping` median |",
                "|---|---|---|---|",
                f"| alone | {_ms(quiet, 0.5):.1f} ms | {_ms(quiet, 0.95):.1f} ms | "
                f"{_ms(ping, 0.5):.1f} ms |",
            ]
            reports = []
            for name, emails in (
                ("one account", [REAL_USER] * FAILED_SIGN_INS),
                ("sprayed", [f"nobody{i}@bench.example" for i in range(FAILED_SIGN_INS)]),
            ):
                serving.redis_flush(REDIS_URL)
                busy, statuses, took = attack(port, emails)
                lines.append(
                    f"| during 60 failures, {name} | {_ms(busy, 0.5):.1f} ms | "
                    f"{_ms(busy, 0.95):.1f} ms | |"
                )
                answers = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
                reports.append(f"- {name}: answers {answers}; all 60 in {took:.1f} s")
            lines += ["", "Failed sign-ins (422 wrong, 429 wait or limit, 503 hashing busy):"]
            lines += reports
            status, _took = Browser(port, "192.0.2.10").sign_in(REAL_USER, PASSWORD)
            lines += [
                "",
                f"The real user, right after, from their own address: {status} "
                f"({'signed in' if status == 302 else 'NOT signed in'}).",
                "",
            ]
            serving.redis_flush(REDIS_URL)
            timing = {}
            for label, email in (
                ("wrong password", REAL_USER),
                ("unknown e-mail", "nobody@bench.example"),
                ("deactivated account", RETIRED),
            ):
                times = [
                    Browser(port, f"192.0.2.{100 + i}").sign_in(email, "wrong password here")[1]
                    for i in range(10)
                ]
                timing[label] = statistics.median(times) * 1000
            lines.append(
                "Answer time of a failed sign-in (median of 10, each from a new address): "
                + ", ".join(f"{label} {ms:.0f} ms" for label, ms in timing.items())
                + "."
            )
    drop_database(DATABASE)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    args = parser.parse_args(argv)
    print(run(args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
