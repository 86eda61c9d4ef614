"""A small HTTP/1.1 load generator: keep-alive connections on asyncio streams.

It is made to cost the machine as little as possible per request (the requests' bytes are
ready before they are sent, and a response is read by its Content-Length only), since it
shares the two cores with the server it measures.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RequestBytes = Callable[[], bytes]


def get(path: str, host: str, *, cookie: str = "", headers: dict[str, str] | None = None) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    if cookie:
        extra += f"Cookie: {cookie}\r\n"
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def post_json(path: str, host: str, body: Any) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive connection; reopened when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, request: bytes) -> Answer:
        for attempt in (1, 2):
            if self.writer is None:
                await self._open()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(request)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
                continue
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _sep, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = await self.reader.readexactly(length) if length else b""
            if headers.get("connection", "").lower() == "close":
                await self.close()
            return Answer(status, headers, body)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except ConnectionError:
                pass
        self.reader = self.writer = None


@dataclass
class Run:
    """What one phase of load gave: answers by status, latencies in seconds, its length."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def add(self, other: Run) -> None:
        self.seconds += other.seconds
        self.latencies += other.latencies
        self.failures += other.failures
        for status, number in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + number


async def _hammer(
    host: str, port: int, make: RequestBytes, connections: int, seconds: float, expect: int
) -> Run:
    run = Run()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        connection = Connection(host, port)
        try:
            while time.perf_counter() < deadline:
                request = make()
                started = time.perf_counter()
                try:
                    answer = await connection.send(request)
                except (ConnectionError, asyncio.IncompleteReadError, OSError):
                    run.failures += 1
                    await asyncio.sleep(0.01)
                    continue
                run.latencies.append(time.perf_counter() - started)
                run.statuses[answer.status] = run.statuses.get(answer.status, 0) + 1
                if answer.status != expect:
                    run.failures += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    run.seconds = time.perf_counter() - started
    return run


def hammer(
    host: str,
    port: int,
    make: RequestBytes,
    *,
    connections: int,
    seconds: float,
    expect: int = 200,
) -> Run:
    """Send requests made by `make` on `connections` connections for `seconds`."""
    return asyncio.run(_hammer(host, port, make, connections, seconds, expect))


def interleaved(
    host: str,
    port: int,
    trivial: RequestBytes,
    route: RequestBytes,
    *,
    connections: int,
    seconds: float,
    rounds: int,
    expect: int = 200,
) -> tuple[Run, Run]:
    """The route and the trivial route in alternate phases, so that both see the same
    machine; returns (trivial, route) summed over the rounds."""
    trivial_total, route_total = Run(), Run()
    for _ in range(rounds):
        trivial_total.add(hammer(host, port, trivial, connections=connections, seconds=seconds))
        route_total.add(
            hammer(host, port, route, connections=connections, seconds=seconds, expect=expect)
        )
    return trivial_total, route_total
