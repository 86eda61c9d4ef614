"""Administrators' lottery pages: announce, change, cancel, run the draw at its time, read the
draw log and check it from its seed; every change in the audit log."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry, LotteryRelease, ReleaseState
from consular.services import lottery
from tests.admin.conftest import sign_in

FIRST_DAY = date(2026, 12, 14)


@pytest.fixture
def admin_client(client, accounts):
    sign_in(client, "admin@example.org")
    return client


def release_form(office, service, **changes) -> dict:
    form = {
        "office_id": str(office.id),
        "service_ids": [str(service.id)],
        "first_day": "2026-12-14",
        "last_day": "2026-12-18",
        "opens_at": "2026-11-29T13:00",
        "closes_at": "2026-12-02T18:00",
        "draw_at": "2026-12-03T10:00",
        "confirm_hours": "48",
    }
    form.update(changes)
    return form


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def passport(offices):
    seoul, _ = offices
    return seoul.services[0]


def test_announcing_a_lottery_reads_times_in_the_office_zone_and_is_audited(
    admin_client, offices, passport, clock
) -> None:
    seoul, _ = offices
    response = admin_client.post("/admin/lottery/new", data=release_form(seoul, passport))
    assert response.status_code == 302, text_of(response.text)[:2000]

    release = db.session.scalar(sa.select(LotteryRelease))
    assert release.opens_at.isoformat() == "2026-11-29T04:00:00+00:00"  # 13:00 in Seoul
    assert release.draw_at.isoformat() == "2026-12-03T01:00:00+00:00"
    assert [s.code for s in release.services] == ["passport-renewal"]
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "create_lottery_release")
    )
    assert entry.after["first_day"] == "2026-12-14" and entry.user_id is not None
    listing = text_of(admin_client.get("/admin/lottery").text)
    assert "Monday, December 14, 2026 to Friday, December 18, 2026" in listing
    assert "Announced: entries not open yet" in listing


def test_a_lottery_that_cant_run_is_refused_with_a_message_by_each_field(
    admin_client, offices, passport
) -> None:
    seoul, _ = offices
    form = release_form(
        seoul, passport, closes_at="2026-11-29T12:00", draw_at="2026-12-14T10:00", service_ids=[]
    )
    response = admin_client.post("/admin/lottery/new", data=form)

    assert response.status_code == 400
    page = text_of(response.text)
    assert "Choose at least one service." in page
    assert "Entries must close after they open." in page
    assert "The draw must be before the first day it gives out." in page
    assert db.session.scalar(sa.select(LotteryRelease)) is None


def test_a_lottery_is_changed_until_its_draw_and_changes_are_audited(
    admin_client, offices, passport
) -> None:
    seoul, _ = offices
    admin_client.post("/admin/lottery/new", data=release_form(seoul, passport))
    release = db.session.scalar(sa.select(LotteryRelease))

    page = admin_client.get(f"/admin/lottery/{release.id}").text
    assert 'value="2026-12-03T10:00"' in page
    changed = admin_client.post(
        f"/admin/lottery/{release.id}", data=release_form(seoul, passport, confirm_hours="24")
    )
    assert changed.status_code == 302
    db.session.refresh(release)
    assert release.confirm_hours == 24
    update = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "update_lottery_release")
    )
    assert (update.before["confirm_hours"], update.after["confirm_hours"]) == (48, 24)


def test_cancelling_a_lottery_is_audited(admin_client, offices, passport) -> None:
    seoul, _ = offices
    admin_client.post("/admin/lottery/new", data=release_form(seoul, passport))
    release = db.session.scalar(sa.select(LotteryRelease))

    admin_client.post(f"/admin/lottery/{release.id}/cancel")

    db.session.refresh(release)
    assert release.state == ReleaseState.CANCELLED
    assert db.session.scalar(
        sa.select(AuditEntry.id).where(AuditEntry.action == "cancel_lottery_release")
    )


def test_the_draw_runs_from_the_page_only_at_its_time_and_its_log_checks(
    admin_client, app, offices, passport, clock
) -> None:
    seoul, _ = offices
    admin_client.post("/admin/lottery/new", data=release_form(seoul, passport))
    release = db.session.scalar(sa.select(LotteryRelease))

    early = admin_client.post(f"/admin/lottery/{release.id}/draw", follow_redirects=True)
    assert "its time has not come" in early.text
    assert "Run the draw now" not in admin_client.get(f"/admin/lottery/{release.id}").text

    clock.set(release.draw_at)
    assert "Run the draw now" in admin_client.get(f"/admin/lottery/{release.id}").text
    drawn = admin_client.post(f"/admin/lottery/{release.id}/draw")
    assert drawn.headers["Location"].endswith(f"/admin/lottery/{release.id}/log")
    db.session.refresh(release)
    assert release.state == ReleaseState.FINISHED  # nobody entered
    audit = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "draw_lottery_release")
    )
    assert audit.user_id is not None and audit.after["seed"] == release.seed

    log = text_of(admin_client.get(f"/admin/lottery/{release.id}/log").text)
    assert release.seed in log
    checked = text_of(admin_client.get(f"/admin/lottery/{release.id}/log?verify=1").text)
    assert "Checked: the seed gives the same order" in checked
    again = admin_client.post(f"/admin/lottery/{release.id}/draw", follow_redirects=True)
    assert "it has been run" in again.text


def test_a_tampered_draw_log_does_not_check(admin_client, offices, passport, clock, app) -> None:
    seoul, _ = offices
    admin_client.post("/admin/lottery/new", data=release_form(seoul, passport))
    release = db.session.scalar(sa.select(LotteryRelease))
    clock.set(release.draw_at)
    lottery.draw(db.session, release.id, clock(), lottery.policy_from_config(app.config))
    db.session.commit()
    db.session.refresh(release)
    release.draw_log = release.draw_log | {"seed": "0" * 32}
    db.session.commit()

    page = text_of(admin_client.get(f"/admin/lottery/{release.id}/log?verify=1").text)

    assert "The draw does not check" in page
    assert "The seed does not give the logged order." in page


def test_the_commands_draw_due_lotteries_once_and_move_the_line(
    app, offices, passport, clock
) -> None:
    seoul, _ = offices
    now = clock()
    lottery.create_release(
        db.session,
        None,
        now,
        lottery.ReleaseData(
            seoul.id, [passport.id], FIRST_DAY, FIRST_DAY, now - timedelta(hours=1),
            now + timedelta(hours=1), now + timedelta(hours=1), 48,
        ),
    )  # fmt: skip
    db.session.commit()
    runner = app.test_cli_runner()

    assert runner.invoke(args=["lottery", "draw"]).output == ""
    clock.advance(hours=1)
    first = runner.invoke(args=["lottery", "draw"])
    assert first.exit_code == 0 and "0 entries drawn" in first.output
    assert runner.invoke(args=["lottery", "draw"]).output == ""
    assert runner.invoke(args=["lottery", "advance"]).exit_code == 0
