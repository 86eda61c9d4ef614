"""Reports for administrators: a filter form, tables, charts drawn as SVG, and CSV files."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent
from flask import Response, abort, render_template, request
from flask_babel import get_locale, lazy_pgettext
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
from consular.services import reports
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
        return render_template("admin/reports.html", form=form, report=None), 400
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
    ), 200


@bp.get("/reports/<table>.csv", endpoint="report_csv")
@admin_page
def report_csv(table: str) -> Response | tuple[str, int]:
    """Export one table of the report as CSV (counts and times only, no personal data)."""
    if table not in reports.TABLES:
        abort(404)
    form, filters = parse_filters()
    if filters is None:
        return render_template("admin/reports.html", form=form, report=None), 400
    report = reports.build_report(
        db.session, filters.office, filters.first_day, filters.last_day, _locale()
    )
    values = reports.report_table(report, table)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(values.columns)
    writer.writerows([[_csv_safe(cell) for cell in row] for row in values.rows])
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
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def plot_left(self) -> int:
        return MARGIN_LEFT

    @property
    def plot_right(self) -> int:
        return self.width - MARGIN_RIGHT

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
    days: Sequence[date],
    series: Sequence[tuple[str, Sequence[float | None]]],
    y_max: float,
    value_text: Callable[[float | None], str],
    day_text: Callable[[date], str],
    reference_line: float | None = None,
) -> Chart:
    """Bars per day, one per series side by side, on a shared vertical scale."""
    plot_width = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    bottom = CHART_HEIGHT - MARGIN_BOTTOM
    group = plot_width / max(1, len(days))
    bar_width = group * 0.8 / max(1, len(series))

    def y_of(value: float) -> float:
        return bottom - plot_height * min(value, y_max) / y_max

    bars: list[Bar] = []
    for index, day in enumerate(days):
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
                        day=day_text(day),
                        measure=label,
                        value=value_text(value),
                    ),
                )
            )
    y_ticks = [Tick(round(y_of(y_max * i / 4), 2), value_text(y_max * i / 4)) for i in range(5)]
    every = max(1, math.ceil(len(days) / MAX_X_LABELS))
    x_ticks = [
        Tick(round(MARGIN_LEFT + group * (index + 0.5), 2), day_text(day))
        for index, day in enumerate(days)
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
    )


def _charts(report: Report) -> list[Chart]:
    """Bookings, cancellations and no-shows per day; capacity use per day."""
    fmt = Formatter(_locale())
    days = [row.day for row in report.days]
    first, last = fmt.day(report.first_day), fmt.day(report.last_day)
    highest = max(
        (max(r.counts.bookings, r.counts.cancellations, r.counts.no_shows) for r in report.days),
        default=0,
    )
    count_max = max(4, math.ceil(_nice_ceiling(highest)))
    if count_max % 4:
        count_max += 4 - count_max % 4  # whole numbers on every tick
    uses = [row.capacity.use for row in report.days]
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
            table_id="table-days",
            days=days,
            series=[
                (_("Bookings"), [r.counts.bookings for r in report.days]),
                (_("Cancellations"), [r.counts.cancellations for r in report.days]),
                (_("No-shows"), [r.counts.no_shows for r in report.days]),
            ],
            y_max=count_max,
            value_text=lambda value: fmt.number(value),
            day_text=fmt.short_day,
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
            table_id="table-days",
            days=days,
            series=[(_("Capacity use"), uses)],
            y_max=use_max,
            value_text=fmt.share,
            day_text=fmt.short_day,
            reference_line=1.0,
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
