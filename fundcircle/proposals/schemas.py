"""API schemas for proposals. They check types only; the service checks content, so the API and the pages give
the same errors for the same bad input."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundcircle.api.fields import BoundedInteger, StrictBoolean, StrictInteger


class PayeeSchema(Schema):
    slug = fields.String(load_default=None, allow_none=True, metadata={"description": "An Open Collective account"})
    name = fields.String(load_default=None, allow_none=True, metadata={"description": "A person to invite"})
    email = fields.String(load_default=None, allow_none=True)


class ProposalCreateSchema(Schema):
    title = fields.String(required=True)
    summary = fields.String(required=True)
    body = fields.String(required=True, metadata={"description": "Markdown; rendered and sanitised"})
    amount_minor = StrictInteger(required=True)
    category = fields.String(load_default=None, allow_none=True)
    payee = fields.Nested(PayeeSchema, required=True)
    submit = StrictBoolean(load_default=False, metadata={"description": "false saves a draft"})


class ProposalPatchSchema(Schema):
    title = fields.String()
    summary = fields.String()
    body = fields.String()
    amount_minor = StrictInteger()
    category = fields.String(allow_none=True)
    payee = fields.Nested(PayeeSchema)
    change_note = fields.String(
        load_default="", metadata={"description": "What changed and why; required to amend during deliberation"}
    )


class PersonSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class PayeeOutSchema(Schema):
    slug = fields.String(allow_none=True, required=True)
    name = fields.String(allow_none=True, required=True)
    email = fields.String(
        allow_none=True, required=True, metadata={"description": "Shown to the author, treasurers and admins only"}
    )


class VersionSchema(Schema):
    number = fields.Integer(required=True)
    title = fields.String(required=True)
    summary = fields.String(required=True)
    body = fields.String(required=True)
    body_html = fields.String(required=True)
    amount_minor = fields.Integer(required=True)
    currency = fields.String(required=True)
    category = fields.String(allow_none=True, required=True)
    payee = fields.Nested(PayeeOutSchema, required=True)
    change_note = fields.String(required=True)
    created_at = fields.DateTime(format="iso", required=True)


class ProposalSchema(VersionSchema):
    id = fields.Integer(required=True)
    round_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("draft", "submitted", "withdrawn")))
    version = fields.Integer(required=True)
    author = fields.Nested(PersonSchema, required=True)
    submitted_at = fields.DateTime(format="iso", allow_none=True, required=True)
    withdrawn_at = fields.DateTime(format="iso", allow_none=True, required=True)


class ProposalRowSchema(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    title = fields.String(required=True)
    summary = fields.String(required=True)
    amount_minor = fields.Integer(required=True)
    currency = fields.String(required=True)
    category = fields.String(allow_none=True, required=True)
    author = fields.Nested(PersonSchema, required=True)
    version = fields.Integer(required=True)
    comments = fields.Integer(required=True)
    created_at = fields.DateTime(format="iso", required=True)


class ProposalListSchema(Schema):
    items = fields.List(fields.Nested(ProposalRowSchema), required=True)
    next_after = fields.Integer(allow_none=True, required=True, metadata={"description": "pass as `after` for more"})


class PageQuerySchema(Schema):
    """Keyset pagination: items in id order, from after `after`; `next_after` in the answer continues."""

    after = BoundedInteger(load_default=0, validate=validate.Range(min=0))
    limit = BoundedInteger(load_default=100, validate=validate.Range(min=1, max=500))


class ProposalListQuerySchema(PageQuerySchema):
    category = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(("draft", "submitted", "withdrawn")))


class VersionListSchema(Schema):
    items = fields.List(fields.Nested(VersionSchema), required=True)
