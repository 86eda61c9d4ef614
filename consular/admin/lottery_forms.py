"""The form of a lottery release; times are typed in the office's local time."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DateField, DateTimeLocalField, IntegerField, SelectField
from wtforms.validators import InputRequired, NumberRange

from consular.admin.catalog_forms import CheckboxesField
from consular.admin.form_base import AdminForm

LOCAL_MOMENT = "%Y-%m-%dT%H:%M"


def _moment(label: Any, description: Any = "") -> DateTimeLocalField:
    return DateTimeLocalField(
        label,
        format=LOCAL_MOMENT,
        description=description,
        validators=[InputRequired(message=_l("Enter a date and time."))],
    )


class ReleaseForm(AdminForm):
    """A release: where, what, which days, the entry window, the draw and the time to confirm."""

    office_id = SelectField(_l("Office"), coerce=int)
    service_ids = CheckboxesField(_l("Services given out by the lottery"), coerce=int)
    first_day = DateField(
        _l("First day given out"), validators=[InputRequired(message=_l("Enter a date."))]
    )
    last_day = DateField(
        _l("Last day given out"), validators=[InputRequired(message=_l("Enter a date."))]
    )
    opens_at = _moment(_l("Entries open"), _l("In the office's local time."))
    closes_at = _moment(_l("Entries close"), _l("In the office's local time."))
    draw_at = _moment(
        _l("Draw"),
        _l("At or after the closing time, and before the first day. `flask lottery draw` "
           "draws it when the time has come, or you can run it here."),
    )  # fmt: skip
    confirm_hours = IntegerField(
        _l("Hours a winner has to confirm"),
        description=_l("Unconfirmed seats then go to the next person in the draw's order."),
        validators=[
            InputRequired(message=_l("Enter a whole number.")),
            NumberRange(1, 336, message=_l("Enter a number from %(min)s to %(max)s.")),
        ],
    )
