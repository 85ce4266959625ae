"""The learning reports' pages: the Report section of a funded proposal's page, writing and editing a report, a
report with its comments, marking it received, and the circle's "what we learned"."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.wrappers import Response

from fundcircle.access import ANY_MEMBER, Place, circle_role, current_membership, finds_place, requires
from fundcircle.attachments import services as attachments
from fundcircle.attachments.views import owner_pages
from fundcircle.db import utcnow
from fundcircle.errors import Conflict, FundCircleError, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.forms import ConfirmForm, attach_error
from fundcircle.i18n import lazy_gettext
from fundcircle.learning import services
from fundcircle.learning.forms import ReportCommentForm, ReportForm
from fundcircle.learning.models import KIND_LABELS, REPORT_KINDS, LearningReport
from fundcircle.markdown import render_markdown
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import current_version, get_visible_proposal
from fundcircle.proposals.views import proposal_page
from fundcircle.unit_of_work import refuse

bp = Blueprint("learning", __name__)

#: What the author is told once a report of each kind is saved (a whole sentence per kind).
SAVED = {
    "final": lazy_gettext("Your learning report is saved. Thank you for telling the circle."),
    "midway": lazy_gettext("Your mid-way update is saved. Thank you for telling the circle."),
}


@finds_place("report_id")
def _place_of_report(report_id: int) -> Place | None:
    report = db.session.get(LearningReport, report_id)
    return Place(report.proposal.round.circle) if report is not None else None


def _report_owner(report_id: int) -> attachments.Owner | None:
    report = db.session.get(LearningReport, report_id)
    if report is None:
        return None
    proposal = report.proposal
    # A public circle's reports are public (their page is read by visitors), and so are their images and files.
    return attachments.Owner(
        "report", report.id, proposal.round.circle, report, public_read=True,
        ledger_data={"proposal": proposal.id, "report": report.id},
    )  # fmt: skip


def _may_view_report(owner: attachments.Owner, viewer: Any) -> bool:
    """As the report's page: whoever may read the circle's reports."""
    return True


def _check_may_attach_to_report(owner: attachments.Owner, actor: Any, now: Any) -> None:
    """Those who write the report (the proposal's authors) attach its photos and files, until it is received."""
    report: LearningReport = owner.thing
    if not services.may_write_report(actor, report.proposal):
        raise PermissionDenied(gettext("Only the proposal's authors can attach files to its report."))
    if report.received_at is not None:
        raise Conflict(gettext("The circle has received this report; nothing more can be attached to it."))


attachments.register_owner_kind(
    "report", attachments.OwnerKind(_report_owner, _may_view_report, _check_may_attach_to_report)
)
owner_pages.provide("report")(lambda report_id: url_for("learning.view", report_id=report_id) + "#attachments")


@proposal_page.part
def report_section(proposal: Proposal, phase: str) -> dict[str, Any]:
    """The proposal page's Report section: what the proposal owes once its payout is paid, and what was written."""
    written = services.reports_of(proposal)
    due = services.due_reports_of(proposal)
    return {
        "learning_reports": [
            {
                "due": item,
                "report": written.get(item.kind),
                "questions": services.questions_for(proposal, item.kind),
            }
            for item in due
        ],
        "may_write_report": services.may_write_report(current_user, proposal),
        "may_mark_report_received": services.may_mark_received(current_user, proposal),
        "render_markdown": render_markdown,
    }


def _kind_or_404(kind: str) -> str:
    if kind not in REPORT_KINDS:
        raise NotFound(gettext("There is no such report."))
    return kind


@bp.route("/proposals/<int:proposal_id>/report/<kind>", methods=["GET", "POST"])
@requires(ANY_MEMBER)
def write(proposal_id: int, kind: str) -> str | Response | tuple[str, int]:
    proposal = get_visible_proposal(proposal_id, current_user)
    _kind_or_404(kind)
    if not services.may_write_report(current_user, proposal):
        raise PermissionDenied(gettext("Only the proposal's authors can write its report."))
    due = {item.kind: item for item in services.due_reports_of(proposal)}
    if kind not in due:
        raise NotFound(gettext("This proposal owes no such report: its payout is not paid, or the round asks none."))
    report = services.reports_of(proposal).get(kind)
    questions = services.questions_for(proposal, kind)
    prefill = {f"answer_{n}": item["answer"] for n, item in enumerate(report.answers)} if report else {}
    form = ReportForm(data=prefill)
    status = 200
    if form.validate_on_submit():
        answers = [form[f"answer_{n}"].data or "" for n in range(len(questions))]
        try:
            services.write_report(current_user, proposal, kind, answers, utcnow())
        except FundCircleError as error:
            refuse()
            attach_error(form, error)
            status = error.status
        else:
            flash(str(SAVED[kind]), "success")
            return redirect(url_for("proposals.view", proposal_id=proposal.id) + "#report")
    elif form.is_submitted():
        status = 400
    fields = [(question, form[f"answer_{n}"]) for n, question in enumerate(questions)]
    return (
        render_template(
            "learning/write.html",
            proposal=proposal,
            title=current_version(proposal).title,
            circle=proposal.round.circle,
            kind=kind,
            kind_label=KIND_LABELS[kind],
            due=due[kind],
            report=report,
            form=form,
            fields=fields,
        ),
        status,
    )


def _render_report(report: LearningReport, status: int = 200, comment_form: ReportCommentForm | None = None) -> Any:
    proposal = report.proposal
    circle = proposal.round.circle
    files = attachments.attachments_of("report", [report.id])[report.id]
    return (
        render_template(
            "learning/view.html",
            report=report,
            proposal=proposal,
            title=current_version(proposal).title,
            circle=circle,
            kind_label=KIND_LABELS[report.kind],
            # A public circle's visitors read its reports; the comments are for those signed in.
            comments=services.comments_of(report) if current_user.is_authenticated else None,
            comment_form=comment_form or ReportCommentForm(formdata=None),
            may_comment=current_membership() is not None,
            may_write=services.may_write_report(current_user, proposal),
            may_mark_received=services.may_mark_received(current_user, proposal),
            report_attachments=files,
            removable_report_attachments=attachments.removable_ids(current_user, files),
            # A visitor of a public circle reads the report, not the proposal's page (members only).
            may_see_proposal=current_membership() is not None,
            confirm_form=ConfirmForm(),
            render_markdown=render_markdown,
        ),
        status,
    )


@bp.route("/reports/<int:report_id>")
@requires(circle_role(public_read=True))
def view(report_id: int) -> Any:
    return _render_report(services.get_report(report_id))


@bp.route("/reports/<int:report_id>/received", methods=["POST"])
@requires(circle_role("admin", "circle"))
def received(report_id: int) -> Response:
    report = services.get_report(report_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.mark_received(current_user, report, utcnow())
        except FundCircleError as error:
            refuse()
            flash(error.message, "error")
        else:
            flash(gettext("The report is marked received."), "success")
    return redirect(url_for("learning.view", report_id=report.id))


@bp.route("/reports/<int:report_id>/comments", methods=["POST"])
@requires(ANY_MEMBER)
def comment(report_id: int) -> Any:
    report = services.get_report(report_id)
    form = ReportCommentForm()
    if not form.validate_on_submit():
        return _render_report(report, 400, form)
    try:
        added = services.add_comment(current_user, report, form.body.data or "", utcnow())
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return _render_report(report, error.status, form)
    return redirect(url_for("learning.view", report_id=report.id) + f"#report-comment-{added.id}")


@bp.route("/circles/<int:circle_id>/learned")
@requires(circle_role(public_read=True))
def learned(circle_id: int) -> tuple[str, int]:
    circle = g.circle
    query = request.args.get("q", "")
    raw_page = request.args.get("page", "1")
    error = None
    page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) <= 6 else 0
    try:
        found = services.learned_in(circle, query=query, page=page)
    except ValidationFailed as refused:
        error = refused.message
        found = services.learned_in(circle)
    titles = {report.proposal_id: current_version(report.proposal).title for report in found.reports}
    return (
        render_template(
            "learning/learned.html",
            circle=circle,
            found=found,
            titles=titles,
            # Each report's photos and files, for the whole page in one query.
            files=attachments.attachments_of("report", [report.id for report in found.reports]),
            error=error,
            query=query[: services.MAX_QUERY_LENGTH],
            kind_labels=KIND_LABELS,
            render_markdown=render_markdown,
        ),
        400 if error else 200,
    )
