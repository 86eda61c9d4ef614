"""The time of the current request: the real clock, or the one a test set in the config."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from consular.models.base import now_utc


def now() -> datetime:
    """The current time, as an aware UTC datetime."""
    clock = current_app.config.get("CLOCK") or now_utc
    return clock()
