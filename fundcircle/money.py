"""Money as integer minor units with an ISO 4217 currency code. Pure: no Flask, no database, never floats."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import (
    NumberFormatError,
    format_currency,
    get_currency_precision,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
    parse_pattern,
)

from fundcircle.phrases import N_, PhrasedError

#: The currencies Open Collective takes: its schema's `Currency` enum (opencollective-api, server/graphql/
#: schemaV2.graphql at commit e3f35f5; tests/rules/test_money.py checks this list against the pinned schema).
OPEN_COLLECTIVE_CURRENCIES = (
    "USD", "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BIF",
    "BMD", "BND", "BOB", "BRL", "BSD", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CVE",
    "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF",
    "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR", "ISK", "JMD", "JPY", "KES", "KGS", "KHR",
    "KMF", "KRW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
    "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SEK", "SGD", "SHP", "SLL", "SOS",
    "SRD", "SZL", "THB", "TJS", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "UYU", "UZS", "VND", "VUV", "WST",
    "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW",
)  # fmt: skip
#: Minor units Fund Circle stored before it read them from CLDR, where CLDR (through Babel) now says 0: amounts
#: already stored in these currencies are in hundredths, so these stay until a migration converts them.
STORED_BEFORE_CLDR = {"COP": 2, "HUF": 2, "IDR": 2}
#: Currencies a circle can hold, with the number of digits of their minor unit, from CLDR's currency data (Babel).
CURRENCY_EXPONENTS: dict[str, int] = {
    code: STORED_BEFORE_CLDR.get(code, get_currency_precision(code)) for code in OPEN_COLLECTIVE_CURRENCIES
}
#: Open Collective counts every amount in hundredths of the unit ("cents"), whatever the currency's minor unit:
#: 1,000 JPY is valueInCents 100000 (server/lib/currency.ts, roundCentsAmount).
OPEN_COLLECTIVE_EXPONENT = 2

#: At most fifteen digits of major units: every amount then fits a JavaScript number and a BIGINT of minor units.
MAX_MAJOR_DIGITS = 15
#: The locale every form and the API read typed amounts in, until a person's locale is chosen (Flask-Babel).
FORM_LOCALE = "en"
#: Marks people use to group thousands whatever their locale says (a space of any kind, an apostrophe as in
#: Switzerland, an underscore as in code); accepted only in groups of three and one kind to an amount.
_OTHER_GROUP_MARKS = " \u00a0\u202f\u2009'_"


class MoneyError(PhrasedError):
    """An amount or currency that cannot be used; the message says why in words (in the reader's language with
    `fundcircle.i18n.translated`; `str()` is English)."""


def check_currency(code: str) -> str:
    """Return the upper-case code.

    :raises MoneyError: if the currency is not one the app supports.
    """
    upper = code.strip().upper()
    if upper not in CURRENCY_EXPONENTS:
        raise MoneyError(N_("%(code)s is not a supported currency code (for example EUR, USD, GBP)."), code=repr(code))
    return upper


def format_minor(amount_minor: int, currency: str, *, with_code: bool = True) -> str:
    """Format 123456 EUR as "1,234.56 EUR" (negative amounts keep their sign)."""
    exponent = CURRENCY_EXPONENTS[currency]
    sign = "-" if amount_minor < 0 else ""
    units, fraction = divmod(abs(amount_minor), 10**exponent)
    text = f"{sign}{units:,}"
    if exponent:
        text += f".{fraction:0{exponent}d}"
    return f"{text} {currency}" if with_code else text


def minor_digits(currency: str) -> int:
    """How many digits the currency's minor unit has: Babel's (CLDR's) data, except for the currencies whose stored
    amounts predate it (STORED_BEFORE_CLDR). EUR 2, JPY 0, KWD 3.

    :raises MoneyError: if the code is not a three-letter currency code.
    """
    if currency in CURRENCY_EXPONENTS:
        return CURRENCY_EXPONENTS[currency]
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise MoneyError(N_("%(code)s is not a currency code (for example EUR, USD, GBP)."), code=repr(currency))
    digits: int = get_currency_precision(currency)
    return digits


@lru_cache(maxsize=64)
def _symbols(locale: str) -> tuple[Locale, str, str]:
    """The parsed locale with its group and decimal symbols (cached: Locale.parse reads CLDR's data files)."""
    parsed = Locale.parse(locale)
    return parsed, get_group_symbol(parsed), get_decimal_symbol(parsed)


def number_symbols(locale: str) -> tuple[str, str]:
    """The locale's decimal and group symbols, as `parse_money` reads them: (".", ",") in en, (",", ".") in de and
    es (for a page's script that reads typed amounts the way the server will)."""
    _, group, decimal = _symbols(locale)
    return decimal, group


def format_money(amount_minor: int, currency: str, locale: str, *, with_currency: bool = True) -> str:
    """Format integer minor units the way the locale writes that currency, with Babel (CLDR's currency pattern):
    123456 EUR is "€1,234.56" in en and "1.234,56 €" in de and es; 1500 JPY is "¥1,500" in en, "1.500 ¥" in de.

    The number of decimals is always the currency's minor unit (`minor_digits`), never rounded. Without the
    currency the result is the bare number ("1.234,56"), which is what `parse_money` reads back in that locale.

    :raises MoneyError: if the currency code is not a currency code.
    """
    parsed, _, _ = _symbols(locale)
    digits = minor_digits(currency)
    text = parsed.currency_formats["standard"].pattern
    if not with_currency:
        # Drop the currency sign and the (often non-breaking) space that joins it to the number.
        text = re.sub(r"[\s\u00a0\u202f]*\u00a4+[\s\u00a0\u202f]*", "", text)
    pattern = parse_pattern(text)
    pattern.frac_prec = (digits, digits)
    value = Decimal(amount_minor).scaleb(-digits)
    return format_currency(value, currency, format=pattern, locale=parsed, currency_digits=False)


def _mixed_separators(text: str, decimal: str, example: str) -> MoneyError:
    """The refusal of a group symbol after the decimal symbol, naming the decimal symbol in words."""
    if decimal == ".":
        message = N_("%(text)s mixes separators: a point marks decimals and comes last, like %(example)s")
    elif decimal == ",":
        message = N_("%(text)s mixes separators: a comma marks decimals and comes last, like %(example)s")
    else:
        return MoneyError(
            N_("%(text)s mixes separators: %(symbol)s marks decimals and comes last, like %(example)s"),
            text=repr(text),
            symbol=repr(decimal),
            example=example,
        )
    return MoneyError(message, text=repr(text), example=example)


def _badly_grouped(text: str, decimal: str, example: str) -> MoneyError:
    """The refusal of grouping that is not by three, naming the decimal symbol in words."""
    if decimal == ".":
        message = N_(
            "%(text)s is not an amount: use a point for decimals and group thousands by three, like %(example)s"
        )
    elif decimal == ",":
        message = N_(
            "%(text)s is not an amount: use a comma for decimals and group thousands by three, like %(example)s"
        )
    else:
        return MoneyError(
            N_("%(text)s is not an amount: use %(symbol)s for decimals and group thousands by three, like %(example)s"),
            text=repr(text),
            symbol=repr(decimal),
            example=example,
        )
    return MoneyError(message, text=repr(text), example=example)


def parse_money(text: str, currency: str, locale: str) -> int:
    """Turn what a person typed, in their locale's own form, into the currency's integer minor units, exactly.

    "1,000.50" in en and "1.000,50" in de or es are 100050 EUR. The locale's group symbol may group whole units by
    three, and so may a space, an apostrophe or an underscore (one kind to an amount); the locale's decimal symbol
    marks the decimals, at most as many as the currency's minor unit (`minor_digits`, from Babel). Babel's strict
    parser (`parse_decimal(strict=True)`) then reads the number, so grouping in the wrong place is refused. No
    sign, currency symbol or exponent is accepted. Nothing is ever guessed:

    - a decimal comma with exactly three digits after it and no grouping ("1,000" in de) is refused as ambiguous
      when the currency has fewer than three decimals, because it reads as a thousand in English; with a
      three-decimal currency (KWD) it is what the locale says (one), so every formatted amount reads back. (A
      decimal point before three digits, "1.000" in en, stays refused for its decimals, as it always was.);
    - a group symbol after the decimal symbol ("1.000,50" in en, "1,000.50" in de) is refused as mixed separators.

    :raises MoneyError: if the text is not an amount in that locale, is ambiguous, or has more decimals than the
        currency has; the message names which, and shows how to write it.
    """
    parsed, group, decimal = _symbols(locale)
    digits = minor_digits(currency)
    example_fraction = f"{decimal}{'0' * digits}" if digits else ""
    plain_example = f"1250{example_fraction}"
    not_an_amount = MoneyError(
        N_("%(text)s is not an amount: write it like %(example)s"), text=repr(text), example=plain_example
    )
    stripped = text.strip()
    marks = re.escape(group + decimal + _OTHER_GROUP_MARKS)
    if not re.fullmatch(rf"[0-9{marks}]+", stripped) or not re.search(r"\d", stripped):
        raise not_an_amount
    whole, point, fraction = stripped.partition(decimal)
    if point and (not whole or not fraction):
        raise not_an_amount  # "12." or ".5": a half-typed amount
    if point and not fraction.isdigit():
        if fraction.replace(decimal, "").isdigit():
            raise not_an_amount  # "1.2.3": decimal symbols only, no reading of it is an amount
        raise _mixed_separators(
            text, decimal, format_money(1250 * 10**digits, currency, str(parsed), with_currency=False)
        )
    separators = set(re.sub(r"\d", "", whole))
    if len(separators) > 1 or (separators and not re.fullmatch(r"\d{1,3}(?:\D\d{3})+", whole)):
        grouped = format_money(1250 * 10**digits, currency, str(parsed), with_currency=False)
        raise _badly_grouped(text, decimal, grouped)
    if decimal == "," and not separators and len(whole) <= 3 and len(fraction) == 3 and digits < 3:
        # "1,000" is a thousand to anyone used to English: refuse it rather than read one (or fail on decimals).
        as_thousands = f"{whole}{group}{fraction}"
        as_decimal = format_money(
            int(whole + fraction) * 10**digits // 1000, currency, str(parsed), with_currency=False
        )
        raise MoneyError(
            N_(
                "%(text)s is ambiguous: here a comma marks decimals, not thousands; "
                "write %(as_thousands)s for %(thousands)s or %(as_decimal)s for %(units)s"
            ),
            text=repr(text),
            as_thousands=as_thousands,
            thousands=str(int(whole + fraction)),
            as_decimal=as_decimal,
            units=as_decimal.split(decimal)[0],
        )
    if len(re.sub(r"\D", "", whole)) > MAX_MAJOR_DIGITS:
        raise not_an_amount
    if len(fraction) > digits:
        if digits == 0:
            raise MoneyError(N_("%(currency)s has no minor unit: write a whole number."), currency=currency)
        raise MoneyError(N_("%(currency)s has %(digits)d decimals at most."), currency=currency, digits=digits)
    normalised = (re.sub(r"\D", group, whole) if separators else whole) + (decimal + fraction if point else "")
    try:
        value = parse_decimal(normalised, parsed, strict=True)
    except NumberFormatError as error:
        raise not_an_amount from error
    minor = value.scaleb(digits)
    if minor != minor.to_integral_value():  # unreachable after the checks above; never round money silently
        raise not_an_amount
    return int(minor)


def to_open_collective_cents(amount_minor: int, currency: str) -> int:
    """An amount in the currency's minor units as Open Collective counts it (`valueInCents`, hundredths)."""
    factor: int = 10 ** (OPEN_COLLECTIVE_EXPONENT - CURRENCY_EXPONENTS[currency])  # no currency has more than 2
    return amount_minor * factor


def from_open_collective_cents(value_in_cents: int, currency: str) -> int:
    """Open Collective's `valueInCents` in the currency's minor units (rounded down for a zero-decimal currency,
    whose amounts Open Collective keeps in whole hundreds of cents anyway)."""
    factor: int = 10 ** (OPEN_COLLECTIVE_EXPONENT - CURRENCY_EXPONENTS[currency])
    return value_in_cents // factor
