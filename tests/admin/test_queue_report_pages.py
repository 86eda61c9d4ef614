"""The report's views: charts that leave closed days out, by hour of the day and by desk,
their CSV files, and who may see them."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import Desk, Ticket
from tests.admin.test_reports import PERIOD, csv_rows, day_rows, figures, seeded  # noqa: F401
from tests.services.test_reports import add_ticket
from tests.staff.conftest import sign_in

VIEWS = ["/admin/reports", "/admin/reports/hours", "/admin/reports/desks"]
QUEUE_URLS = [
    "/admin/reports/hours",
    "/admin/reports/desks",
    "/admin/reports/hours.csv",
    "/admin/reports/desks.csv",
]


def chart(html: str, chart_id: str) -> str:
    """The SVG figure of one chart."""
    start = html.index(f'aria-labelledby="{chart_id}-caption"')
    return html[start : html.index("</figure>", start)]


def x_labels(figure: str) -> list[str]:
    days = figure.split('class="report-chart-days"', 1)[1].split("</g>", 1)[0]
    return re.findall(r">([^<]+)</text>", days)


def rows_of(html: str, table_id: str, key: str) -> dict[str, list[str]]:
    """The cells of a table's rows, by the row's data attribute."""
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(rf'<tr data-{key}="([^"]+)">(.*?)</tr>', table, re.S)
    return {
        name: [re.sub(r"\s+", " ", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)]
        for name, r in rows
    }


@pytest.fixture
def at_desks(seeded):  # noqa: F811
    """The seeded Monday's two tickets in Seoul, served at Seoul's desk 1."""
    seoul, busan = seeded
    desk = db.session.scalar(sa.select(Desk).where(Desk.office_id == seoul.id))
    db.session.execute(
        sa.update(Ticket).where(Ticket.office_id == seoul.id).values(desk_id=desk.id)
    )
    db.session.add(Desk(office=seoul, name="2"))
    db.session.commit()
    return seoul, busan


def test_the_charts_leave_out_the_days_the_office_did_not_work(client, accounts, seeded):  # noqa: F811
    sign_in(client, accounts["admin"].email)
    # Saturday and Sunday: no slots, nothing booked, no ticket.
    query = {"office": "seoul", "from": "2026-11-28", "to": "2026-12-01"}
    html = client.get("/admin/reports", query_string=query).get_data(as_text=True)
    for chart_id, series in (("chart-outcomes", 3), ("chart-capacity", 1)):
        figure = chart(html, chart_id)
        assert x_labels(figure) == ["Nov 30", "Dec 1"]
        assert figure.count("<rect ") == 2 * series
        bars = figure.split('class="report-chart-bars"', 1)[1].split("</g>", 1)[0]
        assert "Nov 28" not in bars and "Nov 29" not in bars and "Dec 1, " in bars
        assert (
            f'<p class="report-chart-note" id="{chart_id}-note">2\u00a0days on which the office '
            "did not work (no seats offered, nothing booked or issued) are left out" in figure
        )
        assert f'aria-describedby="{chart_id}-desc {chart_id}-note"' in figure
        assert "report-chart-break" not in figure  # the days shown follow each other
    # The table still lists every day.
    assert list(day_rows(html)) == ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01", "total"]


def test_a_day_without_seats_but_with_a_walk_in_is_a_working_day(client, accounts, seeded):  # noqa: F811
    seoul, _busan = seeded
    saturday = date(2026, 11, 28)
    add_ticket(seoul, saturday, seoul.services[0], (10, 0), (10, 5), (10, 15))
    db.session.commit()
    sign_in(client, accounts["admin"].email)
    query = {"office": "seoul", "from": "2026-11-28", "to": "2026-12-01"}
    figure = chart(
        client.get("/admin/reports", query_string=query).get_data(True), "chart-outcomes"
    )
    assert x_labels(figure) == ["Nov 28", "Nov 30", "Dec 1"]
    assert figure.count('class="report-chart-break"') == 1  # Sunday, between
    assert "1\u00a0day on which the office did not work" in figure and "is left out" in figure


def test_a_gap_between_working_days_is_marked(client, accounts, seeded):  # noqa: F811
    sign_in(client, accounts["admin"].email)
    query = {"office": "seoul", "from": "2026-12-04", "to": "2026-12-07"}  # Friday to Monday
    figure = chart(
        client.get("/admin/reports", query_string=query).get_data(True), "chart-outcomes"
    )
    assert x_labels(figure) == ["Dec 4", "Dec 7"]
    assert figure.count('class="report-chart-break"') == 1
    assert "2\u00a0days on which the office did not work" in figure


def test_a_period_of_working_days_says_so(client, accounts, seeded):  # noqa: F811
    sign_in(client, accounts["admin"].email)
    html = client.get("/admin/reports", query_string=PERIOD).get_data(as_text=True)
    assert "The office worked on every day of the period." in chart(html, "chart-outcomes")


def test_the_hours_of_the_day_in_the_offices_zone(client, accounts, seeded):  # noqa: F811
    sign_in(client, accounts["admin"].email)
    response = client.get("/admin/reports/hours", query_string=PERIOD)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # Checked in at 08:50 (23:50 UTC the day before), called 09:00, served 09:12; a walk-in
    # at 09:30, called 09:40, served 09:46.
    assert figures(html) == {"arrivals": "2", "served": "2", "wait-mean": "10.0"}
    assert rows_of(html, "table-hours", "hour") == {
        "8": ["08:00–09:00", "1", "0", "10.0", "1"],
        "9": ["09:00–10:00", "1", "2", "10.0", "1"],
        "total": ["Whole period", "2", "2", "10.0", "2"],
    }
    assert html.count('role="img"') == 2
    assert x_labels(chart(html, "chart-hour-arrivals")) == ["08:00", "09:00"]
    assert '<a href="#table-hours">' in html
    assert 'aria-current="page">By hour of the day</a>' in html
    assert "Secretname" not in html

    rows = csv_rows(client.get("/admin/reports/hours.csv", query_string=PERIOD))
    assert rows == [
        ["hour", "arrivals", "served", "wait_count", "wait_mean_minutes"],
        ["08:00", "1", "0", "1", "10.0"],
        ["09:00", "1", "2", "1", "10.0"],
    ]


def test_the_desks(client, accounts, at_desks):
    sign_in(client, accounts["admin"].email)
    response = client.get("/admin/reports/desks", query_string=PERIOD)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert figures(html) == {"served": "2", "missed": "0", "service-mean": "9.0"}
    desks = {row[0]: row[1:] for row in rows_of(html, "table-desks", "desk").values()}
    assert desks == {
        "Desk 1": ["2", "100.0%", "0", "9.0"],  # 12 and 6 minutes
        "Desk 2": ["0", "0.0%", "0", "—"],
        "Total": ["2", "100.0%", "0", "9.0"],
    }
    assert x_labels(chart(html, "chart-desks")) == ["Desk 1", "Desk 2"]

    everyone = client.get("/admin/reports/desks", query_string={**PERIOD, "office": "all"})
    assert "Office seoul, desk 1" in everyone.get_data(as_text=True)
    rows = csv_rows(client.get("/admin/reports/desks.csv", query_string=PERIOD))
    assert rows[1] == ["seoul", "1", "2", "1.0", "0", "9.0"]
    assert rows[2] == ["seoul", "2", "0", "0.0", "0", ""]


@pytest.mark.parametrize("language", ["kk", "ru", "en", "ko"])
def test_every_view_renders_in_every_language(client, accounts, at_desks, language):
    accounts["admin"].language = language
    db.session.commit()
    sign_in(client, accounts["admin"].email)
    for url in VIEWS:
        for office in ("seoul", "all"):
            response = client.get(url, query_string={**PERIOD, "office": office})
            assert response.status_code == 200, (url, office)
            html = response.get_data(as_text=True)
            assert f'<html lang="{language}"' in html
            assert 'role="img"' in html
        # Nothing in the period: no chart, the tables say so.
        empty = {"office": "busan", "from": "2026-12-05", "to": "2026-12-05"}
        assert client.get(url, query_string=empty).status_code == 200
    for url in ("/admin/reports/hours.csv", "/admin/reports/desks.csv"):
        assert client.get(url, query_string=PERIOD).status_code == 200


@pytest.mark.parametrize("url", QUEUE_URLS)
def test_a_bad_filter_gives_the_page_with_a_message_by_the_field(client, accounts, offices, url):
    sign_in(client, accounts["admin"].email)
    response = client.get(url, query_string={**PERIOD, "to": "2026-11-01"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert '<p class="error-message" id="to-error">' in html
    assert 'value="2026-11-01"' in html  # kept as typed
    assert "data-figure" not in html


@pytest.mark.parametrize("who", ["clerk_seoul", "clerk_busan", "manager_seoul"])
@pytest.mark.parametrize("url", QUEUE_URLS)
def test_staff_who_are_not_administrators_get_403(client, accounts, who, url):
    sign_in(client, accounts[who].email)
    assert client.get(url, query_string=PERIOD).status_code == 403


@pytest.mark.parametrize("url", QUEUE_URLS)
def test_anonymous_visitors_are_sent_to_sign_in(client, offices, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/staff/sign-in" in response.headers["Location"]


def test_the_views_link_each_other_with_the_same_filter(client, accounts, offices):
    sign_in(client, accounts["admin"].email)
    html = client.get("/admin/reports/desks", query_string=PERIOD).get_data(as_text=True)
    nav = html.split('class="report-views"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'href="([^"]+)"', nav)
    assert links == [f"{path}?office=seoul&amp;from=2026-11-30&amp;to=2026-12-01" for path in VIEWS]
