"""The proposals' part of the JSON API: writing, submitting, amending and withdrawing proposals, their versions,
and their co-authors."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from flask_login import current_user

from fundcircle.access import ANY_MEMBER, requires
from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.errors import ValidationFailed
from fundcircle.extensions import db
from fundcircle.openapi import api_blueprint, renamed_fields
from fundcircle.proposals import authorship, coauthors, services
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.proposals.schemas import (
    CoauthorInviteSchema,
    CoauthorListSchema,
    CoauthorSchema,
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


# --- co-authors (proposals/coauthors.py) ---------------------------------------------------------------------------


@blp.route("/proposals/<int:proposal_id>/coauthors", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, CoauthorListSchema)
def list_coauthors(proposal_id: int) -> dict[str, Any]:
    """Who writes the proposal: its author and co-authors; the author and each invitee also see the invitations
    waiting for an answer (the author all of them, an invitee their own)."""
    proposal = services.get_visible_proposal(proposal_id, current_user)
    rows = coauthors.coauthors_of(proposal)
    if not authorship.is_lead_author(proposal, current_user):
        rows = [row for row in rows if row.status == "accepted" or row.user_id == current_user.id]
    return {"author": proposal.author, "items": rows}


@blp.route("/proposals/<int:proposal_id>/coauthors", methods=["POST"])
@requires(ANY_MEMBER)
@blp.arguments(CoauthorInviteSchema)
@blp.response(201, CoauthorSchema)
def invite_coauthor(data: dict[str, Any], proposal_id: int) -> coauthors.CoauthorRow:
    """The author invites a member of the circle (`user_id`) to co-author the proposal; they are told."""
    proposal = services.get_visible_proposal(proposal_id, current_user)
    invitee = db.session.get(User, data["user_id"])
    if invitee is None:
        raise ValidationFailed(gettext("Only members of the circle can co-author its proposals."), field="user_id")
    return coauthors.as_row(coauthors.invite_coauthor(current_user, proposal, invitee, utcnow()))


@blp.route("/proposals/<int:proposal_id>/coauthors/accept", methods=["POST"])
@requires(ANY_MEMBER)
@blp.response(200, CoauthorSchema)
def accept_coauthorship(proposal_id: int) -> coauthors.CoauthorRow:
    """Accept your invitation to co-author the proposal: you may edit it and answer its questions from now on."""
    proposal = services.get_visible_proposal(proposal_id, current_user)
    return coauthors.as_row(coauthors.accept_coauthorship(current_user, proposal, utcnow()))


@blp.route("/proposals/<int:proposal_id>/coauthors/decline", methods=["POST"])
@requires(ANY_MEMBER)
@blp.response(200, CoauthorSchema)
def decline_coauthorship(proposal_id: int) -> coauthors.CoauthorRow:
    """Decline your invitation to co-author the proposal; the author is told."""
    proposal = services.get_visible_proposal(proposal_id, current_user)
    return coauthors.as_row(coauthors.decline_coauthorship(current_user, proposal, utcnow()))


@blp.route("/proposals/<int:proposal_id>/coauthors/leave", methods=["POST"])
@requires(ANY_MEMBER)
@blp.response(200, CoauthorSchema)
def leave_coauthorship(proposal_id: int) -> coauthors.CoauthorRow:
    """Stop co-authoring the proposal; the author is told."""
    proposal = services.get_visible_proposal(proposal_id, current_user)
    return coauthors.as_row(coauthors.withdraw_coauthorship(current_user, proposal, utcnow()))


@blp.route("/proposals/<int:proposal_id>/coauthors/<int:user_id>", methods=["DELETE"])
@requires(ANY_MEMBER)
@blp.response(200, CoauthorSchema)
def remove_coauthor(proposal_id: int, user_id: int) -> coauthors.CoauthorRow:
    """The author takes back an invitation, or ends a co-authorship; the person is told."""
    proposal = services.get_visible_proposal(proposal_id, current_user)
    return coauthors.as_row(coauthors.remove_coauthor(current_user, proposal, user_id, utcnow()))
