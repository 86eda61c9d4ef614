"""Who may open the administration pages: administrators only."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required

from consular.auth import account_gate
from consular.models import User


def acting_admin() -> User:
    """The signed-in administrator (the view is guarded by `admin_page`)."""
    return current_user._get_current_object()


def admin_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Sign-in required, the password changed when asked, and the admin role; else 403."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = acting_admin()
        gate = account_gate(user)
        if gate is not None:
            return gate
        if not user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
