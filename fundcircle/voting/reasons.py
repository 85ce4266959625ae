"""A result's reasons in the reader's language.

The allocation rules (quadratic.py, equal_shares.py) write each proposal's reason as an English sentence, and that
sentence is what the result stores and what the ledger's `round.result_published` entry holds, so a replay of the
ledger compares it word for word: the stored reason stays English. A page shows it translated: each sentence the
rules write has a pattern here, which reads its numbers and amounts back and says the same in the reader's language
(amounts in the reader's way of writing money). A reason no pattern knows (a consent rule's, say) is looked up as a
message as it is, and shown unchanged if the catalogue lacks it. tests/rules/test_result_reasons.py checks that
every sentence the rules write has its pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from flask_babel import gettext, ngettext

from fundcircle.i18n import DEFAULT_LANGUAGE, current_language, money_text
from fundcircle.money import CURRENCY_EXPONENTS

#: An amount as fundcircle.money.format_minor writes it, with "about " when equal shares rounded it.
_MONEY = r"(?:about )?-?[0-9][0-9,]*(?:\.[0-9]+)? [A-Z]{3}"
_NUMBER = r"-?[0-9]+"


def _money(text: str) -> str:
    """An English amount of a reason ("about 3.33 EUR") as the reader writes it."""
    about = text.startswith("about ")
    number, currency = text.removeprefix("about ").rsplit(" ", 1)
    exponent = CURRENCY_EXPONENTS.get(currency)
    if exponent is None:
        return text
    minor = int(Decimal(number.replace(",", "")).scaleb(exponent))
    amount = money_text(minor, currency)
    return gettext("about %(amount)s", amount=amount) if about else amount


def _count(text: str) -> int:
    return int(text)


_Saying = Callable[[dict[str, str]], str]


def _funded_each(v: dict[str, str]) -> str:
    return ngettext(
        "funded: %(num)d supporter paid %(amount)s",
        "funded: %(num)d supporters each paid %(amount)s",
        _count(v["count"]),
        amount=_money(v["amount"]),
    )


def _funded_capped(v: dict[str, str]) -> str:
    return ngettext(
        "funded: %(num)d supporter; %(capped)s paid all they had left, the others %(amount)s each",
        "funded: %(num)d supporters; %(capped)s paid all they had left, the others %(amount)s each",
        _count(v["count"]),
        capped=v["capped"],
        amount=_money(v["amount"]),
    )


def _capped_tail(v: dict[str, str]) -> str:
    if not v.get("capped"):
        return ""
    return "; " + ngettext(
        "%(num)d of them paid less: all they had left",
        "%(num)d of them paid less: all they had left",
        _count(v["capped"]),
    )


def _funded_per_vote(v: dict[str, str]) -> str:
    return ngettext(
        "funded: %(num)d supporter paid %(price)s for each vote they gave",
        "funded: %(num)d supporters paid %(price)s for each vote they gave",
        _count(v["count"]),
        price=_money(v["price"]),
    ) + _capped_tail(v)


def _funded_per_point(v: dict[str, str]) -> str:
    return ngettext(
        "funded: %(num)d supporter paid %(price)s for each point they gave",
        "funded: %(num)d supporters paid %(price)s for each point they gave",
        _count(v["count"]),
        price=_money(v["price"]),
    ) + _capped_tail(v)


def _funded_per_approval(v: dict[str, str]) -> str:
    return ngettext(
        "funded: %(num)d supporter paid %(price)s for each approval they gave",
        "funded: %(num)d supporters paid %(price)s for each approval they gave",
        _count(v["count"]),
        price=_money(v["price"]),
    ) + _capped_tail(v)


#: Each English sentence the rules write, as a pattern of its values, and how to say it in the reader's language.
_SAYINGS: tuple[tuple[re.Pattern[str], _Saying], ...] = tuple(
    (re.compile(pattern), saying)
    for pattern, saying in (
        (
            rf"no quorum: (?P<cast>{_NUMBER}) of (?P<eligible>{_NUMBER}) circle members voted, "
            rf"(?P<quorum>{_NUMBER})% needed",
            lambda v: gettext(
                "no quorum: %(cast)s of %(eligible)s circle members voted, %(quorum)s%% needed",
                cast=v["cast"],
                eligible=v["eligible"],
                quorum=v["quorum"],
            ),
        ),
        (r"funded", lambda v: gettext("funded")),
        (r"score not above 0", lambda v: gettext("score not above 0")),
        (r"no approvals", lambda v: gettext("no approvals")),
        (r"no points", lambda v: gettext("no points")),
        (
            rf"skipped: needs (?P<amount>{_MONEY}), (?P<left>{_MONEY}) left",
            lambda v: gettext(
                "skipped: needs %(amount)s, %(left)s left", amount=_money(v["amount"]), left=_money(v["left"])
            ),  # fmt: skip
        ),
        (rf"funded: (?P<count>{_NUMBER}) supporters? (?:each )?paid (?P<amount>{_MONEY})", _funded_each),
        (
            rf"funded: (?P<count>{_NUMBER}) supporters?; (?P<capped>{_NUMBER}) paid all they had left, the others "
            rf"(?P<amount>{_MONEY}) each",
            _funded_capped,
        ),
        (
            rf"funded: (?P<count>{_NUMBER}) supporters? paid (?P<price>{_MONEY}) for each vote they gave"
            rf"(?:; (?P<capped>{_NUMBER}) of them paid less: all they had left)?",
            _funded_per_vote,
        ),
        (
            rf"funded: (?P<count>{_NUMBER}) supporters? paid (?P<price>{_MONEY}) for each point they gave"
            rf"(?:; (?P<capped>{_NUMBER}) of them paid less: all they had left)?",
            _funded_per_point,
        ),
        (
            rf"funded: (?P<count>{_NUMBER}) supporters? paid (?P<price>{_MONEY}) for each approval they gave"
            rf"(?:; (?P<capped>{_NUMBER}) of them paid less: all they had left)?",
            _funded_per_approval,
        ),
        (r"not funded: nobody supported it", lambda v: gettext("not funded: nobody supported it")),
        (
            rf"funded in the completion: its supporters had (?P<had>{_MONEY}) left of the (?P<amount>{_MONEY}) it "
            rf"needs; going by most support, the completion paid it from the (?P<unspent>{_MONEY}) of the budget "
            r"still unspent",
            lambda v: gettext(
                "funded in the completion: its supporters had %(had)s left of the %(amount)s it needs; going by "
                "most support, the completion paid it from the %(unspent)s of the budget still unspent",
                had=_money(v["had"]),
                amount=_money(v["amount"]),
                unspent=_money(v["unspent"]),
            ),
        ),
        (
            rf"not funded: its supporters had (?P<had>{_MONEY}) left of the (?P<amount>{_MONEY}) it needs, and the "
            rf"(?P<unspent>{_MONEY}) of the budget still unspent could not pay for it",
            lambda v: gettext(
                "not funded: its supporters had %(had)s left of the %(amount)s it needs, and the %(unspent)s of the "
                "budget still unspent could not pay for it",
                had=_money(v["had"]),
                amount=_money(v["amount"]),
                unspent=_money(v["unspent"]),
            ),
        ),
    )
)


def reason_saying(reason: str) -> _Saying | None:
    """How the reader's language says `reason`, if it is a sentence the voting rules write."""
    for pattern, saying in _SAYINGS:
        if (match := pattern.fullmatch(reason)) is not None:
            values = {name: value for name, value in match.groupdict().items() if value is not None}
            return lambda _: saying(values)
    return None


def reason_text(reason: str) -> str:
    """A stored reason in the reader's language (English as stored)."""
    if current_language() == DEFAULT_LANGUAGE:
        return reason
    saying = reason_saying(reason)
    if saying is not None:
        return saying({})
    # A reason of another rule (consent's), marked there: the catalogue may have it as it is.
    return gettext(reason) if reason else reason  # a stored message id, not a literal
