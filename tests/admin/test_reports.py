"""The reports page and its CSV files: numbers, filters, errors and who may see them."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest

from consular.extensions import db
from consular.models import Status, TicketStatus
from tests.services.test_reports import (
    DAY,
    MON,
    TUE,
    WED,
    add_ticket,
    add_visit,
    at,
)
from tests.staff.conftest import sign_in

PERIOD = {"office": "seoul", "from": "2026-11-30", "to": "2026-12-01"}


@pytest.fixture
def seeded(offices):
    """Seoul: a served visit, a no-show and a walk-in on Monday, a cancellation on Tuesday;
    Busan: a served visit on Wednesday. The offices' slots are those their schedule made:
    26 a day of 2 seats each, so 52 seats a day."""
    seoul, busan = offices
    service = seoul.services[0]
    served = add_visit(seoul, at(MON, 9), [service], Status.SERVED, 2 * DAY)
    add_visit(seoul, at(MON, 9, 15), [service], Status.NO_SHOW, 4 * DAY)
    add_visit(seoul, at(TUE, 9), [service], Status.CANCELLED, DAY)
    add_visit(busan, at(WED, 9), [service], Status.SERVED, DAY)
    add_ticket(seoul, MON, service, (8, 50), (9, 0), (9, 12), appointment=served)
    add_ticket(seoul, MON, service, (9, 30), (9, 40), (9, 46), status=TicketStatus.SERVED)
    db.session.commit()
    return seoul, busan


def figures(html: str) -> dict[str, str]:
    """The summary figures by their data-figure name."""
    return dict(re.findall(r'data-figure="([a-z-]+)">([^<]*)<', html))


def day_rows(html: str) -> dict[str, list[str]]:
    """The cells of the by-day table's rows, by day."""
    table = html.split('id="table-days"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-day="([^"]+)">(.*?)</tr>', table, re.S)
    return {
        day: [re.sub(r"\s+", " ", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)]
        for day, r in rows
    }


def csv_rows(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # spreadsheet programs then read UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


def test_an_admin_sees_the_numbers_of_an_office(client, accounts, seeded):
    sign_in(client, accounts["admin"].email)
    response = client.get("/admin/reports", query_string=PERIOD)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert figures(html) == {
        "bookings": "3",
        "cancellations": "1",
        "attended": "1",
        "no-shows": "1",
        "no-show-rate": "50.0%",
        "pending": "0",
        "walk-ins": "1",
        "capacity-use": "1.9%",  # 2 seats booked of 104 offered: the cancelled seat is free
        "lead-median": "2.0",  # 2, 4 and 1 days
        "wait-median": "10.0",  # 10 and 10 minutes
        "service-median": "9.0",  # 12 and 6 minutes
    }
    assert day_rows(html) == {
        "2026-11-30": ["Mon, Nov 30", "2", "0", "1", "1", "50.0%", "0", "1", "52", "2", "3.8%"],
        "2026-12-01": ["Tue, Dec 1", "1", "1", "0", "0", "—", "0", "0", "52", "0", "0.0%"],
        "total": ["Total", "3", "1", "1", "1", "50.0%", "0", "1", "104", "2", "1.9%"],
    }
    # The definitions are on the page, and each chart is drawn as SVG with a text equivalent.
    assert "No-shows divided by attended plus no-shows" in html
    assert html.count('role="img"') == 2
    assert '<title id="chart-outcomes-title">Bookings, cancellations and no-shows per day' in html
    assert 'id="chart-capacity-desc"' in html
    assert '<a href="#table-days">' in html
    assert "<script" not in html.split("</head>", 1)[1]  # no chart library
    assert "<caption>By day</caption>" in html and '<th scope="row">Mon, Nov 30</th>' in html
    assert "admin-reports.css" in html
    assert "Secretname" not in html


def test_the_office_filter_and_all_offices(client, accounts, seeded):
    sign_in(client, accounts["admin"].email)
    period = {"from": "2026-11-30", "to": "2026-12-02"}
    busan = client.get("/admin/reports", query_string={**period, "office": "busan"})
    assert figures(busan.get_data(as_text=True))["bookings"] == "1"
    everyone = client.get("/admin/reports", query_string={**period, "office": "all"})
    html = everyone.get_data(as_text=True)
    assert figures(html)["bookings"] == "4"
    assert day_rows(html)["2026-12-02"][1] == "1"
    assert "All offices" in html


def test_the_default_period_is_the_last_30_days_in_korea(client, accounts, offices):
    sign_in(client, accounts["admin"].email)
    # The clock reads Sunday 29 November 2026, 12:00 in Seoul.
    response = client.get("/admin/reports")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="from" type="date" value="2026-10-31"' in html
    assert 'name="to" type="date" value="2026-11-29"' in html
    assert len(day_rows(html)) == 31  # and the total
    assert '<option selected value="all">All offices</option>' in html


def test_the_page_speaks_the_viewers_language(client, accounts, seeded):
    accounts["admin"].language = "ru"  # the account's own language, whatever the browser's
    db.session.commit()
    sign_in(client, accounts["admin"].email)
    response = client.get("/admin/reports", query_string=PERIOD, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert figures(response.get_data(as_text=True))["no-show-rate"] == "50,0\xa0%"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"office": "nowhere"}, "office", "Choose an office from the list."),
        ({"from": "2026-13-01"}, "from", "Enter a date as year-month-day"),
        ({"to": "yesterday"}, "to", "Enter a date as year-month-day"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "to", "The last day must not be before"),
        ({"from": "2025-01-01", "to": "2026-12-01"}, "to", "at most 366\u00a0days"),
    ],
)
def test_bad_parameters_give_the_page_with_a_message_by_the_field(
    client, accounts, offices, query, field, message
):
    sign_in(client, accounts["admin"].email)
    for url in ("/admin/reports", "/admin/reports/days.csv"):
        response = client.get(url, query_string={**PERIOD, **query})
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        error = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', html, re.S)
        assert error is not None and message in error.group(1)
        assert f'aria-describedby="{field}-error" aria-invalid="true"' in html
        assert 'class="error-summary"' in html
        assert "data-figure" not in html  # no numbers for a wrong filter


def test_csv_of_each_table(client, accounts, seeded):
    sign_in(client, accounts["admin"].email)
    response = client.get("/admin/reports/days.csv", query_string=PERIOD)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="report-days-seoul-2026-11-30-2026-12-01.csv"'
    )
    assert csv_rows(response) == [
        [
            "day",
            "bookings",
            "cancellations",
            "attended",
            "no_shows",
            "outcome_pending",
            "no_show_rate",
            "walk_ins",
            "seats_offered",
            "seats_booked",
            "capacity_use",
        ],
        ["2026-11-30", "2", "0", "1", "1", "0", "0.5", "1", "52", "2", "0.0385"],
        ["2026-12-01", "1", "1", "0", "0", "0", "", "0", "52", "0", "0.0"],
    ]

    services = csv_rows(client.get("/admin/reports/services.csv", query_string=PERIOD))
    assert services[1] == ["passport-renewal", "Service 1", "3", "1", "1", "1", "0", "0.5", "1"]

    times = csv_rows(client.get("/admin/reports/day-times.csv", query_string=PERIOD))
    assert times[0][:4] == ["day", "lead_count", "lead_median_days", "lead_mean_days"]
    assert times[1] == ["2026-11-30", "2", "3.0", "3.0", "2", "10.0", "10.0", "2", "9.0", "9.0"]
    assert times[2] == ["2026-12-01", "1", "1.0", "1.0", "0", "", "", "0", "", ""]

    everything = client.get(
        "/admin/reports/service-times.csv", query_string={**PERIOD, "office": "all"}
    )
    assert everything.headers["Content-Disposition"].endswith(
        'filename="report-service-times-all-2026-11-30-2026-12-01.csv"'
    )
    assert csv_rows(everything)[1][:2] == ["passport-renewal", "Service 1"]


def test_csv_files_hold_no_personal_data(client, accounts, seeded):
    sign_in(client, accounts["admin"].email)
    for table in ("days", "services", "day-times", "service-times"):
        text = client.get(f"/admin/reports/{table}.csv", query_string=PERIOD).get_data(True)
        assert not re.search(r"Secretname|Familyname|example\.com|9001013|010-5555", text)


def test_an_unknown_table_is_not_found(client, accounts, offices):
    sign_in(client, accounts["admin"].email)
    assert client.get("/admin/reports/people.csv", query_string=PERIOD).status_code == 404


@pytest.mark.parametrize("who", ["clerk_seoul", "clerk_busan", "manager_seoul"])
@pytest.mark.parametrize("url", ["/admin/reports", "/admin/reports/days.csv"])
def test_staff_who_are_not_administrators_get_403(client, accounts, who, url):
    sign_in(client, accounts[who].email)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", ["/admin/reports", "/admin/reports/days.csv"])
def test_anonymous_visitors_are_sent_to_sign_in(client, offices, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/staff/sign-in" in response.headers["Location"]


def test_the_administrations_menu_links_the_reports(client, accounts, offices):
    sign_in(client, accounts["admin"].email)
    html = client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/reports"' in html


def test_a_day_with_nothing_still_renders(client, accounts, offices):
    sign_in(client, accounts["admin"].email)
    response = client.get(
        "/admin/reports", query_string={"office": "busan", "from": str(date(2026, 12, 5))}
    )
    # "from" after the default "to" (today, 29 November): refused by the "to" field.
    assert response.status_code == 400
    response = client.get(
        "/admin/reports", query_string={"office": "busan", "from": "2026-12-05", "to": "2026-12-05"}
    )
    assert response.status_code == 200
    assert figures(response.get_data(as_text=True))["no-show-rate"] == "—"
