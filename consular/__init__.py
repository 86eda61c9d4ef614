"""consular: appointment booking and queue system for Kazakhstan's consular offices in Korea."""

from __future__ import annotations

import ipaddress
import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user
from werkzeug.routing import IntegerConverter
from werkzeug.wrappers import Response as WerkzeugResponse

from consular.config import check_config, load_config
from consular.extensions import babel, compress, csrf, db, limiter, login_manager, migrate
from consular.models.i18n import LANGUAGES, localized, localized_list

if TYPE_CHECKING:
    from consular.models import Office

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def select_locale() -> str:
    """Choose the language: the one picked in this session, else a signed-in account's own,
    else the browser's preference."""
    if not has_request_context():
        return "en"
    chosen = session.get("language")
    if chosen in LANGUAGES:
        return chosen
    account = _account_language()
    if account is not None:
        return account
    return request.accept_languages.best_match(LANGUAGES) or "en"


def _account_language() -> str | None:
    """The language chosen for the signed-in account, if any (citizens have no account: their
    sessions never load one)."""
    if "_user_id" not in session:
        return None
    language = getattr(current_user, "language", None)
    return language if current_user.is_authenticated and language in LANGUAGES else None


class ConsularApp(Flask):
    """Flask, with a view run once more when its database connection died under it and
    nothing was committed (consular/outage.py)."""

    def dispatch_request(self) -> Any:
        from consular.outage import dispatch_with_one_retry

        return dispatch_with_one_retry(super().dispatch_request)


class RowIdConverter(IntegerConverter):
    """`<id:name>`: a row id, 1 to 2**31 - 1; a larger number is a 404, not a database error."""

    def __init__(self, map: Any) -> None:
        super().__init__(map, min=1, max=2**31 - 1)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the application."""
    app = ConsularApp(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.url_map.converters["id"] = RowIdConverter
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(load_config(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    from consular.steady_clock import steady_now

    steady_now.grace = float(app.config["CLOCK_STEP_GRACE_SECONDS"])
    steady_now()  # the clock's starting point is the process's start, not its first request
    debug = app.debug or bool(app.config.get("DEBUG_MODE"))
    check_config(
        app.config,
        debug=debug,
        testing=bool(app.config.get("TESTING")),
        instance_path=app.instance_path,
    )
    from consular import observability

    observability.init_logging(app)
    if debug:
        app.config["SESSION_COOKIE_SECURE"] = False
        if not app.config.get("TESTING"):
            app.before_request(refuse_debug_from_afar)
    if app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_NAME"] == "session":
        # Sent over HTTPS only, for this host only and the whole site: no subdomain or
        # plain-HTTP page can set or overwrite it.
        app.config["SESSION_COOKIE_NAME"] = "__Host-session"
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if app.config["PROXY_COUNT"]:
        # Behind a reverse proxy, take the client's address from X-Forwarded-For so that
        # rate limits count per citizen, not per proxy; but only from a trusted proxy, so that
        # a client reaching gunicorn directly can't choose its address.
        from consular.clients import trusted_proxies

        app.wsgi_app = trusted_proxies(  # type: ignore[method-assign]
            app.wsgi_app, app.config["PROXY_COUNT"], app.config["TRUSTED_PROXIES"]
        )

    from consular.database import init_database, with_connect_timeout
    from consular.services.lottery_days import forget_releases

    with_connect_timeout(app.config)
    db.init_app(app)
    init_database(app)
    app.teardown_request(lambda _error: forget_releases(db.session))
    migrate.init_app(
        app,
        db,
        directory=str(PROJECT_ROOT / "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    limiter.init_app(app)
    observability.init_app(app)
    if app.config["COMPRESS_STATIC"]:
        compress.init_app(app)
        # Registered after the compressor's hook, so it runs before it (Flask runs them last
        # first).
        app.after_request(read_static_file_whole)
    from consular import availability_cache

    availability_cache.init_app(app)
    from consular import page_cache

    page_cache.init_app(app)
    login_manager.init_app(app)
    from consular import security

    security.init_app(app)

    from consular import auth

    auth.init_app(app)

    from consular.api import bp as api_bp
    from consular.booking import bp as booking_bp

    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)
    app.register_blueprint(booking_bp)
    from consular.lottery import bp as lottery_bp

    app.register_blueprint(lottery_bp)
    from consular.waitlist import bp as waitlist_bp

    app.register_blueprint(waitlist_bp)
    from consular.staff import bp as staff_bp

    app.register_blueprint(staff_bp)
    from consular.kiosk import bp as kiosk_bp

    app.register_blueprint(kiosk_bp)
    from consular.admin import bp as admin_bp

    app.register_blueprint(admin_bp)

    from consular import cli, errors

    cli.init_app(app)
    errors.init_app(app)
    app.context_processor(template_helpers)
    from consular.services.predicates import TEMPLATE_GLOBALS

    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    from consular.services.timefmt import iso_day

    app.jinja_env.filters["iso_day"] = iso_day
    from consular.booking.forms import APPLICANT_FIELDS

    # Fields whose messages name them, so that the error summary need not repeat the label.
    app.jinja_env.globals["SELF_NAMING_FIELDS"] = frozenset(APPLICANT_FIELDS)
    app.add_url_rule("/__ping", "ping", ping)
    app.add_url_rule("/favicon.ico", "favicon", favicon)
    from consular import outage

    outage.init_app(app)
    return app


def ping() -> Response:
    """A trivial answer through every hook of the app: for load balancers' health checks, and
    the yardstick the benchmark measures the other routes against."""
    return Response("ok", mimetype="text/plain")


def read_static_file_whole(response: Response) -> Response:
    """Hand a static file to the compressor as bytes rather than as an open file: it
    compresses only streams with brotli (never gzip), and leaves the file open."""
    if request.endpoint == "static" and response.status_code == 200 and response.direct_passthrough:
        response.direct_passthrough = False
        response.make_sequence()  # reads the file and closes it with the response
    return response


def favicon() -> WerkzeugResponse:
    """The icon browsers ask for at /favicon.ico, where no page names one: the site's SVG."""
    from flask import redirect, url_for

    response = redirect(url_for("static", filename="favicon.svg"), 301)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def from_loopback() -> bool:
    """Whether the request came from this machine itself, judged by the address the
    connection really came from (before a forwarded header is read)."""
    original = request.environ.get("werkzeug.proxy_fix.orig") or {}
    address = original.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or ""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def refuse_debug_from_afar() -> Response | None:
    """Debug mode serves demo accounts and the development mailbox: only to this machine."""
    if from_loopback():
        return None
    return Response(
        "Debug mode (CONSULAR_DEBUG) answers only on this machine (127.0.0.1). "
        "Bind to 127.0.0.1, or run without debug mode.\n",
        status=403,
        mimetype="text/plain",
    )


def template_helpers() -> dict[str, Any]:
    """Names every template can use: the current language and a picker of localized texts."""
    from consular.clock import now
    from consular.services import timefmt

    locale = str(get_locale() or "en")
    names = timefmt.weekday_names(locale)

    def opening_hours(office: Office, week_from: date | None = None) -> list[tuple[str, str]]:
        """The office's hours of the week from `week_from` (today at the office if None)."""
        day = week_from or now().astimezone(office.zone).date()
        return timefmt.opening_hours(office, names, day)

    return {
        "current_locale": locale,
        "localized": lambda texts: localized(texts, locale),
        "localized_list": lambda texts: localized_list(texts, locale),
        "local_date": lambda moment, office: timefmt.local_date_text(moment, office.zone, locale),
        "local_time": lambda moment, office: timefmt.local_time_text(moment, office.zone, locale),
        "zone_name": lambda office, moment: timefmt.zone_label(office.zone, moment, locale),
        "day_text": lambda day, form="full": timefmt.day_text(day, locale, form),
        "month_text": lambda day: timefmt.month_text(day, locale),
        "weekday_names": names,
        "opening_hours": opening_hours,
    }
