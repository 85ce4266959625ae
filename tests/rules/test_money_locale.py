"""Money in a person's locale: Babel formats integer minor units, and parses what people type in their own form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundcircle.money import MAX_MAJOR_DIGITS, MoneyError, format_minor, format_money, minor_digits, parse_money

# --- minor units from Babel's data -------------------------------------------------------------------------------


@pytest.mark.parametrize(("currency", "digits"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3)])
def test_the_minor_unit_comes_from_babels_currency_data(currency, digits):
    assert minor_digits(currency) == digits


def test_the_minor_unit_of_currencies_stored_before_cldr_stays_two():
    assert minor_digits("HUF") == 2


def test_a_currency_code_that_is_not_one_is_refused_by_name():
    with pytest.raises(MoneyError, match=r"^'euro' is not a currency code"):
        minor_digits("euro")


# --- formatting in a locale --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "text"),
    [
        (123456, "EUR", "en", "€1,234.56"),
        (123456, "EUR", "de", "1.234,56\xa0€"),
        (123456, "EUR", "es", "1.234,56\xa0€"),
        (0, "EUR", "de", "0,00\xa0€"),
        (1500, "JPY", "en", "¥1,500"),
        (1500, "JPY", "de", "1.500\xa0¥"),
        (1500, "JPY", "es", "1.500\xa0JPY"),
        (1234567, "KWD", "en", "KWD1,234.567"),
        (1234567, "KWD", "de", "1.234,567\xa0KWD"),
    ],
)
def test_an_amount_reads_as_its_locale_writes_the_currency(minor, currency, locale, text):
    assert format_money(minor, currency, locale) == text


def test_the_bare_number_leaves_out_the_currency_sign_and_its_space():
    assert format_money(123456789, "EUR", "en", with_currency=False) == "1,234,567.89"
    assert format_money(123456789, "EUR", "de", with_currency=False) == "1.234.567,89"
    assert format_money(123456789, "JPY", "es", with_currency=False) == "123.456.789"


def test_a_currency_with_fewer_decimals_in_cldr_keeps_the_decimals_its_amounts_are_stored_in():
    """HUF amounts are stored in hundredths (STORED_BEFORE_CLDR): 12345 is 123.45, never rounded to 123."""
    assert format_money(12345, "HUF", "de", with_currency=False) == "123,45"


@given(st.integers(min_value=-(10**17), max_value=10**17), st.sampled_from(["EUR", "JPY", "ISK", "CHF"]))
def test_in_english_the_bare_number_is_the_one_every_page_shows_today(minor, currency):
    assert format_money(minor, currency, "en", with_currency=False) == format_minor(minor, currency, with_code=False)


# --- round trips -------------------------------------------------------------------------------------------------

EUR_ROUND_TRIPS = {
    "en": ["0.00", "1.00", "999.99", "1,000.00", "1,234,567.89"],
    "de": ["0,00", "1,00", "999,99", "1.000,00", "1.234.567,89"],
    "es": ["0,00", "1,00", "999,99", "1.000,00", "1.234.567,89"],
}
EUR_MINOR = [0, 100, 99999, 100000, 123456789]


@pytest.mark.parametrize("locale", ["en", "de", "es"])
def test_two_decimal_amounts_round_trip_in_each_locale(locale):
    for typed, minor in zip(EUR_ROUND_TRIPS[locale], EUR_MINOR, strict=True):
        assert parse_money(typed, "EUR", locale) == minor
        assert format_money(minor, "EUR", locale, with_currency=False) == typed


@pytest.mark.parametrize(
    ("locale", "typed"),
    [("en", ["0", "1", "999", "1,000", "1,234,567"]), ("de", ["0", "1", "999", "1.000", "1.234.567"])]
    + [("es", ["0", "1", "999", "1.000", "1.234.567"])],
)
def test_yen_amounts_round_trip_without_decimals_in_each_locale(locale, typed):
    for text, minor in zip(typed, [0, 1, 999, 1000, 1234567], strict=True):
        assert parse_money(text, "JPY", locale) == minor
        assert format_money(minor, "JPY", locale, with_currency=False) == text


@pytest.mark.parametrize(
    ("typed", "locale", "minor"),
    [
        ("1000,5", "de", 100050),
        ("1 000,50", "de", 100050),
        ("1\xa0000,50", "es", 100050),
        ("1'000,50", "de", 100050),
        ("  12,5 ", "es", 1250),
        ("1000", "de", 100000),
        ("1000.50", "en", 100050),
    ],
)
def test_people_may_leave_out_grouping_or_group_by_spaces_and_apostrophes(typed, locale, minor):
    assert parse_money(typed, "EUR", locale) == minor


def test_a_three_decimal_currency_reads_a_decimal_comma_as_the_locale_says():
    assert parse_money("1,500", "KWD", "de") == 1500
    assert parse_money("1.234,567", "KWD", "de") == 1234567
    assert parse_money("1,500", "KWD", "en") == 1500000


# --- refusals ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "currency"), [("1,000", "EUR"), ("250,000", "EUR"), ("1,000", "JPY")])
@pytest.mark.parametrize("locale", ["de", "es"])
def test_a_decimal_comma_before_three_digits_is_refused_as_ambiguous(typed, currency, locale):
    """In English 1,000 is a thousand; in German it would be one with three decimals. Neither is guessed."""
    with pytest.raises(MoneyError, match="is ambiguous: here a comma marks decimals, not thousands") as caught:
        parse_money(typed, currency, locale)

    whole, fraction = typed.split(",")
    assert f"write {whole}.{fraction} for {int(whole + fraction)}" in str(caught.value)


def test_the_ambiguity_message_shows_both_readings_in_the_locales_form():
    with pytest.raises(MoneyError) as caught:
        parse_money("1,000", "EUR", "de")

    assert str(caught.value) == (
        "'1,000' is ambiguous: here a comma marks decimals, not thousands; write 1.000 for 1000 or 1,00 for 1"
    )


@pytest.mark.parametrize(
    ("typed", "locale", "example"),
    [
        ("1,000.00", "de", "1.250,00"),
        ("1,234,567.89", "es", "1.250,00"),
        ("1.000,00", "en", "1,250.00"),
        ("1.234.567,89", "en", "1,250.00"),
    ],
)
def test_a_group_symbol_after_the_decimal_symbol_is_refused_as_mixed_separators(typed, locale, example):
    with pytest.raises(MoneyError, match="mixes separators") as caught:
        parse_money(typed, "EUR", locale)

    assert str(caught.value).endswith(f"marks decimals and comes last, like {example}")
    assert repr(typed) in str(caught.value)


@pytest.mark.parametrize("typed", ["10.00", "1.00.000", "12.34.567,00", "1.0000", "1.000 000"])
def test_grouping_in_the_wrong_place_is_refused(typed):
    with pytest.raises(
        MoneyError, match=r"is not an amount: use a comma for decimals and group thousands by three"
    ) as c:
        parse_money(typed, "EUR", "de")

    assert str(c.value).endswith("like 1.250,00")


@pytest.mark.parametrize(
    ("locale", "typed"), [("en", "12.345"), ("de", "12,3456"), ("es", "0,0001"), ("de", "1.000,5555")]
)
def test_more_decimals_than_the_currency_has_are_refused(locale, typed):
    with pytest.raises(MoneyError, match=r"^EUR has 2 decimals at most\.$"):
        parse_money(typed, "EUR", locale)


@pytest.mark.parametrize(("locale", "typed"), [("de", "12,5"), ("es", "1.000,00"), ("en", "1,000.00")])
def test_decimals_in_a_currency_without_minor_unit_are_refused(locale, typed):
    with pytest.raises(MoneyError, match=r"^JPY has no minor unit: write a whole number\.$"):
        parse_money(typed, "JPY", locale)


@pytest.mark.parametrize("typed", ["", "abc", "-5", "+5", "1,2,3", "12,", ",5", "12 €", "€12", "1e3", "1" * 16])
def test_text_that_is_not_an_amount_is_refused_in_the_locales_example(typed):
    with pytest.raises(MoneyError, match=r"is not an amount: write it like 1250,00$") as caught:
        parse_money(typed, "EUR", "de")

    assert repr(typed) in str(caught.value)


# --- properties --------------------------------------------------------------------------------------------------

CURRENCIES = ["EUR", "USD", "JPY", "KWD"]


@st.composite
def amounts(draw: st.DrawFn) -> tuple[int, str]:
    currency = draw(st.sampled_from(CURRENCIES))
    largest = 10**MAX_MAJOR_DIGITS * 10 ** minor_digits(currency) - 1
    return draw(st.integers(min_value=0, max_value=largest)), currency


@pytest.mark.parametrize("locale", ["en", "de", "es"])
@given(amount=amounts())
def test_parsing_a_formatted_amount_gives_it_back_in_each_locale(locale, amount):
    minor, currency = amount

    assert parse_money(format_money(minor, currency, locale, with_currency=False), currency, locale) == minor


@pytest.mark.parametrize("locale", ["en", "de", "es"])
@given(amount=amounts())
def test_a_formatted_amount_has_the_currencys_decimals_and_its_sign_or_code(locale, amount):
    minor, currency = amount
    text = format_money(minor, currency, locale)
    bare = format_money(minor, currency, locale, with_currency=False)

    assert bare in text and text != bare
    decimal = "." if locale == "en" else ","
    assert (decimal in bare) == (minor_digits(currency) > 0)
    if minor_digits(currency):
        assert len(bare.rsplit(decimal, 1)[1]) == minor_digits(currency)
