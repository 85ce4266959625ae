from __future__ import annotations

import re
from typing import Any

from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, pre_dump, pre_load, validates

from fundcircle.fields import INT_LIMIT, StrictInteger
from fundcircle.i18n import lazy_gettext
from fundcircle.rounds.models import Round
from fundcircle.voting import services
from fundcircle.voting.quadratic import ballot_cost
from fundcircle.voting.replay import Replay


def _of(name: str, attribute: str) -> Any:
    """The attribute of a part that may be missing (no ballot yet, no result yet): null then."""
    return lambda parts: getattr(parts[name], attribute) if parts[name] is not None else None


class BallotInSchema(Schema):
    votes = fields.Dict(
        keys=fields.String(),
        values=StrictInteger(),
        required=True,
        metadata={
            "description": 'Per proposal id: votes in a quadratic round, e.g. {"12": 3, "15": -1}; points in a '
            'cumulative round; 1 for each approved proposal in an approval round, e.g. {"12": 1}. It replaces your '
            "ballot whole"
        },
    )

    # The messages here are lazy, said when the answer is written: translating picks the reader's language, which
    # reads the signed-in person, and a ballot save authenticates its bearer token only after the body is read
    # (fundcircle.voting.api._saving_ballot).

    @pre_load
    def bounded_before_any_work(self, data: Any, **_: object) -> Any:
        """Refuse an oversized ballot before its entries are read one by one."""
        if isinstance(data, dict) and isinstance(data.get("votes"), dict):
            if len(data["votes"]) > services.MAX_BALLOT_ENTRIES:
                raise ValidationError([services.BALLOT_TOO_LONG], field_name="votes")
        return data

    @validates("votes")
    def proposal_ids_are_integers(self, value: dict[str, int], **_: object) -> None:
        bad = [key for key in value if not re.fullmatch(r"[0-9]{1,10}", key) or int(key) > INT_LIMIT]
        if bad:
            raise ValidationError([lazy_gettext("Proposal ids are whole numbers, not %(ids)s.", ids=", ".join(bad))])


def _spent(round_: Round, votes: dict[int, int]) -> int:
    """What a ballot spends: n×n credits for n votes (quadratic), its points, or its approvals."""
    return ballot_cost(votes) if round_.method == "quadratic" else sum(votes.values())


class BallotOutSchema(Schema):
    """The signed-in member's ballot in a `Round`."""

    round_id = fields.Integer(attribute="round.id", required=True)
    votes = fields.Function(
        lambda parts: {str(pid): count for pid, count in sorted(parts["votes"].items())},
        required=True,
        metadata={"type": "object", "additionalProperties": {"type": "integer"}},
    )
    credits = fields.Integer(attribute="round.credits", required=True)
    method = fields.String(attribute="round.method", required=True, metadata={"description": "The ballot type"})
    credits_spent = fields.Function(
        lambda parts: _spent(parts["round"], parts["votes"]),
        required=True,
        metadata={"type": "integer", "description": "Credits, points, or the number of approvals"},
    )
    credits_left = fields.Function(
        lambda parts: parts["round"].credits - _spent(parts["round"], parts["votes"]),
        required=True,
        metadata={"type": "integer", "description": "Of the credits or points (approval rounds: of `credits`)"},
    )
    revision = fields.Function(
        _of("ballot", "revision"),
        allow_none=True,
        required=True,
        metadata={"type": "integer", "nullable": True, "description": "null before the first save"},
    )
    saved_at = fields.Function(
        lambda parts: parts["ballot"].saved_at.isoformat() if parts["ballot"] is not None else None,
        allow_none=True,
        required=True,
        metadata={"type": "string", "format": "date-time", "nullable": True},
    )
    receipt = fields.Function(
        _of("ballot", "receipt"),
        allow_none=True,
        required=True,
        metadata={"type": "string", "nullable": True, "description": "The hash of the ledger entry of this ballot"},
    )

    @pre_dump
    def _ballot_of_current_user(self, round_: Round | dict[str, Any], **_: Any) -> dict[str, Any]:
        if isinstance(round_, dict):
            return round_  # a ballot just saved: described from what was written, nothing read again
        return {
            "round": round_,
            "ballot": services.ballot_of(current_user, round_),
            "votes": services.votes_of(current_user, round_),
        }


class ProposalResultSchema(Schema):
    rank = fields.Integer(required=True)
    proposal_id = fields.Integer(required=True)
    version = fields.Integer(required=True)
    title = fields.String(required=True)
    score = fields.Integer(required=True)
    amount_minor = fields.Integer(required=True)
    funded = fields.Boolean(required=True)
    reason = fields.String(required=True)


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": kind, "nullable": True}


class ResultsSchema(Schema):
    """A `Round`'s stored result: empty until it is decided."""

    round_id = fields.Integer(attribute="round.id", required=True)
    method = fields.String(attribute="round.method", required=True)
    allocation_rule = fields.Function(
        lambda parts: parts["round"].allocation_rule if parts["round"].method != "consent" else None,
        required=True,
        metadata={
            "type": "string",
            "nullable": True,
            "description": "greedy or equal_shares for a voting round; null for a consent round",
        },
    )
    decided = fields.Function(lambda parts: parts["tally"] is not None, required=True, metadata={"type": "boolean"})
    currency = fields.String(attribute="round.currency", required=True)
    budget_minor = fields.Integer(attribute="round.budget_minor", required=True)
    funded_minor = fields.Function(_of("tally", "funded_minor"), required=True, metadata=_nullable("integer"))
    ballots_cast = fields.Function(_of("tally", "ballots_cast"), required=True, metadata=_nullable("integer"))
    eligible_voters = fields.Function(_of("tally", "eligible_voters"), required=True, metadata=_nullable("integer"))
    quorum_percent = fields.Integer(attribute="round.quorum_percent", required=True)
    quorum_met = fields.Function(_of("tally", "quorum_met"), required=True, metadata=_nullable("boolean"))
    checkpoint = fields.Function(
        lambda parts: (
            {"seq": parts["tally"].checkpoint_seq, "hash": parts["tally"].checkpoint_hash}
            if parts["tally"] is not None
            else None
        ),
        required=True,
        metadata={"type": "object", "nullable": True, "description": "{seq, hash} of the result"},
    )
    proposals = fields.List(fields.Nested(ProposalResultSchema), attribute="rows", required=True)

    @pre_dump
    def _stored_result(self, round_: Round, **_: Any) -> dict[str, Any]:
        tally, rows = services.result_of(round_) or (None, [])
        return {"round": round_, "tally": tally, "rows": rows}


class ReplayOutcomeSchema(Schema):
    rank = fields.Integer(required=True)
    proposal_id = fields.Integer(required=True)
    score = fields.Integer(required=True)
    funded = fields.Boolean(required=True, metadata={"description": "Would be funded by this rule (a replay)"})
    reason = fields.String(required=True)


class ReplayRuleSchema(Schema):
    rule = fields.String(required=True, metadata={"description": "greedy or equal_shares"})
    funded_minor = fields.Integer(required=True)
    outcomes = fields.List(fields.Nested(ReplayOutcomeSchema), required=True)


class ReplaySchema(Schema):
    """What every allocation rule would fund with a decided round's ballots: a replay, never a decision."""

    replay = fields.Constant(True, required=True, metadata={"type": "boolean", "enum": [True]})
    title = fields.String(required=True)
    ballot_type = fields.String(required=True)
    currency = fields.String(required=True)
    budget_minor = fields.Integer(required=True)
    ballots_cast = fields.Integer(required=True)
    rules = fields.List(fields.Nested(ReplayRuleSchema), required=True)

    @pre_dump
    def _by_rule(self, replay: Replay, **_: Any) -> dict[str, Any]:
        return {
            "replay": True,
            "title": replay.title,
            "ballot_type": replay.ballot_type,
            "currency": replay.currency,
            "budget_minor": replay.budget_minor,
            "ballots_cast": replay.ballots_cast,
            "rules": [
                {"rule": rule, "funded_minor": result.funded_minor, "outcomes": result.outcomes}
                for rule, result in replay.results.items()
            ],
        }
