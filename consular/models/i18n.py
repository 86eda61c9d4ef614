"""Texts that administrators keep in several languages, stored as one JSON object."""

from __future__ import annotations

LANGUAGES: tuple[str, ...] = ("kk", "ru", "en", "ko")
FALLBACK_LANGUAGE = "en"
# Each language's name in itself, as the language switcher and the admin forms show it.
LANGUAGE_NAMES: dict[str, str] = {"kk": "Қазақша", "ru": "Русский", "en": "English", "ko": "한국어"}

LocalizedText = dict[str, str]


def localized(texts: dict[str, str] | None, locale: str | None) -> str:
    """Pick the text for a locale, falling back to English and then to any language present."""
    if not texts:
        return ""
    language = (locale or FALLBACK_LANGUAGE).split("_")[0].split("-")[0]
    for candidate in (language, FALLBACK_LANGUAGE, *LANGUAGES):
        text = texts.get(candidate)
        if text:
            return text
    return ""


def localized_list(texts: dict[str, list[str]] | None, locale: str | None) -> list[str]:
    """Pick a list of texts for a locale, with the same fallback as `localized`."""
    if not texts:
        return []
    language = (locale or FALLBACK_LANGUAGE).split("_")[0].split("-")[0]
    for candidate in (language, FALLBACK_LANGUAGE, *LANGUAGES):
        items = texts.get(candidate)
        if items:
            return list(items)
    return []
