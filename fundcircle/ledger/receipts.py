"""A ballot receipt checked by a person: the short code shown when the ballot was saved, found back in the
circle's ledger, and what became of that ballot (counted, not yet counted, replaced by a later change, or left out
of the count)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext
from sqlalchemy import select

from fundcircle.extensions import db
from fundcircle.ledger.chain import receipt_prefix, short_receipt
from fundcircle.ledger.models import LedgerEntry
from fundcircle.ledger.reading import chain_of_circle
from fundcircle.phrases import N_
from fundcircle.rounds.models import Round
from fundcircle.voting.models import Ballot, RoundTally
from fundcircle.voting.services import not_counted_receipts

#: What became of a ballot whose receipt was found.
COUNTED = "counted"
NOT_YET_COUNTED = "not_yet_counted"
REPLACED = "replaced"
LEFT_OUT = "left_out"


@dataclass(frozen=True)
class ReceiptCheck:
    receipt: str
    seq: int
    saved_at: datetime
    round_id: int | None
    round_title: str
    outcome: str

    @property
    def sentence(self) -> str:
        """What the person reads, in words."""
        sentences = {
            COUNTED: N_("Found: your ballot was counted in “%(round)s”."),
            NOT_YET_COUNTED: N_("Found: your ballot is saved in “%(round)s”; it is counted when the round is decided."),
            REPLACED: N_(
                "Found: this ballot was saved in “%(round)s” and then changed; the later change is the one "
                "that counts (its receipt is the newer one)."
            ),
            LEFT_OUT: N_(
                "Found: this ballot was saved in “%(round)s”, but not counted: its voter was no longer a "
                "circle member when the round was decided."
            ),
        }
        return gettext(sentences[self.outcome], round=self.round_title)


def check_receipt(circle_id: int, code: str) -> ReceiptCheck | None:
    """The ballot entry of this circle whose hash starts with the receipt, or None when there is none (or the code
    is not a receipt). The hash is unique, so a range on it reads one row of its index."""
    prefix = receipt_prefix(code)
    if prefix is None:
        return None
    chain = chain_of_circle(circle_id)
    row = db.session.execute(
        select(LedgerEntry.seq, LedgerEntry.at, LedgerEntry.hash, LedgerEntry.data)
        .where(
            LedgerEntry.hash >= prefix,
            LedgerEntry.hash < prefix + "g",  # every hash starting with the prefix: hex digits sort before "g"
            LedgerEntry.chain_id == chain.id,
            LedgerEntry.action == "ballot.cast",
        )
        .order_by(LedgerEntry.hash)
        .limit(1)
    ).first()
    if row is None:
        return None
    seq, at, entry_hash, data = row
    round_id = data.get("round") if isinstance(data, dict) and isinstance(data.get("round"), int) else None
    round_ = db.session.get(Round, round_id) if round_id is not None else None
    current = db.session.scalar(select(Ballot.id).where(Ballot.receipt == entry_hash))
    if current is None:
        outcome = REPLACED
    elif round_ is None or db.session.get(RoundTally, round_.id) is None:
        outcome = NOT_YET_COUNTED
    elif entry_hash in not_counted_receipts(round_):
        outcome = LEFT_OUT
    else:
        outcome = COUNTED
    return ReceiptCheck(
        receipt=short_receipt(entry_hash),
        seq=seq,
        saved_at=at,
        round_id=round_id,
        round_title=round_.title if round_ is not None else "a round of this circle",
        outcome=outcome,
    )
