"""A deploy under traffic fails no request, and afterwards every answer comes from new
workers running the new code (issue 14; README, "Deploying a new version").

gunicorn runs from the repository's gunicorn.conf.py on PostgreSQL, with rate limits in Redis,
in a copy of the code (so that the test can change it as a deploy does), on a Unix socket as
behind nginx. Client threads ask, without pause, for pages that read the database and for
/__ping, each request on a new connection, as nginx's would be after an idle keep-alive
connection is closed. A probe route added to the copy's app.py answers with its worker's pid
and a mark that the package's own `consular/__init__.py` carries, one that the master
imports (gunicorn.conf.py's access logger): a reload that kept the old package would answer
with the old mark.

Two deploys: `systemctl reload consular-web` (HUP to the master), and a full restart (TERM,
then a new master) under socket activation, as consular-web.socket gives it: the test holds
the listening socket, as systemd does, and hands it to each master in LISTEN_FDS.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
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


@dataclass
class Traffic:
    """Client threads asking for every page, and the probe, until stopped."""

    socket_path: Path
    answers: list[tuple[float, str, int, str]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        while not self.stop.is_set():
            for url in (*PAGES, PROBE):
                try:
                    status, body = ask(self.socket_path, url)
                except (OSError, http.client.HTTPException) as error:
                    with self.lock:
                        self.failures.append((url, repr(error)))
                    continue
                with self.lock:
                    self.answers.append((time.monotonic(), url, status, body))

    def probes(self, since: float = 0.0) -> list[tuple[int, str]]:
        """The (pid, mark) of every probe answered since the moment."""
        with self.lock:
            bodies = [
                b for t, url, s, b in self.answers if url == PROBE and s == 200 and t >= since
            ]
        return [(int(pid), mark) for pid, mark in (body.split() for body in bodies)]

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + BOUND
        while not condition():
            assert time.monotonic() < deadline, f"not within {BOUND} s: {what}"
            time.sleep(0.05)


def environment(database_url: str, folder: Path, bind: str) -> dict[str, str]:
    return server.production_environment(database_url, REDIS_URL) | {
        "GUNICORN_BIND": bind,
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "4",
        "GUNICORN_ACCESS_LOG": "",
        # gunicorn's control socket, one per test (by default in the user's home).
        "XDG_RUNTIME_DIR": str(folder),
        # The code changes on disk within a second: no bytecode that could outlive it.
        "PYTHONDONTWRITEBYTECODE": "1",
        "AVAILABILITY_RATE_LIMIT": "1000000 per minute",
        "AVAILABILITY_NETWORK_RATE_LIMIT": "1000000 per minute",
    }


def gunicorn(
    release: Release, env: dict[str, str], log: Path, activated_by: socket.socket | None = None
) -> subprocess.Popen[bytes]:
    """Start a master on the release; with a listening socket, as its socket unit's service."""
    command = [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", "app:app"]
    inherited: tuple[int, ...] = ()
    if activated_by is not None:
        inherited = (activated_by.fileno(),)
        command = [sys.executable, "-c", SOCKET_ACTIVATED, *command]
        env = env | {"LISTEN_FDS": "1", "SOCKET_FD": str(activated_by.fileno())}
    with open(log, "ab") as output:
        return subprocess.Popen(
            command, cwd=release.folder, env=env, stdout=output, stderr=output, pass_fds=inherited
        )


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


def deploy_under_traffic(
    traffic: Traffic, release: Release, deploy: Callable[[], None], log: Path
) -> None:
    """Serve traffic, deploy v2, serve it again; check that nothing failed and that only new
    workers with the new code answer after it."""
    threads = [threading.Thread(target=traffic.run, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        traffic.wait_for(lambda: len(traffic.probes()) >= 2 * CLIENTS, "answers before the deploy")
        before = {pid for pid, mark in traffic.probes()}
        assert {mark for _, mark in traffic.probes()} == {"v1"}
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
    assert not traffic.failures, (traffic.failures[:5], log.read_text(errors="replace")[-3000:])
    statuses = {(url, status) for _, url, status, _ in traffic.answers}
    assert statuses == {(url, 200) for url in (*PAGES, PROBE)}, statuses
    # Requests were answered while the deploy went on, and after it none by an old worker
    # or with the old code.
    assert any(deployed_at <= moment <= gone_at for moment, *_ in traffic.answers)
    after = traffic.probes(gone_at)
    assert {mark for _, mark in after} == {"v2"}
    assert not {pid for pid, _ in after} & before


def test_a_reload_under_traffic_fails_no_request(database_url: str, tmp_path: Path) -> None:
    """`systemctl reload consular-web`: HUP to the master."""
    release = Release.make(tmp_path / "release")
    socket_path = tmp_path / "gunicorn.sock"
    log = tmp_path / "gunicorn.log"
    server.redis_flush(REDIS_URL)
    master = gunicorn(release, environment(database_url, tmp_path, f"unix:{socket_path}"), log)
    try:
        traffic = Traffic(socket_path)
        traffic.wait_for(lambda: socket_path.exists() and answers(socket_path), "gunicorn")
        deploy_under_traffic(traffic, release, lambda: master.send_signal(signal.SIGHUP), log)
        assert master.poll() is None
    finally:
        stop(master)
        server.redis_flush(REDIS_URL)


def test_a_full_restart_under_socket_activation_fails_no_request(
    database_url: str, tmp_path: Path
) -> None:
    """`systemctl restart consular-web` with consular-web.socket: the socket outlives the
    master, so connections wait in its queue while the new one starts."""
    release = Release.make(tmp_path / "release")
    socket_path = tmp_path / "gunicorn.sock"
    log = tmp_path / "gunicorn.log"
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(str(socket_path))
    listening.listen(socket.SOMAXCONN)
    # gunicorn must take the socket it is given, never bind one of its own.
    env = environment(database_url, tmp_path, "unix:/nonexistent/never-bound.sock")
    server.redis_flush(REDIS_URL)
    masters = [gunicorn(release, env, log, listening)]

    def restart() -> None:
        stop(masters[0])
        masters.append(gunicorn(release, env, log, listening))

    try:
        traffic = Traffic(socket_path)
        traffic.wait_for(lambda: answers(socket_path), "gunicorn")
        deploy_under_traffic(traffic, release, restart, log)
        assert masters[0].returncode == 0 and masters[-1].poll() is None
    finally:
        for master in masters:
            stop(master)
        listening.close()
        server.redis_flush(REDIS_URL)


def answers(socket_path: Path) -> bool:
    try:
        return ask(socket_path, "/__ping", timeout=1)[0] == 200
    except (OSError, http.client.HTTPException):
        return False
