"""What every page carries for browsers and search engines, and how static files travel."""

from __future__ import annotations

import gzip

import brotli
import pytest

from consular import create_app
from tests.conftest import base_config


def fetch(client, url: str, **headers: str):
    """The answer, read whole and closed (static files are sent from open files)."""
    response = client.get(url, headers=headers)
    response.get_data()
    response.close()
    return response


def test_every_page_names_its_icon_and_describes_itself(client) -> None:
    page = client.get("/").text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert '<meta name="description" content="Book a visit to the consular section' in page
    russian = client.get("/", headers={"Accept-Language": "ru"}).text
    assert '<meta name="description" content="Book a visit' not in russian


def test_the_default_icon_address_leads_to_the_icon(client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.headers["Location"] == "/static/favicon.svg"
    icon = fetch(client, "/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.data.startswith(b"<svg")


@pytest.mark.parametrize(("encoding", "decompress"), [("br", brotli.decompress),
                                                      ("gzip", gzip.decompress)])  # fmt: skip
def test_static_text_is_compressed_for_browsers_that_accept_it(client, encoding, decompress):
    plain = fetch(client, "/static/css/site.css").data
    response = fetch(client, "/static/css/site.css", **{"Accept-Encoding": encoding})
    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.headers["Vary"]
    body = decompress(response.data)
    assert body == plain and len(response.data) < len(plain) / 2


def test_pages_are_never_compressed_so_their_secrets_cannot_leak_by_length(client) -> None:
    response = client.get("/book", headers={"Accept-Encoding": "br, gzip"})
    assert response.status_code == 200 and "csrf_token" in response.text
    assert "Content-Encoding" not in response.headers


def test_compression_can_be_left_to_the_proxy(database_url, clock) -> None:
    app = create_app(base_config(database_url, clock) | {"COMPRESS_STATIC": False})
    response = fetch(app.test_client(), "/static/css/site.css", **{"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers
