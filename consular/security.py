"""The security headers of every answer: what the browser may load, frame, send and keep.

Set once for the whole app, after every view, so that no page or API answer can miss them
(tests/test_security_headers.py walks the URL map). A view that needs a narrower exception
says so with `allow_inline_styles()` or a Cache-Control of its own.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request
from werkzeug.wrappers import Response

# Only the app's own files: no inline script or style, no plug-ins, no other origin, and no
# page of another site may frame ours (clickjacking).
BASE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "media-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-src": "'self'",
    "frame-ancestors": "'none'",
}
# Browser features no page of ours uses (the kiosk reads QR codes with a scanner that types).
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), "
    "gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)
HSTS = "max-age=31536000; includeSubDomains"


def allow_inline_styles() -> None:
    """Let this answer's markup carry style attributes: only for showing an e-mail (whose
    HTML must inline its styles for mail programs) in a sandboxed frame, which inherits the
    page's policy. Scripts stay forbidden."""
    g.inline_styles = True


def content_security_policy() -> str:
    policy = dict(BASE_POLICY)
    if g.get("inline_styles"):
        policy["style-src"] = "'self' 'unsafe-inline'"
    if request.endpoint == "staff.display" and current_app.config["DISPLAY_FRAME_ANCESTORS"]:
        # A signage system may show the waiting-room display inside its own page.
        policy["frame-ancestors"] = current_app.config["DISPLAY_FRAME_ANCESTORS"]
    return "; ".join(f"{name} {value}" for name, value in policy.items())


def security_headers(response: Response) -> Response:
    """Add the headers every answer carries; personal data is never kept by a cache."""
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy()
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("Referrer-Policy", "same-origin")
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if request.is_secure:
        headers["Strict-Transport-Security"] = HSTS
    if request.endpoint != "static":
        # Pages and API answers are made for one person at one moment: a shared or browser
        # cache must not keep them (static files are the same for everyone).
        headers.setdefault("Cache-Control", "no-store")
    headers.pop("Server", None)
    return response


def init_app(app: Flask) -> None:
    app.after_request(security_headers)
