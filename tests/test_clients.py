"""The client of a request: the network its address counts in."""

from __future__ import annotations

import pytest

from consular.clients import client_of, network_of


@pytest.mark.parametrize(
    "address, network",
    [
        ("192.0.2.1", "192.0.2.0/24"),
        ("192.0.2.254", "192.0.2.0/24"),
        ("198.51.100.7", "198.51.100.0/24"),
        ("::ffff:192.0.2.9", "192.0.2.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        (" 10.1.2.3 ", "10.1.2.0/24"),
        ("not an address", "not an address"),
        ("", "unknown"),
    ],
)
def test_network_of(address: str, network: str) -> None:
    assert network_of(address) == network


def test_client_of_a_request(app) -> None:
    with app.test_request_context(
        "/", environ_base={"REMOTE_ADDR": "203.0.113.77"}, headers={"User-Agent": "Phone/1.0"}
    ):
        from flask import request

        client = client_of(request)
    assert (client.address, client.network, client.user_agent) == (
        "203.0.113.77",
        "203.0.113.0/24",
        "Phone/1.0",
    )
