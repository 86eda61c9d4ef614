"""The gettext catalogs: complete, not fuzzy, placeholders intact, safe to %-format, and
compilable."""

from __future__ import annotations

import gettext
import re
import shutil
from functools import cache
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
PLACEHOLDER_PARTS = re.compile(r"%\((\w+)\)[-#0 +]*(?:\d+)?(?:\.\d+)?([diouxXeEfFgGcrsa])")
# A value of the type each conversion needs: %(count)d refuses a string.
DUMMY_VALUES = {**dict.fromkeys("diouxXc", 7), **dict.fromkeys("eEfFgG", 7.5)}
# A number (a figure or a number placeholder) and the unit after it, with an ordinary space
# between them, which a line may break at: "15 | minutes". Each catalog writes a no-break
# space there instead (U+00A0), English included.
NUMBER_AND_UNIT = re.compile(
    r"(%\(\w+\)[ds]|(?<![\w.])\d+) "
    r"((?:minutes?|min|hours?|days?|seconds?|weeks?|months?|years?|USD|KRW"
    r"|мин\w*|час\w*|дн(?:я|ей)|день|сут\w*|секунд\w*|недел\w*|месяц\w*|лет|год\w*"
    r"|сағат\w*|күн\w*|апта\w*|ай|жыл\w*|секунд"
    r"|분|시간|일|초|주|개월|년|원)(?!\w))"
)


def with_no_break_spaces(text: str) -> str:
    """The text with a no-break space between each number and its unit."""
    return NUMBER_AND_UNIT.sub(lambda found: f"{found[1]}\u00a0{found[2]}", text)


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
        if _forms(message.string) != [with_no_break_spaces(form) for form in _forms(message.id)]
    ]
    assert not different, f"English msgstr differs from msgid: {different}"


def test_a_number_and_its_unit_are_never_split_across_lines(catalog: Catalog) -> None:
    split = [
        form
        for message in catalog
        if message.id
        for form in _forms(message.string)
        if NUMBER_AND_UNIT.search(form)
    ]
    assert not split, (
        f"{catalog.locale}: use a no-break space between a number and its unit in:\n"
        + "\n".join(split)
    )


def test_the_unit_rule_finds_the_spaces_it_should_and_no_others() -> None:
    assert with_no_break_spaces("About %(minutes)d minutes, 10 min, 20 USD") == (
        "About %(minutes)d\u00a0minutes, 10\u00a0min, 20\u00a0USD"
    )
    assert with_no_break_spaces("%(num)d минут, 3 дня, %(num)d күн, 5 분") == (
        "%(num)d\u00a0минут, 3\u00a0дня, %(num)d\u00a0күн, 5\u00a0분"
    )
    for kept in ("%(num)d people waiting", "%(num)d 일정", "Ticket %(ticket)s, desk 3"):
        assert with_no_break_spaces(kept) == kept, kept


def test_catalog_compiles(catalog: Catalog) -> None:
    problems = [
        f"{message.id!r}: {'; '.join(str(error) for error in errors)}"
        for message, errors in catalog.check()
    ]
    assert not problems, f"the {catalog.locale} catalog has errors:\n" + "\n".join(problems)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    assert buffer.getvalue(), "write_mo produced nothing"


@cache
def _messages_in_the_source() -> dict[str, frozenset[str]]:
    """Every translatable message in the code and templates, extracted as `make messages` does,
    with the kinds of file it appears in ("python", "jinja2")."""
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
        "lazy_ngettext": (1, 2),
        "pgettext": ((1, "c"), 2),
        "lazy_pgettext": ((1, "c"), 2),
    }
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(root),
        method_map=method_map,
        keywords=keywords,
        directory_filter=lambda path: (
            not any(part in path for part in (".venv", "node_modules", ".git", "artifacts"))
        ),
    ):
        msgid = message if isinstance(message, str) else message[0]
        kind = "python" if filename.endswith(".py") else "jinja2"
        found.setdefault(msgid, set()).add(kind)
    return {msgid: frozenset(kinds) for msgid, kinds in found.items()}


# Babel's own keywords, which `pybabel extract` knows without being told.
BABEL_KEYWORDS = {
    "_",
    "gettext",
    "ngettext",
    "ugettext",
    "ungettext",
    "dgettext",
    "dngettext",
    "N_",
    "pgettext",
    "npgettext",
}
GETTEXT_NAME = re.compile(r"(?:lazy_)?n?p?gettext")


def test_every_gettext_function_the_source_uses_is_extracted() -> None:
    """A translation function the Makefile's extraction doesn't know leaves its texts out of
    every catalog, untranslated for good (lazy_ngettext once did)."""
    root = Path(__file__).resolve().parent.parent
    makefile = (root / "Makefile").read_text()
    told = set(re.findall(r"-k (\w+)", makefile))
    used: set[str] = set()
    for path in (root / "consular").rglob("*.py"):
        for names in re.findall(r"from flask_babel import \(?([^)\n]+)", path.read_text()):
            for part in names.split(","):
                name, _sep, alias = part.strip().partition(" as ")
                if GETTEXT_NAME.fullmatch(name.strip()):
                    used.add((alias or name).strip())
    assert used, "the source imports gettext functions"
    assert used - told - BABEL_KEYWORDS == set()


def test_the_template_holds_every_message_of_the_source() -> None:
    """Run `make messages` after changing user-facing text, or this fails."""
    template = {_forms(m.id)[0] for m in _read(TEMPLATE) if m.id}
    missing = sorted(set(_messages_in_the_source()) - template)
    assert missing == [], f"not in messages.pot (run `make messages`): {missing[:10]}"


# %-formatting. Flask-Babel formats a text from Python only when it is given values (and
# ngettext always gives `num`), but Jinja's new-style gettext formats every text of a
# template, values or not: there a literal percent must be written %%, or the page fails
# with "unsupported format character". A text formatted nowhere shows %% as typed.


def _is_formatted(message: Message) -> bool:
    """Whether the text goes through %-formatting when the app shows it."""
    ids = _forms(message.id)
    return (
        message.pluralizable
        or any("%" in form for form in ids)
        or "jinja2" in _messages_in_the_source().get(ids[0], frozenset())
    )


def _dummy_values(message: Message) -> dict[str, object]:
    """A value of the right type for each placeholder of the msgid (num for plurals)."""
    values: dict[str, object] = {"num": 7} if message.pluralizable else {}
    for form in _forms(message.id):
        for name, conversion in PLACEHOLDER_PARTS.findall(form):
            values[name] = DUMMY_VALUES.get(conversion, f"<{name}>")
    return values


def _format_problem(text: str, message: Message) -> str | None:
    """Why this msgid or msgstr would fail, or show wrongly, when the app shows it."""
    if not _is_formatted(message):
        return "%% in a text that is never %-formatted shows as %%" if "%%" in text else None
    try:
        text % _dummy_values(message)
    except (ValueError, TypeError, KeyError) as error:
        return f"{type(error).__name__}: {error}"
    # With a mapping, Python formats a bare %s as the whole mapping instead of failing.
    stray = PLACEHOLDER.sub("", text).replace("%%", "")
    return "a lone % (write %% for a literal percent)" if "%" in stray else None


def test_every_source_text_formats(template: Catalog) -> None:
    problems = [
        f"{form!r}: {problem}"
        for message in template
        if message.id
        for form in _forms(message.id)
        if (problem := _format_problem(form, message))
    ]
    assert not problems, "source texts that fail to format:\n" + "\n".join(problems)


def test_every_translation_formats(catalog: Catalog) -> None:
    """Every form of every msgstr formats with values of the msgid's types, and has no lone %."""
    problems = [
        f"{_forms(message.id)[0]!r} -> {form!r}: {problem}"
        for message in catalog
        if message.id
        for form in _forms(message.string)
        if form and (problem := _format_problem(form, message))
    ]
    assert not problems, f"the {catalog.locale} catalog would break pages:\n" + "\n".join(problems)


def test_the_format_check_catches_a_literal_percent_in_a_template_text() -> None:
    """The check itself: the Korean schedule page's old label, and its fixed form."""
    label = "Share of desk capacity kept for walk-ins (percent)"
    assert "jinja2" in _messages_in_the_source()[label]
    message = Message(label, "창구 정원 비율(%)")
    assert _format_problem(message.string, message)
    assert _format_problem("창구 정원 비율(%%)", message) is None
    counted = Message(("%(num)d minute", "%(num)d minutes"), ("%(num)s분",))
    assert _format_problem("%(num)d분", counted) is None
    assert _format_problem("%(num)d분 %s", counted)
    typed = Message("Attempts left: %(count)d.", "")
    assert _format_problem("%(count)d회 %(count)", typed)


def test_pybabel_compiles_the_catalog_and_it_serves_every_translation(
    catalog: Catalog, language: str, tmp_path: Path
) -> None:
    """`pybabel compile` (as `make` runs it) succeeds, and the .mo gives back each msgstr."""
    from babel.messages.frontend import CommandLineInterface

    folder = tmp_path / language / "LC_MESSAGES"
    folder.mkdir(parents=True)
    shutil.copy(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", folder)
    status = CommandLineInterface().run(["pybabel", "-q", "compile", "-d", str(tmp_path)])
    assert status in (0, None), "pybabel compile reported errors"
    with (folder / "messages.mo").open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        if message.pluralizable:
            singular, plural = _forms(message.id)[:2]
            for n, expected in enumerate(_forms(message.string)):
                number = next(i for i in range(1000) if compiled.plural(i) == n)
                if compiled.ngettext(singular, plural, number) != expected:
                    wrong.append(singular)
        elif message.context:
            if compiled.pgettext(message.context, message.id) != message.string:
                wrong.append(f"{message.context}|{message.id}")
        elif compiled.gettext(message.id) != message.string:
            wrong.append(message.id)
    assert not wrong, f"the compiled {language} catalog does not serve: {wrong[:10]}"
