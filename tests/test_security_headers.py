"""Every answer carries the security headers, on every route of the URL map, whatever its
status (issue 13, finding 2); tests/test_every_page.py checks them on every rendered page."""

from __future__ import annotations

import pytest
from flask import Flask

from consular.security import HSTS

# Answers that are the same for everyone and may be kept by a cache.
CACHEABLE = {"static", "favicon"}


def missing_headers(response, endpoint: str) -> list[str]:
    """The security headers `response` lacks or sets too weakly."""
    headers = response.headers
    missing = []
    policy = headers.get("Content-Security-Policy", "")
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    if directives.get("script-src") != "'self'":
        missing.append("CSP script-src 'self' (no inline script)")
    if directives.get("object-src") != "'none'" or directives.get("base-uri") != "'none'":
        missing.append("CSP object-src/base-uri 'none'")
    if directives.get("frame-ancestors") != "'none'":
        missing.append("CSP frame-ancestors 'none'")
    if "'unsafe-inline'" in directives.get("style-src", "") and endpoint != "admin.email_text_edit":
        missing.append("CSP style-src without 'unsafe-inline'")
    if headers.get("X-Content-Type-Options") != "nosniff":
        missing.append("X-Content-Type-Options")
    if headers.get("Referrer-Policy") not in ("same-origin", "no-referrer"):
        missing.append("Referrer-Policy")
    if "camera=()" not in headers.get("Permissions-Policy", ""):
        missing.append("Permissions-Policy")
    if "Server" in headers:
        missing.append("no Server header")
    if endpoint not in CACHEABLE and "no-store" not in headers.get("Cache-Control", ""):
        missing.append("Cache-Control: no-store")
    return missing


def _url(rule) -> str:
    """The rule's URL with a made-up value for each part (a number where it takes one)."""
    values = {
        name: 1 if type(converter).__name__ in ("IntegerConverter", "RowIdConverter") else "x"
        for name, converter in rule._converters.items()
    }
    return rule.build(values, append_unknown=False)[1]


def test_every_route_answers_with_the_security_headers(app: Flask, client) -> None:
    problems = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            url = _url(rule)
            response = client.open(url, method=method)
            if missing := missing_headers(response, rule.endpoint):
                problems.append(f"{method} {url} ({response.status_code}): {missing}")
            response.close()
    assert not problems, "\n".join(problems)


def test_a_missing_page_and_an_api_error_carry_them_too(client) -> None:
    for url in ("/no-such-page", "/api/v1/no-such-thing", "/api/v1/offices/nowhere/services"):
        response = client.get(url)
        assert response.status_code == 404
        assert missing_headers(response, "none") == [], url


def test_strict_transport_security_only_over_https(client) -> None:
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", base_url="https://consular.test")
    assert secure.headers["Strict-Transport-Security"] == HSTS


def test_the_display_may_be_framed_only_by_the_configured_page(app, client, make_office) -> None:
    make_office("seoul")
    from consular.extensions import db

    db.session.commit()
    policy = client.get("/staff/seoul/display").headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    app.config["DISPLAY_FRAME_ANCESTORS"] = "https://signage.example.org"
    policy = client.get("/staff/seoul/display").headers["Content-Security-Policy"]
    assert "frame-ancestors https://signage.example.org" in policy
    # Only the display: every other page still refuses to be framed.
    assert "frame-ancestors 'none'" in client.get("/").headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/staff/password", "/admin/accounts", "/admin/reports"])
def test_personal_pages_are_never_kept_by_a_cache(client, path) -> None:
    # Unsigned, they redirect to sign-in; the redirect is not kept either.
    assert "no-store" in client.get(path).headers["Cache-Control"]
