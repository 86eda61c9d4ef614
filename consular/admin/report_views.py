"""Reports for administrators: a filter form, tables, charts drawn as SVG, and CSV files."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent
from flask import Response, abort, render_template, request
from flask_babel import get_locale, lazy_pgettext, ngettext, pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import Form, SelectField, StringField, ValidationError
from wtforms.widgets import DateInput

from consular.admin import bp
from consular.admin.access import admin_page
from consular.admin.form_base import AdminForm, choice_values
from consular.clock import now
from consular.extensions import db
from consular.models import Office
from consular.services import queue_reports, reports
from consular.services.reports import Report

# The days "today" and the default period are reckoned in.
REPORT_ZONE = ZoneInfo("Asia/Seoul")
DEFAULT_DAYS = 30
ALL_OFFICES = "all"
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


def as_day(text: str | None) -> date | None:
    """The calendar date written YYYY-MM-DD in `text`, or None."""
    text = (text or "").strip()
    if not DATE_PATTERN.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    # A day's bounds in a zone are computed from its neighbours: keep them in the calendar.
    if not date.min + timedelta(days=2) <= day <= date.max - timedelta(days=2):
        return None
    return day


def _parse_day(form: Form, field: StringField) -> None:
    """Check that the field holds a calendar date written YYYY-MM-DD."""
    if as_day(field.data) is None:
        raise ValidationError(
            _("Enter a date as year-month-day, for example %(example)s.", example="2026-11-30")
        )


class ReportFilterForm(AdminForm):
    """Which office and which days: read from the query string, so the page can be linked."""

    class Meta:
        csrf = False

    office = SelectField(_l("Office"), validate_choice=False)
    first_day = StringField(_l("From"), name="from", widget=DateInput(), validators=[_parse_day])
    last_day = StringField(
        lazy_pgettext("end of a period", "To"),
        name="to",
        widget=DateInput(),
        validators=[_parse_day],
    )

    def validate_office(self, field: SelectField) -> None:
        if field.data not in choice_values(field):
            raise ValidationError(_("Choose an office from the list."))

    def validate_last_day(self, field: StringField) -> None:
        first, last = as_day(self.first_day.data), as_day(field.data)
        if first is None or last is None:
            return  # the fields' own validator has said so
        try:
            reports.check_period(first, last)
        except reports.InvalidPeriod as error:
            raise ValidationError(str(error.message)) from None

    @property
    def period(self) -> tuple[date, date]:
        """The first and last day (only once the form is valid)."""
        first, last = as_day(self.first_day.data), as_day(self.last_day.data)
        assert first is not None and last is not None
        return first, last


@dataclass(frozen=True)
class Filters:
    """The parsed filter: an office (None for all) and a period."""

    office: Office | None
    first_day: date
    last_day: date

    @property
    def query(self) -> dict[str, str]:
        """The query string that shows the same report."""
        return {
            "office": self.office.code if self.office else ALL_OFFICES,
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
        }


def _locale() -> str:
    return str(get_locale() or "en")


def _filter_form(offices: Sequence[Office]) -> ReportFilterForm:
    today = now().astimezone(REPORT_ZONE).date()
    # A parameter left empty means its default, as when it is missing.
    given = {key: value for key, value in request.args.items() if value.strip()}
    form = ReportFilterForm(
        formdata=None,
        office=given.get("office", ALL_OFFICES),
        first_day=given.get("from", (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()),
        last_day=given.get("to", today.isoformat()),
    )
    form.office.choices = [(ALL_OFFICES, _("All offices"))] + [
        (office.code, office.display_name(_locale())) for office in offices
    ]
    return form


def parse_filters() -> tuple[ReportFilterForm, Filters | None]:
    """Read the filter from the query string; Filters is None when something is wrong."""
    offices = list(db.session.scalars(sa.select(Office).order_by(Office.id)))
    form = _filter_form(offices)
    if not form.validate():
        return form, None
    first, last = form.period
    office = next((o for o in offices if o.code == form.office.data), None)
    return form, Filters(office=office, first_day=first, last_day=last)


@bp.get("/reports", endpoint="reports")
@admin_page
def reports_page() -> tuple[str, int]:
    """Show the report of an office (or all) for a period, with charts and tables."""
    form, filters = parse_filters()
    if filters is None:
        return render_template(
            "admin/reports.html", form=form, report=None, views=view_links()
        ), 400
    report = reports.build_report(
        db.session, filters.office, filters.first_day, filters.last_day, _locale()
    )
    return render_template(
        "admin/reports.html",
        form=form,
        report=report,
        filters=filters,
        charts=_charts(report),
        fmt=Formatter(_locale()),
        tables=table_titles(),
        views=view_links(),
    ), 200


@bp.get("/reports/<table>.csv", endpoint="report_csv")
@admin_page
def report_csv(table: str) -> Response | tuple[str, int]:
    """Export one table of the report as CSV (counts and times only, no personal data)."""
    if table not in reports.TABLES + queue_reports.QUEUE_TABLES:
        abort(404)
    form, filters = parse_filters()
    if filters is None:
        return render_template(
            "admin/reports.html", form=form, report=None, views=view_links()
        ), 400
    period = (db.session, filters.office, filters.first_day, filters.last_day)
    if table == "hours":
        columns, rows = queue_reports.hour_table(queue_reports.build_hour_report(*period))
    elif table == "desks":
        columns, rows = queue_reports.desk_table(queue_reports.build_desk_report(*period))
    else:
        values = reports.report_table(reports.build_report(*period, _locale()), table)
        columns, rows = values.columns, values.rows
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([[_csv_safe(cell) for cell in row] for row in rows])
    scope = filters.office.code if filters.office else ALL_OFFICES
    filename = (
        f"report-{table}-{scope}-{filters.first_day.isoformat()}-{filters.last_day.isoformat()}.csv"
    )
    return Response(
        "\ufeff" + buffer.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _csv_safe(cell: reports.Cell) -> reports.Cell:
    """Keep spreadsheet programs from reading a text cell as a formula."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@"):
        return "'" + cell
    return cell


class Formatter:
    """Numbers, shares and durations in the viewer's language, for the page."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def number(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def share(self, value: float | None) -> str:
        if value is None:
            return "—"
        # The language's own percent pattern (spacing, sign order) with one decimal.
        pattern = Locale.parse(self.locale).percent_formats[None].pattern
        one_decimal = re.sub(r"0(?=[^0]*$)", "0.0", pattern, count=1)
        return format_percent(value, format=one_decimal, locale=self.locale)

    def days(self, value: timedelta | None) -> str:
        return self.number(None if value is None else value / timedelta(days=1), 1)

    def minutes(self, value: timedelta | None) -> str:
        return self.number(None if value is None else value / timedelta(minutes=1), 1)

    def day(self, value: date) -> str:
        return format_skeleton("MMMEd", value, locale=self.locale)

    def short_day(self, value: date) -> str:
        return format_skeleton("MMMd", value, locale=self.locale)


# Charts: SVG drawn here, in a fixed coordinate system that the browser scales.
CHART_WIDTH, CHART_HEIGHT = 720, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 8, 12, 36
MAX_X_LABELS = 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    text: str


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Chart:
    """A bar chart ready to draw, with the texts that describe it."""

    id: str
    title: str
    description: str
    table_id: str
    series: list[str]
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    reference_line: float | None = None
    # What the chart leaves out, shown under it and read with its description.
    note: str = ""
    # Where days are left out between two bars: a dashed line marks each gap.
    breaks: tuple[float, ...] = ()
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def plot_left(self) -> int:
        return MARGIN_LEFT

    @property
    def plot_right(self) -> int:
        return self.width - MARGIN_RIGHT

    @property
    def plot_top(self) -> int:
        return MARGIN_TOP

    @property
    def plot_bottom(self) -> int:
        return self.height - MARGIN_BOTTOM


def _nice_ceiling(value: float) -> float:
    """A round number at least `value` for the top of an axis (1, 2, 2.5, 5 × 10^n)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    table_id: str,
    categories: Sequence[Any],
    series: Sequence[tuple[str, Sequence[float | None]]],
    y_max: float,
    value_text: Callable[[float | None], str],
    category_text: Callable[[Any], str],
    reference_line: float | None = None,
    breaks: Sequence[int] = (),
    note: str = "",
) -> Chart:
    """Bars per category (a day, an hour, a desk), one per series side by side, on a shared
    vertical scale; `breaks`: the indices of the categories that follow a gap."""
    plot_width = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    bottom = CHART_HEIGHT - MARGIN_BOTTOM
    group = plot_width / max(1, len(categories))
    bar_width = group * 0.8 / max(1, len(series))

    def y_of(value: float) -> float:
        return bottom - plot_height * min(value, y_max) / y_max

    bars: list[Bar] = []
    for index, category in enumerate(categories):
        for number, (label, values) in enumerate(series):
            value = values[index]
            top = y_of(value or 0)
            bars.append(
                Bar(
                    x=round(MARGIN_LEFT + group * index + group * 0.1 + bar_width * number, 2),
                    y=round(top, 2),
                    width=round(bar_width, 2),
                    height=round(bottom - top, 2),
                    series=number,
                    text=_(
                        "%(day)s, %(measure)s: %(value)s",
                        day=category_text(category),
                        measure=label,
                        value=value_text(value),
                    ),
                )
            )
    y_ticks = [Tick(round(y_of(y_max * i / 4), 2), value_text(y_max * i / 4)) for i in range(5)]
    every = max(1, math.ceil(len(categories) / MAX_X_LABELS))
    x_ticks = [
        Tick(round(MARGIN_LEFT + group * (index + 0.5), 2), category_text(category))
        for index, category in enumerate(categories)
        if index % every == 0
    ]
    return Chart(
        id=chart_id,
        title=title,
        description=description,
        table_id=table_id,
        series=[label for label, _values in series],
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        reference_line=None if reference_line is None else round(y_of(reference_line), 2),
        breaks=tuple(round(MARGIN_LEFT + group * index, 2) for index in breaks),
        note=note,
    )


def _count_axis(highest: float) -> int:
    """The top of an axis of counts: a round number with whole numbers on every tick."""
    count_max = max(4, math.ceil(_nice_ceiling(highest)))
    if count_max % 4:
        count_max += 4 - count_max % 4
    return count_max


def _after_gaps(days: Sequence[date]) -> list[int]:
    """The indices of the days that do not follow the day before them in the calendar."""
    return [i for i in range(1, len(days)) if (days[i] - days[i - 1]).days > 1]


def _charts(report: Report) -> list[Chart]:
    """Bookings, cancellations and no-shows per working day; capacity use per working day.

    Days on which the office did not work (no seats offered, nothing booked, no ticket)
    are left out of the charts, and a dashed line marks where; the table keeps every day.
    """
    fmt = Formatter(_locale())
    rows = [row for row in report.days if row.is_working_day]
    days = [row.day for row in rows]
    breaks = _after_gaps(days)
    first, last = fmt.day(report.first_day), fmt.day(report.last_day)
    closed = len(report.days) - len(rows)
    left_out = (
        ngettext(
            "%(num)d day on which the office did not work (no seats offered, nothing "
            "booked or issued) is left out; a dashed line marks the gap.",
            "%(num)d days on which the office did not work (no seats offered, nothing "
            "booked or issued) are left out; a dashed line marks each gap.",
            closed,
        )
        if closed
        else _("The office worked on every day of the period.")
    )
    highest = max(
        (max(r.counts.bookings, r.counts.cancellations, r.counts.no_shows) for r in rows),
        default=0,
    )
    uses = [row.capacity.use for row in rows]
    use_max = max(1.0, _nice_ceiling(max((u for u in uses if u is not None), default=0)))
    return [
        bar_chart(
            chart_id="chart-outcomes",
            title=_("Bookings, cancellations and no-shows per day"),
            description=_(
                "Three bars for each day from %(first)s to %(last)s: bookings, cancellations "
                "and no-shows. At most %(highest)s on one day. The table below the chart "
                "gives every number.",
                first=first,
                last=last,
                highest=fmt.number(highest),
            ),
            note=left_out,
            table_id="table-days",
            categories=days,
            series=[
                (_("Bookings"), [r.counts.bookings for r in rows]),
                (_("Cancellations"), [r.counts.cancellations for r in rows]),
                (_("No-shows"), [r.counts.no_shows for r in rows]),
            ],
            y_max=_count_axis(highest),
            value_text=lambda value: fmt.number(value),
            category_text=fmt.short_day,
            breaks=breaks,
        ),
        bar_chart(
            chart_id="chart-capacity",
            title=_("Capacity use per day"),
            description=_(
                "One bar for each day from %(first)s to %(last)s: the share of the seats "
                "offered to online booking that bookings took; the line marks 100%%. "
                "Overall: %(use)s. The table below the chart gives every number.",
                first=first,
                last=last,
                use=fmt.share(report.capacity.use),
            ),
            note=left_out,
            table_id="table-days",
            categories=days,
            series=[(_("Capacity use"), uses)],
            y_max=use_max,
            value_text=fmt.share,
            category_text=fmt.short_day,
            reference_line=1.0,
            breaks=breaks,
        ),
    ]


def table_titles() -> dict[str, tuple[str, str]]:
    """Each CSV table's anchor on the page and title, by its name in reports.TABLES."""
    return {
        "days": ("table-days", _("By day")),
        "services": ("table-services", _("By service")),
        "day-times": ("table-day-times", _("Times by day")),
        "service-times": ("table-service-times", _("Times by service")),
    }


def view_links() -> list[tuple[str, str]]:
    """The report's views, as (endpoint, title), in the order the page lists them."""
    return [
        ("admin.reports", _("By day")),
        ("admin.report_hours", _("By hour of the day")),
        ("admin.report_desks", _("By desk")),
    ]


def _hour_text(hour: int) -> str:
    return f"{hour:02d}:00"


def _hour_range(hour: int) -> str:
    return f"{_hour_text(hour)}–{_hour_text((hour + 1) % 24)}"


def _hour_charts(report: queue_reports.HourReport) -> list[Chart]:
    """Arrivals and visitors served per hour; the mean waiting time per hour of arrival."""
    fmt = Formatter(_locale())
    hours = [row.hour for row in report.hours]
    highest = max((max(row.arrivals, row.served) for row in report.hours), default=0)
    waits = [
        None if row.wait.mean is None else row.wait.mean / timedelta(minutes=1)
        for row in report.hours
    ]
    longest = max((wait for wait in waits if wait is not None), default=0.0)
    return [
        bar_chart(
            chart_id="chart-hour-arrivals",
            title=_("Arrivals and visitors served by hour of the day"),
            description=_(
                "Two bars for each hour of the office's local day: visitors who arrived "
                "(checked in or given a walk-in ticket) and visitors marked served in that "
                "hour. At most %(highest)s in one hour. The table below the chart gives "
                "every number.",
                highest=fmt.number(highest),
            ),
            table_id="table-hours",
            categories=hours,
            series=[
                (_("Arrivals"), [row.arrivals for row in report.hours]),
                (pgettext("count of visitors", "Served"), [row.served for row in report.hours]),
            ],
            y_max=_count_axis(highest),
            value_text=lambda value: fmt.number(value),
            category_text=_hour_text,
        ),
        bar_chart(
            chart_id="chart-hour-wait",
            title=_("Mean waiting time by hour of arrival"),
            description=_(
                "One bar for each hour of the office's local day: the mean time, in "
                "minutes, from arrival to the first call of the visitors who arrived in "
                "that hour. At most %(longest)s minutes. The table below the chart gives "
                "every number.",
                longest=fmt.number(longest, 1),
            ),
            table_id="table-hours",
            categories=hours,
            series=[(_("Mean waiting time (minutes)"), waits)],
            y_max=max(1.0, _nice_ceiling(longest)),
            value_text=lambda value: fmt.number(value, 1),
            category_text=_hour_text,
        ),
    ]


def desk_label(row: queue_reports.DeskRow, all_offices: bool) -> str:
    """A desk's name on the page: with its office when the report covers every office."""
    if all_offices:
        return _(
            "%(office)s, desk %(desk)s", office=row.office.display_name(_locale()), desk=row.name
        )
    return _("Desk %(desk)s", desk=row.name)


def _desk_charts(report: queue_reports.DeskReport) -> list[Chart]:
    """Visitors served and missed per desk."""
    fmt = Formatter(_locale())
    highest = max((max(row.served, row.missed) for row in report.desks), default=0)
    every_office = report.office is None
    return [
        bar_chart(
            chart_id="chart-desks",
            title=_("Visitors served and missed by desk"),
            description=_(
                "Two bars for each desk: the visitors it served and those it called who "
                "ended missed. At most %(highest)s at one desk. The table below the chart "
                "gives every number, with the service times and each desk's share.",
                highest=fmt.number(highest),
            ),
            table_id="table-desks",
            categories=report.desks,
            series=[
                (pgettext("count of visitors", "Served"), [row.served for row in report.desks]),
                (pgettext("count of visitors", "Missed"), [row.missed for row in report.desks]),
            ],
            y_max=_count_axis(highest),
            value_text=lambda value: fmt.number(value),
            category_text=lambda row: desk_label(row, every_office),
        )
    ]


def _queue_page(
    template: str, build: Callable[..., Any], charts: Callable[[Any], list[Chart]]
) -> tuple[str, int]:
    """Parse the filter, build one of the queue's reports and render its page."""
    form, filters = parse_filters()
    if filters is None:
        return render_template(template, form=form, report=None, views=view_links()), 400
    report = build(db.session, filters.office, filters.first_day, filters.last_day)
    return render_template(
        template,
        form=form,
        report=report,
        filters=filters,
        charts=charts(report),
        fmt=Formatter(_locale()),
        views=view_links(),
        hour_range=_hour_range,
        desk_label=desk_label,
    ), 200


@bp.get("/reports/hours", endpoint="report_hours")
@admin_page
def report_hours_page() -> tuple[str, int]:
    """Show arrivals, visitors served and waiting times by hour of the office's day."""
    return _queue_page("admin/report_hours.html", queue_reports.build_hour_report, _hour_charts)


@bp.get("/reports/desks", endpoint="report_desks")
@admin_page
def report_desks_page() -> tuple[str, int]:
    """Show what each desk did in the period: visitors served and missed, service times."""
    return _queue_page("admin/report_desks.html", queue_reports.build_desk_report, _desk_charts)
