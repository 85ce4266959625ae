"""The proposals' part of the JSON API: writing, submitting, amending and withdrawing proposals, and their versions."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from fundcircle.access import ANY_MEMBER, requires
from fundcircle.db import utcnow
from fundcircle.errors import ValidationFailed
from fundcircle.openapi import api_blueprint, renamed_fields
from fundcircle.proposals import services
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.proposals.schemas import (
    ProposalCreateSchema,
    ProposalListQuerySchema,
    ProposalListSchema,
    ProposalPatchSchema,
    ProposalSchema,
    VersionListSchema,
)
from fundcircle.rounds.services import get_round

blp = api_blueprint("proposals", __name__, "Proposals and their versions")

#: Where the API names a proposal's field otherwise than the service does.
PROPOSAL_FIELDS_IN_API = {
    "payee_slug": ("payee", "slug"),
    "payee_name": ("payee", "name"),
    "payee_email": ("payee", "email"),
}


def _input(data: dict[str, Any], base: ProposalVersion | None = None) -> services.ProposalInput:
    """The API's fields as the service's input; a PATCH keeps what it does not name."""
    payee = data.get("payee")
    if payee is None and base is not None:
        payee = {"slug": base.payee_slug, "name": base.payee_name, "email": base.payee_email}
    payee = payee or {}

    def pick(name: str) -> Any:
        return data[name] if name in data else getattr(base, name, None)

    if "cost_lines" in data:
        lines = data["cost_lines"]
        # New lines without an amount ask for their total, whatever the version asked before.
        amount = data.get("amount_minor", 0)
    else:
        lines = services.cost_lines_of(base) if base is not None else []
        amount = pick("amount_minor") or 0
    return services.ProposalInput(
        title=pick("title") or "",
        summary=pick("summary") or "",
        body=pick("body") or "",
        amount_minor=amount,
        cost_lines=tuple(services.CostLineInput(line["description"], line["amount_minor"]) for line in lines),
        category=pick("category"),
        payee_slug=payee.get("slug"),
        payee_name=payee.get("name"),
        payee_email=payee.get("email"),
    )


@blp.route("/rounds/<int:round_id>/proposals", methods=["GET"])
@requires(ANY_MEMBER)
@blp.arguments(ProposalListQuerySchema, location="query")
@blp.response(200, ProposalListSchema)
def list_proposals(query: dict[str, Any], round_id: int) -> dict[str, Any]:
    """The round's proposals (drafts only your own) in id order, filtered by category and status, a page at a time."""
    rows = services.list_proposals(get_round(round_id), current_user, **query)
    return {"items": rows, "next_after": rows[-1].id if len(rows) == query["limit"] else None}


@blp.route("/rounds/<int:round_id>/proposals", methods=["POST"])
@requires(ANY_MEMBER)
@blp.arguments(ProposalCreateSchema)
@blp.response(201, ProposalSchema)
def create_proposal(data: dict[str, Any], round_id: int) -> Proposal:
    """Write a proposal while the round is open for proposals: a draft, or submitted with `submit: true`."""
    submit = data.pop("submit")
    try:
        return services.create_proposal(current_user, get_round(round_id), _input(data), submit=submit, now=utcnow())
    except ValidationFailed as error:
        raise renamed_fields(error, PROPOSAL_FIELDS_IN_API) from None


@blp.route("/proposals/<int:proposal_id>", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, ProposalSchema)
def get_proposal(proposal_id: int) -> Proposal:
    """A proposal as its current version says."""
    return services.get_visible_proposal(proposal_id, current_user)


@blp.route("/proposals/<int:proposal_id>", methods=["PATCH"])
@requires(ANY_MEMBER)
@blp.arguments(ProposalPatchSchema)
@blp.response(200, ProposalSchema)
def edit_proposal(data: dict[str, Any], proposal_id: int) -> Proposal:
    """The author changes the proposal: a draft in place, a submitted one as a new version (an amendment in
    deliberation, with `change_note`). Fields not given keep their value."""
    proposal = services.get_visible_proposal(proposal_id, current_user)
    change_note = data.pop("change_note")
    try:
        services.update_proposal(
            current_user,
            proposal,
            _input(data, services.current_version(proposal)),
            change_note=change_note,
            now=utcnow(),
        )
    except ValidationFailed as error:
        raise renamed_fields(error, PROPOSAL_FIELDS_IN_API) from None
    return proposal


@blp.route("/proposals/<int:proposal_id>/submit", methods=["POST"])
@requires(ANY_MEMBER)
@blp.response(200, ProposalSchema)
def submit_proposal(proposal_id: int) -> Proposal:
    """The author submits a draft."""
    return services.submit_proposal(current_user, services.get_visible_proposal(proposal_id, current_user), utcnow())


@blp.route("/proposals/<int:proposal_id>/withdraw", methods=["POST"])
@requires(ANY_MEMBER)
@blp.response(200, ProposalSchema)
def withdraw_proposal(proposal_id: int) -> Proposal:
    """The author withdraws the proposal (until the round is decided)."""
    proposal = services.get_visible_proposal(proposal_id, current_user)
    return services.withdraw_proposal(current_user, proposal, utcnow())


@blp.route("/proposals/<int:proposal_id>/versions", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, VersionListSchema)
def list_versions(proposal_id: int) -> dict[str, list[ProposalVersion]]:
    """Every version of the proposal, oldest first."""
    return {"items": services.versions_of(services.get_visible_proposal(proposal_id, current_user))}
