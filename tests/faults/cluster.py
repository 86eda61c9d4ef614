"""A private PostgreSQL cluster for fault tests: made by `initdb` in a temporary folder, on a
spare port of 127.0.0.1, so that a test may stop, kill and restart it without touching the
shared server on 5432.

`initdb` and the server refuse to run as root: as root they run as the `postgres` system
user (`runuser -u postgres --`) in a folder that user owns; otherwise as the current user.
fsync stays on (the default), so a kill -9 loses exactly what PostgreSQL would lose in
production: nothing that was committed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from bench.server import free_port

DATABASE = "consular"
SYSTEM_USER = "postgres"


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb, pg_ctl and postgres."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        folder = Path(candidate)
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing_binaries() -> str | None:
    """Why a private cluster can't be made here, or None."""
    if find_bin_dir() is None:
        return "PostgreSQL's server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root and there is no {SYSTEM_USER!r} user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is not installed"
    return None


class PostgresCluster:
    """One cluster: `start()`, `stop()`, `restart()`, `kill9()`, `url()`.

    The folder holds `data/` (the cluster), `socket/` (its Unix socket) and `server.log`.
    """

    def __init__(self, folder: Path, bin_dir: Path, port: int | None = None) -> None:
        self.folder = folder
        self.bin_dir = bin_dir
        self.port = port or free_port()
        self.data = folder / "data"
        self.socket_dir = folder / "socket"
        self.log = folder / "server.log"
        # Backends left behind by kill9(): they exit when they notice the postmaster is gone;
        # start() waits for them (the new postmaster refuses to share their memory).
        self._orphans: list[int] = []

    # Running the binaries as the right user

    def _command(self, name: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / name), *args]
        if os.geteuid() == 0:
            return ["runuser", "-u", SYSTEM_USER, "--", *command]
        return command

    def _run(self, name: str, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            self._command(name, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{name} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{self.server_log()[-3000:]}"
            )

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # Life cycle

    def init(self) -> None:
        """Make the cluster (trust authentication, superuser `postgres`)."""
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            account = pwd.getpwnam(SYSTEM_USER)
            for path in (self.folder, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._wait_for_orphans()
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=on -c max_connections=100"
        )
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
            "-t", "60",
        )  # fmt: skip

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server: `fast` rolls back open transactions and checkpoints, `immediate`
        quits at once (crash recovery at the next start)."""
        if self.postmaster_pid() is None:
            return
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def restart(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop (in the given mode) and start again on the same port."""
        self.stop(mode)
        self.start()

    def kill9(self) -> None:
        """SIGKILL the postmaster, as an OOM killer or a power cut would end it; the next
        start() recovers from the write-ahead log."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        self._orphans = child_pids(pid)
        os.kill(pid, signal.SIGKILL)
        # Until the process is reaped its id still exists, and a new postmaster that finds
        # it in postmaster.pid refuses to start.
        _wait_gone([pid], 15)

    def postmaster_pid(self) -> int | None:
        """The running postmaster's process id, or None."""
        pid_file = self.data / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def url(self, database: str = DATABASE) -> str:
        """The SQLAlchemy URL of a database of the cluster (over TCP, as the app connects)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def libpq_url(self, database: str = DATABASE) -> str:
        """The same for psycopg itself."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str = DATABASE) -> None:
        import psycopg

        with psycopg.connect(self.libpq_url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def _wait_for_orphans(self) -> None:
        if not self._orphans:
            return
        if not _wait_gone(self._orphans, 10):
            for pid in self._orphans:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
            _wait_gone(self._orphans, 15)
        self._orphans = []

    def destroy(self) -> None:
        """Stop whatever still runs (immediately) and remove the folder."""
        try:
            if self.postmaster_pid() is not None:
                self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pid = self.postmaster_pid()
            if pid is not None:
                self._orphans = child_pids(pid)
                os.kill(pid, signal.SIGKILL)
        finally:
            self._wait_for_orphans()
            shutil.rmtree(self.folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether the process runs: its id is taken and it is not a zombie."""
    if not pid_exists(pid):
        return False
    # A zombie is gone for every purpose here.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (Linux: /proc/<pid>/task/*/children)."""
    found: list[int] = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            found.extend(int(word) for word in Path(path).read_text().split())
        except (FileNotFoundError, ValueError):
            continue
    return found


def pid_exists(pid: int) -> bool:
    """Whether the process id is taken (a zombie not yet reaped included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pids: list[int], seconds: float) -> bool:
    """Wait until none of the processes exists any more (reaped); whether they are gone."""
    deadline = time.monotonic() + seconds
    while any(pid_exists(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextmanager
def private_cluster() -> Iterator[PostgresCluster]:
    """A started cluster with an empty database `consular`, stopped and removed afterwards
    whatever happened."""
    bin_dir = find_bin_dir()
    assert bin_dir is not None, missing_binaries()
    # Not under pytest's tmp_path: its parents are private to root, and the server may run
    # as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="consular-pg-"))
    folder.chmod(0o755)
    cluster = PostgresCluster(folder, bin_dir)
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
        yield cluster
    finally:
        cluster.destroy()
