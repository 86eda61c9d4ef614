"""The base of every administration form."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm


def _without_nul(value: Any) -> Any:
    # PostgreSQL refuses NUL in text; nobody types one, so it is dropped rather than refused.
    return value.replace("\x00", "") if isinstance(value, str) else value


class AdminForm(FlaskForm):
    """A Flask-WTF form whose text fields never carry a NUL character to the database."""

    class Meta:
        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Any:
            filters = [*unbound_field.kwargs.get("filters", ()), _without_nul]
            return unbound_field.bind(form=form, filters=filters, **options)
