"""A payout's terms as its circle's ledger states them: the few entries that created, approved and funded it, read
from the database, and the check of the stored row against them (the pure comparison is in payouts/binding.py).

Used before a payout is requested (payouts/requesting.py), which holds one that disagrees, and before each approval
(payouts/services.py), which refuses to approve terms the ledger does not state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select

from fundcircle.extensions import db
from fundcircle.ledger.chain import EntryContent, entry_hash
from fundcircle.ledger.models import LedgerChain, LedgerEntry
from fundcircle.payouts.binding import (
    PAYOUT_TERM_ACTIONS,
    RESULT_ACTION,
    VERSION_ACTIONS,
    Disagreement,
    Fact,
    PayoutTerms,
    disagreements,
    terms_of_result,
)
from fundcircle.payouts.models import Payout


def ledger_facts(payout: Payout) -> tuple[list[Fact], list[int]]:
    """The entries of the payout's circle that state its terms (payouts/binding.py), and the `seq` of any of them
    whose content no longer matches its own hash. Reads by the (chain, action, seq) index: a handful of entries."""
    chain_id = db.session.scalar(select(LedgerChain.id).where(LedgerChain.circle_id == payout.circle_id))
    rows = db.session.scalars(
        select(LedgerEntry)
        .where(
            LedgerEntry.chain_id == chain_id,
            or_(
                and_(LedgerEntry.action.in_(PAYOUT_TERM_ACTIONS), LedgerEntry.subject_type == "payout",
                     LedgerEntry.subject_id == payout.id),
                and_(LedgerEntry.action == RESULT_ACTION, LedgerEntry.subject_type == "round",
                     LedgerEntry.subject_id == payout.round_id),
                and_(LedgerEntry.action.in_(VERSION_ACTIONS), LedgerEntry.subject_type == "proposal",
                     LedgerEntry.subject_id == payout.proposal_id),
            ),
        )
        .order_by(LedgerEntry.seq)
    )  # fmt: skip
    facts, edited = [], []
    for entry in rows:
        content = EntryContent(entry.seq, entry.at, entry.circle_id, entry.actor_id, entry.action,
                               entry.subject_type, entry.subject_id, entry.data)  # fmt: skip
        # Whoever edits a row to move money may edit the entry beside it: then it no longer matches its hash.
        if entry_hash(entry.prev_hash, content) != entry.hash:
            edited.append(entry.seq)
        data: Any = entry.data
        if entry.action == RESULT_ACTION:
            data = terms_of_result(entry.data, payout.proposal_id)
            if data is None:
                continue
        elif entry.action in VERSION_ACTIONS and entry.data.get("version") != payout.proposal_version:
            continue
        facts.append(Fact(entry.seq, entry.action, data))
    return facts, edited


def check_against_ledger(payout: Payout) -> list[Disagreement]:
    """Whether the payout still pays what the ledger says it pays: its amount, currency and payee against the
    entries that created, approved and funded it, and those entries against their own hashes."""
    facts, edited = ledger_facts(payout)
    stored = PayoutTerms(payout.amount_minor, payout.currency, payout.payee_slug, payout.payee_name,
                         payout.payee_email)  # fmt: skip
    found = [Disagreement("entry", "what it says", "its content no longer matches its hash (edited)", seq)
             for seq in edited]  # fmt: skip
    return found + disagreements(stored, facts)
