"""Rendered pages kept under the versions of what they show: the clerk's day page.

A page is kept under a key naming whatever of the request changes its HTML (the office,
the day and the office's today, the language, the account's role, the desk, the path) and
served while the versions the database keeps of what it shows (consular/models/
page_versions.py) are the ones it was rendered at. Every write the page would show raises
a version in the writing transaction, so the first request that can see the write reads a
new version and renders the page again, in this worker or any other: a kept page is never
older than the database. The versions are read before anything else of the page, so a page
rendered meanwhile is at worst newer than its version, never older.

What differs between two requests of one key is left as holes in the kept page and filled
for each request: the CSRF token (Flask-WTF makes one a request, which every form and
`csrf_token()` of the page writes) and the names the view gives (the account's name). A
request with something of its own to show (a flashed message, a focus target, a search)
renders the page itself, as without the cache.

Entries are kept in each worker's memory (the MEMORY_ENTRIES most recently used keys) or in
Redis (STAFF_PAGE_CACHE_URL), shared by every worker and host; a key holds the page of one
version (a new one replaces it) for at most STAFF_PAGE_CACHE_SECONDS (0 turns the cache off).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, current_app, g, session
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from consular.availability_cache import CacheStorage

MEMORY_ENTRIES = 64
CSRF_HOLE = "csrf_token"
_PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class KeptPage:
    """A rendered page as its UTF-8 text between holes: `chunks[i]`, then the value of
    `holes[i]`, then `chunks[i + 1]`."""

    version: str
    chunks: tuple[bytes, ...]
    holes: tuple[str, ...]

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        """The page with each hole filled with its (HTML-escaped) value."""
        parts = [self.chunks[0]]
        for hole, chunk in zip(self.holes, self.chunks[1:], strict=True):
            parts += (values[hole], chunk)
        return b"".join(parts)

    def encode(self) -> bytes:
        sizes = [len(chunk) for chunk in self.chunks]
        header = {"version": self.version, "holes": self.holes, "sizes": sizes}
        return json.dumps(header).encode() + b"\n" + b"".join(self.chunks)

    @classmethod
    def decode(cls, payload: bytes) -> KeptPage:
        line, _newline, body = payload.partition(b"\n")
        header = json.loads(line)
        chunks, offset = [], 0
        for size in header["sizes"]:
            chunks.append(body[offset : offset + size])
            offset += size
        return cls(header["version"], tuple(chunks), tuple(header["holes"]))


class PageCache(CacheStorage):
    """Kept pages, one version a key, each for at most `ttl` seconds."""

    namespace = "pages"

    def __init__(self, ttl: float, url: str = "memory://", entries: int = MEMORY_ENTRIES) -> None:
        super().__init__(url)
        self.ttl = ttl
        self.entries = entries
        self._memory: OrderedDict[str, tuple[float, KeptPage]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, key: str, version: str) -> KeptPage | None:
        """The page kept under `key` if it was rendered at `version`, else None."""
        if self._redis is not None:
            found = self._redis_call(lambda: self._redis.get(self._key(key)))
            page = KeptPage.decode(found) if found else None
        else:
            with self._lock:
                entry = self._memory.get(key)
                if entry is None:
                    return None
                deadline, page = entry
                if time.monotonic() > deadline:
                    del self._memory[key]
                    return None
                self._memory.move_to_end(key)
        return page if page is not None and page.version == version else None

    def put(self, key: str, page: KeptPage) -> None:
        """Keep `page` under `key` (instead of the page of another version)."""
        if self._redis is not None:
            payload = page.encode()
            ttl = max(1, int(self.ttl * 1000))
            self._redis_call(lambda: self._redis.set(self._key(key), payload, px=ttl))
            return
        with self._lock:
            self._memory[key] = (time.monotonic() + self.ttl, page)
            self._memory.move_to_end(key)
            while len(self._memory) > self.entries:
                self._memory.popitem(last=False)


def current() -> PageCache:
    return current_app.extensions["page_cache"]


@functools.cache
def code_fingerprint() -> str:
    """A digest of the code, templates and compiled catalogs this process renders with:
    part of every key, so that pages kept in Redis by another release are never served."""
    digest = hashlib.sha256()
    roots = (_PACKAGE, _PACKAGE.parent / "templates")
    for path in sorted(p for root in roots for p in root.rglob("*") if p.is_file()):
        if path.suffix in {".py", ".html", ".mo"}:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def has_own_content(*session_keys: str) -> bool:
    """Whether the request has something of its own to show: a flashed message or one of
    the session's `session_keys`."""
    return any(key in session for key in ("_flashes", *session_keys))


def render_with_holes(
    version: str, render: Callable[[Mapping[str, Markup]], str], names: Sequence[str]
) -> KeptPage:
    """Render a page with a random marker where the CSRF token and each of `names` go (the
    markers are given to `render`), and cut it at the markers."""
    markers = {name: secrets.token_hex(16) for name in (CSRF_HOLE, *names)}
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    token = generate_csrf()  # the request's own, which the session then knows
    setattr(g, field, markers[CSRF_HOLE])  # what generate_csrf gives until it is put back
    try:
        html = render({name: Markup(markers[name]) for name in names})
    finally:
        setattr(g, field, token)
    holes_by_marker = {marker: name for name, marker in markers.items()}
    pieces = re.split(f"({'|'.join(markers.values())})", html)
    return KeptPage(
        version,
        tuple(piece.encode() for piece in pieces[0::2]),
        tuple(holes_by_marker[marker] for marker in pieces[1::2]),
    )


def cached_page(
    key: Sequence[object],
    version: str,
    render: Callable[[Mapping[str, Markup]], str],
    values: Mapping[str, str],
) -> Response:
    """The page of `key` at `version`, kept or rendered and kept, with the request's CSRF
    token and `values` (HTML-escaped) in its holes."""
    cache = current()
    digest = hashlib.sha256(
        json.dumps([code_fingerprint(), *key], default=str).encode()
    ).hexdigest()
    page = cache.get(digest, version)
    if page is None:
        page = render_with_holes(version, render, list(values))
        cache.put(digest, page)
    filled = {name: str(escape(value)).encode() for name, value in values.items()}
    filled[CSRF_HOLE] = str(escape(generate_csrf())).encode()
    return Response(page.fill(filled), mimetype="text/html")


def init_app(app: Flask) -> None:
    app.extensions["page_cache"] = PageCache(
        float(app.config["STAFF_PAGE_CACHE_SECONDS"]), app.config["STAFF_PAGE_CACHE_URL"]
    )
