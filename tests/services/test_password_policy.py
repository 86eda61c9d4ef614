"""The password policy (ASVS 5.0 V6.2) as plain functions: length in characters, the bundled
list of common passwords, context words with their trivial variants, and zxcvbn's strength
with its feedback in our own translatable messages."""

from __future__ import annotations

import ast
import random
import string
from pathlib import Path
from types import SimpleNamespace

import flask_babel
import pytest
import zxcvbn.feedback
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from consular.services import password_policy as policy

OFFICES = [
    SimpleNamespace(
        code="seoul",
        name={
            "en": "Embassy of the Republic of Kazakhstan, consular section",
            "ko": "주한 카자흐스탄 공화국 대사관 영사과",
        },
        address={"en": "1 Demo-daero, Jung-gu, Seoul", "ko": "서울특별시 중구 데모대로 1"},
    ),
    SimpleNamespace(
        code="busan",
        name={"en": "Consulate General of the Republic of Kazakhstan in Busan"},
        address={"en": "2 Demo-ro, Dong-gu, Busan"},
    ),
]
EMAIL = "dana.kim@mfa-example.kz"
WORDS = policy.context_words("Dana Kim", EMAIL, OFFICES)

COMMON = "This is one of the most common passwords"
CONTEXT = "This password is built on your name"
WEAK = "This password would be easy to guess."


def _problems(password: str) -> list[str]:
    return policy.password_problems(password, WORDS)


# Length: characters, not bytes; at least 12, 128 allowed, nothing cut off.


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("호랑이가구름위를날아간다", True),  # 12 characters, 36 bytes in UTF-8
        ("호랑이가구름위를날아간", False),  # 11 characters, 33 bytes
        ("vT7#qL2m!x9Z", True),
        ("vT7#qL2m!x9", False),
    ],
)
def test_length_counts_characters_not_bytes(password: str, accepted: bool) -> None:
    problems = _problems(password)
    assert (problems == []) is accepted
    if not accepted:
        assert problems == ["Use at least 12 characters."]


def test_128_characters_are_accepted_and_129_refused() -> None:
    words = "amber lantern over the river quietly humming violet teapots "
    longest = (words * 3)[: policy.MAX_LENGTH]
    assert len(longest) == 128 and _problems(longest) == []
    assert _problems(longest + "x") == ["Use at most 128 characters."]


def test_long_unicode_passphrases_with_spaces_are_accepted() -> None:
    password = "Жёлтый 🐫 верблюд идёт сквозь 밤하늘의 별빛 under a violet moon ⛰ тихо-тихо"
    assert len(password) > 64
    assert _problems(password) == []


def test_control_characters_are_refused() -> None:
    assert _problems("amber lantern\tover the river") == [
        "Use only characters you can type: no tabs, line breaks or control codes."
    ]


def test_no_composition_rules_only_lowercase_words_are_fine() -> None:
    assert _problems("purple elephants borrow quiet umbrellas") == []


# The bundled list of common passwords


def test_the_bundled_list_is_zxcvbns_top_10000() -> None:
    assert policy.COMMON_PASSWORDS_FILE.is_relative_to(Path(policy.__file__).parents[1])
    lines = policy.COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    entries = [line for line in lines if not line.startswith("#")]
    assert entries == FREQUENCY_LISTS["passwords"][:10000]


def test_every_listed_password_long_enough_to_be_chosen_is_refused() -> None:
    entries = FREQUENCY_LISTS["passwords"][:10000]
    long_ones = [entry for entry in entries if len(entry) >= policy.MIN_LENGTH]
    assert len(long_ones) > 40
    for entry in long_ones:
        assert policy.is_common(entry), entry
        assert _problems(entry)[0].startswith(COMMON), entry
    assert all(policy.is_common(entry) for entry in entries)


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "Password1234!",
        "PASSWORD2026!!",
        "p@ssw0rd2024!",
        "1234sunshine!!",
        "Iloveyou12345",
        "ILOVEYOU 2026 !!",
        "Qwerty123456!",
        "Qazwsxedcrfv",
    ],
)
def test_common_passwords_and_their_trivial_variants_are_refused(password: str) -> None:
    assert policy.is_common(password)
    problems = _problems(password)
    assert len(problems) == 1 and problems[0].startswith(COMMON)


# Context words: the account, the service, the offices


def test_context_words_come_from_the_account_the_service_and_every_office() -> None:
    for word in (
        "dana",
        "kim",
        "dana kim",
        "dana.kim",
        EMAIL,
        "mfa",
        "example",
        "consular",
        "consulate",
        "embassy",
        "kazakhstan",
        "seoul",
        "busan",
        "대사관",
        "서울특별시",
    ):
        assert word in WORDS, word
    assert "the" not in WORDS and "of" not in WORDS  # too general to be about anyone


@pytest.mark.parametrize(
    "password",
    [
        EMAIL,
        EMAIL.upper(),
        "dana.kim@mfa-example",
        "Seoul2026!!!",
        "S3oul-Busan-2026!",
        "$eoul20262026",
        "5e0u1 b4s4n 2026",
        "Kazakhstan2026!",
        "KAZAKHSTAN-seoul",
        "c0nsu1ar-seoul-2026",
        "Embassy-Seoul-2026",
        "consulate@busan#1",
        "danakim2026!!!",
        "D4n4K1m-Seoul",
        "Seoul-lion-2026",
        "Republic of Kazakhstan",
        "카자흐스탄대사관2026",
    ],
)
def test_passwords_built_on_context_words_are_refused(password: str) -> None:
    assert policy.is_built_on(password, WORDS)
    problems = _problems(password)
    assert len(problems) == 1 and problems[0].startswith(CONTEXT), problems


def test_a_context_word_inside_a_real_passphrase_is_left_to_zxcvbn() -> None:
    assert not policy.is_built_on("Seoul amber lantern quietly", WORDS)
    assert _problems("Seoul amber lantern quietly") == []


def test_a_password_without_context_words_is_not_built_on_them() -> None:
    assert not policy.is_built_on("2026-04-17-!!!", WORDS)


# Strength by zxcvbn, with the context words as what it knows of the user


def _random_passphrase(seed: int) -> str:
    """Four words picked at random from beyond the 5,000 most frequent English words."""
    chooser = random.Random(seed)
    vocabulary = [
        word
        for word in FREQUENCY_LISTS["english_wikipedia"][5000:20000]
        if word.isalpha() and 4 <= len(word) <= 9
    ]
    return " ".join(chooser.choice(vocabulary) for _ in range(4))


@pytest.mark.parametrize("seed", range(12))
def test_four_random_words_are_accepted(seed: int) -> None:
    password = _random_passphrase(seed)
    assert _problems(password) == [], password


@pytest.mark.parametrize("seed", range(12))
def test_twenty_random_characters_are_accepted(seed: int) -> None:
    chooser = random.Random(seed)
    password = "".join(chooser.choice(string.ascii_letters + string.digits) for _ in range(20))
    assert _problems(password) == [], password


def test_correct_horse_battery_staple_is_accepted() -> None:
    assert _problems("correct horse battery staple") == []


@pytest.mark.parametrize(
    ("password", "warning"),
    [
        ("aaaaaaaaaaaaaaaa", 'Repeats like "aaa" are easy to guess.'),
        ("abcabcabcabcabc", 'Repeats like "abcabcabc" are only slightly harder'),
        ("=-0987654321", "Straight rows of keys are easy to guess."),
        ("abcdefghijklmnop", 'Sequences like "abc" or "6543" are easy to guess.'),
    ],
)
def test_weak_passwords_are_refused_with_zxcvbns_feedback(password: str, warning: str) -> None:
    problems = _problems(password)
    assert problems[0] == WEAK
    assert any(message.startswith(warning) for message in problems[1:]), problems
    assert len(problems) == len(set(problems))


def test_zxcvbn_scores_only_the_first_64_characters_but_the_whole_is_kept() -> None:
    weak_start = "a" * 64 + "Tq8#vL2m!x9Zr4Wp"
    assert _problems(weak_start)[0] == WEAK
    strong_start = "kT9#vQ2!mZ8@pL4$wR6x amber lantern over the river" + "a" * 40
    assert len(strong_start) > 64 and _problems(strong_start) == []


# zxcvbn's English feedback, each sentence mapped to a message of ours


def _zxcvbn_feedback_sentences() -> set[str]:
    """Every string zxcvbn's feedback module passes to `_()`, read from its source."""
    tree = ast.parse(Path(zxcvbn.feedback.__file__).read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_"
        and isinstance(node.args[0], ast.Constant)
    }


def test_every_feedback_sentence_of_zxcvbn_has_a_message_of_ours() -> None:
    sentences = _zxcvbn_feedback_sentences()
    assert len(sentences) >= 25
    assert sentences == set(policy.FEEDBACK)


def test_an_unknown_feedback_sentence_gets_the_generic_message() -> None:
    assert policy.feedback_message("Something zxcvbn says one day.") == str(policy.GENERIC_FEEDBACK)


class _Marked:
    """A catalog that marks every message it translates, to see that each one went through it."""

    def ugettext(self, message: str) -> str:
        return "«" + message + "»"

    gettext = ugettext

    def ungettext(self, singular: str, plural: str, count: int) -> str:
        return "«" + (singular if count == 1 else plural) + "»"


@pytest.fixture
def marked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flask_babel.Domain, "get_translations", lambda self: _Marked())


@pytest.mark.usefixtures("marked")
def test_every_feedback_message_and_refusal_goes_through_gettext() -> None:
    for sentence in _zxcvbn_feedback_sentences():
        message = policy.feedback_message(sentence)
        assert message.startswith("«") and message.endswith("»"), sentence
    assert _problems("short") == ["«Use at least 12 characters.»"]
    assert _problems("password1234")[0].startswith("«" + COMMON)
    assert _problems(EMAIL)[0].startswith("«" + CONTEXT)
    problems = _problems("aaaaaaaaaaaaaaaa")
    assert problems[0] == "«" + WEAK + "»"
    assert all(message.startswith("«") for message in problems)
