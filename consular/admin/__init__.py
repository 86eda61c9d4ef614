"""Administration: service types, offices, accounts, email texts, lottery releases, reports,
the outgoing email and the audit log."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from consular.admin import (  # noqa: E402,F401
    account_views,
    audit_views,
    email_views,
    lottery_views,
    mail_views,
    office_views,
    report_views,
    review_views,
    service_views,
    views,
)
