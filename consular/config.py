"""Configuration: defaults, then environment variables, then a test mapping on top."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete for the way the app is run."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from error


def _float(name: str, default: float, maximum: float = 60) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from error
    if not 0 <= value <= maximum:
        raise ConfigError(f"{name} must be between 0 and {maximum:g} seconds, not {raw!r}")
    return value


def _words(name: str, default: str) -> tuple[str, ...]:
    """A list setting: words separated by spaces or commas, lower case."""
    raw = os.environ.get(name)
    text = default if raw is None or raw.strip() == "" else raw
    return tuple(word.lower() for word in text.replace(",", " ").split())


def load_config(instance_path: str) -> dict[str, Any]:
    """Read the settings from the environment, with defaults for local development."""
    sqlite_path = Path(instance_path) / "consular.sqlite3"
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{sqlite_path}"
    smtp_host = os.environ.get("MAIL_SMTP_HOST", "")
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # Each pooled connection is checked before use: one that died with a database
        # restart is replaced, not handed to a request.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Seconds a new PostgreSQL connection may take (consular.database.with_connect_timeout).
        "DATABASE_CONNECT_TIMEOUT": _int("DATABASE_CONNECT_TIMEOUT", 3),
        "DEBUG_MODE": _bool(os.environ.get("CONSULAR_DEBUG")),
        # How long a step of the system clock is held off before it is believed
        # (consular/steady_clock.py); 0 follows the system clock at once.
        "CLOCK_STEP_GRACE_SECONDS": _float("CLOCK_STEP_GRACE_SECONDS", 600, maximum=3600),
        # Booking rules
        "SLOT_HORIZON_DAYS": _int("SLOT_HORIZON_DAYS", 60),
        "HOLD_MINUTES": _int("HOLD_MINUTES", 10),
        "RELEASE_DELAY_MINUTES": _int("RELEASE_DELAY_MINUTES", 30),
        # A cancelled seat returns at a random moment up to this long after the delay.
        "RELEASE_JITTER_MINUTES": _int("RELEASE_JITTER_MINUTES", 30),
        # Fair access: live holds and bookings per IIN, per mailbox, per phone number and
        # per private e-mail domain, and holds per office per minute (0: no limit).
        "QUOTA_PER_IIN": _int("QUOTA_PER_IIN", 3),
        "QUOTA_PER_EMAIL": _int("QUOTA_PER_EMAIL", 5),
        "QUOTA_PER_PHONE": _int("QUOTA_PER_PHONE", 5),
        "QUOTA_PER_PRIVATE_DOMAIN": _int("QUOTA_PER_PRIVATE_DOMAIN", 5),
        "QUOTA_HOLDS_PER_OFFICE_MINUTE": _int("QUOTA_HOLDS_PER_OFFICE_MINUTE", 0),
        "PUBLIC_EMAIL_DOMAINS": _words(
            "PUBLIC_EMAIL_DOMAINS",
            "gmail.com googlemail.com naver.com daum.net hanmail.net kakao.com nate.com "
            "mail.ru inbox.ru list.ru bk.ru yandex.ru yandex.kz ya.ru icloud.com me.com "
            "outlook.com hotmail.com live.com msn.com yahoo.com proton.me protonmail.com",
        ),
        "CODE_MAX_ATTEMPTS": _int("CODE_MAX_ATTEMPTS", 5),
        "CODE_MAX_SENDS": _int("CODE_MAX_SENDS", 3),
        "PASSPORT_PATTERN": os.environ.get("PASSPORT_PATTERN", r"[A-Z][0-9]{8}"),
        # The review of suspicious bookings: a hold made in fewer seconds than this from the
        # first page of the journey (or the API's challenge) is listed as implausibly fast.
        "REVIEW_FAST_SECONDS": _int("REVIEW_FAST_SECONDS", 20),
        # How long the code e-mailed for a lottery entry can be entered.
        "LOTTERY_CODE_MINUTES": _int("LOTTERY_CODE_MINUTES", 30),
        # How long the code e-mailed to join the waiting list can be entered, and how long
        # a seat offered to someone waiting is held for them to claim.
        "WAITLIST_CODE_MINUTES": _int("WAITLIST_CODE_MINUTES", 30),
        "WAITLIST_CLAIM_HOURS": _int("WAITLIST_CLAIM_HOURS", 24),
        # How many reverse proxies stand in front of the app (0: none), and the peers whose
        # X-Forwarded-For and -Proto are believed: addresses or networks, and `unix` for a
        # peer on gunicorn's Unix socket (consular.clients.TrustedProxies).
        "PROXY_COUNT": _int("PROXY_COUNT", 0),
        "TRUSTED_PROXIES": _words("TRUSTED_PROXIES", "127.0.0.0/8 ::1 unix"),
        # Requests larger than this are refused with 413 before they are read.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 256 * 1024),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        # Days after a visit (or a cancelled or expired booking) before its personal data
        # is erased by `flask retention purge`.
        "RETENTION_DAYS": _int("RETENTION_DAYS", 180),
        # The queue: minutes after a visit's start before it may be marked a no-show, and
        # minutes without an action after which a clerk's desk is free for another clerk.
        "NO_SHOW_GRACE_MINUTES": _int("NO_SHOW_GRACE_MINUTES", 15),
        "DESK_IDLE_MINUTES": _int("DESK_IDLE_MINUTES", 30),
        # A staff session ends after this many minutes without a request, and this many
        # hours after signing in, whatever happened in between.
        "STAFF_IDLE_MINUTES": _int("STAFF_IDLE_MINUTES", 30),
        "STAFF_SESSION_HOURS": _int("STAFF_SESSION_HOURS", 12),
        # The roles that must sign in with a second factor (a passkey or an authenticator
        # app); "none" requires it of nobody. Any account may add one all the same.
        "STAFF_SECOND_FACTOR_ROLES": tuple(
            role
            for role in _words("STAFF_SECOND_FACTOR_ROLES", "manager admin")
            if role in ("clerk", "manager", "admin")
        ),
        # The domain passkeys are registered for (by default PUBLIC_BASE_URL's host name):
        # passkeys registered for one domain don't work on another.
        "WEBAUTHN_RP_ID": os.environ.get("WEBAUTHN_RP_ID", ""),
        # How many days after a day ends `flask reports rollup` stores its figures.
        "REPORT_SETTLE_DAYS": _int("REPORT_SETTLE_DAYS", 1),
        # Mail
        "MAIL_SMTP_HOST": smtp_host,
        "MAIL_SMTP_PORT": _int("MAIL_SMTP_PORT", 587),
        "MAIL_SMTP_USER": os.environ.get("MAIL_SMTP_USER", ""),
        "MAIL_SMTP_PASSWORD": os.environ.get("MAIL_SMTP_PASSWORD", ""),
        "MAIL_SMTP_TLS": os.environ.get("MAIL_SMTP_TLS", "starttls").lower(),
        "MAIL_SMTP_TIMEOUT": _int("MAIL_SMTP_TIMEOUT", 15),
        "MAIL_SENDER": os.environ.get(
            "MAIL_SENDER", "Consular appointments <no-reply@consular.localhost>"
        ),
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", 8),
        # With no SMTP host, mail stays in the outbox and shows on the development mailbox page.
        "MAIL_DEV_MAILBOX": _bool(os.environ.get("MAIL_DEV_MAILBOX"), default=not smtp_host),
        # Rate limits
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": _bool(os.environ.get("RATELIMIT_ENABLED"), default=True),
        "RATELIMIT_HEADERS_ENABLED": True,
        # How long availability may be shown from the cache (0: always read the database),
        # and where it is kept: in each worker's memory, or shared in Redis.
        "AVAILABILITY_CACHE_SECONDS": _float("AVAILABILITY_CACHE_SECONDS", 1.0),
        "AVAILABILITY_CACHE_URL": os.environ.get("AVAILABILITY_CACHE_URL", "memory://"),
        # How long a rendered staff day page may be kept (0: render every time; a kept page
        # is served only while the database's versions of what it shows are unchanged), and
        # where: each worker's memory, or Redis (by default where the availability cache is).
        "STAFF_PAGE_CACHE_SECONDS": _float("STAFF_PAGE_CACHE_SECONDS", 600.0, maximum=86400),
        "STAFF_PAGE_CACHE_URL": os.environ.get("STAFF_PAGE_CACHE_URL")
        or os.environ.get("AVAILABILITY_CACHE_URL", "memory://"),
        "BOOKING_RATE_LIMIT": os.environ.get("BOOKING_RATE_LIMIT", "10 per minute;60 per hour"),
        # Tickets and check-ins at one waiting-room kiosk (a device, whatever its address): a
        # busy morning is a visitor every few seconds, a stuck button is many a second.
        "KIOSK_RATE_LIMIT": os.environ.get("KIOSK_RATE_LIMIT", "20 per minute;600 per hour"),
        # Holds (pages and API together) and looks at free times, per address (above) and per
        # network, /24 or /64 (below): one network may be a campus or a carrier's shared pool.
        "BOOKING_NETWORK_RATE_LIMIT": os.environ.get(
            "BOOKING_NETWORK_RATE_LIMIT", "30 per minute;300 per hour"
        ),
        "AVAILABILITY_RATE_LIMIT": os.environ.get("AVAILABILITY_RATE_LIMIT", "60 per minute"),
        "AVAILABILITY_NETWORK_RATE_LIMIT": os.environ.get(
            "AVAILABILITY_NETWORK_RATE_LIMIT", "600 per minute"
        ),
        # Proof of work (ALTCHA) in front of every hold; README, "Fair access".
        "POW_ENABLED": _bool(os.environ.get("POW_ENABLED"), default=True),
        # Signs the challenges; derived from SECRET_KEY when empty.
        "POW_HMAC_KEY": os.environ.get("POW_HMAC_KEY", ""),
        "POW_EXPIRY_SECONDS": _int("POW_EXPIRY_SECONDS", 300),
        # PBKDF2-SHA-256 iterations of one attempt, and the largest counter at normal load.
        "POW_COST": _int("POW_COST", 1000),
        "POW_BASE_MAX_NUMBER": _int("POW_BASE_MAX_NUMBER", 5000),
        # The rise: holds at the office and from the client's network in the last minutes.
        "POW_WINDOW_MINUTES": _int("POW_WINDOW_MINUTES", 10),
        "POW_OFFICE_NORMAL_HOLDS": _int("POW_OFFICE_NORMAL_HOLDS", 20),
        "POW_OFFICE_MAX_FACTOR": _int("POW_OFFICE_MAX_FACTOR", 8),
        "POW_NETWORK_FREE_HOLDS": _int("POW_NETWORK_FREE_HOLDS", 5),
        "POW_NETWORK_MAX_FACTOR": _int("POW_NETWORK_MAX_FACTOR", 256),
        "POW_CHALLENGE_RATE_LIMIT": os.environ.get(
            "POW_CHALLENGE_RATE_LIMIT", "30 per minute;300 per hour"
        ),
        # Staff sign-in (consular.services.sign_in_throttle): failed tries per address across
        # accounts; the growing wait of an (e-mail, address) pair after wrong passwords; the
        # proof of work asked after an account's wrong passwords from anywhere; and how many
        # password verifications one process runs at once, and waits for a turn.
        "SIGN_IN_RATE_LIMIT": os.environ.get("SIGN_IN_RATE_LIMIT", "20 per minute;100 per hour"),
        "SIGN_IN_FREE_FAILURES": _int("SIGN_IN_FREE_FAILURES", 3),
        "SIGN_IN_FIRST_DELAY_SECONDS": _int("SIGN_IN_FIRST_DELAY_SECONDS", 1),
        "SIGN_IN_MAX_DELAY_SECONDS": _int("SIGN_IN_MAX_DELAY_SECONDS", 300),
        "SIGN_IN_FORGET_HOURS": _int("SIGN_IN_FORGET_HOURS", 24),
        "SIGN_IN_POW_AFTER_FAILURES": _int("SIGN_IN_POW_AFTER_FAILURES", 5),
        "SIGN_IN_POW_WINDOW_MINUTES": _int("SIGN_IN_POW_WINDOW_MINUTES", 15),
        "SIGN_IN_POW_MAX_NUMBER": _int("SIGN_IN_POW_MAX_NUMBER", 5000),
        "SIGN_IN_HASH_CONCURRENCY": _int("SIGN_IN_HASH_CONCURRENCY", 2),
        "SIGN_IN_HASH_WAIT_SECONDS": _float("SIGN_IN_HASH_WAIT_SECONDS", 0.5, maximum=10),
        # Logs on standard error: the lowest level written, and json (one object a line) or
        # text; empty: json, or text in debug mode (README, "Health, metrics and logs").
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "").strip().lower(),
        # Who may read /metrics: the connection's peer and the client a trusted proxy speaks
        # for must both be among these addresses or networks (`unix`: gunicorn's socket), and
        # with a token set the request must carry it as "Authorization: Bearer <token>".
        "METRICS_ALLOW": _words("METRICS_ALLOW", "127.0.0.0/8 ::1"),
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        # Languages
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        # Compression of the static files (CSS, JavaScript, SVG) by the app, for a server
        # without a proxy that compresses. Pages are never compressed: a compressed page that
        # holds a secret (a CSRF token, a manage link) next to text an attacker can inject
        # leaks it by its length (BREACH).
        "COMPRESS_STATIC": _bool(os.environ.get("COMPRESS_STATIC"), default=True),
        "COMPRESS_MIMETYPES": [
            "text/css",
            "text/javascript",
            "application/javascript",
            "image/svg+xml",
        ],
        "COMPRESS_ALGORITHM": ["br", "gzip"],
        # Pages that may frame the waiting-room display (a CSP frame-ancestors value such as
        # "https://signage.example.org"); empty: no page may.
        "DISPLAY_FRAME_ANCESTORS": os.environ.get("DISPLAY_FRAME_ANCESTORS", "").strip(),
        # Cookies
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), default=True),
        # The browser forgets the cookie when the longest staff session would end anyway.
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_int("STAFF_SESSION_HOURS", 12)),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
    }


DEV_SECRET_FILE = "dev-secret-key"


def development_secret(instance_path: str) -> str:
    """The debug server's secret key: random, made once per instance folder and kept there
    (readable by its owner only), so that a session cookie can't be forged from a secret
    anyone can read in the source, and sessions survive a restart of `make run`."""
    path = Path(instance_path) / DEV_SECRET_FILE
    try:
        secret = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        secret = ""
    if len(secret) < 64:
        secret = secrets.token_hex(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secret + "\n")
    return secret


def check_config(
    config: dict[str, Any], *, debug: bool, testing: bool, instance_path: str = ""
) -> None:
    """Refuse to run outside debug and tests without the settings production needs."""
    _check_proof_of_work(config)
    _check_sign_in(config)
    count = config.get("PROXY_COUNT")
    if not isinstance(count, int) or not 0 <= count <= 5:
        raise ConfigError(f"PROXY_COUNT must be a whole number from 0 to 5, not {count!r}")
    if testing:
        if not config.get("SECRET_KEY"):
            config["SECRET_KEY"] = "tests-only-not-secret"
        return
    # A staff session ends neither at once nor never (tests move their clock by weeks).
    for name, low, high in (("STAFF_IDLE_MINUTES", 1, 24 * 60), ("STAFF_SESSION_HOURS", 1, 24)):
        value = config.get(name)
        if not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    if debug:
        if not config.get("SECRET_KEY"):
            config["SECRET_KEY"] = development_secret(instance_path)
        return
    if not config.get("SECRET_KEY"):
        raise ConfigError(
            "SECRET_KEY is not set. Set it to a long random value "
            '(python -c "import secrets; print(secrets.token_hex(32))").'
        )


def _check_proof_of_work(config: dict[str, Any]) -> None:
    """Refuse proof-of-work settings that would make every hold impossible or free."""
    for name, low, high in (
        ("POW_EXPIRY_SECONDS", 30, 3600),
        ("POW_COST", 1, 1_000_000),
        ("POW_BASE_MAX_NUMBER", 1, 10_000_000),
        ("POW_WINDOW_MINUTES", 1, 1440),
        ("POW_OFFICE_NORMAL_HOLDS", 1, 1_000_000),
        ("POW_OFFICE_MAX_FACTOR", 1, 1024),
        ("POW_NETWORK_FREE_HOLDS", 0, 1_000_000),
        ("POW_NETWORK_MAX_FACTOR", 1, 1024),
    ):
        value = config.get(name)
        if not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {value!r}")


def _check_sign_in(config: dict[str, Any]) -> None:
    """Refuse sign-in throttle settings that would lock everyone out or protect nothing."""
    for name, low, high in (
        ("SIGN_IN_FREE_FAILURES", 1, 100),
        ("SIGN_IN_FIRST_DELAY_SECONDS", 1, 3600),
        ("SIGN_IN_MAX_DELAY_SECONDS", 1, 86400),
        ("SIGN_IN_FORGET_HOURS", 1, 24 * 30),
        ("SIGN_IN_POW_AFTER_FAILURES", 0, 1000),
        ("SIGN_IN_POW_WINDOW_MINUTES", 1, 1440),
        ("SIGN_IN_POW_MAX_NUMBER", 1, 10_000_000),
        ("SIGN_IN_HASH_CONCURRENCY", 1, 64),
    ):
        value = config.get(name)
        if not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    wait = config.get("SIGN_IN_HASH_WAIT_SECONDS")
    if not isinstance(wait, int | float) or not 0 <= wait <= 10:
        raise ConfigError(f"SIGN_IN_HASH_WAIT_SECONDS must be from 0 to 10 seconds, not {wait!r}")
