"""Export a decided voting round in the Pabulib format: load the published result and the ballots, then let the
pure `fundcircle.voting.pabulib` write the file. Reads only; changes nothing."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext
from sqlalchemy import select

from fundcircle.db import utcnow
from fundcircle.errors import Conflict
from fundcircle.extensions import db
from fundcircle.i18n import translated
from fundcircle.ledger.models import LedgerEntry
from fundcircle.rounds.models import VOTING_METHODS, Round
from fundcircle.rounds.phases import PHASE_LABELS
from fundcircle.voting.models import Ballot, BallotVote
from fundcircle.voting.pabulib import PabulibError, PabulibProject, PabulibRound, pabulib_text
from fundcircle.voting.services import not_counted_receipts, result_of

#: How equal shares explains a proposal its greedy completion funded (fundcircle.voting.equal_shares).
COMPLETION_REASON = "funded in the completion"
#: Circles have no country; Pabulib's checker accepts "Worldwide" for data that belongs to none.
COUNTRY = "Worldwide"


def export_pabulib(round_: Round) -> str:
    """The round's `.pb` text: its published result, and its ballots as cumulative votes, or as scoring votes
    when votes against were allowed (see `fundcircle.voting.pabulib`). A secret ballot's voters are anonymous
    labels: their user ids are never even loaded.

    :raises Conflict: if the round decides by consent, has no result yet, or its stored ballots no longer add up
        to its published result.
    """
    try:
        return pabulib_text(pabulib_round(round_))
    except PabulibError as error:
        raise Conflict(translated(error)) from None


def pabulib_round(round_: Round) -> PabulibRound:
    """The plain data of a decided voting round's export, with its ballot type and allocation rule.

    :raises Conflict: if the round decides by consent, has no result yet, or has not as many ballots as were
        counted.
    """
    if round_.method not in VOTING_METHODS:
        raise Conflict(gettext("This round decides by consent; only a voting round has ballots to export as Pabulib."))
    stored = result_of(round_)
    if stored is None:
        phase = PHASE_LABELS[round_.phase_at(utcnow())].lower()
        raise Conflict(
            gettext(
                "The round has no result yet (it is %(phase)s); it can be exported once it is decided.", phase=phase
            )
        )
    tally, results = stored
    ballots = _ballots(round_, not_counted_receipts(round_))
    if len(ballots) != tally.ballots_cast:
        raise Conflict(
            gettext(
                "The round has %(stored)s ballots stored but %(counted)s were counted: the stored ballots no longer "
                "match the result, so they are not exported.",
                stored=len(ballots),
                counted=tally.ballots_cast,
            )
        )
    decided_on = tally.decided_at.date()
    return PabulibRound(
        description=f"{round_.title} ({round_.circle.name}, a Fund Circle {round_.method} voting round)",
        country=COUNTRY,
        unit=round_.circle.name,
        instance=f"Round {round_.id}: {round_.title}",
        currency=tally.currency,
        budget_minor=tally.budget_minor,
        date_begin=_voting_opened_on(round_) or decided_on,
        date_end=decided_on,
        credits=round_.credits,
        allow_negative=round_.allow_negative,
        secret_ballot=round_.secret_ballot,
        quorum_percent=tally.quorum_percent,
        eligible_voters=tally.eligible_voters,
        quorum_met=tally.quorum_met,
        projects=tuple(
            PabulibProject(row.proposal_id, row.title, row.amount_minor, row.score, row.funded) for row in results
        ),
        ballots=tuple(ballots),
        ballot_type=round_.method,
        allocation_rule=round_.allocation_rule,
        max_approvals=round_.max_approvals,
        completed=any(row.reason.startswith(COMPLETION_REASON) for row in results),
    )


def _ballots(round_: Round, not_counted: set[str]) -> list[tuple[str, dict[int, int]]]:
    """(label, votes) per counted ballot. An open ballot's label is its voter's user id, in user id order; a secret
    ballot's query never reads who cast it, and its label stays empty (the export numbers them by content)."""
    voter = Ballot.id if round_.secret_ballot else Ballot.user_id  # for a secret ballot, no user id at all
    query = (
        select(Ballot.id, voter, BallotVote.proposal_id, BallotVote.votes)
        .outerjoin(BallotVote, BallotVote.ballot_id == Ballot.id)
        .where(Ballot.round_id == round_.id)
        .order_by(voter, Ballot.id)
    )
    if not_counted:
        query = query.where(Ballot.receipt.not_in(not_counted))
    rows = db.session.execute(query)
    ballots: dict[int, tuple[str, dict[int, int]]] = {}
    for ballot_id, voter_id, proposal_id, votes in rows:
        label = "" if round_.secret_ballot else str(voter_id)
        _, counted = ballots.setdefault(ballot_id, (label, {}))
        if proposal_id is not None:
            counted[proposal_id] = votes
    return list(ballots.values())


def _voting_opened_on(round_: Round) -> date | None:
    """The day the round last moved to deciding, from the ledger."""
    entries = db.session.scalars(
        select(LedgerEntry)
        .where(
            LedgerEntry.action == "round.phase_changed",
            LedgerEntry.subject_type == "round",
            LedgerEntry.subject_id == round_.id,
        )
        .order_by(LedgerEntry.seq.desc())
    )
    for entry in entries:
        if entry.data.get("to") == "deciding":
            return entry.at.date()
    return None
