"""Kiosk fixtures: the staff offices and accounts, and a tablet started as Seoul's kiosk."""

from __future__ import annotations

import pytest

from tests.staff.conftest import accounts, offices, sign_in, visits  # noqa: F401


def start_kiosk(client, email: str, office_code: str = "seoul"):
    """Sign in on the device and start it as the office's kiosk; the answer to the start."""
    assert sign_in(client, email).status_code == 302
    return client.post(f"/kiosk/{office_code}/start")


@pytest.fixture
def tablet(app, offices, accounts, clock):  # noqa: F811
    """A device started as Seoul's kiosk by its manager, who then signed out."""
    client = app.test_client()
    started = start_kiosk(client, accounts["manager_seoul"].email)
    assert started.status_code == 303
    assert client.post("/staff/sign-out").status_code == 302
    assert client.get("/staff/seoul").status_code == 302  # signed out indeed
    client.get("/staff/sign-in")  # where the clerk was sent, with its messages
    return client
