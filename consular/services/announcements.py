"""What the waiting-room display says aloud when a ticket is called, in each language an
office chose (Korean, then Kazakh or Russian), rendered on the server so that the lead's
translations, not the browser, decide the words."""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _

# The languages a call may be spoken in, in the order they are spoken, with the BCP 47 tag
# the browser's speech synthesis chooses a voice by.
SPOKEN_LANGUAGES: dict[str, str] = {"ko": "ko-KR", "kk": "kk-KZ", "ru": "ru-RU"}


def spoken_order(languages: list[str]) -> list[str]:
    """The known languages of a setting, once each, in the order they are spoken."""
    return [code for code in SPOKEN_LANGUAGES if code in languages]


def call_sentence(prefix: str, number: int, desk: str) -> str:
    """The call in the current language, e.g. "Ticket A 12, desk 3.": the number without
    its leading zeros and apart from the letter, so that a voice reads "twelve" rather than
    "zero one two" or "A minus twelve"."""
    return _(
        "Ticket %(letter)s %(number)d, desk %(desk)s.", letter=prefix, number=number, desk=desk
    )


def spoken_call(languages: list[str], prefix: str, number: int, desk: str) -> list[dict[str, str]]:
    """The call as [{"lang": "ko-KR", "text": ...}, ...], one sentence per language."""
    sentences = []
    for code in spoken_order(languages):
        with force_locale(code):
            sentences.append(
                {"lang": SPOKEN_LANGUAGES[code], "text": call_sentence(prefix, number, desk)}
            )
    return sentences
