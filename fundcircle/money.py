"""Money as integer minor units with an ISO 4217 currency code. Pure: no Flask, no database, never floats."""

from __future__ import annotations

import re

#: Currencies a circle can hold, with the number of digits of their minor unit (ISO 4217).
CURRENCY_EXPONENTS: dict[str, int] = {
    "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "COP": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2,
    "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0, "JPY": 0, "KES": 2, "KRW": 0, "MXN": 2,
    "NGN": 2, "NOK": 2, "NZD": 2, "PHP": 2, "PLN": 2, "RON": 2, "SEK": 2, "SGD": 2, "TWD": 2, "UAH": 2,
    "USD": 2, "UYU": 2, "ZAR": 2,
}  # fmt: skip

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
