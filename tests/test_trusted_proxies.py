"""`X-Forwarded-For` and `-Proto` are believed only from a trusted proxy (issue 13, finding 10):
a client that reaches gunicorn directly with `PROXY_COUNT=1` can't choose its address, its
scheme or its rate-limit budget. tests/test_behind_nginx.py shows the same through a real nginx.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from flask import Flask, jsonify, request

from consular import create_app
from consular.clients import trusted_proxies
from consular.config import ConfigError
from consular.extensions import db
from tests.conftest import DEFAULT_NOW, Clock, base_config

DEFAULT = ("127.0.0.0/8", "::1", "unix")


def resolve(peer: str, forwarded_for: str, proto: str = "", count: int = 1, trusted=DEFAULT):
    return trusted_proxies(None, count, trusted).resolve(peer, forwarded_for, proto)  # type: ignore[arg-type]


def forged_chain(rng: random.Random, length: int) -> str:
    return ", ".join(
        f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(length)
    )


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", ""])
def test_a_trusted_proxy_names_the_client_with_the_last_address(peer: str) -> None:
    # "" is a peer on gunicorn's Unix socket, which has no address.
    chain = "10.1.2.3, 192.0.2.44, 198.51.100.7"
    assert resolve(peer, chain, "https") == ("198.51.100.7", "https")
    assert resolve(peer, "198.51.100.7", "http") == ("198.51.100.7", "http")


@pytest.mark.parametrize("peer", ["203.0.113.5", "10.0.0.2", "2001:db8::5", "::ffff:192.0.2.1"])
def test_a_client_reaching_the_app_directly_keeps_its_own_address(peer: str) -> None:
    rng = random.Random(peer)
    for length in (1, 2, 5):
        assert resolve(peer, forged_chain(rng, length), "https") == (peer, None)
    assert resolve(peer, "127.0.0.1", "https") == (peer, None)


def test_the_unix_socket_is_trusted_only_when_listed() -> None:
    assert resolve("", "198.51.100.7", trusted=("127.0.0.1",)) == ("", None)
    assert resolve("127.0.0.1", "198.51.100.7", trusted=("unix",)) == ("127.0.0.1", None)


def test_with_two_proxies_each_hop_must_be_trusted() -> None:
    trusted = ("127.0.0.1", "10.0.0.0/8")
    # client -> load balancer 10.0.0.9 -> nginx on this host -> gunicorn
    chain = "203.0.113.1, 198.51.100.7, 10.0.0.9"
    assert resolve("127.0.0.1", chain, "https, https", 2, trusted) == ("198.51.100.7", "https")
    # The outer hop is not one of ours: what it claims is not read.
    chain = "203.0.113.1, 198.51.100.7, 192.0.2.9"
    assert resolve("127.0.0.1", chain, "https", 2, trusted) == ("192.0.2.9", "https")
    # Fewer hops than proxies: the one written by a trusted proxy is the client.
    assert resolve("127.0.0.1", "198.51.100.8", "", 2, trusted) == ("198.51.100.8", None)


@pytest.mark.parametrize("written", ["", "unknown", "198.51.100.7:443", "<script>"])
def test_what_is_not_an_address_is_never_the_client(written: str) -> None:
    assert resolve("127.0.0.1", written, "https")[0] == "127.0.0.1"


def test_only_http_and_https_are_schemes() -> None:
    assert resolve("127.0.0.1", "198.51.100.7", "javascript") == ("198.51.100.7", None)


def test_a_trusted_proxies_word_that_is_not_an_address_is_refused(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setenv("PROXY_COUNT", "1")
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1 proxy.example")
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        create_app()
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    monkeypatch.setenv("PROXY_COUNT", "-1")
    with pytest.raises(ConfigError, match="PROXY_COUNT"):
        create_app()


# Through the app, as gunicorn hands it a request.


@pytest.fixture
def proxied(database_url) -> Iterator[Flask]:
    config = base_config(database_url, Clock(DEFAULT_NOW)) | {
        "PROXY_COUNT": 1,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "AVAILABILITY_RATE_LIMIT": "3 per minute",
        "AVAILABILITY_NETWORK_RATE_LIMIT": "100 per minute",
    }
    app = create_app(config)

    @app.get("/whoami")
    def whoami():
        return jsonify(
            address=request.remote_addr,
            secure=request.is_secure,
            forwarded=[name for name in request.headers.keys() if "forward" in name.lower()],
        )

    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_the_app_believes_the_header_only_from_its_proxy(proxied) -> None:
    client = proxied.test_client()
    forged = {"X-Forwarded-For": "127.0.0.1, 198.51.100.7", "X-Forwarded-Proto": "https"}
    direct = client.get("/whoami", environ_base={"REMOTE_ADDR": "203.0.113.5"}, headers=forged)
    assert direct.get_json() == {"address": "203.0.113.5", "secure": False, "forwarded": []}
    assert "Strict-Transport-Security" not in direct.headers
    through = client.get("/whoami", environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers=forged)
    assert through.get_json() == {"address": "198.51.100.7", "secure": True, "forwarded": []}
    assert "Strict-Transport-Security" in through.headers


def test_a_forged_header_mints_no_budget_when_gunicorn_is_reached_directly(proxied) -> None:
    client = proxied.test_client()
    rng = random.Random(10)

    def look(peer: str) -> int:
        return client.get(
            "/api/v1/offices/nowhere/availability?services=x",
            environ_base={"REMOTE_ADDR": peer},
            headers={"X-Forwarded-For": forged_chain(rng, rng.randrange(1, 4))},
        ).status_code

    statuses = [look("203.0.113.5") for _ in range(5)]
    assert 429 not in statuses[:3] and statuses[3:] == [429, 429]
    assert look("203.0.113.6") != 429  # another client has its own budget
    # Through the proxy each forged last address is believed: the proxy overwrites it.
    assert 429 not in [look("127.0.0.1") for _ in range(5)]
