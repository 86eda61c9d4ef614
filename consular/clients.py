"""Who is asking: the client of a request, as the quotas and the review of bookings see it.

The address is `request.remote_addr`, which is the peer's address unless `PROXY_COUNT` trusts
that many proxies' `X-Forwarded-For` (see README, "Behind a reverse proxy"). Addresses are
cheap for a bot to vary inside a network it controls, so limits also count per network: the
/24 of an IPv4 address and the /64 of an IPv6 one (what one subscriber line usually gets).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from flask import Request

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
