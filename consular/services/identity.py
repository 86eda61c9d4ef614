"""Checks of the identifiers citizens give: IIN, passport, phone, email, names."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_FIRST_WEIGHTS = tuple(range(1, 12))
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_CENTURY = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}


@dataclass(frozen=True)
class IinFacts:
    birth_date: date
    sex: str  # "male" or "female"


def iin_check_digit(first_eleven: str) -> int | None:
    """The check digit for the first 11 digits of an IIN, or None if no valid one exists."""
    digits = [int(c) for c in first_eleven]
    check = sum(w * d for w, d in zip(_FIRST_WEIGHTS, digits, strict=True)) % 11
    if check == 10:
        check = sum(w * d for w, d in zip(_SECOND_WEIGHTS, digits, strict=True)) % 11
        if check == 10:
            return None
    return check


def parse_iin(value: str) -> IinFacts | None:
    """Return the birth date and sex an IIN encodes, or None if it is not a valid IIN."""
    if not re.fullmatch(r"[0-9]{12}", value or ""):
        return None
    century_digit = int(value[6])
    if century_digit not in _CENTURY:
        return None
    try:
        born = date(_CENTURY[century_digit] + int(value[0:2]), int(value[2:4]), int(value[4:6]))
    except ValueError:
        return None
    if iin_check_digit(value[:11]) != int(value[11]):
        return None
    return IinFacts(birth_date=born, sex="male" if century_digit % 2 else "female")


def normalize_passport(value: str, pattern: str) -> str | None:
    """Upper-case a passport number without spaces and check it against the pattern."""
    cleaned = re.sub(r"[\s-]", "", value or "").upper()
    return cleaned if re.fullmatch(pattern, cleaned) else None


def normalize_phone(value: str, default_region: str = "KR") -> str | None:
    """Parse a phone number as people write it and return it in E.164, or None."""
    if not value or len(value) > 40:
        return None
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str | None:
    """Check the syntax of an email address and return its normalised form, or None."""
    if not value or len(value) > 254:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


_LATIN_NAME = re.compile(r"[A-Za-z]+(?:[ '\-.][A-Za-z]+)*\.?")
_LATIN_OR_CYRILLIC_NAME = re.compile(
    r"[A-Za-zА-Яа-яЁёӘәҒғҚқҢңӨөҰұҮүҺһІі]+(?:[ '\-.][A-Za-zА-Яа-яЁёӘәҒғҚқҢңӨөҰұҮүҺһІі]+)*\.?"
)
NAME_MAX_LENGTH = 100


def normalize_name(value: str, *, allow_cyrillic: bool = False) -> str | None:
    """Tidy a personal name (spaces, Unicode form) and check its letters, or return None."""
    if not isinstance(value, str) or len(value) > NAME_MAX_LENGTH * 2:
        return None
    cleaned = " ".join(unicodedata.normalize("NFC", value).split())
    if not cleaned or len(cleaned) > NAME_MAX_LENGTH:
        return None
    pattern = _LATIN_OR_CYRILLIC_NAME if allow_cyrillic else _LATIN_NAME
    return cleaned if pattern.fullmatch(cleaned) else None
