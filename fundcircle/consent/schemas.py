from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_dump

from fundcircle.consent import services
from fundcircle.consent.models import ConsentRound
from fundcircle.extensions import db
from fundcircle.rounds.models import Round


class ConsentAnswerInSchema(Schema):
    position = fields.String(
        required=True, metadata={"description": "consent, concern or objection; or agree, stand_aside or block"}
    )
    argument = fields.String(load_default="", metadata={"description": "Required for an objection or a block"})


class ConsentAnswerOutSchema(Schema):
    """An `AnswerRow`."""

    user_id = fields.Integer(required=True)
    name = fields.String(required=True)
    position = fields.String(required=True)
    argument = fields.String(required=True)
    answered_at = fields.DateTime(format="iso", required=True)
    withdrawn = fields.Function(lambda row: row.withdrawn_at is not None, required=True, metadata={"type": "boolean"})
    #: The person left the circle while the consent round was open: the answer counts for nothing.
    lapsed = fields.Function(lambda row: row.lapsed_at is not None, required=True, metadata={"type": "boolean"})


class ConsentRoundSchema(Schema):
    """A `ConsentRound`, with its answers, and its state: the stored outcome once closed, what the answers say now
    while open."""

    id = fields.Integer(attribute="consent_round.id", required=True)
    round_id = fields.Integer(attribute="consent_round.round_id", required=True)
    proposal_id = fields.Integer(attribute="consent_round.proposal_id", required=True)
    version = fields.Integer(attribute="consent_round.version", required=True)
    amount_minor = fields.Integer(attribute="consent_round.amount_minor", required=True)
    currency = fields.String(attribute="round.currency", required=True)
    rules = fields.String(attribute="round.consent_rules", required=True)
    state = fields.String(
        required=True, metadata={"description": "consented, not_consented (closed); open, stopped, no_budget (open)"}
    )
    reason = fields.String(required=True)
    closed = fields.Function(
        lambda parts: parts["consent_round"].closed_at is not None, required=True, metadata={"type": "boolean"}
    )
    opened_at = fields.DateTime(attribute="consent_round.opened_at", format="iso", required=True)
    closed_at = fields.DateTime(attribute="consent_round.closed_at", format="iso", allow_none=True, required=True)
    answers = fields.List(fields.Nested(ConsentAnswerOutSchema), required=True)

    @pre_dump
    def _state_and_answers(self, consent_round: ConsentRound, **_: Any) -> dict[str, Any]:
        if consent_round.closed_at is None:
            outcome = services.current_outcome(consent_round)
            state, reason = outcome.state, outcome.reason
        else:
            state, reason = consent_round.outcome or "not_consented", consent_round.reason or ""
        return {
            "consent_round": consent_round,
            "round": db.session.get(Round, consent_round.round_id),
            "state": state,
            "reason": reason,
            "answers": services.answers_of(consent_round),
        }


class ReactionInSchema(Schema):
    body = fields.String(required=True, metadata={"description": "At most 500 characters; it decides nothing"})


class ReactionSchema(Schema):
    """A `ConsentReaction`."""

    id = fields.Integer(required=True)
    author = fields.String(attribute="author.name", required=True)
    body = fields.String(required=True)
    created_at = fields.DateTime(format="iso", required=True)
