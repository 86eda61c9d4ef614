"""Pages for consulate staff: the day's queue, calling to desks, walk-ins and the display."""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")

from consular.staff import booking_views, desk_views, schedule_views, views  # noqa: E402,F401
