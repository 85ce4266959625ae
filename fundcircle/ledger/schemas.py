from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundcircle.fields import BoundedInteger, NestedFrom


class LedgerQuerySchema(Schema):
    """Query-string parameters: numbers arrive as text, so these integers are not strict."""

    after = BoundedInteger(
        load_default=None, validate=validate.Range(min=0), metadata={"description": "seq to start after"}
    )
    limit = BoundedInteger(load_default=100, validate=validate.Range(min=1, max=1000))
    action = fields.String(load_default=None, validate=validate.Length(max=64))
    actor = BoundedInteger(load_default=None)
    proposal = BoundedInteger(load_default=None)


class SubjectSchema(Schema):
    type = fields.String(allow_none=True, required=True)
    id = fields.Integer(allow_none=True, required=True)


class LedgerEntrySchema(Schema):
    """An `EntryView`: an entry with its words."""

    seq = fields.Integer(required=True)
    at = fields.DateTime(format="iso", required=True)
    actor = fields.Integer(attribute="actor_id", allow_none=True, required=True)
    actor_name = fields.String(allow_none=True, required=True)
    action = fields.String(required=True)
    subject = NestedFrom(
        SubjectSchema, lambda entry: {"type": entry.subject_type, "id": entry.subject_id}, required=True
    )
    data = fields.Dict(required=True)
    words = fields.String(required=True)
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


class LedgerPageSchema(Schema):
    items = fields.List(fields.Nested(LedgerEntrySchema), required=True)
    next_after = fields.Integer(allow_none=True, required=True, metadata={"description": "pass as `after` for more"})


class VerifyQuerySchema(Schema):
    circle_id = BoundedInteger(load_default=None, metadata={"description": "Only this circle's chain"})


class ChainResultSchema(Schema):
    """A `ChainReport`."""

    chain = fields.String(attribute="label", required=True)
    circle_id = fields.Integer(allow_none=True, required=True)
    ok = fields.Boolean(attribute="result.ok", required=True)
    count = fields.Integer(attribute="result.count", required=True)
    head = fields.String(attribute="result.head", required=True)
    bad_seq = fields.Integer(attribute="result.bad_seq", allow_none=True, required=True)
    problem = fields.String(attribute="result.problem", allow_none=True, required=True)
    state_problem = fields.Function(
        lambda report: report.mismatch.sentence() if report.mismatch is not None else None,
        allow_none=True,
        required=True,
        metadata={"type": "string", "nullable": True,
                  "description": "the first row of the circle's tables that disagrees with its ledger"},
    )  # fmt: skip


class VerifySchema(Schema):
    """A list of `ChainReport`s."""

    ok = fields.Function(
        lambda reports: all(report.result.ok and report.mismatch is None for report in reports),
        required=True,
        metadata={"type": "boolean", "description": "every chain verifies and every circle's tables agree with it"},
    )
    count = fields.Function(
        lambda reports: sum(report.result.count for report in reports),
        required=True,
        metadata={"type": "integer", "description": "entries verified, in all chains checked"},
    )
    head = fields.Function(
        lambda reports: reports[0].result.head if len(reports) == 1 else None,
        allow_none=True,
        required=True,
        metadata={"type": "string", "nullable": True, "description": "the head hash of a single chain"},
    )
    chains = NestedFrom(ChainResultSchema, lambda reports: reports, many=True, required=True)


class CheckpointSchema(Schema):
    """A signed checkpoint of a circle's log (ledger/note.py) and the key to check it with."""

    size = fields.Integer(required=True, metadata={"description": "entries covered"})
    root_hash = fields.String(required=True, metadata={"description": "RFC 9162 root, hex"})
    made_at = fields.DateTime(format="iso", required=True)
    reason = fields.String(required=True, metadata={"description": "result, payout, daily or asked"})
    note = fields.String(required=True, metadata={"description": "the signed note, as text"})
    verifier_key = fields.String(required=True, metadata={"description": "NAME+HASH+BASE64 Ed25519 public key"})


class InclusionQuerySchema(Schema):
    seq = BoundedInteger(required=True, validate=validate.Range(min=1), metadata={"description": "the entry"})
    size = BoundedInteger(
        load_default=None, validate=validate.Range(min=1), metadata={"description": "tree size (default: now)"}
    )


class InclusionProofSchema(Schema):
    seq = fields.Integer(required=True)
    size = fields.Integer(required=True)
    entry_hash = fields.String(required=True, metadata={"description": "the entry's chain hash"})
    leaf_hash = fields.String(required=True, metadata={"description": "SHA-256(0x00 || canonical entry), hex"})
    root_hash = fields.String(required=True)
    proof = fields.List(fields.String(), required=True, metadata={"description": "audit path, deepest first"})


class ConsistencyQuerySchema(Schema):
    from_ = BoundedInteger(
        data_key="from", required=True, validate=validate.Range(min=0), metadata={"description": "older size"}
    )
    to = BoundedInteger(
        load_default=None, validate=validate.Range(min=0), metadata={"description": "newer size (default: now)"}
    )


class ConsistencyProofSchema(Schema):
    from_ = fields.Integer(data_key="from", attribute="from", required=True)
    to = fields.Integer(required=True)
    from_root = fields.String(required=True)
    to_root = fields.String(required=True)
    proof = fields.List(fields.String(), required=True)
