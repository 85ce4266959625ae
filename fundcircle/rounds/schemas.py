from __future__ import annotations

from flask_babel import gettext
from marshmallow import Schema, fields, validate

from fundcircle.db import utcnow
from fundcircle.fields import NestedFrom, StrictBoolean, StrictInteger, utc_datetime
from fundcircle.rounds.models import (
    ALLOCATION_RULES,
    CONSENT_RULES,
    DEFAULT_REPORT_DUE_DAYS,
    DEFAULT_REPORT_QUESTIONS,
    METHODS,
    Round,
)
from fundcircle.rounds.phases import ALL_PHASES, CANCELLED, COUNTING, EFFECTIVE_PHASES, next_phases
from fundcircle.rounds.services import MAX_REPORT_DUE_DAYS, MAX_REPORT_QUESTION_LENGTH, MAX_REPORT_QUESTIONS

#: Deadlines in the API are instants; the pages type and show them in the circle's time zone instead.
_DEADLINE_NOTE = (
    "ISO 8601; a time without an offset is UTC. Answers give UTC. The pages show it in the circle's `time_zone` "
    "(e.g. 18:00 (Europe/Berlin)); to set a local wall time, send it with its offset for that date"
)


def _deadline(what: str) -> str:
    return f"{what}. {_DEADLINE_NOTE}"


class DeadlinesSchema(Schema):
    proposals = utc_datetime(
        allow_none=True, load_default=None, metadata={"description": _deadline("End of the proposals phase")}
    )
    deliberation = utc_datetime(
        allow_none=True, load_default=None, metadata={"description": _deadline("End of the deliberation phase")}
    )
    deciding = utc_datetime(
        allow_none=True, load_default=None, metadata={"description": _deadline("End of the deciding phase")}
    )


class RoundCreateSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=120))
    description = fields.String(load_default="", validate=validate.Length(max=10000))
    budget_minor = StrictInteger(required=True, validate=validate.Range(min=1))
    per_proposal_cap_minor = StrictInteger(required=True, validate=validate.Range(min=1))
    method = fields.String(
        required=True,
        validate=validate.OneOf(METHODS),
        metadata={"description": "The ballot type (quadratic, approval, cumulative) or consent"},
    )
    credits = StrictInteger(
        load_default=100,
        validate=validate.Range(min=1, max=10000),
        metadata={"description": "Voice credits (quadratic) or points to spread (cumulative) per circle member"},
    )
    allocation_rule = fields.String(
        load_default="greedy",
        validate=validate.OneOf(ALLOCATION_RULES),
        metadata={"description": "How a voting round funds: greedy by score, or the method of equal shares"},
    )
    max_approvals = StrictInteger(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "Approval rounds: the most proposals a ballot may approve; null for no limit"},
    )
    allow_negative = StrictBoolean(load_default=False)
    quorum_percent = StrictInteger(load_default=50, validate=validate.Range(min=0, max=100))
    consent_rules = fields.String(load_default="sociocratic", validate=validate.OneOf(CONSENT_RULES))
    secret_ballot = StrictBoolean(load_default=False)
    categories = fields.List(
        fields.String(validate=validate.Length(min=1, max=60)),
        load_default=list,
        validate=validate.Length(max=30),
    )
    max_proposals_per_member = StrictInteger(load_default=3, validate=validate.Range(min=1, max=100))
    remind_before_hours = StrictInteger(
        load_default=24,
        validate=validate.Range(min=0, max=336),
        metadata={
            "description": "Hours before each deadline when those with something left to do are reminded; 0: never"
        },
    )
    report_due_days = StrictInteger(
        load_default=DEFAULT_REPORT_DUE_DAYS,
        validate=validate.Range(min=0, max=MAX_REPORT_DUE_DAYS),
        metadata={"description": "Days after a payout is paid when its learning report is due; 0: no reports"},
    )
    midway_update_days = StrictInteger(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_REPORT_DUE_DAYS),
        metadata={"description": "Days after the payout when an optional mid-way update is due; null: none"},
    )
    report_questions = fields.List(
        fields.String(validate=validate.Length(min=1, max=MAX_REPORT_QUESTION_LENGTH)),
        load_default=lambda: [gettext(question) for question in DEFAULT_REPORT_QUESTIONS],
        validate=validate.Length(min=1, max=MAX_REPORT_QUESTIONS),
        metadata={"description": "The guiding questions of the learning reports, in order"},
    )
    deadlines = fields.Nested(DeadlinesSchema, load_default=dict)


def _next_phases(round_: Round) -> list[str]:
    counting = round_.phase_at(utcnow()) == COUNTING
    return [to for to in next_phases(round_.phase) if not (counting and to == CANCELLED)]


class RoundSchema(Schema):
    """A `Round`."""

    id = fields.Integer(required=True)
    circle_id = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    currency = fields.String(required=True)
    budget_minor = fields.Integer(required=True)
    per_proposal_cap_minor = fields.Integer(required=True)
    method = fields.String(required=True)
    credits = fields.Integer(required=True)
    allocation_rule = fields.String(required=True)
    max_approvals = fields.Integer(required=True, allow_none=True)
    allow_negative = fields.Boolean(required=True)
    quorum_percent = fields.Integer(required=True)
    consent_rules = fields.String(required=True)
    secret_ballot = fields.Boolean(required=True)
    categories = fields.List(fields.String(), required=True)
    max_proposals_per_member = fields.Integer(required=True)
    remind_before_hours = fields.Integer(required=True)
    report_due_days = fields.Integer(required=True)
    midway_update_days = fields.Integer(required=True, allow_none=True)
    report_questions = fields.List(fields.String(), required=True)
    phase = fields.String(
        required=True,
        metadata={"description": "The stored phase: what `rounds tick` or an admin last moved the round to."},
    )
    effective_phase = fields.Function(
        lambda round_: round_.phase_at(utcnow()),
        required=True,
        metadata={
            "type": "string",
            "enum": [*EFFECTIVE_PHASES, CANCELLED],
            "description": "The phase the round is really in now, past every deadline that has passed though "
            f"`rounds tick` has not moved it yet; `{COUNTING}`: deciding has closed (no more ballots, consent "
            "answers or consent rounds) and the result will be published when it is counted.",
        },
    )
    next_phases = fields.Function(
        _next_phases,
        required=True,
        metadata={
            "type": "array",
            "items": {"type": "string"},
            "description": "Where an admin may move the round from its stored phase; once deciding has closed, it "
            "can only be counted, not cancelled.",
        },
    )
    deadlines = NestedFrom(
        DeadlinesSchema,
        lambda round_: {
            "proposals": round_.proposals_close_at,
            "deliberation": round_.deliberation_close_at,
            "deciding": round_.deciding_close_at,
        },
        required=True,
    )
    phase_changed_at = fields.DateTime(format="iso", required=True)
    created_at = fields.DateTime(format="iso", required=True)


class AdvanceSchema(Schema):
    to = fields.String(required=True, validate=validate.OneOf(ALL_PHASES))


class DeadlinesPatchSchema(Schema):
    proposals = utc_datetime(allow_none=True, metadata={"description": _deadline("End of the proposals phase")})
    deliberation = utc_datetime(allow_none=True, metadata={"description": _deadline("End of the deliberation phase")})
    deciding = utc_datetime(allow_none=True, metadata={"description": _deadline("End of the deciding phase")})


class RoundPatchSchema(Schema):
    """Any of a round's settings; those not given keep their value. The phase decides which may change."""

    title = fields.String(validate=validate.Length(min=1, max=120))
    description = fields.String(validate=validate.Length(max=10000))
    budget_minor = StrictInteger(validate=validate.Range(min=1))
    per_proposal_cap_minor = StrictInteger(validate=validate.Range(min=1))
    method = fields.String(validate=validate.OneOf(METHODS))
    credits = StrictInteger(validate=validate.Range(min=1, max=10000))
    allocation_rule = fields.String(validate=validate.OneOf(ALLOCATION_RULES))
    max_approvals = StrictInteger(allow_none=True, validate=validate.Range(min=1, max=1000))
    allow_negative = StrictBoolean()
    quorum_percent = StrictInteger(validate=validate.Range(min=0, max=100))
    consent_rules = fields.String(validate=validate.OneOf(CONSENT_RULES))
    secret_ballot = StrictBoolean()
    categories = fields.List(fields.String(validate=validate.Length(min=1, max=60)), validate=validate.Length(max=30))
    max_proposals_per_member = StrictInteger(validate=validate.Range(min=1, max=100))
    remind_before_hours = StrictInteger(validate=validate.Range(min=0, max=336))
    report_due_days = StrictInteger(validate=validate.Range(min=0, max=MAX_REPORT_DUE_DAYS))
    midway_update_days = StrictInteger(allow_none=True, validate=validate.Range(min=1, max=MAX_REPORT_DUE_DAYS))
    report_questions = fields.List(
        fields.String(validate=validate.Length(min=1, max=MAX_REPORT_QUESTION_LENGTH)),
        validate=validate.Length(min=1, max=MAX_REPORT_QUESTIONS),
    )
    deadlines = fields.Nested(DeadlinesPatchSchema)


class RetrospectiveAnswerInputSchema(Schema):
    """A member's answer to a closed round's retrospective (a second PUT changes it)."""

    worked = fields.String(load_default="", validate=validate.Length(max=2000), metadata={"description": "What worked"})
    change = fields.String(
        load_default="", validate=validate.Length(max=2000), metadata={"description": "What to change"}
    )
    fairness = StrictInteger(required=True, validate=validate.Range(min=1, max=5))
    effort = StrictInteger(required=True, validate=validate.Range(min=1, max=5))
    anonymous = StrictBoolean(
        load_default=False, metadata={"description": "Keep no name with the answer; it is still one per member"}
    )


class RetrospectiveAnswerSchema(Schema):
    """The caller's own answer (found by its voter key, anonymous or not)."""

    worked = fields.String(required=True)
    change = fields.String(required=True)
    fairness = fields.Integer(required=True)
    effort = fields.Integer(required=True)
    anonymous = fields.Boolean(required=True)
    updated_at = fields.DateTime(format="iso", required=True)


class RetrospectiveRatingSchema(Schema):
    mean = fields.String(
        required=True, allow_none=True, metadata={"description": "The mean to one decimal, null with no answers"}
    )
    distribution = fields.List(
        fields.Integer(), required=True, metadata={"description": "How many gave 1, 2, 3, 4 and 5"}
    )


class RetrospectivePointSchema(Schema):
    text = fields.String(required=True)
    name = fields.String(required=True, allow_none=True, metadata={"description": "Null for an anonymous answer"})


class RetrospectiveSchema(Schema):
    """A round's retrospective: the summary once the round is closed, and whether the caller can still answer."""

    round_id = fields.Integer(required=True)
    open = fields.Boolean(required=True, metadata={"description": "The round is closed and answers can still change"})
    count = fields.Integer(required=True)
    fairness = fields.Nested(RetrospectiveRatingSchema, required=True)
    effort = fields.Nested(RetrospectiveRatingSchema, required=True)
    worked = fields.List(fields.Nested(RetrospectivePointSchema), required=True)
    change = fields.List(fields.Nested(RetrospectivePointSchema), required=True)
    mine = fields.Nested(RetrospectiveAnswerSchema, required=True, allow_none=True)
