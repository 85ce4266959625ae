from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validates

from fundcircle.api.fields import INT_LIMIT, StrictInteger


class BallotInSchema(Schema):
    votes = fields.Dict(
        keys=fields.String(),
        values=StrictInteger(),
        required=True,
        metadata={"description": 'Votes per proposal id, e.g. {"12": 3, "15": -1}; it replaces your ballot whole'},
    )

    @validates("votes")
    def proposal_ids_are_integers(self, value: dict[str, int], **_: object) -> None:
        bad = [key for key in value if not re.fullmatch(r"[0-9]{1,10}", key) or int(key) > INT_LIMIT]
        if bad:
            raise ValidationError(f"Proposal ids are whole numbers, not {', '.join(bad)}.")


class BallotOutSchema(Schema):
    round_id = fields.Integer(required=True)
    votes = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    credits = fields.Integer(required=True)
    credits_spent = fields.Integer(required=True)
    credits_left = fields.Integer(required=True)
    revision = fields.Integer(allow_none=True, required=True, metadata={"description": "null before the first save"})
    saved_at = fields.DateTime(format="iso", allow_none=True, required=True)
    receipt = fields.String(
        allow_none=True, required=True, metadata={"description": "The hash of the ledger entry of this ballot"}
    )


class ProposalResultSchema(Schema):
    rank = fields.Integer(required=True)
    proposal_id = fields.Integer(required=True)
    version = fields.Integer(required=True)
    title = fields.String(required=True)
    score = fields.Integer(required=True)
    amount_minor = fields.Integer(required=True)
    funded = fields.Boolean(required=True)
    reason = fields.String(required=True)


class ResultsSchema(Schema):
    round_id = fields.Integer(required=True)
    method = fields.String(required=True)
    decided = fields.Boolean(required=True)
    currency = fields.String(required=True)
    budget_minor = fields.Integer(required=True)
    funded_minor = fields.Integer(allow_none=True, required=True)
    ballots_cast = fields.Integer(allow_none=True, required=True)
    eligible_voters = fields.Integer(allow_none=True, required=True)
    quorum_percent = fields.Integer(required=True)
    quorum_met = fields.Boolean(allow_none=True, required=True)
    checkpoint = fields.Dict(allow_none=True, required=True, metadata={"description": "{seq, hash} of the result"})
    proposals = fields.List(fields.Nested(ProposalResultSchema), required=True)


class ConsentAnswerInSchema(Schema):
    position = fields.String(
        required=True, metadata={"description": "consent, concern or objection; or agree, stand_aside or block"}
    )
    argument = fields.String(load_default="", metadata={"description": "Required for an objection or a block"})


class ConsentAnswerOutSchema(Schema):
    user_id = fields.Integer(required=True)
    name = fields.String(required=True)
    position = fields.String(required=True)
    argument = fields.String(required=True)
    answered_at = fields.DateTime(format="iso", required=True)
    withdrawn = fields.Boolean(required=True)


class ConsentRoundSchema(Schema):
    id = fields.Integer(required=True)
    round_id = fields.Integer(required=True)
    proposal_id = fields.Integer(required=True)
    version = fields.Integer(required=True)
    amount_minor = fields.Integer(required=True)
    currency = fields.String(required=True)
    rules = fields.String(required=True)
    state = fields.String(
        required=True, metadata={"description": "consented, not_consented (closed); open, stopped, no_budget (open)"}
    )
    reason = fields.String(required=True)
    closed = fields.Boolean(required=True)
    opened_at = fields.DateTime(format="iso", required=True)
    closed_at = fields.DateTime(format="iso", allow_none=True, required=True)
    answers = fields.List(fields.Nested(ConsentAnswerOutSchema), required=True)


class ReactionInSchema(Schema):
    body = fields.String(required=True, metadata={"description": "At most 500 characters; it decides nothing"})


class ReactionSchema(Schema):
    id = fields.Integer(required=True)
    author = fields.String(required=True)
    body = fields.String(required=True)
    created_at = fields.DateTime(format="iso", required=True)
