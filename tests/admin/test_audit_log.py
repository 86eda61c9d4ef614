"""The audit-log viewer: administrators only; filters by who, what, office and period (days
in Korea time); newest first, paginated; readable before and after values; CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry
from tests.admin.conftest import sign_in

AUDIT_URLS = ["/admin/audit", "/admin/audit.csv"]


@pytest.fixture
def log(offices, accounts) -> dict[str, AuditEntry]:
    """Four entries around midnight in Korea (UTC+9), each with its own entity id."""
    seoul, busan = offices
    entries = {
        # 2026-11-28 10:00 in Korea
        "created": AuditEntry(
            at=datetime(2026, 11, 28, 1, 0, tzinfo=UTC),
            user_id=accounts["admin"].id,
            office_id=None,
            action="create_account",
            entity="user",
            entity_id="1001",
            before=None,
            after={"name": "Dana", "offices": ["seoul", "busan"], "active": True},
        ),
        # 2026-11-29 23:30 in Korea
        "checked_in": AuditEntry(
            at=datetime(2026, 11, 29, 14, 30, tzinfo=UTC),
            user_id=accounts["clerk_seoul"].id,
            office_id=seoul.id,
            action="check_in",
            entity="ticket",
            entity_id="1002",
            after={"ticket": "S-001"},
        ),
        # 2026-11-30 00:30 in Korea, still the 29th in UTC
        "walked_in": AuditEntry(
            at=datetime(2026, 11, 29, 15, 30, tzinfo=UTC),
            user_id=accounts["clerk_busan"].id,
            office_id=busan.id,
            action="walk_in",
            entity="ticket",
            entity_id="1003",
            before={"status": "waiting", "desk": None},
            after={"status": "called", "desk": "1"},
        ),
        # 2026-11-30 09:00 in Korea, by a command
        "hours": AuditEntry(
            at=datetime(2026, 11, 30, 0, 0, tzinfo=UTC),
            user_id=None,
            office_id=seoul.id,
            action="opening_hours",
            entity="office",
            entity_id="1004",
            before={"periods": ["0 09:00-12:00 x2"]},
            after={"periods": ["0 09:00-13:00 x2"]},
        ),
    }
    db.session.add_all(entries.values())
    db.session.commit()
    return entries


def _admin_client(app, accounts):
    client = app.test_client()
    assert sign_in(client, accounts["admin"].email).status_code == 302
    return client


def _shown(page_text: str) -> list[str]:
    """The entity ids on the page, in order."""
    return [f"#{number}" for number in range(1001, 1005) if f"#{number}" in page_text]


def _order(page_text: str) -> list[str]:
    positions = {f"#{n}": page_text.find(f"#{n}") for n in range(1001, 1005)}
    return [key for key, at in sorted(positions.items(), key=lambda item: item[1]) if at >= 0]


# Who may read it


@pytest.mark.parametrize("url", AUDIT_URLS)
@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", 302), ("clerk_seoul", 403), ("manager_seoul", 403), ("admin", 200)],
)
def test_only_administrators_read_the_log(app, accounts, log, url, who, expected) -> None:
    client = app.test_client()
    if who != "anonymous":
        sign_in(client, accounts[who].email)
    response = client.get(url)
    assert response.status_code == expected
    if who == "anonymous":
        assert "/staff/sign-in" in response.headers["Location"]
    if expected != 200:
        assert "1002" not in response.text


def test_the_administration_links_to_the_log(app, accounts) -> None:
    page = _admin_client(app, accounts).get("/admin/")
    assert 'href="/admin/audit"' in page.text


# What it shows


def test_newest_first_in_korea_time_with_names_offices_and_changes(app, accounts, log) -> None:
    page = _admin_client(app, accounts).get("/admin/audit")
    assert page.status_code == 200
    assert _order(page.text) == ["#1004", "#1003", "#1002", "#1001"]
    text = page.text
    assert "2026-11-30 00:30" in text  # the walk-in, at 15:30 UTC
    assert "2026-11-28 10:00" in text
    assert "Clerk Busan" in text and "Office busan" in text
    assert "Walk-in ticket issued" in text and "Opening hours changed" in text
    assert "Command (no account)" in text
    assert "status</span>: waiting → called" in text
    assert "desk</span>: — → 1" in text
    assert "offices</span>: — → seoul, busan" in text
    assert "active</span>: — → yes" in text
    assert "<caption>" in text and '<th scope="col">' in text


def test_account_changes_made_on_the_pages_appear_in_the_log(app, accounts) -> None:
    client = _admin_client(app, accounts)
    client.post(f"/admin/accounts/{accounts['clerk_seoul'].id}/deactivate")
    page = client.get("/admin/audit", query_string={"action": "deactivate_account"})
    assert page.status_code == 200
    assert "Account deactivated" in page.text
    assert "active</span>: yes → no" in page.text
    assert f"user #{accounts['clerk_seoul'].id}" in page.text
    assert "Admin" in page.text


# The filters


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["#1001", "#1002", "#1003", "#1004"]),
        ({"who": "clerk_seoul"}, ["#1002"]),
        ({"who": "admin"}, ["#1001"]),
        ({"who": "none"}, ["#1004"]),
        ({"action": "walk_in"}, ["#1003"]),
        ({"action": "reset_password"}, []),
        ({"office": "seoul"}, ["#1002", "#1004"]),
        ({"office": "busan", "who": "clerk_busan"}, ["#1003"]),
        # Days are Korea's: 00:30 on the 30th in Korea is still the 29th in UTC.
        ({"date_from": "2026-11-30"}, ["#1003", "#1004"]),
        ({"date_to": "2026-11-29"}, ["#1001", "#1002"]),
        ({"date_from": "2026-11-29", "date_to": "2026-11-29"}, ["#1002"]),
        ({"date_from": "2026-11-30", "date_to": "2026-11-30", "office": "seoul"}, ["#1004"]),
        ({"date_from": "2026-12-01"}, []),
    ],
)
def test_the_filters(app, offices, accounts, log, filters, expected) -> None:
    codes = {office.code: str(office.id) for office in offices}
    query = dict(filters)
    if query.get("who") in accounts:
        query["who"] = str(accounts[query["who"]].id)
    if "office" in query:
        query["office"] = codes[query["office"]]
    page = _admin_client(app, accounts).get("/admin/audit", query_string=query)
    assert page.status_code == 200
    assert _shown(page.text) == expected
    if not expected:
        assert "No entries match these filters." in page.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date_from": "2026-13-01"}, "Enter a date like 2026-11-29."),
        ({"date_from": "yesterday"}, "Enter a date like 2026-11-29."),
        ({"date_to": "29.11.2026"}, "Enter a date like 2026-11-29."),
        ({"date_to": "20261129"}, "Enter a date like 2026-11-29."),
        ({"date_from": "0001-01-01"}, "Enter a date like 2026-11-29."),
        ({"date_to": "9999-12-31"}, "Enter a date like 2026-11-29."),
        ({"date_from": "2026-11-30", "date_to": "2026-11-29"}, "must not be before its start"),
        ({"who": "abc"}, "Choose a person from the list."),
        ({"who": "999999"}, "Choose a person from the list."),
        ({"action": "<script>"}, "Choose an action from the list."),
        ({"office": "99999999999999999999"}, "Choose an office from the list."),
        ({"page": "0"}, "There is no such page."),
        ({"page": "abc"}, "There is no such page."),
        ({"page": "-1"}, "There is no such page."),
        ({"page": "99999999999999999999"}, "There is no such page."),
    ],
)
def test_bad_filters_answer_400_with_a_message(app, accounts, log, query, message) -> None:
    page = _admin_client(app, accounts).get("/admin/audit", query_string=query)
    assert page.status_code == 400
    assert message in page.text
    assert "There is a problem" in page.text
    assert "#1002" not in page.text


def test_bad_dates_are_refused_by_the_export_too(app, accounts, log) -> None:
    client = _admin_client(app, accounts)
    response = client.get("/admin/audit.csv", query_string={"date_from": "2026-02-30"})
    assert response.status_code == 400
    assert "Enter a date like 2026-11-29." in response.text


def test_the_chosen_filters_stay_in_the_form(app, offices, accounts, log) -> None:
    page = _admin_client(app, accounts).get(
        "/admin/audit", query_string={"office": str(offices[0].id), "date_from": "2026-11-29"}
    )
    assert f'<option selected value="{offices[0].id}">' in page.text
    assert 'value="2026-11-29"' in page.text


# Pages and export


def test_the_log_is_paginated(app, accounts) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    db.session.add_all(
        AuditEntry(
            at=start + timedelta(hours=n),
            user_id=accounts["admin"].id,
            action="update_account",
            entity="user",
            entity_id=str(5000 + n),
        )
        for n in range(55)
    )
    db.session.commit()
    client = _admin_client(app, accounts)
    first = client.get("/admin/audit")
    assert first.text.count("user #5") == 50
    assert "#5054" in first.text and "#5004" not in first.text  # newest first
    assert "page 1 of 2" in first.text and "Older entries" in first.text
    second = client.get("/admin/audit", query_string={"page": "2"})
    assert second.status_code == 200
    assert second.text.count("user #5") == 5 and "#5000" in second.text
    assert "Newer entries" in second.text
    beyond = client.get("/admin/audit", query_string={"page": "9"})
    assert beyond.status_code == 200 and "No entries match" in beyond.text


def test_page_links_keep_the_filters(app, accounts) -> None:
    db.session.add_all(
        AuditEntry(
            at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n),
            user_id=accounts["admin"].id,
            action="update_account",
            entity="user",
            entity_id=str(n),
        )
        for n in range(51)
    )
    db.session.commit()
    page = _admin_client(app, accounts).get(
        "/admin/audit", query_string={"action": "update_account"}
    )
    assert "action=update_account&amp;page=2" in page.text


def test_the_csv_export_follows_the_filters(app, offices, accounts, log) -> None:
    client = _admin_client(app, accounts)
    response = client.get("/admin/audit.csv", query_string={"office": str(offices[0].id)})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:5] == ["time_korea", "account_email", "account_name", "office", "action"]
    assert [row[6] for row in rows[1:]] == ["1004", "1002"]
    assert rows[1][0] == "2026-11-30 09:00" and rows[1][1] == ""
    assert rows[2][1] == "clerk.seoul@example.org" and rows[2][3] == "seoul"
    assert '"S-001"' in rows[2][8]


def test_the_page_links_to_the_filtered_export(app, accounts, log) -> None:
    page = _admin_client(app, accounts).get("/admin/audit", query_string={"action": "walk_in"})
    assert 'href="/admin/audit.csv?action=walk_in"' in page.text


def test_csv_cells_cannot_become_formulas(app, accounts) -> None:
    accounts["clerk_seoul"].name = "=HYPERLINK(1)"
    db.session.add(
        AuditEntry(
            at=datetime(2026, 11, 1, tzinfo=UTC),
            user_id=accounts["clerk_seoul"].id,
            action="call",
            entity="ticket",
            entity_id="1",
        )
    )
    db.session.commit()
    body = _admin_client(app, accounts).get("/admin/audit.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in body


def test_the_csv_is_streamed_in_pages_and_complete(app, offices, accounts, monkeypatch) -> None:
    from consular.admin import audit_views

    monkeypatch.setattr(audit_views, "CSV_PAGE_SIZE", 3)
    clerk = accounts["clerk_seoul"]
    # Eleven entries, four of them at the same moment, so that a page ends inside a tie.
    moments = [datetime(2026, 11, 2, tzinfo=UTC)] * 4 + [
        datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n) for n in range(7)
    ]
    for number, moment in enumerate(moments, start=1):
        db.session.add(
            AuditEntry(at=moment, user_id=clerk.id, office_id=offices[0].id, action="call",
                       entity="ticket", entity_id=str(number), after={"n": number})
        )  # fmt: skip
    db.session.commit()
    expected = [
        str(entry_id)
        for (entry_id,) in db.session.execute(
            sa.select(AuditEntry.entity_id).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        )
    ]
    response = _admin_client(app, accounts).get("/admin/audit.csv")
    assert response.status_code == 200
    assert response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row[6] for row in rows[1:]] == expected
    assert len(expected) == len(set(expected)) == len(moments)
    assert {row[1] for row in rows[1:]} == {"clerk.seoul@example.org"}
    assert all(row[3] == "seoul" and json.loads(row[8])["n"] == int(row[6]) for row in rows[1:])
