"""Pages of consent decisions: the consent round page where the circle answers, and the facilitator's buttons."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.wrappers import Response

from fundcircle.access import ANY_MEMBER, Place, circle_role, finds_place, has_role, requires
from fundcircle.consent import services
from fundcircle.consent.guidance import progress_of_round  # noqa: F401  # connects the round page's progress
from fundcircle.consent.models import ConsentRound
from fundcircle.consent.rules import POSITION_LABELS, POSITION_WORDS, POSITIONS, STOPPING
from fundcircle.db import utcnow
from fundcircle.deliberation.services import threads_of
from fundcircle.errors import Conflict, ValidationFailed
from fundcircle.extensions import db
from fundcircle.forms import ConfirmForm
from fundcircle.proposals.authorship import is_author
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.proposals.services import get_visible_proposal
from fundcircle.proposals.views import proposal_page
from fundcircle.rounds.models import Round
from fundcircle.unit_of_work import refuse
from fundcircle.voting.services import circle_members

bp = Blueprint("consent", __name__)


@finds_place("consent_round_id")
def _place_of_consent_round(consent_round_id: int) -> Place | None:
    consent_round = db.session.get(ConsentRound, consent_round_id)
    if consent_round is None:
        return None
    round_ = db.session.get(Round, consent_round.round_id)
    return Place(round_.circle) if round_ is not None else None


@proposal_page.part
def consent_of(proposal: Proposal, phase: str) -> dict[str, Any]:
    """The proposal page's consent rounds, and whether the proposal may be amended or put to consent now."""
    round_ = proposal.round
    history = services.consent_rounds_of(proposal) if round_.method == "consent" else []
    consent_open = any(cr.closed_at is None for cr in history)
    consented = any(cr.outcome == "consented" for cr in history)
    amendable = (
        round_.method == "consent" and phase == "deciding" and proposal.status == "submitted"
        and not consent_open and not consented
    )  # fmt: skip
    return {
        "consent_history": history,
        "consented": consented,
        "amendable_in_consent": amendable,
        "can_open_consent": has_role("admin")
        and amendable
        and not any(cr.version == proposal.current_version for cr in history),
    }


def _render(
    consent_round: Any, status: int = 200, message: str | None = None, typed: dict[str, str] | None = None
) -> tuple[str, int]:
    round_ = db.session.get(Round, consent_round.round_id)
    assert round_ is not None  # nosec B101  # type narrowing: a consent round's round is a foreign key
    proposal = get_visible_proposal(consent_round.proposal_id, current_user)
    version = db.session.scalar(
        db.select(ProposalVersion).where(
            ProposalVersion.proposal_id == proposal.id, ProposalVersion.number == consent_round.version
        )
    )
    answers = services.answers_of(consent_round)
    mine = next((answer for answer in answers if answer.user_id == current_user.id), None)
    phase = round_.phase_at(utcnow())
    # Answers, reactions and the facilitator's close only while the round really is deciding (not past its deadline).
    accepting = consent_round.closed_at is None and phase == "deciding"
    open_questions = [
        thread for thread in threads_of(proposal)
        if thread.comment.is_question and thread.comment.answered_at is None and thread.comment.visible
    ]  # fmt: skip
    return (
        render_template(
            "consent/round.html",
            consent_round=consent_round,
            round=round_,
            circle=round_.circle,
            proposal=proposal,
            version=version,
            answers=answers,
            position_counts=services.position_counts(round_, answers),
            circle_size=len(set(db.session.scalars(circle_members(round_.circle_id)))),
            is_author=is_author(proposal, current_user),
            mine=mine,
            reactions=services.reactions_of(consent_round),
            outcome=services.current_outcome(consent_round) if consent_round.closed_at is None else None,
            history=services.consent_rounds_of(proposal),
            positions=POSITIONS[round_.consent_rules],
            labels={position: gettext(label) for position, label in POSITION_LABELS.items()},
            words={position: gettext(word) for position, word in POSITION_WORDS.items()},
            reason_of=services.reason_of,
            stopping=STOPPING[round_.consent_rules],
            open_questions=open_questions,
            phase_now=phase,
            accepting=accepting,
            can_answer=has_role("circle") and accepting,
            is_admin=has_role("admin"),
            message=message,
            typed=typed or {},
            confirm_form=ConfirmForm(),
        ),
        status,
    )


@bp.route("/proposals/<int:proposal_id>/consent-rounds", methods=["POST"])
@requires(circle_role("admin"))
def open_round(proposal_id: int) -> Response:
    proposal = get_visible_proposal(proposal_id, current_user)
    if ConfirmForm().validate_on_submit():
        try:
            consent_round = services.open_consent_round(current_user, proposal, utcnow())
        except Conflict as error:
            refuse()
            flash(error.message, "error")
        else:
            return redirect(url_for("consent.view", consent_round_id=consent_round.id))
    return redirect(url_for("proposals.view", proposal_id=proposal_id))


@bp.route("/consent-rounds/<int:consent_round_id>")
@requires(ANY_MEMBER)
def view(consent_round_id: int) -> tuple[str, int]:
    return _render(services.get_consent_round(consent_round_id))


@bp.route("/consent-rounds/<int:consent_round_id>/answer", methods=["POST"])
@requires(circle_role("circle"))
def answer(consent_round_id: int) -> Response | tuple[str, int]:
    consent_round = services.get_consent_round(consent_round_id)
    if not ConfirmForm().validate_on_submit():
        return _render(consent_round, 400, gettext("The form had expired; nothing was saved. Try again."))
    position = request.form.get("position", "")
    argument = request.form.get("argument", "")
    try:
        services.answer_consent(current_user, consent_round, position, argument, utcnow())
    except (Conflict, ValidationFailed) as error:
        refuse()
        return _render(consent_round, error.status, error.message, {"position": position, "argument": argument})
    flash(gettext("Your answer is recorded."), "success")
    return redirect(url_for("consent.view", consent_round_id=consent_round_id))


@bp.route("/consent-rounds/<int:consent_round_id>/withdraw-objection", methods=["POST"])
@requires(circle_role("circle"))
def withdraw(consent_round_id: int) -> Response:
    consent_round = services.get_consent_round(consent_round_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.withdraw_objection(current_user, consent_round, utcnow())
        except Conflict as error:
            refuse()
            flash(error.message, "error")
        else:
            flash(gettext("Your objection is withdrawn."), "success")
    return redirect(url_for("consent.view", consent_round_id=consent_round_id))


@bp.route("/consent-rounds/<int:consent_round_id>/reactions", methods=["POST"])
@requires(ANY_MEMBER)
def react(consent_round_id: int) -> Response | tuple[str, int]:
    consent_round = services.get_consent_round(consent_round_id)
    if not ConfirmForm().validate_on_submit():
        return _render(consent_round, 400, gettext("The form had expired; nothing was saved. Try again."))
    try:
        services.add_reaction(current_user, consent_round, request.form.get("body", ""), utcnow())
    except (Conflict, ValidationFailed) as error:
        refuse()
        return _render(consent_round, error.status, error.message, {"reaction": request.form.get("body", "")})
    return redirect(url_for("consent.view", consent_round_id=consent_round_id) + "#reactions")


@bp.route("/consent-rounds/<int:consent_round_id>/close", methods=["POST"])
@requires(circle_role("admin"))
def close(consent_round_id: int) -> Response:
    consent_round = services.get_consent_round(consent_round_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.close_consent_round(current_user, consent_round, utcnow())
        except Conflict as error:
            refuse()
            flash(error.message, "error")
        else:
            if consent_round.outcome == "consented":
                flash(gettext("The consent round is closed: consented."), "success")
            else:
                reason = services.reason_words(consent_round.reason or "")
                flash(gettext("The consent round is closed: not consented: %(reason)s.", reason=reason), "success")
    return redirect(url_for("consent.view", consent_round_id=consent_round_id))
