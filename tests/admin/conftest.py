"""Admin fixtures: the staff fixtures (two offices, an account of each role) and sign-in."""

from __future__ import annotations

from tests.staff.conftest import PASSWORD, accounts, offices, sign_in  # noqa: F401
