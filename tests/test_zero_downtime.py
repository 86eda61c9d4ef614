"""A deploy under traffic fails no request, and afterwards every answer comes from new
workers running the new code (issue 14; README, "Deploying a new version").

gunicorn runs as systemd runs it: consular-web.service's ExecStart (the repository's
gunicorn.conf.py; only paths changed), on a Unix socket that the test holds open and hands to
each master in LISTEN_FDS, as systemd does with consular-web.socket. It serves a copy of the
code, which the test changes as a deploy does, on PostgreSQL, with rate limits in Redis.
Client threads ask, without pause, for pages that read the database and for /__ping, each
request on a new connection, as nginx's would be after an idle keep-alive connection is
closed. A probe route added to the copy's app.py answers with its worker's pid and a mark in
the package's own `consular/__init__.py`, which the master imports too (gunicorn.conf.py's
access logger): a reload that kept the old package would answer with the old mark.

Two deploys: `systemctl reload consular-web` (HUP to the master), and `systemctl restart
consular-web` (TERM, then a new master on the same socket).
"""

from __future__ import annotations

import http.client
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench import server
from consular import create_app
from consular.extensions import db
from consular.models import now_utc
from tests.test_behind_nginx import postgres_schema, require_redis

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# Rate-limit counters and the availability cache of this module's servers.
REDIS_URL = "redis://127.0.0.1:6379/11"
PAGES = (
    "/__ping",
    "/book/seoul",
    "/book/seoul/time?services=passport-renewal",
    "/api/v1/offices/seoul/availability?services=passport-renewal",
)
PROBE = "/__deployed"
UNIT = ROOT / "deploy" / "systemd" / "consular-web.service"
PROBE_ROUTE = """

import os as _os

import consular as _consular


@app.get("/__deployed")
def _deployed() -> str:
    return f"{_os.getpid()} {_consular.DEPLOYED}"
"""
# Runs the command after it as systemd runs a socket unit's service: the socket as descriptor
# 3, LISTEN_FDS saying how many, LISTEN_PID naming the process they are meant for.
SOCKET_ACTIVATED = """
import os, sys
inherited = int(os.environ.pop("SOCKET_FD"))
os.dup2(inherited, 3)
if inherited != 3:
    os.close(inherited)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], sys.argv[1:])
"""
CLIENTS = 4
# Every wait below is a bound for a stuck server, not a measure of speed.
BOUND = 30.0


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A PostgreSQL database with the schema and the demo offices, services and slots."""
    require_redis(REDIS_URL)
    with postgres_schema() as url:
        from consular.demo import seed

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "seed", "TESTING": True})
        with app.app_context():
            seed(db.session, now_utc(), 30, history_days=0)
            db.session.commit()
            db.engine.dispose()
        yield url


@dataclass
class Release:
    """A copy of the code being served, which a deploy changes in place."""

    folder: Path

    @classmethod
    def make(cls, folder: Path) -> Release:
        folder.mkdir()
        shutil.copytree(
            ROOT / "consular", folder / "consular", ignore=shutil.ignore_patterns("__pycache__")
        )
        for shared in ("templates", "static", "migrations"):
            (folder / shared).symlink_to(ROOT / shared)
        shutil.copy(ROOT / "gunicorn.conf.py", folder / "gunicorn.conf.py")
        app_py = (ROOT / "app.py").read_text(encoding="utf-8")
        (folder / "app.py").write_text(app_py + PROBE_ROUTE, encoding="utf-8")
        release = cls(folder)
        release.mark("v1")
        return release

    def mark(self, version: str) -> None:
        """Write the version into the package, as new code on disk."""
        package = self.folder / "consular" / "__init__.py"
        text = (ROOT / "consular" / "__init__.py").read_text(encoding="utf-8")
        package.write_text(f"{text}\nDEPLOYED = {version!r}\n", encoding="utf-8")


class UnixConnection(http.client.HTTPConnection):
    """HTTP over gunicorn's Unix socket, as nginx speaks to it."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.socket_path))


def ask(path: Path, url: str, timeout: float = BOUND) -> tuple[int, str]:
    """One request on a new connection: the status and the body."""
    connection = UnixConnection(path, timeout)
    try:
        connection.request("GET", url, headers={"Host": "consular.example.kz"})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


@dataclass(frozen=True)
class Answer:
    sent_at: float
    answered_at: float
    url: str
    status: int
    body: str


@dataclass
class Traffic:
    """Client threads asking for every page, and the probe, until stopped."""

    socket_path: Path
    log: Path
    answers: list[Answer] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        while not self.stop.is_set():
            for url in (*PAGES, PROBE):
                sent_at = time.monotonic()
                try:
                    status, body = ask(self.socket_path, url)
                except Exception as error:  # noqa: BLE001 - every failure is the test's finding
                    with self.lock:
                        self.failures.append((url, repr(error)))
                    continue
                with self.lock:
                    self.answers.append(Answer(sent_at, time.monotonic(), url, status, body))

    def probes(self, since: float = 0.0) -> list[tuple[float, int, str]]:
        """(when, pid, mark) of every probe answered since the moment."""
        with self.lock:
            found = [
                a
                for a in self.answers
                if a.url == PROBE and a.status == 200 and a.answered_at >= since
            ]
        return [(a.answered_at, int(a.body.split()[0]), a.body.split()[1]) for a in found]

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + BOUND
        while not condition():
            assert time.monotonic() < deadline, f"not within {BOUND} s: {what}\n{self.report()}"
            time.sleep(0.05)

    def report(self) -> str:
        """What a failed check shows: the answers' statuses, the failures, gunicorn's log."""
        with self.lock:
            statuses = Counter((a.url, a.status) for a in self.answers)
            failures = self.failures[:5]
        log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return f"answers: {dict(statuses)}\nfailures: {failures}\ngunicorn's log:\n{log}"


def environment(database_url: str) -> dict[str, str]:
    return server.production_environment(database_url, REDIS_URL) | {
        # gunicorn must take the socket it is given, never bind one of its own.
        "GUNICORN_BIND": "unix:/nonexistent/never-bound.sock",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "4",
        "GUNICORN_ACCESS_LOG": "",
        # The code changes on disk within a second: no bytecode that could outlive it.
        "PYTHONDONTWRITEBYTECODE": "1",
        "AVAILABILITY_RATE_LIMIT": "1000000 per minute",
        "AVAILABILITY_NETWORK_RATE_LIMIT": "1000000 per minute",
    }


def unit_command(release: Release, runtime: Path) -> list[str]:
    """consular-web.service's ExecStart, with this machine's paths (each must be there: a
    change of the unit that this test no longer follows fails here)."""
    text = UNIT.read_text(encoding="utf-8").replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    command = line.removeprefix("ExecStart=")
    replacements = {
        "/srv/consular/.venv/bin/": f"{Path(sys.executable).parent}/",
        "/srv/consular/": f"{release.folder}/",
        "/run/consular-web/": f"{runtime}/",
    }
    for shipped, here in replacements.items():
        assert shipped in command, f"consular-web.service's ExecStart has no {shipped!r}"
        command = command.replace(shipped, here)
    return shlex.split(command)


def gunicorn(
    release: Release, env: dict[str, str], log: Path, listening: socket.socket
) -> subprocess.Popen[bytes]:
    """Start a master on the release as systemd starts consular-web.service: its ExecStart in
    its WorkingDirectory, with the socket of consular-web.socket."""
    command = [sys.executable, "-c", SOCKET_ACTIVATED, *unit_command(release, log.parent)]
    env = env | {"LISTEN_FDS": "1", "SOCKET_FD": str(listening.fileno())}
    with open(log, "ab") as output:
        return subprocess.Popen(
            command,
            cwd=release.folder,
            env=env,
            stdout=output,
            stderr=output,
            pass_fds=(listening.fileno(),),
        )


@contextmanager
def socket_unit(path: Path) -> Iterator[socket.socket]:
    """A listening Unix socket, held open as systemd holds consular-web.socket's."""
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listening.bind(str(path))
        listening.listen(socket.SOMAXCONN)
        yield listening
    finally:
        listening.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=BOUND)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def deploy_under_traffic(traffic: Traffic, release: Release, deploy: Callable[[], None]) -> None:
    """Serve traffic, deploy v2, serve it again; check that nothing failed and that only new
    workers with the new code answer after it."""
    threads = [threading.Thread(target=traffic.run, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        traffic.wait_for(lambda: len(traffic.probes()) >= 2 * CLIENTS, "answers before the deploy")
        before = {pid for _, pid, _ in traffic.probes()}
        assert {mark for *_, mark in traffic.probes()} == {"v1"}
        release.mark("v2")
        deployed_at = time.monotonic()
        deploy()
        traffic.wait_for(
            lambda: not any(map(is_running, before)), "the old workers to finish and exit"
        )
        gone_at = time.monotonic()
        traffic.wait_for(
            lambda: len(traffic.probes(gone_at)) >= 2 * CLIENTS, "answers after the deploy"
        )
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(BOUND)
    # The figures of the run, for `pytest -rP` (issue 14 had 58 of 489 refused).
    print(f"deploy under traffic: {len(traffic.answers)} answered, {len(traffic.failures)} failed")
    assert not traffic.failures, traffic.report()
    statuses = {(answer.url, answer.status) for answer in traffic.answers}
    assert statuses == {(url, 200) for url in (*PAGES, PROBE)}, traffic.report()
    # After it, no answer from an old worker or with the old code.
    after = traffic.probes(gone_at)
    assert {mark for *_, mark in after} == {"v2"}, traffic.report()
    assert not {pid for _, pid, _ in after} & before
    # Requests were made while the deploy went on: after it began, before the new code's
    # first answer (answered by old workers finishing, or waiting in the socket's queue).
    first_new = min(when for when, _, mark in traffic.probes(deployed_at) if mark == "v2")
    assert any(deployed_at < a.sent_at < first_new for a in traffic.answers)


def test_a_reload_under_traffic_fails_no_request(database_url: str, tmp_path: Path) -> None:
    """`systemctl reload consular-web`: HUP to the master (the unit's ExecReload)."""
    release = Release.make(tmp_path / "release")
    socket_path, log = tmp_path / "gunicorn.sock", tmp_path / "gunicorn.log"
    server.redis_flush(REDIS_URL)
    with socket_unit(socket_path) as listening:
        master = gunicorn(release, environment(database_url), log, listening)
        try:
            traffic = Traffic(socket_path, log)
            traffic.wait_for(lambda: answers(socket_path), "gunicorn")
            deploy_under_traffic(traffic, release, lambda: master.send_signal(signal.SIGHUP))
            assert master.poll() is None
        finally:
            stop(master)
            server.redis_flush(REDIS_URL)


def test_a_full_restart_under_socket_activation_fails_no_request(
    database_url: str, tmp_path: Path
) -> None:
    """`systemctl restart consular-web`: the socket outlives the master, so connections wait
    in its queue while the new one starts."""
    release = Release.make(tmp_path / "release")
    socket_path, log = tmp_path / "gunicorn.sock", tmp_path / "gunicorn.log"
    server.redis_flush(REDIS_URL)
    with socket_unit(socket_path) as listening:
        masters = [gunicorn(release, environment(database_url), log, listening)]

        def restart() -> None:
            stop(masters[0])
            masters.append(gunicorn(release, environment(database_url), log, listening))

        try:
            traffic = Traffic(socket_path, log)
            traffic.wait_for(lambda: answers(socket_path), "gunicorn")
            deploy_under_traffic(traffic, release, restart)
            assert masters[0].returncode == 0 and masters[-1].poll() is None
        finally:
            for master in masters:
                stop(master)
            server.redis_flush(REDIS_URL)


def answers(socket_path: Path) -> bool:
    try:
        return ask(socket_path, "/__ping", timeout=1)[0] == 200
    except (OSError, http.client.HTTPException):
        return False
