"""The reader's language in the small: lazy translations escaped like any text, times and money in each language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask, render_template_string

from fundcircle.i18n import in_language, lazy_gettext, moment_text, money_text, translated
from fundcircle.money import MoneyError, parse_money


def test_a_lazy_translation_is_escaped_on_a_page_like_any_text(app: Flask) -> None:
    """Flask-Babel's own lazy strings count as markup; ours do not, so a name put into one cannot add markup."""
    label = lazy_gettext("Proposals by %(name)s", name='<img src=x onerror="alert(1)">')
    with app.test_request_context():
        page = render_template_string("<p>{{ label }}</p>", label=label)
    assert "<img" not in page and "&lt;img src=x" in page


def test_a_deadline_reads_in_each_language_with_its_zone_named(app: Flask) -> None:
    deadline = datetime(2027, 11, 2, 17, 0, tzinfo=UTC)
    with app.test_request_context():
        said = {}
        for language in ("en", "de", "es"):
            with in_language(language):
                said[language] = moment_text(deadline, "Europe/Berlin")
    assert said == {
        "en": "2 Nov 2027, 18:00 (Europe/Berlin)",
        "de": "02.11.2027, 18:00 (Europe/Berlin)",
        "es": "2 nov 2027, 18:00 (Europe/Berlin)",
    }


def test_a_recipients_own_zone_is_the_one_their_mail_uses(app: Flask) -> None:
    deadline = datetime(2027, 11, 2, 17, 0, tzinfo=UTC)
    with app.test_request_context(), in_language("de", "America/New_York"):
        # 2 November: New York is still on summer time (its clocks go back on 7 November 2027).
        assert moment_text(deadline, "Europe/Berlin") == "02.11.2027, 13:00 (America/New_York)"


def test_money_reads_as_each_language_writes_it(app: Flask) -> None:
    with app.test_request_context():
        said = {}
        for language in ("en", "de", "es"):
            with in_language(language):
                said[language] = (money_text(123456, "EUR"), money_text(1500, "JPY"))
    assert said["en"] == ("1,234.56 EUR", "1,500 JPY")
    assert said["de"] == ("1.234,56\xa0€", "1.500\xa0¥")
    assert said["es"][0].replace("\xa0", " ") in ("1234,56 €", "1.234,56 €")


def test_an_ambiguous_amount_is_refused_in_the_readers_language(app: Flask) -> None:
    """ "1,000" is a thousand in English but one with three decimals in German and Spanish: refused, in words."""
    said = {}
    with app.test_request_context():
        for language in ("de", "es"):
            with in_language(language):
                with pytest.raises(MoneyError) as refused:
                    parse_money("1,000", "EUR", language)
                said[language] = translated(refused.value)
    assert said["de"].startswith("'1,000' ist mehrdeutig: hier trennt ein Komma die Nachkommastellen")
    assert said["es"].startswith("'1,000' es ambiguo: aquí una coma marca los decimales")
    assert str(refused.value).startswith("'1,000' is ambiguous")  # logs and the command line keep the English
