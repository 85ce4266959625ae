"""payouts/binding.py: a payout's amount, currency and payee against what the ledger's entries say (no database)."""

from __future__ import annotations

import hashlib

from fundcircle.payouts.binding import Fact, PayoutTerms, disagreements, email_digest, terms_of_result

SLUG_PAYOUT = PayoutTerms(25_000, "EUR", "riverside-grantee", None, None)
CREATED = Fact(
    10,
    "payout.created",
    {"proposal": 3, "version": 1, "amount_minor": 25_000, "currency": "EUR", "payee_slug": "riverside-grantee",
     "payee_name": None, "payee_email_sha256": None, "status": "awaiting_approval"},
)  # fmt: skip
APPROVED = Fact(14, "payout.approved", {"proposal": 3, "amount_minor": 25_000, "currency": "EUR", "approvals": 1})
RESULT = {
    "currency": "EUR",
    "results": [
        {"proposal": 2, "version": 1, "amount_minor": 40_000, "funded": False, "score": 0, "reason": "x"},
        {"proposal": 3, "version": 1, "amount_minor": 25_000, "funded": True, "score": 5, "reason": "y"},
    ],
}


def test_a_payout_that_says_what_its_entries_say_has_no_disagreement() -> None:
    funded = Fact(9, "round.result_published", terms_of_result(RESULT, 3) or {})
    assert disagreements(SLUG_PAYOUT, [CREATED, APPROVED, funded]) == []


def test_an_amount_raised_after_approval_is_named_by_every_entry_that_says_otherwise() -> None:
    edited = PayoutTerms(99_999, "EUR", "riverside-grantee", None, None)
    funded = Fact(9, "round.result_published", terms_of_result(RESULT, 3) or {})
    found = disagreements(edited, [APPROVED, CREATED, funded])
    assert [(d.field, d.seq) for d in found] == [("amount_minor", 9), ("amount_minor", 10), ("amount_minor", 14)]
    assert (
        found[0].sentence()
        == "amount (in minor units) (amount_minor): the payout says 99999, but entry 9 of the ledger "
        "(round.result_published) says 25000"
    )


def test_a_changed_currency_or_payee_account_is_a_disagreement() -> None:
    assert [d.field for d in disagreements(PayoutTerms(25_000, "USD", "riverside-grantee", None, None), [CREATED])] == [
        "currency"
    ]
    (found,) = disagreements(PayoutTerms(25_000, "EUR", "mallory", None, None), [CREATED])
    assert (found.field, found.stored, found.ledger, found.action) == (
        "payee_slug",
        "'mallory'",
        "'riverside-grantee'",
        "payout.created",
    )


def test_an_invited_payees_address_is_compared_by_its_digest_and_never_shown() -> None:
    digest = email_digest("tess@example.org")
    created = Fact(10, "payout.created", {"amount_minor": 15_000, "currency": "EUR", "payee_slug": None,
                                           "payee_name": "Tess", "payee_email_sha256": digest})  # fmt: skip
    assert disagreements(PayoutTerms(15_000, "EUR", None, "Tess", "tess@example.org"), [created]) == []
    (found,) = disagreements(PayoutTerms(15_000, "EUR", None, "Tess", "mallory@example.net"), [created])
    assert found.field == "payee_email" and "mallory" not in found.sentence() and "tess@" not in found.sentence()
    assert email_digest("tess@example.org") == hashlib.sha256(b"tess@example.org").hexdigest()


def test_a_term_no_entry_states_is_a_disagreement_so_money_never_moves_unvouched() -> None:
    # An older payout.created named no payee; without the version's entry the payee is vouched for by nothing.
    old_created = Fact(10, "payout.created", {"amount_minor": 25_000, "currency": "EUR"})
    (found,) = disagreements(SLUG_PAYOUT, [old_created])
    assert (found.field, found.seq) == ("payee", None)
    assert found.sentence() == "payee: the payout says a value, but no ledger entry states it"
    version = Fact(4, "proposal.created", {"version": 1, "payee_slug": "riverside-grantee", "payee_name": None})
    assert disagreements(SLUG_PAYOUT, [old_created, version]) == []
    assert {d.field for d in disagreements(SLUG_PAYOUT, [])} == {"amount_minor", "currency", "payee"}


def test_a_result_that_does_not_fund_the_proposal_is_a_disagreement() -> None:
    not_funded = Fact(9, "round.result_published", terms_of_result(RESULT, 2) or {})
    found = disagreements(PayoutTerms(40_000, "EUR", "riverside-grantee", None, None), [CREATED, not_funded])
    assert "funded" in [d.field for d in found]
    assert terms_of_result(RESULT, 7) is None
