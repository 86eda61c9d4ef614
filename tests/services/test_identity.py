"""IIN, passport, phone, email and name checks, against the vectors in DOMAIN.md."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consular.services.identity import (
    iin_check_digit,
    normalize_email,
    normalize_name,
    normalize_passport,
    normalize_phone,
    parse_iin,
)


@pytest.mark.parametrize(
    ("iin", "born", "sex"),
    [
        ("900101300126", date(1990, 1, 1), "male"),
        ("850502401238", date(1985, 5, 2), "female"),
        ("000229500018", date(2000, 2, 29), "male"),
        ("061211600012", date(2006, 12, 11), "female"),
    ],
)
def test_valid_iins_give_birth_date_and_sex(iin: str, born: date, sex: str) -> None:
    facts = parse_iin(iin)
    assert facts is not None
    assert facts.birth_date == born
    assert facts.sex == sex


def test_second_weights_are_used_when_the_first_pass_gives_ten() -> None:
    first_pass = sum(w * int(d) for w, d in zip(range(1, 12), "06121160001", strict=True)) % 11
    assert first_pass == 10
    assert iin_check_digit("06121160001") == 2


@pytest.mark.parametrize(
    "iin",
    [
        "900101300127",  # wrong check digit
        "901301300126",  # month 13
        "900101700126",  # century digit 7 does not exist
        "010229500011",  # 2001-02-29 does not exist
        "90010130012",  # 11 digits
        "9001013001266",  # 13 digits
        "90010130012a",
        "",
        "٩٠٠١٠١٣٠٠١٢٦",  # Arabic-Indic digits are not IIN digits
    ],
)
def test_invalid_iins_are_refused(iin: str) -> None:
    assert parse_iin(iin) is None


@pytest.mark.parametrize("last", range(10))
def test_numbers_whose_both_passes_give_ten_are_never_valid(last: int) -> None:
    assert iin_check_digit("90010130080") is None
    assert parse_iin(f"90010130080{last}") is None


@given(st.text(max_size=20))
def test_parse_iin_never_crashes(value: str) -> None:
    parse_iin(value)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("010-1234-5678", "+821012345678"),
        ("02-123-4567", "+8221234567"),
        ("+82 10 1234 5678", "+821012345678"),
        ("+7 701 123 4567", "+77011234567"),
    ],
)
def test_phone_numbers_are_stored_in_e164(written: str, stored: str) -> None:
    assert normalize_phone(written) == stored


@pytest.mark.parametrize("written", ["12345", "phone", "", "+82 10 1234", "0" * 50])
def test_bad_phone_numbers_are_refused(written: str) -> None:
    assert normalize_phone(written) is None


def test_passport_pattern_is_configurable() -> None:
    assert normalize_passport("n 1234 5678", r"[A-Z][0-9]{8}") == "N12345678"
    assert normalize_passport("N1234567", r"[A-Z][0-9]{8}") is None
    assert normalize_passport("AB1234567", r"[A-Z]{2}[0-9]{7}") == "AB1234567"


def test_email_is_checked_and_normalised() -> None:
    assert normalize_email("Aigerim@Example.COM") == "Aigerim@example.com"
    assert normalize_email("not an email") is None
    assert normalize_email("a@" + "b" * 300 + ".com") is None


@pytest.mark.parametrize(
    ("written", "latin", "cyrillic"),
    [
        ("  Aigerim   Nurlanovna ", "Aigerim Nurlanovna", "Aigerim Nurlanovna"),
        ("O'Neil-Smith", "O'Neil-Smith", "O'Neil-Smith"),
        ("Әсел", None, "Әсел"),
        ("Robert'); DROP TABLE", None, None),
        ("A" * 101, None, None),
        ("\u202eevil", None, None),
        ("", None, None),
    ],
)
def test_names(written: str, latin: str | None, cyrillic: str | None) -> None:
    assert normalize_name(written) == latin
    assert normalize_name(written, allow_cyrillic=True) == cyrillic
