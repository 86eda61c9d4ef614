"""Pages for citizens: booking, managing and attending a visit."""

from flask import Blueprint

bp = Blueprint("booking", __name__)

from consular.booking import views  # noqa: E402,F401
