"""The learning reports' part of the JSON API: the same operations as the pages."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_babel import gettext
from flask_login import current_user

from fundcircle.access import ANY_MEMBER, circle_role, requires
from fundcircle.db import utcnow
from fundcircle.errors import NotFound
from fundcircle.learning import services
from fundcircle.learning.models import REPORT_KINDS, LearningReport, ReportComment
from fundcircle.learning.schemas import (
    DueReportListSchema,
    ReportCommentCreateSchema,
    ReportCommentListSchema,
    ReportCommentSchema,
    ReportListQuerySchema,
    ReportListSchema,
    ReportSchema,
    ReportWriteSchema,
)
from fundcircle.openapi import api_blueprint
from fundcircle.proposals.services import get_visible_proposal

blp = api_blueprint("learning", __name__, "Learning reports from funded proposals, and what a circle learned")


@blp.route("/circles/<int:circle_id>/reports", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.arguments(ReportListQuerySchema, location="query")
@blp.response(200, ReportListSchema)
def list_reports(query: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """The circle's reports, newest first, those whose text holds `q` (any case) if given, 20 a page."""
    found = services.learned_in(g.circle, query=query["q"], page=query["page"])
    return {"items": found.reports, "page": found.page, "more": found.more}


@blp.route("/proposals/<int:proposal_id>/reports", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, DueReportListSchema)
def due_reports(proposal_id: int) -> dict[str, Any]:
    """The reports the proposal owes once its payout is paid, their due dates and questions, and what was written."""
    proposal = get_visible_proposal(proposal_id, current_user)
    written = services.reports_of(proposal)
    return {
        "items": [
            {
                "kind": item.kind,
                "due_at": item.due_at,
                "questions": services.questions_for(proposal, item.kind),
                "report": written.get(item.kind),
            }
            for item in services.due_reports_of(proposal)
        ]
    }


@blp.route("/proposals/<int:proposal_id>/reports/<kind>", methods=["PUT"])
@requires(ANY_MEMBER)
@blp.arguments(ReportWriteSchema)
@blp.response(200, ReportSchema)
def write_report(data: dict[str, Any], proposal_id: int, kind: str) -> LearningReport:
    """Write or edit the report of `kind` (final or midway): one answer per question (authors and co-authors,
    until the circle marks it received)."""
    proposal = get_visible_proposal(proposal_id, current_user)
    if kind not in REPORT_KINDS:
        raise NotFound(gettext("There is no such report."))
    return services.write_report(current_user, proposal, kind, data["answers"], utcnow())


@blp.route("/reports/<int:report_id>", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.response(200, ReportSchema)
def get_report(report_id: int) -> LearningReport:
    """A report and its answers."""
    return services.get_report(report_id)


@blp.route("/reports/<int:report_id>/received", methods=["POST"])
@requires(circle_role("admin", "circle"))
@blp.response(200, ReportSchema)
def mark_received(report_id: int) -> LearningReport:
    """Mark the report received (the circle's admins and circle members who do not author the proposal)."""
    return services.mark_received(current_user, services.get_report(report_id), utcnow())


@blp.route("/reports/<int:report_id>/comments", methods=["GET"])
@requires(circle_role(public_read=True, sign_in_required=True))
@blp.response(200, ReportCommentListSchema)
def list_comments(report_id: int) -> dict[str, Any]:
    """The comments on the report, in the order they were written (a public circle's: for anyone signed in)."""
    return {"items": services.comments_of(services.get_report(report_id))}


@blp.route("/reports/<int:report_id>/comments", methods=["POST"])
@requires(ANY_MEMBER)
@blp.arguments(ReportCommentCreateSchema)
@blp.response(201, ReportCommentSchema)
def add_comment(data: dict[str, Any], report_id: int) -> ReportComment:
    """Comment on the report (members of the circle)."""
    return services.add_comment(current_user, services.get_report(report_id), data["body"], utcnow())
