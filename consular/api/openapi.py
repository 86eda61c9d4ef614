"""The OpenAPI 3.1 description of API v1."""

from __future__ import annotations

from typing import Any


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI document."""
    return {"openapi": "3.1.0", "info": {"title": "consular API", "version": "1"}, "paths": {}}
