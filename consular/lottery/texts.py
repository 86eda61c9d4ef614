"""How the states of releases and entries read on the citizens' and administrators' pages."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

STATE_TEXT: dict[str, LazyString] = {
    "announced": _l("Announced: entries not open yet"),
    "open": _l("Open for entries"),
    "closed": _l("Entries closed: waiting for the draw"),
    "drawn": _l("Drawn: seats are being offered in draw order"),
    "finished": _l("Finished"),
    "cancelled": _l("Cancelled"),
}

ENTRY_STATUS_TEXT: dict[str, LazyString] = {
    "unverified": _l("Waiting for the code from the email"),
    "entered": _l("In the draw"),
    "withdrawn": _l("Withdrawn"),
    "waiting": _l("In line for a seat"),
    "offered": _l("A seat is offered: confirm it"),
    "booked": _l("Booked"),
    "declined": _l("Declined"),
    "lapsed": _l("Not confirmed in time"),
    "ineligible": _l("Passed over: already booked for this service"),
    "not_served": _l("No seat came free"),
}

PART_TEXT: dict[str, LazyString] = {
    "": _l("any time of day"),
    "morning": _l("morning"),
    "afternoon": _l("afternoon"),
}

EVENT_TEXT: dict[str, LazyString] = {
    "offered": _l("Seat offered"),
    "confirmed": _l("Confirmed"),
    "declined": _l("Declined"),
    "lapsed": _l("Not confirmed in time"),
    "refused": _l("The seat could not be held"),
    "not_served": _l("No seat came free"),
    "finished": _l("The lottery is over"),
}
