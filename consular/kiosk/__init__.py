"""The waiting-room kiosk: a tablet where visitors take a walk-in ticket or check in."""

from flask import Blueprint

bp = Blueprint("kiosk", __name__, url_prefix="/kiosk")

from consular.kiosk import views  # noqa: E402,F401
