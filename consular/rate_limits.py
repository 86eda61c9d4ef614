"""Rate limits shared by the pages and the API: a hold or a look at free times counts once,
whichever door it came through, per address and per network (see `consular.clients`).

A bot varies its address within the networks it controls, so the per-network budget is what
slows it; it is larger than the per-address one because one network may be a whole office,
campus or mobile carrier's shared addresses. The counters live where Flask-Limiter keeps
them (`RATELIMIT_STORAGE_URI`: Redis in production, shared by every worker and host).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, request
from flask_limiter.util import get_remote_address

from consular.clients import network_of
from consular.extensions import limiter

View = TypeVar("View", bound=Callable[..., object])


def _network() -> str:
    return network_of(request.remote_addr or "unknown")


def _setting(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config[name])


_holds_per_address = limiter.shared_limit(
    _setting("BOOKING_RATE_LIMIT"), scope="holds-by-address", key_func=get_remote_address
)
_holds_per_network = limiter.shared_limit(
    _setting("BOOKING_NETWORK_RATE_LIMIT"), scope="holds-by-network", key_func=_network
)
_looks_per_address = limiter.shared_limit(
    _setting("AVAILABILITY_RATE_LIMIT"),
    scope="availability-by-address",
    key_func=get_remote_address,
)
_looks_per_network = limiter.shared_limit(
    _setting("AVAILABILITY_NETWORK_RATE_LIMIT"), scope="availability-by-network", key_func=_network
)


# Entries in a lottery or a waiting list count against the same budgets as holds (their
# form pages themselves do not).
_entries_per_address = limiter.shared_limit(
    _setting("BOOKING_RATE_LIMIT"),
    scope="holds-by-address",
    key_func=get_remote_address,
    methods=["POST"],
)
_entries_per_network = limiter.shared_limit(
    _setting("BOOKING_NETWORK_RATE_LIMIT"),
    scope="holds-by-network",
    key_func=_network,
    methods=["POST"],
)


def limit_entries(view: View) -> View:
    """Count the view's POSTs against the holds' budgets of the address and network."""
    return _entries_per_address(_entries_per_network(view))  # type: ignore[return-value]


def limit_holds(view: View) -> View:
    """Count the view's requests against the holds' budgets of the address and network."""
    return _holds_per_address(_holds_per_network(view))  # type: ignore[return-value]


def limit_looks(view: View) -> View:
    """Count the view's requests against the free times' budgets of the address and network."""
    return _looks_per_address(_looks_per_network(view))  # type: ignore[return-value]


# The kiosk's device is named by its signed pass (consular.services.kiosk); the cookie's
# value is only a key here, checked by the view itself.
KIOSK_COOKIE = "kiosk_pass"


def _kiosk_device() -> str:
    return request.cookies.get(KIOSK_COOKIE, "")[-24:] or get_remote_address()


_kiosk_per_device = limiter.shared_limit(
    _setting("KIOSK_RATE_LIMIT"), scope="kiosk-by-device", key_func=_kiosk_device, methods=["POST"]
)


def limit_kiosk(view: View) -> View:
    """Count the view's POSTs against the budget of the kiosk device that sent them."""
    return _kiosk_per_device(view)  # type: ignore[return-value]
