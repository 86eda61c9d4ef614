"""Pages for citizens about lottery releases: what a release is, entering it, the result."""

from flask import Blueprint

bp = Blueprint("lottery", __name__, url_prefix="/lottery")

from consular.lottery import views  # noqa: E402,F401
