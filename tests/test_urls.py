"""Redirect targets: only a path of this site is followed, whatever browsers strip or fold."""

from __future__ import annotations

import pytest

from consular.urls import is_local_path, local_target

# Every C0 control character, DEL and the space: browsers drop some anywhere in an address
# ("/\t/evil.example" is read as "//evil.example") and the rest at its ends.
CONTROLS = [chr(code) for code in range(0x21)] + ["\x7f"]


@pytest.mark.parametrize("target", ["/", "/book", "/staff/seoul?day=2026-12-01", "/a/b#c", "/кк"])
def test_a_path_of_this_site_is_followed(target: str) -> None:
    assert is_local_path(target)
    assert local_target(target, "/home") == target


@pytest.mark.parametrize(
    "target",
    [
        "",
        "book",
        "//evil.example",
        "///evil.example",
        "\\\\evil.example",
        "/\\evil",
        "/\\/evil.example",
        "https://evil",
        "https://evil.example/",
        "javascript:alert(1)",
        "http:/evil.example",
        "/ /evil.example",
        *[f"/{c}/evil.example" for c in CONTROLS],
        *[f"{c}//evil.example" for c in CONTROLS],
        *[f"/book{c}" for c in CONTROLS],
    ],
)
def test_anything_else_goes_to_the_default(target: str) -> None:
    assert not is_local_path(target)
    assert local_target(target, "/home") == "/home"


def test_no_target_goes_to_the_default() -> None:
    assert local_target(None, "/home") == "/home"
