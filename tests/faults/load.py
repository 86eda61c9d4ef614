"""HTTP for tests against a running server: a small keep-alive client (cookies, a chosen
source address, no retries: a request lost to a fault is recorded as lost), and a load
generator that books through the JSON API v1 from several threads and records every answer.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from tests.conftest import valid_iins
from tests.faults.data import ZONE, Seeded

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def csrf_token(self) -> str:
        """The CSRF token of the page's forms."""
        found = _CSRF.search(self.text)
        assert found, f"no CSRF token in the page ({self.status})"
        return found.group(1)


class Client:
    """One keep-alive connection to 127.0.0.1:port from `source`, with a cookie jar; with
    `keep_alive=False` a connection of its own for every request."""

    def __init__(
        self, port: int, source: str = "127.0.0.1", timeout: float = 30, keep_alive: bool = True
    ) -> None:
        self.port, self.source, self.timeout = port, source, timeout
        self.keep_alive = keep_alive
        self.cookies: dict[str, str] = {}
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send one request; OSError or HTTPException when the connection fails (the next
        request opens a new one)."""
        sent = {"Accept-Language": "en", **(headers or {})}
        if not self.keep_alive:
            sent["Connection"] = "close"
        body: bytes | None = None
        if json_body is not None:
            body, sent["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=self.timeout, source_address=(self.source, 0)
            )
        try:
            self._connection.request(method, path, body=body, headers=sent)
            answer = self._connection.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        for name, value in answer.getheaders():
            if name.lower() == "set-cookie":
                key, _sep, cookie = value.split(";", 1)[0].partition("=")
                self.cookies[key.strip()] = cookie.strip()
        if answer.will_close or not self.keep_alive:
            self.close()
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post_json(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Response:
        return self.request("POST", path, json_body=body, headers=headers)

    def post_form(self, path: str, fields: dict[str, str]) -> Response:
        return self.request("POST", path, form=fields)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None


def applicant(iin: str, number: int) -> dict[str, str]:
    """A made-up applicant with the IIN (the servers run without quotas on identities)."""
    return {
        "given_name": "Aigerim",
        "family_name": "Nurlanova",
        "iin": iin,
        "passport_number": f"N{number:08d}",
        "email": f"applicant{number}@example.com",
        "phone": "010-1234-5678",
    }


def booking_body(seeded: Seeded, start: datetime, iin: str, number: int) -> dict[str, Any]:
    """The JSON API v1 body of a hold of the seeded service at `start`."""
    return {
        "office": seeded.office,
        "services": [seeded.service],
        "start": start.astimezone(ZONE).isoformat(),
        "applicant": applicant(iin, number),
        "language": "en",
        "details": {},
    }


@dataclass(frozen=True)
class Attempt:
    """One hold request and what came back: the status (None: no answer, the connection
    failed) with the JSON body, or the error; monotonic times around it."""

    number: int
    start: datetime
    iin: str
    sent_at: float
    answered_at: float
    status: int | None
    body: Any = None
    error: str = ""

    @property
    def reference(self) -> str | None:
        if self.status == 201 and isinstance(self.body, dict):
            return self.body.get("reference")
        return None


@dataclass
class LoadGenerator:
    """`threads` threads that each hold random start times of `seeded` through
    POST /api/v1/appointments, one request after another, until stop() or `per_thread`
    requests each; every attempt is recorded.

    With `keep_alive` (the default) each thread keeps its connection open, as a browser or
    a proxy does: a server that closes an idle kept-alive connection just as a request is
    sent on it loses that request before reading it, a loss clients live with. Without,
    every request has a connection of its own, so that any request lost was accepted."""

    port: int
    seeded: Seeded
    threads: int = 6
    per_thread: int = 500
    keep_alive: bool = True
    seed: int = 14
    attempts: list[Attempt] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _iins: Iterator[str] = field(default_factory=valid_iins)
    _numbers: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**8)))

    def _person(self) -> tuple[str, int]:
        with self._lock:
            return next(self._iins), next(self._numbers)

    def _run(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        client = Client(self.port, keep_alive=self.keep_alive)
        try:
            for _count in range(self.per_thread):
                if self._stop.is_set():
                    return
                start = rng.choice(self.seeded.starts)
                iin, number = self._person()
                sent = time.monotonic()
                try:
                    answer = client.post_json(
                        "/api/v1/appointments", booking_body(self.seeded, start, iin, number)
                    )
                    attempt = Attempt(
                        number, start, iin, sent, time.monotonic(), answer.status, answer.json()
                    )
                except (OSError, http.client.HTTPException) as error:
                    attempt = Attempt(
                        number, start, iin, sent, time.monotonic(), None, error=repr(error)
                    )
                with self._lock:
                    self.attempts.append(attempt)
        finally:
            client.close()

    def start(self) -> None:
        self._workers = [
            threading.Thread(target=self._run, args=(index,), daemon=True)
            for index in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()

    def stop(self, seconds: float = 60) -> None:
        """Stop sending and wait for the requests in flight."""
        self._stop.set()
        for worker in self._workers:
            worker.join(seconds)
        assert not any(w.is_alive() for w in self._workers), "a load thread is stuck"

    def recorded(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)

    def count(self) -> int:
        with self._lock:
            return len(self.attempts)

    def created(self) -> list[Attempt]:
        """The attempts answered 201."""
        return [a for a in self.recorded() if a.status == 201]

    def statuses(self) -> Counter[int | None]:
        return Counter(a.status for a in self.recorded())

    def wait_for(self, count: int, seconds: float = 60) -> None:
        """Wait until `count` attempts in all have been answered (or lost)."""
        deadline = time.monotonic() + seconds
        while self.count() < count:
            if time.monotonic() > deadline or not any(w.is_alive() for w in self._workers):
                raise AssertionError(
                    f"the load made {self.count()} of {count} requests: {self.statuses()}"
                )
            time.sleep(0.05)


@contextmanager
def rush(
    port: int, seeded: Seeded, threads: int = 6, per_thread: int = 500, keep_alive: bool = True
) -> Iterator[LoadGenerator]:
    """A load generator running for the block (stopped at its end, requests in flight
    answered)."""
    load = LoadGenerator(
        port, seeded, threads=threads, per_thread=per_thread, keep_alive=keep_alive
    )
    load.start()
    try:
        yield load
    finally:
        load.stop()
