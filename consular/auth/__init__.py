"""Staff sign-in: loading the account of a session, and the sign-in pages."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_user, logout_user
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from consular.clock import now
from consular.extensions import db, login_manager
from consular.models import User
from consular.services import second_factors

# Built once, with the id as a parameter: every staff request runs it, and building the
# statement (and the key of its compiled form) cost more than the database took to answer.
_ACCOUNT = sa.select(User).options(joinedload(User.offices)).where(User.id == sa.bindparam("id"))


def load_user(session_id: str) -> User | None:
    """Load the account of a session, refusing sessions ended by sign-out or a password change."""
    user_id, _sep, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    # With the account's offices, which every staff page checks access against.
    user = db.session.execute(_ACCOUNT, {"id": int(user_id)}).unique().scalar_one_or_none()
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


# The moments a staff session began and was last used, kept in the signed session cookie:
# the browser can't change them, and a copy of an older cookie carries its older moments.
SIGNED_IN_AT = "staff_signed_in_at"
SEEN_AT = "staff_seen_at"


def start_staff_session() -> None:
    """Mark the session as a staff session that begins now (called at sign-in)."""
    moment = now().isoformat()
    session[SIGNED_IN_AT] = session[SEEN_AT] = moment
    session.permanent = True  # the cookie then expires with PERMANENT_SESSION_LIFETIME


# How this session passed the second step ("passkey", "authenticator_app", "recovery_code"),
# or that it set up its first second factor ("enrolled"); absent after a password alone.
SECOND_FACTOR = "staff_second_factor"
# A sign-in whose password was right, waiting for its second step: the account's session id
# (with its session version), when the password was checked, and where to go afterwards.
PENDING = "staff_pending_sign_in"
PENDING_MINUTES = 5


def _keep_only_language() -> None:
    """Start a new session (nothing carried over from before), in the same language."""
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language


def sign_in_now(user: User, second_factor: str | None, target: str) -> Response:
    """Start the staff session of an account whose sign-in is complete, and go on."""
    _keep_only_language()
    login_user(user)
    start_staff_session()
    if second_factor:
        session[SECOND_FACTOR] = second_factor
    if user.must_change_password:
        flash(_("Please choose a new password before you go on."), "info")
    return account_gate(user) or redirect(target)


def await_second_factor(user: User, target: str) -> Response:
    """Remember that the password was right and ask for the second factor."""
    _keep_only_language()
    session[PENDING] = {"account": user.get_id(), "at": now().isoformat(), "next": target}
    return redirect(url_for("auth.second_step"))


def pending_account() -> tuple[User, str] | None:
    """The account waiting for its second step and where it goes next, while that is fresh."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict):
        return None
    try:
        started = datetime.fromisoformat(str(pending.get("at")))
    except ValueError:
        return None
    if now() - started > timedelta(minutes=PENDING_MINUTES) or started > now():
        return None
    user = load_user(str(pending.get("account", "")))
    if user is None:
        return None
    return user, str(pending.get("next") or url_for("staff.index"))


def second_factor_missing(user: User) -> bool:
    """Whether the account's role requires a second factor this session has not shown."""
    roles = current_app.config["STAFF_SECOND_FACTOR_ROLES"]
    return second_factors.required_for(user, roles) and not session.get(SECOND_FACTOR)


def account_gate(user: User) -> Response | None:
    """Where a signed-in account must go before any staff page: a new password when asked,
    then a second factor when its role requires one and this session has none."""
    if user.must_change_password:
        return redirect(url_for("auth.change_password"))
    if second_factor_missing(user):
        return redirect(url_for("auth.security"))
    return None


def relying_party() -> second_factors.RelyingParty:
    """This site as passkeys know it: its domain and origin, from PUBLIC_BASE_URL."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    domain = current_app.config.get("WEBAUTHN_RP_ID") or base.hostname or "localhost"
    return second_factors.RelyingParty(
        id=domain, name=_("Consular appointments"), origin=f"{base.scheme}://{base.netloc}"
    )


def _moment(key: str) -> datetime | None:
    try:
        return datetime.fromisoformat(str(session.get(key)))
    except ValueError:
        return None


def end_stale_staff_session() -> Response | None:
    """Sign out a staff session unused for STAFF_IDLE_MINUTES or older than
    STAFF_SESSION_HOURS (a session without its moments counts as stale), saying why on the
    sign-in page. The day page's own refresh (X-Queue-Refresh) is not a use: an open page
    left alone still ends, and its refresh is told so (401) to go to the sign-in page."""
    if "_user_id" not in session:
        return None
    moment = now()
    config = current_app.config
    idle_minutes, hours = config["STAFF_IDLE_MINUTES"], config["STAFF_SESSION_HOURS"]
    signed_in, seen = _moment(SIGNED_IN_AT), _moment(SEEN_AT)
    refresh = request.headers.get("X-Queue-Refresh") == "1"
    if signed_in is None or seen is None:
        message = _("Please sign in to see this page.")
    elif moment - seen > timedelta(minutes=idle_minutes):
        message = _("You were signed out after %(num)d minutes without activity.", num=idle_minutes)
    elif moment - signed_in > timedelta(hours=hours):
        message = _("You were signed out: a staff session lasts at most %(num)d hours.", num=hours)
    else:
        if not refresh:
            session[SEEN_AT] = moment.isoformat()
        return None
    logout_user()
    _keep_only_language()
    flash(message, "info")
    sign_in = url_for("auth.sign_in", next=request.full_path.rstrip("?"))
    if refresh:
        return Response(status=401, headers={"X-Sign-In": sign_in})
    if request.method == "GET":
        return redirect(sign_in)
    return None  # the view's own sign-in check answers a form sent after the end


def init_app(app: Flask) -> None:
    """Attach the account loader and the sign-in pages."""
    from consular.auth import factor_views  # noqa: F401  (its routes are on the blueprint)
    from consular.auth.views import bp

    login_manager.user_loader(load_user)
    # "basic" marks a session with another address or browser as not fresh; "strong" would
    # sign out clerks whose address changes between two requests on the consulate network.
    login_manager.session_protection = "basic"
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    app.before_request(end_stale_staff_session)
    app.register_blueprint(bp)
