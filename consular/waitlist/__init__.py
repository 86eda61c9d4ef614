"""Pages for citizens about the waiting list: joining it, their place, claiming an offer."""

from flask import Blueprint

bp = Blueprint("waitlist", __name__, url_prefix="/waitlist")

from consular.waitlist import views  # noqa: E402,F401
