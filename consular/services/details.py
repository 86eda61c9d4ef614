"""The extra details a service may collect, chosen by administrators from a defined set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from consular.services.identity import normalize_name, parse_iin

TEXT_MAX_LENGTH = 200


@dataclass(frozen=True)
class DetailField:
    name: str
    kind: str  # "name", "date", "past_date", "future_date", "iin", "document", "text", "flag"
    label: LazyString
    required: bool = True
    # A "flag" field of the same group that, when set, makes this one optional.
    waived_by: str | None = None
    hint: LazyString | None = None


@dataclass(frozen=True)
class DetailGroup:
    """A person or document described by a few fields, such as the spouse."""

    key: str
    label: LazyString
    fields: tuple[DetailField, ...]
    # The person must be identified by an IIN or, for a foreign citizen, a passport number.
    needs_identity: bool = False


# Each person's labels say whose detail it is, so that an error summary listing the mother's
# and the father's fields can be told apart.
PERSON_LABELS: dict[str, dict[str, LazyString]] = {
    "spouse": {
        "given_name": _l("Spouse's given name as in the passport"),
        "family_name": _l("Spouse's family name as in the passport"),
        "birth_date": _l("Spouse's date of birth"),
        "iin": _l("Spouse's IIN"),
        "foreign_passport": _l("Spouse's foreign passport number"),
    },
    "mother": {
        "given_name": _l("Mother's given name as in the passport"),
        "family_name": _l("Mother's family name as in the passport"),
        "birth_date": _l("Mother's date of birth"),
        "iin": _l("Mother's IIN"),
        "foreign_passport": _l("Mother's foreign passport number"),
    },
    "father": {
        "given_name": _l("Father's given name as in the passport"),
        "family_name": _l("Father's family name as in the passport"),
        "birth_date": _l("Father's date of birth"),
        "iin": _l("Father's IIN"),
        "foreign_passport": _l("Father's foreign passport number"),
    },
}


def _person(key: str, label: LazyString, *, with_birth_date: bool) -> DetailGroup:
    labels = PERSON_LABELS[key]
    fields = [
        DetailField("given_name", "name", labels["given_name"]),
        DetailField("family_name", "name", labels["family_name"]),
    ]
    if with_birth_date:
        fields.append(DetailField("birth_date", "past_date", labels["birth_date"]))
    fields += [
        DetailField("iin", "iin", labels["iin"], required=False),
        DetailField("foreign_passport", "document", labels["foreign_passport"], required=False),
    ]
    return DetailGroup(key, label, tuple(fields), needs_identity=True)


DETAIL_SETS: dict[str, tuple[DetailGroup, ...]] = {
    "current_passport": (
        DetailGroup(
            "current_passport",
            _l("Current passport"),
            (
                DetailField(
                    "expiry_date",
                    "date",
                    _l("Expiry date of the current passport"),
                    waived_by="lost",
                ),
                DetailField(
                    "lost",
                    "flag",
                    _l("The passport was lost or stolen"),
                    required=False,
                    hint=_l("Then no expiry date is needed. Bring the police report instead."),
                ),
            ),
        ),
    ),
    "spouse": (_person("spouse", _l("Spouse"), with_birth_date=True),),
    "child": (
        DetailGroup(
            "child",
            _l("Child"),
            (
                DetailField("given_name", "name", _l("Child's given name")),
                DetailField("family_name", "name", _l("Child's family name")),
                DetailField("birth_date", "past_date", _l("Child's date of birth")),
                DetailField("birth_place", "text", _l("Place of birth")),
            ),
        ),
    ),
    "parents": (
        _person("mother", _l("Mother"), with_birth_date=False),
        _person("father", _l("Father"), with_birth_date=False),
    ),
}


def groups_for(detail_sets: list[str]) -> list[DetailGroup]:
    """The detail groups of the given sets, each once, in a stable order."""
    groups: list[DetailGroup] = []
    for name in DETAIL_SETS:
        if name in detail_sets:
            groups.extend(DETAIL_SETS[name])
    return groups


FLAG_VALUES = {"yes", "true", "on", "1"}


def _clean_value(
    field: DetailField, raw: Any, today: date, *, required: bool = True
) -> tuple[Any, str | None]:
    if field.kind == "flag":
        if raw is None or raw is False or (isinstance(raw, str) and raw.strip() == ""):
            return None, None
        if raw is True or (isinstance(raw, str) and raw.strip().lower() in FLAG_VALUES):
            return "yes", None
        return None, str(_l("Leave this empty or answer yes."))
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None, (str(_l("Enter this detail.")) if field.required and required else None)
    if not isinstance(raw, str):
        return None, str(_l("Enter text."))
    value = raw.strip()
    if field.kind == "name":
        cleaned = normalize_name(value, allow_cyrillic=True)
        if cleaned is None:
            return None, str(_l("Use letters as in the passport (Latin or Cyrillic)."))
        return cleaned, None
    if field.kind in {"date", "past_date", "future_date"}:
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            return None, str(_l("Enter the full date: day, month and year."))
        if field.kind == "past_date" and not (date(1900, 1, 1) <= parsed <= today):
            return None, str(_l("Enter a date in the past."))
        if parsed.year < 1900 or parsed.year > 2200:
            return None, str(_l("Enter a real date."))
        return parsed.isoformat(), None
    if field.kind == "iin":
        if parse_iin(value) is None:
            return None, str(_l("Enter a valid 12-digit IIN."))
        return value, None
    if field.kind == "document":
        cleaned = "".join(value.split()).upper()
        if not (3 <= len(cleaned) <= 20 and cleaned.isalnum() and cleaned.isascii()):
            return None, str(_l("Enter the passport number: 3 to 20 letters and digits."))
        return cleaned, None
    if len(value) > TEXT_MAX_LENGTH or not value.isprintable():
        return None, str(_l("Enter at most 200 characters."))
    return " ".join(value.split()), None


def clean_details(
    detail_sets: list[str], raw: Any, today: date
) -> tuple[dict[str, dict[str, str]], dict[str, list[str]]]:
    """Check the details the chosen services need; return the clean values and any errors.

    Error keys are dotted paths such as ``details.spouse.iin``.
    """
    cleaned: dict[str, dict[str, str]] = {}
    errors: dict[str, list[str]] = {}
    source: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    if raw is not None and not isinstance(raw, Mapping):
        errors["details"] = [str(_l("Details must be an object."))]
    for group in groups_for(detail_sets):
        given = source.get(group.key)
        values: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        group_clean: dict[str, str] = {}
        flags = {
            field.name
            for field in group.fields
            if field.kind == "flag" and _clean_value(field, values.get(field.name), today)[0]
        }
        for field in group.fields:
            required = field.waived_by not in flags
            value, error = _clean_value(field, values.get(field.name), today, required=required)
            path = f"details.{group.key}.{field.name}"
            if error:
                errors.setdefault(path, []).append(error)
            elif value is not None:
                group_clean[field.name] = value
        if group.needs_identity and not ({"iin", "foreign_passport"} & group_clean.keys()):
            if not any(k.startswith(f"details.{group.key}.") for k in errors):
                errors[f"details.{group.key}.iin"] = [
                    str(_l("Enter the IIN, or a foreign passport number for a foreign citizen."))
                ]
        iin_facts = parse_iin(group_clean.get("iin", ""))
        birth = group_clean.get("birth_date")
        if iin_facts and birth and iin_facts.birth_date.isoformat() != birth:
            errors.setdefault(f"details.{group.key}.iin", []).append(
                str(_l("The IIN does not match the date of birth."))
            )
        cleaned[group.key] = group_clean
    return cleaned, errors
