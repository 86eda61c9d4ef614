"""A fixture for tests that need an app of their own settings beside (or instead of) the
`app` fixture's: a dead database, another PROXY_COUNT, Redis, a log format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from consular import create_app
from consular.extensions import db
from tests.conftest import DEFAULT_NOW, Clock, base_config


@pytest.fixture
def app_with(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Make apps on a database with settings over the tests' own; their connections are
    closed after the test."""
    made: list[Flask] = []

    def make(database_url: str, **settings: object) -> Flask:
        app = create_app(base_config(database_url, Clock(DEFAULT_NOW)) | settings)
        app.instance_path = str(tmp_path)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.engine.dispose()
