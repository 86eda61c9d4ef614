"""Behind a real nginx with the shipped site (deploy/nginx/consular.conf), a forged
`X-Forwarded-For` changes nothing (issue 13, finding 10), and the site does what it says.

The repository's gunicorn.conf.py serves the app on a Unix socket, as production does
(PostgreSQL, rate limits in Redis, `PROXY_COUNT=1`, no debug), and Debian's nginx runs
deploy/nginx/consular.conf in a temporary folder: only its ports, paths and certificate are
changed (bench/server.py, as `make bench-bots` runs it). A client that sends random addresses,
and chains of them, in every request still has one budget, the one of the address it connects
from, and that address is what the app and nginx write in their logs.
"""

from __future__ import annotations

import http.client
import ipaddress
import random
import re
import shutil
import socket
import ssl
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import server
from consular.models import Base
from tests.databases import missing_service, postgres_database

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
HOST = "consular.example.kz"
# Rate-limit counters of this module's server: a Redis database no other test flushes.
REDIS_URL = "redis://127.0.0.1:6379/13"
LIMIT = 5
LOOK = "/api/v1/offices/nowhere/availability?services=x"
CLIENT, OTHER_CLIENT = "127.0.0.2", "127.0.0.3"


def shipped_site() -> str:
    """The nginx site as deployed (deploy/nginx/consular.conf)."""
    return (ROOT / "deploy" / "nginx" / "consular.conf").read_text(encoding="utf-8")


def local_site(folder: Path, socket_path: Path, http_port: int, https_port: int) -> str:
    """The shipped site with this machine's ports, paths and certificate (each must be there: a
    change of the file that this test no longer follows fails here)."""
    site = shipped_site()
    replacements = {
        "/etc/letsencrypt/live/consular.example.kz/": f"{folder}/",
        "/run/consular/gunicorn.sock": str(socket_path),
        "/srv/consular/static/": f"{ROOT}/static/",
        "/var/log/nginx/consular.access.log": str(folder / "nginx-access.log"),
        "listen 80": f"listen 127.0.0.1:{http_port}",
        "listen 443": f"listen 127.0.0.1:{https_port}",
    }
    for documented, here in replacements.items():
        assert documented in site, f"deploy/nginx/consular.conf has no {documented!r}"
        site = site.replace(documented, here)
    # This machine may have no IPv6.
    return "\n".join(line for line in site.splitlines() if "listen [::]:" not in line)


def self_signed_certificate(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (folder / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass(frozen=True)
class Site:
    folder: Path
    http_port: int
    https_port: int

    def request(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        source: str = CLIENT,
        https: bool = True,
        host: str = HOST,
    ) -> Answer:
        """One request from the source address, with SNI and Host of the site's name."""
        if https:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, self.https_port, timeout=10, context=context
            )
        else:
            connection = http.client.HTTPConnection(host, self.http_port, timeout=10)
        port = connection.port
        connection._create_connection = lambda _address, timeout, _source: (  # type: ignore[attr-defined]
            socket.create_connection(("127.0.0.1", port), timeout, (source, 0))
        )
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, response.getheaders(), response.read())
        finally:
            connection.close()

    def answers(self) -> bool:
        """Whether the app answers through nginx over HTTPS yet."""
        try:
            return self.request("/__ping").status == 200
        except (OSError, http.client.HTTPException):
            return False

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace") if path.exists() else ""


def require_redis(url: str) -> None:
    """Go on only if Redis answers at the URL (a missing service otherwise)."""
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=3) as connection:
            connection.ping()
    except redis.RedisError as error:
        missing_service(f"Redis is not reachable at {url}: {error}")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A new PostgreSQL database with the models' schema; its URL."""
    with postgres_database() as url:
        engine = sa.create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """gunicorn on a Unix socket behind nginx with the shipped site, on PostgreSQL."""
    if server.find_nginx() is None:
        missing_service("nginx is not installed (apt-get install nginx)")
    require_redis(REDIS_URL)
    with postgres_schema() as url:
        folder = Path(tempfile.mkdtemp(prefix="consular-nginx-"))
        folder.chmod(0o755)  # nginx's workers may run as another user: they reach the socket
        socket_path = folder / "gunicorn.sock"
        http_port, https_port = server.free_port(), server.free_port()
        self_signed_certificate(folder)
        environment = server.production_environment(url, REDIS_URL) | {
            "GUNICORN_BIND": f"unix:{socket_path}",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "2",
            "GUNICORN_ACCESS_LOG": str(folder / "gunicorn-access.log"),
            "PROXY_COUNT": "1",
            "PUBLIC_BASE_URL": f"https://{HOST}",
            "COMPRESS_STATIC": "0",
            "AVAILABILITY_RATE_LIMIT": f"{LIMIT} per minute",
            "AVAILABILITY_NETWORK_RATE_LIMIT": "1000 per minute",
        }
        site = Site(folder, http_port, https_port)
        server.redis_flush(REDIS_URL)
        try:
            with server.serve(
                folder,
                environment,
                site.answers,
                local_site(folder, socket_path, http_port, https_port),
            ):
                yield site
        finally:
            server.redis_flush(REDIS_URL)
            shutil.rmtree(folder, ignore_errors=True)


def forged_headers(rng: random.Random) -> dict[str, str]:
    """What a client sends to pass for someone else: random addresses, one or a chain."""

    def address() -> str:
        return str(ipaddress.IPv4Address(rng.randrange(1 << 24, 224 << 24)))

    chain = ", ".join(address() for _ in range(rng.randrange(1, 4)))
    return {
        "X-Forwarded-For": chain,
        "X-Real-IP": address(),
        "Forwarded": f"for={address()}",
        "X-Forwarded-Host": "evil.example",
    }


def test_a_forged_forwarded_for_changes_neither_the_budget_nor_the_logged_address(site) -> None:
    rng = random.Random(13)
    marks = [uuid.uuid4().hex for _ in range(LIMIT + 3)]
    statuses = [site.request(f"{LOOK}&mark={mark}", forged_headers(rng)).status for mark in marks]
    assert 429 not in statuses[:LIMIT], statuses
    assert statuses[LIMIT:] == [429, 429, 429], statuses
    # Another client, whatever it forges, has a budget of its own.
    assert site.request(f"{LOOK}&mark=other", forged_headers(rng), OTHER_CLIENT).status != 429
    # The app (gunicorn's access log shows the address the app decided on) and nginx both
    # wrote the address the connection came from, for every request.
    for log in ("gunicorn-access.log", "nginx-access.log"):
        lines = [line for line in site.log(log).splitlines() if "mark=" in line]
        for mark in marks:
            (line,) = [line for line in lines if mark in line]
            assert line.startswith(f"{CLIENT} "), (log, line)
        (other,) = [line for line in lines if "mark=other" in line]
        assert other.startswith(f"{OTHER_CLIENT} "), (log, other)


def test_nginx_announces_no_version(site) -> None:
    for answer in (
        site.request("/__ping"),
        site.request("/static/favicon.svg"),
        site.request("/__ping", https=False),
        site.request("/no-such-page"),
    ):
        assert answer.all("Server") == ["nginx"]


def test_plain_http_only_redirects_to_https(site) -> None:
    answer = site.request("/book?lang=kk", https=False)
    assert answer.status == 301
    assert answer.all("Location") == [f"https://{HOST}/book?lang=kk"]


def test_hsts_once_on_pages_and_on_static_files_served_by_nginx(site) -> None:
    page, static = site.request("/__ping"), site.request("/static/favicon.svg")
    assert page.status == static.status == 200
    for answer in (page, static):
        assert answer.all("Strict-Transport-Security") == ["max-age=31536000; includeSubDomains"]
        assert answer.all("X-Content-Type-Options") == ["nosniff"]
    assert static.body == (ROOT / "static" / "favicon.svg").read_bytes()
    assert "/static/favicon.svg" not in site.log("gunicorn-access.log")


def test_another_host_name_gets_no_answer(site) -> None:
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        site.request("/__ping", https=False, host="evil.example")
    with pytest.raises(ssl.SSLError):
        site.request("/__ping", host="evil.example")


def test_the_development_mailbox_is_not_reachable_through_nginx(site) -> None:
    assert site.request("/dev/mailbox").status == 404
    assert "/dev/mailbox" not in site.log("gunicorn-access.log")


def test_a_link_token_stays_out_of_nginxs_log(site) -> None:
    token = "OzOaiaNtb1P7a_oqVTqP2klJqNHsTFYxE-5rYzp6Rvc"
    site.request(f"/manage/SEL-7Q4M2P/{token}")
    log = site.log("nginx-access.log")
    assert "/manage/SEL-7Q4M2P/[token]" in log and token not in log


@pytest.mark.parametrize(
    "path", ["/metrics", "/healthz", "/readyz", "/metrics/", "/healthz?full=1", "/%6Detrics"]
)
def test_monitoring_routes_are_not_served_to_the_outside(site, path: str) -> None:
    assert site.request(path).status == 404
    assert not re.search(r"metrics|healthz|readyz", site.log("gunicorn-access.log"), re.I)


def test_static_files_are_compressed_and_pages_are_not(site) -> None:
    gzip = {"Accept-Encoding": "gzip"}
    style = next((ROOT / "static").rglob("*.css")).relative_to(ROOT / "static")
    static = site.request(f"/static/{style.as_posix()}", gzip)
    page = site.request("/", gzip)
    assert static.status == page.status == 200
    assert static.all("Content-Encoding") == ["gzip"]
    assert page.all("Content-Encoding") == []


def test_each_request_has_an_id_of_its_own_in_nginxs_log(site) -> None:
    marks = [uuid.uuid4().hex for _ in range(3)]
    for mark in marks:
        site.request(f"/__ping?mark={mark}", {"X-Request-ID": "chosen-by-the-client"})
    lines = [line for line in site.log("nginx-access.log").splitlines() if "mark=" in line]
    ids = [line.rsplit(" ", 1)[1] for mark in marks for line in lines if mark in line]
    assert len(set(ids)) == len(marks) and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
