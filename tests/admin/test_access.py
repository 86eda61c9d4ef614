"""The access matrix of the administration: every admin URL (found in the app's URL map, so
a new page can't be forgotten) against every kind of visitor. The review of suspicious
bookings, which managers read too, has its own matrix in tests/admin/test_review.py."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import ServiceType
from tests.admin.conftest import sign_in

VISITORS = ["anonymous", "clerk_seoul", "clerk_busan", "manager_seoul", "admin"]
# Pages of the administration that managers may open as well (their own matrix elsewhere).
FOR_MANAGERS_TOO = ("admin.review",)


def admin_requests(app, values: dict[str, object]) -> list[tuple[str, str]]:
    """(method, url) of every admin rule for administrators only, with its parameters filled
    from `values`."""
    requests = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin.") or rule.endpoint.startswith(FOR_MANAGERS_TOO):
            continue
        arguments = {name: values.get(name, 1) for name in rule.arguments}
        url = rule.build(arguments, append_unknown=False)[1]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            requests.append((method, url))
    return sorted(requests)


def test_the_matrix_covers_the_administration(app) -> None:
    urls = {url.split("/")[2] if url.count("/") > 1 else "" for _, url in admin_requests(app, {})}
    assert {"services", "offices"} <= urls
    assert "review" not in urls
    review = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.review")}
    assert review == {"admin.review", "admin.review_cluster", "admin.review_cancel"}


@pytest.mark.parametrize("visitor", VISITORS)
def test_only_administrators_get_in(app, client, accounts, offices, visitor) -> None:
    seoul, _ = offices
    service = db.session.scalar(sa.select(ServiceType))
    values = {
        "service_id": service.id,
        "office_id": seoul.id,
        "user_id": accounts["clerk_seoul"].id,
        "account_id": accounts["clerk_seoul"].id,
    }
    if visitor != "anonymous":
        sign_in(client, accounts[visitor].email)
    for method, url in admin_requests(app, values):
        response = client.open(url, method=method)
        if visitor == "anonymous":
            assert response.status_code == 302, (method, url)
            assert "/staff/sign-in" in response.headers["Location"], (method, url)
        elif visitor != "admin":
            assert response.status_code == 403, (method, url, visitor)
        else:
            assert response.status_code < 500 and response.status_code != 403, (method, url)
