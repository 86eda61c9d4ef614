"""The base of every administration form, and how a form and a service's refusal meet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask_wtf import FlaskForm
from wtforms import SelectField

from consular.services.errors import DomainError, ValidationFailed
from consular.transaction import transaction

T = TypeVar("T")


def _without_nul(value: Any) -> Any:
    # PostgreSQL refuses NUL in text; nobody types one, so it is dropped rather than refused.
    return value.replace("\x00", "") if isinstance(value, str) else value


class AdminForm(FlaskForm):
    """A Flask-WTF form whose text fields never carry a NUL character to the database."""

    class Meta:
        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Any:
            filters = [*unbound_field.kwargs.get("filters", ()), _without_nul]
            return unbound_field.bind(form=form, filters=filters, **options)


def choice_values(field: SelectField) -> set[Any]:
    """The values a choice field offers, whether its choices are a flat list or in groups."""
    choices = field.choices or []
    if isinstance(choices, dict):
        choices = [choice for group in choices.values() for choice in group]
    return {choice[0] for choice in choices}


def attach_errors(form: FlaskForm, error: ValidationFailed) -> None:
    """Show a service's field errors next to the form's fields of the same name."""
    for name, messages in error.fields.items():
        target = form._fields.get(name)
        if target is not None:
            target.errors = [*(target.errors or []), *messages]


def validated(form: FlaskForm, check: Callable[[], object]) -> bool:
    """Validate the form and the service's own check together, so every problem shows at once."""
    valid = form.validate()
    try:
        check()
    except ValidationFailed as error:
        attach_errors(form, error)
        valid = False
    return valid


def apply_change(
    form: FlaskForm, general_errors: list[str], change: Callable[[], T]
) -> tuple[bool, T | None]:
    """Run one change in one transaction; if it is refused, show why on the form."""
    try:
        with transaction():
            return True, change()
    except ValidationFailed as error:
        attach_errors(form, error)
    except DomainError as error:
        general_errors.append(str(error.message))
    return False, None
