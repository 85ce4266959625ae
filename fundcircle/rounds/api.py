"""The rounds' part of the JSON API: creating rounds, their settings and moving them through their phases."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_login import current_user

from fundcircle.access import ANY_MEMBER, circle_role, requires
from fundcircle.db import utcnow
from fundcircle.errors import ValidationFailed
from fundcircle.openapi import api_blueprint, renamed_fields
from fundcircle.rounds import retrospective, services
from fundcircle.rounds.models import RetrospectiveAnswer, Round
from fundcircle.rounds.retrospective_summary import Rating, summarise
from fundcircle.rounds.schemas import (
    AdvanceSchema,
    RetrospectiveAnswerInputSchema,
    RetrospectiveAnswerSchema,
    RetrospectiveSchema,
    RoundCreateSchema,
    RoundPatchSchema,
    RoundSchema,
)

blp = api_blueprint("rounds", __name__, "Rounds: a call for proposals against one pot, and its phases")

#: Where the API's round input names a setting otherwise than the service does.
ROUND_FIELDS_IN_API = {
    "proposals_close_at": ("deadlines", "proposals"),
    "deliberation_close_at": ("deadlines", "deliberation"),
    "deciding_close_at": ("deadlines", "deciding"),
}


def _round_input(data: dict[str, Any]) -> services.RoundInput:
    deadlines = data.pop("deadlines") or {}
    return services.RoundInput(
        **data,
        proposals_close_at=deadlines.get("proposals"),
        deliberation_close_at=deadlines.get("deliberation"),
        deciding_close_at=deadlines.get("deciding"),
    )


@blp.route("/circles/<int:circle_id>/rounds", methods=["POST"])
@requires(circle_role("admin"))
@blp.arguments(RoundCreateSchema)
@blp.response(201, RoundSchema)
def create_round(data: dict[str, Any], circle_id: int) -> Round:
    """Create a round in draft. Money in minor units of the circle's currency."""
    try:
        return services.create_round(current_user, g.circle, _round_input(data))
    except ValidationFailed as error:
        raise renamed_fields(error, ROUND_FIELDS_IN_API) from None


@blp.route("/rounds/<int:round_id>", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, RoundSchema)
def get_round(round_id: int) -> Round:
    """A round, its phase, the phases it can move to, and its deadlines."""
    return services.get_round(round_id)


@blp.route("/rounds/<int:round_id>", methods=["PATCH"])
@requires(circle_role("admin"))
@blp.arguments(RoundPatchSchema)
@blp.response(200, RoundSchema)
def update_round(data: dict[str, Any], round_id: int) -> Round:
    """Change a round's settings as far as its phase allows (admins); settings not given keep their value."""
    round_ = services.get_round(round_id)
    deadlines = data.pop("deadlines", {})
    current = {name: getattr(round_, name) for name in services.RoundInput.__dataclass_fields__}
    current.update(data)
    for field, (_, api_name) in ROUND_FIELDS_IN_API.items():
        if api_name in deadlines:
            current[field] = deadlines[api_name]
    try:
        return services.update_round(current_user, round_, services.RoundInput(**current), now=utcnow())
    except ValidationFailed as error:
        raise renamed_fields(error, ROUND_FIELDS_IN_API) from None


@blp.route("/rounds/<int:round_id>/advance", methods=["POST"])
@requires(circle_role("admin"))
@blp.arguments(AdvanceSchema)
@blp.response(200, RoundSchema)
def advance_round(data: dict[str, Any], round_id: int) -> Round:
    """Move the round to its next phase, or cancel it before it is decided (admins)."""
    return services.advance_round(current_user, services.get_round(round_id), data["to"], utcnow())


def _rating(rating: Rating) -> dict[str, Any]:
    return {"mean": rating.mean_text if rating.mean is not None else None, "distribution": list(rating.counts.values())}


def _retrospective(round_: Round) -> dict[str, Any]:
    closed = round_.phase == "closed"
    summary = retrospective.summary_of(round_) if closed else summarise([])
    return {
        "round_id": round_.id,
        "open": closed and not retrospective.next_round_opened(round_),
        "count": summary.count,
        "fairness": _rating(summary.fairness),
        "effort": _rating(summary.effort),
        "worked": [{"text": point.text, "name": point.name} for point in summary.worked],
        "change": [{"text": point.text, "name": point.name} for point in summary.change],
        "mine": retrospective.own_answer(current_user, round_),
    }


@blp.route("/rounds/<int:round_id>/retrospective", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, RetrospectiveSchema)
def get_retrospective(round_id: int) -> dict[str, Any]:
    """The round's retrospective summarised (empty until the round is closed), and the caller's own answer."""
    return _retrospective(services.get_round(round_id))


@blp.route("/rounds/<int:round_id>/retrospective", methods=["PUT"])
@requires(ANY_MEMBER)
@blp.arguments(RetrospectiveAnswerInputSchema)
@blp.response(200, RetrospectiveAnswerSchema)
def answer_retrospective(data: dict[str, Any], round_id: int) -> RetrospectiveAnswer:
    """Answer the closed round's retrospective, or change the answer until the circle's next round opens (members
    of the circle; one answer each, anonymous or not)."""
    return retrospective.answer_retrospective(
        current_user, services.get_round(round_id), retrospective.RetrospectiveInput(**data), utcnow()
    )
