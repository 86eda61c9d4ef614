"""Staff sign-in: loading the account of a session, and the sign-in pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from consular.extensions import db, login_manager
from consular.models import User

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


def init_app(app: Flask) -> None:
    """Attach the account loader and the sign-in pages."""
    from consular.auth.views import bp

    login_manager.user_loader(load_user)
    # "basic" marks a session with another address or browser as not fresh; "strong" would
    # sign out clerks whose address changes between two requests on the consulate network.
    login_manager.session_protection = "basic"
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    app.register_blueprint(bp)
