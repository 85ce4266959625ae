"""What a payout may pay, as the ledger says it: the amount, currency and payee a payout row holds are checked against
the entries that created it, approved it and funded it before anything is asked of Open Collective. Pure: no Flask,
no database, no clock.

The rule: every one of the three terms must be vouched for by at least one entry, and no entry may say otherwise.
A term that no entry states is a disagreement too, because money must not move on what the ledger cannot confirm.
The payee's e-mail address is never in the ledger (a public circle's ledger is public); its SHA-256 stands in for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fundcircle.phrases import N_

#: The entries that state a payout's terms: their subject is the payout itself.
PAYOUT_TERM_ACTIONS = ("payout.created", "payout.approval_given", "payout.approved")
#: The entries that state a proposal version's content (and so its payee), whose subject is the proposal.
VERSION_ACTIONS = ("proposal.created", "proposal.submitted", "proposal.amended", "proposal.version_created")
RESULT_ACTION = "round.result_published"


def email_digest(email: str | None) -> str | None:
    """The form in which the ledger keeps a payee's e-mail address (as proposals/services.py writes it)."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest() if email else None


@dataclass(frozen=True)
class PayoutTerms:
    """What the payout row says it pays."""

    amount_minor: int
    currency: str
    payee_slug: str | None
    payee_name: str | None
    payee_email: str | None


@dataclass(frozen=True)
class Fact:
    """One ledger entry that has something to say about the payout: its `seq`, its action and its data."""

    seq: int
    action: str
    data: Mapping[str, Any]


#: The terms in words, for the treasurers who read why a payout was held.
TERM_WORDS = {
    "amount_minor": N_("amount (in minor units)"),
    "currency": N_("currency"),
    "payee": N_("payee"),
    "payee_slug": N_("payee's Open Collective account"),
    "payee_name": N_("payee's name"),
    "payee_email": N_("payee's e-mail address"),
    "funded": N_("funding"),
    "entry": N_("ledger entry"),
}


def _english(message: str, **values: Any) -> str:
    return message % values if values else message


@dataclass(frozen=True)
class Disagreement:
    """A term the payout row and the ledger do not agree on: what the row holds (`stored`), what the ledger says
    (`ledger`), and the entry that says it (`seq` and `action`; None: no entry states the term at all)."""

    field: str
    stored: str
    ledger: str
    seq: int | None
    action: str | None = None

    def sentence(self, gettext: Callable[..., str] = _english) -> str:
        """The disagreement in words, with the field's and the entry's codes; `gettext` says it in the reader's
        language (Flask-Babel's, where a page or mail shows it; English by default, for logs)."""
        english = TERM_WORDS.get(self.field, self.field)
        said = gettext(english) if self.field in TERM_WORDS else self.field
        # The field's code follows its words, unless the words are the code itself ("payee", "currency").
        words = said if english == self.field else f"{said} ({self.field})"
        values = {"term": words, "stored": self.stored, "ledger": self.ledger, "seq": self.seq}
        if self.seq is None:
            return gettext("%(term)s: the payout says %(stored)s, but no ledger entry states it", **values)
        if self.action:
            return gettext(
                "%(term)s: the payout says %(stored)s, but entry %(seq)s of the ledger (%(action)s) says %(ledger)s",
                action=self.action,
                **values,
            )
        return gettext(
            "%(term)s: the payout says %(stored)s, but entry %(seq)s of the ledger says %(ledger)s", **values
        )


def _show(value: Any) -> str:
    return "nothing" if value is None else repr(value) if isinstance(value, str) else str(value)


def _payee_of(data: Mapping[str, Any]) -> tuple[str | None, str | None, str | None] | None:
    """The payee an entry states, as (slug, name, e-mail digest), or None if it states none."""
    if not any(key in data for key in ("payee_slug", "payee_name", "payee_email_sha256")):
        return None
    return data.get("payee_slug"), data.get("payee_name"), data.get("payee_email_sha256")


def terms_of_result(data: Mapping[str, Any], proposal_id: int) -> Mapping[str, Any] | None:
    """The terms a round's result entry states for one proposal: its amount, the round's currency and the version
    funded, or None if the result does not fund it."""
    for row in data.get("results", []):
        if isinstance(row, Mapping) and row.get("proposal") == proposal_id:
            if not row.get("funded"):
                return {"funded": False, "version": row.get("version")}
            return {"amount_minor": row.get("amount_minor"), "currency": data.get("currency"),
                    "version": row.get("version"), "funded": True}  # fmt: skip
    return None


def disagreements(stored: PayoutTerms, facts: Iterable[Fact]) -> list[Disagreement]:
    """Compare the payout's terms with what the ledger's entries state about them (the payout's own entries, the
    round's result for its proposal reduced by `terms_of_result`, and the funded version's content). Returns every
    disagreement, in entry order, then the terms that no entry states; empty means the payout may be requested."""
    found: list[Disagreement] = []
    vouched: set[str] = set()
    stored_payee = (stored.payee_slug, stored.payee_name, email_digest(stored.payee_email))
    for fact in sorted(facts, key=lambda f: f.seq):
        data = fact.data
        if fact.action == RESULT_ACTION and data.get("funded") is False:
            found.append(Disagreement("funded", "funded", "not funded", fact.seq, fact.action))
            continue
        for name, value in (("amount_minor", stored.amount_minor), ("currency", stored.currency)):
            if name in data:
                vouched.add(name)
                if data[name] != value:
                    found.append(Disagreement(name, _show(value), _show(data[name]), fact.seq, fact.action))
        payee = _payee_of(data)
        if payee is not None:
            vouched.add("payee")
            names = ("payee_slug", "payee_name", "payee_email")
            for name, mine, theirs in zip(names, stored_payee, payee, strict=True):
                if mine != theirs:
                    shown_mine = "an address" if name == "payee_email" and mine else _show(mine)
                    shown_theirs = "another address" if name == "payee_email" and theirs else _show(theirs)
                    found.append(Disagreement(name, shown_mine, shown_theirs, fact.seq, fact.action))
    for name in ("amount_minor", "currency", "payee"):
        if name not in vouched:
            found.append(Disagreement(name, "a value", "nothing", None))
    return found
