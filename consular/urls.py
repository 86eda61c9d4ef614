"""Where a page may send the browser back to: only a path of this site."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Browsers drop tabs and line breaks anywhere in an address and the other control characters
# and spaces at its ends, and read a backslash as a slash: "/\t/evil.example" becomes
# "//evil.example", another site. A target holding any of these is never followed.
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def is_local_path(target: str) -> bool:
    """Whether a redirect to `target` stays on this site: an absolute path, nothing else."""
    if not target.startswith("/") or target.startswith("//") or _UNSAFE.search(target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def local_target(target: str | None, default: str) -> str:
    """`target` if it is a path of this site, else `default`."""
    return target if target and is_local_path(target) else default
