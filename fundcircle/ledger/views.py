"""The ledger as people use it: a page per circle, exports, and verification for anyone allowed to see it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, render_template, request, stream_with_context

from fundcircle.access import circle_role, requires
from fundcircle.circles.models import Circle
from fundcircle.circles.services import member_names
from fundcircle.ledger.reading import LedgerFilter, export_csv, export_jsonl, ledger_page, verify_ledger

bp = Blueprint("ledger", __name__)

PAGE_SIZE = 50
ACTIONS = (
    "circle.created", "circle.settings_changed", "member.added", "member.joined", "member.roles_changed",
    "member.removed", "invitation.created", "round.created", "round.settings_changed", "round.phase_changed",
    "round.result_published", "proposal.created", "proposal.submitted", "proposal.draft_edited",
    "proposal.version_created", "proposal.amended", "proposal.withdrawn", "proposal.followed", "proposal.unfollowed",
    "comment.created", "comment.edited", "comment.deleted", "comment.hidden", "comment.question_answered",
    "ballot.cast", "consent_round.opened", "consent_round.closed", "consent.answered", "consent.answer_changed",
    "consent.objection_withdrawn", "consent.reaction_added", "consent.reservation_released", "payout.created",
    "payout.approval_given", "payout.approved", "payout.cancelled", "payout.retry_requested", "payout.request_started",
    "payout.expense_found", "payout.requested", "payout.request_not_sent", "payout.request_outcome_unknown",
    "payout.request_failed", "payout.expense_updated", "payout.expense_missing", "opencollective.connected",
    "opencollective.reconnected", "round.deadline_reminder_sent", "round.reminder_sent",
)  # fmt: skip


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


def _date_arg(name: str) -> datetime | None:
    value = request.args.get(name, "").strip()
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC) if value else None
    except ValueError:
        return None


def filters_from_request() -> LedgerFilter:
    """The page's filters; anything unreadable is ignored rather than refused, like a search box."""
    until = _date_arg("until")
    if until is not None:
        until = until.replace(hour=23, minute=59, second=59, microsecond=999999)
    return LedgerFilter(
        action=request.args.get("action") if request.args.get("action") in ACTIONS else None,
        actor_id=_int_arg("actor"),
        proposal_id=_int_arg("proposal"),
        since=_date_arg("since"),
        until=until,
        hash=request.args.get("hash", "").strip() or None,
    )


@bp.route("/circles/<int:circle_id>/ledger")
@requires(circle_role(public_read=True))
def view(circle_id: int) -> str:
    circle: Circle = g.circle
    entries, next_before = ledger_page(
        circle.id, circle.currency, before=_int_arg("before"), limit=PAGE_SIZE, filters=filters_from_request()
    )
    return render_template(
        "ledger/view.html",
        circle=circle,
        entries=entries,
        next_before=next_before,
        actions=ACTIONS,
        members=member_names(circle) if g.membership is not None else [],
        args={key: request.args.get(key, "") for key in ("action", "actor", "proposal", "since", "until", "hash")},
    )


@bp.route("/circles/<int:circle_id>/ledger/verify")
@requires(circle_role(public_read=True))
def verify(circle_id: int) -> str:
    circle: Circle = g.circle
    (report,) = verify_ledger([circle.id], include_site=False)
    return render_template("ledger/verify.html", circle=circle, report=report)


def _download(chunks: Any, mimetype: str, filename: str) -> Response:
    return Response(
        stream_with_context(chunks),
        mimetype=mimetype,
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )


@bp.route("/circles/<int:circle_id>/ledger.jsonl")
@requires(circle_role(public_read=True))
def export_json_lines(circle_id: int) -> Response:
    circle: Circle = g.circle
    return _download(export_jsonl(circle.id), "application/x-ndjson", f"ledger-{circle.slug}.jsonl")


@bp.route("/circles/<int:circle_id>/ledger.csv")
@requires(circle_role(public_read=True))
def export_csv_file(circle_id: int) -> Response:
    circle: Circle = g.circle
    return _download(export_csv(circle.id, circle.currency), "text/csv", f"ledger-{circle.slug}.csv")
