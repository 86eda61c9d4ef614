"""What a new staff password must be (OWASP ASVS 5.0, V6.2): long enough, not common, not
built on words about the account or the service, and not easy to guess by zxcvbn's estimate."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from zxcvbn import zxcvbn  # type: ignore[import-untyped]

from consular.models import Office

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3  # zxcvbn's 0-4: 3 is "safely unguessable", about 10^8 guesses or more
# zxcvbn's cost grows steeply with length (a random 128 characters take seconds); the first
# 64 are scored, and a password whose first 64 characters are hard to guess is hard to guess.
SCORED_LENGTH = 64
# A password is "built on" context words when, with them taken out, fewer letters than
# this are left: "Seoul2026!", "S3oul-Busan", "dana.clerk@example.org", "Seoul-lion-2026".
MIN_OTHER_LETTERS = 6
MIN_WORD_LENGTH = 3
# Words of the offices' names and addresses too general to be about anyone.
_GENERAL_WORDS = frozenset({"the", "and", "for", "com", "org", "net"})

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"

# Words about the service itself, in its four languages; the offices' own names, codes and
# addresses are added from the database.
SERVICE_WORDS: tuple[str, ...] = (
    "consular",
    "consulate",
    "embassy",
    "kazakhstan",
    "kazakh",
    "qazaqstan",
    "korea",
    "казахстан",
    "консульство",
    "посольство",
    "қазақстан",
    "елшілік",
    "카자흐스탄",
    "대사관",
    "영사관",
)

# Leetspeak and look-alikes folded to one letter; l and i fold together, as 1 stands for either.
_FOLD = {"0": "o", "1": "i", "l": "i", "3": "e", "4": "a", "5": "s", "@": "a", "$": "s"}
_LETTERS = re.compile(r"[^\W\d_]+")
_EDGE = re.compile(r"^[\W\d_]+|[\W\d_]+$")


def _fold(text: str) -> str:
    """The text in lower case with leetspeak undone, one character for each character."""
    folded = []
    for char in text:
        lower = char.lower()
        lower = lower if len(lower) == 1 else char
        folded.append(_FOLD.get(lower, lower))
    return "".join(folded)


def _normal(text: str) -> str:
    """Unicode compatibility form, so full-width or composed letters compare as typed."""
    return unicodedata.normalize("NFKC", text)


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, folded like the passwords they are compared with."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(_fold(line) for line in lines if line and not line.startswith("#"))


def is_common(password: str) -> bool:
    """Whether the password is a common one, in any case or leetspeak, or one with only
    digits, symbols or spaces put before or after it ("Password1234", "p@ssw0rd!")."""
    text = _normal(password)
    cores = {
        text,
        _EDGE.sub("", text),
        re.sub(r"[\W\d_]+$", "", text),
        re.sub(r"^[\W\d_]+", "", text),
    }
    candidates = {_fold(core) for core in cores if core}
    candidates |= {"".join(candidate.split()) for candidate in candidates}
    return not candidates.isdisjoint(common_passwords())


def context_words(name: str, email: str, offices: Iterable[Office]) -> list[str]:
    """The words a password must not be built on: the account's name and e-mail address and
    their parts, the service's words, and every office's code, names and address words."""
    local, _at, domain = (email or "").partition("@")
    texts = [name, local, domain.replace(".", " ")]
    for office in offices:
        texts.append(office.code)
        texts.extend((office.name or {}).values())
        texts.extend((office.address or {}).values())
    words = {email.strip(), local.strip(), name.strip(), *SERVICE_WORDS}
    for text in texts:
        words.update(_LETTERS.findall(_normal(text or "")))
    unique = {_normal(word).lower() for word in words if len(word) >= MIN_WORD_LENGTH}
    unique -= _GENERAL_WORDS
    return sorted(unique, key=lambda word: (-len(word), word))


def is_built_on(password: str, words: Iterable[str]) -> bool:
    """Whether the password is little more than context words, in any case or leetspeak,
    with digits, symbols or a few letters around them ("Seoul2026!", "d4na.clerk")."""
    text = _normal(password)
    folded = _fold(text)
    covered = [False] * len(text)
    for word in {_fold(word) for word in words if len(word) >= MIN_WORD_LENGTH}:
        start = folded.find(word)
        while start != -1:
            covered[start : start + len(word)] = [True] * len(word)
            start = folded.find(word, start + 1)
    if not any(covered):
        return False
    others = sum(1 for char, hit in zip(text, covered, strict=True) if not hit and char.isalpha())
    return others < MIN_OTHER_LETTERS


# zxcvbn's feedback is a fixed set of English sentences (zxcvbn/feedback.py): each has a
# message of ours, so that it can be translated; one zxcvbn adds later gets the generic one.
FEEDBACK: dict[str, LazyString] = {
    "Use a few words, avoid common phrases.": _l("Use a few words, and avoid common phrases."),
    "No need for symbols, digits, or uppercase letters.": _l(
        "There is no need for symbols, digits or capital letters."
    ),
    "Add another word or two. Uncommon words are better.": _l(
        "Add another word or two. Uncommon words are better."
    ),
    "Straight rows of keys are easy to guess.": _l("Straight rows of keys are easy to guess."),
    "Short keyboard patterns are easy to guess.": _l("Short keyboard patterns are easy to guess."),
    "Use a longer keyboard pattern with more turns.": _l(
        "Use a longer keyboard pattern with more turns."
    ),
    'Repeats like "aaa" are easy to guess.': _l('Repeats like "aaa" are easy to guess.'),
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".': _l(
        'Repeats like "abcabcabc" are only slightly harder to guess than "abc".'
    ),
    "Avoid repeated words and characters.": _l("Avoid repeated words and characters."),
    'Sequences like "abc" or "6543" are easy to guess.': _l(
        'Sequences like "abc" or "6543" are easy to guess.'
    ),
    "Avoid sequences.": _l("Avoid sequences of letters or digits."),
    "Recent years are easy to guess.": _l("Recent years are easy to guess."),
    "Avoid recent years.": _l("Avoid recent years."),
    "Avoid years that are associated with you.": _l("Avoid years that have to do with you."),
    "Dates are often easy to guess.": _l("Dates are often easy to guess."),
    "Avoid dates and years that are associated with you.": _l(
        "Avoid dates and years that have to do with you."
    ),
    "This is a top-10 common password.": _l("This is one of the 10 most common passwords."),
    "This is a top-100 common password.": _l("This is one of the 100 most common passwords."),
    "This is a very common password.": _l("This is a very common password."),
    "This is similar to a commonly used password.": _l(
        "This is like a password that many people use."
    ),
    "A word by itself is easy to guess.": _l("A word by itself is easy to guess."),
    "Names and surnames by themselves are easy to guess.": _l(
        "Names and surnames by themselves are easy to guess."
    ),
    "Common names and surnames are easy to guess.": _l(
        "Common names and surnames are easy to guess."
    ),
    "Capitalization doesn't help very much.": _l("Capital letters do not help much."),
    "All-uppercase is almost as easy to guess as all-lowercase.": _l(
        "All capitals are almost as easy to guess as all small letters."
    ),
    "Reversed words aren't much harder to guess.": _l(
        "Words spelt backwards are not much harder to guess."
    ),
    "Predictable substitutions like '@' instead of 'a' don't help very much.": _l(
        "Predictable substitutions, like @ for a, do not help much."
    ),
}
GENERIC_FEEDBACK = _l("Make it longer, with words that are not about you or your work.")


def feedback_message(english: str) -> str:
    """Our translated message for one of zxcvbn's English feedback sentences."""
    return str(FEEDBACK.get(english, GENERIC_FEEDBACK))


def strength(password: str, words: Sequence[str]) -> tuple[int, list[str]]:
    """zxcvbn's score (0-4) of the password, with the words as what it knows of the user,
    and its warning and suggestions as translated messages."""
    result = zxcvbn(password[:SCORED_LENGTH], user_inputs=list(words), max_length=SCORED_LENGTH)
    feedback = result["feedback"]
    texts = [feedback["warning"], *feedback["suggestions"]] if result["score"] < MIN_SCORE else []
    messages = list(dict.fromkeys(feedback_message(text) for text in texts if text))
    if result["score"] < MIN_SCORE and not messages:
        messages = [str(GENERIC_FEEDBACK)]
    return int(result["score"]), messages


def password_problems(password: str, words: Sequence[str]) -> list[str]:
    """Why the password may not be used, as translated messages; empty when it may."""
    length = len(_normal(password))
    if length < MIN_LENGTH:
        return [_("Use at least %(count)d characters.", count=MIN_LENGTH)]
    if length > MAX_LENGTH:
        return [_("Use at most %(count)d characters.", count=MAX_LENGTH)]
    if any(unicodedata.category(char) == "Cc" for char in password):
        return [_("Use only characters you can type: no tabs, line breaks or control codes.")]
    if is_common(password):
        return [
            _(
                "This is one of the most common passwords, or one with only digits or "
                "symbols added. Choose another."
            )
        ]
    if is_built_on(password, words):
        return [
            _(
                "This password is built on your name, your email address or words about "
                "the consulate. Choose words that are not about you or your work."
            )
        ]
    score, advice = strength(password, words)
    if score < MIN_SCORE:
        return [_("This password would be easy to guess."), *advice]
    return []
