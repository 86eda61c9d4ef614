"""The app served as production serves it: the repository's gunicorn.conf.py, with nginx in
front when given a site configuration, each in a temporary folder of its own (`nginx -c … -p
…`, never the system's nginx or port 80). Used by the bot simulation (bench/bots.py) and by
tests/test_behind_nginx.py.
"""

from __future__ import annotations

import http.client
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Settings of the developer's shell that would change what is measured or tested.
_LEFT_OUT = ("CONSULAR_", "POW_", "QUOTA_", "RATELIMIT_", "GUNICORN_", "PROXY_", "TRUSTED_")

# The main configuration around a site's (what Debian's /etc/nginx/nginx.conf does around
# sites-enabled/), with every file nginx writes in the folder.
NGINX_MAIN = """
{user}worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    {types}
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{site}
}}
"""
_TYPES = "types { text/css css; text/javascript js; image/svg+xml svg; image/png png; }"


def find_nginx() -> str | None:
    """The nginx binary, if installed (Debian puts it in /usr/sbin, often not on PATH)."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_flush(url: str) -> None:
    """Empty the Redis database of `url` (the run's rate-limit counters and caches)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def production_environment(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of a production server: this one's, without the developer's settings,
    with a random secret key, the database, Redis for rate limits and the cache, no debug."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(_LEFT_OUT)}
    return environment | {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "RATELIMIT_STORAGE_URI": redis_url,
        "AVAILABILITY_CACHE_URL": redis_url,
        "MAIL_DEV_MAILBOX": "0",
        "FLASK_APP": "app",
    }


def ping(port: int) -> bool:
    """Whether the app answers /__ping over plain HTTP on the port."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/__ping")
        return connection.getresponse().status == 200
    except OSError:
        return False


def _wait_for(
    ready: Callable[[], bool], processes: list[subprocess.Popen[bytes]], logs: list[Path]
) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
            text = "\n".join(
                log.read_text(errors="replace")[-2000:] for log in logs if log.exists()
            )
            raise RuntimeError(f"the server did not start:\n{text}")
        time.sleep(0.3)


@contextmanager
def serve(
    folder: Path,
    environment: dict[str, str],
    ready: Callable[[], bool],
    site: str | None = None,
) -> Iterator[None]:
    """Run gunicorn with the environment (GUNICORN_BIND names where it listens) and, with a
    site configuration, nginx in front, until the block ends; `ready` says when they answer.
    gunicorn's output goes to folder/gunicorn.log, nginx's errors to folder/nginx-error.log."""
    nginx = find_nginx() if site is not None else None
    if site is not None and nginx is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    processes: list[subprocess.Popen[bytes]] = []
    logs = [folder / "gunicorn.log", folder / "nginx-error.log"]
    try:
        with open(logs[0], "wb") as log:
            processes.append(
                subprocess.Popen(
                    [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"]
                    + ["app:app"],
                    cwd=ROOT,
                    env=environment,
                    stdout=log,
                    stderr=log,
                )
            )
        if nginx is not None and site is not None:
            types = "include /etc/nginx/mime.types;"
            if not Path("/etc/nginx/mime.types").exists():
                types = _TYPES
            config = folder / "nginx.conf"
            # As root, nginx's workers would run as nobody, who can't read a checkout in a private
            # folder (a clone under mktemp -d): they run as the checkout's owner instead.
            owner = pwd.getpwuid(ROOT.stat().st_uid).pw_name
            user = f"user {owner};\n" if os.geteuid() == 0 else ""
            config.write_text(NGINX_MAIN.format(folder=folder, types=types, site=site, user=user))
            processes.append(
                subprocess.Popen(
                    [nginx, "-c", str(config), "-p", str(folder)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        _wait_for(ready, processes, logs)
        yield
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM if process is processes[0] else signal.SIGQUIT)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
