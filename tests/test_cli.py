"""Commands: demo data, slot extension, holidays and the first administrator."""

from __future__ import annotations

import sqlalchemy as sa

from consular.extensions import db
from consular.models import Closure, Office, OpeningPeriod, Role, ServiceType, Slot, User
from consular.services.passwords import verify_password


def test_seed_demo_loads_everything_and_is_idempotent(app) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert first.output.count("password:") == 4

    offices = db.session.scalars(sa.select(Office).order_by(Office.id)).all()
    assert [o.code for o in offices] == ["seoul", "busan"]
    assert all(o.is_demo and "(demo data)" in o.address["en"] for o in offices)
    assert all(set(o.name) == {"kk", "ru", "en", "ko"} for o in offices)
    services = db.session.scalars(sa.select(ServiceType).order_by(ServiceType.sort_order)).all()
    assert [s.code for s in services] == [
        "passport-renewal",
        "marriage-registration",
        "birth-registration",
    ]
    for service in services:
        assert set(service.name) == set(service.documents) == {"kk", "ru", "en", "ko"}
        assert {o.code for o in service.offices} == {"seoul", "busan"}
    seoul_periods = db.session.scalars(
        sa.select(OpeningPeriod).where(OpeningPeriod.office_id == offices[0].id)
    ).all()
    assert {p.weekday for p in seoul_periods} == {0, 1, 2, 3, 4}
    assert {p.desks for p in seoul_periods} <= {2, 3}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Closure)) > 40
    slot_count = db.session.scalar(sa.select(sa.func.count()).select_from(Slot))
    assert slot_count > 1000
    users = db.session.scalars(sa.select(User).order_by(User.id)).all()
    assert [u.role for u in users] == [Role.ADMIN, Role.MANAGER, Role.CLERK, Role.CLERK]
    assert [o.code for o in users[3].offices] == ["busan"]

    line = next(li for li in first.output.splitlines() if "clerk.busan" in li)
    assert verify_password(users[3], line.rsplit("password: ", 1)[1].strip())

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0 and "password:" not in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Slot)) == slot_count
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 4

    skipped = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "not loaded" in skipped.output


def test_slots_extend_reports_and_is_idempotent(app) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["seed-demo"])
    result = runner.invoke(args=["slots", "extend"])
    assert result.exit_code == 0
    assert "seoul: 0 created" in result.output and "busan: 0 created" in result.output
    unknown = runner.invoke(args=["slots", "extend", "--office", "almaty"])
    assert unknown.exit_code != 0 and "unknown office" in unknown.output


def test_create_admin(app) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-admin", "--email", "Chief@Example.org", "--name", "Chief"],
        input="correct horse battery\ncorrect horse battery\n",
    )
    assert result.exit_code == 0, result.output
    admin = db.session.scalar(sa.select(User))
    assert admin.email == "chief@example.org" and admin.role == Role.ADMIN
    assert admin.password_hash.startswith("$argon2id$")
    assert verify_password(admin, "correct horse battery")
    short = runner.invoke(
        args=["create-admin", "--email", "b@example.org", "--name", "B"], input="short\nshort\n"
    )
    assert short.exit_code != 0
    # The same rules as a password chosen on the staff pages: not common, not about the account.
    for weak in ("password1234", "chief.admin@example.org", "Consulate2026!"):
        refused = runner.invoke(
            args=["create-admin", "--email", "chief.admin@example.org", "--name", "Chief Admin"],
            input=f"{weak}\n{weak}\n",
        )
        assert refused.exit_code != 0, weak
        assert "Invalid value for password" in refused.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
