"""The gettext catalogs: complete, not fuzzy, placeholders intact, and compilable."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent.parent / "consular" / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
LANGUAGES = ["kk", "ru", "en", "ko"]
NUM_PLURALS = {"kk": 2, "ru": 3, "en": 2, "ko": 1}

# A named Python format placeholder, e.g. %(name)s, %(count)d, %(total)5.2f.
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*(?:\d+)?(?:\.\d+)?[diouxXeEfFgGcrsa]")


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def _forms(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    """The singular and plural forms of a msgid or msgstr, as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def _messages(catalog: Catalog) -> dict[str, Message]:
    """The messages of a catalog by their (singular) msgid, header left out."""
    return {_forms(message.id)[0]: message for message in catalog if message.id}


@pytest.fixture(scope="module")
def template() -> Catalog:
    return _read(TEMPLATE)


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def catalog(language: str) -> Catalog:
    return _read(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", locale=language)


def test_template_has_messages(template: Catalog) -> None:
    assert _messages(template), f"{TEMPLATE} holds no messages"


def test_header(catalog: Catalog, language: str) -> None:
    assert str(catalog.locale) == language
    assert catalog.num_plurals == NUM_PLURALS[language]
    assert not catalog.fuzzy, "the header is marked fuzzy: pybabel compile would skip the catalog"


def test_every_template_message_is_in_the_catalog(template: Catalog, catalog: Catalog) -> None:
    missing = sorted(set(_messages(template)) - set(_messages(catalog)))
    assert not missing, f"missing from the {catalog.locale} catalog: {missing}"


def test_no_empty_or_fuzzy_translation(catalog: Catalog) -> None:
    empty = [
        msgid
        for msgid, message in _messages(catalog).items()
        if not _forms(message.string) or not all(_forms(message.string))
    ]
    fuzzy = [msgid for msgid, message in _messages(catalog).items() if message.fuzzy]
    assert not empty, f"untranslated in the {catalog.locale} catalog: {empty}"
    assert not fuzzy, f"fuzzy in the {catalog.locale} catalog: {fuzzy}"


def test_placeholders_are_kept(catalog: Catalog) -> None:
    wrong = []
    for msgid, message in _messages(catalog).items():
        expected = set().union(*(_placeholders(form) for form in _forms(message.id)))
        for translation in _forms(message.string):
            if translation and _placeholders(translation) != expected:
                wrong.append(
                    f"{msgid!r}: expected {sorted(expected)}, "
                    f"got {sorted(_placeholders(translation))} in {translation!r}"
                )
    assert not wrong, f"placeholders changed in the {catalog.locale} catalog:\n" + "\n".join(wrong)


def test_english_translation_is_the_source_text() -> None:
    english = _read(TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po", locale="en")
    different = [
        msgid
        for msgid, message in _messages(english).items()
        if _forms(message.string) != _forms(message.id)
    ]
    assert not different, f"English msgstr differs from msgid: {different}"


def test_catalog_compiles(catalog: Catalog) -> None:
    problems = [
        f"{message.id!r}: {'; '.join(str(error) for error in errors)}"
        for message, errors in catalog.check()
    ]
    assert not problems, f"the {catalog.locale} catalog has errors:\n" + "\n".join(problems)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    assert buffer.getvalue(), "write_mo produced nothing"


def _messages_in_the_source() -> set[str]:
    """Every translatable message in the code and templates, extracted as `make messages` does."""
    from babel.messages.extract import extract_from_dir

    root = TRANSLATIONS.parent.parent
    method_map = [
        ("consular/**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
    ]
    keywords = {
        "_": None,
        "gettext": None,
        "ngettext": (1, 2),
        "_l": None,
        "lazy_gettext": None,
    }
    found: set[str] = set()
    for _filename, _line, message, _comments, _context in extract_from_dir(
        str(root),
        method_map=method_map,
        keywords=keywords,
        directory_filter=lambda path: not any(
            part in path for part in (".venv", "node_modules", ".git", "artifacts")
        ),
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_the_template_holds_every_message_of_the_source() -> None:
    """Run `make messages` after changing user-facing text, or this fails."""
    template = {_forms(m.id)[0] for m in _read(TEMPLATE) if m.id}
    missing = sorted(_messages_in_the_source() - template)
    assert missing == [], f"not in messages.pot (run `make messages`): {missing[:10]}"
