"""The processes of a production host, started by tests: migrations (`flask db upgrade`),
gunicorn with the repository's gunicorn.conf.py (bench/server.py's `serve`) and the mail
worker (`flask mail send --loop`), each with its output in a log file of the test's folder.

Every process is stopped when its block ends, whatever happened; a test that kills one on
purpose leaves the rest of the clean-up to the block.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from bench import server
from tests.faults.cluster import child_pids
from tests.smtp import MailboxHandler, SMTPServer

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).parent / "flask")
# Room for a rush from the test's own address: no proof of work, no quotas on identities,
# rate limits far above what the load generator sends. Everything else is production's.
RELAXED = {
    "POW_ENABLED": "0",
    "QUOTA_PER_IIN": "0",
    "QUOTA_PER_EMAIL": "0",
    "QUOTA_PER_PHONE": "0",
    "QUOTA_PER_PRIVATE_DOMAIN": "0",
    "BOOKING_RATE_LIMIT": "100000 per minute",
    "BOOKING_NETWORK_RATE_LIMIT": "100000 per minute",
    "AVAILABILITY_RATE_LIMIT": "100000 per minute",
    "AVAILABILITY_NETWORK_RATE_LIMIT": "100000 per minute",
    "GUNICORN_ACCESS_LOG": "",
    # The mail worker's lines reach its log as they are written.
    "PYTHONUNBUFFERED": "1",
}
_SENT = re.compile(r"^(\d+) sent, ", re.M)


def host_environment(
    database_url: str, redis_url: str = "memory://", **settings: str
) -> dict[str, str]:
    """A production host's environment (bench/server.py) with the rush relaxed (RELAXED) and
    the given settings on top."""
    return server.production_environment(database_url, redis_url) | RELAXED | settings


def answers_ping(port: int) -> bool:
    """Whether the app answers /__ping on the port (the connection closed either way, unlike
    bench/server.py's `ping`, which pytest's warnings-as-errors would fail on)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/__ping")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll the condition until it holds; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.1)


def migrate(environment: dict[str, str]) -> None:
    """Bring the environment's database to the schema's head, as a deployment does."""
    result = subprocess.run(
        [FLASK, "db", "upgrade"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{result.stdout}\n{result.stderr}")


@dataclass
class Gunicorn:
    """A running gunicorn master on 127.0.0.1:port and what a test may do to it."""

    folder: Path
    port: int
    workers: int

    @property
    def log(self) -> Path:
        return self.folder / "gunicorn.log"

    @property
    def pid_file(self) -> Path:
        return self.folder / "gunicorn.pid"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def master_pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def worker_pids(self) -> list[int]:
        """The master's workers now (including any still starting or shutting down)."""
        return child_pids(self.master_pid())

    def answers(self) -> bool:
        return answers_ping(self.port)

    def kill_worker(self, pid: int) -> None:
        """SIGKILL one worker mid-request; the master notices and starts another."""
        assert pid in self.worker_pids(), f"{pid} is not a worker of this gunicorn"
        os.kill(pid, signal.SIGKILL)

    def reload(self) -> None:
        """SIGHUP: the master reads its configuration, starts new workers and stops the old
        ones gracefully (what `systemctl reload` does)."""
        os.kill(self.master_pid(), signal.SIGHUP)

    def wait_for_workers(self, seconds: float = 60, replacing: list[int] | None = None) -> None:
        """Wait until the master has its number of workers again, none of them in
        `replacing`, and answers."""

        def settled() -> bool:
            current = self.worker_pids()
            fresh = [pid for pid in current if pid not in (replacing or [])]
            return len(current) == self.workers == len(fresh) and self.answers()

        wait_until(settled, seconds, f"gunicorn's {self.workers} workers")


@contextmanager
def gunicorn(folder: Path, environment: dict[str, str], workers: int = 4) -> Iterator[Gunicorn]:
    """gunicorn (gunicorn.conf.py, `workers` gthread workers) on a spare port of 127.0.0.1
    with the environment, until the block ends; its master's pid in folder/gunicorn.pid."""
    folder.mkdir(parents=True, exist_ok=True)
    port = server.free_port()
    running = Gunicorn(folder, port, workers)
    settings = environment | {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        # Read by gunicorn after gunicorn.conf.py: where the master writes its pid.
        "GUNICORN_CMD_ARGS": f"--pid {running.pid_file}",
    }
    with server.serve(folder, settings, running.answers):
        yield running


@dataclass
class MailWorker:
    """A `flask mail send --loop` process and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def sent(self) -> int:
        """How many messages this worker says it delivered (its "N sent, …" lines)."""
        return sum(int(found) for found in _SENT.findall(self.log_text()))

    def signal(self, number: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(number)

    def stop(self, seconds: float = 30) -> int:
        """SIGTERM, then SIGKILL if it does not end; its exit status."""
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextmanager
def mail_worker(
    folder: Path, environment: dict[str, str], name: str = "mail", interval: float = 0.2
) -> Iterator[MailWorker]:
    """`flask mail send --loop` with the environment (its MAIL_SMTP_* naming the server),
    output in folder/<name>.log, stopped when the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [FLASK, "mail", "send", "--loop", "--interval", str(interval)],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    worker = MailWorker(process, log)
    try:
        yield worker
    finally:
        worker.stop()


def smtp_environment(host: str, port: int) -> dict[str, str]:
    """The MAIL_* settings that deliver to a test SMTP server (tests/smtp.py)."""
    return {
        "MAIL_SMTP_HOST": host,
        "MAIL_SMTP_PORT": str(port),
        "MAIL_SMTP_TLS": "none",
        "MAIL_SMTP_USER": "",
        "MAIL_SMTP_PASSWORD": "",
        "MAIL_SMTP_TIMEOUT": "5",
        "MAIL_DEV_MAILBOX": "0",
    }


class SlowMailbox(MailboxHandler):
    """A mailbox that takes `delay` seconds to accept each message, as a real relay may: a
    worker is still busy with one when another worker looks for the next."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def slow_smtp_server(delay: float) -> Iterator[SMTPServer]:
    """A loopback SMTP server (tests/smtp.py) that takes `delay` seconds per message."""
    smtp = SMTPServer()
    smtp.handler = SlowMailbox(delay)
    smtp.start()
    try:
        yield smtp
    finally:
        smtp.stop()
