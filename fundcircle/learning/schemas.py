from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundcircle.fields import StrictInteger
from fundcircle.learning.models import REPORT_KINDS
from fundcircle.learning.services import MAX_ANSWER_LENGTH, MAX_COMMENT_LENGTH, MAX_QUERY_LENGTH
from fundcircle.rounds.services import MAX_REPORT_QUESTIONS


class AnswerSchema(Schema):
    question = fields.String(required=True)
    answer = fields.String(required=True, metadata={"description": "Markdown"})


class ReportSchema(Schema):
    """A `LearningReport`."""

    id = fields.Integer(required=True)
    proposal_id = fields.Integer(required=True)
    circle_id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": list(REPORT_KINDS)})
    answers = fields.List(fields.Nested(AnswerSchema), required=True)
    due_at = fields.DateTime(format="iso", required=True)
    submitted_at = fields.DateTime(format="iso", required=True)
    submitted_by_id = fields.Integer(required=True)
    updated_at = fields.DateTime(format="iso", required=True)
    received_at = fields.DateTime(format="iso", required=True, allow_none=True)
    received_by_id = fields.Integer(required=True, allow_none=True)


class DueReportSchema(Schema):
    """A report the proposal owes, and the report if it is written."""

    kind = fields.String(required=True, metadata={"enum": list(REPORT_KINDS)})
    due_at = fields.DateTime(format="iso", required=True)
    questions = fields.List(fields.String(), required=True)
    report = fields.Nested(ReportSchema, required=True, allow_none=True)


class DueReportListSchema(Schema):
    items = fields.List(fields.Nested(DueReportSchema), required=True)


class ReportWriteSchema(Schema):
    answers = fields.List(
        fields.String(validate=validate.Length(max=MAX_ANSWER_LENGTH)),
        # Not required by the schema: the service says who may write first, then how many answers it wants.
        load_default=list,
        validate=validate.Length(max=MAX_REPORT_QUESTIONS),
        metadata={"description": "One answer (Markdown, may be empty) per question, in the questions' order"},
    )


class ReportListQuerySchema(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=MAX_QUERY_LENGTH))
    page = StrictInteger(load_default=1, validate=validate.Range(min=1, max=100_000))


class ReportListSchema(Schema):
    items = fields.List(fields.Nested(ReportSchema), required=True)
    page = fields.Integer(required=True)
    more = fields.Boolean(required=True, metadata={"description": "Whether a next page holds older reports"})


class ReportCommentCreateSchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=MAX_COMMENT_LENGTH))


class ReportCommentSchema(Schema):
    id = fields.Integer(required=True)
    report_id = fields.Integer(required=True)
    author_id = fields.Integer(required=True)
    body = fields.String(required=True)
    created_at = fields.DateTime(format="iso", required=True)


class ReportCommentListSchema(Schema):
    items = fields.List(fields.Nested(ReportCommentSchema), required=True)
