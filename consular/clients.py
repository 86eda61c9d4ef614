"""Who is asking: the client of a request, as the quotas and the review of bookings see it.

The address is `request.remote_addr`: the peer's address, or, with `PROXY_COUNT` set and the
connection coming from one of the `TRUSTED_PROXIES`, the address the proxy wrote in
`X-Forwarded-For` (`TrustedProxies` below; README, "Production deployment"). Addresses are
cheap for a bot to vary inside a network it controls, so limits also count per network: the
/24 of an IPv4 address and the /64 of an IPv6 one (what one subscriber line usually gets).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Request
from werkzeug.http import parse_list_header

from consular.config import ConfigError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

IPV4_PREFIX = 24
IPV6_PREFIX = 64


@dataclass(frozen=True)
class Client:
    address: str
    network: str
    user_agent: str


def network_of(address: str) -> str:
    """The network an address belongs to, as CIDR text: its /24 (IPv4) or /64 (IPv6).

    An IPv4 address written as IPv6 (`::ffff:192.0.2.1`) counts as IPv4; text that is not an
    address is its own network, so it still gets a counter of its own."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64] or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    prefix = IPV4_PREFIX if parsed.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))


def client_of(request: Request) -> Client:
    """The client of a request: its address, its network and its user agent."""
    address = request.remote_addr or "unknown"
    return Client(
        address=address,
        network=network_of(address),
        user_agent=(request.user_agent.string or "")[:512],
    )


# The word in TRUSTED_PROXIES for a peer on a Unix socket: gunicorn gives it no address.
UNIX_SOCKET = "unix"
# Headers a client may send to claim another address, scheme or host. They are removed before
# the app sees the request, so no code can read one the proxy did not vouch for.
FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address parsed from text, an IPv4 address written as IPv6 as IPv4; None if not one."""
    try:
        parsed = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


@dataclass(frozen=True)
class TrustedProxies:
    """WSGI middleware: the client's address and scheme as the reverse proxies in front saw
    them, read from `X-Forwarded-For` and `X-Forwarded-Proto` only when the connection comes
    from a trusted proxy.

    `count` proxies stand in front (PROXY_COUNT). Starting from the peer, each hop that is a
    trusted proxy hands over to the address it wrote last in `X-Forwarded-For`; the first
    address that is not a trusted proxy, or the one `count` hops out, is the client. A client
    that reaches the app directly, or through a proxy not in the list, keeps its own address
    whatever it sends. `X-Forwarded-Host` is never read: the proxy passes `Host` itself."""

    app: WSGIApplication
    count: int
    networks: tuple[Network, ...]
    unix_socket: bool

    def is_trusted(self, address: str) -> bool:
        """Whether a peer's address is one of the trusted proxies."""
        if address == "":
            return self.unix_socket
        parsed = _ip(address)
        return parsed is not None and any(parsed in network for network in self.networks)

    def resolve(
        self, peer: str, forwarded_for: str, forwarded_proto: str
    ) -> tuple[str, str | None]:
        """The client's address and, if a trusted proxy said it, the scheme it used."""
        addresses = parse_list_header(forwarded_for)
        schemes = parse_list_header(forwarded_proto)
        address, hops = peer, 0
        while hops < self.count and addresses and self.is_trusted(address):
            written = _ip(addresses.pop())
            if written is None:  # not an address: the proxy's own is all that is known
                break
            address, hops = str(written), hops + 1
        scheme = None
        if hops and len(schemes) >= hops and schemes[-hops].lower() in ("http", "https"):
            scheme = schemes[-hops].lower()
        return address, scheme

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR") or ""
        forwarded_for = environ.get("HTTP_X_FORWARDED_FOR", "")
        forwarded_proto = environ.get("HTTP_X_FORWARDED_PROTO", "")
        for name in FORWARDED_HEADERS:
            environ.pop(name, None)
        # What the connection really was, as werkzeug's ProxyFix keeps it (see from_loopback).
        environ["werkzeug.proxy_fix.orig"] = {
            "REMOTE_ADDR": peer,
            "wsgi.url_scheme": environ.get("wsgi.url_scheme"),
        }
        address, scheme = self.resolve(peer, forwarded_for, forwarded_proto)
        environ["REMOTE_ADDR"] = address
        if scheme is not None:
            environ["wsgi.url_scheme"] = scheme
        return self.app(environ, start_response)


def trusted_proxies(app: WSGIApplication, count: int, words: Iterable[str] | str) -> TrustedProxies:
    """The middleware for `count` proxies at the addresses, networks (CIDR) or `unix` listed."""
    if isinstance(words, str):
        words = words.replace(",", " ").split()
    networks: list[Network] = []
    unix_socket = False
    for word in words:
        if word.lower() == UNIX_SOCKET:
            unix_socket = True
            continue
        try:
            networks.append(ipaddress.ip_network(word, strict=False))
        except ValueError as error:
            raise ConfigError(
                f"TRUSTED_PROXIES: {word!r} is neither an address, a network nor {UNIX_SOCKET!r}"
            ) from error
    return TrustedProxies(app, count, tuple(networks), unix_socket)
