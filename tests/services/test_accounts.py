"""Account administration as plain functions: creating accounts with a temporary password,
changing them, deactivating them, resetting passwords, and the audit entries they leave."""

from __future__ import annotations

import argon2
import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry, Role, User
from consular.services import accounts as service
from consular.services.errors import DomainError, ValidationFailed
from consular.services.passwords import needs_rehash, verify_password
from tests.staff import conftest as staff_fixtures
from tests.staff.conftest import PASSWORD

# The staff fixtures: two offices and an account of each role.
offices = staff_fixtures.offices
accounts = staff_fixtures.accounts


def _entries(action: str | None = None) -> list[AuditEntry]:
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def _create(people, places, clock, **overrides):
    values = {
        "email": "new.clerk@example.org",
        "name": "New Clerk",
        "role": Role.CLERK,
        "offices": [places[0]],
        "language": "ru",
    }
    values.update(overrides)
    return service.create_account(db.session, people["admin"], clock(), **values)


# Signing in


def _older_hash(password: str) -> str:
    """A hash as a past release made it: the same algorithm with other parameters."""
    return argon2.PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash(password)


def test_signing_in_upgrades_a_hash_made_with_older_parameters(
    app, offices, accounts, clock
) -> None:
    clerk = accounts["clerk_seoul"]
    clerk.password_hash = old = _older_hash(PASSWORD)
    db.session.commit()
    assert needs_rehash(clerk)
    assert service.authenticate(db.session, clerk.email, PASSWORD, clock()) == clerk
    db.session.commit()
    assert clerk.password_hash != old
    assert not needs_rehash(clerk)
    assert verify_password(clerk, PASSWORD)
    assert service.authenticate(db.session, clerk.email, PASSWORD, clock()) == clerk


def test_a_current_hash_is_kept_and_a_wrong_password_changes_nothing(
    app, offices, accounts, clock
) -> None:
    clerk = accounts["clerk_seoul"]
    current = clerk.password_hash
    assert not needs_rehash(clerk)
    assert service.authenticate(db.session, clerk.email, PASSWORD, clock()) == clerk
    assert clerk.password_hash == current
    clerk.password_hash = old = _older_hash(PASSWORD)
    assert service.authenticate(db.session, clerk.email, PASSWORD + "x", clock()) is None
    assert clerk.password_hash == old


# Creating an account


def test_a_new_account_gets_a_temporary_password_to_change_at_first_sign_in(
    app, offices, accounts, clock
) -> None:
    user, password = _create(accounts, offices, clock, email="  New.Clerk@Example.ORG ")
    db.session.commit()
    assert user.email == "new.clerk@example.org"
    assert user.must_change_password and user.active
    assert [o.code for o in user.offices] == ["seoul"]
    assert user.language == "ru"
    assert verify_password(user, password)
    assert len(password) >= 20
    assert service.authenticate(db.session, "NEW.CLERK@example.org", password, clock()) == user


def test_temporary_passwords_are_long_and_never_repeat() -> None:
    passwords = {service.temporary_password() for _ in range(200)}
    assert len(passwords) == 200
    assert all(len(p.replace("-", "")) == 20 for p in passwords)
    assert not any(set(p) & set("0O1lI") for p in passwords)


def test_creation_is_audited_without_the_password(app, offices, accounts, clock) -> None:
    user, password = _create(accounts, offices, clock)
    db.session.commit()
    (entry,) = _entries("create_account")
    assert entry.user_id == accounts["admin"].id
    assert entry.entity == "user" and entry.entity_id == str(user.id)
    assert entry.before is None
    assert entry.after == {
        "email": "new.clerk@example.org",
        "name": "New Clerk",
        "role": "clerk",
        "offices": ["seoul"],
        "language": "ru",
        "active": True,
    }
    assert password not in str(entry.after)
    assert user.password_hash not in str(entry.after)


@pytest.mark.parametrize("email", ["Admin@Example.org", "admin@example.org", " ADMIN@EXAMPLE.ORG"])
def test_an_email_address_can_have_only_one_account(app, offices, accounts, clock, email) -> None:
    with pytest.raises(ValidationFailed) as error:
        _create(accounts, offices, clock, email=email)
    assert list(error.value.fields) == ["email"]
    assert "exists already" in error.value.fields["email"][0]


def test_a_duplicate_that_slips_past_the_check_is_refused_by_the_database(
    app, offices, accounts, clock, monkeypatch
) -> None:
    # Two administrators creating the same account at once: both checks find nothing.
    monkeypatch.setattr(db.session, "scalar", lambda *args, **kwargs: None)
    with pytest.raises(ValidationFailed) as error:
        _create(accounts, offices, clock, email="clerk.seoul@example.org")
    assert "exists already" in error.value.fields["email"][0]
    monkeypatch.undo()
    db.session.rollback()
    assert _entries() == []


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"email": "not an email"}, "email", "Enter an email address"),
        ({"email": ""}, "email", "Enter an email address"),
        ({"email": "a@" + "b" * 260 + ".org"}, "email", "Enter an email address"),
        ({"name": "   "}, "name", "Enter the person's name"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"role": "superuser"}, "role", "Choose a role"),
        ({"offices": []}, "offices", "at least one office"),
        ({"role": Role.MANAGER, "offices": []}, "offices", "at least one office"),
        ({"language": "de"}, "language", "Choose a language"),
    ],
)
def test_what_a_new_account_needs(app, offices, accounts, clock, overrides, field, message) -> None:
    with pytest.raises(ValidationFailed) as error:
        _create(accounts, offices, clock, **overrides)
    assert message in error.value.fields[field][0]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == len(accounts)


def test_every_error_is_reported_at_once(app, offices, accounts, clock) -> None:
    with pytest.raises(ValidationFailed) as error:
        _create(accounts, offices, clock, email="nope", name="", offices=[], language="xx")
    assert set(error.value.fields) == {"email", "name", "offices", "language"}


def test_an_administrator_needs_no_office_and_names_are_tidied(
    app, offices, accounts, clock
) -> None:
    user, _password = _create(
        accounts, offices, clock, role=Role.ADMIN, offices=[], name="  Aigerim \t Nurlanova "
    )
    assert user.is_admin and user.offices == []
    assert user.name == "Aigerim Nurlanova"


# Changing an account


def test_an_update_records_only_what_changed(app, offices, accounts, clock) -> None:
    seoul, busan = offices
    clerk = accounts["clerk_seoul"]
    changed = service.update_account(
        db.session,
        accounts["admin"],
        clock(),
        clerk,
        name="Clerk Seoul",
        role=Role.MANAGER,
        offices=[seoul, busan],
        language="en",
    )
    db.session.commit()
    assert changed and clerk.role == Role.MANAGER
    (entry,) = _entries("update_account")
    assert entry.before == {"role": "clerk", "offices": ["seoul"]}
    assert entry.after == {"role": "manager", "offices": ["seoul", "busan"]}


def test_an_update_that_changes_nothing_leaves_no_entry(app, offices, accounts, clock) -> None:
    clerk = accounts["clerk_seoul"]
    version = clerk.session_version
    changed = service.update_account(
        db.session,
        accounts["admin"],
        clock(),
        clerk,
        name=clerk.name,
        role=clerk.role,
        offices=list(clerk.offices),
        language=clerk.language,
        active=True,
    )
    assert not changed
    assert _entries() == []
    assert clerk.session_version == version


def test_an_update_checks_like_creation(app, offices, accounts, clock) -> None:
    with pytest.raises(ValidationFailed) as error:
        service.update_account(
            db.session,
            accounts["admin"],
            clock(),
            accounts["manager_seoul"],
            name="",
            role=Role.MANAGER,
            offices=[],
            language="en",
        )
    assert set(error.value.fields) == {"name", "offices"}


def test_deactivating_through_an_update_ends_the_sessions(app, offices, accounts, clock) -> None:
    clerk = accounts["clerk_seoul"]
    version = clerk.session_version
    service.update_account(
        db.session,
        accounts["admin"],
        clock(),
        clerk,
        name=clerk.name,
        role=clerk.role,
        offices=list(clerk.offices),
        language=clerk.language,
        active=False,
    )
    assert not clerk.active and clerk.session_version == version + 1
    (entry,) = _entries("update_account")
    assert entry.before == {"active": True} and entry.after == {"active": False}


# Deactivation and reactivation


def test_deactivation_ends_sessions_and_is_audited(app, offices, accounts, clock) -> None:
    clerk = accounts["clerk_seoul"]
    version = clerk.session_version
    service.deactivate_account(db.session, accounts["admin"], clock(), clerk)
    db.session.commit()
    assert not clerk.active and clerk.session_version == version + 1
    assert service.authenticate(db.session, clerk.email, PASSWORD, clock()) is None
    assert (entry := _entries("deactivate_account")[0]).after == {"active": False}
    assert entry.before == {"active": True}
    # A second time changes nothing and writes nothing.
    service.deactivate_account(db.session, accounts["admin"], clock(), clerk)
    assert len(_entries("deactivate_account")) == 1


def test_reactivation_lets_the_account_sign_in_again(app, offices, accounts, clock) -> None:
    clerk = accounts["clerk_seoul"]
    service.deactivate_account(db.session, accounts["admin"], clock(), clerk)
    service.reactivate_account(db.session, accounts["admin"], clock(), clerk)
    db.session.commit()
    assert clerk.active
    assert [e.action for e in _entries()] == ["deactivate_account", "reactivate_account"]


def test_nobody_deactivates_themselves(app, offices, accounts, clock) -> None:
    with pytest.raises(DomainError) as error:
        service.deactivate_account(db.session, accounts["admin"], clock(), accounts["admin"])
    assert error.value.field == "active"
    assert accounts["admin"].active


def test_the_last_active_administrator_stays(app, offices, accounts, clock) -> None:
    admin = accounts["admin"]
    # A command or a stale session without the admin role: the rule holds regardless of who asks.
    with pytest.raises(DomainError, match="last active administrator"):
        service.deactivate_account(db.session, accounts["manager_seoul"], clock(), admin)
    with pytest.raises(ValidationFailed) as error:
        service.update_account(
            db.session,
            accounts["manager_seoul"],
            clock(),
            admin,
            name=admin.name,
            role=Role.MANAGER,
            offices=list(offices),
            language="en",
        )
    assert "last active administrator" in error.value.fields["role"][0]
    assert admin.active and admin.is_admin
    assert _entries() == []


def test_with_a_second_administrator_one_can_be_demoted(app, offices, accounts, clock) -> None:
    other, _password = _create(accounts, offices, clock, email="second@example.org", role="admin")
    service.update_account(
        db.session,
        accounts["admin"],
        clock(),
        other,
        name=other.name,
        role=Role.MANAGER,
        offices=[offices[1]],
        language="en",
    )
    assert other.role == Role.MANAGER
    # Now the first one is the last again.
    assert service.is_last_active_admin(db.session, accounts["admin"])


def test_an_administrator_cannot_demote_themselves(app, offices, accounts, clock) -> None:
    admin = accounts["admin"]
    _create(accounts, offices, clock, email="second@example.org", role="admin")
    with pytest.raises(ValidationFailed) as error:
        service.update_account(
            db.session,
            admin,
            clock(),
            admin,
            name=admin.name,
            role=Role.CLERK,
            offices=[offices[0]],
            language="en",
        )
    assert "own administrator access" in error.value.fields["role"][0]


def test_an_inactive_administrator_does_not_count(app, offices, accounts, clock) -> None:
    other, _password = _create(accounts, offices, clock, email="second@example.org", role="admin")
    service.deactivate_account(db.session, accounts["admin"], clock(), other)
    with pytest.raises(DomainError, match="last active administrator"):
        service.deactivate_account(db.session, other, clock(), accounts["admin"])


# Password resets


def test_a_reset_gives_a_new_temporary_password_and_ends_sessions(
    app, offices, accounts, clock
) -> None:
    clerk = accounts["clerk_seoul"]
    version = clerk.session_version
    password = service.reset_password(db.session, accounts["admin"], clock(), clerk)
    db.session.commit()
    assert clerk.must_change_password
    assert clerk.session_version == version + 1
    assert service.authenticate(db.session, clerk.email, PASSWORD, clock()) is None
    assert service.authenticate(db.session, clerk.email, password, clock()) == clerk
    (entry,) = _entries("reset_password")
    assert entry.before == {"must_change_password": False}
    assert entry.after == {"must_change_password": True}
    assert password not in str(entry.after) and clerk.password_hash not in str(entry.after)


def test_the_old_password_stops_working_after_a_reset(app, offices, accounts, clock) -> None:
    clerk = accounts["clerk_seoul"]
    service.reset_password(db.session, accounts["admin"], clock(), clerk)
    assert service.authenticate(db.session, clerk.email, PASSWORD, clock()) is None
    assert not verify_password(clerk, PASSWORD)


def test_administrators_change_their_own_password_elsewhere(app, offices, accounts, clock) -> None:
    with pytest.raises(DomainError):
        service.reset_password(db.session, accounts["admin"], clock(), accounts["admin"])
    assert not accounts["admin"].must_change_password


# The list


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["admin", "clerk_busan", "clerk_seoul", "manager_seoul"]),
        ({"role": "clerk"}, ["clerk_busan", "clerk_seoul"]),
        ({"office": "busan"}, ["clerk_busan"]),
        ({"office": "seoul", "role": "manager"}, ["manager_seoul"]),
        ({"active": False}, ["clerk_busan"]),
        ({"active": True, "role": "clerk"}, ["clerk_seoul"]),
        ({"search": "SEOUL"}, ["clerk_seoul", "manager_seoul"]),
        ({"search": "admin@"}, ["admin"]),
        ({"search": "%"}, []),
        ({"search": "_"}, []),
    ],
)
def test_the_list_filters(app, offices, accounts, clock, filters, expected) -> None:
    service.deactivate_account(db.session, accounts["admin"], clock(), accounts["clerk_busan"])
    codes = {office.code: office.id for office in offices}
    filters = dict(filters)  # the parameters are shared by both databases' runs
    if "office" in filters:
        filters["office_id"] = codes[filters.pop("office")]
    found = db.session.scalars(service.accounts_query(**filters)).all()
    by_user = {user.id: key for key, user in accounts.items()}
    assert sorted(by_user[user.id] for user in found) == expected
