"""The consent rounds' part of the JSON API: opening and closing consent rounds, answers, objections and
reactions."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from fundcircle.access import ANY_MEMBER, circle_role, requires
from fundcircle.consent import services
from fundcircle.consent.models import ConsentReaction, ConsentRound
from fundcircle.consent.schemas import ConsentAnswerInSchema, ConsentRoundSchema, ReactionInSchema, ReactionSchema
from fundcircle.db import utcnow
from fundcircle.openapi import api_blueprint
from fundcircle.proposals.services import get_visible_proposal

blp = api_blueprint("consent", __name__, "Consent rounds on proposal versions: answers, objections and reactions")


@blp.route("/proposals/<int:proposal_id>/consent-rounds", methods=["POST"])
@requires(circle_role("admin"))
@blp.response(201, ConsentRoundSchema)
def open_consent_round(proposal_id: int) -> ConsentRound:
    """The facilitator opens a consent round on the proposal's current version (consent rounds, while deciding)."""
    proposal = get_visible_proposal(proposal_id, current_user)
    return services.open_consent_round(current_user, proposal, utcnow())


@blp.route("/consent-rounds/<int:consent_round_id>", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, ConsentRoundSchema)
def get_consent_round(consent_round_id: int) -> ConsentRound:
    """A consent round: every answer with its argument, and its state and reason."""
    return services.get_consent_round(consent_round_id)


@blp.route("/consent-rounds/<int:consent_round_id>/answer", methods=["PUT"])
@requires(circle_role("circle"))
@blp.arguments(ConsentAnswerInSchema)
@blp.response(200, ConsentRoundSchema)
def answer_consent_round(data: dict[str, Any], consent_round_id: int) -> ConsentRound:
    """Answer, or change your answer, while the consent round is open."""
    consent_round = services.get_consent_round(consent_round_id)
    services.answer_consent(current_user, consent_round, data["position"], data["argument"], utcnow())
    return consent_round


@blp.route("/consent-rounds/<int:consent_round_id>/answer/withdraw-objection", methods=["POST"])
@requires(circle_role("circle"))
@blp.response(200, ConsentRoundSchema)
def withdraw_objection(consent_round_id: int) -> ConsentRound:
    """Withdraw your own objection (or block)."""
    consent_round = services.get_consent_round(consent_round_id)
    services.withdraw_objection(current_user, consent_round, utcnow())
    return consent_round


@blp.route("/consent-rounds/<int:consent_round_id>/close", methods=["POST"])
@requires(circle_role("admin"))
@blp.response(200, ConsentRoundSchema)
def close_consent_round(consent_round_id: int) -> ConsentRound:
    """The facilitator closes the consent round; a consented version reserves its amount from the budget."""
    consent_round = services.get_consent_round(consent_round_id)
    services.close_consent_round(current_user, consent_round, utcnow())
    return consent_round


@blp.route("/consent-rounds/<int:consent_round_id>/reactions", methods=["POST"])
@requires(ANY_MEMBER)
@blp.arguments(ReactionInSchema)
@blp.response(201, ReactionSchema)
def add_reaction(data: dict[str, Any], consent_round_id: int) -> ConsentReaction:
    """Share a short reaction in an open consent round (anyone in the circle); it decides nothing."""
    consent_round = services.get_consent_round(consent_round_id)
    return services.add_reaction(current_user, consent_round, data["body"], utcnow())
