"""API schemas for proposals. They check types only; the service checks content, so the API and the pages give
the same errors for the same bad input."""

from __future__ import annotations

from typing import Any

from flask_login import current_user
from marshmallow import Schema, fields, pre_dump, validate

from fundcircle.access import has_role
from fundcircle.fields import NestedFrom, PageQuerySchema, StrictBoolean, StrictInteger
from fundcircle.proposals.authorship import authors_of, is_author
from fundcircle.proposals.models import COAUTHOR_STATUSES, Proposal, ProposalVersion
from fundcircle.proposals.services import current_version


class PayeeSchema(Schema):
    slug = fields.String(load_default=None, allow_none=True, metadata={"description": "An Open Collective account"})
    name = fields.String(load_default=None, allow_none=True, metadata={"description": "A person to invite"})
    email = fields.String(load_default=None, allow_none=True)


class CostLineSchema(Schema):
    """One line of what the money pays for."""

    description = fields.String(required=True, metadata={"description": "What it pays for, one line"})
    amount_minor = StrictInteger(required=True)


COST_LINES_HELP = (
    "What the money pays for, line by line; the amount asked is their total (omit amount_minor, or give the total)"
)
AMOUNT_HELP = "Required unless cost_lines are given; with them, it must be their total"


class ProposalCreateSchema(Schema):
    title = fields.String(required=True)
    summary = fields.String(required=True)
    body = fields.String(required=True, metadata={"description": "Markdown; rendered and sanitised"})
    amount_minor = StrictInteger(load_default=0, metadata={"description": AMOUNT_HELP})
    cost_lines = fields.List(
        fields.Nested(CostLineSchema), load_default=list, metadata={"description": COST_LINES_HELP}
    )
    category = fields.String(load_default=None, allow_none=True)
    payee = fields.Nested(PayeeSchema, required=True)
    submit = StrictBoolean(load_default=False, metadata={"description": "false saves a draft"})


class ProposalPatchSchema(Schema):
    title = fields.String()
    summary = fields.String()
    body = fields.String()
    amount_minor = StrictInteger(metadata={"description": AMOUNT_HELP})
    cost_lines = fields.List(
        fields.Nested(CostLineSchema),
        metadata={"description": COST_LINES_HELP + "; an empty list asks for amount_minor as one sum"},
    )
    category = fields.String(allow_none=True)
    payee = fields.Nested(PayeeSchema)
    change_note = fields.String(
        load_default="", metadata={"description": "What changed and why; required to amend during deliberation"}
    )


class PersonSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


def may_see_payee_email(proposal: Proposal) -> bool:
    """An invited payee's address is for the proposal's authors, treasurers and admins only."""
    return bool(is_author(proposal, current_user) or has_role("treasurer") or has_role("admin"))


class PayeeOutSchema(Schema):
    """Who a `ProposalVersion` pays."""

    slug = fields.String(attribute="payee_slug", allow_none=True, required=True)
    name = fields.String(attribute="payee_name", allow_none=True, required=True)
    email = fields.Function(
        lambda version: version.payee_email if may_see_payee_email(version.proposal) else None,
        allow_none=True,
        required=True,
        metadata={"type": "string", "nullable": True, "description": "Shown to the author, treasurers and admins only"},
    )


class VersionSchema(Schema):
    """A `ProposalVersion`."""

    number = fields.Integer(required=True)
    title = fields.String(required=True)
    summary = fields.String(required=True)
    body = fields.String(required=True)
    body_html = fields.String(required=True)
    amount_minor = fields.Integer(required=True)
    currency = fields.String(required=True)
    category = fields.String(allow_none=True, required=True)
    payee = NestedFrom(PayeeOutSchema, lambda version: version, required=True)
    cost_lines = fields.List(
        fields.Nested(CostLineSchema),
        required=True,
        metadata={"description": "What the money pays for, adding up to amount_minor; empty: one sum"},
    )
    change_note = fields.String(required=True)
    created_at = fields.DateTime(format="iso", required=True)


class ProposalSchema(VersionSchema):
    """A `Proposal` as its current version says (the version's fields, then the proposal's own)."""

    id = fields.Integer(attribute="proposal.id", required=True)
    round_id = fields.Integer(attribute="proposal.round_id", required=True)
    status = fields.String(
        attribute="proposal.status", required=True, validate=validate.OneOf(("draft", "submitted", "withdrawn"))
    )
    version = fields.Integer(attribute="proposal.current_version", required=True)
    author = fields.Nested(PersonSchema, attribute="proposal.author", required=True)
    authors = NestedFrom(
        PersonSchema,
        lambda version: authors_of(version.proposal),
        many=True,
        required=True,
        metadata={"description": "Everyone who authors it: the author first, then the co-authors who accepted"},
    )
    submitted_at = fields.DateTime(attribute="proposal.submitted_at", format="iso", allow_none=True, required=True)
    withdrawn_at = fields.DateTime(attribute="proposal.withdrawn_at", format="iso", allow_none=True, required=True)

    @pre_dump
    def _current_version(self, proposal: Proposal, **_: Any) -> ProposalVersion:
        # The version's fields are read from the version; `proposal.*` reaches the proposal through it.
        return current_version(proposal)


class ProposalRowSchema(Schema):
    """A `ProposalRow` of the round's list."""

    id = fields.Integer(required=True)
    status = fields.String(required=True)
    title = fields.String(required=True)
    summary = fields.String(required=True)
    amount_minor = fields.Integer(required=True)
    currency = fields.String(required=True)
    category = fields.String(allow_none=True, required=True)
    author = NestedFrom(PersonSchema, lambda row: {"id": row.author_id, "name": row.author_name}, required=True)
    version = fields.Integer(required=True)
    comments = fields.Integer(required=True)
    created_at = fields.DateTime(format="iso", required=True)


class ProposalListSchema(Schema):
    items = fields.List(fields.Nested(ProposalRowSchema), required=True)
    next_after = fields.Integer(allow_none=True, required=True, metadata={"description": "pass as `after` for more"})


class ProposalListQuerySchema(PageQuerySchema):
    category = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(("draft", "submitted", "withdrawn")))


class VersionListSchema(Schema):
    items = fields.List(fields.Nested(VersionSchema), required=True)


class CoauthorInviteSchema(Schema):
    user_id = StrictInteger(required=True, metadata={"description": "A member of the proposal's circle"})


class CoauthorSchema(Schema):
    """A `CoauthorRow`: one person invited to co-author a proposal, and where the invitation stands."""

    user = NestedFrom(PersonSchema, lambda row: {"id": row.user_id, "name": row.name}, required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(COAUTHOR_STATUSES),
        metadata={"description": "invited, accepted (co-author), declined, or withdrawn (left or taken back)"},
    )
    invited_at = fields.DateTime(format="iso", required=True)
    answered_at = fields.DateTime(format="iso", allow_none=True, required=True)


class CoauthorListSchema(Schema):
    author = fields.Nested(PersonSchema, required=True, metadata={"description": "The member who wrote it"})
    items = fields.List(
        fields.Nested(CoauthorSchema),
        required=True,
        metadata={"description": "Co-authors, and (for the author) the invitations waiting for an answer"},
    )
