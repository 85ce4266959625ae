"""Money as integer minor units: formatting, parsing what people type, and the currencies a circle can hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundcircle.money import CURRENCY_EXPONENTS, FORM_LOCALE, MoneyError, check_currency, format_minor, parse_money

# --- check_currency ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "code"), [("EUR", "EUR"), ("eur", "EUR"), (" jpy ", "JPY"), ("Gbp\n", "GBP")])
def test_check_currency_returns_the_upper_case_code(typed, code):
    assert check_currency(typed) == code


@pytest.mark.parametrize("typed", ["XYZ", "EURO", "", "€", "BTC"])
def test_check_currency_refuses_unsupported_codes_with_examples(typed):
    with pytest.raises(MoneyError, match="is not a supported currency code") as caught:
        check_currency(typed)

    assert repr(typed) in str(caught.value)
    assert "EUR" in str(caught.value)


def test_every_supported_currency_has_an_iso_code_and_zero_or_two_decimals():
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2}
    assert CURRENCY_EXPONENTS["EUR"] == 2 and CURRENCY_EXPONENTS["JPY"] == 0


# --- format_minor ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (0, "EUR", "0.00 EUR"),
        (5, "EUR", "0.05 EUR"),
        (50, "EUR", "0.50 EUR"),
        (100, "EUR", "1.00 EUR"),
        (123456, "EUR", "1,234.56 EUR"),
        (100000000, "USD", "1,000,000.00 USD"),
        (0, "JPY", "0 JPY"),
        (999, "JPY", "999 JPY"),
        (1234567, "JPY", "1,234,567 JPY"),
        (1000, "ISK", "1,000 ISK"),
    ],
)
def test_format_minor_writes_major_units_with_thousands_separators(minor, currency, text):
    assert format_minor(minor, currency) == text


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(-5, "EUR", "-0.05 EUR"), (-123456, "EUR", "-1,234.56 EUR"), (-1234567, "JPY", "-1,234,567 JPY")],
)
def test_format_minor_keeps_the_sign_of_negative_amounts(minor, currency, text):
    assert format_minor(minor, currency) == text


def test_format_minor_can_leave_out_the_code():
    assert format_minor(123456, "EUR", with_code=False) == "1,234.56"
    assert format_minor(1500, "JPY", with_code=False) == "1,500"


# --- parse_money in the forms' locale (English) ---------------------------------------------------------------------


def parse_major(text: str, currency: str) -> int:
    """What the forms read today: an amount typed in English."""
    return parse_money(text, currency, FORM_LOCALE)


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("1000", "EUR", 100000),
        ("1000.50", "EUR", 100050),
        ("12.5", "EUR", 1250),
        ("0.05", "EUR", 5),
        ("0", "EUR", 0),
        ("1,000.50", "EUR", 100050),
        ("1 000 000", "EUR", 100000000),
        ("1'234.56", "CHF", 123456),
        ("1_000", "USD", 100000),
        ("  42.10  ", "GBP", 4210),
        ("1500", "JPY", 1500),
        ("1,500", "JPY", 1500),
    ],
)
def test_parse_major_turns_what_people_type_into_exact_minor_units(typed, currency, minor):
    assert parse_major(typed, currency) == minor


def test_parse_major_is_exact_where_floats_are_not():
    assert parse_major("0.29", "EUR") == 29  # int(0.29 * 100) == 28
    assert parse_major("1.15", "EUR") == 115  # round(1.15 * 100) == 114.99999999999999 before rounding


@pytest.mark.parametrize("typed", ["12.345", "0.001", "1,000.505"])
def test_parse_major_refuses_more_decimals_than_the_currency_has(typed):
    with pytest.raises(MoneyError, match=r"^EUR has 2 decimals at most\.$"):
        parse_major(typed, "EUR")


@pytest.mark.parametrize("typed", ["12.5", "1,000.00", "0.1"])
def test_parse_major_asks_for_a_whole_number_in_a_currency_without_minor_unit(typed):
    with pytest.raises(MoneyError, match=r"^JPY has no minor unit: write a whole number\.$"):
        parse_major(typed, "JPY")


@pytest.mark.parametrize(
    "typed", ["", "   ", "abc", "12a", "-5", "+5", "1.2.3", "12.", ".5", "€12", "12 EUR", "1e3", "1" * 16]
)
def test_parse_major_refuses_text_that_is_not_an_amount(typed):
    with pytest.raises(MoneyError, match="is not an amount: write it like 1250.00") as caught:
        parse_major(typed, "EUR")

    assert repr(typed) in str(caught.value)


@pytest.mark.parametrize("typed", ["12,50", "1.000,50", "1,000,50", "1,0", "12,5"])
def test_parse_major_refuses_a_comma_that_is_not_between_groups_of_three_digits(typed):
    """A decimal comma ("12,50" meaning twelve euros fifty) must not be read as a thousands separator (1,250.00)."""
    with pytest.raises(MoneyError):
        parse_major(typed, "EUR")


def test_parse_major_takes_up_to_fifteen_digits_of_major_units():
    assert parse_major("9" * 15, "EUR") == int("9" * 15) * 100


# --- properties --------------------------------------------------------------------------------------------------


@st.composite
def amounts(draw: st.DrawFn) -> tuple[int, str]:
    currency = draw(st.sampled_from(sorted(CURRENCY_EXPONENTS)))
    largest = 10**15 * 10 ** CURRENCY_EXPONENTS[currency] - 1  # fifteen digits of major units
    return draw(st.integers(min_value=0, max_value=largest)), currency


@given(amounts())
def test_parsing_a_formatted_amount_gives_it_back(amount):
    minor, currency = amount

    assert parse_major(format_minor(minor, currency, with_code=False), currency) == minor


@given(amounts())
def test_a_formatted_amount_ends_with_its_code_and_has_the_currencys_decimals(amount):
    minor, currency = amount
    text = format_minor(minor, currency)
    number, code = text.split(" ")

    assert code == currency
    exponent = CURRENCY_EXPONENTS[currency]
    assert ("." in number) == (exponent > 0)
    if exponent:
        assert len(number.rsplit(".", 1)[1]) == exponent


@given(st.integers(min_value=1, max_value=10**12), st.sampled_from(["EUR", "JPY"]))
def test_a_negative_amount_formats_as_its_positive_amount_with_a_minus(minor, currency):
    assert format_minor(-minor, currency) == "-" + format_minor(minor, currency)


def test_the_currencies_are_open_collectives_with_minor_units_from_cldr() -> None:
    """Every currency of the pinned schema's `Currency` enum and no other, each with Babel's (CLDR's) minor unit,
    except the three whose stored amounts predate CLDR (fundcircle/money.py, STORED_BEFORE_CLDR)."""
    import re
    from pathlib import Path

    from babel.numbers import get_currency_precision

    from fundcircle.money import OPEN_COLLECTIVE_CURRENCIES, STORED_BEFORE_CLDR

    schema = Path(__file__).resolve().parents[2] / "devtools/oc_sandbox/oc_sandbox/schema/schemaV2.graphql"
    enum = re.search(r"^enum Currency \{(.*?)^\}", schema.read_text(encoding="utf-8"), re.S | re.M)
    assert enum is not None
    codes = {line.strip() for line in enum.group(1).splitlines() if re.fullmatch(r"\s*[A-Z]{3}\s*", line)}
    assert codes == set(OPEN_COLLECTIVE_CURRENCIES) == set(CURRENCY_EXPONENTS) and len(codes) == 135
    assert {"CNY", "ARS", "EGP", "GHS"} <= codes
    differs = {
        code: exponent for code, exponent in CURRENCY_EXPONENTS.items() if exponent != get_currency_precision(code)
    }
    assert differs == STORED_BEFORE_CLDR


@pytest.mark.parametrize(
    ("minor", "currency", "cents"), [(25_000, "EUR", 25_000), (1_000, "JPY", 100_000), (5, "KRW", 500), (99, "CNY", 99)]
)
def test_amounts_go_to_open_collective_in_hundredths_whatever_the_minor_unit(minor, currency, cents) -> None:
    from fundcircle.money import from_open_collective_cents, to_open_collective_cents

    assert to_open_collective_cents(minor, currency) == cents
    assert from_open_collective_cents(cents, currency) == minor
