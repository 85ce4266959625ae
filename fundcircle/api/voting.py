"""API operations for ballots and results."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_login import current_user

from fundcircle.access import ANY_MEMBER, circle_role, requires
from fundcircle.api.views import ANYONE_IF_PUBLIC, blp
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.proposals.services import get_visible_proposal
from fundcircle.rounds.services import get_round
from fundcircle.voting import consent_rounds, services
from fundcircle.voting.models import ConsentRound
from fundcircle.voting.quadratic import ballot_cost
from fundcircle.voting.schemas import (
    BallotInSchema,
    BallotOutSchema,
    ConsentAnswerInSchema,
    ConsentRoundSchema,
    ReactionInSchema,
    ReactionSchema,
    ResultsSchema,
)
from fundcircle.voting.views import results_csv_text


def _ballot_out(round_id: int) -> dict[str, Any]:
    round_ = get_round(round_id)
    ballot = services.ballot_of(current_user, round_)
    votes = services.votes_of(current_user, round_)
    spent = ballot_cost(votes)
    return {
        "round_id": round_.id,
        "votes": {str(pid): count for pid, count in sorted(votes.items())},
        "credits": round_.credits,
        "credits_spent": spent,
        "credits_left": round_.credits - spent,
        "revision": ballot.revision if ballot else None,
        "saved_at": ballot.saved_at if ballot else None,
        "receipt": ballot.receipt if ballot else None,
    }


@blp.route("/rounds/<int:round_id>/ballot", methods=["GET"])
@requires(circle_role("circle"))
@blp.response(200, BallotOutSchema)
def get_ballot(round_id: int) -> dict[str, Any]:
    """Your ballot in a quadratic round (empty before you save one)."""
    return _ballot_out(round_id)


@blp.route("/rounds/<int:round_id>/ballot", methods=["PUT"])
@requires(circle_role("circle"))
@blp.arguments(BallotInSchema)
@blp.response(200, BallotOutSchema)
def put_ballot(data: dict[str, Any], round_id: int) -> dict[str, Any]:
    """Replace your ballot whole. A ballot over your credits is refused whole, saying by how much."""
    votes = {int(key): count for key, count in data["votes"].items()}
    round_ = get_round(round_id)
    services.cast_ballot(current_user, round_, votes, utcnow())
    db.session.commit()
    return _ballot_out(round_id)


@blp.route("/rounds/<int:round_id>/results", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.response(200, ResultsSchema)
def get_results(round_id: int) -> dict[str, Any]:
    """The stored result: per proposal its score, amount, whether it is funded and why. Empty until decided."""
    round_ = get_round(round_id)
    stored = services.result_of(round_)
    base = {
        "round_id": round_.id,
        "method": round_.method,
        "currency": round_.currency,
        "budget_minor": round_.budget_minor,
        "quorum_percent": round_.quorum_percent,
    }
    if stored is None:
        return {**base, "decided": False, "funded_minor": None, "ballots_cast": None, "eligible_voters": None,
                "quorum_met": None, "checkpoint": None, "proposals": []}  # fmt: skip
    tally, rows = stored
    return {
        **base,
        "decided": True,
        "funded_minor": tally.funded_minor,
        "ballots_cast": tally.ballots_cast,
        "eligible_voters": tally.eligible_voters,
        "quorum_met": tally.quorum_met,
        "checkpoint": {"seq": tally.checkpoint_seq, "hash": tally.checkpoint_hash},
        "proposals": [
            {
                "rank": row.rank,
                "proposal_id": row.proposal_id,
                "version": row.version,
                "title": row.title,
                "score": row.score,
                "amount_minor": row.amount_minor,
                "funded": row.funded,
                "reason": row.reason,
            }
            for row in rows
        ],
    }


@blp.route("/rounds/<int:round_id>/results.csv", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.response(200, content_type="text/csv", description="One row per proposal, in the order the budget was walked")
def get_results_csv(round_id: int) -> Response:
    """The result as CSV."""
    return Response(results_csv_text(round_id), mimetype="text/csv")


def _consent_round_out(consent_round: ConsentRound) -> dict[str, Any]:
    round_ = get_round(consent_round.round_id)
    if consent_round.closed_at is None:
        outcome = consent_rounds.current_outcome(consent_round)
        state, reason = outcome.state, outcome.reason
    else:
        state, reason = consent_round.outcome or "not_consented", consent_round.reason or ""
    return {
        "id": consent_round.id,
        "round_id": consent_round.round_id,
        "proposal_id": consent_round.proposal_id,
        "version": consent_round.version,
        "amount_minor": consent_round.amount_minor,
        "currency": round_.currency,
        "rules": round_.consent_rules,
        "state": state,
        "reason": reason,
        "closed": consent_round.closed_at is not None,
        "opened_at": consent_round.opened_at,
        "closed_at": consent_round.closed_at,
        "answers": [
            {
                "user_id": row.user_id,
                "name": row.name,
                "position": row.position,
                "argument": row.argument,
                "answered_at": row.answered_at,
                "withdrawn": row.withdrawn_at is not None,
            }
            for row in consent_rounds.answers_of(consent_round)
        ],
    }


@blp.route("/proposals/<int:proposal_id>/consent-rounds", methods=["POST"])
@requires(circle_role("admin"))
@blp.response(201, ConsentRoundSchema)
def open_consent_round(proposal_id: int) -> dict[str, Any]:
    """The facilitator opens a consent round on the proposal's current version (consent rounds, while deciding)."""
    proposal = get_visible_proposal(proposal_id, current_user)
    consent_round = consent_rounds.open_consent_round(current_user, proposal, utcnow())
    db.session.commit()
    return _consent_round_out(consent_round)


@blp.route("/consent-rounds/<int:consent_round_id>", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, ConsentRoundSchema)
def get_consent_round(consent_round_id: int) -> dict[str, Any]:
    """A consent round: every answer with its argument, and its state and reason."""
    return _consent_round_out(consent_rounds.get_consent_round(consent_round_id))


@blp.route("/consent-rounds/<int:consent_round_id>/answer", methods=["PUT"])
@requires(circle_role("circle"))
@blp.arguments(ConsentAnswerInSchema)
@blp.response(200, ConsentRoundSchema)
def answer_consent_round(data: dict[str, Any], consent_round_id: int) -> dict[str, Any]:
    """Answer, or change your answer, while the consent round is open."""
    consent_round = consent_rounds.get_consent_round(consent_round_id)
    consent_rounds.answer_consent(current_user, consent_round, data["position"], data["argument"], utcnow())
    db.session.commit()
    return _consent_round_out(consent_round)


@blp.route("/consent-rounds/<int:consent_round_id>/answer/withdraw-objection", methods=["POST"])
@requires(circle_role("circle"))
@blp.response(200, ConsentRoundSchema)
def withdraw_objection(consent_round_id: int) -> dict[str, Any]:
    """Withdraw your own objection (or block)."""
    consent_round = consent_rounds.get_consent_round(consent_round_id)
    consent_rounds.withdraw_objection(current_user, consent_round, utcnow())
    db.session.commit()
    return _consent_round_out(consent_round)


@blp.route("/consent-rounds/<int:consent_round_id>/close", methods=["POST"])
@requires(circle_role("admin"))
@blp.response(200, ConsentRoundSchema)
def close_consent_round(consent_round_id: int) -> dict[str, Any]:
    """The facilitator closes the consent round; a consented version reserves its amount from the budget."""
    consent_round = consent_rounds.get_consent_round(consent_round_id)
    consent_rounds.close_consent_round(current_user, consent_round, utcnow())
    db.session.commit()
    return _consent_round_out(consent_round)


@blp.route("/consent-rounds/<int:consent_round_id>/reactions", methods=["POST"])
@requires(ANY_MEMBER)
@blp.arguments(ReactionInSchema)
@blp.response(201, ReactionSchema)
def add_reaction(data: dict[str, Any], consent_round_id: int) -> dict[str, Any]:
    """Share a short reaction in an open consent round (anyone in the circle); it decides nothing."""
    consent_round = consent_rounds.get_consent_round(consent_round_id)
    reaction = consent_rounds.add_reaction(current_user, consent_round, data["body"], utcnow())
    db.session.commit()
    return {"id": reaction.id, "author": current_user.name, "body": reaction.body, "created_at": reaction.created_at}
