"""Deciding a quadratic round, counted (issue 22): the number of SQL statements one decision takes does not grow with
the number of proposals, ballots and payouts, so that a round of thousands decides as quickly as it can; and what it
wrote is the whole result (every proposal's result, a payout and a ledger entry per funded proposal, a chain that
verifies)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event, func, select

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.payouts.models import Payout
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import ProposalResult, RoundTally
from fundcircle.voting.services import cast_ballot
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user


def _round_with(proposals: int, ballots: int, voters: int) -> tuple[int, int]:
    """A deciding round of its own circle of `voters` deciding members, with `proposals` proposals (all by the
    admin) and `ballots` of their ballots, each voting 1 on every proposal. The phase change tells every deciding
    member, so the number of members must not count either. Returns (round id, admin id)."""
    admin = make_user()
    circle = make_circle(admin)
    deciders = [make_user() for _ in range(voters)]
    for voter in deciders:
        add_member(circle, voter, ["member", "circle"], by=admin)
    round_ = make_round(circle, admin, quorum_percent=0, budget_minor=1_000_000, max_proposals_per_member=50)
    advance_round(admin, round_, "proposals", utcnow())
    ids = [make_proposal(round_, admin, title=f"Idea {n}", amount_minor=1_000 + n).id for n in range(proposals)]
    advance_round(admin, round_, "deliberation", utcnow())
    advance_round(admin, round_, "deciding", utcnow())
    db.session.commit()
    for voter in deciders[:ballots]:
        cast_ballot(voter, round_, dict.fromkeys(ids, 1), utcnow())
        db.session.commit()
    return round_.id, admin.id


def _statements_of_deciding(round_id: int, admin_id: int) -> list[str]:
    from fundcircle.auth.models import User

    admin, round_ = db.session.get(User, admin_id), db.session.get(Round, round_id)
    assert admin is not None and round_ is not None
    seen: list[str] = []

    def statement(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", statement)
    try:
        advance_round(admin, round_, "decided", utcnow())
        db.session.flush()
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
    db.session.commit()
    return [text for text in seen if text.strip().upper() != "BEGIN IMMEDIATE"]


def _written(round_id: int) -> tuple[int, int, int, int]:
    """(results, funded results, payouts, payout ledger entries) of the round."""
    results = db.session.scalar(select(func.count()).where(ProposalResult.round_id == round_id))
    funded = db.session.scalar(
        select(func.count()).where(ProposalResult.round_id == round_id, ProposalResult.funded.is_(True))
    )
    payout_ids = list(db.session.scalars(select(Payout.id).where(Payout.round_id == round_id)))
    entries = db.session.scalar(
        select(func.count()).where(
            LedgerEntry.action == "payout.created",
            LedgerEntry.subject_type == "payout",
            LedgerEntry.subject_id.in_(payout_ids),
        )
    )
    return results or 0, funded or 0, len(payout_ids), entries or 0


def test_deciding_takes_as_many_statements_for_50_proposals_as_for_5(app: Flask) -> None:
    with app.app_context():
        small = _round_with(proposals=5, ballots=2, voters=4)
        large = _round_with(proposals=50, ballots=30, voters=30)
        small_statements = _statements_of_deciding(*small)
        large_statements = _statements_of_deciding(*large)
        assert len(large_statements) == len(small_statements), (small_statements, large_statements)
        # Everything is funded (the budget covers it), each with its payout and its ledger entry.
        assert _written(small[0]) == (5, 5, 5, 5)
        assert _written(large[0]) == (50, 50, 50, 50)
        for round_id, ballots in ((small[0], 2), (large[0], 30)):
            tally = db.session.get(RoundTally, round_id)
            assert tally is not None and tally.ballots_cast == ballots and tally.quorum_met
            # The tally's checkpoint is the result's own entry.
            entry = db.session.scalar(
                select(LedgerEntry).where(
                    LedgerEntry.action == "round.result_published", LedgerEntry.subject_id == round_id
                )
            )
            assert entry is not None and (entry.seq, entry.hash) == (tally.checkpoint_seq, tally.checkpoint_hash)
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
