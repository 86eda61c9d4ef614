"""JSON API v1: offices, services, availability and appointments."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from consular.api import views  # noqa: E402,F401
