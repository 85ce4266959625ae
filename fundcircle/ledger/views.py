"""The ledger as people use it: a page per circle, exports, and verification for anyone allowed to see it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from fundcircle.access import circle_role, requires
from fundcircle.circles.models import Circle
from fundcircle.circles.services import member_names
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError, NotFound
from fundcircle.i18n import current_language, in_language
from fundcircle.ledger.chain import receipt_prefix, short_receipt
from fundcircle.ledger.checkpoints import inclusion_proof, set_ledger_witness
from fundcircle.ledger.reading import (
    ACTION_GROUPS,
    LedgerFilter,
    export_csv,
    export_jsonl,
    ledger_page,
    mismatch_words,
    problem_words,
    proposal_choices,
    verify_ledger,
)
from fundcircle.ledger.receipts import check_receipt
from fundcircle.ledger.signing import current_checkpoint, latest_checkpoint, site_key
from fundcircle.unit_of_work import refuse

bp = Blueprint("ledger", __name__)


@bp.app_template_filter("receipt_code")
def receipt_code(entry_hash: str | None) -> str:
    """An entry's hash as the short receipt people read ("7f3a-9c21-b4"), on any page (the ballot's too)."""
    return short_receipt(entry_hash or "")


PAGE_SIZE = 50
ACTIONS = (
    "circle.created", "circle.settings_changed", "circle.witness_set", "member.added", "member.joined",
    "member.roles_changed",
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
    group = request.args.get("group", "")
    return LedgerFilter(
        action=request.args.get("action") if request.args.get("action") in ACTIONS else None,
        group=group if group in ACTION_GROUPS else None,
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
        groups=ACTION_GROUPS,
        proposals=proposal_choices(circle.id),
        members=member_names(circle) if g.membership is not None else [],
        checkpoint=latest_checkpoint(circle.id),
        verifier_key=site_key().verifier,
        is_admin=g.membership is not None and "admin" in g.membership.roles,
        args={
            key: request.args.get(key, "") for key in ("action", "group", "actor", "proposal", "since", "until", "hash")
        },
    )


@bp.route("/circles/<int:circle_id>/ledger/verify")
@requires(circle_role(public_read=True))
def verify(circle_id: int) -> str:
    circle: Circle = g.circle
    (report,) = verify_ledger([circle.id], include_site=False)
    return render_template(
        "ledger/verify.html",
        circle=circle,
        report=report,
        problem=problem_words(report.result),
        mismatch=mismatch_words(report.mismatch) if report.mismatch is not None else None,
    )


@bp.route("/circles/<int:circle_id>/ledger/technical")
@requires(circle_role(public_read=True))
def technical(circle_id: int) -> str:
    """For the technically minded: the checkpoint, the site's key and the command lines that check the ledger
    outside this site, which the member pages only link to. `?seq=N` also names entry N's checkpoint (a result's)."""
    circle: Circle = g.circle
    (report,) = verify_ledger([circle.id], include_site=False)
    entry = None
    seq = _int_arg("seq")
    if seq is not None and seq >= 1:
        entries, _ = ledger_page(circle.id, circle.currency, before=seq + 1, limit=1, filters=LedgerFilter())
        entry = entries[0] if entries and entries[0].seq == seq else None
    return render_template(
        "ledger/technical.html",
        circle=circle,
        report=report,
        entry=entry,
        checkpoint=latest_checkpoint(circle.id),
        verifier_key=site_key().verifier,
    )


@bp.route("/circles/<int:circle_id>/ledger/receipt")
@requires(circle_role(public_read=True))
def receipt(circle_id: int) -> str:
    """A ballot receipt, checked: found in this circle's ledger (and what became of the ballot) or not."""
    circle: Circle = g.circle
    code = request.args.get("code", "").strip()[:100]
    problem = None
    found = None
    if code and receipt_prefix(code) is None:
        problem = gettext("A receipt is 10 letters and digits, like 7f3a-9c21-b4: check what you typed.")
    elif code:
        found = check_receipt(circle.id, code)
    return render_template("ledger/receipt.html", circle=circle, code=code, found=found, problem=problem)


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
    # The words are written while the response streams, after the request's session is closed: the language is
    # settled here, while the reader is still known.
    language = current_language()
    lines = export_csv(circle.id, circle.currency)

    def rows() -> Iterator[str]:
        with in_language(language):
            yield from lines

    return _download(rows(), "text/csv", f"ledger-{circle.slug}.csv")


#: The standalone verifier, shipped in every bundle (the repository's scripts/verify_ledger.py is a link to it).
VERIFIER_PATH = Path(__file__).with_name("verify_ledger.py")


@bp.route("/circles/<int:circle_id>/ledger/proof")
@requires(circle_role(public_read=True))
def proof(circle_id: int) -> str:
    """An entry's inclusion proof against a signed checkpoint (one is signed now if the log grew since the last):
    what a member checks a ballot receipt, a consent answer or a payout with."""
    circle: Circle = g.circle
    checkpoint = current_checkpoint(circle.id, utcnow())
    seq = _int_arg("seq") if request.args.get("seq") else checkpoint.size  # no seq: the latest entry
    if seq is None or not 1 <= seq <= checkpoint.size:
        raise NotFound(
            gettext(
                "The ledger has no entry %(seq)s: give ?seq=1 to %(size)s.",
                seq=repr(request.args.get("seq", "")),
                size=checkpoint.size,
            )
        )
    entries, _ = ledger_page(circle.id, circle.currency, before=seq + 1, limit=1, filters=LedgerFilter())
    return render_template(
        "ledger/proof.html",
        circle=circle,
        entry=entries[0],
        proof=inclusion_proof(circle.id, seq, checkpoint.size),
        checkpoint=checkpoint,
        verifier_key=site_key().verifier,
    )


@bp.route("/circles/<int:circle_id>/ledger/witness", methods=["POST"])
@requires(circle_role("admin"))
def witness(circle_id: int) -> BaseResponse:
    circle: Circle = g.circle
    try:
        set_ledger_witness(current_user, circle, request.form.get("witness", ""))
    except FundCircleError as error:
        refuse()
        flash(error.message, "error")
        return redirect(url_for("ledger.view", circle_id=circle.id))
    flash(gettext("The witness is saved: it receives each new checkpoint."), "success")
    return redirect(url_for("ledger.view", circle_id=circle.id))


@bp.route("/circles/<int:circle_id>/ledger-bundle.zip")
@requires(circle_role(public_read=True))
def export_bundle(circle_id: int) -> Response:
    """The ledger as JSON Lines, its latest signed checkpoint, the site's key and the standalone verifier, in one
    file: everything a member needs to check the ledger with nothing of ours."""
    circle: Circle = g.circle
    checkpoint = current_checkpoint(circle.id, utcnow())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        with bundle.open("ledger.jsonl", "w") as lines:
            for chunk in export_jsonl(circle.id):
                lines.write(chunk.encode("utf-8"))
        bundle.writestr("checkpoint.txt", checkpoint.note)
        bundle.writestr("site-key.txt", site_key().verifier + "\n")
        bundle.write(VERIFIER_PATH, "verify_ledger.py")
        bundle.writestr(
            "README.txt",
            "Check this ledger with Python 3.11 or newer, nothing else:\n\n"
            "  python3 verify_ledger.py ledger.jsonl --key site-key.txt --checkpoint checkpoint.txt\n\n"
            "Add --checkpoint FILE for every checkpoint you kept from earlier (notice e-mails carry one): the\n"
            "export must still extend each of them.\n",
        )
    return Response(
        buffer.getvalue(),
        mimetype="application/zip",
        headers={"Content-Disposition": f"attachment; filename=ledger-{circle.slug}.zip"},
    )
