"""Command-line tools: demo data, slots, holidays, mail delivery and accounts."""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask_babel import force_locale

from consular import backup  # noqa: F401 - defines `flask db backup` in Flask-Migrate's group
from consular.extensions import db
from consular.models import Office, Role, User, now_utc
from consular.services import schedule
from consular.services.password_policy import context_words, password_problems
from consular.services.passwords import hash_password

log = logging.getLogger(__name__)


def _offices(codes: tuple[str, ...]) -> list[Office]:
    query = sa.select(Office).order_by(Office.id)
    if codes:
        query = query.where(Office.code.in_(codes))
    offices = list(db.session.scalars(query))
    unknown = set(codes) - {o.code for o in offices}
    if unknown:
        raise click.BadParameter(f"unknown office: {', '.join(sorted(unknown))}")
    return offices


@click.group("slots")
def slots_group() -> None:
    """Generate bookable slots from the offices' schedules."""


@slots_group.command("extend")
@click.option("--office", "codes", multiple=True, help="Office code (default: every office).")
@click.option("--days", type=click.IntRange(1, 400), default=None, help="Horizon in days.")
def extend_slots(codes: tuple[str, ...], days: int | None) -> None:
    """Create the slots of the coming days and drop free slots the schedule no longer has."""
    horizon = days or current_app.config["SLOT_HORIZON_DAYS"]
    now = now_utc()
    for office in _offices(codes):
        changes = schedule.sync_slots(db.session, office, now, horizon)
        db.session.commit()
        click.echo(
            f"{office.code}: {changes.created} created, {changes.updated} updated, "
            f"{changes.removed} removed, {changes.orphaned} kept with bookings"
        )


@click.group("holidays")
def holidays_group() -> None:
    """Public holidays as closures."""


@holidays_group.command("load")
@click.option("--office", "codes", multiple=True, help="Office code (default: every office).")
@click.option("--years", default=2, type=click.IntRange(1, 10), help="This year and the next N-1.")
def load_holidays(codes: tuple[str, ...], years: int) -> None:
    """Load Korean and Kazakh public holidays as closures (removed ones stay removed)."""
    this_year = now_utc().year
    for office in _offices(codes):
        added = schedule.load_public_holidays(
            db.session, office, list(range(this_year, this_year + years))
        )
        db.session.commit()
        click.echo(f"{office.code}: {added} holidays added")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing if any office exists already.")
def seed_demo(if_empty: bool) -> None:
    """Load the demo offices, services, hours and accounts; safe to run again."""
    from consular.demo import seed

    if if_empty and db.session.scalar(sa.select(Office.id).limit(1)) is not None:
        click.echo("Offices exist already; demo data not loaded.")
        return
    accounts = seed(db.session, now_utc(), current_app.config["SLOT_HORIZON_DAYS"])
    db.session.commit()
    click.echo("Demo data is loaded.")
    for email, password, role in accounts:
        click.echo(f"  {role:8} {email}  password: {password}")


@click.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.password_option()
def create_admin(email: str, name: str, password: str) -> None:
    """Create an administrator account."""
    offices = db.session.scalars(sa.select(Office)).all()
    with force_locale("en"):
        problems = password_problems(password, context_words(name, email, offices))
    if problems:
        raise click.BadParameter(" ".join(problems), param_hint="password")
    existing = db.session.scalar(sa.select(User).where(User.email == email.lower()))
    if existing is not None:
        raise click.ClickException(f"an account with {email} exists already")
    db.session.add(
        User(email=email.lower(), name=name, password_hash=hash_password(password), role=Role.ADMIN)
    )
    db.session.commit()
    click.echo(f"Administrator {email} created.")


@click.group("mail")
def mail_group() -> None:
    """Deliver the email outbox."""


@mail_group.command("send")
@click.option("--loop", is_flag=True, help="Keep delivering until stopped (SIGTERM or Ctrl-C).")
@click.option(
    "--interval", default=5.0, type=click.FloatRange(0.1, 3600), help="Seconds between rounds."
)
def send_mail(loop: bool, interval: float) -> None:
    """Deliver due messages over SMTP, retrying failures with backoff.

    With --loop the worker outlives outages of the database and the SMTP server (it logs them
    and waits with backoff), and on SIGTERM or SIGINT finishes the message in hand, then exits."""
    from consular import clock
    from consular.config import ConfigError
    from consular.services import mail

    try:
        transport = mail.transport_from_config(current_app.config)
    except ConfigError as error:
        raise click.ClickException(str(error)) from error
    max_attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    claim_timeout = mail.claim_timeout_of(transport)

    def echo(report: mail.DeliveryReport) -> None:
        if report.attempted:
            click.echo(f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed")

    if not loop:
        report = mail.deliver_due(
            db.session, transport, clock.now(), max_attempts, claim_timeout=claim_timeout
        )
        echo(report)
        if report.server_down:
            # A failed run, for cron's mail or the timer's status: every message still waits.
            log.error("mail delivery: the SMTP server is unavailable (%s)", report.server_error)
            raise click.ClickException(
                f"the SMTP server is unavailable ({report.server_error}); "
                "every message waits for the next run"
            )
        return
    stop = threading.Event()
    with _stopped_by_signals(stop):
        mail.run_worker(
            db.session,
            transport,
            clock.now,
            max_attempts,
            interval,
            stop,
            echo,
            claim_timeout=claim_timeout,
        )
    click.echo("Mail worker stopped.")


@contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """Set `stop` on SIGTERM (systemd's stop) and SIGINT instead of dying mid-message."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    for number in previous:
        signal.signal(number, lambda _number, _frame: stop.set())
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@click.group("reminders")
def reminders_group() -> None:
    """Reminders before visits."""


@reminders_group.command("send")
def send_reminders() -> None:
    """Queue the reminders due now (3 days and 1 day before); safe to run often."""
    from consular.clock import now
    from consular.services.booking import policy_from_config
    from consular.services.reminders import send_due_reminders

    queued = send_due_reminders(db.session, now(), policy_from_config(current_app.config))
    db.session.commit()
    click.echo(f"{queued} reminders queued")


@click.group("queue")
def queue_group() -> None:
    """The day's queue."""


@queue_group.command("close-day")
@click.option("--office", "codes", multiple=True, help="Office code (default: every office).")
@click.option("--day", "day_text", default=None, help="YYYY-MM-DD (default: today at each office).")
def close_day(codes: tuple[str, ...], day_text: str | None) -> None:
    """Mark booked visitors who never came as no-shows and close open tickets; safe to rerun."""
    from datetime import date

    from consular.clock import now
    from consular.services import queue

    moment = now()
    for office in _offices(codes):
        day = date.fromisoformat(day_text) if day_text else queue.service_day(office, moment)
        no_shows, closed = queue.close_day(db.session, office, day, moment)
        db.session.commit()
        click.echo(f"{office.code} {day}: {no_shows} no-shows, {closed} open tickets closed")


@click.group("retention")
def retention_group() -> None:
    """Erasing personal data after the retention period."""


@retention_group.command("purge")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Retention period in days (default: RETENTION_DAYS).",
)
def purge_retention(days: int | None) -> None:
    """Erase the personal data of visits past the retention period; safe to run daily."""
    from consular.clock import now
    from consular.services import retention

    retention_days = days or current_app.config["RETENTION_DAYS"]
    if retention_days < 1:
        raise click.ClickException(f"RETENTION_DAYS must be at least 1, not {retention_days}")
    report = retention.purge_personal_data(db.session, now(), retention_days)
    db.session.commit()
    click.echo(
        f"{report.appointments} appointments purged (visits that ended before "
        f"{report.cutoff:%Y-%m-%d %H:%M} UTC): {report.outbox_messages} emails, "
        f"{report.manage_tokens} manage links, {report.tickets} tickets, "
        f"{report.audit_entries} audit entries, {report.origins} booking origins, "
        f"{report.lottery_entries} lottery entries, {report.waitlist_entries} waiting-list "
        f"entries and {report.booking_drafts} expired booking drafts erased"
    )


@click.group("reports")
def reports_group() -> None:
    """The daily figures that administrators' reports read."""


@reports_group.command("rollup")
@click.option("--office", "codes", multiple=True, help="Office code (default: every office).")
@click.option(
    "--wait",
    default=60.0,
    type=click.FloatRange(0, 3600),
    help="Seconds to wait for transactions already running (PostgreSQL).",
)
def rollup_reports(codes: tuple[str, ...], wait: float) -> None:
    """Store the figures of the days that are over and have none; safe to run again."""
    from consular.clock import now
    from consular.services import figures

    moment = now()
    settle_days = current_app.config["REPORT_SETTLE_DAYS"]
    if settle_days < 1:
        raise click.ClickException(f"REPORT_SETTLE_DAYS must be at least 1, not {settle_days}")
    offices = _offices(codes)
    pending = sum(figures.reserve_days(db.session, o, moment, settle_days) for o in offices)
    db.session.commit()
    if pending and not figures.wait_for_writers(db.session, wait):
        db.session.rollback()
        raise click.ClickException(
            f"transactions still running after {wait:g} s: days left pending for the next run"
        )
    db.session.rollback()  # the wait's reads: the filling transactions start afresh
    for office in offices:
        days = figures.pending_days(db.session, office)
        stored = 0
        for start in range(0, len(days), figures.BATCH_DAYS):
            stored += figures.fill_days(
                db.session, office, days[start : start + figures.BATCH_DAYS], moment
            )
            db.session.commit()
        click.echo(f"{office.code}: {stored} days stored")


@reports_group.command("check")
@click.option("--office", "codes", multiple=True, help="Office code (default: every office).")
@click.option("--forget", is_flag=True, help="Delete the figures that differ.")
def check_reports(codes: tuple[str, ...], forget: bool) -> None:
    """Count every stored day again from the visits and list any figure that differs."""
    from consular.services import figures

    stale = figures.stale_figures(db.session, _offices(codes))
    for figure in stale:
        click.echo(f"{figure.office_code} {figure.day}: stored figures differ from the visits")
    if stale and forget:
        figures.forget(db.session, stale)
        db.session.commit()
        click.echo(f"{len(stale)} days forgotten: reports count them from the visits")
    elif stale:
        raise click.ClickException(f"{len(stale)} stale days (--forget deletes their figures)")
    else:
        click.echo("Stored figures match the visits.")


@click.group("lottery")
def lottery_group() -> None:
    """Lottery releases: the draw and offering seats down the line."""


@lottery_group.command("draw")
def draw_lotteries() -> None:
    """Draw every release whose draw time has passed; safe to run often (each draws once)."""
    from consular.clock import now
    from consular.services import lottery

    moment = now()
    policy = lottery.policy_from_config(current_app.config)
    for release_id in lottery.draw_due(db.session, moment, policy):
        result = lottery.draw(db.session, release_id, moment, policy)
        db.session.commit()
        if result is None:
            click.echo(f"release {release_id}: drawn meanwhile by another run")
            continue
        click.echo(
            f"release {release_id}: {result.entries} entries drawn (seed {result.seed}), "
            f"{result.offered} seats offered, {result.waiting} in line"
        )


@lottery_group.command("advance")
def advance_lotteries() -> None:
    """Settle the offers of drawn releases and offer the free seats to the next in line;
    safe to run often (the scheduler runs it every few minutes)."""
    from consular.clock import now
    from consular.services import lottery

    moment = now()
    policy = lottery.policy_from_config(current_app.config)
    for release_id in lottery.releases_to_advance(db.session):
        result = lottery.advance(db.session, release_id, moment, policy)
        db.session.commit()
        if result is not None:
            finished = ", finished" if result.finished else ""
            click.echo(
                f"release {release_id}: {result.lapsed} offers ended unconfirmed or declined, "
                f"{result.offered} seats offered{finished}"
            )


@click.group("waitlist")
def waitlist_group() -> None:
    """The waiting list: offers not claimed in time, and seats freed for those waiting."""


@waitlist_group.command("advance")
def advance_waitlists() -> None:
    """For every office with someone waiting: lapse the offers past their claim time, end
    the entries whose days are over and offer the free seats down the list; safe to run
    often (every minute or few)."""
    from consular.clock import now
    from consular.services import waitlist

    moment = now()
    policy = waitlist.policy_from_config(current_app.config)
    for office in waitlist.offices_to_advance(db.session):
        result = waitlist.advance(db.session, office, moment, policy)
        db.session.commit()
        click.echo(
            f"{office.code}: {result.lapsed} offers lapsed, {result.ended} entries ended, "
            f"{result.offered} seats offered"
        )


def generate_password() -> str:
    """A random demo password that is easy to type."""
    return secrets.token_urlsafe(9)


def init_app(app: Flask) -> None:
    """Register the commands."""
    for command in (
        slots_group,
        holidays_group,
        seed_demo,
        create_admin,
        mail_group,
        reminders_group,
        queue_group,
        retention_group,
        reports_group,
        lottery_group,
        waitlist_group,
    ):
        app.cli.add_command(command)


__all__ = ["init_app", "generate_password"]
