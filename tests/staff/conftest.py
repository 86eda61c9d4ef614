"""Staff fixtures: two offices with desks, and an account of each role."""

from __future__ import annotations

import pytest

from consular.extensions import db
from consular.models import Desk, Role, User
from consular.services.passwords import hash_password

PASSWORD = "correct horse battery staple"


@pytest.fixture
def offices(make_office, make_service):
    service = make_service("passport-renewal", duration_minutes=15)
    seoul = make_office("seoul", services=[service])
    busan = make_office("busan", services=[service])
    seoul.ticket_prefix, busan.ticket_prefix = "S", "B"
    seoul.walk_in_share = busan.walk_in_share = 20
    db.session.add_all([Desk(office=seoul, name="1"), Desk(office=busan, name="1")])
    db.session.commit()
    return seoul, busan


@pytest.fixture
def accounts(offices) -> dict[str, User]:
    seoul, busan = offices
    people = {
        "clerk_seoul": User(
            email="clerk.seoul@example.org", name="Clerk Seoul", role=Role.CLERK, offices=[seoul]
        ),
        "clerk_busan": User(
            email="clerk.busan@example.org", name="Clerk Busan", role=Role.CLERK, offices=[busan]
        ),
        "manager_seoul": User(
            email="manager.seoul@example.org",
            name="Manager Seoul",
            role=Role.MANAGER,
            offices=[seoul],
        ),
        "admin": User(email="admin@example.org", name="Admin", role=Role.ADMIN, offices=[]),
    }
    for user in people.values():
        user.password_hash = hash_password(PASSWORD)
    db.session.add_all(people.values())
    db.session.commit()
    return people


def sign_in(client, email: str, password: str = PASSWORD):
    return client.post("/staff/sign-in", data={"email": email, "password": password})
