"""Forms of a manager's change to one block of opening hours."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, TimeField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

EFFECTIVE_FROM_HINT = _l("Leave empty to change it from today. Days before keep the old hours.")


class PeriodForm(FlaskForm):
    opens_at = TimeField(_l("Opens"), validators=[InputRequired(_l("Give the opening time."))])
    closes_at = TimeField(_l("Closes"), validators=[InputRequired(_l("Give the closing time."))])
    desks = IntegerField(
        _l("Desks"),
        validators=[
            InputRequired(_l("Give the number of desks.")),
            NumberRange(1, 100, _l("Desks must be between 1 and 100.")),
        ],
    )
    effective_from = DateField(
        _l("From (optional)"), description=EFFECTIVE_FROM_HINT, validators=[Optional()]
    )


class BreakForm(FlaskForm):
    starts_at = TimeField(
        _l("Break begins"), validators=[InputRequired(_l("Give the time the break begins."))]
    )
    ends_at = TimeField(
        _l("Break ends"), validators=[InputRequired(_l("Give the time the break ends."))]
    )
    effective_from = DateField(
        _l("From (optional)"), description=EFFECTIVE_FROM_HINT, validators=[Optional()]
    )


class RemovalForm(FlaskForm):
    effective_from = DateField(
        _l("From (optional)"),
        description=_l("Leave empty to remove it from today. Days before keep these hours."),
        validators=[Optional()],
    )
    confirm = BooleanField(
        _l("Yes, remove these hours"),
        validators=[DataRequired(_l("Tick the box to confirm the removal."))],
    )
