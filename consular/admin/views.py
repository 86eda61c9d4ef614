"""The administration's start page and the list of its sections."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l

from consular.admin import bp
from consular.admin.access import admin_page

# (endpoint of the section's list page, the prefix of all its endpoints, label, description)
SECTIONS = (
    ("admin.services", "admin.service", _l("Service types"),
     _l("What citizens can book: texts in four languages, duration, rules, offices.")),
    ("admin.offices", "admin.office", _l("Offices"),
     _l("Names, addresses, time zones, contacts, slot length and schedules.")),
    ("admin.accounts", "admin.account", _l("Accounts"),
     _l("Clerks, managers and administrators: offices, deactivation, password resets.")),
    ("admin.email_texts", "admin.email", _l("Email texts"),
     _l("The wording of every email in each language, with a preview.")),
    ("admin.lottery_releases", "admin.lottery", _l("Lottery releases"),
     _l("Days given out by a seeded draw: entry windows, draws, their logs and checks.")),
    ("admin.reports", "admin.report", _l("Reports"),
     _l("Bookings, cancellations, no-shows, walk-ins, capacity and times, with CSV.")),
    ("admin.mail", "admin.mail", _l("Outgoing email"),
     _l("Emails waiting, being sent and failed; send the failed ones again.")),
    ("admin.audit_log", "admin.audit", _l("Audit log"),
     _l("Who changed what, when and at which office.")),
    ("admin.review", "admin.review", _l("Suspicious bookings"),
     _l("Bookings that share a network, an email domain, a phone or a device, or were made "
        "too fast; cancel a cluster.")),
)  # fmt: skip


@bp.app_context_processor
def admin_navigation() -> dict[str, Any]:
    """`admin_sections()` for the administration's menu and start page."""

    def admin_sections(with_descriptions: bool = False) -> list[tuple[Any, ...]]:
        sections = [s for s in SECTIONS if s[0] in current_app.view_functions]
        if with_descriptions:
            return [(endpoint, label, about) for endpoint, _, label, about in sections]
        return [(endpoint, prefix, label) for endpoint, prefix, label, _ in sections]

    return {"admin_sections": admin_sections}


@bp.get("/")
@admin_page
def index() -> str:
    """Show what administrators can configure and read."""
    return render_template("admin/index.html")
