"""Money as integer minor units with an ISO 4217 currency code. Pure: no Flask, no database, never floats."""

from __future__ import annotations

import re

from babel.numbers import get_currency_precision

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

_MAJOR_AMOUNT = re.compile(r"^(?P<units>\d{1,15})(?:\.(?P<fraction>\d+))?$")
#: Whole units with thousands separators: 1,250 or 1 250 or 1'250 (one kind of separator, groups of three).
_GROUPED = re.compile(r"^\d{1,3}(?:(?P<sep>[,\s'_])\d{3})(?:(?P=sep)\d{3})*$")


class MoneyError(ValueError):
    """An amount or currency that cannot be used; the message says why in words."""


def check_currency(code: str) -> str:
    """Return the upper-case code.

    :raises MoneyError: if the currency is not one the app supports.
    """
    upper = code.strip().upper()
    if upper not in CURRENCY_EXPONENTS:
        raise MoneyError(f"{code!r} is not a supported currency code (for example EUR, USD, GBP).")
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


def parse_major(text: str, currency: str) -> int:
    """Turn what a person types ("1,000.50", "1000", "12.5") into minor units, exactly.

    Thousands separators (commas, spaces, apostrophes) may group whole units by three; the decimal separator is a
    point. A comma elsewhere ("12,50") is refused, never read as a hundredfold amount.

    :raises MoneyError: if the text is not an amount, or has more decimals than the currency has.
    """
    exponent = CURRENCY_EXPONENTS[currency]
    stripped = text.strip()
    whole = stripped.split(".", 1)[0]
    if re.fullmatch(r"[\d,\s'_]+", whole) and re.search(r"[,\s'_]", whole) and not _GROUPED.match(whole):
        # "12,50" is a decimal comma, not twelve hundred and fifty: refuse rather than guess.
        raise MoneyError(
            f"{text!r} is not an amount: use a point for decimals and group thousands by three, like 1,250.00"
        )
    cleaned = re.sub(r"[,\s'_]", "", stripped)
    match = _MAJOR_AMOUNT.match(cleaned)
    if not match:
        raise MoneyError(f"{text!r} is not an amount: write it like 1250.00")
    fraction = match.group("fraction") or ""
    if len(fraction) > exponent:
        if exponent == 0:
            raise MoneyError(f"{currency} has no minor unit: write a whole number.")
        raise MoneyError(f"{currency} has {exponent} decimals at most.")
    units = int(match.group("units"))
    minor: int = units * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
    return minor


def to_open_collective_cents(amount_minor: int, currency: str) -> int:
    """An amount in the currency's minor units as Open Collective counts it (`valueInCents`, hundredths)."""
    factor: int = 10 ** (OPEN_COLLECTIVE_EXPONENT - CURRENCY_EXPONENTS[currency])  # no currency has more than 2
    return amount_minor * factor


def from_open_collective_cents(value_in_cents: int, currency: str) -> int:
    """Open Collective's `valueInCents` in the currency's minor units (rounded down for a zero-decimal currency,
    whose amounts Open Collective keeps in whole hundreds of cents anyway)."""
    factor: int = 10 ** (OPEN_COLLECTIVE_EXPONENT - CURRENCY_EXPONENTS[currency])
    return value_in_cents // factor
