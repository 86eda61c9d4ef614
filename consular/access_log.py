"""Access logs without the secrets some addresses carry.

The links in citizens' e-mails hold a token in their path (`/manage/<reference>/<token>`,
and the waiting-list and lottery entry links). The app exchanges it at once for the session
and redirects to an address without it, but the first request is still written to the
access log: gunicorn's logger here writes those paths with the token replaced, and README
("Production deployment") gives nginx the same rule.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

REDACTED = "[token]"
# /manage/<reference>/<token>, /waitlist/<reference>/<token> (not /waitlist/join/<office>),
# /lottery/entries/<reference>/<token>.
TOKEN_IN_PATH = re.compile(
    r"(?P<link>/(?:manage|waitlist(?!/join/)|lottery/entries)/[^/?#\s]+/)[^/?#\s]+"
)


def redact_tokens(text: str) -> str:
    """The text (a path, a request line or a referrer) with every link token replaced."""
    return TOKEN_IN_PATH.sub(lambda found: found["link"] + REDACTED, text)


class TokenRedactingLogger(Logger):
    """gunicorn's logger, writing every request value without link tokens."""

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta
    ) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        # Every text a log format may name: the request line, the path, the referrer, and the
        # headers and environment values gunicorn offers as {name}i and {name}e.
        return {
            key: redact_tokens(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }
