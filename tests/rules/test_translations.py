"""The catalogues (fundcircle/translations/) against the code: every message a person can read is in the English
template, and every language has all of them, translated, with the same placeholders and markup, compiled."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo

from fundcircle.i18n import DEFAULT_LANGUAGE, LANGUAGES
from tests.catalogues import translations_tool

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdrif]|%[sd]")
TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)")


_tool = translations_tool


@cache
def _template() -> Catalog:
    tool = _tool()
    return tool.read(tool.TEMPLATE, DEFAULT_LANGUAGE)


@cache
def _catalog(language: str) -> Catalog:
    tool = _tool()
    return tool.read(tool.po_path(language), language)


def _ids(catalog: Catalog) -> set[tuple[object, object]]:
    return {(message.id, message.context) for message in catalog if message.id}


def _strings(message: Message) -> list[str]:
    value = message.string
    return [str(s) for s in value] if isinstance(value, (list, tuple)) else [str(value or "")]


def _id_texts(message: Message) -> list[str]:
    return [str(s) for s in message.id] if isinstance(message.id, (list, tuple)) else [str(message.id)]


def test_the_english_template_holds_exactly_the_messages_of_the_code_and_templates() -> None:
    """A message added (or changed) in the code without `make translations` fails here, and so does one removed."""
    extracted = _ids(_tool().extracted())
    kept = _ids(_template())
    assert sorted(map(repr, extracted - kept)) == [], "messages missing from messages.pot: run `make translations`"
    assert sorted(map(repr, kept - extracted)) == [], "messages.pot holds messages the code no longer has"
    assert len(extracted) > 500, "the extraction found almost nothing: is babel.cfg's method map right?"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_language_translates_every_message(language: str) -> None:
    lacking = _tool().missing(_catalog(language), _template())
    assert lacking == [], f"{language} lacks {len(lacking)} messages, e.g. {lacking[:5]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders_and_the_markup_of_the_english(language: str) -> None:
    """A translation that drops %(amount)s or an <a> loses what the page shows; one that adds a placeholder crashes
    the page (KeyError) when it is shown."""
    wrong = []
    for message in _template():
        if not message.id:
            continue
        found = _catalog(language).get(message.id, message.context)
        if found is None:
            continue
        english = _id_texts(message)
        expected = {name for text in english for name in PLACEHOLDER.findall(text)}
        tags = sorted(TAG.findall(english[0]))
        for text in _strings(found):
            # A plural's singular may say "one" instead of %(num)d; every other placeholder must stay.
            names = set(PLACEHOLDER.findall(text))
            if not names <= expected or (expected - names) - {"num"}:
                wrong.append((english[0], text))
            elif sorted(TAG.findall(text)) != tags:
                wrong.append((english[0], text))
    assert wrong == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_is_the_current_one(language: str) -> None:
    """The app reads the .mo; one compiled before the .po changed shows old or English words."""
    tool = _tool()
    with tool.po_path(language).with_suffix(".mo").open("rb") as file:
        compiled = read_mo(file)
    source = {(tuple(_id_texts(m)), m.context): _strings(m) for m in _catalog(language) if m.id and not m.fuzzy}
    built = {(tuple(_id_texts(m)), m.context): _strings(m) for m in compiled if m.id}
    assert built == source, "the .mo is older than its .po: run `make translations`"
