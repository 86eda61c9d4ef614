"""Managers keep the office's desks: add, rename, choose the services, take out of use."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry, Desk, DeskClaim
from consular.services import queue
from tests.staff.conftest import MONDAY_9, sign_in


@pytest.fixture
def manager(app, accounts):
    client = app.test_client()
    assert sign_in(client, accounts["manager_seoul"].email).status_code == 302
    return client


def _desks(office) -> dict[str, Desk]:
    db.session.expire_all()
    return {
        d.name: d for d in db.session.scalars(sa.select(Desk).where(Desk.office_id == office.id))
    }


def test_only_the_offices_managers_keep_its_desks(app, offices, accounts, clerk) -> None:
    seoul, _busan = offices
    assert clerk.get("/staff/seoul/desks").status_code == 403
    assert clerk.post("/staff/seoul/desks", data={"new-name": "2"}).status_code == 403
    manager = app.test_client()
    sign_in(manager, accounts["manager_seoul"].email)
    assert manager.get("/staff/busan/desks").status_code in (403, 404)
    page = manager.get("/staff/seoul/desks")
    assert page.status_code == 200 and "Desk 1" in page.text
    # The staff menu leads to it, and to booking for a caller, for managers only.
    assert 'href="/staff/seoul/desks"' in page.text
    assert 'href="/staff/seoul/desks"' not in clerk.get("/staff/seoul").text
    assert 'href="/staff/seoul/book"' in clerk.get("/staff/seoul").text


def test_a_desk_is_added_serving_the_chosen_services_and_logged(manager, offices, make_service):
    seoul, _busan = offices
    marriage = make_service("marriage")
    seoul.services.append(marriage)
    db.session.commit()
    response = manager.post(
        "/staff/seoul/desks",
        data={"new-name": "  2  ", "new-services": [marriage.id], "new-active": "y"},
    )
    assert response.status_code == 302
    desk = _desks(seoul)["2"]
    assert [s.code for s in desk.services] == ["marriage"] and desk.is_active
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "add_desk"))
    assert entry is not None and entry.after == {
        "name": "2",
        "in_use": True,
        "services": ["marriage"],
    }
    page = manager.get("/staff/seoul/desks").text
    assert "Desk 2 added." in page


def test_a_bad_name_comes_back_next_to_its_field_with_what_was_typed(manager, offices) -> None:
    seoul, _busan = offices
    taken = manager.post("/staff/seoul/desks", data={"new-name": "1"})
    assert taken.status_code == 422
    assert "The office has a desk of that name already." in taken.text
    assert 'id="new-name-error"' in taken.text and 'value="1"' in taken.text
    empty = manager.post("/staff/seoul/desks", data={"new-name": " "})
    assert empty.status_code == 422 and 'id="new-name-error"' in empty.text
    foreign = manager.post("/staff/seoul/desks", data={"new-name": "9", "new-services": [99999]})
    assert foreign.status_code == 422 and 'id="new-name-error"' not in foreign.text
    assert set(_desks(seoul)) == {"1"}


def test_a_desk_serving_one_service_is_called_only_for_it(
    manager, offices, make_service, accounts, clock
) -> None:
    seoul, _busan = offices
    passport = seoul.services[0]
    marriage = make_service("marriage")
    seoul.services.append(marriage)
    db.session.commit()
    desk = _desks(seoul)["1"]
    response = manager.post(
        f"/staff/seoul/desks/{desk.id}",
        data={
            f"desk-{desk.id}-name": "1",
            f"desk-{desk.id}-services": [marriage.id],
            f"desk-{desk.id}-active": "y",
        },
    )
    assert response.status_code == 302
    clock.set(MONDAY_9)
    clerk = accounts["clerk_seoul"]
    queue.issue_walk_in(db.session, seoul, passport, clerk, clock(), urgent=True)
    desk = _desks(seoul)["1"]
    assert queue.call_next(db.session, seoul, desk, clerk, clock()) is None
    wedding = queue.issue_walk_in(db.session, seoul, marriage, clerk, clock(), urgent=True)
    assert queue.call_next(db.session, seoul, desk, clerk, clock()).id == wedding.id


def test_a_desk_with_a_visitor_is_not_taken_out_of_use(manager, offices, accounts, clock) -> None:
    seoul, _busan = offices
    clock.set(MONDAY_9)
    clerk = accounts["clerk_seoul"]
    desk = _desks(seoul)["1"]
    ticket = queue.issue_walk_in(db.session, seoul, seoul.services[0], clerk, clock(), urgent=True)
    queue.call_next(db.session, seoul, desk, clerk, clock())
    db.session.add(
        DeskClaim(
            desk_id=desk.id,
            office_id=seoul.id,
            clerk_id=clerk.id,
            session_version=clerk.session_version,
            claimed_at=clock(),
            seen_at=clock(),
        )
    )
    db.session.commit()
    form = {f"desk-{desk.id}-name": "1 (left)"}  # unticked "in use"
    refused = manager.post(f"/staff/seoul/desks/{desk.id}", data=form)
    assert refused.status_code == 422
    assert f"Ticket {ticket.label} is at desk 1. Finish that visit first." in refused.text
    assert 'value="1 (left)"' in refused.text  # what was typed is kept
    assert _desks(seoul)["1"].is_active

    queue.serve(db.session, db.session.get(type(ticket), ticket.id), clerk, clock())
    db.session.commit()
    assert manager.post(f"/staff/seoul/desks/{desk.id}", data=form).status_code == 302
    desk = _desks(seoul)["1 (left)"]
    assert not desk.is_active
    assert db.session.scalar(sa.select(DeskClaim).where(DeskClaim.desk_id == desk.id)) is None
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "change_desk"))
    assert entry.before["in_use"] is True and entry.after == {
        "name": "1 (left)",
        "in_use": False,
        "services": [],
    }


def test_the_audit_log_reads_a_desk_change_as_a_sentence(manager, offices, app, accounts) -> None:
    seoul, _busan = offices
    desk = _desks(seoul)["1"]
    manager.post(
        f"/staff/seoul/desks/{desk.id}",
        data={f"desk-{desk.id}-name": "7", f"desk-{desk.id}-active": "y"},
    )
    admin = app.test_client()
    sign_in(admin, accounts["admin"].email)
    page = admin.get("/admin/audit").text
    assert "Desk changed" in page and "Desk 7" in page
